"""What the dispatcher hands a sender, what it gets back, and how a sender reports failure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from daemon.errors import NotificationError
from daemon.model.events import Event
from daemon.model.kinds import NotificationTarget
from notifiers.format import StatusLine


class DeliveryError(NotificationError):
    """A failed attempt. The message is safe to log and to show (it never holds a secret).

    ``maybe_delivered`` tells whether the target may have received the message anyway (a timeout
    after the request was sent, a 5xx): the next attempt of a sender that can look (Slack) checks
    before sending again. ``retry_after`` is the server's own wish (HTTP 429 ``Retry-After``);
    ``rate_limited`` marks such answers, which do not use up an attempt.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        maybe_delivered: bool = False,
        rate_limited: bool = False,
    ) -> None:
        super().__init__(message, retry_after=retry_after, permanent=permanent)
        self.maybe_delivered = maybe_delivered
        self.rate_limited = rate_limited


@dataclass(frozen=True)
class Delivery:
    """One outbox row: an event on its way to one target."""

    key: str
    event: Event
    target: NotificationTarget
    target_key: str
    list_name: str
    #: attempts so far, the current one included
    attempts: int
    #: an earlier attempt may have reached the target (it died or timed out mid-request)
    uncertain: bool = False
    #: when the first attempt started (lower bound for looking up an uncertain earlier attempt)
    first_attempt_at: float | None = None
    #: what earlier attempts already achieved (for example a Slack reply's ts)
    progress: Mapping[str, Any] = field(default_factory=dict)
    #: the periodic reminder of an alert that keeps firing
    repeat: bool = False


@dataclass(frozen=True)
class ThreadState:
    """The Slack thread of one group at one target."""

    channel: str
    ts: str
    head: Event
    head_key: str
    statuses: tuple[StatusLine, ...] = ()


@dataclass(frozen=True)
class Job:
    #: one delivery, or several of one group for senders that batch
    deliveries: tuple[Delivery, ...]
    thread: ThreadState | None = None
    #: persists progress of one delivery before a later step of the same attempt can fail
    checkpoint: Callable[[str, Mapping[str, Any]], None] = lambda key, progress: None

    @property
    def first(self) -> Delivery:
        return self.deliveries[0]


@dataclass(frozen=True)
class SendResult:
    #: stored with the delivered row(s), e.g. ``{"channel": ..., "ts": ...}``
    progress: Mapping[str, Any] = field(default_factory=dict)
    #: the new state of the group's thread, when there is one
    thread: ThreadState | None = None


class Sender(Protocol):
    #: whether deliveries of one group to one target are sent as one message
    batches: bool

    def send(self, job: Job) -> SendResult: ...
