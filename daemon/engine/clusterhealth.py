"""The cluster's health and Dockyard's own, watched by the leader: the loop around
:mod:`daemon.policy.clusterhealth` and :mod:`daemon.policy.problems`.

``Daemon`` registers :meth:`ClusterWatcher.run` every :data:`INTERVAL_SECONDS` on the leader. One
look costs at most six requests, whatever the size of the platform: ``/readyz?verbose``, the nodes, the
pods that have no node yet (a field selector, so only those), every Deployment, every claim and
the storage classes, all cluster-wide (the platform hears about kube-system too). A family whose
read fails is left as it was: no problem of it opens or closes on a partial view. When the API
server cannot be reached at all, or says it is not ready, that is the news and nothing else is
read (its other answers would time out or be stale).

Every problem opens once and closes once (``node.notready``/``node.ready``, ...): the events are
in :mod:`daemon.views.problems`. State is in memory: a new leader announces what is wrong when it
first sees it, and cannot close what the old one opened.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from daemon.edges.kube import KNOWN_TYPES, ObjectLister, ResourceType
from daemon.errors import ClusterError
from daemon.model.events import Event, EventSink
from daemon.policy.clusterhealth import (
    DockyardSignals,
    apiserver_unreachable,
    dockyard_problems,
    node_problems,
    readyz_problems,
    rollout_problems,
    scheduler_problems,
    volume_problems,
)
from daemon.policy.problems import Problem, ProblemTracker
from daemon.views.problems import problem_event

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 15.0
#: a pod the scheduler has not looked at for this long means it is not running
SCHEDULER_WAIT_SECONDS = 60.0
#: a claim Pending for longer than this is stuck (Ceph provisions in seconds)
CLAIM_PENDING_SECONDS = 300.0
#: what a closed problem of each family means
RESOLUTIONS = {
    "node": "it is Ready again (or was removed)",
    "controlplane": "the check passes again",
    "rollout": "it is no longer past its deadline",
    "volume": "it is no longer Pending",
    "dockyard": "it works again",
}


def _type(kind: str, group: str = "") -> ResourceType:
    return next(t for t in KNOWN_TYPES if t.kind == kind and t.group == group)


NODES, PODS, CLAIMS = _type("Node"), _type("Pod"), _type("PersistentVolumeClaim")
DEPLOYMENTS, CLASSES = _type("Deployment", "apps"), _type("StorageClass", "storage.k8s.io")


class HealthKube(ObjectLister, Protocol):
    def probe(self, path: str, *, limit: int = 65536) -> tuple[int, str]: ...


class ClusterWatcher:
    """Looks at the cluster and at Dockyard, and tells what breaks and what recovers. Thread-safe."""

    def __init__(
        self,
        kube: HealthKube,
        sink: EventSink,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        dockyard: Callable[[], DockyardSignals] = DockyardSignals,
        scheduler_wait: float = SCHEDULER_WAIT_SECONDS,
        claim_pending: float = CLAIM_PENDING_SECONDS,
    ) -> None:
        self._kube = kube
        self._sink = sink
        self._clock = clock
        self._dockyard = dockyard
        self._scheduler_wait = scheduler_wait
        self._claim_pending = claim_pending
        # A failing readiness check or one bad look at Dockyard may be a blip: two looks in a row.
        self.tracker = ProblemTracker(confirm={"controlplane": 2, "dockyard": 2})
        self._lock = threading.Lock()

    def run(self) -> list[Event]:
        """One look; returns the events it emitted."""
        with self._lock:
            now = self._clock()
            problems, seen, failed = self._look(now)
            changes = self.tracker.look(seen, problems, now, RESOLUTIONS)
            self.tracker.forget(failed)
            events = [problem_event(change) for change in changes]
        for event in events:
            self._sink.emit(event)
        return events

    def forget(self) -> None:
        """Drops every problem seen: called when leadership is lost, since what opens and closes
        meanwhile is the new leader's to announce, and closing it from this state later would
        repeat it."""
        with self._lock:
            self.tracker = ProblemTracker(confirm=self.tracker.confirm)

    def open_problems(self) -> list[dict[str, Any]]:
        """What is wrong now, as announced (for ``/status``)."""
        with self._lock:
            return [
                {"problem": p.key, "summary": p.summary, "tenant": p.tenant, "since": opened.isoformat()}
                for p, opened in self.tracker.open_problems()
            ]

    def _look(self, now: datetime) -> tuple[list[Problem], list[str], list[str]]:
        problems: list[Problem] = dockyard_problems(self._dockyard())
        seen, failed = ["dockyard"], []
        try:
            status, body = self._kube.probe("/readyz?verbose")
        except ClusterError as e:
            # Nothing else can be read either; this is the one thing known.
            return [*problems, apiserver_unreachable(str(e))], [*seen, "controlplane"], ["node", "rollout", "volume"]
        control = readyz_problems(status, body)
        if status != 200:
            # Not ready: its other answers would time out or be stale; the failed checks are the news.
            return [*problems, *control], [*seen, "controlplane"], ["node", "rollout", "volume"]
        reads: list[tuple[str, Callable[[], list[Problem]]]] = [
            ("node", lambda: node_problems(self._kube.list_objects(NODES))),
            ("controlplane", lambda: self._unscheduled(now)),
            ("rollout", lambda: rollout_problems(self._kube.list_objects(DEPLOYMENTS))),
            ("volume", lambda: self._pending_claims(now)),
        ]
        for family, read in reads:
            try:
                problems += read()
            except ClusterError as e:
                log.warning("cannot check %s health this time: %s", family, e)
                failed.append(family)
                continue
            seen.append(family)
        return problems, seen, failed

    def _unscheduled(self, now: datetime) -> list[Problem]:
        pods = self._kube.list_objects(PODS, field_selector="spec.nodeName=,status.phase=Pending")
        return scheduler_problems(pods, now, self._scheduler_wait)

    def _pending_claims(self, now: datetime) -> list[Problem]:
        claims = self._kube.list_objects(CLAIMS)
        classes = (
            self._kube.list_objects(CLASSES)
            if any(c.get("status", {}).get("phase") == "Pending" for c in claims)
            else []
        )
        return volume_problems(claims, classes, now, self._claim_pending)
