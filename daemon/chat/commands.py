"""The ``/dockyard`` command language (pure): text in, a typed command or a friendly error out.

Grammar (words are separated by spaces; the verb is case-insensitive)::

    help                              what you can type, and your roles
    status [tenant[/app]]             revision, sync state, health, replicas and HPA
    diff                              the pending change (current revision against the applied one)
    sync [tenant] [--force]           a cycle now; --force ignores sync windows (admins)
    history [n]                       the last n cycles and commands (default 10, at most 50)
    pause [tenant] / resume [tenant]  hold or release a tenant's changes (all tenants without one)
    scale <tenant>/<app> <n>          a commit setting the App's spec.replicas
    rollback <revision>               a commit restoring the platform as of <revision>

:func:`parse` returns one of the frozen command classes below or raises
:class:`CommandSyntaxError`, whose message says what was wrong and what to type instead.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from daemon.errors import ChatError

__all__ = [
    "DEFAULT_HISTORY",
    "MAX_HISTORY",
    "MAX_REPLICAS",
    "USAGE",
    "Command",
    "CommandSyntaxError",
    "Diff",
    "Help",
    "History",
    "Pause",
    "Resume",
    "Rollback",
    "Scale",
    "Status",
    "Sync",
    "parse",
]

DEFAULT_HISTORY = 10
MAX_HISTORY = 50
#: A typo guard, not a platform limit: a commit asking for more is almost certainly a mistake.
MAX_REPLICAS = 1000

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_REVISION = re.compile(r"^[0-9a-f]{4,40}$")
_MAX_TEXT = 500


class CommandSyntaxError(ChatError):
    """The text is not a command; the message says what to type instead."""


@dataclass(frozen=True)
class Command:
    """Base of every command. ``verb`` is the first word; ``text()`` is the canonical form."""

    verb: ClassVar[str] = ""
    #: commands that take long enough to deserve a "working on it" acknowledgement
    slow: ClassVar[bool] = False
    #: commands that change desired state or the daemon's behaviour (answered in the channel)
    mutating: ClassVar[bool] = False

    @property
    def tenant(self) -> str | None:
        return None

    def text(self) -> str:
        return self.verb


@dataclass(frozen=True)
class Help(Command):
    verb: ClassVar[str] = "help"


@dataclass(frozen=True)
class Status(Command):
    verb: ClassVar[str] = "status"
    tenant_name: str | None = None
    app: str | None = None

    @property
    def tenant(self) -> str | None:
        return self.tenant_name

    def text(self) -> str:
        if self.tenant_name is None:
            return "status"
        return f"status {self.tenant_name}" + (f"/{self.app}" if self.app else "")


@dataclass(frozen=True)
class Diff(Command):
    verb: ClassVar[str] = "diff"
    #: computed from Git when asked: a large platform takes a few seconds
    slow: ClassVar[bool] = True


@dataclass(frozen=True)
class Sync(Command):
    verb: ClassVar[str] = "sync"
    mutating: ClassVar[bool] = True
    tenant_name: str | None = None
    force: bool = False

    @property
    def tenant(self) -> str | None:
        return self.tenant_name

    def text(self) -> str:
        parts = ["sync", *([self.tenant_name] if self.tenant_name else []), *(["--force"] if self.force else [])]
        return " ".join(parts)


@dataclass(frozen=True)
class History(Command):
    verb: ClassVar[str] = "history"
    limit: int = DEFAULT_HISTORY

    def text(self) -> str:
        return f"history {self.limit}"


@dataclass(frozen=True)
class _TenantSwitch(Command):
    mutating: ClassVar[bool] = True
    tenant_name: str | None = None  # None: every tenant

    @property
    def tenant(self) -> str | None:
        return self.tenant_name

    def text(self) -> str:
        return f"{self.verb} {self.tenant_name}" if self.tenant_name else self.verb


@dataclass(frozen=True)
class Pause(_TenantSwitch):
    verb: ClassVar[str] = "pause"


@dataclass(frozen=True)
class Resume(_TenantSwitch):
    verb: ClassVar[str] = "resume"


@dataclass(frozen=True)
class Scale(Command):
    verb: ClassVar[str] = "scale"
    slow: ClassVar[bool] = True
    mutating: ClassVar[bool] = True
    tenant_name: str = ""
    app: str = ""
    replicas: int = 0

    @property
    def tenant(self) -> str | None:
        return self.tenant_name

    def text(self) -> str:
        return f"scale {self.tenant_name}/{self.app} {self.replicas}"


@dataclass(frozen=True)
class Rollback(Command):
    verb: ClassVar[str] = "rollback"
    slow: ClassVar[bool] = True
    mutating: ClassVar[bool] = True
    revision: str = ""

    def text(self) -> str:
        return f"rollback {self.revision}"


#: One line per command, shown by ``help`` and in errors.
USAGE: dict[str, str] = {
    "help": "`help` - this list, and your roles",
    "status": "`status [tenant[/app]]` - revision, sync state, health, replicas and autoscaling",
    "diff": "`diff` - the changes waiting to be applied",
    "sync": "`sync [tenant] [--force]` - sync now (`--force` ignores sync windows; admins only)",
    "history": f"`history [n]` - the last n syncs and commands (default {DEFAULT_HISTORY}, at most {MAX_HISTORY})",
    "pause": "`pause [tenant]` - stop applying a tenant's changes (every tenant without one)",
    "resume": "`resume [tenant]` - apply a paused tenant's changes again",
    "scale": "`scale <tenant>/<app> <replicas>` - commit a new replica count to the platform repo",
    "rollback": "`rollback <revision>` - commit the platform repo as it was at <revision>",
}


def _error(message: str, verb: str | None = None) -> CommandSyntaxError:
    usage = f"Usage: {USAGE[verb]}" if verb else "Type `/dockyard help` to see every command."
    return CommandSyntaxError(message, hint=usage)


def _name(value: str, what: str, verb: str) -> str:
    if not _NAME.match(value) or len(value) > 63:
        raise _error(
            f"`{_clip(value)}` is not a valid {what} name: use lower-case letters, digits and '-'.",
            verb,
        )
    return value


def _tenant_app(value: str, verb: str, *, app_required: bool) -> tuple[str, str | None]:
    tenant, slash, app = value.partition("/")
    if not slash:
        if app_required:
            raise _error(f"Name the app as `<tenant>/<app>`, for example `shop/{_clip(value)}`.", verb)
        return _name(tenant, "tenant", verb), None
    return _name(tenant, "tenant", verb), _name(app, "app", verb)


def _count(value: str, what: str, verb: str, *, low: int, high: int) -> int:
    if not value.isdigit():
        raise _error(f"`{_clip(value)}` is not a number of {what}.", verb)
    number = int(value)
    if not low <= number <= high:
        raise _error(f"{what.capitalize()} must be between {low} and {high}; got {number}.", verb)
    return number


def _clip(text: str, width: int = 40) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= width else text[: width - 1] + "…"


def _no_more(args: list[str], verb: str) -> None:
    if args:
        raise _error(f"`{verb}` does not take `{_clip(' '.join(args))}`.", verb)


def _parse_status(args: list[str]) -> Command:
    _no_more(args[1:], "status")
    if not args:
        return Status()
    tenant, app = _tenant_app(args[0], "status", app_required=False)
    return Status(tenant, app)


def _parse_diff(args: list[str]) -> Command:
    _no_more(args, "diff")
    return Diff()


def _parse_sync(args: list[str]) -> Command:
    force = False
    rest: list[str] = []
    for arg in args:
        if arg in ("--force", "\u2014force"):  # some Slack clients turn "--" into an em dash
            force = True
        elif arg.startswith(("-", "\u2014")):
            raise _error(f"Unknown option `{_clip(arg)}`.", "sync")
        else:
            rest.append(arg)
    _no_more(rest[1:], "sync")
    return Sync(_name(rest[0], "tenant", "sync") if rest else None, force)


def _parse_history(args: list[str]) -> Command:
    _no_more(args[1:], "history")
    return History(_count(args[0], "entries", "history", low=1, high=MAX_HISTORY) if args else DEFAULT_HISTORY)


def _parse_pause(args: list[str]) -> Command:
    _no_more(args[1:], "pause")
    return Pause(_name(args[0], "tenant", "pause") if args else None)


def _parse_resume(args: list[str]) -> Command:
    _no_more(args[1:], "resume")
    return Resume(_name(args[0], "tenant", "resume") if args else None)


def _parse_scale(args: list[str]) -> Command:
    if len(args) != 2:
        raise _error("`scale` needs an app and a replica count, for example `scale shop/web 3`.", "scale")
    tenant, app = _tenant_app(args[0], "scale", app_required=True)
    assert app is not None
    return Scale(tenant, app, _count(args[1], "replicas", "scale", low=0, high=MAX_REPLICAS))


def _parse_rollback(args: list[str]) -> Command:
    if len(args) != 1:
        raise _error("`rollback` needs one revision, for example `rollback 1a2b3c4`.", "rollback")
    revision = args[0].lower()
    if not _REVISION.match(revision):
        raise _error(f"`{_clip(args[0])}` is not a commit id (4 to 40 hexadecimal digits).", "rollback")
    return Rollback(revision)


_PARSERS: dict[str, Callable[[list[str]], Command]] = {
    "status": _parse_status,
    "diff": _parse_diff,
    "sync": _parse_sync,
    "history": _parse_history,
    "pause": _parse_pause,
    "resume": _parse_resume,
    "scale": _parse_scale,
    "rollback": _parse_rollback,
}


def parse(text: str) -> Command:
    """The command in ``text`` (what follows ``/dockyard``); raises CommandSyntaxError."""
    if len(text) > _MAX_TEXT:
        raise _error(f"That is {len(text)} characters long; commands are short.")
    words = text.split()
    if not words or words[0].lower() in ("help", "?", "-h", "--help"):
        return Help()
    verb, args = words[0].lower(), words[1:]
    parser = _PARSERS.get(verb)
    if parser is not None:
        return parser(args)
    guess = difflib.get_close_matches(verb, list(USAGE), n=1, cutoff=0.6)
    suggestion = f" Did you mean `{guess[0]}`?" if guess else ""
    raise _error(f"I don't know the command `{_clip(verb)}`.{suggestion}")
