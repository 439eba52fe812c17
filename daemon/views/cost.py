"""``dockyard cost`` as a table per tenant, or as JSON (pure formatting)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from daemon.policy.cost import Span, TenantResources
from daemon.policy.estimate import Line, QuotaUse, TenantEstimate

_UNITS = {"cpu": "cores", "memory": "GiB", "storage": "GiB", "pods": "pods"}


def _storage(resources: TenantResources) -> str:
    return ", ".join(f"{gib.describe(1)} GiB {cls}" for cls, gib in resources.storage_gib.items() if not gib.zero)


def _what(line: Line) -> str:
    r = line.resources
    if line.kind == "snapshots":
        return f"up to {line.snapshots} snapshots, {line.snapshot_gib.describe(1)} GiB"
    parts = []
    if not r.pods.zero:
        pods = r.pods.describe(0)
        parts.append(f"{pods} pod{'s' if pods != '1' else ''}" + (" (autoscaled)" if r.pods.low != r.pods.high else ""))
        parts.append(f"cpu {r.cpu.describe(2)}")
        parts.append(f"memory {r.memory_gib.describe(2)} GiB")
    if r.storage_gib:
        parts.append(_storage(r))
    if r.load_balancers:
        parts.append(f"{r.load_balancers} load balancer(s)")
    return ", ".join(parts)


def _money(cost: Span | None, currency: str) -> str:
    return "not priced" if cost is None else cost.describe(2, currency)


def _quota(use: QuotaUse) -> str:
    places = 0 if use.resource == "pods" else 2
    text = f"{use.resource} {use.requested.describe(places)}"
    if use.quota is None:
        return text + " (no quota)"
    text += f" of {Span(use.quota, use.quota).describe(places)} {_UNITS[use.resource]}"
    return text + ("  ! over the quota" if use.over else "")


def cost_text(estimates: Sequence[TenantEstimate], currency: str) -> str:
    out = [f"Monthly cost in {currency}: requests, not usage; an autoscaled app from min to max replicas."]
    grand = Span()
    for estimate in estimates:
        out.append("")
        out.append(f"tenant {estimate.tenant}")
        rows = [(f"{line.kind} {line.name}", _what(line), _money(line.cost, currency)) for line in estimate.lines]
        rows.append(("total", "", _money(estimate.cost, currency)))
        width = [max(len(r[i]) for r in rows) for i in range(2)]
        for name, what, money in rows:
            out.append(f"  {name:<{width[0]}}  {what:<{width[1]}}  {money}".rstrip())
        out.append("  requests: " + "; ".join(_quota(use) for use in estimate.quota))
        grand += estimate.cost
    if len(estimates) > 1:
        out.append("")
        out.append(f"all tenants: {grand.describe(2, currency)}")
    unpriced = [line.name for e in estimates for line in e.lines if line.cost is None]
    if unpriced:
        out.append("")
        out.append("snapshots are counted, not priced: set spec.prices.snapshotGiBMonth in platform.yaml")
    return "\n".join(out) + "\n"


def _span(span: Span | None) -> dict[str, str] | None:
    return None if span is None else {"low": str(span.low), "high": str(span.high)}


def cost_json(estimates: Sequence[TenantEstimate], currency: str) -> dict[str, Any]:
    return {
        "currency": currency,
        "tenants": [
            {
                "tenant": e.tenant,
                "monthly": _span(e.cost),
                "lines": [
                    {
                        "kind": line.kind,
                        "name": line.name,
                        "monthly": _span(line.cost),
                        "pods": _span(line.resources.pods),
                        "cpu": _span(line.resources.cpu),
                        "memoryGiB": _span(line.resources.memory_gib),
                        "storageGiB": {k: _span(v) for k, v in line.resources.storage_gib.items()},
                        **(
                            {"snapshots": line.snapshots, "snapshotGiB": _span(line.snapshot_gib)}
                            if line.snapshots
                            else {}
                        ),
                    }
                    for line in e.lines
                ],
                "quota": [
                    {
                        "resource": q.resource,
                        "requested": _span(q.requested),
                        "quota": None if q.quota is None else str(q.quota),
                        "over": q.over,
                    }
                    for q in e.quota
                ],
            }
            for e in estimates
        ],
    }
