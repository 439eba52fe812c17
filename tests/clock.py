"""The one fake clock of the test suite: time that moves only when a test moves it.

Code under test takes its clock as a callable; hand it the reading it expects:
``clock.wall`` (an aware datetime, for windows, schedules, backups, alerts), ``clock.unix``
(seconds since the epoch, for leases and the outbox) or ``clock.monotonic`` (for backoff and
caches).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    def __init__(self, start: datetime | float = datetime(2030, 1, 1, tzinfo=UTC)) -> None:
        self._now = start if isinstance(start, datetime) else datetime.fromtimestamp(start, UTC)
        self._monotonic = 1000.0

    def wall(self) -> datetime:
        return self._now

    def unix(self) -> float:
        return self._now.timestamp()

    def monotonic(self) -> float:
        return self._monotonic

    def set(self, when: datetime) -> None:
        """Jumps to ``when`` (monotonic time only moves forward, by the same amount if later)."""
        if when > self._now:
            self._monotonic += (when - self._now).total_seconds()
        self._now = when

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds
