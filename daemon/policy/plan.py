"""A plan (what an apply would change) and the result of carrying it out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from daemon.model.labels import TENANT_LABEL
from daemon.model.refs import ObjRef
from daemon.policy.diff import Change, ChangeSet
from daemon.policy.health import Health
from daemon.policy.inventory import CLUSTER_SCOPE, Inventory, PrunePlan, scope_of
from daemon.render.meta import objref


@dataclass(frozen=True)
class Plan:
    """What an apply would do, with everything the apply needs to do it."""

    changeset: ChangeSet
    prune: PrunePlan
    inventory: Inventory
    desired: tuple[Mapping[str, Any], ...] = field(repr=False)
    live: Mapping[ObjRef, Mapping[str, Any]] = field(repr=False)
    requests: int = 0
    #: stale objects whose prune waits (their tenant is paused or outside its sync window)
    deferred: frozenset[ObjRef] = frozenset()
    #: objects changed by hand, with the imperative managers whose fields the apply takes back
    takeover: Mapping[ObjRef, tuple[str, ...]] = field(default_factory=dict)
    #: another replica's objects (sharding, see :meth:`only`): never sent nor pruned here, but
    #: still listed in the inventory pieces this replica writes
    foreign: frozenset[ObjRef] = frozenset()
    #: the inventory scopes this replica writes; None: all of them
    scopes: frozenset[str] | None = None

    @cached_property
    def _owners(self) -> dict[ObjRef, str]:
        return {objref(o): tenant_of(o) for o in self.desired}

    def owner(self, ref: ObjRef) -> str:
        """The tenant ``ref`` belongs to (``""``: the platform), from the desired object, else the
        live one, else where it lives."""
        found = self._owners.get(ref)
        return found if found is not None else tenant_of(self.live.get(ref) or {}, fallback=ref)

    def defer(self, tenants: Iterable[str]) -> Plan:
        """This plan with every change to ``tenants`` held back (nothing sent, nothing pruned)."""
        held = set(tenants)
        if not held:
            return self
        changes: list[Change] = []
        deferred: set[ObjRef] = set(self.deferred)
        for change in self.changeset.changes:
            if self.owner(change.ref) in held and change.action in ("create", "update", "prune", "blocked"):
                if change.action in ("prune", "blocked"):
                    deferred.add(change.ref)
                changes.append(Change("deferred", change.ref, change.fields, f"was {change.action}", change.desired))
            else:
                changes.append(change)
        return replace(
            self, changeset=ChangeSet(tuple(changes)), prune=self._prune_without(deferred), deferred=frozenset(deferred)
        )

    def only(self, owns: Callable[[str], bool]) -> Plan:
        """This plan cut down to the objects of the owners (tenants, ``""``: the platform) that
        ``owns`` accepts: another replica's changes are not even listed (that replica plans,
        applies and announces them), and of the inventory only the scopes of owned owners are
        written (a namespace's scope is its Namespace's owner's, the cluster scope the
        platform's), so no inventory piece has two writers."""
        mine = {c.ref: owns(self.owner(c.ref)) for c in self.changeset.changes}
        changes = tuple(c for c in self.changeset.changes if mine[c.ref])
        foreign = {objref(o) for o in self.desired if not owns(self.owner(objref(o)))}
        foreign |= {ref for ref, ok in mine.items() if not ok}
        scopes = {scope_of(ref) for ref in self.inventory.entries} | {scope_of(objref(o)) for o in self.desired}
        return replace(
            self,
            changeset=ChangeSet(changes),
            prune=self._prune_without(foreign),
            desired=tuple(o for o in self.desired if objref(o) not in foreign),
            takeover={r: m for r, m in self.takeover.items() if r not in foreign},
            foreign=self.foreign | frozenset(foreign),
            scopes=frozenset(s for s in scopes if owns(self._scope_owner(s))),
        )

    def _prune_without(self, refs: set[ObjRef]) -> PrunePlan:
        """The prune plan without ``refs``; the mass-deletion hold stays only while it deletes."""
        delete = tuple(r for r in self.prune.delete if r not in refs)
        return PrunePlan(
            delete=delete,
            retain=self.prune.retain,
            blocked=self.prune.blocked and bool(delete),
            reason=self.prune.reason if delete else "",
        )

    def _scope_owner(self, scope: str) -> str:
        if scope == CLUSTER_SCOPE:
            return ""
        return self.owner(ObjRef("", "Namespace", "", scope))


@dataclass(frozen=True)
class ObjectResult:
    ref: ObjRef
    action: str
    ok: bool
    error: str = ""
    conflict_managers: tuple[str, ...] = ()


@dataclass
class ApplyResult:
    plan: Plan
    results: list[ObjectResult] = field(default_factory=list)
    pruned: list[ObjRef] = field(default_factory=list)
    health: list[Health] = field(default_factory=list)
    requests: int = 0
    writes: int = 0
    duration_seconds: float = 0.0

    @property
    def failed(self) -> list[ObjectResult]:
        return [r for r in self.results if not r.ok]

    @property
    def unhealthy(self) -> list[Health]:
        return [h for h in self.health if h.state != "healthy"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unhealthy and not self.plan.prune.blocked


def tenant_of(obj: Mapping[str, Any], fallback: ObjRef | None = None) -> str:
    """The tenant an object belongs to; ``""`` for platform-level objects."""
    labels = obj.get("metadata", {}).get("labels") or {}
    tenant = labels.get(TENANT_LABEL)
    if tenant:
        return str(tenant)
    if fallback is not None:
        return fallback.name if fallback.kind == "Namespace" else fallback.namespace
    return ""


def plan_tenants(plan: Plan) -> set[str]:
    """The tenants (``""``: platform-level) of every change a plan carries."""
    return {tenant_of(c.desired or plan.live.get(c.ref) or {}, c.ref) for c in plan.changeset.changes}


def changed_tenants(plan: Plan) -> list[str]:
    """The tenants with at least one change (not platform-level objects), sorted."""
    changed = (c for c in plan.changeset.changes if c.action != "unchanged")
    return sorted({tenant_of(c.desired or plan.live.get(c.ref) or {}, c.ref) for c in changed} - {""})
