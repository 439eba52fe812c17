"""The chat commands that change something: sync, pause, resume, and scale and rollback as commits.

A sync or a direct commit answers at once and hands back a follow-up that waits (up to
``follow_seconds``) for the daemon to apply it and then says how that went; the service runs the
follow-ups on a pool of their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from daemon.chat.commands import CanaryEnd, Pause, Resume, Rollback, Scale, Sync
from daemon.chat.gitops import AUTHOR_EMAIL, AUTHOR_NAME, CommitMode, CommitResult, GitOps, Requester
from daemon.chat.ports import ChatContext, Outcome
from daemon.chat.views import Reply, escape, notice_view
from daemon.engine.reconcile import DaemonState
from daemon.errors import ChatError

__all__ = ["Actions"]


class Actions:
    def __init__(self, context: ChatContext, gitops: GitOps, *, follow_seconds: float, follow_interval: float) -> None:
        self._context = context
        self._ports = context.ports
        self._gitops = gitops
        self._follow_seconds = follow_seconds
        self._follow_interval = follow_interval
        self._stopping = threading.Event()

    def close(self) -> None:
        """Follow-ups stop waiting and answer nothing."""
        self._stopping.set()

    def sync(self, command: Sync, requester: Requester) -> Outcome:
        notes: list[str] = []
        if command.tenant_name is not None:
            self._context.require_tenant(command.tenant_name)
            notes.append(f"A cycle syncs every tenant, `{command.tenant_name}` included.")
            if command.tenant_name in self._context.paused():
                notes.append(f"`{command.tenant_name}` is paused: its changes wait until `resume`.")
        if not self._ports.is_leader():
            raise ChatError(
                "this replica is a standby and does not apply changes", hint="try again: Slack will reach the leader"
            )
        before = self._ports.cycles_run()
        self._ports.request_cycle("manual-override" if command.force else "manual")
        how = "ignoring sync windows" if command.force else "respecting sync windows"
        reply = notice_view(
            "🔄",
            f"Sync requested by <@{requester.user_id}> ({how})",
            notes,
            ["I'll report here when the cycle is done."],
            in_channel=True,
        )

        def done() -> Reply | None:
            waited = self._wait(lambda _: self._ports.cycles_run() > before)
            if waited is None:
                return None
            if not waited[1]:
                return self._still_running("The sync")
            return self._state_notice(waited[0], "Sync finished")

        return Outcome("succeeded", reply, f"{how}", follow=done)

    def pause_or_resume(self, command: Pause | Resume, requester: Requester) -> Outcome:
        pausing = isinstance(command, Pause)
        if command.tenant_name is not None:
            self._context.require_tenant(command.tenant_name)
            tenants = [command.tenant_name]
        elif pausing:
            tenants = ["*"]  # everything, including tenants added later and platform-level objects
        else:
            tenants = sorted(self._context.paused())
        for tenant in tenants:
            if pausing:
                self._ports.pauses.pause(tenant)
            else:
                self._ports.pauses.resume(tenant)
        names = ", ".join("everything" if t == "*" else f"`{t}`" for t in tenants) or "no tenant"
        if pausing:
            lines = ["Their changes are planned and announced but not applied until `/dockyard resume`."]
            if command.tenant_name is None:
                lines.append("This covers every tenant, tenants added later and platform-level objects.")
            reply = notice_view("⏸️", f"Paused {names}", lines, [f"by <@{requester.user_id}>"], in_channel=True)
        else:
            if tenants:
                self._ports.request_cycle("manual")
            lines = ["Their waiting changes are being applied now."] if tenants else ["Nothing was paused."]
            reply = notice_view("▶️", f"Resumed {names}", lines, [f"by <@{requester.user_id}>"], in_channel=True)
        return Outcome("succeeded", reply, f"{command.verb}d {', '.join(tenants) or 'nothing'}")

    def commit(self, command: Scale | CanaryEnd | Rollback, requester: Requester) -> Outcome:
        mode = self._commit_mode()
        if isinstance(command, Scale):
            self._context.require_tenant(command.tenant_name)
            result = self._gitops.scale(
                command.tenant_name, command.app, command.replicas, requester=requester, mode=mode
            )
        elif isinstance(command, CanaryEnd):
            self._context.require_tenant(command.tenant_name)
            result = self._gitops.canary(
                command.tenant_name, command.app, command.outcome, requester=requester, mode=mode
            )
        else:
            result = self._gitops.rollback(command.revision, requester=requester, mode=mode)
        author = f"{AUTHOR_NAME} <{AUTHOR_EMAIL}>"
        if not result.direct:
            link = (
                f"<{result.merge_request_url}|open a merge request>"
                if result.merge_request_url
                else "open a merge request"
            )
            reply = notice_view(
                "📝",
                f"Pushed branch `{escape(result.branch)}` for review",
                [
                    f"`{escape(command.text())}`: {escape(result.summary)}",
                    f"Commit {_short(result)} is not applied yet: {link} into `{escape(result.base_branch)}`.",
                ],
                [f"requested by <@{requester.user_id}> · commit mode: branch"],
                in_channel=True,
            )
            return Outcome("succeeded", reply, f"branch {result.branch}", result.sha, author)
        self._ports.request_cycle("manual")
        reply = notice_view(
            "📦",
            f"Committed {_short(result)} to `{escape(result.branch)}`",
            [f"`{escape(command.text())}`: {escape(result.summary)}", "Applying it now; I'll report when it is done."],
            [f"requested by <@{requester.user_id}> · authored by Dockyard"],
            in_channel=True,
        )

        def applied() -> Reply | None:
            waited = self._wait(lambda s: _settled(s, result.sha))
            if waited is None:
                return None
            if not waited[1]:
                return self._still_running(f"Applying {result.short_sha}")
            return self._commit_notice(waited[0], result)

        return Outcome(
            "succeeded", reply, f"committed {result.sha[:8]} to {result.branch}", result.sha, author, follow=applied
        )

    def _commit_mode(self) -> CommitMode:
        model = self._context.model
        return model.platform.chat.commit_mode if model is not None else "direct"

    # follow-ups

    def _wait(self, done: Callable[[DaemonState], bool]) -> tuple[DaemonState, bool] | None:
        """The state once ``done`` holds, or after ``follow_seconds`` (with False); None when closing."""
        deadline = time.monotonic() + self._follow_seconds
        while True:
            state = self._ports.snapshot()
            if done(state):
                return state, True
            if time.monotonic() >= deadline:
                return state, False
            if self._stopping.wait(self._follow_interval):
                return None

    def _still_running(self, what: str) -> Reply:
        minutes = max(1, round(self._follow_seconds / 60))
        return notice_view(
            "⏳",
            f"{what} is taking longer than {minutes} minute{'s' if minutes != 1 else ''}",
            ["I'll stop watching; `/dockyard status` shows how it goes."],
            in_channel=True,
        )

    def _state_notice(self, state: DaemonState, title: str) -> Reply:
        sha = state.revision.sha[:8] if state.revision else "none"
        if state.deferred:
            waits = "; ".join(f"`{t or 'platform'}`: {escape(r)}" for t, r in list(state.deferred.items())[:5])
            return notice_view("⏸️", f"{title}: some changes wait", [waits], [f"revision `{sha}`"], in_channel=True)
        if state.last_result == "failed":
            return notice_view("❌", f"{title}: the sync failed", ["`/dockyard status` shows why."], in_channel=True)
        return notice_view("✅", f"{title}: the cluster matches `{sha}`", in_channel=True)

    def _commit_notice(self, state: DaemonState, result: CommitResult) -> Reply:
        sha = _short(result)
        if state.invalid_sha == result.sha:
            return notice_view(
                "⛔", f"{sha} was rejected as invalid", ["`/dockyard status` shows why."], in_channel=True
            )
        if state.applied_sha == result.sha:
            if state.last_result == "failed":  # applied, but unhealthy or with deletions held back
                lines = [escape(result.summary), "Not everything is well yet: `/dockyard status` shows what."]
                return notice_view("⚠️", f"Applied {sha}, with problems", lines, in_channel=True)
            return notice_view("✅", f"Applied {sha}", [escape(result.summary)], in_channel=True)
        if state.deferred:
            waits = "; ".join(f"`{t or 'platform'}`: {escape(r)}" for t, r in list(state.deferred.items())[:5])
            return notice_view("⏸️", f"{sha} is committed and waits", [waits], in_channel=True)
        return notice_view("❌", f"Applying {sha} failed", ["`/dockyard status` shows why."], in_channel=True)


def _settled(state: DaemonState, sha: str) -> bool:
    if sha in (state.invalid_sha, state.applied_sha):
        return True
    current = state.revision is not None and state.revision.sha == sha
    return current and (bool(state.deferred) or (state.last_result == "failed" and state.failures > 0))


def _short(result: CommitResult) -> str:
    return f"`{result.short_sha}`"
