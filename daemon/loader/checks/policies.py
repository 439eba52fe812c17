"""Policy: what network rules name (apps, tenants), the ports they open, consent between tenants
(each side of a cross-tenant flow declares its half), closed apps, and alerts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from daemon.loader.checks.context import CheckContext, DocPath, items, mapping
from daemon.loader.documents import Entry

_DESTINATIONS = ("app", "tenant", "cidr", "host")


@dataclass(frozen=True)
class _Flow:
    """One declared half of traffic between two tenants."""

    source: str  # sending tenant
    source_app: str | None
    target: str  # receiving tenant
    target_app: str | None


def _is_egress(to: dict[str, Any]) -> bool:
    return any(k in to for k in ("tenant", "cidr", "host"))


def _declared(ctx: CheckContext) -> tuple[dict[str, list[_Flow]], dict[str, list[_Flow]]]:
    """Cross-tenant flows by receiving tenant (ingress halves) and by sending tenant (egress halves)."""
    ins: dict[str, list[_Flow]] = defaultdict(list)
    outs: dict[str, list[_Flow]] = defaultdict(list)
    for entry in ctx.valid["Policy"]:
        own = str(entry.tenant)
        for rule in items(entry.spec().get("network")):
            allow = mapping(rule.get("allow"))
            to, source = mapping(allow.get("to")), mapping(allow.get("from"))
            if "tenant" in to and to["tenant"] != own:
                outs[own].append(_Flow(own, source.get("app"), to["tenant"], to.get("app")))
            elif not _is_egress(to) and source.get("tenant", own) != own:
                ins[own].append(_Flow(source["tenant"], source.get("app"), own, to.get("app")))
    for entry in ctx.valid["Tenant"]:
        for item in items(mapping(entry.spec().get("network")).get("allowFrom")):
            ins[str(entry.name)].append(_Flow(item["tenant"], None, str(entry.name), None))
    return ins, outs


def _covers(declared: _Flow, wanted: _Flow) -> bool:
    """True when the declared half lets ``wanted`` through (None: every app)."""
    return (
        declared.source == wanted.source
        and declared.target == wanted.target
        and declared.source_app in (None, wanted.source_app)
        and declared.target_app in (None, wanted.target_app)
    )


def _workload(ctx: CheckContext, entry: Entry, path: DocPath, name: object, tenant: str | None) -> bool:
    """A rule names the pods of an App or of a Job (they share the app label); True when one exists."""
    if isinstance(name, str) and ctx.exists("Job", name, tenant):
        return True
    return ctx.require(entry, path, "App", name, tenant, noun="App")


def _strict(ctx: CheckContext, tenant: str) -> bool:
    entry = ctx.valid_entry("Tenant", tenant)
    return entry is not None and mapping(entry.spec().get("network")).get("isolation", "strict") == "strict"


def check(ctx: CheckContext) -> None:
    ins, outs = _declared(ctx)
    for entry in ctx.valid["Policy"]:
        spec = entry.spec()
        tenant = entry.tenant
        for i, rule in enumerate(items(spec.get("network"))):
            if "close" in rule:
                _workload(ctx, entry, ("spec", "network", i, "close", "app"), rule["close"]["app"], tenant)
                continue
            base: DocPath = ("spec", "network", i, "allow")
            allow = rule["allow"]
            if _is_egress(allow["to"]):
                _egress(ctx, entry, base, allow, ins)
            else:
                _ingress(ctx, entry, base, allow, outs)
        _alerts(ctx, entry, spec)
    for entry in ctx.valid["Tenant"]:
        for i, item in enumerate(items(mapping(entry.spec().get("network")).get("allowFrom"))):
            other = item["tenant"]
            wanted = _Flow(other, None, str(entry.name), None)
            if other != entry.name and _strict(ctx, other) and not any(_covers_out(f, wanted) for f in outs[other]):
                ctx.report(
                    entry,
                    ("spec", "network", "allowFrom", i, "tenant"),
                    f"tenant '{other}' does not let its pods out to tenant '{entry.name}' yet, so nothing arrives",
                    f"tenant '{other}' declares its half in a Policy: allow: {{to: {{tenant: {entry.name}}}}}",
                    code="network.consent",
                    warning=True,
                )


def _covers_out(declared: _Flow, wanted: _Flow) -> bool:
    """An egress half covers traffic to any app of the target when it names no app."""
    return declared.source == wanted.source and declared.target == wanted.target and declared.target_app is None


def _ingress(
    ctx: CheckContext, entry: Entry, base: DocPath, allow: dict[str, Any], outs: dict[str, list[_Flow]]
) -> None:
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
    if not _workload(ctx, entry, (*base, "to", "app"), allow["to"]["app"], tenant):
        return
    _rule_ports(ctx, entry, base, allow, tenant)
    wanted = _Flow(source_tenant, source.get("app"), tenant, allow["to"]["app"])
    consented = any(_covers(f, wanted) for f in outs[source_tenant])
    if tenant_ok and source_tenant != tenant and _strict(ctx, source_tenant) and not consented:
        target = f"{{tenant: {tenant}, app: {allow['to']['app']}}}"
        ctx.report(
            entry,
            (*base, "from", "tenant"),
            f"tenant '{source_tenant}' does not let {_which(source.get('app'))} out to this app yet, so nothing "
            "arrives",
            f"tenant '{source_tenant}' declares its half in a Policy: allow: {{to: {target}}}",
            code="network.consent",
            warning=True,
        )


def _which(app: str | None) -> str:
    return f"App '{app}'" if app else "its pods"


def _egress(ctx: CheckContext, entry: Entry, base: DocPath, allow: dict[str, Any], ins: dict[str, list[_Flow]]) -> None:
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
    if target is None:
        return
    if target == tenant:
        ctx.report(
            entry,
            (*base, "to", "tenant"),
            "traffic inside the tenant needs no rule out",
            "its apps reach each other; use to: {app: ...} with from: {app: ...} to open a targeted app",
            code="network.rule",
        )
        return
    if not ctx.require(entry, (*base, "to", "tenant"), "Tenant", target, noun="tenant"):
        return
    if "app" in to:
        if not _workload(ctx, entry, (*base, "to", "app"), to["app"], target):
            return
        _rule_ports(ctx, entry, base, allow, target)
    wanted = _Flow(tenant, source.get("app"), target, to.get("app"))
    if _strict(ctx, target) and not any(_covers(f, wanted) for f in ins[target]):
        into = f"{{app: {to['app']}}}" if "app" in to else "its apps"
        ctx.report(
            entry,
            (*base, "to", "tenant"),
            f"tenant '{target}' does not accept this traffic yet, so nothing arrives",
            f"tenant '{target}' declares its half: a Policy rule allow: {{from: {{tenant: {tenant}}}, to: {into}}}, "
            "or allowFrom in its tenant.yaml",
            code="network.consent",
            warning=True,
        )


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
