"""Carries out chat commands against the daemon, independent of Slack's transport.

The flow of one command (``prepare`` must be quick: it runs before Slack's 3-second ack)::

    prepare(invocation)   parse (pure)            -> what to acknowledge with right away
    run(prepared, reply)  authorize -> execute -> answer through ``reply`` -> audit -> event
                          -> for commits and syncs, a second answer once the daemon applied it
                             (from a small pool of its own, so waiting never blocks new commands)

Everything the service touches in the daemon comes in through :class:`ChatPorts`, so the service
never imports the runtime and tests can hand in real parts one by one. Every command, allowed or
denied, is written to the history (kind ``command``) and emitted as ``command.executed``:

========== ==========================================================================
result     meaning
========== ==========================================================================
allowed    a read-only command that was answered (help, status, diff, history)
succeeded  a command that changed something (a commit, a pause, a requested sync)
denied     the caller's roles do not allow it; nothing was done
failed     malformed, or it went wrong on the way; the error is recorded
========== ==========================================================================
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from daemon.chat.authz import Authorizer, Decision, GroupDirectory, Identity
from daemon.chat.commands import (
    Command,
    CommandSyntaxError,
    Diff,
    Help,
    History,
    Pause,
    Resume,
    Rollback,
    Scale,
    Status,
    Sync,
    parse,
)
from daemon.chat.gitops import AUTHOR_EMAIL, AUTHOR_NAME, CommitMode, CommitResult, GitOps, Requester
from daemon.chat.views import (
    AppStatus,
    HpaStatus,
    PlatformStatus,
    Reply,
    TenantStatus,
    TenantSummary,
    denied_view,
    diff_view,
    error_view,
    escape,
    help_view,
    history_view,
    notice_view,
    platform_status_view,
    tenant_status_view,
)
from daemon.edges.kube import KubeClient
from daemon.engine.reconcile import DaemonState
from daemon.errors import ChatError, DockyardError
from daemon.model.audit import HistoryRecord, HistoryResult, new_record_id
from daemon.model.events import CommitInfo, Event
from daemon.model.kinds import PlatformModel
from daemon.model.refs import ObjRef
from daemon.policy.health import assess

__all__ = ["ChatPorts", "ChatService", "Invocation", "Prepared"]

_log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Z0-9]{2,32}$")
_MANAGED = "app.kubernetes.io/managed-by=dockyard"


class PauseControl(Protocol):
    def paused(self) -> frozenset[str]: ...

    def pause(self, tenant: str) -> None: ...

    def resume(self, tenant: str) -> None: ...


class HistoryLog(Protocol):
    def append(self, record: HistoryRecord) -> None: ...

    def list(self, limit: int | None = None) -> list[HistoryRecord]: ...


@dataclass(frozen=True)
class ChatPorts:
    """The parts of the daemon chat commands use (all real objects in the daemon)."""

    snapshot: Callable[[], DaemonState]
    request_cycle: Callable[[str], None]  # "manual", or "manual-override" to ignore sync windows
    cycles_run: Callable[[], int]
    is_leader: Callable[[], bool]
    pauses: PauseControl
    history: HistoryLog
    emit: Callable[[Event], None]
    kube: KubeClient | None  # live workload and HPA state for `status`; None: from the last cycle only
    source: str  # where the platform repo comes from, safe to show


@dataclass(frozen=True)
class Invocation:
    """One slash command as Slack sent it (only what we use; never the response_url)."""

    user_id: str
    user_name: str = ""
    channel_id: str = ""
    channel_name: str = ""
    text: str = ""
    trigger_id: str = ""
    command: str = "/dockyard"

    @classmethod
    def from_payload(cls, body: Mapping[str, Any]) -> Invocation:
        def get(key: str) -> str:
            value = body.get(key)
            return value if isinstance(value, str) else ""

        return cls(
            user_id=get("user_id"),
            user_name=get("user_name"),
            channel_id=get("channel_id"),
            channel_name=get("channel_name"),
            text=get("text").strip(),
            trigger_id=get("trigger_id"),
            command=get("command") or "/dockyard",
        )

    @property
    def who(self) -> str:
        """``name (U123)`` for audit records; the views turn it back into a mention."""
        user = self.user_id if _ID.match(self.user_id) else "unknown"
        return f"{self.user_name} ({user})" if self.user_name else user

    @property
    def where(self) -> str:
        if not self.channel_id:
            return ""
        channel = self.channel_id if _ID.match(self.channel_id) else "unknown"
        return f"#{self.channel_name} ({channel})" if self.channel_name else channel

    @property
    def line(self) -> str:
        return f"{self.command} {self.text}".strip()[:300]


@dataclass(frozen=True)
class Prepared:
    invocation: Invocation
    command: Command | None  # None: the text did not parse
    ack: Reply | None  # what to acknowledge with; None: an empty ack, the answer follows
    error: ChatError | None = None
    received: float = field(default_factory=time.time)


@dataclass
class _Outcome:
    result: HistoryResult
    reply: Reply
    summary: str
    revision: str = ""
    author: str = ""
    errors: list[str] = field(default_factory=list)
    follow: Callable[[], Reply | None] | None = None


class ChatService:
    def __init__(
        self,
        ports: ChatPorts,
        gitops: GitOps,
        *,
        groups: GroupDirectory | None = None,
        follow_seconds: float = 180.0,
        follow_interval: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ports = ports
        self._gitops = gitops
        self._groups = groups
        self._follow_seconds = follow_seconds
        self._follow_interval = follow_interval
        self._clock = clock
        self._authorizer = Authorizer()
        self._model: PlatformModel | None = None
        self._commit_mode: CommitMode = "direct"
        self._stopping = threading.Event()
        self._followers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dockyard-chat-follow")

    # --- configuration -------------------------------------------------------------------------

    def update_model(self, model: PlatformModel) -> None:
        """A model listener: the roles and commit mode of each newly loaded revision."""
        self._authorizer = Authorizer(model.platform.chat.slack_roles)
        self._commit_mode = model.platform.chat.commit_mode
        self._model = model

    def close(self) -> None:
        """Stops waiting for follow-ups; commands running now finish their current step."""
        self._stopping.set()
        self._followers.shutdown(wait=False, cancel_futures=True)

    # --- the two phases ---------------------------------------------------------------------------

    def prepare(self, invocation: Invocation) -> Prepared:
        """Parses the command and decides the immediate acknowledgement (no I/O)."""
        try:
            command = parse(invocation.text)
        except CommandSyntaxError as e:
            return Prepared(invocation, None, error_view(str(e), e.hint, title="I did not get that"), e)
        ack = None
        if command.slow:
            ack = notice_view("⏳", f"Working on `{escape(command.text())}`…", ["I'll answer here in a moment."])
        return Prepared(invocation, command, ack)

    def run(self, prepared: Prepared, reply: Callable[[Reply], None]) -> None:
        """Authorizes and runs a prepared command; answers through ``reply``. Never raises."""
        started = self._clock()
        invocation, command = prepared.invocation, prepared.command
        if command is None:
            error = prepared.error
            self._audit(
                invocation, None, started, _Outcome("failed", Reply(""), "not a command", errors=[str(error or "")])
            )
            return
        identity = self._identity(invocation)
        decision = self._authorizer.check(identity, command)
        if not decision.allowed:
            reason = decision.reason
            if self._model is None:
                reason = "Dockyard has not loaded the platform repo yet, so it knows no roles; try again in a minute"
            outcome = _Outcome(
                "denied",
                denied_view(reason, self._authorizer.grants(identity)),
                f"denied: {reason}",
                errors=[_plain(reason)],
            )
        else:
            outcome = self._execute(command, invocation, identity)
        self._send(reply, outcome.reply)
        self._audit(invocation, command, started, outcome, decision)
        if outcome.follow is not None:
            # Waiting for the daemon to apply can take minutes: not on a thread that acks commands.
            follow = outcome.follow

            def later() -> None:
                followed = follow()
                if followed is not None:
                    self._send(reply, followed)

            with contextlib.suppress(RuntimeError):  # closing: nobody waits for the follow-up any more
                self._followers.submit(later)

    # --- authorization ------------------------------------------------------------------------

    def _identity(self, invocation: Invocation) -> Identity:
        groups: frozenset[str] = frozenset()
        wanted = self._authorizer.groups
        if self._groups is not None and wanted and invocation.user_id:
            groups = self._groups.groups_of(invocation.user_id, wanted)
        return Identity(invocation.user_id, invocation.channel_id, groups)

    # --- execution ------------------------------------------------------------------------------

    def _execute(self, command: Command, invocation: Invocation, identity: Identity) -> _Outcome:
        try:
            if isinstance(command, Help):
                grants = self._authorizer.grants(identity)
                return _Outcome(
                    "allowed",
                    help_view(grants, command=invocation.command, roles_known=self._model is not None),
                    "help",
                )
            if isinstance(command, Status):
                return self._status(command)
            if isinstance(command, Diff):
                return self._diff()
            if isinstance(command, History):
                records = self._ports.history.list(limit=command.limit)
                return _Outcome("allowed", history_view(records), f"{len(records)} entries")
            if isinstance(command, Sync):
                return self._sync(command, invocation)
            if isinstance(command, Pause | Resume):
                return self._pause_or_resume(command, invocation)
            if isinstance(command, Scale | Rollback):
                return self._commit(command, invocation)
            message = f"`{command.verb}` is not implemented"
            return _Outcome("failed", error_view(message), message, errors=[message])
        except ChatError as e:
            return _Outcome("failed", error_view(str(e), e.hint), str(e), errors=[str(e)])
        except DockyardError as e:
            message = f"{type(e).__name__}: {e}"
            hint = "Try again in a moment; if it keeps failing, tell the platform team."
            return _Outcome("failed", error_view(escape(message), hint), message, errors=[message])
        except Exception as e:  # a bug must answer the user and be logged, not vanish in a thread
            _log.exception("chat command %s crashed", command.verb)
            message = f"internal error ({type(e).__name__})"
            return _Outcome(
                "failed", error_view(message, "This is a bug in Dockyard; the daemon log has the details."), message
            )

    def _require_model(self) -> PlatformModel:
        model = self._ports.snapshot().model or self._model
        if model is None:
            raise ChatError(
                "the daemon has not loaded a valid revision of the platform repo yet",
                hint="try again in a minute; `/dockyard status` shows what it is doing",
            )
        return model

    def _require_tenant(self, tenant: str) -> PlatformModel:
        model = self._require_model()
        if model.tenant(tenant) is None:
            names = sorted(t.name for t in model.tenants)
            known = ", ".join(f"`{n}`" for n in names[:20]) or "none"
            raise ChatError(f"there is no tenant `{tenant}`", hint=f"Tenants: {known}.")
        return model

    # status

    def _status(self, command: Status) -> _Outcome:
        state = self._ports.snapshot()
        if command.tenant_name is None:
            return _Outcome("allowed", platform_status_view(self._platform_status(state)), "platform status")
        model = self._require_tenant(command.tenant_name)
        status = self._tenant_status(state, model, command.tenant_name, command.app)
        return _Outcome("allowed", tenant_status_view(status), f"status of {command.text().split(' ', 1)[1]}")

    def _platform_status(self, state: DaemonState) -> PlatformStatus:
        revision = state.revision
        paused = self._paused()
        model = state.model
        degraded_by_tenant: dict[str, int] = {}
        for health in state.health:
            if health.state == "degraded":
                degraded_by_tenant[health.ref.namespace] = degraded_by_tenant.get(health.ref.namespace, 0) + 1
        tenants = (
            tuple(
                TenantSummary(
                    t.name,
                    len(model.apps_of(t.name)),
                    degraded_by_tenant.get(t.name, 0),
                    t.name in paused,
                    state.deferred.get(t.name, ""),
                )
                for t in model.tenants
            )
            if model is not None
            else ()
        )
        return PlatformStatus(
            source=self._ports.source,
            revision=revision.sha if revision else "",
            author=revision.author if revision else "",
            subject=revision.message.splitlines()[0] if revision and revision.message else "",
            applied=state.applied_sha,
            ready=state.ready,
            last_result=state.last_result,
            last_sync=state.last_sync_time,
            leader=self._ports.is_leader(),
            fetch_error=state.fetch_error,
            deferred=dict(state.deferred),
            degraded=dict(state.degraded),
            paused=tuple(sorted(paused)),
            pending=len(state.pending_changes),
            tenants=tenants,
        )

    def _paused(self) -> frozenset[str]:
        try:
            return self._ports.pauses.paused()
        except DockyardError as e:
            _log.warning("cannot read the paused tenants: %s", e)
            return frozenset()

    def _tenant_status(self, state: DaemonState, model: PlatformModel, tenant: str, only: str | None) -> TenantStatus:
        apps = model.apps_of(tenant)
        if only is not None:
            apps = tuple(a for a in apps if a.name == only)
            if not apps:
                names = ", ".join(f"`{a.name}`" for a in model.apps_of(tenant)[:20]) or "none"
                raise ChatError(f"tenant `{tenant}` has no app `{only}`", hint=f"Apps: {names}.")
        live: dict[tuple[str, str], dict[str, Any]] = {}
        error = ""
        if self._ports.kube is not None:
            try:
                live = self._live(self._ports.kube, tenant)
            except DockyardError as e:
                error = str(e)
        elif state.health:
            error = "live state is not available; showing the last sync"
        result = []
        for app in apps:
            kind = "StatefulSet" if app.stateful else "Deployment"
            obj = live.get((kind, app.name))
            scaling = model.autoscaling_for(tenant, app.name)
            hpa_obj = live.get(("HorizontalPodAutoscaler", app.name))
            hpa = None
            if scaling is not None:
                hpa_status = (hpa_obj or {}).get("status") or {}
                hpa = HpaStatus(
                    scaling.min_replicas,
                    scaling.max_replicas,
                    hpa_status.get("currentReplicas"),
                    hpa_status.get("desiredReplicas"),
                )
            canary = ""
            if app.canary is not None:
                canary = f"{app.canary.image}, {app.canary.weight}%"
            if obj is None:
                result.append(AppStatus(app.name, kind, "missing", "", app.image, app.replicas, hpa=hpa, canary=canary))
                continue
            health = assess(ObjRef("apps", kind, tenant, app.name), obj)
            spec, status = obj.get("spec") or {}, obj.get("status") or {}
            containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            ready = status.get("readyReplicas" if kind == "StatefulSet" else "availableReplicas", 0)
            result.append(
                AppStatus(
                    app.name,
                    kind,
                    health.state,
                    health.message,
                    image=str(containers[0].get("image", app.image)),
                    replicas_in_git=None if scaling else app.replicas,
                    ready=int(ready or 0),
                    wanted=spec.get("replicas"),
                    revision=str(annotations.get("dockyard.dev/revision", "")),
                    hpa=hpa,
                    canary=canary,
                )
            )
        revision = state.revision.sha if state.revision else ""
        paused = tenant in self._paused()
        return TenantStatus(
            tenant,
            tuple(result),
            paused=paused,
            waiting=state.deferred.get(tenant, "") if not paused else "",
            revision=revision,
            applied=state.applied_sha,
            only_app=only,
            error=error,
        )

    @staticmethod
    def _live(kube: KubeClient, namespace: str) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for api_version, kind in (
            ("apps/v1", "Deployment"),
            ("apps/v1", "StatefulSet"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ):
            rtype = kube.resource_type(api_version, kind)
            for obj in kube.list_objects(rtype, namespace=namespace, label_selector=_MANAGED):
                found[(kind, str(obj["metadata"]["name"]))] = obj
        return found

    # diff

    def _diff(self) -> _Outcome:
        state = self._ports.snapshot()
        revision = state.revision.sha if state.revision else ""
        reply = diff_view(
            revision=revision,
            applied=state.applied_sha,
            counts=state.last_plan_counts,
            pending=state.pending_changes,
            deferred=state.deferred,
            last_sync=state.last_sync_time,
        )
        return _Outcome("allowed", reply, f"{len(state.pending_changes)} pending change(s)")

    # sync, pause, resume

    def _sync(self, command: Sync, invocation: Invocation) -> _Outcome:
        notes: list[str] = []
        if command.tenant_name is not None:
            self._require_tenant(command.tenant_name)
            notes.append(f"A cycle syncs every tenant, `{command.tenant_name}` included.")
            if command.tenant_name in self._paused():
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
            f"Sync requested by <@{invocation.user_id}> ({how})",
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

        return _Outcome("succeeded", reply, f"{how}", follow=done)

    def _pause_or_resume(self, command: Pause | Resume, invocation: Invocation) -> _Outcome:
        pausing = isinstance(command, Pause)
        if command.tenant_name is not None:
            self._require_tenant(command.tenant_name)
            tenants = [command.tenant_name]
        elif pausing:
            tenants = ["*"]  # everything, including tenants added later and platform-level objects
        else:
            tenants = sorted(self._paused())
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
            reply = notice_view("⏸️", f"Paused {names}", lines, [f"by <@{invocation.user_id}>"], in_channel=True)
        else:
            if tenants:
                self._ports.request_cycle("manual")
            lines = ["Their waiting changes are being applied now."] if tenants else ["Nothing was paused."]
            reply = notice_view("▶️", f"Resumed {names}", lines, [f"by <@{invocation.user_id}>"], in_channel=True)
        return _Outcome("succeeded", reply, f"{command.verb}d {', '.join(tenants) or 'nothing'}")

    # commits

    def _commit(self, command: Scale | Rollback, invocation: Invocation) -> _Outcome:
        requester = Requester(invocation.user_id, invocation.user_name)
        mode = self._commit_mode
        if isinstance(command, Scale):
            self._require_tenant(command.tenant_name)
            result = self._gitops.scale(
                command.tenant_name, command.app, command.replicas, requester=requester, mode=mode
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
                [f"requested by <@{invocation.user_id}> · commit mode: branch"],
                in_channel=True,
            )
            return _Outcome("succeeded", reply, f"branch {result.branch}", result.sha, author)
        self._ports.request_cycle("manual")
        reply = notice_view(
            "📦",
            f"Committed {_short(result)} to `{escape(result.branch)}`",
            [f"`{escape(command.text())}`: {escape(result.summary)}", "Applying it now; I'll report when it is done."],
            [f"requested by <@{invocation.user_id}> · authored by Dockyard"],
            in_channel=True,
        )

        def applied() -> Reply | None:
            waited = self._wait(lambda s: _settled(s, result.sha))
            if waited is None:
                return None
            if not waited[1]:
                return self._still_running(f"Applying {result.short_sha}")
            return self._commit_notice(waited[0], result)

        return _Outcome(
            "succeeded", reply, f"committed {result.sha[:8]} to {result.branch}", result.sha, author, follow=applied
        )

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

    # answering and auditing

    @staticmethod
    def _send(reply: Callable[[Reply], None], answer: Reply) -> None:
        try:
            reply(answer)
        except Exception as e:  # the answer is lost, the audit record still gets written
            _log.warning("could not answer a chat command: %s", type(e).__name__)

    def _audit(
        self,
        invocation: Invocation,
        command: Command | None,
        started: datetime,
        outcome: _Outcome,
        decision: Decision | None = None,
    ) -> None:
        finished = self._clock()
        record = HistoryRecord(
            id=new_record_id(),
            kind="command",
            started=started.isoformat(),
            finished=finished.isoformat(),
            revision=outcome.revision,
            author=outcome.author,
            message=_plain(outcome.summary)[:500],
            trigger="slack",
            result=outcome.result,
            errors=[_plain(e)[:500] for e in outcome.errors],
            duration_seconds=round((finished - started).total_seconds(), 3),
            user=invocation.who,
            channel=invocation.where,
            command=invocation.line,
        )
        try:
            self._ports.history.append(record)
        except DockyardError as e:
            _log.warning("could not record the chat command in the history: %s", e)
        tenant = command.tenant if command is not None else None
        app = command.app if isinstance(command, Status | Scale) else None
        details: dict[str, Any] = {
            "via": "slack",
            "user": invocation.user_id,
            "userName": invocation.user_name,
            "channel": invocation.channel_id,
            "channelName": invocation.channel_name,
            "command": invocation.line,
            "result": outcome.result,
        }
        if decision is not None:
            details["role"] = decision.role
            details["required"] = decision.requirement.role
        event = Event.make(
            "command.executed",
            f"{invocation.user_name or invocation.user_id} ran `{invocation.line}`: {outcome.result}"
            + (f" ({_plain(outcome.summary)})" if outcome.summary else ""),
            severity="warning" if outcome.result == "denied" else "info",
            tenant=tenant if tenant else None,
            app=app,
            commit=CommitInfo(outcome.revision, outcome.author) if outcome.revision else None,
            group=f"command-{record.id}",
            details=details,
            errors=tuple(record.errors),
        )
        try:
            self._ports.emit(event)
        except Exception:  # delivery problems never break a command
            _log.exception("could not emit command.executed")


def _settled(state: DaemonState, sha: str) -> bool:
    if sha in (state.invalid_sha, state.applied_sha):
        return True
    current = state.revision is not None and state.revision.sha == sha
    return current and (bool(state.deferred) or (state.last_result == "failed" and state.failures > 0))


def _short(result: CommitResult) -> str:
    return f"`{result.short_sha}`"


def _plain(text: str) -> str:
    """Audit text without Slack markup."""
    return re.sub(r"[`*_]", "", text)
