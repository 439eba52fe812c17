"""What a set of objects requests per tenant, and what that costs a month (pure).

Reads rendered (or live) objects generically: the pods of Deployments, StatefulSets and
ReplicaSets times their replicas, the storage of PersistentVolumeClaims (and StatefulSet claim
templates) by storage class, and Services of type LoadBalancer. A container's request is its
``requests``, else its ``limits`` (Kubernetes makes the request equal to the limit), else the
namespace's LimitRange ``defaultRequest``, else its ``default``. When a HorizontalPodAutoscaler
scales a workload, its replicas are the HPA's ``minReplicas``..``maxReplicas``: every figure is a
:class:`Span` from its lowest to its highest value.

Public API (also for ``dockyard cost``)::

    resources_by_tenant(objects) -> dict[tenant, TenantResources]
    monthly_cost(resources, prices) -> Span            in prices.currency
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from daemon.model.kinds import Prices
from daemon.model.labels import TENANT_LABEL
from daemon.model.quantity import parse_quantity

GIB = Decimal(2**30)
_ZERO = Decimal(0)
_SCALED_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet"})
_DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


@dataclass(frozen=True)
class Span:
    """A figure between ``low`` and ``high`` (equal when nothing autoscales)."""

    low: Decimal = _ZERO
    high: Decimal = _ZERO

    def __add__(self, other: Span) -> Span:
        return Span(self.low + other.low, self.high + other.high)

    def __sub__(self, other: Span) -> Span:
        return Span(self.low - other.low, self.high - other.high)

    def times(self, factor: Decimal) -> Span:
        return Span(self.low * factor, self.high * factor)

    @property
    def zero(self) -> bool:
        return self.low == 0 and self.high == 0

    def describe(self, places: int = 2, unit: str = "") -> str:
        low, high = _round(self.low, places), _round(self.high, places)
        suffix = f" {unit}" if unit else ""
        return f"{low}{suffix}" if low == high else f"{low}..{high}{suffix}"


def _round(value: Decimal, places: int) -> str:
    text = f"{value:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class TenantResources:
    """What one tenant's objects request: CPU cores, memory GiB, storage GiB by class, LoadBalancers."""

    tenant: str
    cpu: Span = field(default_factory=Span)
    memory_gib: Span = field(default_factory=Span)
    storage_gib: Mapping[str, Span] = field(default_factory=dict)
    load_balancers: int = 0
    pods: Span = field(default_factory=Span)


def _quantity(value: Any) -> Decimal:
    try:
        return parse_quantity(value)
    except (ValueError, TypeError):
        return _ZERO


def _tenant(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str((meta.get("labels") or {}).get(TENANT_LABEL) or meta.get("namespace") or "")


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def _limit_defaults(objects: Iterable[Mapping[str, Any]]) -> dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Per namespace, the Container item's (defaultRequest, default) of its LimitRange."""
    found: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
    for obj in objects:
        if obj.get("kind") != "LimitRange":
            continue
        for item in (obj.get("spec") or {}).get("limits") or ():
            if item.get("type") == "Container":
                namespace = str((obj.get("metadata") or {}).get("namespace") or "")
                found[namespace] = (item.get("defaultRequest") or {}, item.get("default") or {})
    return found


def _requests(
    pod_spec: Mapping[str, Any], defaults: tuple[Mapping[str, Any], Mapping[str, Any]]
) -> tuple[Decimal, Decimal]:
    """(CPU cores, memory bytes) one pod requests."""
    cpu = memory = _ZERO
    default_request, default_limit = defaults
    for container in pod_spec.get("containers") or ():
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        for name in ("cpu", "memory"):
            for source in (requests, limits, default_request, default_limit):
                if name in source:
                    value = _quantity(source[name])
                    if name == "cpu":
                        cpu += value
                    else:
                        memory += value
                    break
    return cpu, memory


def _replicas(obj: Mapping[str, Any], scaled: Mapping[tuple[str, str, str], Span]) -> Span:
    meta = obj.get("metadata") or {}
    key = (str(meta.get("namespace") or ""), str(obj.get("kind")), str(meta.get("name") or ""))
    if key in scaled:
        return scaled[key]
    replicas = (obj.get("spec") or {}).get("replicas")
    count = Decimal(replicas) if isinstance(replicas, int) and not isinstance(replicas, bool) else Decimal(1)
    return Span(count, count)


def _hpa_bounds(objects: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], Span]:
    found: dict[tuple[str, str, str], Span] = {}
    for obj in objects:
        if obj.get("kind") != "HorizontalPodAutoscaler":
            continue
        spec = obj.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        low = spec.get("minReplicas", 1)
        high = spec.get("maxReplicas", low)
        if isinstance(low, int) and isinstance(high, int):
            namespace = str((obj.get("metadata") or {}).get("namespace") or "")
            found[(namespace, str(target.get("kind")), str(target.get("name")))] = Span(Decimal(low), Decimal(high))
    return found


def _default_class(objects: Iterable[Mapping[str, Any]]) -> str:
    for obj in objects:
        meta = obj.get("metadata") or {}
        if (
            obj.get("kind") == "StorageClass"
            and (meta.get("annotations") or {}).get(_DEFAULT_CLASS_ANNOTATION) == "true"
        ):
            return str(meta.get("name"))
    return "default"


def _claim(claim: Mapping[str, Any], default_class: str) -> tuple[str, Decimal]:
    spec = claim.get("spec") or {}
    size = _quantity(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
    return str(spec.get("storageClassName") or default_class), size / GIB


def resources_by_tenant(objects: Iterable[Mapping[str, Any]]) -> dict[str, TenantResources]:
    """What each tenant requests (tenants by Dockyard's tenant label, else the namespace)."""
    objects = list(objects)
    defaults = _limit_defaults(objects)
    scaled = _hpa_bounds(objects)
    default_class = _default_class(objects)
    totals: dict[str, dict[str, Any]] = {}

    def tenant_totals(tenant: str) -> dict[str, Any]:
        return totals.setdefault(
            tenant, {"cpu": Span(), "memory": Span(), "pods": Span(), "storage": {}, "load_balancers": 0}
        )

    def add_storage(entry: dict[str, Any], storage_class: str, gib: Span) -> None:
        entry["storage"][storage_class] = entry["storage"].get(storage_class, Span()) + gib

    for obj in objects:
        kind = obj.get("kind")
        tenant = _tenant(obj)
        if not tenant:
            continue
        if kind in _SCALED_KINDS:
            entry = tenant_totals(tenant)
            replicas = _replicas(obj, scaled)
            namespace = str((obj.get("metadata") or {}).get("namespace") or "")
            cpu, memory = _requests(_pod_spec(obj), defaults.get(namespace, ({}, {})))
            entry["cpu"] += replicas.times(cpu)
            entry["memory"] += replicas.times(memory / GIB)
            entry["pods"] += replicas
            for template in (obj.get("spec") or {}).get("volumeClaimTemplates") or ():
                storage_class, gib = _claim(template, default_class)
                add_storage(entry, storage_class, replicas.times(gib))
        elif kind == "Pod":
            entry = tenant_totals(tenant)
            namespace = str((obj.get("metadata") or {}).get("namespace") or "")
            cpu, memory = _requests(obj.get("spec") or {}, defaults.get(namespace, ({}, {})))
            entry["cpu"] += Span(cpu, cpu)
            entry["memory"] += Span(memory / GIB, memory / GIB)
            entry["pods"] += Span(Decimal(1), Decimal(1))
        elif kind == "PersistentVolumeClaim":
            storage_class, gib = _claim(obj, default_class)
            add_storage(tenant_totals(tenant), storage_class, Span(gib, gib))
        elif kind == "Service" and (obj.get("spec") or {}).get("type") == "LoadBalancer":
            tenant_totals(tenant)["load_balancers"] += 1
    return {
        tenant: TenantResources(
            tenant,
            cpu=t["cpu"],
            memory_gib=t["memory"],
            storage_gib=dict(sorted(t["storage"].items())),
            load_balancers=t["load_balancers"],
            pods=t["pods"],
        )
        for tenant, t in sorted(totals.items())
    }


def _price(value: float) -> Decimal:
    return Decimal(str(value))


def monthly_cost(resources: TenantResources, prices: Prices) -> Span:
    """What ``resources`` cost a month at ``prices`` (in ``prices.currency``)."""
    total = resources.cpu.times(_price(prices.cpu_core_month)) + resources.memory_gib.times(
        _price(prices.memory_gib_month)
    )
    for storage_class, gib in resources.storage_gib.items():
        total += gib.times(_price(prices.storage(storage_class)))
    lbs = Decimal(resources.load_balancers) * _price(prices.load_balancer_month)
    return total + Span(lbs, lbs)
