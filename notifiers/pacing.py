"""No spam: deduplication, repeat intervals, one resolved message, and per-target pacing.

The decisions here are pure functions of (signal, previous state, now); the outbox stores the
state per (target, alert identity) in the same transaction as the delivery it decides about, so
they survive restarts.

* An alert's identity is ``(kind, details["alert"], tenant, app)``; its fingerprint adds the
  summary. The pairs are ``daemon.model.events.PAIRED_EVENTS`` (``alert.firing``/``alert.resolved``,
  ``health.degraded``/``health.recovered``, the cluster's and Dockyard's own problems).
* A firing alert identical to the last one sent to a target is not sent again before
  ``repeat_interval`` has passed (then once more, marked as a reminder).
* After it was resolved, an identical alert firing again within ``dedup_window`` of the last
  firing message is held back (flapping), and so is the resolved message that would follow it.
* A resolved message is sent only if a firing message went out since the last resolved one:
  exactly one resolved message per notified firing.
* Any other event of severity warning or above that is identical (name, tenant, app, summary,
  commit) to one sent to the same target within ``dedup_window`` is dropped. Info events are
  never dropped: each of them tells something new.
* :class:`RateGate` keeps at most one message per ``min_interval`` per target and holds a target
  back for as long as its server asked (HTTP 429 ``Retry-After``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from daemon.model.events import PAIRED_EVENTS, SEVERITY_RANK, Event

_RESOLVING = {resolved: firing for firing, resolved in PAIRED_EVENTS.items()}


@dataclass(frozen=True)
class PacingPolicy:
    dedup_window: float = 300.0
    repeat_interval: float = 4 * 3600.0
    #: seconds between two messages to one target (Slack allows about one per second per channel)
    min_interval: float = 1.0


@dataclass(frozen=True)
class Signal:
    kind: Literal["firing", "resolved", "plain"]
    ident: str
    fingerprint: str


@dataclass(frozen=True)
class PaceState:
    fingerprint: str
    #: a firing message went out and its resolved message has not
    open: bool
    last_sent: float


@dataclass(frozen=True)
class Decision:
    send: bool
    state: PaceState | None
    reason: str = ""
    #: the alert kept firing and this is the periodic reminder
    repeat: bool = False


def _digest(*parts: str | None) -> str:
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:24]


def signal_for(event: Event) -> Signal | None:
    """What pacing knows about an event; ``None`` when it is never deduplicated."""
    if event.name in PAIRED_EVENTS or event.name in _RESOLVING:
        firing = event.name if event.name in PAIRED_EVENTS else _RESOLVING[event.name]
        alert = str(event.details.get("alert", "") or "")
        ident = "pair:" + _digest(firing, alert, event.tenant, event.app)
        kind: Literal["firing", "resolved"] = "firing" if event.name in PAIRED_EVENTS else "resolved"
        return Signal(kind, ident, _digest(ident, event.summary))
    if SEVERITY_RANK.get(event.severity, 0) < SEVERITY_RANK["warning"]:
        return None
    sha = event.commit.sha if event.commit else ""
    fingerprint = _digest(event.name, event.tenant, event.app, event.summary, sha)
    return Signal("plain", "plain:" + fingerprint, fingerprint)


def decide(signal: Signal, state: PaceState | None, now: float, policy: PacingPolicy) -> Decision:
    if signal.kind == "resolved":
        if state is None or not state.open:
            return Decision(False, state, "no firing message is open")
        return Decision(True, PaceState(state.fingerprint, open=False, last_sent=state.last_sent))
    if state is not None and state.fingerprint == signal.fingerprint:
        if signal.kind == "firing" and state.open:
            if now - state.last_sent < policy.repeat_interval:
                return Decision(False, state, "still firing, repeat interval not reached")
            return Decision(True, PaceState(signal.fingerprint, True, now), repeat=True)
        if now - state.last_sent < policy.dedup_window:
            return Decision(False, state, "duplicate within the dedup window")
    return Decision(True, PaceState(signal.fingerprint, open=signal.kind == "firing", last_sent=now))


class RateGate:
    """Per-target earliest time of the next message. Not thread-safe: one dispatcher owns it."""

    def __init__(self, min_interval: float) -> None:
        self._min_interval = min_interval
        self._free_at: dict[str, float] = {}

    def free_at(self, target_key: str) -> float:
        return self._free_at.get(target_key, 0.0)

    def is_free(self, target_key: str, now: float) -> bool:
        return self.free_at(target_key) <= now

    def sent(self, target_key: str, now: float) -> None:
        self._free_at[target_key] = max(self.free_at(target_key), now + self._min_interval)

    def hold(self, target_key: str, until: float) -> None:
        self._free_at[target_key] = max(self.free_at(target_key), until)
