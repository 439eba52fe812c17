"""What a reconcile cycle tells people: the events it emits and the audit record it writes.

Pure functions of the cycle's facts; the reconciler decides *when* to say something, this module
says *what*. Keeping the wording here keeps the cycle a short script and lets the messages be
read (and changed) in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from daemon.model.audit import HistoryKind, HistoryRecord, HistoryResult
from daemon.model.events import CommitInfo, Event
from daemon.model.kinds import ScaleSchedule
from daemon.model.refs import ObjRef, Revision
from daemon.policy.canary import CanaryChange
from daemon.policy.diff import Change
from daemon.policy.health import Unhealthy
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


def cluster_unreachable(cluster: str, message: str) -> Event:
    return Event.make(
        "sync.failed",
        f"[{cluster}] Cannot connect to cluster {cluster}; nothing is applied there until it can be: {message}",
        details={"stage": "connect", "cluster": cluster},
        group=f"connect@{cluster}",
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


def _tenant(tenant: str) -> str | None:
    """An event's tenant: ``""`` (the platform's own objects) becomes a platform event."""
    return tenant or None


def _scope(tenant: str) -> str:
    return f"tenant {tenant}" if tenant else "the platform's objects"


def changes_wait(
    revision: Revision,
    deferred: Sequence[Change],
    owner: Callable[[Change], str],
    reasons: Mapping[str, str],
    next_opens: Mapping[str, datetime | None],
) -> list[Event]:
    """One ``sync.skipped`` per tenant whose changes wait (``owner`` names a change's tenant)."""
    by_tenant: dict[str, list[Change]] = {}
    for change in deferred:
        by_tenant.setdefault(owner(change), []).append(change)
    events = []
    for tenant, changes in sorted(by_tenant.items()):
        next_open = next_opens.get(tenant)
        when = f"; the next window opens {next_open.isoformat()}" if next_open else ""
        why = reasons.get(tenant, "")
        events.append(
            Event.make(
                "sync.skipped",
                f"{len(changes)} change(s) of {revision.sha[:8]} to {_scope(tenant)} wait"
                + (f" ({why})" if why else "")
                + f"{when}.",
                tenant=_tenant(tenant),
                commit=commit_of(revision),
                group=f"sync-{revision.sha}",
                details={
                    "reason": why or None,
                    "changes": [describe_change(c) for c in changes[:MAX_CHANGES_IN_EVENT]],
                    "nextOpen": next_open.isoformat() if next_open else None,
                },
            )
        )
    return events


def schedule_change(before: ScaleSchedule | None, after: ScaleSchedule | None) -> str:
    """Why an HPA's bounds changed on schedule: the window that began or ended."""
    if after is not None:
        return f"the schedule '{after.cron}' ({after.timezone}) began"
    assert before is not None
    return f"the schedule '{before.cron}' ({before.timezone}) ended"


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


def _mine(result: ApplyResult, tenant: str | None, ref: ObjRef) -> bool:
    return tenant is None or result.plan.owner(ref) == tenant


def apply_counts(result: ApplyResult, tenant: str | None = None) -> dict[str, int]:
    """What the apply did, for one tenant (``""``: the platform's objects) or, by default, all."""
    ok = [r for r in result.results if r.ok and _mine(result, tenant, r.ref)]
    waited = [c for c in result.plan.changeset.changes if _mine(result, tenant, c.ref)]
    return {
        "applied": sum(1 for r in ok if r.action in ("create", "update")),
        "created": sum(1 for r in ok if r.action == "create"),
        "updated": sum(1 for r in ok if r.action == "update"),
        "pruned": sum(1 for r in result.pruned if _mine(result, tenant, r)),
        "failed": sum(1 for r in result.failed if _mine(result, tenant, r.ref)),
        "unchanged": sum(1 for c in waited if c.action == "unchanged"),
        "deferred": sum(1 for c in waited if c.action == "deferred"),
    }


def applied_changes(result: ApplyResult, tenant: str | None = None) -> list[str]:
    return [
        f"{r.action} {r.ref}"
        for r in result.results
        if r.ok and r.action in ("create", "update", "prune") and _mine(result, tenant, r.ref)
    ]


def apply_errors(result: ApplyResult, tenant: str | None = None) -> list[str]:
    return [f"{r.action} {r.ref}: {r.error}" for r in result.failed if _mine(result, tenant, r.ref)]


def unhealthy(result: ApplyResult, tenant: str | None = None) -> list[str]:
    return [f"{h.ref}: {h.state}: {h.message}" for h in result.unhealthy if _mine(result, tenant, h.ref)]


def apply_details(result: ApplyResult, tenant: str | None = None) -> dict[str, Any]:
    return {
        "changes": apply_counts(result, tenant),
        "objects": applied_changes(result, tenant)[:MAX_CHANGES_IN_EVENT],
        "health": unhealthy(result, tenant)[:MAX_CHANGES_IN_EVENT],
        "writes": result.writes,
        "apiRequests": result.requests,
        "durationSeconds": round(result.duration_seconds, 2),
    }


def _tenants(result: ApplyResult, refs: Iterable[ObjRef]) -> list[str]:
    """The tenants ``refs`` belong to; the platform alone when there are none."""
    return sorted({result.plan.owner(ref) for ref in refs}) or [""]


def drift_corrected(revision: Revision, result: ApplyResult) -> list[Event]:
    """One ``drift.corrected`` per tenant whose objects were put back."""
    fixed = [r.ref for r in result.results if r.ok and r.action in ("create", "update", "prune")]
    return [
        Event.make(
            "drift.corrected",
            f"Corrected drift on {len(applied_changes(result, t))} object(s) of {_scope(t)} "
            f"back to {revision.sha[:8]}.",
            tenant=_tenant(t),
            commit=commit_of(revision),
            group=f"drift-{revision.sha}",
            details=apply_details(result, t),
        )
        for t in _tenants(result, fixed)
    ]


def sync_results(revision: Revision, result: ApplyResult) -> list[Event]:
    """One event per tenant the apply concerned (the platform's own objects count as one more):
    ``sync.failed`` for a tenant with objects that failed to apply or to become healthy (and for
    the platform when the prune guard held deletions), ``sync.succeeded`` for the others; one
    platform event when the apply concerned nobody."""
    touched = [r.ref for r in result.results if r.ok and r.action in ("create", "update", "prune")]
    bad = [r.ref for r in result.failed] + [h.ref for h in result.unhealthy]
    tenants = {result.plan.owner(ref) for ref in touched + bad} | ({""} if result.plan.prune.blocked else set())
    events = []
    for t in sorted(tenants) or [""]:
        errors, sick = apply_errors(result, t), unhealthy(result, t)
        held = not t and result.plan.prune.blocked
        if errors or sick or held:
            why = (errors or sick or [result.plan.prune.reason])[0]
            events.append(
                Event.make(
                    "sync.failed",
                    f"Sync of {revision.sha[:8]} to {_scope(t)} failed: {why}",
                    tenant=_tenant(t),
                    commit=commit_of(revision),
                    group=f"sync-{revision.sha}",
                    errors=tuple(errors[:MAX_CHANGES_IN_EVENT]),
                    details=apply_details(result, t),
                )
            )
            continue
        counts = apply_counts(result, t)
        events.append(
            Event.make(
                "sync.succeeded",
                f"Applied {revision.sha[:8]} to {_scope(t)}: {counts['created']} created, "
                f"{counts['updated']} updated, {counts['pruned']} pruned; all healthy.",
                tenant=_tenant(t),
                commit=commit_of(revision),
                group=f"sync-{revision.sha}",
                details=apply_details(result, t),
            )
        )
    return events


def cycle_failed(revision: Revision | None, message: str) -> Event:
    return Event.make(
        "sync.failed",
        f"Sync failed and will be retried with backoff: {message}",
        commit=commit_of(revision) if revision else None,
        group=f"sync-{revision.sha}" if revision else "sync",
        errors=(message,),
    )


def _unit_name(tenant: str, app: str) -> str:
    if not tenant:
        return "platform"
    return f"{tenant}/{app}" if app else tenant


def degraded(revision: Revision, unit: tuple[str, str], objects: Sequence[Unhealthy]) -> Event:
    """``health.degraded`` for one app of a tenant (``app`` ""): its objects that are not part of
    an app, ``tenant`` "": the platform's own objects)."""
    tenant, app = unit
    return Event.make(
        "health.degraded",
        f"{_unit_name(tenant, app)}: {len(objects)} object(s) degraded: "
        + "; ".join(f"{o.ref}: {o.message}" for o in objects[:5]),
        tenant=_tenant(tenant),
        app=app or None,
        commit=commit_of(revision),
        group=f"sync-{revision.sha}",
        details={"objects": {o.ref: o.message for o in objects}},
    )


def recovered(revision: Revision, unit: tuple[str, str], objects: Sequence[Unhealthy]) -> Event:
    """``health.recovered`` once every degraded object of the unit is healthy again; it carries
    the degraded event's severity so every list that heard that hears this."""
    tenant, app = unit
    return Event.make(
        "health.recovered",
        f"{_unit_name(tenant, app)}: {len(objects)} object(s) healthy again: " + ", ".join(o.ref for o in objects[:5]),
        tenant=_tenant(tenant),
        app=app or None,
        commit=commit_of(revision),
        group=f"sync-{revision.sha}",
        details={"objects": [o.ref for o in objects], "firingSeverity": "warning"},
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
