"""Log collection: routed tenants that exist (once each), and an agent namespace that is nobody else's."""

from __future__ import annotations

from typing import Final

from daemon.loader.checks.context import CheckContext, items, mapping

#: Namespaces the cluster or Dockyard itself uses.
SYSTEM_NAMESPACES: Final = frozenset({"default", "kube-system", "kube-public", "kube-node-lease", "dockyard-system"})


def check(ctx: CheckContext) -> None:
    platform = ctx.platform
    if platform is None or "logging" not in platform.spec():
        return
    logging = mapping(platform.spec()["logging"])
    namespace = logging.get("namespace", "dockyard-logging")
    if namespace in ctx.tenant_names or namespace in SYSTEM_NAMESPACES:
        owner = f"tenant '{namespace}'" if namespace in ctx.tenant_names else "the cluster or Dockyard"
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
