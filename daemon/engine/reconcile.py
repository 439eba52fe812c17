"""One reconcile cycle: source → load → render → plan → windows → apply → prune → health → events.

The :class:`Reconciler` holds the daemon's memory between cycles (the last good model, what was
applied, what failed) and nothing else; every dependency (source, resource manager, event sink,
history, clock, leadership) is passed in. Rules it keeps:

* an invalid commit is rejected whole: nothing of it is applied and the last good state stays;
* changes to a tenant that is paused or outside its sync window are planned and announced
  (``sync.skipped``), then applied by a later cycle once the window opens;
* a failed cycle is retried with exponential backoff; a fetch error is reported once, not on
  every poll, and the last good revision stays applied;
* only the leader writes to the cluster.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from daemon.edges.metrics import DaemonMetrics
from daemon.engine.apply import ResourceManager
from daemon.errors import ClusterError, DockyardError, SourceError, ValidationFailed
from daemon.loader import LoadCache, load_or_raise
from daemon.model.audit import HistoryKind, HistoryRecord, HistoryResult
from daemon.model.events import CommitInfo, Event, EventSink
from daemon.model.kinds import PlatformModel, ScaleSchedule
from daemon.model.refs import Revision
from daemon.policy.diff import Change
from daemon.policy.health import WATCHED_KINDS, Health, assess
from daemon.policy.plan import ApplyResult, Plan, tenant_of
from daemon.policy.windows import WindowDecision, active_scale_schedules, blocked_tenants
from daemon.render import objref, render
from daemon.render.core import scheduled

log = logging.getLogger(__name__)

#: A commit message trailer that lets one commit through the mass-deletion guard (reviewed in Git).
ALLOW_MASS_PRUNE_TRAILER = "dockyard-allow-mass-prune: true"
MAX_CHANGES_IN_EVENT = 30


class Source(Protocol):
    def fetch(self) -> Revision: ...

    def describe(self) -> str: ...


class HistorySink(Protocol):
    def append(self, record: HistoryRecord) -> None: ...


class PauseSource(Protocol):
    def paused(self) -> frozenset[str]: ...


class NoPauses:
    def paused(self) -> frozenset[str]:
        return frozenset()


@dataclass(frozen=True)
class CycleOutcome:
    result: str  # succeeded | failed | skipped | invalid | noop | standby
    revision: str = ""
    summary: str = ""


@dataclass
class DaemonState:
    """What the daemon knows; read by the HTTP server and chat commands through ``snapshot``."""

    revision: Revision | None = None  # the revision last loaded successfully
    model: PlatformModel | None = None
    desired: tuple[Mapping[str, Any], ...] = ()
    applied_sha: str = ""  # the revision whose changes are all in the cluster
    invalid_sha: str = ""
    ready: bool = False
    last_result: str = "pending"
    last_sync_time: datetime | None = None
    last_plan_counts: dict[str, int] = field(default_factory=dict)
    pending_changes: tuple[str, ...] = ()  # descriptions of changes not applied yet
    deferred: dict[str, str] = field(default_factory=dict)  # tenant -> why its changes wait
    degraded: dict[str, str] = field(default_factory=dict)  # object -> health message
    health: tuple[Health, ...] = ()
    fetch_error: str = ""
    failures: int = 0
    next_retry: float = 0.0
    skipped_fingerprint: str = ""
    #: scheduled scaling in force, by (tenant, Autoscaling name)
    schedules: dict[tuple[str, str], ScaleSchedule] = field(default_factory=dict)
    #: scheduled scaling changes rendered but not announced yet: (tenant, name, before, after)
    scaling_changes: list[tuple[str, str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ReconcileSettings:
    health_timeout: float = 120.0
    backoff_base: float = 5.0
    backoff_cap: float = 300.0
    force_conflicts: bool = False


class Reconciler:
    def __init__(
        self,
        source: Source,
        manager: ResourceManager,
        sink: EventSink,
        *,
        metrics: DaemonMetrics,
        history: HistorySink | None = None,
        pauses: PauseSource | None = None,
        settings: ReconcileSettings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        is_leader: Callable[[], bool] = lambda: True,
        on_model: Callable[[PlatformModel], None] = lambda _: None,
    ) -> None:
        self._source = source
        self._manager = manager
        self._sink = sink
        self._metrics = metrics
        self._history = history
        self._pauses = pauses or NoPauses()
        self._settings = settings or ReconcileSettings()
        self._clock = clock
        self._monotonic = monotonic
        self._is_leader = is_leader
        self._on_model = on_model
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.state = DaemonState()
        # Unchanged files of the next commit are neither parsed nor schema-checked again.
        self._load_cache = LoadCache()

    # --- public -------------------------------------------------------------------------------

    def snapshot(self) -> DaemonState:
        with self._lock:
            return replace(self.state, deferred=dict(self.state.deferred), degraded=dict(self.state.degraded))

    def retry_due(self) -> bool:
        """False while a failed cycle waits out its backoff."""
        return self.state.failures == 0 or self._monotonic() >= self.state.next_retry

    def cycle(self, trigger: str = "poll", *, ignore_windows: bool = False) -> CycleOutcome:
        started_wall, started = self._clock(), self._monotonic()
        try:
            outcome = self._cycle(trigger, ignore_windows, started_wall)
        except (ClusterError, DockyardError) as e:
            outcome = self._failed(trigger, started_wall, f"{type(e).__name__}: {e}")
        except Exception as e:  # a bug must not kill the daemon; it is reported and retried
            log.exception("reconcile cycle crashed")
            outcome = self._failed(trigger, started_wall, f"internal error: {type(e).__name__}: {e}")
        self._metrics.cycle_duration.labels(trigger=trigger).observe(self._monotonic() - started)
        self._metrics.cycles.labels(result=outcome.result).inc()
        return outcome

    # --- the cycle ----------------------------------------------------------------------------

    def _cycle(self, trigger: str, ignore_windows: bool, started: datetime) -> CycleOutcome:
        revision = self._fetch()
        if revision is None:
            return CycleOutcome("failed", summary="cannot fetch the platform repo")
        state = self.state
        is_new = state.revision is None or revision.sha != state.revision.sha
        if revision.sha == state.invalid_sha and not is_new:
            return CycleOutcome("noop", revision.sha, "revision already rejected")
        if is_new:
            loaded = self._load(revision, trigger, started)
            if loaded is None:
                return CycleOutcome("invalid", revision.sha, "validation failed")
        if not self._is_leader():
            return CycleOutcome("standby", revision.sha, "not the leader")
        rescheduled = not is_new and self._refresh_schedules(revision)
        periodic = trigger in ("poll", "watch")
        up_to_date = state.applied_sha == revision.sha and not state.deferred and state.failures == 0
        if periodic and not is_new and not rescheduled and up_to_date:
            return CycleOutcome("noop", revision.sha, "up to date")
        return self._sync(revision, trigger, ignore_windows, started)

    def _fetch(self) -> Revision | None:
        try:
            revision = self._source.fetch()
        except SourceError as e:
            self._metrics.git_fetch_errors.inc()
            message = str(e)
            if message != self.state.fetch_error:
                # Reported once per distinct error, not on every poll.
                log.warning("cannot fetch %s: %s", self._source.describe(), message)
                self._emit(
                    Event.make(
                        "sync.failed",
                        f"Cannot fetch the platform repo; the last good revision stays applied: {message}",
                        details={"stage": "fetch", "source": self._source.describe()},
                        group="fetch",
                    )
                )
            self.state.fetch_error = message
            return None
        if self.state.fetch_error:
            log.info("fetching %s works again", self._source.describe())
            self.state.fetch_error = ""
        return revision

    def _load(self, revision: Revision, trigger: str, started: datetime) -> PlatformModel | None:
        try:
            model = load_or_raise(Path(revision.path), self._load_cache)
        except ValidationFailed as e:
            errors = [p.format() for p in e.problems if p.severity == "error"]
            with self._lock:
                self.state.invalid_sha = revision.sha
            self._emit(
                Event.make(
                    "validation.failed",
                    f"Commit {revision.sha[:8]} by {revision.author or 'unknown'} is invalid and was not applied "
                    f"({len(errors)} error(s)); {self._last_good()} stays applied.",
                    commit=_commit(revision),
                    errors=tuple(errors),
                    group=f"sync-{revision.sha}",
                    details={"errors": len(errors)},
                )
            )
            self._record("validation", revision, trigger, started, "invalid", errors=errors)
            return None
        schedules = active_scale_schedules(model.autoscalings, self._clock())
        desired = tuple(render(model, revision.sha, schedules))
        with self._lock:
            self.state.revision = revision
            self.state.model = model
            self.state.desired = desired
            self.state.invalid_sha = ""
            self.state.schedules = schedules
        self._on_model(model)
        return model

    def _refresh_schedules(self, revision: Revision) -> bool:
        """Re-renders when a scheduled scaling window opened or closed; True when it did."""
        model = self.state.model
        if model is None or not any(a.schedules for a in model.autoscalings):
            return False
        schedules = active_scale_schedules(model.autoscalings, self._clock())
        if schedules == self.state.schedules:
            return False
        changes = []
        for scaling in model.autoscalings:
            key = (scaling.tenant, scaling.name)
            before = scheduled(scaling, self.state.schedules.get(key))
            after = scheduled(scaling, schedules.get(key))
            if (before.min_replicas, before.max_replicas) != (after.min_replicas, after.max_replicas):
                changes.append(
                    (
                        scaling.tenant,
                        scaling.target,
                        f"{before.min_replicas}-{before.max_replicas}",
                        f"{after.min_replicas}-{after.max_replicas}",
                    )
                )
        desired = tuple(render(model, revision.sha, schedules))
        with self._lock:
            self.state.schedules = schedules
            self.state.desired = desired
            self.state.scaling_changes.extend(changes)
        return True

    def _announce_scaling(self, revision: Revision, ok: bool) -> None:
        """``scaling.succeeded`` for every scheduled change the apply carried; when the apply
        failed they stay pending and are announced once a retry lands them."""
        if not ok:
            return
        changes, self.state.scaling_changes = self.state.scaling_changes, []
        for tenant, app, before, after in changes:
            self._emit(
                Event.make(
                    "scaling.succeeded",
                    f"Scheduled scaling of {tenant}/{app}: replicas {before} → {after}.",
                    tenant=tenant,
                    app=app,
                    commit=_commit(revision),
                    details={"before": before, "after": after, "reason": "schedule"},
                )
            )

    def _sync(self, revision: Revision, trigger: str, ignore_windows: bool, started: datetime) -> CycleOutcome:
        state = self.state
        assert state.model is not None
        model = state.model
        allow_mass_prune = ALLOW_MASS_PRUNE_TRAILER in revision.message.lower()
        plan = self._manager.plan(
            state.desired,
            max_fraction=model.platform.prune.max_fraction,
            allow_mass_prune=allow_mass_prune,
            force_conflicts=self._settings.force_conflicts,
        )
        self._metrics.objects_managed.set(len(plan.inventory))
        drifted = plan.changeset.of("update")
        if state.applied_sha == revision.sha:
            self._metrics.objects_drifted.set(len(drifted))
        held = self._held_tenants(plan, ignore_windows)
        effective = plan.defer(held)
        # Only tenants that actually have waiting changes count as held back.
        waiting = {
            tenant_of(c.desired or plan.live.get(c.ref) or {}, c.ref) for c in effective.changeset.of("deferred")
        }
        held = {t: d for t, d in held.items() if t in waiting}
        with self._lock:
            state.last_plan_counts = effective.changeset.counts
            state.deferred = {t: d.reason for t, d in held.items()}
            state.pending_changes = tuple(_describe(c) for c in effective.changeset.of("deferred"))
        self._announce_deferred(revision, effective, held)

        to_do = effective.changeset.of("create", "update", "prune")
        if not to_do and not effective.prune.blocked:
            self._assess_live_health(effective)
            with self._lock:
                if not held:
                    state.applied_sha = revision.sha
                state.failures = 0
                # Ready means "the cluster matches a revision"; changes waiting for a window do not.
                first = not state.ready and not held
                state.last_result = "skipped" if held else "succeeded"
            if first:
                self._mark_synced(revision)
            return CycleOutcome("skipped" if held else "noop", revision.sha, "nothing to apply")

        result = self._manager.apply(
            effective,
            force_conflicts=self._settings.force_conflicts,
            revision=revision.sha,
            timeout=self._settings.health_timeout,
            cancel=self.stopping,
        )
        return self._report(revision, trigger, started, result, held)

    def _held_tenants(self, plan: Plan, ignore_windows: bool) -> dict[str, WindowDecision]:
        assert self.state.model is not None
        held: dict[str, WindowDecision] = {}
        tenants = {tenant_of(c.desired or plan.live.get(c.ref) or {}, c.ref) for c in plan.changeset.changes}
        paused = self._pauses.paused()
        # "*" pauses everything: every tenant, those added later, and platform-level objects ("").
        for tenant in sorted(tenants if "*" in paused else paused):
            held[tenant] = WindowDecision(False, "paused")
        if ignore_windows:
            return held
        windows = self.state.model.platform.sync.windows
        for tenant, decision in blocked_tenants(windows, sorted(tenants), self._clock()).items():
            held.setdefault(tenant, decision)
        return held

    def _announce_deferred(self, revision: Revision, plan: Plan, held: Mapping[str, WindowDecision]) -> None:
        deferred = plan.changeset.of("deferred")
        if not deferred:
            self.state.skipped_fingerprint = ""
            return
        fingerprint = hashlib.sha256((revision.sha + "|".join(sorted(c.ref.id for c in deferred))).encode()).hexdigest()
        if fingerprint == self.state.skipped_fingerprint:
            return  # already announced; say it again only when what waits changes
        self.state.skipped_fingerprint = fingerprint
        tenants = sorted({tenant_of(c.desired or {}, c.ref) for c in deferred})
        reasons = {t: held[t].reason for t in tenants if t in held}
        next_open = min((d.next_open for d in held.values() if d.next_open is not None), default=None)
        when = f"; the next window opens {next_open.isoformat()}" if next_open else ""
        self._emit(
            Event.make(
                "sync.skipped",
                f"{len(deferred)} change(s) of {revision.sha[:8]} wait for their sync window "
                f"({', '.join(t or 'platform' for t in tenants)}){when}.",
                commit=_commit(revision),
                group=f"sync-{revision.sha}",
                details={
                    "tenants": reasons,
                    "changes": [_describe(c) for c in deferred[:MAX_CHANGES_IN_EVENT]],
                    "nextOpen": next_open.isoformat() if next_open else None,
                },
            )
        )

    def _report(
        self, revision: Revision, trigger: str, started: datetime, result: ApplyResult, held: Mapping[str, Any]
    ) -> CycleOutcome:
        state = self.state
        changes = [f"{r.action} {r.ref}" for r in result.results if r.ok and r.action in ("create", "update", "prune")]
        errors = [f"{r.action} {r.ref}: {r.error}" for r in result.failed]
        for failed in result.failed:
            reason = "conflict" if failed.conflict_managers else ("cancelled" if "cancelled" in failed.error else "api")
            self._metrics.apply_errors.labels(reason=reason).inc()
        counts = {
            "applied": sum(1 for r in result.results if r.ok and r.action in ("create", "update")),
            "created": sum(1 for r in result.results if r.ok and r.action == "create"),
            "updated": sum(1 for r in result.results if r.ok and r.action == "update"),
            "pruned": len(result.pruned),
            "failed": len(result.failed),
            "unchanged": result.plan.changeset.counts.get("unchanged", 0),
            "deferred": result.plan.changeset.counts.get("deferred", 0),
        }
        self._update_health(revision, result.health)
        if result.plan.prune.blocked:
            self._emit(
                Event.make(
                    "prune.blocked",
                    result.plan.prune.reason,
                    commit=_commit(revision),
                    group=f"sync-{revision.sha}",
                    details={"held": [str(r) for r in result.plan.prune.delete[:MAX_CHANGES_IN_EVENT]]},
                )
            )
        applied_ok = not result.failed
        scheduled_only = bool(state.scaling_changes) and state.applied_sha == revision.sha
        if state.scaling_changes:
            self._announce_scaling(revision, applied_ok)
        drift = not scheduled_only and (
            trigger == "drift" or (state.applied_sha == revision.sha and trigger != "manual")
        )
        with self._lock:
            if applied_ok:
                state.failures = 0
                if not held:
                    state.applied_sha = revision.sha
            else:
                self._back_off()
            state.last_result = "succeeded" if result.ok else "failed"
        unhealthy = [f"{h.ref}: {h.state}: {h.message}" for h in result.unhealthy]
        details: dict[str, Any] = {
            "changes": counts,
            "objects": changes[:MAX_CHANGES_IN_EVENT],
            "health": unhealthy[:MAX_CHANGES_IN_EVENT],
            "writes": result.writes,
            "apiRequests": result.requests,
            "durationSeconds": round(result.duration_seconds, 2),
        }
        outcome: HistoryResult
        if drift and applied_ok:
            self._emit(
                Event.make(
                    "drift.corrected",
                    f"Corrected drift on {len(changes)} object(s) back to {revision.sha[:8]}.",
                    commit=_commit(revision),
                    group=f"drift-{revision.sha}",
                    details=details,
                )
            )
            outcome = "succeeded"
        elif result.ok:
            self._emit(
                Event.make(
                    "sync.succeeded",
                    f"Applied {revision.sha[:8]}: {counts['created']} created, {counts['updated']} updated, "
                    f"{counts['pruned']} pruned; all healthy.",
                    commit=_commit(revision),
                    group=f"sync-{revision.sha}",
                    details=details,
                )
            )
            outcome = "succeeded"
        else:
            why = errors[:1] or unhealthy[:1] or [result.plan.prune.reason]
            self._emit(
                Event.make(
                    "sync.failed",
                    f"Sync of {revision.sha[:8]} failed: {why[0]}",
                    commit=_commit(revision),
                    group=f"sync-{revision.sha}",
                    errors=tuple(errors[:MAX_CHANGES_IN_EVENT]),
                    details=details,
                )
            )
            outcome = "failed"
        if result.ok or (applied_ok and not result.plan.prune.blocked):
            self._mark_synced(revision)
        self._record(
            "drift" if drift else "sync",
            revision,
            trigger,
            started,
            outcome,
            counts=counts,
            changes=changes,
            errors=errors + unhealthy,
        )
        return CycleOutcome(outcome, revision.sha, f"{len(changes)} change(s), {len(errors)} error(s)")

    def _mark_synced(self, revision: Revision) -> None:
        with self._lock:
            self.state.ready = True
            self.state.last_sync_time = self._clock()
        self._metrics.ready.set(1)
        self._metrics.last_success.set(self._clock().timestamp())
        self._metrics.last_applied.info({"revision": revision.sha, "author": revision.author})

    def _assess_live_health(self, plan: Plan) -> None:
        health = [
            assess(objref(o), plan.live[objref(o)])
            for o in plan.desired
            if objref(o).kind in WATCHED_KINDS and objref(o) in plan.live
        ]
        if self.state.revision is not None:
            self._update_health(self.state.revision, health)

    def _update_health(self, revision: Revision, health: Sequence[Health]) -> None:
        now_bad = {str(h.ref): h.message for h in health if h.state == "degraded"}
        before = self.state.degraded
        recovered = [ref for ref in before if ref not in now_bad]
        newly_bad = {ref: msg for ref, msg in now_bad.items() if ref not in before}
        with self._lock:
            self.state.degraded = now_bad
            self.state.health = tuple(health)
        if newly_bad:
            self._emit(
                Event.make(
                    "health.degraded",
                    f"{len(newly_bad)} object(s) degraded: "
                    + "; ".join(f"{r}: {m}" for r, m in list(newly_bad.items())[:5]),
                    commit=_commit(revision),
                    group=f"sync-{revision.sha}",
                    details={"objects": newly_bad},
                )
            )
        if recovered:
            self._emit(
                Event.make(
                    "health.recovered",
                    f"{len(recovered)} object(s) healthy again: {', '.join(recovered[:5])}",
                    commit=_commit(revision),
                    details={"objects": recovered},
                )
            )

    def _back_off(self) -> float:
        """Counts a failure and schedules the next retry (exponential, capped); the delay."""
        self.state.failures += 1
        delay: float = min(self._settings.backoff_base * 2 ** (self.state.failures - 1), self._settings.backoff_cap)
        self.state.next_retry = self._monotonic() + delay
        return delay

    def _failed(self, trigger: str, started: datetime, message: str) -> CycleOutcome:
        state = self.state
        with self._lock:
            delay = self._back_off()
            state.last_result = "failed"
            first = state.failures == 1
        log.warning("cycle failed (attempt %d, retry in %.0fs): %s", state.failures, delay, message)
        if first:
            # Announced on the first failure of a streak only; the retries are in the log and metrics.
            revision = state.revision
            self._emit(
                Event.make(
                    "sync.failed",
                    f"Sync failed and will be retried with backoff: {message}",
                    commit=_commit(revision) if revision else None,
                    group=f"sync-{revision.sha}" if revision else "sync",
                    errors=(message,),
                )
            )
        if state.revision is not None:
            self._record("sync", state.revision, trigger, started, "failed", errors=[message])
        return CycleOutcome("failed", state.revision.sha if state.revision else "", message)

    # --- helpers --------------------------------------------------------------------------------

    def _last_good(self) -> str:
        revision = self.state.revision
        return f"revision {revision.sha[:8]}" if revision else "the current cluster state"

    def _emit(self, event: Event) -> None:
        self._metrics.count_event(event)
        try:
            self._sink.emit(event)
        except Exception:  # delivery problems never stop reconciliation
            log.exception("event sink failed for %s", event.name)

    def _record(
        self,
        kind: HistoryKind,
        revision: Revision,
        trigger: str,
        started: datetime,
        result: HistoryResult,
        *,
        counts: Mapping[str, int] | None = None,
        changes: Iterable[str] = (),
        errors: Iterable[str] = (),
    ) -> None:
        if self._history is None:
            return
        finished = self._clock()
        record = HistoryRecord(
            id=f"{int(started.timestamp() * 1000)}-{revision.sha[:8]}-{kind}",
            kind=kind,
            started=started.isoformat(),
            finished=finished.isoformat(),
            revision=revision.sha,
            author=revision.author,
            message=revision.message.splitlines()[0] if revision.message else "",
            trigger=trigger,
            result=result,
            counts=dict(counts or {}),
            changes=list(changes)[:100],
            errors=list(errors)[:50],
            duration_seconds=round((finished - started).total_seconds(), 3),
        )
        try:
            self._history.append(record)
        except DockyardError as e:
            log.warning("could not record history: %s", e)


def _commit(revision: Revision) -> CommitInfo:
    return CommitInfo(sha=revision.sha, author=revision.author, message=revision.message)


def _describe(change: Change) -> str:
    return f"{change.reason.removeprefix('was ') or change.action} {change.ref}"
