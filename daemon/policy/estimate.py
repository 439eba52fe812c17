"""A plan's monthly cost per tenant, app, volume and snapshots, next to the tenant's quota (pure).

Built on :mod:`daemon.policy.cost` (the model the merge-request review uses): the rendered objects
of each app (by Dockyard's app label) and of each volume (its claim) are costed on their own, the
tenant's total over all of its objects, so the lines add up to the figure ``dockyard diff``
shows. Snapshots are not objects Dockyard renders: a Volume's backup keeps at most
last+daily+weekly+monthly snapshots, each at most the volume's size (RBD snapshots share what did
not change, so the low end is nothing), priced at ``snapshotGiBMonth`` when the platform has one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from daemon.model.kinds import PlatformModel, Prices, Quota, Volume
from daemon.model.labels import APP_LABEL
from daemon.model.quantity import parse_quantity
from daemon.policy.cost import GIB, Span, TenantResources, monthly_cost, resources_by_tenant

#: Objects every app's figures read but none owns: defaults of requests, HPA bounds, classes.
_CONTEXT_KINDS = frozenset({"LimitRange", "HorizontalPodAutoscaler", "StorageClass"})
_VOLUME_LABEL = "dockyard.dev/volume"

LineKind = Literal["app", "volume", "snapshots", "tenant"]


@dataclass(frozen=True)
class Line:
    kind: LineKind
    name: str
    resources: TenantResources
    cost: Span | None  # None: not priced (snapshots without snapshotGiBMonth)
    snapshots: int = 0  # kept at most (snapshots lines)
    snapshot_gib: Span = field(default_factory=Span)


@dataclass(frozen=True)
class QuotaUse:
    """What the tenant requests of one quota item, at its lowest and highest."""

    resource: str  # cpu, memory, storage, pods
    requested: Span
    quota: Decimal | None  # None: no quota on it

    @property
    def over(self) -> bool:
        return self.quota is not None and self.requested.high > self.quota


@dataclass(frozen=True)
class TenantEstimate:
    tenant: str
    lines: tuple[Line, ...]
    total: TenantResources
    cost: Span
    quota: tuple[QuotaUse, ...]


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _namespace(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _figures(
    objects: Sequence[Mapping[str, Any]], context: Sequence[Mapping[str, Any]], tenant: str
) -> TenantResources:
    return resources_by_tenant([*objects, *context]).get(tenant, TenantResources(tenant))


def snapshot_line(volume: Volume, prices: Prices) -> Line | None:
    if volume.backup is None:
        return None
    retention = volume.backup.retention
    kept = retention.last + retention.daily + retention.weekly + retention.monthly
    size = parse_quantity(volume.size) / GIB
    gib = Span(Decimal(0), size * kept)
    price = prices.snapshot_gib_month
    cost = gib.times(Decimal(str(price))) if price is not None else None
    return Line("snapshots", volume.name, TenantResources(volume.tenant), cost, kept, gib)


def _quota(total: TenantResources, quota: Quota | None) -> tuple[QuotaUse, ...]:
    def limit(value: str | int | None, unit: Decimal = Decimal(1)) -> Decimal | None:
        return None if value is None else parse_quantity(str(value)) / unit

    storage = Span()
    for gib in total.storage_gib.values():
        storage += gib
    q = quota or Quota()
    return (
        QuotaUse("cpu", total.cpu, limit(q.cpu)),
        QuotaUse("memory", total.memory_gib, limit(q.memory, GIB)),
        QuotaUse("storage", storage, limit(q.storage, GIB)),
        QuotaUse("pods", total.pods, limit(q.pods)),
    )


def estimate(
    objects: Iterable[Mapping[str, Any]], model: PlatformModel, prices: Prices, tenants: Iterable[str] | None = None
) -> list[TenantEstimate]:
    """The cost of the rendered ``objects`` of ``model``'s tenants (or of ``tenants``), line by line."""
    objects = list(objects)
    context = [o for o in objects if o.get("kind") in _CONTEXT_KINDS]
    wanted = set(tenants) if tenants is not None else None
    result = []
    for tenant in model.tenants:
        if wanted is not None and tenant.name not in wanted:
            continue
        own = [o for o in objects if _namespace(o) == tenant.namespace and o.get("kind") not in _CONTEXT_KINDS]
        groups: dict[tuple[LineKind, str], list[Mapping[str, Any]]] = {}
        for obj in own:
            labels = _labels(obj)
            if APP_LABEL in labels:
                key: tuple[LineKind, str] = ("app", str(labels[APP_LABEL]))
            elif _VOLUME_LABEL in labels:
                key = ("volume", str(labels[_VOLUME_LABEL]))
            else:
                key = ("tenant", tenant.name)
            groups.setdefault(key, []).append(obj)
        lines = []
        for (kind, name), members in sorted(groups.items(), key=lambda item: (item[0][0] != "app", item[0])):
            figures = _figures(members, context, tenant.name)
            if kind == "tenant" and figures == TenantResources(tenant.name):
                continue  # namespace, quota, roles, network policies: they cost nothing
            lines.append(Line(kind, name, figures, monthly_cost(figures, prices)))
        snapshots = [snapshot_line(v, prices) for v in model.volumes if v.tenant == tenant.name]
        lines.extend(line for line in snapshots if line is not None)
        total = _figures(own, context, tenant.name)
        cost = monthly_cost(total, prices)
        for line in lines:
            if line.kind == "snapshots" and line.cost is not None:
                cost += line.cost
        result.append(TenantEstimate(tenant.name, tuple(lines), total, cost, _quota(total, tenant.quota)))
    return result
