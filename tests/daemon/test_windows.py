"""Sync windows and scheduled scaling windows (pure: the clock is an argument)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from daemon.model.kinds import Autoscaling, ScaleSchedule, SyncWindow
from daemon.model.refs import Metadata, SourceRef
from daemon.policy.windows import active_scale_schedules, cron_window_open, decide

MONDAY_21 = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [(at(21, 59), False), (at(22, 0), True), (at(23, 59), True), (at(0, 0, day=3), False)],
)
def test_a_window_is_open_from_its_firing_for_its_duration(now: datetime, expected: bool) -> None:
    assert cron_window_open("0 22 * * *", 2 * 3600, "UTC", now) is expected


def test_time_zones_are_honoured() -> None:
    # 22:00 in Shanghai is 14:00 UTC.
    assert cron_window_open("0 22 * * *", 3600, "Asia/Shanghai", at(14, 30))
    assert not cron_window_open("0 22 * * *", 3600, "Asia/Shanghai", at(22, 30))


def test_deny_wins_over_allow_and_only_named_tenants_are_restricted() -> None:
    windows = (
        SyncWindow("0 20 * * *", 4 * 3600, "UTC", "allow", ("shop",)),
        SyncWindow("30 20 * * *", 3600, "UTC", "deny", ("*",)),
    )
    assert decide(windows, "shop", at(20, 10)).allowed
    denied = decide(windows, "shop", at(20, 45))
    assert not denied.allowed and "deny window" in denied.reason
    outside = decide(windows, "shop", at(12))
    assert not outside.allowed and outside.next_open == at(20)
    assert decide(windows, "analytics", at(12)).allowed  # no allow window names it
    assert not decide(windows, "analytics", at(20, 45)).allowed  # the deny window names everyone


def scaling(*schedules: ScaleSchedule) -> Autoscaling:
    return Autoscaling(Metadata("etl"), SourceRef("a.yaml"), "analytics", "etl", 1, 4, schedules=schedules)


def test_the_scale_schedule_in_force_is_found_with_weekdays_and_time_zone() -> None:
    nightly = ScaleSchedule("0 1 * * mon-fri", 4 * 3600, min_replicas=3, timezone="Europe/Berlin")
    auto = scaling(nightly)
    # Tuesday 01:30 in Berlin is 00:30 UTC; Saturday is not a weekday.
    assert active_scale_schedules([auto], datetime(2026, 3, 3, 0, 30, tzinfo=UTC)) == {("analytics", "etl"): nightly}
    assert active_scale_schedules([auto], datetime(2026, 3, 7, 0, 30, tzinfo=UTC)) == {}
    assert active_scale_schedules([auto], datetime(2026, 3, 3, 5, 30, tzinfo=UTC)) == {}


def test_overlapping_schedules_keep_the_larger_capacity() -> None:
    small = ScaleSchedule("0 * * * *", 3600, min_replicas=2)
    large = ScaleSchedule("0 * * * *", 3600, min_replicas=5, max_replicas=8)
    assert active_scale_schedules([scaling(small, large)], MONDAY_21)[("analytics", "etl")] == large
