"""Snapshot names: the volume and the UTC minute, whatever the clock's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from daemon.engine.backups import snapshot_name


def test_snapshot_names_carry_the_utc_minute() -> None:
    assert snapshot_name("data", datetime(2030, 1, 2, 3, 4, 59, 999999, tzinfo=UTC)) == "data-203001020304"
    shanghai = timezone(timedelta(hours=8))
    assert snapshot_name("data", datetime(2030, 1, 2, 3, 4, tzinfo=shanghai)) == "data-203001011904"
    # Names sort as the snapshots were taken.
    times = [datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=m) for m in (0, 9, 10, 600, 60 * 24 * 40)]
    names = [snapshot_name("orders-data", t) for t in times]
    assert names == sorted(names)
