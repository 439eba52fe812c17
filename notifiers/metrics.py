"""Prometheus metrics of the notifiers, on a registry the caller owns (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: from event to delivery: seconds for a healthy target, up to hours for one that was down
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.queued = Counter(
            "dockyard_notifications_queued_total",
            "Deliveries written to the outbox, by target kind.",
            ["kind"],
            registry=registry,
        )
        self.sent = Counter(
            "dockyard_notifications_sent_total", "Deliveries that reached their target.", ["kind"], registry=registry
        )
        self.failed = Counter(
            "dockyard_notifications_failed_total",
            "Failed delivery attempts (each is retried until it is dead-lettered).",
            ["kind"],
            registry=registry,
        )
        self.deadlettered = Counter(
            "dockyard_notifications_deadlettered_total",
            "Deliveries given up after their last attempt or a permanent error.",
            ["kind"],
            registry=registry,
        )
        self.suppressed = Counter(
            "dockyard_notifications_suppressed_total",
            "Deliveries held back as duplicates, repeats within the repeat interval or unmatched resolutions.",
            ["kind"],
            registry=registry,
        )
        self.unconfigured = Counter(
            "dockyard_notifications_unconfigured_total",
            "Deliveries not queued because this daemon has no credentials for the target kind.",
            ["kind"],
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "dockyard_notification_delivery_seconds",
            "Time from an event to its delivery to a target.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.backlog = Gauge(
            "dockyard_notification_outbox_backlog",
            "Deliveries in the outbox not yet delivered or given up (and events waiting for routing).",
            registry=registry,
        )
