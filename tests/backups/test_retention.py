"""Retention rules (pure): which snapshots a Volume's ``spec.backup.retention`` keeps."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from daemon.model.kinds import Retention
from daemon.policy.retention import has_rules, keep, reasons

NOW = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def snaps(*times: str) -> list[tuple[str, datetime]]:
    return [(f"s-{t}", at(t)) for t in times]


# --- examples ---------------------------------------------------------------------------------


def test_last_keeps_the_newest_n_whatever_the_input_order() -> None:
    given_snaps = snaps("2030-06-10T00:00", "2030-06-12T00:00", "2030-06-11T00:00", "2030-06-13T00:00")
    kept, pruned = keep(given_snaps, Retention(last=2), NOW)
    assert kept == ["s-2030-06-13T00:00", "s-2030-06-12T00:00"]
    assert pruned == ["s-2030-06-11T00:00", "s-2030-06-10T00:00"]


def test_daily_keeps_the_newest_snapshot_of_each_day() -> None:
    given_snaps = snaps(
        "2030-06-14T06:00", "2030-06-14T12:00", "2030-06-14T18:00", "2030-06-13T06:00", "2030-06-13T23:59"
    )
    kept, pruned = keep(given_snaps, Retention(daily=2), NOW)
    assert kept == ["s-2030-06-14T18:00", "s-2030-06-13T23:59"]
    assert set(pruned) == {"s-2030-06-14T06:00", "s-2030-06-14T12:00", "s-2030-06-13T06:00"}


def test_days_without_a_snapshot_do_not_count_like_restic() -> None:
    # A week of failed backups: daily=3 still keeps three days, the ones that have a snapshot.
    given_snaps = snaps("2030-06-14T00:00", "2030-06-05T00:00", "2030-06-04T00:00", "2030-06-03T00:00")
    kept, pruned = keep(given_snaps, Retention(daily=3), NOW)
    assert kept == ["s-2030-06-14T00:00", "s-2030-06-05T00:00", "s-2030-06-04T00:00"]
    assert pruned == ["s-2030-06-03T00:00"]


def test_weekly_uses_iso_weeks_monday_to_sunday() -> None:
    # 2030-06-09 is a Sunday: 06-03 to 06-09 is one ISO week, 06-10 starts the next one.
    given_snaps = snaps(
        "2030-06-10T01:00", "2030-06-09T23:00", "2030-06-08T10:00", "2030-06-03T00:00", "2030-06-02T00:00"
    )
    kept, _ = keep(given_snaps, Retention(weekly=2), NOW)
    assert kept == ["s-2030-06-10T01:00", "s-2030-06-09T23:00"]
    kept, pruned = keep(given_snaps, Retention(weekly=3), NOW)
    assert kept == ["s-2030-06-10T01:00", "s-2030-06-09T23:00", "s-2030-06-02T00:00"]
    assert pruned == ["s-2030-06-08T10:00", "s-2030-06-03T00:00"]


def test_iso_weeks_cross_the_new_year() -> None:
    # 2026-12-31 (Thursday) and 2027-01-03 (Sunday) are both in ISO week 53 of 2026.
    given_snaps = snaps("2027-01-03T00:00", "2026-12-31T00:00", "2026-12-27T00:00")
    kept, pruned = keep(given_snaps, Retention(weekly=2), NOW)
    assert kept == ["s-2027-01-03T00:00", "s-2026-12-27T00:00"]
    assert pruned == ["s-2026-12-31T00:00"]


def test_monthly_keeps_the_newest_of_each_month() -> None:
    given_snaps = snaps(
        "2030-06-01T00:00", "2030-05-31T23:00", "2030-05-01T00:00", "2030-04-30T00:00", "2030-01-15T00:00"
    )
    kept, pruned = keep(given_snaps, Retention(monthly=3), NOW)
    assert kept == ["s-2030-06-01T00:00", "s-2030-05-31T23:00", "s-2030-04-30T00:00"]
    assert pruned == ["s-2030-05-01T00:00", "s-2030-01-15T00:00"]


def test_rules_are_a_union_and_one_snapshot_may_serve_several() -> None:
    # Every six hours for 60 days, the platform example's policy.
    start = at("2030-04-17T00:00")
    given_snaps = [(f"s{i:03}", start + timedelta(hours=6 * i)) for i in range(240)]
    now = given_snaps[-1][1]
    why = reasons(given_snaps, Retention(last=4, daily=7, weekly=4, monthly=6), now)
    kept = {name: because for name, because in why.items() if because}
    # Worked out by hand (restic's forget keeps the same): the newest (Saturday 2030-06-15 18:00)
    # serves all four rules; the rest of that day fills `last`; Friday back to Sunday 06-09 are
    # the other daily ones, Sunday 06-09 also the end of ISO week 23; the ends of weeks 22 and 21;
    # the ends of May and April.
    assert kept == {
        "s239": ["last 1/4", "daily 1/7", "weekly 1/4", "monthly 1/6"],
        "s238": ["last 2/4"],
        "s237": ["last 3/4"],
        "s236": ["last 4/4"],
        "s235": ["daily 2/7"],
        "s231": ["daily 3/7"],
        "s227": ["daily 4/7"],
        "s223": ["daily 5/7"],
        "s219": ["daily 6/7"],
        "s215": ["daily 7/7", "weekly 2/4"],
        "s187": ["weekly 3/4"],
        "s159": ["weekly 4/4"],
        "s179": ["monthly 2/6"],
        "s055": ["monthly 3/6"],
    }
    assert given_snaps[215][1].strftime("%A %F") == "Sunday 2030-06-09"


def test_not_ready_snapshots_are_kept_and_do_not_take_a_place() -> None:
    given_snaps = snaps("2030-06-14T00:00", "2030-06-13T00:00", "2030-06-12T00:00")
    kept, pruned = keep(given_snaps, Retention(last=1), NOW, pending={"s-2030-06-14T00:00"})
    # The pending newest is kept, and the newest ready one too: a failed snapshot must not push
    # out the last good backup.
    assert kept == ["s-2030-06-14T00:00", "s-2030-06-13T00:00"]
    assert pruned == ["s-2030-06-12T00:00"]


def test_a_restore_source_is_never_pruned() -> None:
    given_snaps = snaps("2030-06-14T00:00", "2030-06-13T00:00", "2030-06-12T00:00")
    kept, pruned = keep(given_snaps, Retention(last=1), NOW, protected={"s-2030-06-12T00:00"})
    assert kept == ["s-2030-06-14T00:00", "s-2030-06-12T00:00"]
    assert pruned == ["s-2030-06-13T00:00"]
    # Protected snapshots still count for the rules: they are real backups.
    kept, pruned = keep(given_snaps, Retention(last=1), NOW, protected={"s-2030-06-14T00:00"})
    assert kept == ["s-2030-06-14T00:00"]


def test_snapshots_dated_after_now_are_kept() -> None:
    given_snaps = snaps("2030-06-16T00:00", "2030-06-15T00:00", "2030-06-14T00:00")
    why = reasons(given_snaps, Retention(last=1), NOW)
    assert why["s-2030-06-16T00:00"] == ["dated in the future", "last 1/1"]
    assert why["s-2030-06-14T00:00"] == []


def test_a_retention_without_rules_keeps_everything() -> None:
    given_snaps = snaps("2030-06-14T00:00", "2030-01-01T00:00")
    kept, pruned = keep(given_snaps, Retention(), NOW)
    assert kept == ["s-2030-06-14T00:00", "s-2030-01-01T00:00"]
    assert pruned == []


def test_nothing_in_nothing_out() -> None:
    assert keep([], Retention(last=3), NOW) == ([], [])


def test_periods_are_utc_whatever_the_offset_of_the_times() -> None:
    plus_two = timezone(timedelta(hours=2))
    # 01:00 at +02:00 is 23:00 UTC the day before: it shares that day with the 20:00 UTC one.
    given_snaps = [
        ("a", datetime(2030, 6, 14, 1, 0, tzinfo=plus_two)),
        ("b", datetime(2030, 6, 13, 20, 0, tzinfo=UTC)),
        ("c", datetime(2030, 6, 12, 20, 0)),  # naive: taken as UTC
    ]
    kept, pruned = keep(given_snaps, Retention(daily=5), NOW)
    assert kept == ["a", "c"]
    assert pruned == ["b"]


def test_equal_times_are_ordered_by_name() -> None:
    moment = at("2030-06-14T00:00")
    kept, pruned = keep([("b", moment), ("a", moment), ("c", moment)], Retention(last=1), NOW)
    assert kept == ["c"]
    assert pruned == ["b", "a"]


@pytest.mark.parametrize(
    "retention",
    [Retention(last=-1), Retention(daily=-1), Retention(weekly=-2), Retention(monthly=-3)],
)
def test_negative_counts_are_refused(retention: Retention) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        keep(snaps("2030-06-14T00:00"), retention, NOW)


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        keep([("a", NOW), ("a", NOW - timedelta(days=1))], Retention(last=1), NOW)


# --- properties ---------------------------------------------------------------------------------

EPOCH = datetime(2029, 1, 1, tzinfo=UTC)
counts = st.integers(min_value=0, max_value=6)
retentions = st.builds(Retention, last=counts, daily=counts, weekly=counts, monthly=counts)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[tuple[str, datetime]], set[str], set[str]]:
    """Snapshots over about two years (often several a day), and which are protected/pending."""
    minutes = draw(st.lists(st.integers(min_value=0, max_value=2 * 366 * 24 * 60), max_size=40))
    items = [(f"snap-{i:02}", EPOCH + timedelta(minutes=m)) for i, m in enumerate(minutes)]
    names = [n for n, _ in items]
    protected = set(draw(st.lists(st.sampled_from(names), max_size=3))) if names else set()
    pending = set(draw(st.lists(st.sampled_from(names), max_size=3))) if names else set()
    return items, protected, pending


def reference(
    items: list[tuple[str, datetime]], retention: Retention, now: datetime, protected: set[str], pending: set[str]
) -> set[str]:
    """A second, plainer statement of the rules: group by period, newest periods, newest each."""
    if not any((retention.last, retention.daily, retention.weekly, retention.monthly)):
        return {n for n, _ in items}
    kept = {n for n, t in items if n in protected or n in pending or t > now}
    ready = sorted(((t, n) for n, t in items if n not in pending), reverse=True)
    kept |= {n for _, n in ready[: retention.last]}
    rules: tuple[tuple[int, Callable[[datetime], object]], ...] = (
        (retention.daily, lambda t: (t.year, t.month, t.day)),
        (retention.weekly, lambda t: tuple(t.isocalendar())[:2]),
        (retention.monthly, lambda t: (t.year, t.month)),
    )
    for count, period in rules:
        newest: dict[object, tuple[datetime, str]] = {}
        for t, n in ready:
            newest[period(t)] = max(newest.get(period(t), (t, n)), (t, n))
        for key in sorted(newest, key=lambda k: newest[k], reverse=True)[:count]:
            kept.add(newest[key][1])
    return kept


@settings(max_examples=400, deadline=None)
@given(histories(), retentions, st.integers(min_value=0, max_value=2 * 366 * 24 * 60))
def test_keep_matches_a_plain_statement_of_the_rules(
    history: tuple[list[tuple[str, datetime]], set[str], set[str]], retention: Retention, now_minute: int
) -> None:
    items, protected, pending = history
    now = EPOCH + timedelta(minutes=now_minute)
    kept, pruned = keep(items, retention, now, protected=protected, pending=pending)
    assert set(kept) == reference(items, retention, now, protected, pending)
    # A partition of the input, without repeats.
    assert sorted(kept + pruned) == sorted(n for n, _ in items)
    assert not set(kept) & set(pruned)
    assert protected | pending <= set(kept)


@settings(max_examples=300, deadline=None)
@given(histories(), retentions)
def test_keep_is_idempotent_and_order_independent(
    history: tuple[list[tuple[str, datetime]], set[str], set[str]], retention: Retention
) -> None:
    items, protected, pending = history
    now = EPOCH + timedelta(days=800)
    kept, _ = keep(items, retention, now, protected=protected, pending=pending)
    # Pruning again what a prune kept deletes nothing more: no run ever undoes the previous one.
    survivors = [(n, t) for n, t in items if n in kept]
    assert keep(survivors, retention, now, protected=protected, pending=pending) == (kept, [])
    shuffled = list(items)
    random.Random(len(items)).shuffle(shuffled)
    assert keep(shuffled, retention, now, protected=protected, pending=pending)[0] == kept


@settings(max_examples=300, deadline=None)
@given(histories(), retentions, st.sampled_from(["last", "daily", "weekly", "monthly"]))
def test_a_longer_retention_never_prunes_more(
    history: tuple[list[tuple[str, datetime]], set[str], set[str]], retention: Retention, rule: str
) -> None:
    # From no rule at all (keep everything) to one rule is the one step that prunes more.
    assume(has_rules(retention))
    items, protected, pending = history
    now = EPOCH + timedelta(days=800)
    kept, _ = keep(items, retention, now, protected=protected, pending=pending)
    longer = Retention(**{**retention.__dict__, rule: getattr(retention, rule) + 1})
    kept_longer, _ = keep(items, longer, now, protected=protected, pending=pending)
    assert set(kept) <= set(kept_longer)


@settings(max_examples=300, deadline=None)
@given(histories(), retentions)
def test_the_newest_ready_snapshot_survives_any_rule(
    history: tuple[list[tuple[str, datetime]], set[str], set[str]], retention: Retention
) -> None:
    items, protected, pending = history
    ready = sorted(((t, n) for n, t in items if n not in pending), reverse=True)
    kept, _ = keep(items, retention, EPOCH + timedelta(days=800), protected=protected, pending=pending)
    if ready:
        assert ready[0][1] in kept
    # Each kept snapshot is kept for a reason that can be named.
    why = reasons(items, retention, EPOCH + timedelta(days=800), protected=protected, pending=pending)
    assert all(why[name] for name in kept)
