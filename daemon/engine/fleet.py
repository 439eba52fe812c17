"""One daemon, many clusters: a reconciler per cluster, run one after the other in each cycle.

Each cluster has its own reconciler, and so its own live cache, inventory, health, prune guard,
back-off and state: a cluster that fails (its API server down) fails its own cycle and backs off,
and the others go on. A tenant moving between clusters is created where it goes before it is
pruned where it was (``policy.placement``): the gate each reconciler is given asks the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from daemon.engine.reconcile import DaemonState, HistorySink, Reconciler
from daemon.model.audit import HistoryKind, HistoryRecord
from daemon.model.clusters import target
from daemon.model.cycle import CycleOutcome, Trigger
from daemon.model.events import Event, EventSink
from daemon.model.kinds import PlatformModel
from daemon.policy.placement import waiting_moves

log = logging.getLogger(__name__)


class ClusterEvents:
    """Events of one cluster's reconciler, named after the cluster (summary and details)."""

    def __init__(self, sink: EventSink, cluster: str) -> None:
        self._sink = sink
        self._cluster = cluster

    def emit(self, event: Event) -> None:
        self._sink.emit(
            replace(
                event,
                summary=f"[{self._cluster}] {event.summary}",
                details={**event.details, "cluster": self._cluster},
                group=f"{event.group}@{self._cluster}" if event.group else "",
            )
        )


class ClusterHistory:
    """Audit records of one cluster's reconciler, naming the cluster."""

    def __init__(self, history: HistorySink, cluster: str) -> None:
        self._history = history
        self._cluster = cluster

    def append(self, record: HistoryRecord) -> None:
        self._history.append(replace(record, cluster=self._cluster))

    def contains(self, kind: HistoryKind, revision: str) -> bool:
        return self._history.contains(kind, revision)


@dataclass(frozen=True)
class Target:
    """One cluster the daemon drives: its name in spec.clusters and its reconciler."""

    name: str
    reconciler: Reconciler


class MoveGates:
    """The move gate of each cluster's reconciler: built before the reconcilers, which it then asks."""

    def __init__(self) -> None:
        self._targets: Sequence[Target] = ()

    def attach(self, targets: Sequence[Target]) -> None:
        self._targets = targets

    def gate(self, cluster: str) -> _Gate:
        return _Gate(self, cluster)

    def applied(self, model: PlatformModel) -> dict[str, str]:
        return {
            str(target(model.platform.clusters, t.name)): t.reconciler.snapshot().applied_sha for t in self._targets
        }


class _Gate:
    def __init__(self, gates: MoveGates, cluster: str) -> None:
        self._gates = gates
        self._cluster = cluster

    def __call__(self, model: PlatformModel, revision: str, tenants: frozenset[str]) -> Mapping[str, str]:
        return waiting_moves(model, self._cluster, revision, self._gates.applied(model), tenants)


class Fleet:
    """The reconcilers of every cluster, cycled as one by the daemon's cycle runner.

    The first target is the home cluster (where the lease, pauses and audit trail live); its
    state is the daemon's state for readiness, chat and the console. A cycle runs every cluster
    in order; a cluster whose changes wait for a move is cycled once more after the others,
    so a move completes in one cycle when it can.
    """

    def __init__(self, targets: Sequence[Target]) -> None:
        if not targets:
            raise ValueError("a fleet needs at least one cluster")
        self.targets = tuple(targets)
        self.stopping = threading.Event()
        for t in self.targets:  # the runner's stop reaches the cycle of whichever cluster runs
            t.reconciler.stopping = self.stopping

    @property
    def home(self) -> Reconciler:
        return self.targets[0].reconciler

    def snapshot(self) -> DaemonState:
        return self.home.snapshot()

    def states(self) -> dict[str, DaemonState]:
        return {t.name: t.reconciler.snapshot() for t in self.targets}

    def retry_due(self) -> bool:
        return any(t.reconciler.retry_due() for t in self.targets)

    def cycle(self, trigger: Trigger = "poll", *, ignore_windows: bool = False) -> CycleOutcome:
        outcomes: dict[str, CycleOutcome] = {}
        for t in self.targets:
            if self.stopping.is_set():
                break
            if trigger in ("poll", "drift") and not t.reconciler.retry_due():
                continue  # this cluster backs off after a failure; the others go on
            outcomes[t.name] = t.reconciler.cycle(trigger, ignore_windows=ignore_windows)
        for t in self.targets:  # what waited for a move that has just been made
            if t.name in outcomes and not self.stopping.is_set() and _waits_for_a_move(t.reconciler.snapshot()):
                outcomes[t.name] = t.reconciler.cycle(trigger, ignore_windows=ignore_windows)
        for name, outcome in outcomes.items():
            log.info("cluster %s: %s %s %s", name, outcome.result, outcome.revision[:8], outcome.summary)
        home = outcomes.get(self.targets[0].name)
        return home if home is not None else next(iter(outcomes.values()), CycleOutcome("skipped"))


def _waits_for_a_move(state: DaemonState) -> bool:
    return any(reason.startswith("moves to cluster ") for reason in state.deferred.values())
