"""What chat commands use of the daemon, and what each command hands back to the service.

Everything comes in through :class:`ChatPorts`, so the chat package never imports the runtime and
tests can hand in real parts one by one. :class:`ChatContext` adds the platform model the service
was last given, for the queries and the actions alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from daemon.chat.views import Reply
from daemon.edges.kube import KubeClient
from daemon.engine.reconcile import DaemonState
from daemon.errors import ChatError, DockyardError
from daemon.model.audit import HistoryRecord, HistoryResult
from daemon.model.cycle import Trigger
from daemon.model.events import Event
from daemon.model.kinds import PlatformModel
from daemon.model.refs import Revision
from daemon.policy.review import Comparison

__all__ = ["ChatContext", "ChatPorts", "HistoryLog", "Outcome", "PauseControl"]

_log = logging.getLogger(__name__)


class PauseControl(Protocol):
    def paused(self) -> frozenset[str]: ...

    def pause(self, tenant: str) -> None: ...

    def resume(self, tenant: str) -> None: ...


class HistoryLog(Protocol):
    def append(self, record: HistoryRecord) -> None: ...

    def list(self, limit: int | None = None) -> list[HistoryRecord]: ...


@dataclass(frozen=True)
class ChatPorts:
    """The parts of the daemon chat commands use (all real objects in the daemon)."""

    snapshot: Callable[[], DaemonState]
    request_cycle: Callable[[Trigger], None]  # "manual", or "manual-override" to ignore sync windows
    cycles_run: Callable[[], int]
    is_leader: Callable[[], bool]
    pauses: PauseControl
    history: HistoryLog
    emit: Callable[[Event], None]
    kube: KubeClient | None  # live workload and HPA state for `status`; None: from the last cycle only
    source: str  # where the platform repo comes from, safe to show
    #: a standby hands a command it received to the leader through this (the daemon's inbox);
    #: None: every command runs where it arrives (a single daemon)
    hand_to_leader: Callable[[Mapping[str, Any]], None] | None = None
    #: the current revision against the applied one, computed from Git now (``diff``), or why it
    #: cannot be; None: not available (then ``diff`` says so)
    pending_review: Callable[[str, Revision], Comparison | str] | None = None
    #: each cluster's state by name while the daemon drives several (empty: one cluster)
    clusters: Callable[[], Mapping[str, DaemonState]] = dict


@dataclass
class Outcome:
    """What one command did: the answer, what the audit records, and an optional second answer."""

    result: HistoryResult
    reply: Reply
    summary: str
    revision: str = ""
    author: str = ""
    errors: list[str] = field(default_factory=list)
    follow: Callable[[], Reply | None] | None = None


@dataclass
class ChatContext:
    """The ports and the current platform model, shared by the queries and the actions."""

    ports: ChatPorts
    model: PlatformModel | None = None  # the revision last given to the service; None: none yet

    def require_model(self) -> PlatformModel:
        model = self.ports.snapshot().model or self.model
        if model is None:
            raise ChatError(
                "the daemon has not loaded a valid revision of the platform repo yet",
                hint="try again in a minute; `/dockyard status` shows what it is doing",
            )
        return model

    def require_tenant(self, tenant: str) -> PlatformModel:
        model = self.require_model()
        if model.tenant(tenant) is None:
            names = sorted(t.name for t in model.tenants)
            known = ", ".join(f"`{n}`" for n in names[:20]) or "none"
            raise ChatError(f"there is no tenant `{tenant}`", hint=f"Tenants: {known}.")
        return model

    def paused(self) -> frozenset[str]:
        try:
            return self.ports.pauses.paused()
        except DockyardError as e:
            _log.warning("cannot read the paused tenants: %s", e)
            return frozenset()
