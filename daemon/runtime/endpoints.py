"""The daemon's HTTP endpoints: health, readiness, status and push webhooks."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from daemon.edges.http import HttpServer, Request, Response
from daemon.edges.push_webhooks import DeliveryDeduper, parse_push, verify_github, verify_gitlab
from daemon.engine.reconcile import DaemonState
from daemon.errors import WebhookError
from daemon.model.cycle import Trigger


class Endpoints:
    def __init__(
        self,
        *,
        identity: str,
        source: str,
        snapshot: Callable[[], DaemonState],
        is_leader: Callable[[], bool],
        paused: Callable[[], frozenset[str]],
        request_cycle: Callable[[Trigger], None],
        webhook_secret: str | None,
        monitoring: Callable[[], Mapping[str, Any]] = dict,
        problems: Callable[[], list[dict[str, Any]]] = list,
    ) -> None:
        self._identity = identity
        self._source = source
        self._snapshot = snapshot
        self._is_leader = is_leader
        self._paused = paused
        self._request_cycle = request_cycle
        self._webhook_secret = webhook_secret
        self._monitoring = monitoring
        self._problems = problems
        self._deduper = DeliveryDeduper()

    def add_to(self, server: HttpServer) -> None:
        server.route("GET", "/healthz", lambda _: Response.text("ok\n"))
        server.route("GET", "/readyz", self.readyz)
        server.route("GET", "/status", lambda _: Response.json(self.status()))
        server.route("POST", "/webhook/github", lambda r: self.webhook("github", r))
        server.route("POST", "/webhook/gitlab", lambda r: self.webhook("gitlab", r))

    def readyz(self, _: Request) -> Response:
        state = self._snapshot()
        if state.ready:
            return Response.text("ready\n")
        return Response.text(f"not ready: no successful sync yet (last result: {state.last_result})\n", 503)

    def status(self) -> dict[str, Any]:
        state = self._snapshot()
        revision = state.revision
        leader = self._is_leader()
        return {
            "identity": self._identity,
            "leader": leader,
            "ready": state.ready,
            "source": self._source,
            "revision": {"sha": revision.sha, "author": revision.author, "message": revision.message}
            if revision
            else None,
            "appliedRevision": state.applied_sha,
            "lastResult": state.last_result,
            "lastSync": state.last_sync_time.isoformat() if state.last_sync_time else None,
            "plan": dict(state.last_plan_counts),
            "pending": list(state.pending_changes),
            "deferred": dict(state.deferred),
            "degraded": dict(state.degraded),
            "fetchError": state.fetch_error or None,
            "paused": sorted(self._paused()) if leader else [],
            # What the leader found when it last looked (a standby does not look).
            "monitoring": dict(self._monitoring()) if leader else {},
            # The cluster's open problems (nodes, control plane, rollouts, volumes) and Dockyard's.
            "problems": self._problems() if leader else [],
            "pid": os.getpid(),
        }

    def webhook(self, provider: str, request: Request) -> Response:
        secret = self._webhook_secret
        if not secret:
            return Response.text("webhooks are disabled: no secret configured\n", 404)
        if provider == "github":
            valid = verify_github(request.headers, request.body, secret)
        else:
            valid = verify_gitlab(request.headers, secret)
        if not valid:
            return Response.text("invalid signature\n", 401)
        try:
            push = parse_push("github" if provider == "github" else "gitlab", request.headers, request.body)
        except WebhookError as e:
            return Response.text(f"bad payload: {e}\n", 400)
        if push is None:
            return Response.text("ignored: not a push\n", 202)
        if push.delivery_id and self._deduper.seen(push.delivery_id):
            return Response.text("duplicate delivery ignored\n", 202)
        self._request_cycle("webhook")
        return Response.text("sync requested\n", 202)
