"""What a reconcile cycle tells people: the events it emits and the audit record it writes.

Pure functions of the cycle's facts; the reconciler decides *when* to say something, this module
says *what*. Keeping the wording here keeps the cycle a short script and lets the messages be
read (and changed) in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from daemon.model.audit import HistoryKind, HistoryRecord, HistoryResult
from daemon.model.events import CommitInfo, Event
from daemon.model.refs import Revision
from daemon.policy.canary import CanaryChange
from daemon.policy.diff import Change
from daemon.policy.plan import ApplyResult

#: Lists inside one event stop here; the counts stay exact.
MAX_CHANGES_IN_EVENT = 30


def commit_of(revision: Revision) -> CommitInfo:
    return CommitInfo(sha=revision.sha, author=revision.author, message=revision.message)


def describe_change(change: Change) -> str:
    return f"{change.reason.removeprefix('was ') or change.action} {change.ref}"


def last_good(revision: Revision | None) -> str:
    return f"revision {revision.sha[:8]}" if revision else "the current cluster state"


def fetch_failed(message: str, source: str) -> Event:
    return Event.make(
        "sync.failed",
        f"Cannot fetch the platform repo; the last good revision stays applied: {message}",
        details={"stage": "fetch", "source": source},
        group="fetch",
    )


def invalid_commit(revision: Revision, errors: Sequence[str], applied: Revision | None) -> Event:
    return Event.make(
        "validation.failed",
        f"Commit {revision.sha[:8]} by {revision.author or 'unknown'} is invalid and was not applied "
        f"({len(errors)} error(s)); {last_good(applied)} stays applied.",
        commit=commit_of(revision),
        errors=tuple(errors),
        group=f"sync-{revision.sha}",
        details={"errors": len(errors)},
    )


def changes_wait(
    revision: Revision,
    deferred: Sequence[Change],
    tenants: Sequence[str],
    reasons: Mapping[str, str],
    next_open: datetime | None,
) -> Event:
    when = f"; the next window opens {next_open.isoformat()}" if next_open else ""
    return Event.make(
        "sync.skipped",
        f"{len(deferred)} change(s) of {revision.sha[:8]} wait for their sync window "
        f"({', '.join(t or 'platform' for t in tenants)}){when}.",
        commit=commit_of(revision),
        group=f"sync-{revision.sha}",
        details={
            "tenants": dict(reasons),
            "changes": [describe_change(c) for c in deferred[:MAX_CHANGES_IN_EVENT]],
            "nextOpen": next_open.isoformat() if next_open else None,
        },
    )


def scheduled_scaling(revision: Revision, tenant: str, app: str, before: str, after: str) -> Event:
    return Event.make(
        "scaling.succeeded",
        f"Scheduled scaling of {tenant}/{app}: replicas {before} → {after}.",
        tenant=tenant,
        app=app,
        commit=commit_of(revision),
        details={"before": before, "after": after, "reason": "schedule"},
    )


def canary_ended(revision: Revision, change: CanaryChange) -> Event:
    where = f"{change.tenant}/{change.app}"
    if change.outcome == "promoted":
        summary = f"Canary of {where} promoted: {change.image} now serves all of its traffic."
    else:
        summary = f"Canary of {where} aborted: {change.canary_image} removed, {change.image} serves all of its traffic."
    return Event.make(
        f"canary.{change.outcome}",
        summary,
        tenant=change.tenant,
        app=change.app,
        commit=commit_of(revision),
        details={"canaryImage": change.canary_image, "image": change.image},
    )


def prune_held(revision: Revision, reason: str, held: Sequence[str]) -> Event:
    return Event.make(
        "prune.blocked",
        reason,
        commit=commit_of(revision),
        group=f"sync-{revision.sha}",
        details={"held": list(held[:MAX_CHANGES_IN_EVENT])},
    )


def apply_counts(result: ApplyResult) -> dict[str, int]:
    ok = [r for r in result.results if r.ok]
    return {
        "applied": sum(1 for r in ok if r.action in ("create", "update")),
        "created": sum(1 for r in ok if r.action == "create"),
        "updated": sum(1 for r in ok if r.action == "update"),
        "pruned": len(result.pruned),
        "failed": len(result.failed),
        "unchanged": result.plan.changeset.counts.get("unchanged", 0),
        "deferred": result.plan.changeset.counts.get("deferred", 0),
    }


def applied_changes(result: ApplyResult) -> list[str]:
    return [f"{r.action} {r.ref}" for r in result.results if r.ok and r.action in ("create", "update", "prune")]


def apply_errors(result: ApplyResult) -> list[str]:
    return [f"{r.action} {r.ref}: {r.error}" for r in result.failed]


def unhealthy(result: ApplyResult) -> list[str]:
    return [f"{h.ref}: {h.state}: {h.message}" for h in result.unhealthy]


def apply_details(result: ApplyResult) -> dict[str, Any]:
    return {
        "changes": apply_counts(result),
        "objects": applied_changes(result)[:MAX_CHANGES_IN_EVENT],
        "health": unhealthy(result)[:MAX_CHANGES_IN_EVENT],
        "writes": result.writes,
        "apiRequests": result.requests,
        "durationSeconds": round(result.duration_seconds, 2),
    }


def drift_corrected(revision: Revision, result: ApplyResult) -> Event:
    return Event.make(
        "drift.corrected",
        f"Corrected drift on {len(applied_changes(result))} object(s) back to {revision.sha[:8]}.",
        commit=commit_of(revision),
        group=f"drift-{revision.sha}",
        details=apply_details(result),
    )


def synced(revision: Revision, result: ApplyResult) -> Event:
    counts = apply_counts(result)
    return Event.make(
        "sync.succeeded",
        f"Applied {revision.sha[:8]}: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['pruned']} pruned; all healthy.",
        commit=commit_of(revision),
        group=f"sync-{revision.sha}",
        details=apply_details(result),
    )


def sync_failed(revision: Revision, result: ApplyResult) -> Event:
    errors = apply_errors(result)
    why = errors[:1] or unhealthy(result)[:1] or [result.plan.prune.reason]
    return Event.make(
        "sync.failed",
        f"Sync of {revision.sha[:8]} failed: {why[0]}",
        commit=commit_of(revision),
        group=f"sync-{revision.sha}",
        errors=tuple(errors[:MAX_CHANGES_IN_EVENT]),
        details=apply_details(result),
    )


def cycle_failed(revision: Revision | None, message: str) -> Event:
    return Event.make(
        "sync.failed",
        f"Sync failed and will be retried with backoff: {message}",
        commit=commit_of(revision) if revision else None,
        group=f"sync-{revision.sha}" if revision else "sync",
        errors=(message,),
    )


def degraded(revision: Revision, objects: Mapping[str, str]) -> Event:
    return Event.make(
        "health.degraded",
        f"{len(objects)} object(s) degraded: " + "; ".join(f"{r}: {m}" for r, m in list(objects.items())[:5]),
        commit=commit_of(revision),
        group=f"sync-{revision.sha}",
        details={"objects": dict(objects)},
    )


def recovered(revision: Revision, objects: Sequence[str]) -> Event:
    return Event.make(
        "health.recovered",
        f"{len(objects)} object(s) healthy again: {', '.join(objects[:5])}",
        commit=commit_of(revision),
        details={"objects": list(objects)},
    )


def record(
    kind: HistoryKind,
    revision: Revision,
    trigger: str,
    started: datetime,
    finished: datetime,
    result: HistoryResult,
    *,
    counts: Mapping[str, int] | None = None,
    changes: Iterable[str] = (),
    errors: Iterable[str] = (),
    tenants: Iterable[str] = (),
) -> HistoryRecord:
    """The audit record of one cycle."""
    return HistoryRecord(
        id=f"{int(started.timestamp() * 1000)}-{revision.sha[:8]}-{kind}",
        kind=kind,
        started=started.isoformat(),
        finished=finished.isoformat(),
        revision=revision.sha,
        author=revision.author,
        message=revision.message.splitlines()[0] if revision.message else "",
        trigger=trigger,
        result=result,
        counts=dict(counts or {}),
        changes=list(changes)[:100],
        errors=list(errors)[:50],
        duration_seconds=round((finished - started).total_seconds(), 3),
        tenants=sorted(set(tenants)),
        signer=revision.signature.signer if revision.signature.status == "good" else "",
    )


def tenants_of_problems(errors: Iterable[str]) -> list[str]:
    """The tenants whose files the ``path:line:col: ...`` problems point at."""
    found = set()
    for error in errors:
        parts = error.split(":", 1)[0].split("/")
        if len(parts) > 2 and parts[0] == "tenants":
            found.add(parts[1])
    return sorted(found)
