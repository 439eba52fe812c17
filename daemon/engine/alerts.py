"""Alert rules of Policies against the live cluster: the collector and loop around
:mod:`daemon.alert_rules` (which holds the rules' meaning and state).

``Daemon._attach_alerts`` registers :meth:`AlertEvaluator.run` as an APScheduler job every
:data:`INTERVAL_SECONDS`; it runs only on the leader and only once a model is loaded. One
evaluation costs at most four requests, whatever the number of apps, all cluster-wide and
restricted to what Dockyard manages (``app.kubernetes.io/managed-by=dockyard``): one list of pods,
one of Deployments and one of StatefulSets, and one list of ``PodMetrics`` (metrics.k8s.io) - and
only those the current rules need. It never reads objects one by one.

The metrics API (metrics-server or an adapter serves it) is needed by cpuAbove and memoryAbove
rules and by every Autoscaling's HPA. When it does not answer, those rules are skipped - they
neither fire nor resolve - and, once it has failed on two evaluations in a row, the platform is
told once: ``monitoring.unavailable``, then ``monitoring.recovered`` when it answers again. With no
such rule the evaluator only asks the API's discovery document (one small request) while the
platform has Autoscalings. Any other read failure skips the whole evaluation: a partial view
could resolve alerts that still hold.

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

from daemon.edges.kube import KNOWN_TYPES, ObjectLister, ResourceType
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
from daemon.policy.problems import Problem, ProblemTracker
from daemon.views.problems import problem_event

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 30.0
MANAGED_SELECTOR = f"{MANAGED_BY}={MANAGER_NAME}"
#: every PodMetrics Dockyard manages, cluster-wide, in one request
METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/pods?" + urlencode({"labelSelector": MANAGED_SELECTOR})
#: the metrics API's discovery document: whether it answers at all
METRICS_DISCOVERY_PATH = "/apis/metrics.k8s.io/v1beta1"
METRICS_API = "metrics.k8s.io/v1beta1"


def _known(kind: str) -> ResourceType:
    return next(t for t in KNOWN_TYPES if t.kind == kind and t.group in ("", "apps"))


PODS = _known("Pod")
WORKLOADS = (_known("Deployment"), _known("StatefulSet"))


class AlertKube(ObjectLister, Protocol):
    """The part of :class:`daemon.edges.kube.KubeClient` the evaluator uses."""

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
        #: one failed look may be a blip (metrics-server restarting): two in a row are an outage
        self._monitoring = ProblemTracker(confirm={"monitoring": 2})
        self._metrics_state: dict[str, str | None] = {"metricsApi": "unknown", "since": None, "error": None}

    def run(self, model: PlatformModel) -> list[Event]:
        """One evaluation against ``model``; returns the events it emitted."""
        with self._lock:
            events: list[Event] = []
            observation = self._observe(model, events)
            if observation is not None:
                events += [alert_event(t) for t in self.engine.evaluate(model, observation)]
        for event in events:
            self._sink.emit(event)
        return events

    def forget(self) -> None:
        """Drops every alert instance and the metrics API's state: called when leadership is
        lost, since what fires and resolves meanwhile is the new leader's to announce."""
        with self._lock:
            self.engine = AlertEngine(max_gap_seconds=self.engine.max_gap.total_seconds())
            self._monitoring = ProblemTracker(confirm=self._monitoring.confirm)
            self._metrics_state = {"metricsApi": "unknown", "since": None, "error": None}

    def monitoring_status(self) -> dict[str, str | None]:
        """The metrics API as the last evaluation found it (for ``/status``)."""
        with self._lock:
            return dict(self._metrics_state)

    def active(self) -> list[tuple[AlertKey, str, datetime, str]]:
        """The alerts pending or firing now (on the leader: standbys evaluate nothing)."""
        with self._lock:
            return list(self.engine.active())

    def _observe(self, model: PlatformModel, events: list[Event]) -> Observation | None:
        needs = needs_of(model)
        now = self._clock()
        if not needs.metrics and model.autoscalings:
            self._probe_metrics_api(model, now, events)
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
        metrics = self._pod_metrics(model, now, events) if needs.metrics else None
        return Observation(
            now,
            pods=pod_samples(pods),
            workloads=workload_samples(workloads),
            usage=None if metrics is None else pod_usage(pods, metrics),
        )

    def _pod_metrics(self, model: PlatformModel, now: datetime, events: list[Event]) -> list[dict[str, Any]] | None:
        try:
            items = self._kube.raw_get(METRICS_PATH).get("items") or []
        except ClusterError as e:
            self._metrics_answered(model, now, events, str(e))
            return None
        self._metrics_answered(model, now, events, None)
        return [item for item in items if isinstance(item, dict)]

    def _probe_metrics_api(self, model: PlatformModel, now: datetime, events: list[Event]) -> None:
        try:
            self._kube.raw_get(METRICS_DISCOVERY_PATH)
        except ClusterError as e:
            self._metrics_answered(model, now, events, str(e))
            return
        self._metrics_answered(model, now, events, None)

    def _metrics_answered(self, model: PlatformModel, now: datetime, events: list[Event], error: str | None) -> None:
        """Records one answer (or failure, ``error``) of the metrics API and announces outages."""
        problems = [] if error is None else [_metrics_problem(model, error)]
        changes = self._monitoring.look(["monitoring"], problems, now, {"monitoring": "it answers again"})
        events.extend(problem_event(change) for change in changes)
        state = "available" if error is None else "unavailable"
        if self._metrics_state["metricsApi"] != state:
            self._metrics_state["since"] = now.isoformat()
        self._metrics_state.update(metricsApi=state, error=error)


def _metrics_problem(model: PlatformModel, error: str) -> Problem:
    rules = sum(1 for p in model.policies for r in p.alerts if r.condition in ("cpuAbove", "memoryAbove"))
    hurt = []
    if rules:
        hurt.append(f"{rules} cpuAbove/memoryAbove alert rule{'s are' if rules != 1 else ' is'} not evaluated")
    if model.autoscalings:
        count = len(model.autoscalings)
        hurt.append(f"{count} autoscaler{'s' if count != 1 else ''} cannot scale on CPU or memory")
    return Problem(
        "monitoring",
        METRICS_API,
        f"The metrics API ({METRICS_API}) does not answer, so " + " and ".join(hurt) + f": {error}",
        details={"api": METRICS_API, "alertRules": rules, "autoscalers": len(model.autoscalings), "error": error},
    )
