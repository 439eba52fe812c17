"""Which backups to keep (pure): the retention rules of a Volume's ``spec.backup.retention``.

The rules work like ``restic forget`` / ``borg prune``. Snapshots are taken newest first:

* ``last: N`` keeps the N newest snapshots;
* ``daily: N`` keeps the newest snapshot of each of the N most recent days that have one,
  ``weekly`` the same per ISO week, ``monthly`` per calendar month (all in UTC, the time zone
  of backup schedules and snapshot names).

A snapshot kept by any rule stays, and one snapshot may satisfy several rules at once. Periods
without a snapshot do not count: after a week of failed backups, ``daily: 7`` still keeps seven
daily snapshots, the older ones, rather than none.

Some snapshots are kept whatever the rules say and are not counted by them:

* a snapshot that is not ready yet (or failed): it holds no usable backup, so it must not take
  the place of one that does, and deleting it could hide a problem or cancel a slow snapshot;
* a snapshot that a Volume's ``spec.restore.snapshot`` names: it is the source of a restore
  (it is counted by the rules too, since it is a real backup);
* a snapshot dated after ``now``: the clocks disagree, and a snapshot we cannot place in time is
  not one we can judge.

A retention without any rule (every count 0, the default) keeps everything, as ``restic forget``
does without a policy: pruning every snapshot because the user wrote only a schedule would turn a
backup setting into a deletion.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from datetime import UTC, datetime

from daemon.model.kinds import Retention

#: How each periodic rule buckets a snapshot's UTC time.
_PERIODS: tuple[tuple[str, Callable[[datetime], Hashable]], ...] = (
    ("daily", lambda t: t.date()),
    ("weekly", lambda t: t.isocalendar()[:2]),
    ("monthly", lambda t: (t.year, t.month)),
)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive time is taken to be UTC already (Kubernetes times are)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def has_rules(retention: Retention) -> bool:
    return any(count > 0 for count in (retention.last, retention.daily, retention.weekly, retention.monthly))


def reasons(
    snapshots: Iterable[tuple[str, datetime]],
    retention: Retention,
    now: datetime,
    *,
    protected: Collection[str] = (),
    pending: Collection[str] = (),
) -> dict[str, list[str]]:
    """Why each snapshot stays: every snapshot name, mapped to its reasons (empty: prune it).

    ``protected`` names restore sources, ``pending`` the snapshots that are not ready to use.
    """
    for rule, count in _counts(retention):
        if count < 0:
            raise ValueError(f"retention.{rule} must not be negative, got {count}")
    items = [(name, as_utc(created)) for name, created in snapshots]
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        raise ValueError("snapshot names must be unique")
    now = as_utc(now)
    why: dict[str, list[str]] = {name: [] for name in names}
    for name, created in items:
        if name in pending:
            why[name].append("not ready")
        if name in protected:
            why[name].append("restore source")
        if created > now:
            why[name].append("dated in the future")
    if not has_rules(retention):
        for name in names:
            why[name].append("no retention rule")
        return why
    # Newest first; the name breaks ties so equal times always give the same answer.
    ready = sorted(((n, t) for n, t in items if n not in pending), key=lambda s: (s[1], s[0]), reverse=True)
    for index, (name, _) in enumerate(ready[: retention.last]):
        why[name].append(f"last {index + 1}/{retention.last}")
    for rule, bucket in _PERIODS:
        count = getattr(retention, rule)
        periods: list[Hashable] = []
        for name, created in ready:
            period = bucket(created)
            # Sorted newest first, so a snapshot of the current period is never newer than the
            # one already kept for it: only the first of each period is a candidate.
            if periods and periods[-1] == period:
                continue
            if len(periods) == count:
                break
            periods.append(period)
            why[name].append(f"{rule} {len(periods)}/{count}")
    return why


def keep(
    snapshots: Sequence[tuple[str, datetime]],
    retention: Retention,
    now: datetime,
    *,
    protected: Collection[str] = (),
    pending: Collection[str] = (),
) -> tuple[list[str], list[str]]:
    """``(keep, prune)``: the names of ``snapshots`` (name, creation time) to keep and to delete,
    each newest first. See the module documentation for the rules."""
    why = reasons(snapshots, retention, now, protected=protected, pending=pending)
    ordered = [name for name, _ in sorted(snapshots, key=lambda s: (as_utc(s[1]), s[0]), reverse=True)]
    return [n for n in ordered if why[n]], [n for n in ordered if not why[n]]


def _counts(retention: Retention) -> tuple[tuple[str, int], ...]:
    return (
        ("last", retention.last),
        ("daily", retention.daily),
        ("weekly", retention.weekly),
        ("monthly", retention.monthly),
    )
