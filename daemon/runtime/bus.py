"""The one way events leave the daemon: counted, then handed to every sink (log, outbox, tests).

Every part that announces something (the reconciler, backups, alerts, chat) is given this bus
explicitly; a sink that fails never stops the part that emitted the event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from daemon.edges.metrics import DaemonMetrics
from daemon.model.events import Event, EventSink

log = logging.getLogger(__name__)


class EventBus:
    def __init__(self, metrics: DaemonMetrics, sinks: Sequence[EventSink]) -> None:
        self._metrics = metrics
        self._sinks = tuple(sinks)

    def emit(self, event: Event) -> None:
        self._metrics.count_event(event)
        for sink in self._sinks:
            try:
                sink.emit(event)
            except Exception:  # delivery problems never stop the emitter
                log.exception("event sink %s failed for %s", type(sink).__name__, event.name)
