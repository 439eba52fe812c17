"""Traffic between tenants needs both of them: a half that the other side does not match is a warning.

Each tenant's files render only its own half of a cross-tenant rule (ingress in the target's
namespace, egress in the source's), so traffic flows only when both declare it. A half alone is
valid (the other team may add theirs in a later merge request) but does nothing yet, and the
warning says what the other side has to write.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.loader.checks.context import CheckContext, DocPath, items, mapping
from daemon.loader.documents import Entry


@dataclass(frozen=True)
class _Half:
    """One side's declaration: traffic from ``source`` (an app, or every app) to ``target``."""

    entry: Entry
    path: DocPath
    source_tenant: str
    source_app: str | None
    target_tenant: str
    target_app: str | None
    egress: bool  # declared by the source (else by the target)


def check(ctx: CheckContext) -> None:
    isolation = {str(t.name): mapping(t.spec().get("network")).get("isolation", "strict") for t in ctx.valid["Tenant"]}
    halves = list(_halves(ctx))
    for half in halves:
        declarer = half.source_tenant if half.egress else half.target_tenant
        other = half.target_tenant if half.egress else half.source_tenant
        if isolation.get(declarer) != "strict" or other not in isolation:
            continue  # nothing rendered here, or the other tenant is reported as missing
        if isolation[other] != "strict" or any(_answers(h, half) for h in halves):
            continue
        if half.egress:
            message = f"traffic out to tenant '{other}' is allowed here, but '{other}' does not let it in yet"
            wanted = f"allowFrom: [{{tenant: {declarer}}}] in its tenant.yaml, or a Policy rule allow: {{from: " + (
                f"{{tenant: {declarer}, app: {half.source_app}}}" if half.source_app else f"{{tenant: {declarer}}}"
            )
            wanted += f", to: {{app: {half.target_app}}}}}" if half.target_app else ", to: {app: ...}}"
        else:
            message = f"traffic in from tenant '{other}' is allowed here, but '{other}' does not let it out yet"
            wanted = f"allowTo: [{{tenant: {declarer}}}] in its tenant.yaml, or a Policy rule allow: {{from: " + (
                f"{{app: {half.source_app}}}" if half.source_app else "{app: ...}"
            )
            wanted += f", to: {{tenant: {declarer}" + (f", app: {half.target_app}}}}}" if half.target_app else "}}")
        ctx.report(
            half.entry,
            half.path,
            message,
            f"each tenant declares its own half; it takes effect once tenant '{other}' adds {wanted}",
            code="network.one-sided",
            warning=True,
        )


def _halves(ctx: CheckContext) -> list[_Half]:
    found: list[_Half] = []
    for tenant in ctx.valid["Tenant"]:
        name = str(tenant.name)
        network = mapping(tenant.spec().get("network"))
        for i, item in enumerate(items(network.get("allowFrom"))):
            path: DocPath = ("spec", "network", "allowFrom", i, "tenant")
            found.append(_Half(tenant, path, item["tenant"], None, name, None, egress=False))
        for i, item in enumerate(items(network.get("allowTo"))):
            path = ("spec", "network", "allowTo", i, "tenant")
            found.append(_Half(tenant, path, name, None, item["tenant"], None, egress=True))
    for policy in ctx.valid["Policy"]:
        own = str(policy.tenant)
        for i, rule in enumerate(items(policy.spec().get("network"))):
            if "allow" not in rule:
                continue  # close: {app}
            allow = rule["allow"]
            source, target = mapping(allow.get("from")), allow["to"]  # a rule out may leave from out
            if "cidr" in target or "host" in target:
                continue  # addresses outside the cluster: no other tenant to consent
            source_tenant, target_tenant = source.get("tenant", own), target.get("tenant", own)
            if source_tenant == target_tenant or own not in (source_tenant, target_tenant):
                continue
            egress = source_tenant == own
            path = ("spec", "network", i, "allow", "to" if egress else "from", "tenant")
            found.append(
                _Half(policy, path, source_tenant, source.get("app"), target_tenant, target.get("app"), egress)
            )
    return found


def _answers(other: _Half, half: _Half) -> bool:
    """Whether ``other`` is the opposite half of ``half``: same tenants, other side, apps that meet."""
    return (
        other.egress != half.egress
        and (other.source_tenant, other.target_tenant) == (half.source_tenant, half.target_tenant)
        and (other.source_app is None or half.source_app is None or other.source_app == half.source_app)
        and (other.target_app is None or half.target_app is None or other.target_app == half.target_app)
    )
