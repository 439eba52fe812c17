"""Policy: the apps and tenants of network rules (one side is always its own tenant), their ports, and alerts."""

from __future__ import annotations

from typing import Any

from daemon.loader.checks.context import CheckContext, DocPath, items
from daemon.loader.documents import Entry


def check(ctx: CheckContext) -> None:
    for entry in ctx.valid["Policy"]:
        spec = entry.spec()
        tenant = entry.tenant
        for i, rule in enumerate(items(spec.get("network"))):
            allow = rule["allow"]
            source, target = allow["from"], allow["to"]
            base: DocPath = ("spec", "network", i, "allow")
            source_tenant = source.get("tenant", tenant)
            target_tenant = target.get("tenant", tenant)
            if tenant not in (source_tenant, target_tenant):
                ctx.report(
                    entry,
                    (*base, "to", "tenant"),
                    f"this rule is between tenants '{source_tenant}' and '{target_tenant}'; a Policy of tenant "
                    f"'{tenant}' can only allow traffic into or out of its own apps",
                    f"each of those tenants declares its own half in its own folder; here, leave out from.tenant "
                    f"(traffic out to '{target_tenant}') or to.tenant (traffic in from '{source_tenant}')",
                    code="ref.cross-tenant",
                    key=True,
                )
                continue
            source_ok = target_ok = True
            if "tenant" in source:
                source_ok = ctx.require(entry, (*base, "from", "tenant"), "Tenant", source["tenant"], noun="tenant")
            if "tenant" in target:
                target_ok = ctx.require(entry, (*base, "to", "tenant"), "Tenant", target["tenant"], noun="tenant")
            if "app" in source and source_ok:
                ctx.require(entry, (*base, "from", "app"), "App", source["app"], source_tenant, noun="App")
            if (
                "app" in target
                and target_ok
                and ctx.require(entry, (*base, "to", "app"), "App", target["app"], target_tenant, noun="App")
            ):
                _rule_ports(ctx, entry, base, allow, target_tenant)
        alert_names: set[str] = set()
        for i, alert in enumerate(items(spec.get("alerts"))):
            path: DocPath = ("spec", "alerts", i)
            if alert["name"] in alert_names:
                ctx.report(
                    entry,
                    (*path, "name"),
                    f"alert '{alert['name']}' is defined twice in this Policy",
                    code="value.duplicate",
                )
            alert_names.add(alert["name"])
            if "app" in alert:
                ctx.require(entry, (*path, "app"), "App", alert["app"], tenant, noun="App")
            for j, name in enumerate(items(alert.get("notify"))):
                ctx.require(entry, (*path, "notify", j), "NotificationList", name, noun="notification list")


def _rule_ports(ctx: CheckContext, entry: Entry, base: DocPath, allow: dict[str, Any], tenant: str | None) -> None:
    target = ctx.valid_entry("App", allow["to"]["app"], tenant)
    if target is None:
        return
    ports = [p["port"] for p in items(target.spec().get("ports"))]
    for j, port in enumerate(items(allow.get("ports"))):
        if port not in ports:
            ctx.report(
                entry,
                (*base, "ports", j),
                f"port {port} is not a port of App '{target.name}'",
                "its ports: " + (", ".join(str(p) for p in ports) if ports else "none"),
                code="ref.port",
                warning=True,
            )
