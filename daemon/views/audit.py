"""What the daemon says when the audit trail's retention removes records (pure)."""

from __future__ import annotations

from datetime import datetime

from daemon.model.audit import HistoryRecord, new_record_id
from daemon.model.events import Event
from daemon.model.kinds import AuditSettings


def audit_pruned(removed: int, days: tuple[str, ...], audit: AuditSettings) -> Event:
    first, last = days[0], days[-1]
    span = first if first == last else f"{first} to {last}"
    return Event.make(
        "audit.pruned",
        f"The audit trail's retention ({audit.retention_days} days, {audit.retention_records} records) removed "
        f"{removed} record(s) of {span}.",
        details={"records": removed, "days": list(days), "retentionDays": audit.retention_days},
        group="audit",
    )


def audit_pruned_record(removed: int, days: tuple[str, ...], now: datetime) -> HistoryRecord:
    return HistoryRecord(
        id=new_record_id(now.timestamp()),
        kind="audit",
        started=now.isoformat(),
        finished=now.isoformat(),
        revision="",
        author="",
        message=f"retention removed {removed} record(s) of {len(days)} day(s)",
        trigger="retention",
        result="succeeded",
        counts={"removed": removed},
        changes=[f"day {d}" for d in days],
    )
