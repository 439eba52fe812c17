"""How log lines look: readable lines for a person at a terminal, JSON lines for machines.

``auto`` picks text when stderr is a terminal and JSON otherwise (piped into a file, a container
log, a collector). Events reach the log as records carrying the :class:`~daemon.events.Event` in
``record.event``; both formats render them from that object, never by re-parsing a message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any, Literal

from daemon.edges.terminal import use_colour
from daemon.views.paint import Painter

LogFormat = Literal["auto", "text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "text", "json")

_LEVEL_COLOURS = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "red", "DEBUG": "dim"}
_SEVERITY_COLOURS = {"info": "green", "warning": "yellow", "critical": "red"}


class TextFormatter(logging.Formatter):
    """``HH:MM:SS level  message``; events as ``HH:MM:SS name  [tenant] summary``."""

    def __init__(self, painter: Painter) -> None:
        super().__init__()
        self._paint = painter

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        event = getattr(record, "event", None)
        if event is not None:
            name = self._paint(f"{event.name:<18}", _SEVERITY_COLOURS.get(event.severity, "green"))
            where = f"[{event.tenant}] " if event.tenant else ""
            lines = [f"{self._paint(when, 'dim')} {name} {where}{event.summary}"]
            lines += [f"    {error}" for error in list(event.errors)[:10]]
            if len(event.errors) > 10:
                lines.append(f"    ... and {len(event.errors) - 10} more")
            return "\n".join(lines)
        level = record.levelname.lower()
        text = f"{self._paint(when, 'dim')} {self._paint(f'{level:<18}', _LEVEL_COLOURS.get(record.levelname, 'cyan'))}"
        text += f" {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message`` or ``event``."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        event = getattr(record, "event", None)
        if event is not None:
            data["event"] = event.to_json()
        else:
            data["message"] = record.getMessage()
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, sort_keys=True, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


def configure(level: str, fmt: LogFormat, stream: IO[str] | None = None) -> None:
    """Sets up the root logger at the command line's edge; calling it again replaces only the
    handler it installed before (other handlers, such as a test runner's, stay)."""
    out = stream if stream is not None else sys.stderr
    text = fmt == "text" or (fmt == "auto" and bool(getattr(out, "isatty", lambda: False)()))
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(TextFormatter(Painter(use_colour(out))) if text else JsonFormatter())
    handler.set_name("dockyard")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "dockyard"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level))
    # APScheduler logs every job addition and run at INFO; ours say what matters.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, getattr(logging, level)))
