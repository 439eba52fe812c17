"""Alert rules of Policies against the live cluster: the collector and loop around
:mod:`daemon.alert_rules` (which holds the rules' meaning and state).

``Daemon._attach_alerts`` registers :meth:`AlertEvaluator.run` as an APScheduler job every
:data:`INTERVAL_SECONDS`; it runs only on the leader and only once a model is loaded. One
evaluation costs at most four requests, whatever the number of apps, all cluster-wide and
restricted to what Dockyard manages (``app.kubernetes.io/managed-by=dockyard``): one list of pods,
one of Deployments and one of StatefulSets, and one list of ``PodMetrics`` (metrics.k8s.io) - and
only those the current rules need. It never reads objects one by one.

The metrics API is optional (metrics-server or an adapter serves it). When it does not answer,
cpuAbove and memoryAbove rules are skipped - they neither fire nor resolve - and that is logged
once per outage, not on every evaluation. Any other read failure skips the whole evaluation: a
partial view could resolve alerts that still hold.

State is in memory (see :mod:`daemon.alert_rules`): after a restart, an alert that still holds
fires again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode

from daemon.edges.kube import KNOWN_TYPES, ResourceType
from daemon.errors import ClusterError
from daemon.model.events import Event, EventSink
from daemon.model.kinds import PlatformModel
from daemon.model.labels import MANAGED_BY, MANAGER_NAME
from daemon.policy.alerting import (
    AlertEngine,
    AlertKey,
    Observation,
    alert_event,
    needs_of,
    pod_samples,
    pod_usage,
    workload_samples,
)

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 30.0
MANAGED_SELECTOR = f"{MANAGED_BY}={MANAGER_NAME}"
#: every PodMetrics Dockyard manages, cluster-wide, in one request
METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/pods?" + urlencode({"labelSelector": MANAGED_SELECTOR})


def _known(kind: str) -> ResourceType:
    return next(t for t in KNOWN_TYPES if t.kind == kind and t.group in ("", "apps"))


PODS = _known("Pod")
WORKLOADS = (_known("Deployment"), _known("StatefulSet"))


class AlertKube(Protocol):
    """The part of :class:`daemon.kube.KubeClient` the evaluator uses."""

    def list_objects(
        self,
        rtype: ResourceType,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> list[dict[str, Any]]: ...

    def raw_get(self, path: str) -> dict[str, Any]: ...


class AlertEvaluator:
    """Reads the cluster, advances the alert engine, emits what changed. Thread-safe."""

    def __init__(
        self,
        kube: AlertKube,
        sink: EventSink,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        engine: AlertEngine | None = None,
    ) -> None:
        self._kube = kube
        self._sink = sink
        self._clock = clock
        self.engine = engine if engine is not None else AlertEngine(max_gap_seconds=4 * INTERVAL_SECONDS)
        # APScheduler never overlaps the job with itself, but tests and a chat command may call in.
        self._lock = threading.Lock()
        self._metrics_down = False

    def run(self, model: PlatformModel) -> list[Event]:
        """One evaluation against ``model``; returns the events it emitted."""
        with self._lock:
            observation = self._observe(model)
            if observation is None:
                return []
            events = [alert_event(t) for t in self.engine.evaluate(model, observation)]
        for event in events:
            self._sink.emit(event)
        return events

    def active(self) -> list[tuple[AlertKey, str, datetime, str]]:
        """The alerts pending or firing now (on the leader: standbys evaluate nothing)."""
        with self._lock:
            return list(self.engine.active())

    def _observe(self, model: PlatformModel) -> Observation | None:
        needs = needs_of(model)
        now = self._clock()
        if not needs.anything:
            # No rule left: nothing to read, but firing alerts of removed rules still resolve.
            return Observation(now)
        try:
            pods = self._kube.list_objects(PODS, label_selector=MANAGED_SELECTOR) if needs.pods else []
            workloads = (
                [obj for rtype in WORKLOADS for obj in self._kube.list_objects(rtype, label_selector=MANAGED_SELECTOR)]
                if needs.workloads
                else []
            )
        except ClusterError as e:
            log.warning("alert rules not evaluated this time: %s", e)
            return None
        metrics = self._pod_metrics() if needs.metrics else None
        return Observation(
            now,
            pods=pod_samples(pods),
            workloads=workload_samples(workloads),
            usage=None if metrics is None else pod_usage(pods, metrics),
        )

    def _pod_metrics(self) -> list[dict[str, Any]] | None:
        try:
            items = self._kube.raw_get(METRICS_PATH).get("items") or []
        except ClusterError as e:
            if not self._metrics_down:
                self._metrics_down = True
                log.warning(
                    "the metrics API (metrics.k8s.io) does not answer (%s): cpuAbove and memoryAbove alert rules "
                    "are not evaluated until it does",
                    e,
                )
            return None
        if self._metrics_down:
            self._metrics_down = False
            log.info("the metrics API answers again: cpuAbove and memoryAbove alert rules are evaluated")
        return [item for item in items if isinstance(item, dict)]
