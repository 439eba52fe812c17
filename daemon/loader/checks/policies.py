"""Policy: the apps and tenants of network rules, the ports they open, and alerts."""

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
            source = allow["from"]
            base: DocPath = ("spec", "network", i, "allow")
            source_tenant = source.get("tenant", tenant)
            tenant_ok = True
            if "tenant" in source:
                tenant_ok = ctx.require(entry, (*base, "from", "tenant"), "Tenant", source["tenant"], noun="tenant")
            if "app" in source and tenant_ok:
                ctx.require(entry, (*base, "from", "app"), "App", source["app"], source_tenant, noun="App")
            if ctx.require(entry, (*base, "to", "app"), "App", allow["to"]["app"], tenant, noun="App"):
                _rule_ports(ctx, entry, base, allow)
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


def _rule_ports(ctx: CheckContext, entry: Entry, base: DocPath, allow: dict[str, Any]) -> None:
    target = ctx.valid_entry("App", allow["to"]["app"], entry.tenant)
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
