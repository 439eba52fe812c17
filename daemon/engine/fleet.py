"""One daemon, many clusters: a reconciler per cluster, all of them cycled at once.

Each cluster has its own reconciler, and so its own live cache, inventory, health, prune guard,
back-off and state: a cluster that fails (its API server down) fails its own cycle and backs off,
and the others go on. A tenant moving between clusters is created where it goes before it is
pruned where it was (``policy.placement``): the gate each reconciler is given asks the others.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Protocol

from daemon.engine.reconcile import DaemonState, HistorySink, Reconciler, Source
from daemon.errors import DockyardError
from daemon.model.audit import HistoryKind, HistoryRecord
from daemon.model.clusters import Cluster, target
from daemon.model.cycle import CycleOutcome, Trigger
from daemon.model.events import Event, EventSink
from daemon.model.kinds import PlatformModel
from daemon.model.refs import Revision
from daemon.policy.placement import waiting_moves

log = logging.getLogger(__name__)


class ClusterEvents:
    """Events of one cluster's reconciler, named after the cluster (summary and details) when
    ``cluster()`` names it: it does not while a daemon drives one cluster only."""

    def __init__(self, sink: EventSink, cluster: Callable[[], str | None]) -> None:
        self._sink = sink
        self._cluster = cluster

    def emit(self, event: Event) -> None:
        name = self._cluster()
        if name is None:
            self._sink.emit(event)
            return
        self._sink.emit(
            replace(
                event,
                summary=f"[{name}] {event.summary}",
                details={**event.details, "cluster": name},
                group=f"{event.group}@{name}" if event.group else "",
                # Ids made from what happened (a problem's key and time) would be the same for
                # the same news of two clusters, and the outbox keeps one event per id.
                id=hashlib.sha256(f"{event.id}@{name}".encode()).hexdigest()[:32],
            )
        )


class ClusterHistory:
    """Audit records of one cluster's reconciler, naming the cluster (when ``cluster()`` does)."""

    def __init__(self, history: HistorySink, cluster: Callable[[], str | None]) -> None:
        self._history = history
        self._cluster = cluster

    def append(self, record: HistoryRecord) -> None:
        name = self._cluster()
        self._history.append(record if name is None else replace(record, cluster=name))

    def contains(self, kind: HistoryKind, revision: str) -> bool:
        return self._history.contains(kind, revision)


@dataclass(frozen=True)
class Target:
    """One cluster the daemon drives: its name in spec.clusters and its reconciler."""

    name: str
    reconciler: Reconciler
    #: closes what was opened for it (its client and watches) when it is no longer driven
    close: Callable[[], None] = lambda: None
    #: given on the command line (--target): driven whatever the platform file says
    pinned: bool = False
    #: the cluster as the platform file described it when the fleet joined it
    joined_as: Cluster | None = None


class CycleSource:
    """The platform repo as every cluster of one fleet cycle sees it: fetched once per cycle, so
    all clusters apply the same revision, and clusters cycled in parallel never fetch into one
    work directory at once. Outside a fleet cycle it fetches on every call."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._in_round = False
        self._fetched: Revision | DockyardError | None = None

    def describe(self) -> str:
        return self._source.describe()

    @contextmanager
    def round(self) -> Iterator[None]:
        with self._lock:
            self._in_round, self._fetched = True, None
        try:
            yield
        finally:
            with self._lock:
                self._in_round, self._fetched = False, None

    def fetch(self) -> Revision:
        with self._lock:
            if not self._in_round:
                return self._source.fetch()
            if self._fetched is None:
                try:
                    self._fetched = self._source.fetch()
                except DockyardError as e:
                    self._fetched = e
            fetched = self._fetched
        if isinstance(fetched, DockyardError):
            raise fetched
        return fetched


class Joiner(Protocol):
    """How a fleet follows the platform file: which clusters it should drive from afar (pure),
    and a reconciler for one of them (I/O: it connects; raises DockyardError when it cannot)."""

    def wanted(self, model: PlatformModel) -> Sequence[Cluster]: ...

    def join(self, cluster: Cluster) -> Target: ...

    def unreachable(self, cluster: str, message: str) -> None: ...


class MoveGates:
    """The move gate of each cluster's reconciler: built before the reconcilers, which it then
    asks. A daemon that drives one cluster has no moves to wait for: its gates let everything by."""

    def __init__(self) -> None:
        self._targets: Sequence[Target] = ()

    def attach(self, targets: Sequence[Target]) -> None:
        self._targets = targets

    def gate(self, cluster: str | None) -> _Gate:
        return _Gate(self, cluster)

    def driving_several(self) -> bool:
        return len(self._targets) > 1

    def applied(self, model: PlatformModel) -> dict[str, str]:
        return {
            str(target(model.platform.clusters, t.name or None)): t.reconciler.snapshot().applied_sha
            for t in self._targets
        }


class _Gate:
    def __init__(self, gates: MoveGates, cluster: str | None) -> None:
        self._gates = gates
        self._cluster = cluster

    def __call__(self, model: PlatformModel, revision: str, tenants: frozenset[str]) -> Mapping[str, str]:
        here = target(model.platform.clusters, self._cluster)
        if here is None or not self._gates.driving_several():
            return {}
        return waiting_moves(model, here, revision, self._gates.applied(model), tenants)


#: How long a fleet cycle waits for the other clusters once the first one's cycle has ended.
STRAGGLER_SECONDS = 15.0


class Fleet:
    """The reconcilers of every cluster, cycled as one by the daemon's cycle runner.

    The first target is the home cluster (where the lease, pauses and audit trail live); its
    state is the daemon's state for readiness, chat and the console. A cycle runs every cluster
    at once, each in a thread of its own; a cluster whose API server hangs holds a fleet cycle
    at most ``straggler_seconds`` after the others ended, then goes on alone and is skipped
    until its cycle ends, so it delays nobody for longer. A cluster whose changes wait for a
    move is cycled once more after the others, so a move completes in one cycle when it can.
    With a ``joiner``, the fleet follows the platform file: after each cycle it starts driving
    the clusters the home's model names with a connection, and stops driving the ones it no
    longer names (what was applied there stays).
    """

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        source: CycleSource | None = None,
        joiner: Joiner | None = None,
        gates: MoveGates | None = None,
    ) -> None:
        if not targets:
            raise ValueError("a fleet needs at least one cluster")
        self.targets = tuple(targets)
        self.stopping = threading.Event()
        self._source = source
        self._joiner = joiner
        self._gates = gates
        self._unreachable: dict[str, str] = {}
        #: how long a fleet cycle waits for the other clusters once the first one is done
        self.straggler_seconds = STRAGGLER_SECONDS
        # Threads are made as cycles need them; a cluster has at most one cycle running.
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="cycle")
        self._busy: dict[str, Future[CycleOutcome]] = {}
        self._busy_lock = threading.Lock()
        for t in self.targets:  # the runner's stop reaches the cycle of whichever cluster runs
            t.reconciler.stopping = self.stopping
        if gates is not None:
            gates.attach(self.targets)

    @property
    def home(self) -> Reconciler:
        return self.targets[0].reconciler

    def snapshot(self) -> DaemonState:
        return self.home.snapshot()

    def states(self) -> dict[str, DaemonState]:
        """Each cluster's state by name; empty while the daemon drives its own cluster only."""
        targets = self.targets
        if len(targets) == 1:
            return {}
        model = self.home.snapshot().model
        default = target(model.platform.clusters, None) if model is not None else None
        return {t.name or default or "home": t.reconciler.snapshot() for t in targets}

    def retry_due(self) -> bool:
        return any(t.reconciler.retry_due() for t in self.targets)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for t in self.targets[1:]:
            t.close()

    def cycle(self, trigger: Trigger = "poll", *, ignore_windows: bool = False) -> CycleOutcome:
        with self._source.round() if self._source is not None else nullcontext():
            due = [t for t in self.targets if trigger not in ("poll", "drift") or t.reconciler.retry_due()]
            # (a cluster that backs off after a failure waits; the others go on)
            outcomes = self._cycle_all(due, trigger, ignore_windows)
            joined = self._follow_platform()
            outcomes.update(self._cycle_all(joined, trigger, ignore_windows))
            waiting = [t for t in self.targets if t.name in outcomes and _waits_for_a_move(t.reconciler.snapshot())]
            outcomes.update(self._cycle_all(waiting, trigger, ignore_windows))  # what waited for a move just made
        for name, outcome in outcomes.items():
            log.info("cluster %s: %s %s %s", name, outcome.result, outcome.revision[:8], outcome.summary)
        home = outcomes.get(self.targets[0].name)
        return home if home is not None else next(iter(outcomes.values()), CycleOutcome("skipped"))

    def _cycle_all(self, targets: Sequence[Target], trigger: Trigger, ignore_windows: bool) -> dict[str, CycleOutcome]:
        """Cycles ``targets`` at once. A cluster still in a cycle that outlived an earlier fleet
        cycle (its API server hangs) is left to it; one whose cycle runs longer than
        ``straggler_seconds`` after the first one ended goes on in the background, so it holds
        neither this fleet cycle nor the next ones."""
        if self.stopping.is_set() or not targets:
            return {}
        if len(self.targets) == 1:  # one cluster: no thread, as a daemon of one cluster always was
            [only] = targets
            return {only.name: only.reconciler.cycle(trigger, ignore_windows=ignore_windows)}
        with self._busy_lock:
            ready = [t for t in targets if t.name not in self._busy]
            futures = {
                t.name: self._pool.submit(t.reconciler.cycle, trigger, ignore_windows=ignore_windows) for t in ready
            }
            self._busy.update(futures)
        if not futures:
            return {}
        _, pending = wait(futures.values(), return_when=FIRST_COMPLETED)
        if pending:
            wait(pending, timeout=self.straggler_seconds)
        outcomes: dict[str, CycleOutcome] = {}
        raised: BaseException | None = None
        for name, future in futures.items():
            if not future.done():
                log.warning(
                    "cluster %s: its cycle still runs %gs after the first cluster's ended; the others go on",
                    name,
                    self.straggler_seconds,
                )
                future.add_done_callback(functools.partial(self._finished_late, name))
                continue
            with self._busy_lock:
                self._busy.pop(name, None)
            try:
                outcomes[name] = future.result()
            except Exception as e:  # every other cluster's outcome still counts; the runner reports it
                log.exception("the cycle of cluster %s raised", name)
                raised = raised or e
        if raised is not None:
            raise raised
        return outcomes

    def _finished_late(self, name: str, future: Future[CycleOutcome]) -> None:
        with self._busy_lock:
            self._busy.pop(name, None)
        if future.exception() is not None:
            log.error("the late cycle of cluster %s raised: %r", name, future.exception())
            return
        outcome = future.result()
        log.info("cluster %s (late): %s %s %s", name, outcome.result, outcome.revision[:8], outcome.summary)

    def _follow_platform(self) -> list[Target]:
        """Drives the clusters the platform now names with a connection; returns the new ones."""
        model = self.home.snapshot().model
        if self._joiner is None or model is None or self.stopping.is_set():
            return []
        wanted = {c.name: c for c in self._joiner.wanted(model)}
        home, *others = self.targets
        kept: list[Target] = []
        for t in others:
            now = wanted.get(t.name)
            if t.pinned or (now is not None and _same_connection(t.joined_as, now)):
                kept.append(t)
                continue
            if now is None:
                log.warning(
                    "cluster %s is no longer in spec.clusters with a connection: no longer driven "
                    "(what was applied there stays)",
                    t.name,
                )
            else:
                log.info("cluster %s is reached another way now: connecting again", t.name)
            t.close()
        driven = {home.name, *(t.name for t in kept)}
        joined: list[Target] = []
        for name, cluster in wanted.items():
            if name in driven:
                continue
            try:
                member = self._joiner.join(cluster)
            except DockyardError as e:
                if self._unreachable.get(name) != str(e):  # said once per distinct reason
                    self._unreachable[name] = str(e)
                    self._joiner.unreachable(name, str(e))
                continue
            self._unreachable.pop(name, None)
            member = replace(member, joined_as=cluster)
            member.reconciler.stopping = self.stopping
            log.info("cluster %s: driven from now on", name)
            joined.append(member)
        if joined or len(kept) != len(others):
            self.targets = (home, *kept, *joined)
            if self._gates is not None:
                self._gates.attach(self.targets)
        return joined


def _same_connection(joined: Cluster | None, now: Cluster) -> bool:
    def how(c: Cluster) -> tuple[str | None, ...]:
        return (c.context, c.kubeconfig, c.secret)

    return joined is None or how(joined) == how(now)


def _waits_for_a_move(state: DaemonState) -> bool:
    return any(reason.startswith("moves to cluster ") for reason in state.deferred.values())
