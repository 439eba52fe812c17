"""Carries out chat commands against the daemon, independent of Slack's transport.

The flow of one command (``prepare`` must be quick: it runs before Slack's 3-second ack)::

    prepare(invocation)   parse (pure)            -> what to acknowledge with right away
    run(prepared, reply)  authorize -> execute -> answer through ``reply`` -> audit -> event
                          -> for commits and syncs, a second answer once the daemon applied it
                             (from a small pool of its own, so waiting never blocks new commands)

The service authorizes a command and hands it to :class:`~daemon.chat.queries.Queries` (read-only)
or :class:`~daemon.chat.actions.Actions` (changes); both reach the daemon only through
:class:`~daemon.chat.ports.ChatPorts`, so the chat package never imports the runtime and tests can
hand in real parts one by one. Every command, allowed or denied, is written to the history (kind
``command``) and emitted as ``command.executed``:

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
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from daemon.chat.actions import Actions
from daemon.chat.authz import Authorizer, Decision, GroupDirectory, Identity
from daemon.chat.commands import (
    CanaryEnd,
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
from daemon.chat.gitops import GitOps, Requester
from daemon.chat.ports import ChatContext, ChatPorts, Outcome
from daemon.chat.queries import Queries
from daemon.chat.views import Reply, denied_view, error_view, escape, help_view, notice_view
from daemon.errors import ChatError, DockyardError
from daemon.model.audit import HistoryRecord, new_record_id
from daemon.model.events import CommitInfo, Event
from daemon.model.kinds import PlatformModel

__all__ = ["ChatService", "Invocation", "Prepared"]

_log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Z0-9]{2,32}$")


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
        self._groups = groups
        self._clock = clock
        self._authorizer = Authorizer()
        self._context = ChatContext(ports)
        self._queries = Queries(self._context)
        self._actions = Actions(self._context, gitops, follow_seconds=follow_seconds, follow_interval=follow_interval)
        self._followers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dockyard-chat-follow")

    # --- configuration -------------------------------------------------------------------------

    def update_model(self, model: PlatformModel) -> None:
        """A model listener: the roles and commit mode of each newly loaded revision."""
        self._authorizer = Authorizer(model.platform.chat.slack_roles)
        self._context.model = model

    def close(self) -> None:
        """Stops waiting for follow-ups; commands running now finish their current step."""
        self._actions.close()
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
                invocation, None, started, Outcome("failed", Reply(""), "not a command", errors=[str(error or "")])
            )
            return
        identity = self._identity(invocation)
        decision = self._authorizer.check(identity, command)
        if not decision.allowed:
            reason = decision.reason
            if self._context.model is None:
                reason = "Dockyard has not loaded the platform repo yet, so it knows no roles; try again in a minute"
            outcome = Outcome(
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

    # --- dispatch -------------------------------------------------------------------------------

    def _execute(self, command: Command, invocation: Invocation, identity: Identity) -> Outcome:
        try:
            if isinstance(command, Help):
                grants = self._authorizer.grants(identity)
                return Outcome(
                    "allowed",
                    help_view(grants, command=invocation.command, roles_known=self._context.model is not None),
                    "help",
                )
            if isinstance(command, Status):
                return self._queries.status(command)
            if isinstance(command, Diff):
                return self._queries.diff()
            if isinstance(command, History):
                return self._queries.history(command)
            requester = Requester(invocation.user_id, invocation.user_name)
            if isinstance(command, Sync):
                return self._actions.sync(command, requester)
            if isinstance(command, Pause | Resume):
                return self._actions.pause_or_resume(command, requester)
            if isinstance(command, Scale | CanaryEnd | Rollback):
                return self._actions.commit(command, requester)
            message = f"`{command.verb}` is not implemented"
            return Outcome("failed", error_view(message), message, errors=[message])
        except ChatError as e:
            return Outcome("failed", error_view(str(e), e.hint), str(e), errors=[str(e)])
        except DockyardError as e:
            message = f"{type(e).__name__}: {e}"
            hint = "Try again in a moment; if it keeps failing, tell the platform team."
            return Outcome("failed", error_view(escape(message), hint), message, errors=[message])
        except Exception as e:  # a bug must answer the user and be logged, not vanish in a thread
            _log.exception("chat command %s crashed", command.verb)
            message = f"internal error ({type(e).__name__})"
            return Outcome(
                "failed", error_view(message, "This is a bug in Dockyard; the daemon log has the details."), message
            )

    # --- answering and auditing ------------------------------------------------------------------

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
        outcome: Outcome,
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
        app = command.app if isinstance(command, Status | Scale | CanaryEnd) else None
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


def _plain(text: str) -> str:
    """Audit text without Slack markup."""
    return re.sub(r"[`*_]", "", text)
