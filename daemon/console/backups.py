"""A Volume's backup chain as people read it (pure): snapshots on a timeline, why each is kept,
what the next prune removes, and which ones a restore may use.

The judgement is the daemon's own: :func:`daemon.policy.retention.reasons` says why each
snapshot stays (``last 2/4``, ``daily 1/7``...), with the same "not ready" and "restore source"
protections :class:`daemon.engine.backups.BackupManager` applies when it prunes. "The next prune"
is the one after the next scheduled backup: that backup is added to the chain as the newest ready
snapshot, and what the rules would then drop is what goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from apscheduler.triggers.cron import CronTrigger

from daemon.engine.backups import ANNOUNCED_ANNOTATION, TIME_ANNOTATION
from daemon.model.kinds import PlatformModel, Volume
from daemon.model.labels import VOLUME_LABEL
from daemon.policy.retention import as_utc, has_rules, keep, reasons
from daemon.render.storage import claim_name, restore_source

__all__ = ["Snapshot", "VolumeChain", "chain_of", "chains"]

SnapshotState = Literal["ready", "pending", "failed", "deleting"]
_NEXT = "\x00next-backup"  # a name no VolumeSnapshot can have


@dataclass(frozen=True)
class Snapshot:
    name: str
    taken: datetime | None
    state: SnapshotState
    error: str
    size: str  # the restore size the snapshotter reported, "" until it does
    kept_by: tuple[str, ...]  # why retention keeps it; empty: the running prune removes it
    restore_source: bool  # a Volume's spec.restore.snapshot names it

    @property
    def classes(self) -> tuple[str, ...]:
        """The retention classes that keep it (last, daily, weekly, monthly)."""
        return tuple(dict.fromkeys(r.split(" ", 1)[0] for r in self.kept_by if r.split(" ", 1)[0] in _CLASSES))

    @property
    def restorable(self) -> bool:
        return self.state == "ready"


_CLASSES = ("last", "daily", "weekly", "monthly")


@dataclass(frozen=True)
class VolumeChain:
    tenant: str
    volume: str
    claim: str  # the claim the apps mount now
    schedule: str
    retention: str  # e.g. "last 4, daily 7, weekly 4, monthly 6"
    snapshots: tuple[Snapshot, ...]  # newest first
    next_backup: datetime | None
    #: what the prune after the next backup removes (newest first)
    next_prune: tuple[str, ...]
    #: what the prune removes now (normally empty: the daemon prunes every minute)
    prunable_now: tuple[str, ...]
    restoring_from: str | None  # the snapshot the Volume is restored from, if any
    claim_phase: str  # of the mounted claim: Bound, Pending, or "" when it does not exist


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _snapshot_facts(obj: Mapping[str, Any]) -> tuple[str, datetime | None, SnapshotState, str, str]:
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    status = obj.get("status") or {}
    error = status.get("error") or {}
    message = str(error.get("message") or "") if isinstance(error, Mapping) else ""
    taken = _time(annotations.get(TIME_ANNOTATION)) or _time(meta.get("creationTimestamp"))
    state: SnapshotState
    if meta.get("deletionTimestamp"):
        state = "deleting"
    elif status.get("readyToUse") is True:
        state = "ready"
    elif message or annotations.get(ANNOUNCED_ANNOTATION) == "failed":
        state = "failed"
        message = message or "not ready in time"
    else:
        state = "pending"
    return str(meta.get("name", "")), taken, state, message, str(status.get("restoreSize") or "")


def _retention_text(volume: Volume) -> str:
    if volume.backup is None:
        return ""
    r = volume.backup.retention
    if not has_rules(r):
        return "keep everything (no rule)"
    return ", ".join(
        f"{name} {count}" for name, count in zip(_CLASSES, (r.last, r.daily, r.weekly, r.monthly), strict=True) if count
    )


def _next_fire(schedule: str, after: datetime) -> datetime | None:
    fire: datetime | None = CronTrigger.from_crontab(schedule, timezone="UTC").get_next_fire_time(None, after)
    return fire


def chain_of(
    model: PlatformModel,
    volume: Volume,
    objects: Iterable[Mapping[str, Any]],
    claims: Mapping[tuple[str, str], Mapping[str, Any]],
    now: datetime,
) -> VolumeChain:
    """The chain of ``volume`` from its VolumeSnapshots among ``objects`` (any others are ignored)."""
    now = as_utc(now)
    facts = [
        _snapshot_facts(o)
        for o in objects
        if (o.get("metadata") or {}).get("namespace") == volume.tenant
        and ((o.get("metadata") or {}).get("labels") or {}).get(VOLUME_LABEL) == volume.name
    ]
    live = [f for f in facts if f[2] != "deleting"]
    protected = {str(restore_source(v)) for v in model.volumes_of(volume.tenant) if v.restore_snapshot}
    pending = {name for name, taken, state, _, _ in live if state != "ready" or taken is None}
    dated = [(name, taken or now) for name, taken, _, _, _ in live]
    retention = volume.backup.retention if volume.backup else None
    why: dict[str, list[str]] = {}
    prunable: list[str] = []
    next_prune: list[str] = []
    next_backup = None
    if retention is not None and volume.backup is not None:
        why = reasons(dated, retention, now, protected=protected, pending=pending)
        _, prunable = keep(dated, retention, now, protected=protected, pending=pending)
        times = [t for _, t in dated]
        after = max(times) if times else now
        next_backup = _next_fire(volume.backup.schedule, max(after, now))
        if next_backup is not None:
            later = [*dated, (_NEXT, next_backup)]
            _, dropped = keep(later, retention, next_backup, protected=protected, pending=pending)
            next_prune = [n for n in dropped if n != _NEXT and n not in prunable]
    ordered = sorted(facts, key=lambda f: (f[1] or now, f[0]), reverse=True)
    snapshots = tuple(
        Snapshot(
            name=name,
            taken=taken,
            state=state,
            error=error,
            size=size,
            kept_by=tuple(why.get(name, ())),
            restore_source=name in protected,
        )
        for name, taken, state, error, size in ordered
    )
    claim = claims.get((volume.tenant, claim_name(volume))) or {}
    return VolumeChain(
        tenant=volume.tenant,
        volume=volume.name,
        claim=claim_name(volume),
        schedule=volume.backup.schedule if volume.backup else "",
        retention=_retention_text(volume),
        snapshots=snapshots,
        next_backup=next_backup,
        next_prune=tuple(next_prune),
        prunable_now=tuple(prunable),
        restoring_from=volume.restore_snapshot,
        claim_phase=str((claim.get("status") or {}).get("phase") or ""),
    )


def chains(
    model: PlatformModel,
    tenants: Iterable[str],
    objects: Sequence[Mapping[str, Any]],
    claims: Mapping[tuple[str, str], Mapping[str, Any]],
    now: datetime,
) -> list[VolumeChain]:
    """The chain of every Volume of ``tenants`` (those without backups too: they may be restored
    from a snapshot taken before their backup was turned off), in tenant and name order."""
    wanted = set(tenants)
    return [
        chain_of(model, v, objects, claims, now)
        for v in sorted(model.volumes, key=lambda v: (v.tenant, v.name))
        if v.tenant in wanted
    ]


def timeline_span(chain: VolumeChain, now: datetime) -> tuple[datetime, datetime]:
    """The time axis of a chain's timeline: its oldest snapshot (or a day ago) to the next backup."""
    times = [s.taken for s in chain.snapshots if s.taken is not None]
    start = min(times) if times else now - timedelta(days=1)
    end = max([now, *([chain.next_backup] if chain.next_backup else [])])
    if end - start < timedelta(hours=1):
        start = end - timedelta(hours=1)
    return start, end
