"""Typed events and the :class:`EventSink` interface through which they leave the daemon.

The daemon emits an :class:`Event` for everything people may want to hear about; routing and
delivery (Slack, webhooks, email) live in the ``notifiers`` package, which depends on this module
and never the other way round.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

Severity = Literal["info", "warning", "critical"]


SEVERITY_RANK: Mapping[str, int] = {"info": 0, "warning": 1, "critical": 2}


#: Every event name Dockyard emits (the contract notification lists match against).
EVENT_NAMES: tuple[str, ...] = (
    "sync.succeeded",
    "sync.failed",
    "sync.skipped",
    "validation.failed",
    "drift.corrected",
    "health.degraded",
    "health.recovered",
    "prune.blocked",
    "alert.firing",
    "alert.resolved",
    "scaling.succeeded",
    "scaling.limited",
    "backup.created",
    "backup.ready",
    "backup.failed",
    "backup.pruned",
    "backup.restored",
    "backup.copied",
    "job.failed",
    "canary.promoted",
    "canary.aborted",
    "command.executed",
    "audit.pruned",
    "notification.deadlettered",
    "node.notready",
    "node.ready",
    "controlplane.degraded",
    "controlplane.recovered",
    "rollout.stuck",
    "rollout.recovered",
    "volume.pending",
    "volume.bound",
    "dockyard.degraded",
    "dockyard.recovered",
    "monitoring.unavailable",
    "monitoring.recovered",
)


#: Problems of the cluster and of Dockyard itself, by family: (the event that opens one, the
#: event that closes it).
PROBLEM_EVENTS: Mapping[str, tuple[str, str]] = {
    "node": ("node.notready", "node.ready"),
    "controlplane": ("controlplane.degraded", "controlplane.recovered"),
    "rollout": ("rollout.stuck", "rollout.recovered"),
    "volume": ("volume.pending", "volume.bound"),
    "dockyard": ("dockyard.degraded", "dockyard.recovered"),
    "monitoring": ("monitoring.unavailable", "monitoring.recovered"),
}


#: Events that open a problem -> the event that closes it. Each pair shares an identity
#: (``details["alert"]``, tenant, app): the closing event reaches whoever heard the opening one,
#: measured with its severity (``details["firingSeverity"]``), and only if they did.
PAIRED_EVENTS: Mapping[str, str] = {
    "alert.firing": "alert.resolved",
    "health.degraded": "health.recovered",
    **dict(PROBLEM_EVENTS.values()),
}


DEFAULT_SEVERITY: Mapping[str, Severity] = {
    "sync.failed": "critical",
    "validation.failed": "warning",
    "prune.blocked": "warning",
    "health.degraded": "warning",
    "alert.firing": "warning",
    "scaling.limited": "warning",
    "backup.failed": "critical",
    "job.failed": "warning",
    "notification.deadlettered": "critical",
    **{opening: "warning" for opening, _ in PROBLEM_EVENTS.values()},
}


@dataclass(frozen=True)
class CommitInfo:
    """The git commit an event is about."""

    sha: str
    author: str = ""
    message: str = ""

    @property
    def short_sha(self) -> str:
        return self.sha[:8]


@dataclass(frozen=True)
class Event:
    """Something that happened, addressed to the people who care about it.

    ``tenant`` is ``None`` for platform-level events. ``group`` ties together the events of one
    cycle (for example all events of one sync revision) so they can share a message or thread.
    ``details`` holds JSON-compatible data only; it never holds secrets.
    """

    name: str
    summary: str
    severity: Severity = "info"
    tenant: str | None = None
    app: str | None = None
    commit: CommitInfo | None = None
    group: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    errors: Sequence[str] = ()
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def make(cls, name: str, summary: str, **kwargs: Any) -> Event:
        """An event with the default severity of its name unless one is given."""
        kwargs.setdefault("severity", DEFAULT_SEVERITY.get(name, "info"))
        return cls(name=name, summary=summary, **kwargs)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.isoformat()
        data["errors"] = list(self.errors)
        data["details"] = dict(self.details)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        commit = data.get("commit")
        return cls(
            name=data["name"],
            summary=data["summary"],
            severity=data.get("severity", "info"),
            tenant=data.get("tenant"),
            app=data.get("app"),
            commit=CommitInfo(**commit) if commit else None,
            group=data.get("group", ""),
            details=data.get("details") or {},
            errors=tuple(data.get("errors") or ()),
            time=datetime.fromisoformat(data["time"]),
            id=data["id"],
        )


class EventSink(Protocol):
    """Where events go. Implementations must not raise for delivery failures: they persist the
    event first and deliver later (see ``notifiers.outbox``)."""

    def emit(self, event: Event) -> None: ...


class MemorySink:
    """Keeps events in a list: for the CLI's one-shot commands and for tests at the boundary."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)


class FanOutSink:
    """Sends every event to several sinks."""

    def __init__(self, *sinks: EventSink) -> None:
        self._sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self._sinks:
            sink.emit(event)
