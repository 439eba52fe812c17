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
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from daemon.edges.kube import FIELD_MANAGER, KubeClient, ResourceType
from daemon.errors import ApplyConflict, ClusterError
from daemon.model.labels import MANAGED_BY, MANAGER_NAME, VOLUME_LABEL
from daemon.model.refs import ObjRef
from daemon.policy.diff import Change, ChangeSet, FieldChange, diff_object, without_provenance
from daemon.policy.health import WATCHED_KINDS, Health, assess
from daemon.policy.inventory import Inventory, plan_prune
from daemon.policy.plan import ApplyResult, ObjectResult, Plan
from daemon.render.core import STAGES, objref, stage_of
from daemon.state.inventory import InventoryStore

OWNED_SELECTOR = f"{MANAGED_BY}={MANAGER_NAME}"


_NOISE_META = ("managedFields", "resourceVersion", "generation")


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
    ) -> None:
        self._kube = kube
        self._manager = field_manager
        self._concurrency = max(1, concurrency)
        self.inventory_store = inventory or InventoryStore(kube)
        self._clock = clock
        self._sleep = sleep
        #: objects that compared clean at the last plan: ref -> (desired fingerprint, resourceVersion)
        self._clean: dict[ObjRef, tuple[str, str]] = {}

    # --- live state -------------------------------------------------------------------------

    @property
    def kube(self) -> KubeClient:
        return self._kube

    def _types_for(
        self, desired: Iterable[Mapping[str, Any]], refs: Iterable[ObjRef]
    ) -> dict[tuple[str, str], ResourceType]:
        types: dict[tuple[str, str], ResourceType] = {}
        for obj in desired:
            rtype = self._kube.type_of(obj)
            types[(rtype.group, rtype.kind)] = rtype
        for ref in refs:
            if (ref.group, ref.kind) not in types:
                types[(ref.group, ref.kind)] = self._kube.type_for(ref.group, ref.kind)
        return types

    def fetch_live(self, types: Iterable[ResourceType]) -> dict[ObjRef, dict[str, Any]]:
        """Every object Dockyard labels as its own, with one list call per type."""
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
    ) -> Plan:
        before = self._kube.request_count()
        inventory = self.inventory_store.load()
        types = self._types_for(desired, inventory.entries)
        live = self.fetch_live(types.values())
        changes: list[Change] = []
        candidates: list[tuple[Mapping[str, Any], ObjRef, tuple[FieldChange, ...]]] = []
        clean: dict[ObjRef, tuple[str, str]] = {}
        for obj in desired:
            ref = objref(obj)
            current = live.get(ref)
            if current is None:
                changes.append(Change("create", ref, desired=obj))
                continue
            # An object whose desired state and live resourceVersion are both as they were when
            # it last compared clean cannot have drifted: skip the walk (most objects, most cycles).
            stamp = (_fingerprint(obj), str(current.get("metadata", {}).get("resourceVersion", "")))
            if self._clean.get(ref) == stamp:
                clean[ref] = stamp
                changes.append(Change("unchanged", ref, desired=obj))
                continue
            fields = diff_object(obj, current, self._manager)
            if fields:
                candidates.append((obj, ref, fields))
            else:
                clean[ref] = stamp
                changes.append(Change("unchanged", ref, desired=obj))
        self._clean = clean
        if server_dry_run and candidates:
            with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
                confirmed = list(pool.map(lambda c: self._confirm(c, live, force_conflicts), candidates))
            changes.extend(confirmed)
            for change in confirmed:
                if change.action == "unchanged" and change.desired is not None:
                    # A local difference the server normalises away: no need to ask again.
                    version = str(live[change.ref].get("metadata", {}).get("resourceVersion", ""))
                    self._clean[change.ref] = (_fingerprint(change.desired), version)
        else:
            changes.extend(Change("update", ref, fields, desired=obj) for obj, ref, fields in candidates)

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
        )

    def _confirm(
        self,
        candidate: tuple[Mapping[str, Any], ObjRef, tuple[FieldChange, ...]],
        live: Mapping[ObjRef, Mapping[str, Any]],
        force: bool,
    ) -> Change:
        obj, ref, fields = candidate
        try:
            result = self._kube.apply(obj, field_manager=self._manager, force=force, dry_run=True)
        except ApplyConflict as e:
            managers = ", ".join(e.managers) or "another manager"
            return Change(
                "update",
                ref,
                fields,
                reason=f"conflict with {managers}: apply with --force-conflicts to take the fields",
                desired=obj,
            )
        except ClusterError as e:
            return Change("update", ref, fields, reason=f"the API server refuses it: {e}", desired=obj)
        if _comparable(result) == _comparable(live[ref]):
            return Change("unchanged", ref, desired=obj)
        return Change("update", ref, fields, desired=obj)

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
                outcomes = list(pool.map(lambda o: self._apply_one(o, to_send, force_conflicts, cancel), batch))
            for outcome, live_obj in outcomes:
                result.results.append(outcome)
                if live_obj is not None:
                    applied[outcome.ref] = live_obj
                progress(f"  {outcome.action:7} {outcome.ref}" + ("" if outcome.ok else f"  FAILED: {outcome.error}"))

        stale_kept = self._prune(plan, result, progress) if not cancel.is_set() else set(plan.prune.delete)

        failed_creates = {r.ref for r in result.failed if r.action == "create"}
        kept = {objref(o) for o in plan.desired} - failed_creates
        new_inventory = Inventory.of(kept | stale_kept | plan.deferred, revision)
        if new_inventory != plan.inventory:
            self.inventory_store.save(new_inventory)  # a no-op apply writes nothing at all

        if wait and not cancel.is_set():
            result.health = self.wait_healthy(plan, applied, timeout=timeout, progress=progress)
        result.requests = self._kube.request_count() - before + plan.requests
        result.writes = self._kube.write_count() - writes_before
        result.duration_seconds = self._clock() - started
        return result

    def _apply_one(
        self, obj: Mapping[str, Any], changes: Mapping[ObjRef, Change], force: bool, cancel: threading.Event
    ) -> tuple[ObjectResult, dict[str, Any] | None]:
        ref = objref(obj)
        action = changes[ref].action
        if cancel.is_set():
            return ObjectResult(ref, action, False, "cancelled: the daemon is stopping"), None
        try:
            live = self._kube.apply(obj, field_manager=self._manager, force=force)
        except ApplyConflict as e:
            managers = ", ".join(e.managers) or "another field manager"
            message = f"conflict with {managers}; re-run with --force-conflicts to take over the fields"
            return ObjectResult(ref, action, False, message, e.managers), None
        except ClusterError as e:
            return ObjectResult(ref, action, False, str(e)), None
        return ObjectResult(ref, action, True), live

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
                states[ref] = assess(ref, plan.live[ref])
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
                health = assess(ref, current)
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
