"""Sync windows: may a tenant's changes be applied now?

A window opens at each time its cron schedule fires (in its time zone) and stays open for its
duration. Changes to a tenant are applied when no ``deny`` window covering the tenant is open and,
if any ``allow`` window covers the tenant, one of them is open. Outside, changes are planned and
announced, and applied when the window opens. The clock is always passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from apscheduler.triggers.cron import CronTrigger

from daemon.model.kinds import Autoscaling, ScaleSchedule, SyncWindow


@dataclass(frozen=True)
class WindowDecision:
    allowed: bool
    reason: str
    next_open: datetime | None = None


def _applies(window: SyncWindow, tenant: str) -> bool:
    return any(fnmatchcase(tenant, pattern) for pattern in window.tenants)


def _trigger(schedule: str, timezone: str) -> CronTrigger:
    return CronTrigger.from_crontab(schedule, timezone=timezone)


def cron_window_open(schedule: str, duration_seconds: int, timezone: str, now: datetime) -> bool:
    """True when a window that opens at each firing of ``schedule`` and lasts ``duration_seconds``
    covers ``now``."""
    # The first firing after (now - duration) is the start of the window that covers now, if any;
    # windows are half-open, [start, start + duration), hence the microsecond.
    earliest = now - timedelta(seconds=duration_seconds) + timedelta(microseconds=1)
    start = _trigger(schedule, timezone).get_next_fire_time(None, earliest)
    return start is not None and start <= now


def is_open(window: SyncWindow, now: datetime) -> bool:
    return cron_window_open(window.schedule, window.duration_seconds, window.timezone, now)


def next_opening(window: SyncWindow, now: datetime) -> datetime | None:
    fire: datetime | None = _trigger(window.schedule, window.timezone).get_next_fire_time(None, now)
    return fire


def active_scale_schedules(autoscalings: Iterable[Autoscaling], now: datetime) -> dict[tuple[str, str], ScaleSchedule]:
    """For each Autoscaling (by tenant and name) the scheduled scaling in force now, if any.

    When several schedules of one Autoscaling overlap, the one asking for the most replicas wins:
    a schedule exists to guarantee capacity, never to take it away.
    """
    active: dict[tuple[str, str], ScaleSchedule] = {}
    for scaling in autoscalings:
        open_now = [s for s in scaling.schedules if cron_window_open(s.cron, s.duration_seconds, s.timezone, now)]
        if open_now:
            active[(scaling.tenant, scaling.name)] = max(
                open_now, key=lambda s: (s.min_replicas or 0, s.max_replicas or 0)
            )
    return active


def decide(windows: Sequence[SyncWindow], tenant: str, now: datetime) -> WindowDecision:
    relevant = [w for w in windows if _applies(w, tenant)]
    for window in relevant:
        if window.action == "deny" and is_open(window, now):
            return WindowDecision(False, f"deny window '{window.schedule}' ({window.timezone}) is open")
    allows = [w for w in relevant if w.action == "allow"]
    if not allows:
        return WindowDecision(True, "no sync window restricts it")
    if any(is_open(w, now) for w in allows):
        return WindowDecision(True, "an allow window is open")
    openings = [t for t in (next_opening(w, now) for w in allows) if t is not None]
    next_open = min(openings) if openings else None
    return WindowDecision(False, "outside its allow windows", next_open)


def blocked_tenants(windows: Sequence[SyncWindow], tenants: Iterable[str], now: datetime) -> dict[str, WindowDecision]:
    """The tenants whose changes must wait now, with the reason for each."""
    result = {}
    for tenant in tenants:
        decision = decide(windows, tenant, now)
        if not decision.allowed:
            result[tenant] = decision
    return result


def held_tenants(
    tenants: Iterable[str],
    *,
    paused: frozenset[str],
    windows: Sequence[SyncWindow],
    now: datetime,
    ignore_windows: bool = False,
) -> dict[str, WindowDecision]:
    """The tenants (among those with changes) whose changes wait: paused ones, then those outside
    their sync windows. ``"*"`` pauses everything: every tenant, those added later, and the
    platform-level objects (tenant ``""``). The daemon and ``dockyard apply`` decide alike."""
    changed = sorted(set(tenants))
    held = {t: WindowDecision(False, "paused") for t in sorted(changed if "*" in paused else paused)}
    if not ignore_windows:
        for tenant, decision in blocked_tenants(windows, changed, now).items():
            held.setdefault(tenant, decision)
    return held
