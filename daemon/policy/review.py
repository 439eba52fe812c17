"""What a change means for the platform (pure): the facts a reviewer needs before merging.

From two revisions, each a validated model and its rendered objects, :func:`review` gathers:

* the object diff (:mod:`daemon.policy.revdiff`);
* deletions, PersistentVolumeClaims and Namespaces first, with their deletion policy;
* the mass-deletion guard: would the daemon hold this merge? (the base revision's objects stand
  for the inventory, the head's ``spec.prune.maxFraction`` decides, as the daemon's cycle does);
* tenant boundaries: tenants added or removed, members and roles, Pod Security, isolation and
  every other Tenant setting, and platform settings (guardrails) touched;
* network reachability added and removed, app to app and to or from outside
  (:mod:`daemon.policy.reachability`);
* exposure: domains and LoadBalancer or NodePort Services added and removed;
* requests and monthly cost per tenant (:mod:`daemon.policy.cost`, prices of the head);
* the sync windows that will hold the change back, at ``now``.

Tenant and Platform settings are compared field by field over their dataclasses, so settings added
to the model later are reported without a change here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from daemon.errors import Problem
from daemon.model.kinds import Member, Platform, PlatformModel, Prices, Tenant
from daemon.model.labels import APP_LABEL
from daemon.policy.cost import Span, TenantResources, monthly_cost, resources_by_tenant
from daemon.policy.inventory import PROTECTED_KINDS, Inventory, PrunePlan, plan_prune
from daemon.policy.plan import tenant_of
from daemon.policy.reachability import AppId, Peer, Ports, reachability
from daemon.policy.revdiff import ObjectChange, RevisionDiff, diff_revisions
from daemon.policy.windows import WindowDecision, held_tenants
from daemon.render.meta import objref
from daemon.render.provenance import sources

#: Platform settings that bound what tenants may do: a change to one is a guardrail change.
GUARDRAIL_SETTINGS = frozenset({"tenancy", "prune", "verify", "storageClasses", "ingress"})
_SKIPPED_FIELDS = frozenset({"metadata", "source"})


@dataclass(frozen=True)
class RevisionSide:
    """One side of a review: a validated revision and what it renders to."""

    model: PlatformModel
    objects: tuple[Mapping[str, Any], ...]
    sha: str = ""
    message: str = ""


@dataclass(frozen=True)
class Deletion:
    change: ObjectChange
    #: the object's deletion policy (PVCs and Namespaces), "" for other kinds
    policy: str
    #: True when the object stays in the cluster (Retain): no longer managed, never deleted
    kept: bool


@dataclass(frozen=True)
class SettingChange:
    """One setting that differs: ``tenant`` "" for the Platform; ``setting`` as written in YAML."""

    tenant: str
    setting: str
    before: str
    after: str
    guardrail: bool = False


@dataclass(frozen=True)
class FlowChange:
    """A connection that becomes possible (``added``) or impossible, or whose ports change."""

    source: AppId | Peer
    target: AppId | Peer
    added: Ports  # newly allowed ports
    removed: Ports  # no longer allowed ports
    now: Ports  # everything allowed after the change

    @property
    def cross_tenant(self) -> bool:
        return (
            isinstance(self.source, AppId)
            and isinstance(self.target, AppId)
            and self.source.tenant != self.target.tenant
        )

    @property
    def leaves_the_platform(self) -> bool:
        return not (isinstance(self.source, AppId) and isinstance(self.target, AppId))


@dataclass(frozen=True)
class Exposure:
    tenant: str
    app: str
    what: str  # "domain" | "LoadBalancer" | "NodePort"
    name: str  # the domain, or the Service
    added: bool


@dataclass(frozen=True)
class CostChange:
    tenant: str
    before: TenantResources
    after: TenantResources
    cost_before: Span | None
    cost_after: Span | None

    @property
    def changed(self) -> bool:
        return self.before != self.after or self.cost_before != self.cost_after


@dataclass(frozen=True)
class Review:
    base: RevisionSide = field(repr=False)
    head: RevisionSide = field(repr=False)
    diff: RevisionDiff
    deletions: tuple[Deletion, ...]
    guard: PrunePlan
    inventory_size: int
    settings: tuple[SettingChange, ...]
    members: tuple[SettingChange, ...]
    tenants_added: tuple[str, ...]
    tenants_removed: tuple[str, ...]
    flows: tuple[FlowChange, ...]
    exposure: tuple[Exposure, ...]
    costs: tuple[CostChange, ...]
    prices: Prices | None
    windows: Mapping[str, WindowDecision]

    @property
    def held(self) -> bool:
        """The mass-deletion guard would hold this change."""
        return self.guard.blocked

    @property
    def boundary_changed(self) -> bool:
        return bool(self.settings or self.members or self.tenants_added or self.tenants_removed)


# --- settings ---------------------------------------------------------------------------------


#: Where the YAML name is not the field's name in camelCase.
_YAML_NAMES = {"memory_gib_month": "memoryGiBMonth", "storage_gib_month": "storageGiBMonth"}


def _camel(name: str) -> str:
    if name in _YAML_NAMES:
        return _YAML_NAMES[name]
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _text(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | list):
        return ", ".join(_text(v) for v in value) if value else "none"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) if value else "none"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = [f"{_camel(f.name)}: {_text(getattr(value, f.name))}" for f in dataclasses.fields(value)]
        return "{" + ", ".join(parts) + "}"
    return str(value)


def _compare(before: Any, after: Any, path: str, out: list[tuple[str, str, str]]) -> None:
    """Differences between two values of the model, one per leaf setting (dataclasses recursed)."""
    if before == after:
        return
    same_dataclass = (
        dataclasses.is_dataclass(before)
        and dataclasses.is_dataclass(after)
        and type(before) is type(after)
        and not isinstance(before, type)
    )
    if same_dataclass:
        for f in dataclasses.fields(before):
            if f.name not in _SKIPPED_FIELDS:
                name = _camel(f.name)
                _compare(getattr(before, f.name), getattr(after, f.name), f"{path}.{name}" if path else name, out)
        return
    out.append((path, _text(before), _text(after)))


def platform_changes(before: Platform, after: Platform) -> list[SettingChange]:
    found: list[tuple[str, str, str]] = []
    _compare(before, after, "", found)
    return [SettingChange("", path, b, a, path.split(".")[0] in GUARDRAIL_SETTINGS) for path, b, a in found]


def tenant_changes(before: Tenant, after: Tenant) -> tuple[list[SettingChange], list[SettingChange]]:
    """(settings, members) that differ between two versions of a tenant."""
    found: list[tuple[str, str, str]] = []
    _compare(dataclasses.replace(before, members=()), dataclasses.replace(after, members=()), "", found)
    settings = [SettingChange(after.name, path, b, a, guardrail=True) for path, b, a in found]
    return settings, _member_changes(after.name, before.members, after.members)


def _member_changes(tenant: str, before: Sequence[Member], after: Sequence[Member]) -> list[SettingChange]:
    old = {(m.kind, m.name): m.role for m in before}
    new = {(m.kind, m.name): m.role for m in after}
    changes = []
    for key in sorted(old.keys() | new.keys()):
        who = f"{key[1]} ({key[0]})"
        if key not in old:
            changes.append(SettingChange(tenant, "members", "", f"{who} added as {new[key]}", True))
        elif key not in new:
            changes.append(SettingChange(tenant, "members", f"{who} removed (was {old[key]})", "", True))
        elif old[key] != new[key]:
            changes.append(SettingChange(tenant, "members", f"{who}: {old[key]}", f"{who}: {new[key]}", True))
    return changes


# --- flows, exposure, cost ----------------------------------------------------------------------


def flow_changes(base: Sequence[Mapping[str, Any]], head: Sequence[Mapping[str, Any]]) -> list[FlowChange]:
    """Connections added and removed between two object sets, app by app."""
    before, after = reachability(base), reachability(head)
    old: dict[tuple[Any, Any], Ports] = {**before.between_apps(), **before.outside()}
    new: dict[tuple[Any, Any], Ports] = {**after.between_apps(), **after.outside()}
    changes = []
    for key in old.keys() | new.keys():
        was, now = old.get(key, Ports.none()), new.get(key, Ports.none())
        if was != now:
            changes.append(FlowChange(key[0], key[1], now - was, was - now, now))
    return sorted(changes, key=_flow_order)


def _peer_order(peer: AppId | Peer) -> tuple[int, str]:
    return (0, str(peer)) if isinstance(peer, AppId) else (1, peer.describe())


def _flow_order(change: FlowChange) -> tuple[bool, bool, tuple[int, str], tuple[int, str]]:
    # Cross-tenant and outside flows first: they are what a tenant boundary is about.
    return (
        not change.cross_tenant,
        not change.leaves_the_platform,
        _peer_order(change.source),
        _peer_order(change.target),
    )


def _exposed(objects: Sequence[Mapping[str, Any]]) -> set[tuple[str, str, str, str]]:
    found: set[tuple[str, str, str, str]] = set()
    for obj in objects:
        kind = obj.get("kind")
        meta = obj.get("metadata") or {}
        app = str((meta.get("labels") or {}).get(APP_LABEL) or meta.get("name") or "")
        tenant = tenant_of(obj, objref(obj))
        spec = obj.get("spec") or {}
        if kind == "Ingress":
            for rule in spec.get("rules") or ():
                if rule.get("host"):
                    found.add((tenant, app, "domain", str(rule["host"])))
        elif kind == "Service" and spec.get("type") in ("LoadBalancer", "NodePort"):
            found.add((tenant, app, str(spec["type"]), str(meta.get("name"))))
    return found


def exposure_changes(base: Sequence[Mapping[str, Any]], head: Sequence[Mapping[str, Any]]) -> list[Exposure]:
    before, after = _exposed(base), _exposed(head)
    changes = [Exposure(*item, added=True) for item in after - before]
    changes += [Exposure(*item, added=False) for item in before - after]
    return sorted(changes, key=lambda e: (e.tenant, e.app, e.what, e.name, e.added))


def cost_changes(
    base: Sequence[Mapping[str, Any]], head: Sequence[Mapping[str, Any]], prices: Prices | None
) -> list[CostChange]:
    before, after = resources_by_tenant(base), resources_by_tenant(head)
    changes = []
    for tenant in sorted(before.keys() | after.keys()):
        old = before.get(tenant, TenantResources(tenant))
        new = after.get(tenant, TenantResources(tenant))
        change = CostChange(
            tenant,
            old,
            new,
            monthly_cost(old, prices) if prices else None,
            monthly_cost(new, prices) if prices else None,
        )
        if change.changed:
            changes.append(change)
    return changes


# --- the review ---------------------------------------------------------------------------------


#: The commit-message trailer that lets one commit through the guard (the daemon's rule, as in
#: daemon.engine.reconcile, which this pure layer cannot import).
ALLOW_MASS_PRUNE_TRAILER = "dockyard-allow-mass-prune: true"


def review(base: RevisionSide, head: RevisionSide, *, now: datetime) -> Review:
    """Everything :mod:`this module <daemon.policy.review>` says a reviewer should know."""
    diff = diff_revisions(
        base.objects,
        head.objects,
        base_sources=sources(base.model, base.objects),
        head_sources=sources(head.model, head.objects),
    )
    deletions = []
    for change in diff.of("delete"):
        policy = change.deletion_policy or ("Retain" if change.ref.kind in PROTECTED_KINDS else "")
        deletions.append(Deletion(change, policy, change.ref.kind in PROTECTED_KINDS and policy != "Delete"))
    deletions.sort(
        key=lambda d: (d.change.ref.kind not in PROTECTED_KINDS, d.change.ref.kind != "PersistentVolumeClaim")
    )
    base_refs = {objref(o): o for o in base.objects}
    inventory = Inventory.of(base_refs)
    guard = plan_prune(
        inventory,
        (objref(o) for o in head.objects),
        base_refs,
        max_fraction=head.model.platform.prune.max_fraction,
        allow_mass_prune=ALLOW_MASS_PRUNE_TRAILER in head.message.lower(),
    )
    settings = platform_changes(base.model.platform, head.model.platform)
    members: list[SettingChange] = []
    old_tenants = {t.name: t for t in base.model.tenants}
    new_tenants = {t.name: t for t in head.model.tenants}
    for name in sorted(old_tenants.keys() & new_tenants.keys()):
        changed, people = tenant_changes(old_tenants[name], new_tenants[name])
        settings += changed
        members += people
    for name in sorted(new_tenants.keys() - old_tenants.keys()):
        members += _member_changes(name, (), new_tenants[name].members)
    windows = held_tenants(
        {c.tenant for c in diff.changes},
        paused=frozenset(),
        windows=head.model.platform.sync.windows,
        now=now,
    )
    prices = head.model.platform.prices
    return Review(
        base=base,
        head=head,
        diff=diff,
        deletions=tuple(deletions),
        guard=guard,
        inventory_size=len(inventory),
        settings=tuple(settings),
        members=tuple(members),
        tenants_added=tuple(sorted(new_tenants.keys() - old_tenants.keys())),
        tenants_removed=tuple(sorted(old_tenants.keys() - new_tenants.keys())),
        flows=tuple(flow_changes(base.objects, head.objects)),
        exposure=tuple(exposure_changes(base.objects, head.objects)),
        costs=tuple(cost_changes(base.objects, head.objects, prices)),
        prices=prices,
        windows=dict(windows),
    )


Verdict = Literal["valid", "held", "invalid"]


@dataclass(frozen=True)
class Comparison:
    """A base and a head compared: the head's problems always, the review when both are valid.

    ``fork``: the head comes from a fork, so it was validated only (nothing of it was rendered or
    compared). ``note`` says how the head was made when it is not the head commit itself (merged
    into the base)."""

    base_label: str
    base_sha: str
    head_label: str
    head_sha: str
    head_problems: tuple[Problem, ...] = ()
    base_errors: tuple[Problem, ...] = ()
    review: Review | None = None
    note: str = ""
    fork: bool = False

    @property
    def head_errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.head_problems if p.severity == "error")

    @property
    def verdict(self) -> Verdict:
        if self.head_errors:
            return "invalid"
        if self.review is not None and self.review.held:
            return "held"
        return "valid"

    @property
    def has_changes(self) -> bool:
        return self.review is not None and self.review.diff.has_changes
