"""What the console uses of the daemon, handed in by ``daemon.runtime`` (real parts in the daemon,
real parts one by one in tests); the console never imports the runtime."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from daemon.chat.gitops import GitOps
from daemon.chat.ports import PauseControl
from daemon.console.live import LiveReader
from daemon.engine.reconcile import DaemonState
from daemon.model.audit import HistoryRecord
from daemon.model.cycle import Trigger
from daemon.model.events import Event
from daemon.state.history import AuditQuery

__all__ = ["ActiveAlert", "AuditTrail", "ConsolePorts", "RecentEvents"]


class AuditTrail(Protocol):
    def append(self, record: HistoryRecord) -> None: ...

    def query(self, query: AuditQuery) -> list[HistoryRecord]: ...


@dataclass(frozen=True)
class ActiveAlert:
    tenant: str
    app: str
    rule: str
    phase: str  # pending or firing
    since: datetime
    severity: str


@dataclass(frozen=True)
class ConsolePorts:
    snapshot: Callable[[], DaemonState]
    is_leader: Callable[[], bool]
    identity: str  # this replica's name
    source: str  # where the platform repo comes from, safe to show
    pauses: PauseControl
    history: AuditTrail
    live: LiveReader
    request_cycle: Callable[[Trigger], None]
    emit: Callable[[Event], None]
    events: RecentEvents
    alerts: Callable[[], Sequence[ActiveAlert]]
    outbox_backlog: Callable[[], int]
    clock: Callable[[], datetime]
    #: makes the commits of scale and restore; None: this daemon cannot commit (say why: describe)
    gitops: GitOps | None = None
    #: a standby hands an action it received to the leader through this; None: act where it arrives
    hand_to_leader: Callable[[Mapping[str, Any]], None] | None = None
    #: each cluster's state by name while the daemon drives several (empty: one cluster)
    clusters: Callable[[], Mapping[str, DaemonState]] = dict


class RecentEvents:
    """The last events the daemon emitted (an event sink), newest first: the overview's feed.

    Only the leader emits, so a standby's feed is empty; the page says so."""

    def __init__(self, size: int = 200) -> None:
        self._events: deque[Event] = deque(maxlen=size)
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self._events.appendleft(event)

    def recent(self) -> list[Event]:
        with self._lock:
            return list(self._events)
