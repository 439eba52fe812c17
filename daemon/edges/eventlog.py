"""Event sinks that write to the log or a stream (the operator's view of events)."""

from __future__ import annotations

import json
import logging
import sys
from typing import IO

from daemon.model.events import SEVERITY_RANK, Event


class LogSink:
    """Hands each event to a logger as a record carrying the event (``record.event``), so the log
    format (``daemon.logformat``: readable text on a terminal, JSON lines otherwise) renders it."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def emit(self, event: Event) -> None:
        level = logging.WARNING if SEVERITY_RANK[event.severity] > 0 else logging.INFO
        self._logger.log(level, "%s: %s", event.name, event.summary, extra={"event": event})


class JsonLogSink:
    """Writes each event as one structured JSON line to a stream."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr

    def emit(self, event: Event) -> None:
        self._stream.write(json.dumps({"event": event.to_json()}, sort_keys=True, default=str) + "\n")
        self._stream.flush()
