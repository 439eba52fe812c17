"""What each page shows, as JSON-ready data cut to the viewer's scope (the API returns it as it is,
the HTML pages render it), so the browser never receives anything of a tenant it may not see.

Nothing secret is in here by construction: the daemon's state holds no Secret data (render keeps
``secretRef`` names only), tokens and webhook URLs live in settings the console never reads, and
audit records and events are written to be shown to people. Platform-level facts (where the repo
comes from, fetch errors, the notification backlog, counts of the whole plan) are for people with
a role for every tenant only.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from daemon.console import backups as chains
from daemon.console import topology
from daemon.console.access import Scope
from daemon.console.live import Live
from daemon.console.ports import ConsolePorts
from daemon.console.svg import graph_svg
from daemon.engine.reconcile import DaemonState
from daemon.model.audit import HistoryKind, HistoryRecord
from daemon.model.clusters import placed_on
from daemon.model.kinds import PlatformModel, SyncWindow
from daemon.policy.reachability import reachability
from daemon.policy.windows import is_open, next_opening
from daemon.state.history import AuditQuery

__all__ = ["FlowCache", "backups", "operations", "overview", "record", "tenant_of_line", "topology_view"]

_REF = re.compile(r"\b[A-Za-z][\w.]*/([a-z0-9][-a-z0-9]*)/[\w.-]+")
_NAMESPACE_REF = re.compile(r"\bNamespace/([a-z0-9][-a-z0-9]*)\b")
_PROBLEM = re.compile(r"^tenants/([a-z0-9][-a-z0-9]*)/")
KINDS: tuple[HistoryKind, ...] = ("sync", "drift", "command", "validation", "audit")
MAX_RECORDS = 500


def tenant_of_line(line: str) -> str | None:
    """The tenant a change, error or problem line is about (its namespace or its file); None:
    platform-level, or not known."""
    for pattern in (_PROBLEM, _REF, _NAMESPACE_REF):
        match = pattern.search(line)
        if match:
            return match.group(1)
    return None


def _lines(lines: Iterable[str], scope: Scope) -> tuple[list[str], int]:
    """The lines ``scope`` may see, and how many were left out."""
    kept, hidden = [], 0
    for line in lines:
        if scope.platform or tenant_of_line(line) in scope.tenants:
            kept.append(line)
        else:
            hidden += 1
    return kept, hidden


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _visible_tenants(model: PlatformModel | None, scope: Scope) -> list[str]:
    if model is None:
        return []
    return [t.name for t in model.tenants if scope.sees(t.name)]


# --- overview -----------------------------------------------------------------------------------


def overview(ports: ConsolePorts, scope: Scope, live: Live) -> dict[str, Any]:
    state = ports.snapshot()
    model = state.model
    now = ports.clock()
    revision = state.revision
    visible = _visible_tenants(model, scope)
    paused = _paused(ports)
    pending, pending_hidden = _lines(state.pending_changes, scope)
    invalid = None
    if state.invalid_sha:
        errors, hidden = _lines(state.invalid_errors, scope)
        if scope.platform or errors:
            invalid = {"sha": state.invalid_sha, "errors": errors[:50], "more": max(0, len(errors) - 50) + hidden}
    tenants = []
    degraded_by = _degraded_by_tenant(state)
    for name in visible:
        assert model is not None
        tenant = model.tenant(name)
        apps = model.apps_of(name)
        ready = desired = rolling = missing = 0
        for app in apps:
            found = live.apps.get((name, app.name))
            if found is not None and found.tracks:
                ready, desired, rolling = ready + found.ready, desired + found.desired, rolling + found.rolling
            else:
                missing += 1
        degraded = degraded_by.get(name, 0)
        health = "degraded" if degraded else ("progressing" if rolling else ("ok" if ready >= desired else "degraded"))
        if missing and health == "ok":
            # Apps with no workload yet: not applied (a closed window, a pause) or not there at all.
            health = "pending" if name in state.deferred or name in paused or "*" in paused else "missing"
        tenants.append(
            {
                "name": name,
                "displayName": tenant.display_name if tenant else "",
                "apps": len(apps),
                "volumes": len(model.volumes_of(name)),
                "ready": ready,
                "desired": desired,
                "rollingOut": rolling,
                "degraded": degraded,
                "notInCluster": missing,
                "health": health if not live.error or desired else "unknown",
                "paused": name in paused or "*" in paused,
                "waiting": state.deferred.get(name, ""),
            }
        )
    windows = []
    # The platform's windows, then each cluster's own (which hold its tenants there only).
    every: list[tuple[str | None, SyncWindow]] = []
    if model is not None:
        every = [(None, w) for w in model.platform.sync.windows]
        every += [(c.name, w) for c in model.platform.clusters for w in c.windows]
    for on, window in every:
        applies = [t for t in visible if any(_fnmatch(t, p) for p in window.tenants)]
        if not scope.platform and not applies:
            continue
        windows.append(
            {
                "schedule": window.schedule,
                "cluster": on,
                "duration": _duration(window.duration_seconds),
                "timezone": window.timezone,
                "action": window.action,
                "tenants": list(window.tenants) if scope.platform else applies,
                "open": is_open(window, now),
                "nextOpen": _iso(next_opening(window, now)),
            }
        )
    events = [
        {
            "time": e.time.isoformat(),
            "name": e.name,
            "severity": e.severity,
            "tenant": e.tenant or "",
            "app": e.app or "",
            "summary": e.summary,
        }
        for e in ports.events.recent()
        if scope.sees(e.tenant)
    ][:30]
    alerts = [
        {
            "tenant": a.tenant,
            "app": a.app,
            "rule": a.rule,
            "phase": a.phase,
            "since": a.since.isoformat(),
            "severity": a.severity,
        }
        for a in ports.alerts()
        if scope.sees(a.tenant)
    ]
    clusters = []
    for name, cluster_state in ports.clusters().items():
        cluster = model.platform.cluster(name) if model is not None else None
        runs = [t for t in visible if model is not None and name in _placed(model, t)]
        if not scope.platform and not runs:
            continue  # a tenant's people see the clusters their tenants run on
        clusters.append(
            {
                "name": name,
                "region": cluster.region if cluster is not None else "",
                "applied": cluster_state.applied_sha,
                "inSync": bool(revision) and cluster_state.applied_sha == (revision.sha if revision else ""),
                "lastResult": cluster_state.last_result,
                "failures": cluster_state.failures,
                # An error may name any tenant's objects: for people who see them all only.
                "lastError": cluster_state.last_error if scope.platform else "",
                "tenants": runs,
            }
        )
    data: dict[str, Any] = {
        "replica": ports.identity,
        "leader": ports.is_leader(),
        "ready": state.ready,
        # A commit's author and subject may be about any tenant: for people who see them all only.
        "revision": {
            "sha": revision.sha,
            "author": revision.author if scope.platform else "",
            "subject": _subject(revision.message) if scope.platform else "",
        }
        if revision
        else None,
        "applied": state.applied_sha,
        "lastResult": state.last_result,
        "lastSync": _iso(state.last_sync_time),
        "invalid": invalid,
        "pending": pending[:100],
        "pendingCount": len(pending),
        "pendingHidden": pending_hidden if scope.platform else 0,
        "waiting": {t or "platform": r for t, r in state.deferred.items() if scope.sees(t or None)},
        "paused": sorted(p for p in paused if scope.platform or p in scope.tenants or p == "*"),
        "windows": windows,
        "tenants": tenants,
        "clusters": clusters,
        "events": events,
        "alerts": alerts,
        "liveError": live.error,
    }
    if scope.platform:
        data["source"] = ports.source
        data["fetchError"] = state.fetch_error
        data["plan"] = dict(state.last_plan_counts)
        data["outboxBacklog"] = ports.outbox_backlog()
    return data


def _placed(model: PlatformModel, tenant: str) -> tuple[str, ...]:
    found = model.tenant(tenant)
    return placed_on(model.platform.clusters, tenant, found.placement if found is not None else None)


def _paused(ports: ConsolePorts) -> frozenset[str]:
    try:
        return ports.pauses.paused()
    except Exception:  # the overview still shows the rest when the cluster is away
        return frozenset()


def _degraded_by_tenant(state: DaemonState) -> dict[str, int]:
    found: dict[str, int] = {}
    for health in state.health:
        if health.state == "degraded":
            found[health.ref.namespace] = found.get(health.ref.namespace, 0) + 1
    return found


def _fnmatch(name: str, pattern: str) -> bool:
    from fnmatch import fnmatchcase

    return fnmatchcase(name, pattern)


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h" + (f"{rest // 60}m" if rest else "") if hours else f"{seconds // 60}m"


def _subject(message: str) -> str:
    return message.splitlines()[0] if message else ""


# --- topology ------------------------------------------------------------------------------------


class FlowCache:
    """The flows of the latest rendered objects by app, worked out once per revision, not once per
    page view."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._desired: object = None
        self._flows: list[topology.AppFlow] = []

    def of(self, desired: Sequence[Mapping[str, Any]]) -> list[topology.AppFlow]:
        with self._lock:
            if self._desired is not desired:
                self._flows, self._desired = topology.app_flows(reachability(desired)), desired
            return self._flows


def topology_view(
    state: DaemonState,
    scope: Scope,
    live: Live,
    focus: topology.Focus,
    cache: FlowCache,
    budget: int = topology.DEFAULT_BUDGET,
) -> tuple[dict[str, Any], topology.Graph]:
    model = state.model
    if model is None:
        return {"nodes": [], "edges": [], "notes": ["no revision loaded yet"]}, topology.Graph()
    visible = _visible_tenants(model, scope)
    graph = topology.build(
        model,
        cache.of(state.desired),
        live.apps,
        visible=visible,
        focus=focus,
        budget=budget,
        live_known=not live.error or bool(live.apps),
    )
    data = {
        "focus": {"tenant": focus.tenant, "app": focus.app},
        "level": graph.level,
        "notes": graph.notes,
        "totalApps": graph.total_apps,
        "nodes": [
            {
                "id": n.id,
                "kind": n.kind,
                "label": n.label,
                "sub": n.sub,
                "tenant": n.tenant,
                "app": n.app,
                "health": n.health,
                "detail": n.detail,
            }
            for n in graph.nodes
        ],
        "edges": [
            {"source": e.source, "target": e.target, "kind": e.kind, "label": e.label, "cross": e.cross}
            for e in graph.edges
        ],
        "liveError": live.error,
    }
    return data, graph


def topology_svg(graph: topology.Graph) -> str:
    return str(graph_svg(graph))


# --- backups --------------------------------------------------------------------------------------


def backups(
    state: DaemonState, scope: Scope, live: Live, now: datetime, tenant: str | None
) -> list[chains.VolumeChain]:
    model = state.model
    if model is None:
        return []
    visible = [t for t in _visible_tenants(model, scope) if tenant is None or t == tenant]
    return chains.chains(model, visible, live.snapshots, live.claims, now)


def chain_json(chain: chains.VolumeChain) -> dict[str, Any]:
    return {
        "tenant": chain.tenant,
        "volume": chain.volume,
        "claim": chain.claim,
        "claimPhase": chain.claim_phase,
        "schedule": chain.schedule,
        "retention": chain.retention,
        "restoringFrom": chain.restoring_from,
        "nextBackup": _iso(chain.next_backup),
        "nextPrune": list(chain.next_prune),
        "prunableNow": list(chain.prunable_now),
        "snapshots": [
            {
                "name": s.name,
                "taken": _iso(s.taken),
                "state": s.state,
                "error": s.error,
                "size": s.size,
                "classes": list(s.classes),
                "keptBy": list(s.kept_by),
                "restoreSource": s.restore_source,
            }
            for s in chain.snapshots
        ],
    }


# --- operations -----------------------------------------------------------------------------------


def parse_time(value: str, now: datetime) -> datetime | None:
    """``2024-05-01``, an ISO time, or a span back from now (``24h``, ``7d``, ``30m``)."""
    value = value.strip()
    if not value:
        return None
    span = re.fullmatch(r"(\d{1,5})([mhd])", value)
    if span:
        amount, unit = int(span.group(1)), span.group(2)
        return now - timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: amount})
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=now.tzinfo)


def _verb(record: HistoryRecord) -> str:
    words = record.command.removeprefix("/dockyard").split()
    return words[0] if words else record.kind


def commit_url(source: str, sha: str) -> str | None:
    """The web page of a commit on GitHub or GitLab, when the repo's address says which."""
    scp = re.match(r"^(?:[^@/:\s]+@)?([^/:\s]+):(?!//)(.+)$", source)
    if scp and "://" not in source:
        host, path = scp.group(1), scp.group(2)
    else:
        parts = urlsplit(source)
        if parts.scheme not in ("http", "https", "ssh") or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path
    path = path.strip("/").removesuffix(".git")
    if not path or not sha:
        return None
    if host == "github.com" or host.startswith("github."):
        return f"https://{host}/{path}/commit/{quote(sha)}"
    if "gitlab" in host:
        return f"https://{host}/{path}/-/commit/{quote(sha)}"
    return None


def record_json(record: HistoryRecord, scope: Scope, source: str) -> dict[str, Any]:
    changes, hidden_changes = _lines(record.changes, scope)
    errors, hidden_errors = _lines(record.errors, scope) if record.kind != "command" else (record.errors, 0)
    return {
        "id": record.id,
        "kind": record.kind,
        "action": _verb(record),
        "started": record.started,
        "finished": record.finished,
        "result": record.result,
        "trigger": record.trigger,
        "user": record.user or record.author.split(" <", 1)[0],
        "via": record.channel,
        "command": record.command,
        "revision": record.revision,
        "commitUrl": commit_url(source, record.revision) if record.revision else None,
        "subject": record.summary() if record.kind != "validation" or scope.platform else record.message,
        "message": record.message,
        "signer": record.signer,
        "tenants": [t for t in record.tenants if scope.sees(t)],
        "counts": dict(record.counts) if scope.platform else {},
        "changes": changes,
        "errors": errors,
        "hidden": hidden_changes + hidden_errors,
        "durationSeconds": record.duration_seconds,
    }


def visible_record(record: HistoryRecord, scope: Scope) -> bool:
    return scope.platform or any(t in scope.tenants for t in record.tenants)


def operations(ports: ConsolePorts, scope: Scope, filters: Mapping[str, str]) -> dict[str, Any]:
    now = ports.clock()
    tenant = filters.get("tenant", "").strip() or None
    kind = filters.get("kind", "").strip() or None
    action = filters.get("action", "").strip().lower() or None
    user = filters.get("user", "").strip() or None
    since = parse_time(filters.get("since", ""), now)
    until = parse_time(filters.get("until", ""), now)
    try:
        limit = max(1, min(int(filters.get("limit", "100") or 100), MAX_RECORDS))
    except ValueError:
        limit = 100
    problems = []
    if tenant is not None and not scope.sees(tenant):
        problems.append(f"you see no tenant {tenant}")
        tenant = "\x00none"  # matches no record
    if kind is not None and kind not in KINDS:
        problems.append(f"kind must be one of {', '.join(KINDS)}")
        kind = None
    for key in ("since", "until"):
        if filters.get(key, "").strip() and parse_time(filters[key], now) is None:
            problems.append(f"{key}: use a date (2024-05-01), a time, or a span back from now (24h, 7d)")
    query = AuditQuery(tenant=tenant, user=user, kind=_kind(kind), since=since, until=until)
    found: list[dict[str, Any]] = []
    more = False
    for record in ports.history.query(query):
        if not visible_record(record, scope):
            continue
        if action is not None and _verb(record) != action:
            continue
        if len(found) == limit:
            more = True
            break
        found.append(record_json(record, scope, ports.source))
    return {
        "filters": {
            "tenant": filters.get("tenant", ""),
            "user": user or "",
            "kind": kind or "",
            "action": action or "",
            "since": filters.get("since", ""),
            "until": filters.get("until", ""),
            "limit": limit,
        },
        "problems": problems,
        "records": found,
        "more": more,
    }


def _kind(value: str | None) -> HistoryKind | None:
    return next((k for k in KINDS if k == value), None)


def record(ports: ConsolePorts, scope: Scope, record_id: str) -> dict[str, Any] | None:
    for found in ports.history.query(AuditQuery(since=_id_time(record_id))):
        if found.id == record_id:
            if not visible_record(found, scope):
                return None
            data = record_json(found, scope, ports.source)
            state = ports.snapshot()
            if state.revision is not None and state.revision.sha == found.revision and state.pending_changes:
                data["pendingNow"] = _lines(state.pending_changes, scope)[0][:100]
            return data
    return None


def _id_time(record_id: str) -> datetime | None:
    """Record ids start with their time (commands) or milliseconds (cycles); a day earlier is safe."""
    from datetime import UTC

    stamp = record_id.split("-", 1)[0]
    try:
        if "T" in stamp:
            moment = datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
        else:
            moment = datetime.fromtimestamp(int(stamp) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return moment - timedelta(days=1)


def tenants_of(state: DaemonState, scope: Scope) -> Sequence[str]:
    return _visible_tenants(state.model, scope)
