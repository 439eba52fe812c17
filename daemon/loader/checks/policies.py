"""Policy: what network rules name (apps, tenants; one side is always its own tenant), the ports
they open, their destinations out of the tenant, closed apps, and alerts. Whether the other
tenant of a cross-tenant rule declares its half is :mod:`crosstenant`'s warning."""

from __future__ import annotations

from typing import Any

from daemon.loader.checks.context import CheckContext, DocPath, items, mapping
from daemon.loader.documents import Entry

_DESTINATIONS = ("app", "tenant", "cidr", "host")


def _is_egress(to: dict[str, Any], own: str) -> bool:
    """A rule out of the tenant: to another tenant, or to addresses outside the cluster."""
    return to.get("tenant", own) != own or "cidr" in to or "host" in to


def _workload(ctx: CheckContext, entry: Entry, path: DocPath, name: object, tenant: str | None) -> bool:
    """A rule names the pods of an App or of a Job (they share the app label); True when one exists."""
    if isinstance(name, str) and ctx.exists("Job", name, tenant):
        return True
    return ctx.require(entry, path, "App", name, tenant, noun="App")


def _strict(ctx: CheckContext, tenant: str) -> bool:
    entry = ctx.valid_entry("Tenant", tenant)
    return entry is not None and mapping(entry.spec().get("network")).get("isolation", "strict") == "strict"


def check(ctx: CheckContext) -> None:
    for entry in ctx.valid["Policy"]:
        spec = entry.spec()
        tenant = str(entry.tenant)
        for i, rule in enumerate(items(spec.get("network"))):
            if "close" in rule:
                _workload(ctx, entry, ("spec", "network", i, "close", "app"), rule["close"]["app"], tenant)
                continue
            base: DocPath = ("spec", "network", i, "allow")
            allow = rule["allow"]
            source_tenant = mapping(allow.get("from")).get("tenant", tenant)
            target_tenant = allow["to"].get("tenant", tenant)
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
            if _is_egress(allow["to"], tenant):
                _egress(ctx, entry, base, allow)
            else:
                _ingress(ctx, entry, base, allow)
        _alerts(ctx, entry, spec)


def _ingress(ctx: CheckContext, entry: Entry, base: DocPath, allow: dict[str, Any]) -> None:
    tenant = str(entry.tenant)
    source = mapping(allow.get("from"))
    if not source:
        ctx.report(
            entry,
            (*base, "to"),
            "a rule into an app needs from: the app or tenant the traffic comes from",
            "e.g. from: {app: web}, or from: {tenant: monitoring}",
            code="network.rule",
            key=True,
        )
        return
    source_tenant = source.get("tenant", tenant)
    tenant_ok = True
    if "tenant" in source:
        tenant_ok = ctx.require(entry, (*base, "from", "tenant"), "Tenant", source["tenant"], noun="tenant")
    if "app" in source and tenant_ok:
        _workload(ctx, entry, (*base, "from", "app"), source["app"], source_tenant)
    if "app" in allow["to"] and _workload(ctx, entry, (*base, "to", "app"), allow["to"]["app"], tenant):
        _rule_ports(ctx, entry, base, allow, tenant)


def _egress(ctx: CheckContext, entry: Entry, base: DocPath, allow: dict[str, Any]) -> None:
    tenant = str(entry.tenant)
    to, source = allow["to"], mapping(allow.get("from"))
    kinds = [k for k in _DESTINATIONS if k in to and not (k == "app" and "tenant" in to)]
    if len(kinds) > 1:
        ctx.report(
            entry,
            (*base, "to"),
            f"to names {' and '.join(kinds)}; a rule goes to one kind of destination",
            "an app of this tenant, another tenant (and its app), a cidr, or a host with its cidrs",
            code="network.rule",
            key=True,
        )
        return
    if source.get("tenant", tenant) != tenant:
        ctx.report(
            entry,
            (*base, "from", "tenant"),
            "a rule out of this tenant sends from its own apps",
            "leave from.tenant out: the tenant receiving the traffic allows it in with its own Policy",
            code="network.rule",
        )
        return
    if "app" in source:
        _workload(ctx, entry, (*base, "from", "app"), source["app"], tenant)
    if not _strict(ctx, tenant):
        ctx.report(
            entry,
            (*base, "to"),
            f"tenant '{tenant}' is open: its traffic out is not restricted, so this rule changes nothing",
            "rules out of a tenant matter under isolation: strict",
            code="network.rule",
            key=True,
            warning=True,
        )
    target = to.get("tenant")
    if target is None or not ctx.require(entry, (*base, "to", "tenant"), "Tenant", target, noun="tenant"):
        return
    if "app" in to and _workload(ctx, entry, (*base, "to", "app"), to["app"], target):
        _rule_ports(ctx, entry, base, allow, target)


def _rule_ports(ctx: CheckContext, entry: Entry, base: DocPath, allow: dict[str, Any], tenant: str) -> None:
    target = ctx.valid_entry("App", allow["to"]["app"], tenant)
    if target is None:
        return
    spec = target.spec()
    ports = [p["port"] for c in (spec, *items(spec.get("sidecars"))) for p in items(c.get("ports"))]
    service = {p.get("servicePort"): p["port"] for p in items(spec.get("ports")) if "servicePort" in p}
    for j, port in enumerate(items(allow.get("ports"))):
        if port not in ports:
            hint = "its ports: " + (", ".join(str(p) for p in ports) if ports else "none")
            if port in service:
                hint = f"{port} is its Service port; NetworkPolicy sees the container port {service[port]}"
            ctx.report(
                entry,
                (*base, "ports", j),
                f"port {port} is not a port of App '{target.name}'",
                hint,
                code="ref.port",
                warning=True,
            )


def _alerts(ctx: CheckContext, entry: Entry, spec: dict[str, Any]) -> None:
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
            ctx.require(entry, (*path, "app"), "App", alert["app"], entry.tenant, noun="App")
        for j, name in enumerate(items(alert.get("notify"))):
            ctx.require(entry, (*path, "notify", j), "NotificationList", name, noun="notification list")
