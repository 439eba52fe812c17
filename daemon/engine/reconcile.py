"""One reconcile cycle: fetch → load → lead → plan → hold → apply → report.

The :class:`Reconciler` holds the daemon's memory between cycles (:class:`DaemonState`: the last
good model, what was applied, what failed) and nothing else; every dependency (source, cluster,
event sink, history, pauses, clock, leadership) is passed in. A cycle works on its own copy of
the state and publishes the new state once, under the lock, when it ends; readers (HTTP, chat)
always see a whole state, never one half-way through a cycle. Rules it keeps:

* an invalid commit is rejected whole: nothing of it is applied and the last good state stays;
  it is announced once, not on every poll;
* changes to a tenant that is paused or outside its sync window are planned and announced
  (``sync.skipped``, once per set of waiting changes), then applied by a later cycle once the
  window opens;
* a failed cycle is retried with exponential backoff (announced on the first failure of a
  streak); a fetch error is reported once, not on every poll, and the last good revision stays;
* only the leader writes to the cluster, and only the leader speaks: it alone emits events and
  writes the audit trail; a standby loads and validates every revision silently (warm for a
  failover), and a rejection the old leader did not announce is announced by the new one, once;
* on a sharded platform (``shards``), a replica applies, records and announces the changes of
  the tenants of the shards it holds and, if it leads, the platform's own objects; it plans the
  whole revision (one fetch, one load) and leaves the rest to the replicas holding it;
* the daemon is ready once it has processed the current revision: converged, waiting for a
  window or a pause, rejected, or standing by (a restart never waits for a window to open).

What the cycle says (event and history wording) lives in :mod:`daemon.views.cycle`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

from daemon.engine.secrets import SecretOpener
from daemon.errors import ConfigError, CycleStopped, DockyardError, SourceError, ValidationFailed
from daemon.loader import LoadCache, load_or_raise
from daemon.model.audit import HistoryKind, HistoryRecord, HistoryResult
from daemon.model.clusters import target, windows_on
from daemon.model.cycle import CycleOutcome, StopReason, Trigger
from daemon.model.events import Event, EventSink
from daemon.model.kinds import PlatformModel, ScaleSchedule
from daemon.model.labels import APP_LABEL
from daemon.model.refs import Revision
from daemon.model.secrets import SealedSecret, SecretData
from daemon.policy.canary import CanaryChange, canary_changes
from daemon.policy.health import WATCHED_KINDS, Health, Unhealthy, assess
from daemon.policy.plan import ApplyResult, Plan, changed_tenants, plan_tenants, tenant_of
from daemon.policy.scaling import ScheduledScaling
from daemon.policy.shards import Ownership
from daemon.policy.verify import VerifyPolicy, signature_refusal
from daemon.policy.windows import WindowDecision, active_scale_schedules, held_tenants
from daemon.render import objref, render
from daemon.render.core import scheduled
from daemon.views import cycle as say

log = logging.getLogger(__name__)

#: A commit message trailer that lets one commit through the mass-deletion guard (reviewed in Git).
ALLOW_MASS_PRUNE_TRAILER = "dockyard-allow-mass-prune: true"


class Source(Protocol):
    def fetch(self) -> Revision: ...

    def describe(self) -> str: ...


class Cluster(Protocol):
    """What the cycle needs of the cluster (:class:`daemon.engine.apply.ResourceManager`)."""

    def plan(
        self,
        desired: Sequence[Mapping[str, Any]],
        *,
        max_fraction: float,
        allow_mass_prune: bool,
        force_conflicts: bool,
        imperative_managers: Sequence[str] | None,
    ) -> Plan: ...

    def apply(
        self,
        plan: Plan,
        *,
        force_conflicts: bool,
        revision: str,
        timeout: float,
        cancel: threading.Event | None = None,
    ) -> ApplyResult: ...


class Metrics(Protocol):
    """The cycle's instruments (:class:`daemon.edges.metrics.DaemonMetrics`)."""

    def observe_cycle(self, trigger: str, result: str, seconds: float) -> None: ...

    def observe_plan(self, managed: int, drifted: int | None) -> None: ...

    def observe_apply_errors(self, reasons: Sequence[str]) -> None: ...

    def observe_fetch_error(self) -> None: ...

    def observe_synced(self, revision: Revision, when: datetime) -> None: ...

    def observe_ready(self) -> None: ...


class HistorySink(Protocol):
    def append(self, record: HistoryRecord) -> None: ...

    def contains(self, kind: HistoryKind, revision: str) -> bool: ...


class SecretSource(Protocol):
    """Opens the repo's encrypted Secrets (:class:`daemon.engine.secrets.SecretOpener`)."""

    def open(self, sealed: Iterable[SealedSecret]) -> Mapping[tuple[str, str], SecretData]: ...


class MoveGate(Protocol):
    """The tenants that left this cluster whose prune waits until they run where they went
    (:class:`daemon.engine.fleet.Fleet`), with the reason."""

    def __call__(self, model: PlatformModel, revision: str, tenants: frozenset[str]) -> Mapping[str, str]: ...


class PauseSource(Protocol):
    def paused(self) -> frozenset[str]: ...


class ShardLeases(Protocol):
    """The shards this replica holds (``state.shards.ShardKeeper``), held still for a cycle."""

    count: int

    def cycle(self) -> AbstractContextManager[frozenset[int]]: ...


class NoPauses:
    def paused(self) -> frozenset[str]:
        return frozenset()


@dataclass(frozen=True)
class DaemonState:
    """What the daemon knows; read by the HTTP server and chat commands through ``snapshot``."""

    revision: Revision | None = None  # the revision last loaded successfully
    model: PlatformModel | None = None
    desired: tuple[Mapping[str, Any], ...] = ()
    applied_sha: str = ""  # the revision whose changes are all in the cluster
    invalid_sha: str = ""
    invalid_errors: tuple[str, ...] = ()
    #: the rejection of ``invalid_sha`` was announced (by this daemon or, per the history, another)
    invalid_announced: bool = False
    ready: bool = False
    last_result: str = "pending"
    last_sync_time: datetime | None = None
    last_plan_counts: Mapping[str, int] = field(default_factory=dict)
    pending_changes: tuple[str, ...] = ()  # descriptions of changes not applied yet
    deferred: Mapping[str, str] = field(default_factory=dict)  # tenant -> why its changes wait
    degraded: Mapping[str, str] = field(default_factory=dict)  # object -> health message
    #: the degraded objects with their tenant and app, as last told
    unhealthy: tuple[Unhealthy, ...] = ()
    health: tuple[Health, ...] = ()
    fetch_error: str = ""
    failures: int = 0
    #: why the last failed cycle failed
    last_error: str = ""
    next_retry: float = 0.0
    skipped_fingerprint: str = ""
    #: scheduled scaling in force, by (tenant, Autoscaling name)
    schedules: Mapping[tuple[str, str], ScaleSchedule] = field(default_factory=dict)
    #: scheduled scaling changes rendered but not applied yet
    scaling_changes: tuple[ScheduledScaling, ...] = ()
    #: canaries promoted or aborted by a revision, announced once it is applied
    canary_changes: tuple[CanaryChange, ...] = ()
    #: the last cycle found another replica leading (see Reconciler._take_over)
    standing_by: bool = False
    #: what the last planned cycle applied (sharding): a shard gained or lost is not "up to date"
    ownership: Ownership | None = None


class _NotNamed(Exception):
    """A cluster joined from the platform file that a valid revision no longer names."""


@dataclass(frozen=True)
class ReconcileSettings:
    health_timeout: float = 120.0
    backoff_base: float = 5.0
    backoff_cap: float = 300.0
    force_conflicts: bool = False
    #: the daemon's own rule (``--require-signed-commits``): Git cannot turn it off
    require_signed_commits: bool = False
    #: namespaces no tenant may take besides the built-in ones: the daemon's own
    reserved_namespaces: tuple[str, ...] = ()
    #: the cluster of ``spec.clusters`` this daemon drives (None: the platform's default)
    cluster: str | None = None
    #: driven because the platform file names it (with a connection): a revision that no longer
    #: names it is not this cluster's failure but its leaving, which the fleet carries out
    named_by_platform: bool = False


@dataclass
class _Cycle:
    """One cycle in progress: its facts and the state it is building."""

    trigger: Trigger
    ignore_windows: bool
    started: datetime
    state: DaemonState
    #: what this replica applies in this cycle (all of it, unless the platform is sharded)
    ownership: Ownership = field(default_factory=Ownership.everything)


class Reconciler:
    def __init__(
        self,
        source: Source,
        cluster: Cluster,
        events: EventSink,
        *,
        metrics: Metrics,
        history: HistorySink | None = None,
        pauses: PauseSource | None = None,
        settings: ReconcileSettings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        is_leader: Callable[[], bool] = lambda: True,
        on_model: Callable[[PlatformModel], None] = lambda _: None,
        on_scheduled_scaling: Callable[[ScheduledScaling], None] = lambda _: None,
        secrets: SecretSource | None = None,
        moves: MoveGate | None = None,
        shards: ShardLeases | None = None,
    ) -> None:
        self._source = source
        self._shards = shards
        self._moves = moves
        self._secrets = secrets or SecretOpener()
        self._cluster = cluster
        self._events = events
        self._metrics = metrics
        self._history = history
        self._pauses = pauses or NoPauses()
        self._settings = settings or ReconcileSettings()
        self._clock = clock
        self._monotonic = monotonic
        self._is_leader = is_leader
        self._on_model = on_model
        self._on_scheduled_scaling = on_scheduled_scaling
        self._lock = threading.Lock()
        self._state = DaemonState()
        self.stopping = threading.Event()
        # Unchanged files of the next commit are neither parsed nor schema-checked again.
        self._load_cache = LoadCache()

    # --- public -------------------------------------------------------------------------------

    @property
    def state(self) -> DaemonState:
        return self.snapshot()

    def snapshot(self) -> DaemonState:
        """The state the last cycle published (immutable: safe to read from any thread)."""
        with self._lock:
            return self._state

    def retry_due(self) -> bool:
        """False while a failed cycle waits out its backoff."""
        state = self.snapshot()
        return state.failures == 0 or self._monotonic() >= state.next_retry

    def cycle(self, trigger: Trigger = "poll", *, ignore_windows: bool = False) -> CycleOutcome:
        started = self._monotonic()
        c = _Cycle(trigger, ignore_windows, self._clock(), self.snapshot())
        with self._held_shards() as shards:
            leader = self._is_leader()
            if shards is None:
                c.ownership = Ownership.everything() if leader else Ownership(1, frozenset(), False)
            else:
                c.ownership = Ownership(shards[0], shards[1], leader)
            try:
                outcome = self._run(c)
            except CycleStopped as e:
                outcome = self._failed(c, cast(StopReason, e.step), str(e))
            except DockyardError as e:
                outcome = self._failed(c, "internal", f"{type(e).__name__}: {e}")
            except Exception as e:  # a bug must not kill the daemon; it is reported and retried
                log.exception("reconcile cycle crashed")
                outcome = self._failed(c, "internal", f"internal error: {type(e).__name__}: {e}")
        with self._lock:
            self._state = c.state
        self._metrics.observe_cycle(trigger, outcome.result, self._monotonic() - started)
        return outcome

    @contextmanager
    def _held_shards(self) -> Iterator[tuple[int, frozenset[int]] | None]:
        """(shard count, shards held) kept for the whole cycle; None when not sharded."""
        if self._shards is None:
            yield None
            return
        with self._shards.cycle() as held:
            yield self._shards.count, held

    # --- the cycle ----------------------------------------------------------------------------

    def _run(self, c: _Cycle) -> CycleOutcome:
        revision = self._fetch(c)
        if revision is None:
            return CycleOutcome("failed", "", "cannot fetch the platform repo", "fetch")
        is_new = c.state.revision is None or revision.sha != c.state.revision.sha
        if revision.sha == c.state.invalid_sha:
            self._announce_rejection(c, revision)
            return CycleOutcome("noop", revision.sha, "revision already rejected", "rejected")
        try:
            loaded = not is_new or self._load(c, revision)
        except _NotNamed:
            return CycleOutcome("skipped", revision.sha, "no longer in spec.clusters", "not-named")
        if not loaded:
            self._mark_ready(c)
            return CycleOutcome("invalid", revision.sha, "validation failed", "validation")
        if not c.ownership.anything:
            c.state = replace(c.state, standing_by=True)
            self._mark_ready(c)
            # What degrades and recovers while another replica leads is that replica's news.
            c.state = replace(c.state, unhealthy=())
            return CycleOutcome("standby", revision.sha, "not the leader", "standby")
        if c.state.standing_by:
            self._take_over(c, revision)
        rescheduled = not is_new and self._refresh_schedules(c, revision)
        same_hands = c.state.ownership == c.ownership
        if not is_new and not rescheduled and same_hands and self._up_to_date(c, revision):
            return CycleOutcome("noop", revision.sha, "up to date", "up-to-date")
        plan = self._plan(c, revision)
        if not c.ownership.whole:
            # Another replica plans, applies and announces the other shards' tenants.
            plan = plan.only(c.ownership.owns)
        c.state = replace(c.state, ownership=c.ownership)
        plan, held = self._hold(c, revision, plan)
        if not plan.changeset.of("create", "update", "prune") and not plan.prune.blocked:
            return self._settle(c, revision, plan, held)
        result = self._apply(c, revision, plan)
        return self._report(c, revision, result, held)

    def _fetch(self, c: _Cycle) -> Revision | None:
        """The newest revision; None (reported once per distinct error) when it cannot be had."""
        try:
            revision = self._source.fetch()
        except SourceError as e:
            self._metrics.observe_fetch_error()
            message = str(e)
            if message != c.state.fetch_error:
                log.warning("cannot fetch %s: %s", self._source.describe(), message)
                if self._is_leader():
                    self._emit(say.fetch_failed(message, self._source.describe()))
            c.state = replace(c.state, fetch_error=message)
            return None
        if c.state.fetch_error:
            log.info("fetching %s works again", self._source.describe())
            c.state = replace(c.state, fetch_error="")
        return revision

    def _load(self, c: _Cycle, revision: Revision) -> bool:
        """Validates, verifies and renders a new revision; an invalid or unverified one is
        rejected whole."""
        try:
            model = load_or_raise(
                Path(revision.path), self._load_cache, reserved_namespaces=self._settings.reserved_namespaces
            )
            cluster = self._settings.cluster
            if self._settings.named_by_platform and cluster is not None and model.platform.cluster(cluster) is None:
                raise _NotNamed  # the fleet stops driving it; nothing is this cluster's failure
            schedules = active_scale_schedules(model.autoscalings, self._clock())
            # Rendering checks what no single document can: objects rendered twice, or outside
            # their tenant's namespace, and opens the encrypted Secrets. A revision that fails
            # there (or whose Secrets the daemon cannot open) is rejected like an invalid one.
            desired = self._render(model, revision, schedules)
        except ValidationFailed as e:
            self._reject(c, revision, [p.format() for p in e.problems if p.severity == "error"])
            return False
        refusal = signature_refusal(revision, self._verify_policy(c, model))
        if refusal:
            self._reject(c, revision, [refusal])
            return False
        c.state = replace(
            c.state,
            revision=revision,
            model=model,
            desired=desired,
            invalid_sha="",
            schedules=schedules,
            canary_changes=c.state.canary_changes + canary_changes(c.state.model, model),
        )
        self._on_model(model)
        return True

    def _verify_policy(self, c: _Cycle, model: PlatformModel) -> VerifyPolicy:
        """The signature rules for a new revision: the daemon's, tightened by the revision's own
        platform.yaml; relaxing them takes a commit that passes the rules in force before it."""
        before = c.state.model.platform.verify if c.state.model is not None else None
        return VerifyPolicy.combine(self._settings.require_signed_commits, before, model.platform.verify)

    def _reject(self, c: _Cycle, revision: Revision, errors: list[str]) -> None:
        c.state = replace(c.state, invalid_sha=revision.sha, invalid_errors=tuple(errors), invalid_announced=False)
        self._announce_rejection(c, revision)

    def _announce_rejection(self, c: _Cycle, revision: Revision) -> None:
        """Only the leader announces a rejected revision, once: not again on the next poll, and
        not again after a failover when the old leader's audit trail already has it."""
        if c.state.invalid_announced or not self._is_leader():
            return
        if self._history is None or not self._history.contains("validation", revision.sha):
            errors = list(c.state.invalid_errors)
            self._emit(say.invalid_commit(revision, errors, c.state.revision))
            self._record(c, "validation", revision, "invalid", errors=errors, tenants=say.tenants_of_problems(errors))
        c.state = replace(c.state, invalid_announced=True)

    def _refresh_schedules(self, c: _Cycle, revision: Revision) -> bool:
        """Re-renders when a scheduled scaling window opened or closed; True when it did."""
        model = c.state.model
        if model is None or not any(a.schedules for a in model.autoscalings):
            return False
        schedules = active_scale_schedules(model.autoscalings, self._clock())
        if schedules == c.state.schedules:
            return False
        changes = []
        for scaling in model.autoscalings:
            key = (scaling.tenant, scaling.name)
            old, new = c.state.schedules.get(key), schedules.get(key)
            before, after = scheduled(scaling, old), scheduled(scaling, new)
            if (before.min_replicas, before.max_replicas) != (after.min_replicas, after.max_replicas):
                changes.append(
                    ScheduledScaling(
                        scaling.tenant,
                        scaling.target,
                        f"{before.min_replicas}-{before.max_replicas}",
                        f"{after.min_replicas}-{after.max_replicas}",
                        say.schedule_change(old, new),
                    )
                )
        try:
            desired = self._render(model, revision, schedules)
        except ValidationFailed as e:
            # The revision opened before: only a key that changed under the daemon gets here.
            raise CycleStopped("render", f"cannot render {revision.sha[:8]}: {e}") from e
        c.state = replace(
            c.state,
            schedules=schedules,
            desired=desired,
            scaling_changes=c.state.scaling_changes + tuple(changes),
        )
        return True

    def _render(
        self, model: PlatformModel, revision: Revision, schedules: Mapping[tuple[str, str], ScaleSchedule]
    ) -> tuple[Mapping[str, Any], ...]:
        """The revision's objects, its encrypted Secrets opened with the daemon's key."""
        cluster = target(model.platform.clusters, self._settings.cluster)
        try:
            return tuple(render(model, revision.sha, schedules, self._secrets.open(model.secrets), cluster=cluster))
        except ConfigError as e:  # the revision does not name the cluster this daemon drives
            raise CycleStopped("render", f"cannot render {revision.sha[:8]}: {e}") from e

    def _up_to_date(self, c: _Cycle, revision: Revision) -> bool:
        """A periodic cycle with nothing new and nothing waiting has nothing to do; explicit
        triggers (drift, webhooks, people) always look at the cluster."""
        s = c.state
        return c.trigger in ("poll", "watch") and s.applied_sha == revision.sha and not s.deferred and s.failures == 0

    def _plan(self, c: _Cycle, revision: Revision) -> Plan:
        assert c.state.model is not None
        try:
            plan = self._cluster.plan(
                c.state.desired,
                max_fraction=c.state.model.platform.prune.max_fraction,
                allow_mass_prune=ALLOW_MASS_PRUNE_TRAILER in revision.message.lower(),
                force_conflicts=self._settings.force_conflicts,
                imperative_managers=c.state.model.platform.sync.imperative_managers,
            )
        except DockyardError as e:
            raise CycleStopped("plan", f"cannot plan {revision.sha[:8]}: {type(e).__name__}: {e}") from e
        drifted = len(plan.changeset.of("update")) if c.state.applied_sha == revision.sha else None
        self._metrics.observe_plan(len(plan.inventory), drifted)
        return plan

    def _hold(self, c: _Cycle, revision: Revision, plan: Plan) -> tuple[Plan, dict[str, WindowDecision]]:
        """Holds back the changes of paused tenants and of tenants outside their sync window."""
        held = self._held_tenants(c, plan)
        effective = plan.defer(held)
        deferred = effective.changeset.of("deferred")
        # Only tenants that actually have waiting changes count as held back.
        waiting = {tenant_of(ch.desired or plan.live.get(ch.ref) or {}, ch.ref) for ch in deferred}
        held = {t: d for t, d in held.items() if t in waiting}
        c.state = replace(
            c.state,
            last_plan_counts=effective.changeset.counts,
            deferred={t: d.reason for t, d in held.items()},
            pending_changes=tuple(say.describe_change(ch) for ch in deferred),
        )
        self._announce_waiting(c, revision, deferred, held)
        return effective, held

    def _held_tenants(self, c: _Cycle, plan: Plan) -> dict[str, WindowDecision]:
        assert c.state.model is not None
        assert c.state.revision is not None
        tenants = plan_tenants(plan)
        platform = c.state.model.platform
        held = held_tenants(
            tenants,
            paused=self._pauses.paused(),
            windows=windows_on(platform.sync.windows, platform.clusters, self._settings.cluster),
            now=self._clock(),
            ignore_windows=c.ignore_windows,
        )
        if self._moves is not None:  # never ignored: a manual override must not prune before the create
            for tenant, reason in self._moves(c.state.model, c.state.revision.sha, frozenset(tenants)).items():
                held.setdefault(tenant, WindowDecision(False, reason))
        return held

    def _announce_waiting(
        self, c: _Cycle, revision: Revision, deferred: Sequence[Any], held: Mapping[str, WindowDecision]
    ) -> None:
        if not deferred:
            c.state = replace(c.state, skipped_fingerprint="")
            return
        fingerprint = hashlib.sha256(
            (revision.sha + "|".join(sorted(ch.ref.id for ch in deferred))).encode()
        ).hexdigest()
        if fingerprint == c.state.skipped_fingerprint:
            return  # already announced; say it again only when what waits changes
        c.state = replace(c.state, skipped_fingerprint=fingerprint)
        reasons = {t: d.reason for t, d in held.items()}
        next_opens = {t: d.next_open for t, d in held.items()}
        for event in say.changes_wait(
            revision, deferred, lambda ch: tenant_of(ch.desired or {}, ch.ref), reasons, next_opens
        ):
            self._emit(event)

    def _settle(self, c: _Cycle, revision: Revision, plan: Plan, held: Mapping[str, WindowDecision]) -> CycleOutcome:
        """Nothing to send: the cluster matches the revision, except what waits for a window."""
        self._mark_ready(c)
        self._update_health(c, revision, _live_health(plan, self._clock()), plan)
        self._announce_canaries(c, revision, held)
        first_sync = not held and c.state.applied_sha != revision.sha
        c.state = replace(
            c.state,
            applied_sha=c.state.applied_sha if held else revision.sha,
            failures=0,
            last_result="skipped" if held else "succeeded",
        )
        if first_sync or (not held and c.state.last_sync_time is None):
            self._mark_synced(c, revision)
        return CycleOutcome("skipped" if held else "noop", revision.sha, "nothing to apply")

    def _apply(self, c: _Cycle, revision: Revision, plan: Plan) -> ApplyResult:
        try:
            result = self._cluster.apply(
                plan,
                force_conflicts=self._settings.force_conflicts,
                revision=revision.sha,
                timeout=self._settings.health_timeout,
                cancel=self.stopping,
            )
        except DockyardError as e:
            raise CycleStopped("apply", f"cannot apply {revision.sha[:8]}: {type(e).__name__}: {e}") from e
        self._metrics.observe_apply_errors(
            [
                "conflict" if r.conflict_managers else ("cancelled" if "cancelled" in r.error else "api")
                for r in result.failed
            ]
        )
        return result

    def _report(
        self, c: _Cycle, revision: Revision, result: ApplyResult, held: Mapping[str, WindowDecision]
    ) -> CycleOutcome:
        """Health, events and the audit record of an apply, and the state it leaves."""
        self._mark_ready(c)
        self._update_health(c, revision, result.health, result.plan)
        if result.plan.prune.blocked:
            self._emit(say.prune_held(revision, result.plan.prune.reason, [str(r) for r in result.plan.prune.delete]))
        applied_ok = not result.failed
        scheduled_only = bool(c.state.scaling_changes) and c.state.applied_sha == revision.sha
        if applied_ok:
            self._announce_scaling(c)
            self._announce_canaries(c, revision, held)
        drift = not scheduled_only and (
            c.trigger == "drift" or (c.state.applied_sha == revision.sha and c.trigger != "manual")
        )
        if applied_ok:
            c.state = replace(c.state, failures=0, applied_sha=c.state.applied_sha if held else revision.sha)
        else:
            self._back_off(c)
        c.state = replace(c.state, last_result="succeeded" if result.ok else "failed")
        outcome: HistoryResult
        if drift and applied_ok:
            told, outcome = say.drift_corrected(revision, result), "succeeded"
        else:
            told, outcome = say.sync_results(revision, result), "succeeded" if result.ok else "failed"
        # Like a failed cycle, a failing apply is announced on the first failure of a streak (a
        # cluster whose API server is down fails every retry the same way); retries are in the log.
        repeated = not applied_ok and c.state.failures > 1
        for event in told:
            if not (repeated and event.name == "sync.failed"):
                self._emit(event)
        if result.ok or (applied_ok and not result.plan.prune.blocked):
            self._mark_synced(c, revision)
        changes, errors = say.applied_changes(result), say.apply_errors(result)
        self._record(
            c,
            "drift" if drift else "sync",
            revision,
            outcome,
            counts=say.apply_counts(result),
            changes=changes,
            errors=errors + say.unhealthy(result),
            tenants=changed_tenants(result.plan),
        )
        return CycleOutcome(outcome, revision.sha, f"{len(changes)} change(s), {len(errors)} error(s)")

    def _failed(self, c: _Cycle, step: StopReason, message: str) -> CycleOutcome:
        delay = self._back_off(c)
        c.state = replace(c.state, last_result="failed", last_error=message)
        log.warning("cycle failed at %s (attempt %d, retry in %.0fs): %s", step, c.state.failures, delay, message)
        revision = c.state.revision
        if c.state.failures == 1 and self._is_leader():
            # Announced on the first failure of a streak only; the retries are in the log and metrics.
            self._emit(say.cycle_failed(revision, message))
        if revision is not None and self._is_leader():
            self._record(c, "sync", revision, "failed", errors=[message])
        return CycleOutcome("failed", revision.sha if revision else "", message, step)

    # --- steps' helpers -----------------------------------------------------------------------

    def _announce_scaling(self, c: _Cycle) -> None:
        """Hands every scheduled change the apply carried to whoever announces what the HPA does
        with it (``engine.scaling``); when the apply failed they stay pending until a retry lands
        them."""
        for change in c.state.scaling_changes:
            try:
                self._on_scheduled_scaling(change)
            except Exception:  # announcing never stops reconciliation
                log.exception("could not hand over the scheduled scaling of %s/%s", change.tenant, change.app)
        c.state = replace(c.state, scaling_changes=())

    def _take_over(self, c: _Cycle, revision: Revision) -> None:
        """The first cycle as leader after standing by: the canary ends this replica saw while
        standing by were announced by the old leader if it applied the revision (the audit
        trail says so); otherwise they are this leader's to announce once it applies them."""
        applied_before = self._history is not None and self._history.contains("sync", revision.sha)
        canaries = () if applied_before else c.state.canary_changes
        c.state = replace(c.state, standing_by=False, canary_changes=canaries)

    def _announce_canaries(self, c: _Cycle, revision: Revision, held: Mapping[str, WindowDecision]) -> None:
        """``canary.promoted``/``canary.aborted`` once the change is in the cluster: a tenant whose
        changes wait (a window, a pause) hears about it when they are applied."""
        waiting = []
        for change in c.state.canary_changes:
            if change.tenant in held:
                waiting.append(change)
            else:
                self._emit(say.canary_ended(revision, change))
        c.state = replace(c.state, canary_changes=tuple(waiting))

    def _mark_ready(self, c: _Cycle) -> None:
        if not c.state.ready:
            c.state = replace(c.state, ready=True)
            self._metrics.observe_ready()

    def _mark_synced(self, c: _Cycle, revision: Revision) -> None:
        now = self._clock()
        c.state = replace(c.state, ready=True, last_sync_time=now)
        self._metrics.observe_synced(revision, now)

    def _update_health(self, c: _Cycle, revision: Revision, health: Sequence[Health], plan: Plan) -> None:
        """Tells, per app of each tenant, when it becomes degraded (and again when more of its
        objects do) and when all of its objects are healthy again."""
        apps = {objref(o): str((o.get("metadata", {}).get("labels") or {}).get(APP_LABEL, "")) for o in plan.desired}
        now_bad = {
            str(h.ref): Unhealthy(str(h.ref), h.message, plan.owner(h.ref), apps.get(h.ref, ""))
            for h in health
            if h.state == "degraded"
        }
        before = {o.ref: o for o in c.state.unhealthy}
        c.state = replace(
            c.state,
            degraded={ref: o.message for ref, o in now_bad.items()},
            unhealthy=tuple(now_bad.values()),
            health=tuple(health),
        )
        for unit in sorted({o.unit for o in now_bad.values()}):
            newly = [o for ref, o in now_bad.items() if o.unit == unit and ref not in before]
            if newly:
                self._emit(say.degraded(revision, unit, newly))
        still_bad = {o.unit for o in now_bad.values()}
        for unit in sorted({o.unit for o in before.values()} - still_bad):
            self._emit(say.recovered(revision, unit, [o for o in before.values() if o.unit == unit]))

    def _back_off(self, c: _Cycle) -> float:
        """Counts a failure and schedules the next retry (exponential, capped); the delay."""
        failures = c.state.failures + 1
        delay: float = min(self._settings.backoff_base * 2 ** (failures - 1), self._settings.backoff_cap)
        c.state = replace(c.state, failures=failures, next_retry=self._monotonic() + delay)
        return delay

    def _emit(self, event: Event) -> None:
        try:
            self._events.emit(event)
        except Exception:  # delivery problems never stop reconciliation
            log.exception("event sink failed for %s", event.name)

    def _record(
        self,
        c: _Cycle,
        kind: HistoryKind,
        revision: Revision,
        result: HistoryResult,
        *,
        counts: Mapping[str, int] | None = None,
        changes: Sequence[str] = (),
        errors: Sequence[str] = (),
        tenants: Sequence[str] = (),
    ) -> None:
        if self._history is None:
            return
        record = say.record(
            kind,
            revision,
            c.trigger,
            c.started,
            self._clock(),
            result,
            counts=counts,
            changes=changes,
            errors=errors,
            tenants=tenants,
        )
        try:
            self._history.append(record)
        except DockyardError as e:
            log.warning("could not record history: %s", e)


def _live_health(plan: Plan, now: datetime) -> list[Health]:
    return [
        assess(objref(o), plan.live[objref(o)], now)
        for o in plan.desired
        if objref(o).kind in WATCHED_KINDS and objref(o) in plan.live
    ]
