"""The daemon's HTTP endpoints: health, readiness, status, push and merge-request webhooks."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from daemon.edges.http import HttpServer, Request, Response
from daemon.edges.mr_webhooks import parse_merge_request
from daemon.edges.push_webhooks import DeliveryDeduper, parse_push, verify_github, verify_gitlab
from daemon.engine.reconcile import DaemonState
from daemon.errors import DockyardError, WebhookError
from daemon.model.cycle import Trigger
from daemon.model.forge import MergeRequest
from daemon.state.inbox import InboxRequest


class ReviewIntake(Protocol):
    """Where merge-request events go (:class:`daemon.engine.mr_review.MergeRequestReviewer`)."""

    def accepts(self, provider: str) -> bool: ...

    def ignores(self, mr: MergeRequest) -> str: ...

    def submit(self, mr: MergeRequest) -> None: ...


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
        hand_to_leader: Callable[[InboxRequest], None],
        reviews: ReviewIntake | None = None,
        monitoring: Callable[[], Mapping[str, Any]] = dict,
        problems: Callable[[], list[dict[str, Any]]] = list,
        clusters: Callable[[], Mapping[str, DaemonState]] = dict,
        shards: Callable[[], Mapping[str, Any] | None] = lambda: None,
    ) -> None:
        self._clusters = clusters
        self._shards = shards
        self._identity = identity
        self._source = source
        self._snapshot = snapshot
        self._is_leader = is_leader
        self._paused = paused
        self._request_cycle = request_cycle
        self._webhook_secret = webhook_secret
        self._hand_to_leader = hand_to_leader
        self._reviews = reviews
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
            # With several clusters: each one's own sync (the fields above are the home cluster's).
            "clusters": {
                name: {
                    "appliedRevision": s.applied_sha,
                    "lastResult": s.last_result,
                    "lastError": s.last_error or None,
                    "failures": s.failures,
                    "deferred": dict(s.deferred),
                    "degraded": dict(s.degraded),
                }
                for name, s in self._clusters().items()
            },
            # A sharded platform: the shards this replica applies, and the replicas it sees.
            "shards": self._shards(),
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
            return self.merge_request(provider, request)
        if push.delivery_id and self._deduper.seen(push.delivery_id):
            return Response.text("duplicate delivery ignored\n", 202)
        if not self._is_leader():
            # Only the leader syncs: the request waits in the cluster until it takes it (within
            # a second while there is a leader; at the next election otherwise).
            try:
                self._hand_to_leader(InboxRequest("sync", {"provider": provider}, received_by=self._identity))
            except DockyardError as e:
                return Response.text(f"cannot queue the sync for the leader, try again: {e}\n", 503)
            return Response.text("sync requested from the leader\n", 202)
        self._request_cycle("webhook")
        return Response.text("sync requested\n", 202)

    def merge_request(self, provider: str, request: Request) -> Response:
        """A verified request that is no push: a merge request to review, or nothing to do."""
        try:
            hook = parse_merge_request("github" if provider == "github" else "gitlab", request.headers, request.body)
        except WebhookError as e:
            return Response.text(f"bad payload: {e}\n", 400)
        if hook is None:
            return Response.text("ignored: neither a push nor a merge request\n", 202)
        if hook.mr is None:
            return Response.text(f"ignored: {hook.ignored}\n", 202)
        mr = hook.mr
        if self._reviews is None or not self._reviews.accepts(provider):
            return Response.text(f"ignored: merge-request reviews on {provider} are off (no token)\n", 202)
        reason = self._reviews.ignores(mr)
        if reason:
            return Response.text(f"ignored: {reason}\n", 202)
        if self._deduper.seen(mr.delivery):
            return Response.text("duplicate delivery ignored\n", 202)
        if not self._is_leader():
            # Only the leader comments: the request waits in the cluster until it takes it.
            try:
                self._hand_to_leader(InboxRequest("merge-request", mr.to_json(), received_by=self._identity))
            except DockyardError as e:
                return Response.text(f"cannot queue the review for the leader, try again: {e}\n", 503)
            return Response.text(f"review of {mr.key} requested from the leader\n", 202)
        self._reviews.submit(mr)
        return Response.text(f"review of {mr.key} at {mr.head_sha[:8]} queued\n", 202)
