"""What people change from the console: scale, pause, resume, sync and restore, exactly as the
chat commands do, with the same roles.

* scale and restore become commits on the platform repo (:class:`~daemon.chat.gitops.GitOps`,
  straight to the branch or to a branch for review per ``spec.chat.commitMode``), never writes to
  the cluster; the daemon applies them like any other commit;
* pause and resume write the pauses every replica reads, sync asks for a cycle (as in chat);
* who may do what is the chat's rule table (:func:`daemon.chat.authz.requirement`), applied to
  the console's own role bindings (``spec.console.roles``); restore, which has no chat command,
  needs what scale needs: operator for the tenant;
* only the leader acts: a standby hands the action, with who asked, to the leader through the
  daemon's inbox, and the leader authorizes it again against its own model before carrying it out;
* every action, allowed or denied, is written to the audit trail (kind ``command``, trigger
  ``console``) and emitted as ``command.executed``.

Canary promote and abort are not here: the chat has no such commands yet on this branch.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from daemon.chat.authz import ROLE_RANK, Requirement, requirement
from daemon.chat.commands import MAX_REPLICAS, Command, CommandSyntaxError, parse
from daemon.chat.gitops import AUTHOR_EMAIL, AUTHOR_NAME, CommitResult, Requester
from daemon.console.access import Principal, Roles
from daemon.console.ports import ConsolePorts
from daemon.errors import ChatError, ConsoleError, DockyardError
from daemon.model.audit import HistoryRecord, HistoryResult, new_record_id
from daemon.model.events import CommitInfo, Event
from daemon.model.kinds import PlatformModel

__all__ = ["ACTIONS", "ActionRequest", "ActionResult", "ConsoleActions"]

_log = logging.getLogger(__name__)

ActionName = Literal["scale", "pause", "resume", "sync", "restore"]
ACTIONS: tuple[ActionName, ...] = ("scale", "pause", "resume", "sync", "restore")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SNAPSHOT = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class ActionRequest:
    action: ActionName
    tenant: str | None = None  # None: every tenant (pause, resume, sync)
    app: str = ""
    replicas: int = 0
    volume: str = ""
    snapshot: str = ""
    force: bool = False

    @classmethod
    def parse(cls, action: str, data: Mapping[str, Any]) -> ActionRequest:
        """From a form or JSON body; raises ConsoleError saying what is wrong."""
        if action not in ACTIONS:
            raise ConsoleError(f"there is no action {action[:40]!r}", status=404, hint="actions: " + ", ".join(ACTIONS))

        def name(key: str, *, required: bool, pattern: re.Pattern[str] = _NAME, limit: int = 63) -> str:
            value = data.get(key, "")
            if not isinstance(value, str):
                raise ConsoleError(f"{key} must be text")
            value = value.strip()
            if not value:
                if required:
                    raise ConsoleError(f"{action} needs a {key}")
                return ""
            if len(value) > limit or not pattern.match(value):
                raise ConsoleError(f"{value[:40]!r} is not a valid {key} name (lower-case letters, digits and '-')")
            return value

        tenant = name("tenant", required=action in ("scale", "restore")) or None
        if action == "scale":
            raw = data.get("replicas")
            text = str(raw).strip() if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
            if not text.isdigit() or not 0 <= int(text) <= MAX_REPLICAS:
                raise ConsoleError(f"replicas must be a whole number from 0 to {MAX_REPLICAS}")
            return cls("scale", tenant, app=name("app", required=True), replicas=int(text))
        if action == "restore":
            return cls(
                "restore",
                tenant,
                volume=name("volume", required=True),
                snapshot=name("snapshot", required=True, pattern=_SNAPSHOT, limit=253),
            )
        force = data.get("force") in (True, "true", "on", "1")
        if force and action != "sync":
            raise ConsoleError("only sync takes force")
        return cls(action, tenant, force=force)

    def text(self) -> str:
        """The action as one line, in the chat's words where the chat has the command."""
        if self.action == "scale":
            return f"scale {self.tenant}/{self.app} {self.replicas}"
        if self.action == "restore":
            return f"restore {self.tenant}/{self.volume} {self.snapshot}"
        return " ".join([self.action, *([self.tenant] if self.tenant else []), *(["--force"] if self.force else [])])

    def command(self) -> Command | None:
        """The chat command it is (its rules and checks are the chat's); None for restore."""
        if self.action == "restore":
            return None
        try:
            return parse(self.text())
        except CommandSyntaxError as e:  # parse() guards what ActionRequest.parse guards already
            raise ConsoleError(str(e), hint=e.hint) from e

    def requirement(self) -> Requirement:
        command = self.command()
        if command is None:
            return Requirement("operator", self.tenant or "*", "a restore commits to one tenant's Volume")
        return requirement(command)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "tenant": self.tenant or "",
            "app": self.app,
            "replicas": self.replicas,
            "volume": self.volume,
            "snapshot": self.snapshot,
            "force": self.force,
        }


@dataclass(frozen=True)
class ActionResult:
    status: int  # HTTP: 200 done, 202 handed to the leader, 403 denied, 4xx/5xx failed
    result: HistoryResult
    message: str
    hint: str = ""
    commit: str = ""
    branch: str = ""
    direct: bool = True
    merge_request_url: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "message": self.message,
            "hint": self.hint,
            "commit": self.commit,
            "branch": self.branch,
            "direct": self.direct,
            "mergeRequestUrl": self.merge_request_url,
        }


class ConsoleActions:
    def __init__(self, ports: ConsolePorts, roles: Callable[[], Roles], model: Callable[[], PlatformModel | None]):
        self._ports = ports
        self._roles = roles
        self._model = model

    def allowed(self, who: Principal, request: ActionRequest) -> bool:
        need = request.requirement()
        role = self._roles().role_for(who, need.tenant)
        return need.role is None or (role is not None and ROLE_RANK[role] >= ROLE_RANK[need.role])

    def run(self, who: Principal, request: ActionRequest, *, handed_over: bool = False) -> ActionResult:
        started = self._ports.clock()
        need = request.requirement()
        role = self._roles().role_for(who, need.tenant)
        if self._model() is None:
            result = ActionResult(
                503, "failed", "the daemon has not loaded the platform repo yet, so it knows no roles"
            )
        elif need.role is not None and (role is None or ROLE_RANK[role] < ROLE_RANK[need.role]):
            where = "every tenant (*)" if need.tenant == "*" else f"tenant {need.tenant}"
            have = f"you are {role} there" if role else "you have no role there"
            because = f" ({need.why.replace('`', '')})" if need.why else ""
            result = ActionResult(403, "denied", f"{request.action} needs {need.role} for {where}{because}; {have}")
        elif not self._ports.is_leader():
            return self._hand_over(who, request)
        else:
            result = self._execute(who, request)
        self._audit(who, request, started, result, role, need)
        return result

    def run_handed_over(self, payload: Mapping[str, Any]) -> ActionResult | None:
        """On the leader: an action a standby received (authorized again here)."""
        try:
            who_data, action = payload["who"], payload["request"]
            who = Principal(str(who_data["user"]), frozenset(map(str, who_data.get("groups", ()))), who_data["via"])
            request = ActionRequest.parse(str(action["action"]), action)
        except (KeyError, TypeError, ValueError, ConsoleError) as e:
            _log.warning("dropping a handed-over console action that cannot be read: %s", e)
            return None
        return self.run(who, request, handed_over=True)

    # --- carrying out ---------------------------------------------------------------------------

    def _hand_over(self, who: Principal, request: ActionRequest) -> ActionResult:
        if self._ports.hand_to_leader is None:
            return ActionResult(503, "failed", "this replica is a standby and no leader can be reached; try again")
        payload = {
            "who": {"user": who.user, "groups": sorted(who.groups), "via": who.via},
            "request": request.to_json(),
        }
        try:
            self._ports.hand_to_leader(payload)
        except DockyardError as e:
            return ActionResult(503, "failed", f"cannot hand the action to the leader, try again: {e}")
        return ActionResult(
            202,
            "succeeded",
            f"{request.text()}: handed to the leader, which carries it out within seconds",
            hint="the Operations page shows it once done",
        )

    def _execute(self, who: Principal, request: ActionRequest) -> ActionResult:
        try:
            model = self._model()
            assert model is not None
            if request.tenant is not None and model.tenant(request.tenant) is None:
                return ActionResult(404, "failed", f"there is no tenant {request.tenant}")
            if request.action in ("scale", "restore"):
                return self._commit(who, request, model)
            if request.action in ("pause", "resume"):
                return self._pause_or_resume(request)
            self._ports.request_cycle("manual-override" if request.force else "manual")
            how = "ignoring sync windows" if request.force else "respecting sync windows"
            return ActionResult(200, "succeeded", f"sync requested ({how})")
        except ConsoleError as e:
            return ActionResult(e.status, "failed", str(e), e.hint)
        except ChatError as e:
            return ActionResult(409, "failed", str(e).replace("`", ""), e.hint.replace("`", ""))
        except DockyardError as e:
            return ActionResult(
                502, "failed", f"{type(e).__name__}: {e}", "try again; if it keeps failing, tell the platform team"
            )

    def _pause_or_resume(self, request: ActionRequest) -> ActionResult:
        pausing = request.action == "pause"
        if request.tenant is not None:
            tenants = [request.tenant]
        elif pausing:
            tenants = ["*"]
        else:
            tenants = sorted(self._ports.pauses.paused())
        for tenant in tenants:
            if pausing:
                self._ports.pauses.pause(tenant)
            else:
                self._ports.pauses.resume(tenant)
        names = ", ".join("everything" if t == "*" else t for t in tenants) or "nothing"
        if not pausing and tenants:
            self._ports.request_cycle("manual")
        return ActionResult(200, "succeeded", f"{'paused' if pausing else 'resumed'} {names}")

    def _commit(self, who: Principal, request: ActionRequest, model: PlatformModel) -> ActionResult:
        gitops = self._ports.gitops
        if gitops is None:
            raise ConsoleError(
                "this daemon cannot commit to the platform repo", status=503, hint="change the repo in Git instead"
            )
        requester = Requester(who.user, who.user, via="console")
        mode = model.platform.chat.commit_mode
        assert request.tenant is not None
        result: CommitResult
        if request.action == "scale":
            result = gitops.scale(request.tenant, request.app, request.replicas, requester=requester, mode=mode)
        else:
            self._check_snapshot(request)
            result = gitops.restore(request.tenant, request.volume, request.snapshot, requester=requester, mode=mode)
        if result.direct:
            self._ports.request_cycle("manual")
            message = f"committed {result.short_sha} to {result.branch}: {result.summary}; applying it now"
        else:
            message = f"pushed branch {result.branch} with {result.short_sha} for review: {result.summary}"
        return ActionResult(
            200,
            "succeeded",
            message,
            commit=result.sha,
            branch=result.branch,
            direct=result.direct,
            merge_request_url=result.merge_request_url,
        )

    def _check_snapshot(self, request: ActionRequest) -> None:
        """A restore names a ready snapshot of that very Volume, as the cluster has it now."""
        live = self._ports.live.read()
        for obj in live.snapshots:
            meta = obj.get("metadata") or {}
            if meta.get("namespace") != request.tenant or meta.get("name") != request.snapshot:
                continue
            if (meta.get("labels") or {}).get("dockyard.dev/volume") != request.volume:
                raise ConsoleError(f"snapshot {request.snapshot} is not a backup of volume {request.volume}")
            if (obj.get("status") or {}).get("readyToUse") is not True:
                raise ConsoleError(f"snapshot {request.snapshot} is not ready to use", status=409)
            return
        raise ConsoleError(
            f"volume {request.tenant}/{request.volume} has no snapshot {request.snapshot}",
            status=404,
            hint="pick one from the Backups page",
        )

    # --- the audit trail -----------------------------------------------------------------------

    def _audit(
        self,
        who: Principal,
        request: ActionRequest,
        started: Any,
        result: ActionResult,
        role: str | None,
        need: Requirement,
    ) -> None:
        finished = self._ports.clock()
        author = f"{AUTHOR_NAME} <{AUTHOR_EMAIL}>" if result.commit else ""
        record = HistoryRecord(
            id=new_record_id(finished.timestamp()),
            kind="command",
            started=started.isoformat(),
            finished=finished.isoformat(),
            revision=result.commit,
            author=author,
            message=result.message[:500],
            trigger="console",
            result=result.result,
            errors=[result.message[:500]] if result.result in ("failed", "denied") else [],
            duration_seconds=round((finished - started).total_seconds(), 3),
            user=who.user,
            channel=f"console ({who.via})",
            command=request.text(),
            tenants=[request.tenant] if request.tenant else [],
        )
        try:
            self._ports.history.append(record)
        except DockyardError as e:
            _log.warning("could not record the console action in the audit trail: %s", e)
        event = Event.make(
            "command.executed",
            f"{who.user} ran `{request.text()}` in the console: {result.result} ({result.message})",
            severity="warning" if result.result == "denied" else "info",
            tenant=request.tenant,
            app=request.app or None,
            commit=CommitInfo(result.commit, author) if result.commit else None,
            group=f"command-{record.id}",
            details={
                "via": "console",
                "user": who.user,
                "command": request.text(),
                "result": result.result,
                "role": role,
                "required": need.role,
            },
            errors=tuple(record.errors),
        )
        try:
            self._ports.emit(event)
        except Exception:  # delivery problems never break an action
            _log.exception("could not emit command.executed")
