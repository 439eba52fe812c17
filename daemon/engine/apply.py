"""The ResourceManager: plan and apply desired objects with server-side apply, then prune.

Modelled on Flux's ``ssa`` package. Live state comes from one list per kind (cluster-wide,
label-selected), so a plan of an unchanged repo costs a handful of requests however large it is.
Objects whose live state already matches are not sent; candidates for an update are confirmed
with a server-side dry-run, so the plan gives the answer the API server would. Applies run in
stages (namespaces, classes, config, workloads, then services), each stage concurrently with a
bounded pool. Prune deletes only what the inventory says we created and what still carries our
label, never volumes or namespaces whose policy is ``Retain``, and holds mass deletions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from daemon.edges.kube import FIELD_MANAGER, KubeClient, ResourceType
from daemon.edges.watch import LiveCache, LiveObjects
from daemon.errors import ApplyConflict, ClusterError, ObjectInvalid
from daemon.model.labels import MANAGED_BY, MANAGER_NAME, VOLUME_LABEL
from daemon.model.refs import ObjRef
from daemon.policy.diff import Change, ChangeSet, FieldChange, diff_object, removed_fields, without_provenance
from daemon.policy.health import WATCHED_KINDS, Health, assess
from daemon.policy.inventory import Inventory, plan_prune
from daemon.policy.ownership import DEFAULT_IMPERATIVE_MANAGERS, imperative_fields, is_imperative, taken_over
from daemon.policy.plan import ApplyResult, ObjectResult, Plan
from daemon.render.core import STAGES, stage_of
from daemon.render.meta import objref
from daemon.state.inventory import InventoryStore

OWNED_SELECTOR = f"{MANAGED_BY}={MANAGER_NAME}"

log = logging.getLogger(__name__)


_NOISE_META = ("managedFields", "resourceVersion", "generation")

#: Reads and patches of managedFields before a busy object (a rollout in progress) is given up.
_TAKE_BACK_ATTEMPTS = 5


Progress = Callable[[str], None]


def _no_progress(_: str) -> None:
    return None


class ResourceManager:
    def __init__(
        self,
        kube: KubeClient,
        *,
        field_manager: str = FIELD_MANAGER,
        concurrency: int = 8,
        inventory: InventoryStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        live_cache: LiveCache | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._kube = kube
        #: watches that keep live state; without them every plan lists each kind
        self._cache = live_cache
        self._manager = field_manager
        self._concurrency = max(1, concurrency)
        self.inventory_store = inventory or InventoryStore(kube)
        self._clock = clock
        self._sleep = sleep
        #: dates conditions that health accepts for a while (an HPA waiting for metrics)
        self._wall_clock = wall_clock
        #: objects that compared clean at the last plan: ref -> (desired fingerprint, resourceVersion)
        self._clean: dict[ObjRef, tuple[str, str]] = {}
        self._clean_for: tuple[str, ...] = ()  # the imperative managers those comparisons took back
        #: fingerprints of the desired objects of the last plan, by identity (the daemon plans the
        #: same rendered objects cycle after cycle): id -> (object, fingerprint)
        self._prints: dict[int, tuple[Mapping[str, Any], str]] = {}
        self._next_prints: dict[int, tuple[Mapping[str, Any], str]] = {}

    def _fingerprint(self, obj: Mapping[str, Any]) -> str:
        found = self._prints.get(id(obj))
        if found is None or found[0] is not obj:
            found = (obj, _fingerprint(obj))
        self._next_prints[id(obj)] = found
        return found[1]

    # --- live state -------------------------------------------------------------------------

    @property
    def kube(self) -> KubeClient:
        return self._kube

    def _types_for(
        self, desired: Iterable[Mapping[str, Any]], inventory: Inventory
    ) -> tuple[dict[tuple[str, str], ResourceType], Inventory]:
        """The served type of every kind in play, and the inventory without entries that cannot
        name a real object: a kind the server does not serve, or a namespace on a cluster-scoped
        kind (a tenant can write its namespace's inventory; it must not reach past it)."""
        types: dict[tuple[str, str], ResourceType] = {}
        for obj in desired:
            rtype = self._kube.type_of(obj)
            types[(rtype.group, rtype.kind)] = rtype
        unknown: set[tuple[str, str]] = set()
        kept: set[ObjRef] = set()
        for ref in inventory.entries:
            key = (ref.group, ref.kind)
            if key in unknown:
                continue
            if key not in types:
                try:
                    types[key] = self._kube.type_for(ref.group, ref.kind)
                except ClusterError as e:
                    if e.status != 404:
                        raise
                    unknown.add(key)
                    continue
            if types[key].namespaced == bool(ref.namespace):
                kept.add(ref)
        if len(kept) < len(inventory.entries):
            log.warning(
                "the inventory names %d object(s) that cannot exist (unknown kinds, or a namespace "
                "on a cluster-scoped kind); they are ignored",
                len(inventory.entries) - len(kept),
            )
            inventory = Inventory.of(kept, inventory.revision)
        return types, inventory

    def fetch_live(self, types: Iterable[ResourceType]) -> Mapping[ObjRef, Mapping[str, Any]]:
        """Every object Dockyard labels as its own: from the watches when there are some (no
        request once they have listed), else with one list call per type."""
        if self._cache is not None:
            return self._cache.objects(types, OWNED_SELECTOR)
        live: dict[ObjRef, dict[str, Any]] = {}
        type_list = list(types)
        with ThreadPoolExecutor(max_workers=min(self._concurrency, max(len(type_list), 1))) as pool:
            for items in pool.map(lambda t: self._kube.list_objects(t, label_selector=OWNED_SELECTOR), type_list):
                for item in items:
                    live[objref(item)] = item
        return live

    # --- plan -------------------------------------------------------------------------------

    def plan(
        self,
        desired: Sequence[Mapping[str, Any]],
        *,
        max_fraction: float = 0.3,
        allow_mass_prune: bool = False,
        server_dry_run: bool = True,
        force_conflicts: bool = False,
        imperative_managers: Sequence[str] | None = None,
    ) -> Plan:
        """What an apply would change. Fields that ``imperative_managers`` (kubectl's, by default)
        set by hand are drift: shown, and taken back by the apply (see daemon.policy.ownership)."""
        before = self._kube.request_count()
        managers = DEFAULT_IMPERATIVE_MANAGERS if imperative_managers is None else tuple(imperative_managers)
        if managers != self._clean_for:
            self._clean, self._clean_for = {}, managers
        self._next_prints = {}
        inventory = self.inventory_store.load()
        types, inventory = self._types_for(desired, inventory)
        live = self.fetch_live(types.values())
        changes: list[Change] = []
        candidates: list[_Candidate] = []
        takeover: dict[ObjRef, tuple[str, ...]] = {}
        clean: dict[ObjRef, tuple[str, str]] = {}
        for obj in desired:
            ref = objref(obj)
            version = _version_of(live, ref)
            if version is None:
                changes.append(Change("create", ref, desired=obj))
                continue
            # An object whose desired state and live resourceVersion are both as they were when
            # it last compared clean cannot have drifted: skip the walk (most objects, most cycles).
            stamp = (self._fingerprint(obj), version)
            if self._clean.get(ref) == stamp:
                clean[ref] = stamp
                changes.append(Change("unchanged", ref, desired=obj))
                continue
            current = live[ref]
            fields = diff_object(obj, current, self._manager)
            by_hand = _hand_edits(current, obj, managers)
            taken = imperative_fields(current, obj, by_hand) if by_hand else {}
            removed = removed_fields(obj, current, taken) if taken else ()
            if taken and (fields or removed):
                takeover[ref] = by_hand
            if fields or removed:
                candidates.append(_Candidate(obj, ref, fields, removed, by_hand if taken else ()))
            else:
                clean[ref] = stamp
                changes.append(Change("unchanged", ref, desired=obj))
        self._clean = clean
        self._prints = self._next_prints
        if server_dry_run and candidates:
            with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
                confirmed = list(pool.map(lambda c: self._confirm(c, live, force_conflicts), candidates))
            takeover = {
                ref: names
                for ref, names in takeover.items()
                if ref in {c.ref for c in confirmed if c.action == "update"}
            }
            changes.extend(confirmed)
            for change in confirmed:
                if change.action == "unchanged" and change.desired is not None:
                    # A local difference the server normalises away: no need to ask again.
                    self._clean[change.ref] = (self._fingerprint(change.desired), _version_of(live, change.ref) or "")
        else:
            changes.extend(
                Change("update", c.ref, c.fields + c.removed, reason=_taken_reason(c.by_hand), desired=c.obj)
                for c in candidates
            )

        desired_refs = {objref(o) for o in desired}
        stale_live = self._stale_objects(inventory, desired_refs, live, types)
        prune = plan_prune(
            inventory,
            desired_refs,
            stale_live,
            max_fraction=max_fraction,
            allow_mass_prune=allow_mass_prune,
            volumes_with_claims=_volumes_with_claims(desired),
        )
        for ref in prune.delete:
            changes.append(Change("blocked" if prune.blocked else "prune", ref, reason=prune.reason))
        for ref, why in prune.retain:
            changes.append(Change("retain", ref, reason=why))
        order = {ref: i for i, ref in enumerate(objref(o) for o in desired)}
        changes.sort(key=lambda c: (stage_of(c.ref.kind), order.get(c.ref, len(order)), c.ref))
        return Plan(
            changeset=ChangeSet(tuple(changes)),
            prune=prune,
            inventory=inventory,
            desired=tuple(desired),
            live=live,
            requests=self._kube.request_count() - before,
            takeover=takeover,
        )

    def _confirm(self, c: _Candidate, live: Mapping[ObjRef, Mapping[str, Any]], force: bool) -> Change:
        fields = c.fields + c.removed
        reason = _taken_reason(c.by_hand)
        try:
            try:
                result = self._kube.apply(c.obj, field_manager=self._manager, force=force, dry_run=True)
            except ApplyConflict as e:
                if not c.by_hand or not all(is_imperative({"manager": m}, c.by_hand) for m in e.managers):
                    raise
                # Conflicts only with hand edits, which the apply takes back first: none remain.
                result = self._kube.apply(c.obj, field_manager=self._manager, force=True, dry_run=True)
        except ApplyConflict as e:
            managers = ", ".join(e.managers) or "another manager"
            return Change(
                "update",
                c.ref,
                fields,
                reason=f"conflict with {managers}: apply with --force-conflicts to take the fields",
                desired=c.obj,
            )
        except ClusterError as e:
            return Change("update", c.ref, fields, reason=f"the API server refuses it: {e}", desired=c.obj)
        # A dry-run cannot show what taking fields back removes: those removals are certain.
        if not c.removed and _comparable(result) == _comparable(live[c.ref]):
            return Change("unchanged", c.ref, desired=c.obj)
        return Change("update", c.ref, fields, reason=reason, desired=c.obj)

    def _stale_objects(
        self,
        inventory: Inventory,
        desired: set[ObjRef],
        live: Mapping[ObjRef, Mapping[str, Any]],
        types: Mapping[tuple[str, str], ResourceType],
    ) -> dict[ObjRef, Mapping[str, Any]]:
        stale: dict[ObjRef, Mapping[str, Any]] = {}
        for ref in inventory.entries - desired:
            obj = live.get(ref)
            if obj is None:
                # Not in the labelled list: gone, or relabelled by someone; only a GET can tell.
                obj = self._kube.get(types[(ref.group, ref.kind)], ref.namespace or None, ref.name)
            if obj is not None:
                stale[ref] = obj
        return stale

    # --- apply ------------------------------------------------------------------------------

    def apply(
        self,
        plan: Plan,
        *,
        force_conflicts: bool = False,
        revision: str = "",
        wait: bool = True,
        timeout: float = 300.0,
        progress: Progress = _no_progress,
        cancel: threading.Event | None = None,
    ) -> ApplyResult:
        """Sends what the plan says changed, prunes, saves the inventory, then waits for health.

        Setting ``cancel`` stops between objects: what was not sent yet is reported as cancelled
        and the inventory still records everything that exists.
        """
        cancel = cancel or threading.Event()
        started = self._clock()
        before, writes_before = self._kube.request_count(), self._kube.write_count()
        result = ApplyResult(plan=plan)
        to_send = {c.ref: c for c in plan.changeset.of("create", "update")}
        desired_by_ref = {objref(o): o for o in plan.desired}
        applied: dict[ObjRef, Mapping[str, Any]] = {}
        for index, _kinds in enumerate(STAGES):
            batch = [desired_by_ref[ref] for ref, c in to_send.items() if stage_of(c.ref.kind) == index]
            if not batch:
                continue
            progress(f"stage {index + 1}/{len(STAGES)}: applying {len(batch)} object(s)")
            with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
                outcomes = list(
                    pool.map(lambda o: self._apply_one(o, to_send, force_conflicts, cancel, plan.takeover), batch)
                )
            for outcome, live_obj in outcomes:
                result.results.append(outcome)
                if live_obj is not None:
                    applied[outcome.ref] = live_obj
                progress(f"  {outcome.action:7} {outcome.ref}" + ("" if outcome.ok else f"  FAILED: {outcome.error}"))

        stale_kept = self._prune(plan, result, progress) if not cancel.is_set() else set(plan.prune.delete)

        failed_creates = {r.ref for r in result.failed if r.action == "create"}
        kept = {objref(o) for o in plan.desired} - failed_creates
        new_inventory = Inventory.of(kept | stale_kept | plan.deferred | plan.foreign, revision)
        if new_inventory != plan.inventory:
            # A no-op apply writes nothing at all; a shard writes only its own scopes.
            self.inventory_store.save(new_inventory, only=plan.scopes)

        if wait and not cancel.is_set():
            result.health = self.wait_healthy(plan, applied, timeout=timeout, progress=progress)
        result.requests = self._kube.request_count() - before + plan.requests
        result.writes = self._kube.write_count() - writes_before
        result.duration_seconds = self._clock() - started
        return result

    def _take_back(self, obj: Mapping[str, Any], by_hand: Sequence[str]) -> None:
        """Makes the fields that ``by_hand`` managers set ours, on the object as it is now (the
        patch tests its resourceVersion), so the apply that follows removes or resets them."""
        rtype = self._kube.type_of(obj)
        meta = obj["metadata"]
        for attempt in range(_TAKE_BACK_ATTEMPTS):
            current = self._kube.get(rtype, meta.get("namespace"), meta["name"])
            if current is None:
                return
            entries = taken_over(current["metadata"].get("managedFields") or [], obj, self._manager, by_hand)
            if entries is None:
                return
            version = current["metadata"]["resourceVersion"]
            try:
                self._kube.json_patch(
                    rtype,
                    meta.get("namespace"),
                    meta["name"],
                    [
                        {"op": "test", "path": "/metadata/resourceVersion", "value": version},
                        {"op": "replace", "path": "/metadata/managedFields", "value": entries},
                    ],
                )
                return
            except ObjectInvalid:
                # The test failed: a controller wrote (a status, usually) since the read; read again.
                if attempt == _TAKE_BACK_ATTEMPTS - 1:
                    raise

    def _apply_one(
        self,
        obj: Mapping[str, Any],
        changes: Mapping[ObjRef, Change],
        force: bool,
        cancel: threading.Event,
        takeover: Mapping[ObjRef, tuple[str, ...]],
    ) -> tuple[ObjectResult, dict[str, Any] | None]:
        ref = objref(obj)
        action = changes[ref].action
        if cancel.is_set():
            return ObjectResult(ref, action, False, "cancelled: the daemon is stopping"), None
        try:
            by_hand = takeover.get(ref, ())
            if by_hand:
                self._take_back(obj, by_hand)
            live = self._kube.apply(obj, field_manager=self._manager, force=force)
            if self._cache is not None:
                self._cache.observe(live)
        except ApplyConflict as e:
            managers = ", ".join(e.managers) or "another field manager"
            message = f"conflict with {managers}; re-run with --force-conflicts to take over the fields"
            return ObjectResult(ref, action, False, message, e.managers), None
        except ClusterError as e:
            return ObjectResult(ref, action, False, str(e)), None
        # Only the health wait reads what the server answered, and only of watched kinds: holding
        # every answer of a cold apply of thousands of objects would be most of its memory.
        return ObjectResult(ref, action, True), slim_live(live) if ref.kind in WATCHED_KINDS else None

    def _prune(self, plan: Plan, result: ApplyResult, progress: Progress) -> set[ObjRef]:
        """Deletes stale objects in reverse apply order; returns stale refs still to be owned."""
        if plan.prune.blocked:
            progress(f"prune held: {plan.prune.reason}")
            return set(plan.prune.delete)
        kept: set[ObjRef] = set()
        for ref in sorted(plan.prune.delete, key=lambda r: -stage_of(r.kind)):
            rtype = self._kube.type_for(ref.group, ref.kind)
            try:
                self._kube.delete(rtype, ref.namespace or None, ref.name)
            except ClusterError as e:
                result.results.append(ObjectResult(ref, "prune", False, str(e)))
                kept.add(ref)
                continue
            if self._cache is not None:
                self._cache.forget(ref)
            result.pruned.append(ref)
            result.results.append(ObjectResult(ref, "prune", True))
            progress(f"  pruned  {ref}")
        return kept

    # --- health -----------------------------------------------------------------------------

    def last_warning(self, ref: ObjRef) -> str:
        """The newest Warning event about an object: usually why it is stuck (a refused pod, a
        failed mount), which its status alone does not say."""
        events_type = self._kube.resource_type("v1", "Event")
        selector = f"involvedObject.name={ref.name},involvedObject.kind={ref.kind},type=Warning"
        try:
            events = self._kube.list_objects(events_type, namespace=ref.namespace or None, field_selector=selector)
        except ClusterError:
            return ""
        if not events:
            return ""
        newest = max(events, key=_event_time)
        return f"{newest.get('reason', '')}: {newest.get('message', '')}".strip()

    def wait_healthy(
        self,
        plan: Plan,
        applied: Mapping[ObjRef, Mapping[str, Any]],
        *,
        timeout: float,
        progress: Progress = _no_progress,
        poll_interval: float = 1.0,
    ) -> list[Health]:
        """Health of every watched object: polled until healthy for what changed, read from the
        plan's live state for the rest."""
        states: dict[ObjRef, Health] = {}
        pending: dict[ObjRef, Mapping[str, Any]] = {}
        for obj in plan.desired:
            ref = objref(obj)
            if ref.kind not in WATCHED_KINDS:
                continue
            if ref in applied:
                pending[ref] = applied[ref]
            elif ref in plan.live:
                states[ref] = assess(ref, plan.live[ref], self._wall_clock())
        deadline = self._clock() + timeout
        while pending:
            for ref in list(pending):
                rtype = self._kube.type_for(ref.group, ref.kind)
                try:
                    current = self._kube.get(rtype, ref.namespace or None, ref.name)
                except ClusterError as e:
                    states[ref] = Health(ref, "progressing", f"cannot read it: {e}")
                    continue
                if current is None:
                    states[ref] = Health(ref, "degraded", "deleted by someone else after apply")
                    del pending[ref]
                    continue
                health = assess(ref, current, self._wall_clock())
                states[ref] = health
                if health.state != "progressing":
                    del pending[ref]
                    progress(f"  {health.state:11} {ref}: {health.message}")
            if not pending or self._clock() >= deadline:
                break
            self._sleep(poll_interval)
        for ref in pending:
            old = states[ref]
            warning = self.last_warning(ref)
            suffix = f"; last warning: {warning}" if warning else ""
            states[ref] = Health(ref, old.state, f"timed out after {timeout:g}s: {old.message}{suffix}")
        return sorted(states.values(), key=lambda h: (stage_of(h.ref.kind), h.ref))


@dataclass(frozen=True)
class _Candidate:
    """An object whose local diff found changes, before the server confirms them."""

    obj: Mapping[str, Any]
    ref: ObjRef
    fields: tuple[FieldChange, ...]
    #: fields set by hand that the apply removes once it has taken them back
    removed: tuple[FieldChange, ...]
    #: the imperative managers whose fields are taken back
    by_hand: tuple[str, ...]


def _hand_edits(live: Mapping[str, Any], desired: Mapping[str, Any], managers: Sequence[str]) -> tuple[str, ...]:
    """The imperative managers that set fields of ``live``."""
    if not managers:
        return ()
    found = {
        str(entry.get("manager"))
        for entry in live.get("metadata", {}).get("managedFields") or ()
        if is_imperative(entry, managers)
    }
    return tuple(sorted(found))


def _taken_reason(by_hand: Sequence[str]) -> str:
    if not by_hand:
        return ""
    return f"changed by hand ({', '.join(by_hand)}): the apply takes these fields back"


def _version_of(live: Mapping[ObjRef, Mapping[str, Any]], ref: ObjRef) -> str | None:
    """An object's resourceVersion (without decoding it, from the watches), or None when absent."""
    if isinstance(live, LiveObjects):
        return live.version(ref)
    obj = live.get(ref)
    return None if obj is None else str(obj.get("metadata", {}).get("resourceVersion", ""))


def slim_live(obj: dict[str, Any]) -> dict[str, Any]:
    """What planning and health read of a live object, for the watches to keep: status only of
    kinds whose health is assessed, and managedFields without status writers' entries or times."""
    slim = dict(obj)
    meta = dict(slim.get("metadata", {}))
    entries = meta.get("managedFields")
    if entries:
        meta["managedFields"] = [
            {k: e[k] for k in ("manager", "operation", "subresource", "fieldsV1") if k in e}
            for e in entries
            if e.get("subresource") != "status"
        ]
    slim["metadata"] = meta
    if slim.get("kind") not in WATCHED_KINDS:
        slim.pop("status", None)
    return slim


def _volumes_with_claims(desired: Iterable[Mapping[str, Any]]) -> frozenset[tuple[str, str]]:
    """(namespace, Volume) of every claim the desired state renders."""
    found = set()
    for obj in desired:
        if obj.get("kind") == "PersistentVolumeClaim":
            meta = obj.get("metadata", {})
            volume = (meta.get("labels") or {}).get(VOLUME_LABEL)
            if volume:
                found.add((str(meta.get("namespace", "")), str(volume)))
    return frozenset(found)


def _fingerprint(obj: Mapping[str, Any]) -> str:
    """Identity of a desired object's content, provenance annotations excluded."""
    text = json.dumps(without_provenance(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _event_time(event: Mapping[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp", ""))


def _comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An object without what every write changes (resourceVersion, managedFields, status) and
    without provenance annotations: equal when an apply would change nothing that matters."""
    copy = without_provenance(obj)
    copy["metadata"] = {k: v for k, v in copy["metadata"].items() if k not in _NOISE_META}
    copy.pop("status", None)
    return copy
