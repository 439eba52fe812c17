"""What the autoscalers did, announced: the loop around :mod:`daemon.policy.scaling`.

``Daemon`` registers :meth:`ScalingWatcher.run` as an APScheduler job every
:data:`INTERVAL_SECONDS`; it runs on the leader only. One run is one request: the list of
Dockyard's HorizontalPodAutoscalers, cluster-wide. Their status says what the HPA controller
decided (desired replicas, ``ScalingLimited``), so nothing else is read.

The reconciler tells the watcher about scheduled scaling (:meth:`expect`) once it has applied a
schedule's bounds; the watcher announces what the HPA then did with them, not the bounds alone.

State is in memory: a new leader records what it first sees and announces changes from there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from daemon.edges.kube import KNOWN_TYPES, ObjectLister
from daemon.errors import ClusterError
from daemon.model.events import Event, EventSink
from daemon.model.labels import MANAGED_BY, MANAGER_NAME, TENANT_LABEL
from daemon.policy.scaling import ScalingTracker, ScheduledScaling, hpa_samples
from daemon.views.scaling import scaling_event

log = logging.getLogger(__name__)

#: The HPA controller decides every 15s by default; looking every 5s adds little to that.
INTERVAL_SECONDS = 5.0
HPAS = next(t for t in KNOWN_TYPES if t.kind == "HorizontalPodAutoscaler")
MANAGED_SELECTOR = f"{MANAGED_BY}={MANAGER_NAME}"


class ScalingWatcher:
    """Reads the HPAs, advances the tracker, emits what changed. Thread-safe."""

    def __init__(
        self, kube: ObjectLister, sink: EventSink, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._kube = kube
        self._sink = sink
        self._clock = clock
        self.tracker = ScalingTracker()
        # The reconciler's thread calls expect() while the scheduler's thread runs run().
        self._lock = threading.Lock()
        self._failing = False

    def expect(self, change: ScheduledScaling) -> None:
        with self._lock:
            self.tracker.expect(change)

    def forget(self) -> None:
        """Drops what was seen: called when leadership is lost, since what the HPAs do meanwhile
        is the new leader's to announce, and comparing with this state later would repeat it."""
        with self._lock:
            self.tracker = ScalingTracker()

    def run(self, tenants: Collection[str] | None = None) -> list[Event]:
        """One look at the HPAs (of ``tenants`` only, when given: the platform's, not those another
        Dockyard or an earlier platform left on the cluster); returns the events it emitted."""
        try:
            objects = self._kube.list_objects(HPAS, label_selector=MANAGED_SELECTOR)
        except ClusterError as e:
            if not self._failing:
                log.warning("cannot list HorizontalPodAutoscalers (autoscaling is not followed until I can): %s", e)
            self._failing = True
            return []
        self._failing = False
        if tenants is not None:
            objects = [o for o in objects if (o.get("metadata", {}).get("labels") or {}).get(TENANT_LABEL) in tenants]
        now = self._clock()
        with self._lock:
            events = [scaling_event(t, now) for t in self.tracker.observe(hpa_samples(objects))]
        for event in events:
            self._sink.emit(event)
        return events
