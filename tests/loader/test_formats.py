"""Durations, quantities, cron expressions and time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from apscheduler.triggers.cron import CronTrigger

from daemon.loader import formats
from daemon.model.quantity import parse_quantity


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("6h", 21600), ("1h30m", 5400), ("1d", 86400), ("0s", 0), ("2d3h4m5s", 183845)],
)
def test_durations(text: str, seconds: int) -> None:
    assert formats.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5", "", "m", "5 m", "1.5h", "30m1h", "-5m", "5M", "PT5M"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        formats.parse_duration(text)


@pytest.mark.parametrize(
    ("text", "suggestion"), [("300", "300s"), ("5 min", "5m"), ("2 hours", "2h"), ("1h 30min", "1h30m"), ("soon", None)]
)
def test_duration_suggestions(text: str, suggestion: str | None) -> None:
    assert formats.suggest_duration(text) == suggestion


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250m", Decimal("0.25")),
        ("2", Decimal(2)),
        ("1Gi", Decimal(2**30)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
        ("0.5", Decimal("0.5")),
        (3, Decimal(3)),
    ],
)
def test_quantities(text: str | int, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["1 core", "512MB", "1gi", "-1", "Gi"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity(text)


def test_quantity_suggestions() -> None:
    assert formats.suggest_quantity("512MB") == "512M (powers of 1000) or 512Mi (powers of 1024)"
    assert formats.suggest_quantity("1gib") == "1Gi"
    assert formats.suggest_quantity("lots") is None


@pytest.mark.parametrize(
    "expression",
    ["0 */6 * * *", "0 22 * * *", "0 8 * * 1-5", "*/15 9-17 * * mon-fri", "0 0 1 jan,jul *", "0 0 * * 7", "@daily"],
)
def test_valid_cron(expression: str) -> None:
    formats.check_cron(expression)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 */6 * *", "expected 5 fields"),
        ("60 * * * *", "minute: 60 is out of range 0-59"),
        ("0 24 * * *", "hour: 24 is out of range 0-23"),
        ("0 0 0 * *", "day of month: 0 is out of range 1-31"),
        ("0 0 * 13 *", "month: 13 is out of range 1-12"),
        ("0 0 * * 8", "day of week: 8 is out of range 0-7"),
        ("0 0 * * funday", "day of week: 'funday' is not a number or a name"),
        ("*/0 * * * *", "step '0' must be a positive number"),
        ("0 5-1 * * *", "runs backwards"),
        ("@sometimes", "unknown macro"),
    ],
)
def test_invalid_cron(expression: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        formats.check_cron(expression)


def _fire_days(expression: str) -> set[str]:
    trigger = CronTrigger.from_crontab(formats.normalize_cron(expression), timezone="UTC")
    now, days = datetime(2024, 1, 1, tzinfo=UTC), set()  # a Monday
    for _ in range(7):
        fired = trigger.get_next_fire_time(None, now)
        assert fired is not None
        days.add(fired.strftime("%a"))
        now = fired + timedelta(hours=1)
    return days


@pytest.mark.parametrize(
    ("expression", "normalized", "days"),
    [
        ("0 8 * * 1-5", "0 8 * * mon-fri", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("0 8 * * 0", "0 8 * * sun", {"Sun"}),
        ("0 8 * * 7", "0 8 * * sun", {"Sun"}),
        ("0 8 * * 5-7", "0 8 * * fri-sat,sun", {"Fri", "Sat", "Sun"}),
        ("@weekly", "0 0 * * sun", {"Sun"}),
        ("0 8 * * *", "0 8 * * *", {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}),
    ],
)
def test_normalized_cron_means_the_same_to_apscheduler(expression: str, normalized: str, days: set[str]) -> None:
    """APScheduler 3 counts weekdays from Monday = 0; the model's names avoid that trap."""
    assert formats.normalize_cron(expression) == normalized
    assert _fire_days(expression) == days


def test_time_zones() -> None:
    assert formats.is_timezone("Europe/Berlin")
    assert formats.is_timezone("UTC")
    assert not formats.is_timezone("Europe/Berln")
    assert not formats.is_timezone("../../etc/passwd")
    assert formats.suggest_timezone("Europe/Berln") == "Europe/Berlin"
    assert formats.suggest_timezone("asia/shanghai") == "Asia/Shanghai"


def test_dns_label_suggestions() -> None:
    assert formats.suggest_dns_label("Orders_DB") == "orders-db"
    assert formats.suggest_dns_label("orders-db") is None
