"""Log collection: routed tenants that exist (once each), and an agent namespace that is nobody else's."""

from __future__ import annotations

from daemon.loader.checks.context import CheckContext, items, mapping
from daemon.model.tenancy import Guardrails


def check(ctx: CheckContext) -> None:
    platform = ctx.platform
    if platform is None or "logging" not in platform.spec():
        return
    logging = mapping(platform.spec()["logging"])
    namespace = logging.get("namespace", "dockyard-logging")
    # The namespaces no tenant may take are not the agent's either (kube-*, default, Dockyard's).
    system = Guardrails().reserving(namespace, ctx.reserved_namespaces)
    if namespace in ctx.tenant_names or system is not None:
        owner = f"tenant '{namespace}'" if namespace in ctx.tenant_names else f"the cluster or Dockyard ({system})"
        ctx.report(
            platform,
            ("spec", "logging", "namespace"),
            f"namespace '{namespace}' belongs to {owner}",
            "the log agent runs privileged in a namespace of its own, such as dockyard-logging",
            code="value.namespace",
        )
    routed: dict[str, int] = {}
    for i, route in enumerate(items(logging.get("tenants"))):
        tenant = route.get("tenant")
        path = ("spec", "logging", "tenants", i, "tenant")
        if not ctx.require(platform, path, "Tenant", tenant):
            continue
        if tenant in routed:
            ctx.report(
                platform,
                path,
                f"tenant '{tenant}' already has a log endpoint (spec.logging.tenants[{routed[tenant]}])",
                "one endpoint per tenant",
                code="ref.logging",
            )
        else:
            routed[str(tenant)] = i
