"""Who may run which chat command (pure): the Platform's ``spec.chat.slack.roles``.

A binding grants its role to every Slack user it lists, to every member of the user groups it
lists and to everyone typing in the channels it lists, for the tenants it lists (``"*"``: every
tenant, and the platform itself). Roles are ordered ``viewer < operator < admin``; a person's role
for a tenant is the highest of the bindings that match. Nothing matches: no role, and every
command but ``help`` is denied.

=========================  ======================================================
role for the tenant        may run
=========================  ======================================================
viewer                     help, status, diff, history
operator                   + sync, pause, resume, scale, canary
admin                      + rollback, ``sync --force``, pause/resume of every tenant
=========================  ======================================================

Commands without a tenant (``status``, ``diff``, ``history``, ``sync``, ``rollback``, ``pause``
and ``resume`` of every tenant) are platform-level and need the role for ``"*"``. ``sync --force``
ignores the sync windows of every tenant, so it needs admin for ``"*"`` whatever tenant it names.

Slack's slash-command payload does not say which user groups someone belongs to, so
:class:`GroupDirectory` asks (``usergroups.users.list`` through a function passed in) and caches
each group's members for a minute; it only asks about the groups the bindings mention.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from daemon.chat.commands import (
    CanaryEnd,
    Command,
    Diff,
    Help,
    History,
    Pause,
    Resume,
    Rollback,
    Scale,
    Status,
    Sync,
)
from daemon.model.kinds import ChatRole, SlackRoleBinding

__all__ = [
    "ALL_TENANTS",
    "ROLE_RANK",
    "Authorizer",
    "Decision",
    "GroupDirectory",
    "Identity",
    "Requirement",
    "requirement",
]

_log = logging.getLogger(__name__)

ALL_TENANTS = "*"
ROLE_RANK: Mapping[str, int] = {"viewer": 1, "operator": 2, "admin": 3}


@dataclass(frozen=True)
class Identity:
    """The person behind a command: Slack user id, the channel typed in, and their user groups."""

    user: str
    channel: str = ""
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Requirement:
    """The least role a command needs, for a tenant (``"*"``: platform-level)."""

    role: ChatRole | None  # None: anyone may run it
    tenant: str
    why: str = ""

    def describe(self) -> str:
        where = "every tenant (`*`)" if self.tenant == ALL_TENANTS else f"tenant `{self.tenant}`"
        return f"*{self.role}* for {where}" if self.role else "no role"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    requirement: Requirement
    role: ChatRole | None  # the caller's role for the required tenant
    reason: str


def requirement(command: Command) -> Requirement:
    """What ``command`` needs (see the table in the module docstring)."""
    tenant = command.tenant or ALL_TENANTS
    if isinstance(command, Help):
        return Requirement(None, ALL_TENANTS)
    if isinstance(command, Status | Diff | History):
        return Requirement("viewer", tenant)
    if isinstance(command, Sync):
        if command.force:
            return Requirement("admin", ALL_TENANTS, "`--force` ignores the sync windows of every tenant")
        return Requirement("operator", tenant)
    if isinstance(command, Pause | Resume):
        if command.tenant is None:
            return Requirement("admin", ALL_TENANTS, f"`{command.verb}` without a tenant affects every tenant")
        return Requirement("operator", tenant)
    if isinstance(command, Scale | CanaryEnd):
        return Requirement("operator", tenant)
    if isinstance(command, Rollback):
        return Requirement("admin", ALL_TENANTS, "a rollback changes the whole platform repo")
    # A command added to the language without a rule here is refused rather than allowed.
    return Requirement("admin", ALL_TENANTS, "this command has no authorization rule")


class Authorizer:
    """Roles from the bindings of the Platform; immutable, so swap a new one in on each model."""

    def __init__(self, bindings: Iterable[SlackRoleBinding] = ()) -> None:
        self.bindings: tuple[SlackRoleBinding, ...] = tuple(bindings)

    @property
    def groups(self) -> frozenset[str]:
        """Every user group some binding mentions: the only ones worth resolving."""
        return frozenset(g for b in self.bindings for g in b.groups)

    def _matches(self, binding: SlackRoleBinding, who: Identity) -> bool:
        return who.user in binding.users or who.channel in binding.channels or bool(who.groups & set(binding.groups))

    def role_for(self, who: Identity, tenant: str) -> ChatRole | None:
        """The highest role ``who`` has for ``tenant`` (``"*"``: bindings for every tenant only)."""
        best: ChatRole | None = None
        for binding in self.bindings:
            covers = ALL_TENANTS in binding.tenants or (tenant != ALL_TENANTS and tenant in binding.tenants)
            if covers and self._matches(binding, who) and ROLE_RANK[binding.role] > ROLE_RANK.get(best or "", 0):
                best = binding.role
        return best

    def grants(self, who: Identity) -> dict[str, ChatRole]:
        """Every tenant selector ``who`` has a role for, with the highest role: for help texts."""
        found: dict[str, ChatRole] = {}
        for binding in self.bindings:
            if not self._matches(binding, who):
                continue
            for tenant in binding.tenants:
                if ROLE_RANK[binding.role] > ROLE_RANK.get(found.get(tenant, ""), 0):
                    found[tenant] = binding.role
        return dict(sorted(found.items(), key=lambda kv: (kv[0] != ALL_TENANTS, kv[0])))

    def check(self, who: Identity, command: Command) -> Decision:
        need = requirement(command)
        role = self.role_for(who, need.tenant)
        if need.role is None:
            return Decision(True, need, role, "anyone may ask for help")
        if role is not None and ROLE_RANK[role] >= ROLE_RANK[need.role]:
            return Decision(True, need, role, f"{role} for {need.tenant}")
        have = f"you are {role} there" if role else "you have no role there"
        because = f" ({need.why})" if need.why else ""
        return Decision(False, need, role, f"`{command.verb}` needs {need.describe()}{because}; {have}")


class GroupDirectory:
    """Members of Slack user groups, fetched through ``fetch`` and cached for ``ttl`` seconds.

    ``fetch(group_id)`` returns the user ids of a group (``usergroups.users.list``). When it fails
    the last known members are kept (a Slack hiccup does not lock everyone out); a group that was
    never fetched counts as empty, so a failure never grants a role.
    """

    def __init__(
        self,
        fetch: Callable[[str], Iterable[str]],
        *,
        ttl: float = 60.0,
        retry_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._retry_after = retry_after
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}  # group -> (valid until, members)

    def members(self, group: str) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group)
        if cached is not None and now < cached[0]:
            return cached[1]
        try:
            members = frozenset(self._fetch(group))
        except Exception as e:  # any client failure: keep what we knew, try again soon
            _log.warning("cannot list the members of Slack user group %s: %s", group, type(e).__name__)
            kept = cached[1] if cached is not None else frozenset()
            with self._lock:
                self._cache[group] = (now + self._retry_after, kept)
            return kept
        with self._lock:
            self._cache[group] = (now + self._ttl, members)
        return members

    def groups_of(self, user: str, candidates: Iterable[str]) -> frozenset[str]:
        """The groups among ``candidates`` that ``user`` belongs to."""
        return frozenset(g for g in sorted(set(candidates)) if user in self.members(g))
