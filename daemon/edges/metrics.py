"""The daemon's Prometheus metrics, on a registry of their own (never the global one).

Names are prefixed ``dockyard_``. API request counts are read straight from the KubeClient's
counters at scrape time, so every request (plans, applies, leader election, history) is counted
without each caller having to remember to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.model.events import Event
from daemon.model.refs import Revision


class _RequestCountCollector(Collector):
    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "dockyard_api_requests", "Requests sent to the Kubernetes API server, by verb.", labels=["verb"]
        )
        for verb, count in sorted(self._counts().items()):
            family.add_metric([verb], count)
        yield family


class DaemonMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.cycle_duration = Histogram(
            "dockyard_cycle_duration_seconds",
            "Duration of reconcile cycles, by trigger.",
            ["trigger"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.cycles = Counter("dockyard_cycles", "Reconcile cycles, by result.", ["result"], registry=r)
        self.last_applied = Info(
            "dockyard_last_applied_revision", "The last revision applied successfully.", registry=r
        )
        self.last_success = Gauge(
            "dockyard_last_success_timestamp_seconds", "Unix time of the last successful sync.", registry=r
        )
        self.objects_managed = Gauge("dockyard_objects_managed", "Objects in the inventory.", registry=r)
        self.objects_drifted = Gauge(
            "dockyard_objects_drifted", "Objects that differed from Git at the last check.", registry=r
        )
        self.apply_errors = Counter(
            "dockyard_apply_errors", "Objects that failed to apply, by reason.", ["reason"], registry=r
        )
        self.git_fetch_errors = Counter("dockyard_git_fetch_errors", "Failed fetches of the platform repo.", registry=r)
        self.events = Counter("dockyard_events_emitted", "Events emitted, by name.", ["event"], registry=r)
        self.leader = Gauge("dockyard_leader", "1 when this replica is the leader.", registry=r)
        self.ready = Gauge("dockyard_ready", "1 once the daemon has processed the current revision.", registry=r)

    def watch_api_requests(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self.registry.register(_RequestCountCollector(counts))

    def count_event(self, event: Event) -> None:
        self.events.labels(event=event.name).inc()

    # --- the reconcile cycle's instruments (daemon.engine.reconcile.Metrics) -------------------

    def observe_cycle(self, trigger: str, result: str, seconds: float) -> None:
        self.cycle_duration.labels(trigger=trigger).observe(seconds)
        self.cycles.labels(result=result).inc()

    def observe_plan(self, managed: int, drifted: int | None) -> None:
        self.objects_managed.set(managed)
        if drifted is not None:
            self.objects_drifted.set(drifted)

    def observe_apply_errors(self, reasons: Sequence[str]) -> None:
        for reason in reasons:
            self.apply_errors.labels(reason=reason).inc()

    def observe_fetch_error(self) -> None:
        self.git_fetch_errors.inc()

    def observe_ready(self) -> None:
        self.ready.set(1)

    def observe_synced(self, revision: Revision, when: datetime) -> None:
        self.ready.set(1)
        self.last_success.set(when.timestamp())
        self.last_applied.info({"revision": revision.sha, "author": revision.author})
