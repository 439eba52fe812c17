"""Authorization from spec.chat.slack.roles: users, user groups and channels, per tenant; deny by default."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable

import pytest

from daemon.chat.authz import Authorizer, GroupDirectory, Identity, requirement
from daemon.chat.commands import parse
from daemon.model.kinds import SlackRoleBinding
from tests.clock import FakeClock

ROLES = (
    SlackRoleBinding("admin", users=("UADMIN",), tenants=("*",)),
    SlackRoleBinding("admin", channels=("CPLATFORM",), tenants=("*",)),
    SlackRoleBinding("operator", groups=("SSHOPDEV",), tenants=("shop",)),
    SlackRoleBinding("viewer", users=("UVIEWER",), tenants=("*",)),
    SlackRoleBinding("viewer", users=("USHOPVIEW",), tenants=("shop",)),
    SlackRoleBinding("operator", users=("UDATA",), tenants=("data", "etl")),
    SlackRoleBinding("viewer", users=("UDATA",), tenants=("*",)),
)


def allowed(who: Identity, text: str, roles: Iterable[SlackRoleBinding] = ROLES) -> bool:
    return Authorizer(roles).check(who, parse(text)).allowed


ADMIN = Identity("UADMIN", "CRANDOM")
IN_PLATFORM_CHANNEL = Identity("UNOBODY", "CPLATFORM")
SHOP_DEV = Identity("UDEV", "CRANDOM", frozenset({"SSHOPDEV"}))
VIEWER = Identity("UVIEWER", "CRANDOM")
SHOP_VIEWER = Identity("USHOPVIEW", "CRANDOM")
DATA = Identity("UDATA", "CRANDOM")
STRANGER = Identity("USTRANGER", "CRANDOM")


@pytest.mark.parametrize(
    "text",
    [
        "status",
        "status shop",
        "diff",
        "history",
        "sync",
        "sync shop",
        "sync --force",
        "pause",
        "pause shop",
        "resume",
        "scale shop/web 3",
        "rollback abcd1234",
    ],
)
def test_nobody_gets_anything_without_a_binding(text: str) -> None:
    assert not allowed(STRANGER, text)
    assert not allowed(ADMIN, text, roles=())


def test_help_is_open_to_everyone_so_strangers_learn_how_to_get_a_role() -> None:
    assert allowed(STRANGER, "help") and allowed(STRANGER, "", roles=())


@pytest.mark.parametrize(
    ("who", "text", "ok"),
    [
        # admin for "*": everything
        (ADMIN, "rollback abcd1234", True),
        (ADMIN, "sync --force", True),
        (ADMIN, "pause", True),
        (ADMIN, "resume", True),
        (ADMIN, "scale shop/web 3", True),
        # a channel binding: everyone typing in #platform is admin
        (IN_PLATFORM_CHANNEL, "rollback abcd1234", True),
        (Identity("UNOBODY", "COTHER"), "status", False),
        # operator of shop through a user group
        (SHOP_DEV, "status shop", True),
        (SHOP_DEV, "status shop/web", True),
        (SHOP_DEV, "sync shop", True),
        (SHOP_DEV, "pause shop", True),
        (SHOP_DEV, "resume shop", True),
        (SHOP_DEV, "scale shop/web 3", True),
        (SHOP_DEV, "scale data/etl 3", False),  # another tenant
        (SHOP_DEV, "status", False),  # platform-level needs "*"
        (SHOP_DEV, "diff", False),
        (SHOP_DEV, "history", False),
        (SHOP_DEV, "sync", False),
        (SHOP_DEV, "sync shop --force", False),  # --force is admin for "*"
        (SHOP_DEV, "pause", False),  # every tenant: admin
        (SHOP_DEV, "rollback abcd1234", False),
        # viewer for "*": read-only everywhere
        (VIEWER, "status", True),
        (VIEWER, "status shop/web", True),
        (VIEWER, "diff", True),
        (VIEWER, "history 5", True),
        (VIEWER, "sync", False),
        (VIEWER, "sync shop", False),
        (VIEWER, "scale shop/web 3", False),
        (VIEWER, "pause shop", False),
        # viewer of one tenant only
        (SHOP_VIEWER, "status shop", True),
        (SHOP_VIEWER, "status data", False),
        (SHOP_VIEWER, "status", False),
        # the highest role of the matching bindings counts, per tenant
        (DATA, "scale data/etl 2", True),
        (DATA, "scale etl/x 2", True),
        (DATA, "scale shop/web 2", False),
        (DATA, "status shop", True),
        (DATA, "status", True),
        (DATA, "sync", False),
    ],
)
def test_roles_map_to_commands_per_tenant(who: Identity, text: str, ok: bool) -> None:
    assert allowed(who, text) is ok


def test_a_denial_says_what_is_needed_and_what_the_caller_has() -> None:
    decision = Authorizer(ROLES).check(SHOP_DEV, parse("sync shop --force"))
    assert not decision.allowed
    assert decision.requirement.role == "admin" and decision.requirement.tenant == "*"
    assert "`sync` needs *admin* for every tenant (`*`)" in decision.reason
    assert "ignores the sync windows of every tenant" in decision.reason
    assert "you have no role there" in decision.reason
    decision = Authorizer(ROLES).check(VIEWER, parse("scale shop/web 3"))
    assert "needs *operator* for tenant `shop`" in decision.reason and "you are viewer there" in decision.reason


def test_grants_list_each_tenant_with_the_highest_role() -> None:
    assert Authorizer(ROLES).grants(DATA) == {"*": "viewer", "data": "operator", "etl": "operator"}
    assert Authorizer(ROLES).grants(STRANGER) == {}
    assert Authorizer(ROLES).groups == frozenset({"SSHOPDEV"})


def test_every_command_has_a_rule() -> None:
    for text in ("help", "status", "diff", "history", "sync", "pause", "resume", "scale a/b 1", "rollback abcd"):
        need = requirement(parse(text))
        assert need.role is None or need.why != "this command has no authorization rule"


class CountingFetch:
    def __init__(self, members: dict[str, list[str]]) -> None:
        self.members = members
        self.calls: list[str] = []
        self.fail = False

    def __call__(self, group: str) -> list[str]:
        self.calls.append(group)
        if self.fail:
            raise ConnectionError("slack is down")
        return self.members.get(group, [])


def test_group_members_are_cached_for_a_minute_and_only_bound_groups_are_asked() -> None:
    clock = FakeClock()
    fetch = CountingFetch({"SSHOPDEV": ["UDEV"], "SOTHER": ["UDEV"]})
    directory = GroupDirectory(fetch, ttl=60, clock=clock.monotonic)
    authorizer = Authorizer(ROLES)
    groups = directory.groups_of("UDEV", authorizer.groups)
    assert groups == frozenset({"SSHOPDEV"})
    assert authorizer.check(Identity("UDEV", "C1", groups), parse("scale shop/web 2")).allowed
    directory.groups_of("UDEV", authorizer.groups)
    directory.groups_of("USOMEONE", authorizer.groups)
    assert fetch.calls == ["SSHOPDEV"]  # cached; SOTHER is bound nowhere and never asked about
    clock.advance(61)
    directory.groups_of("UDEV", authorizer.groups)
    assert fetch.calls == ["SSHOPDEV", "SSHOPDEV"]


def test_a_failing_lookup_keeps_what_was_known_and_never_grants_what_was_not() -> None:
    clock = FakeClock()
    fetch = CountingFetch({"SSHOPDEV": ["UDEV"]})
    directory = GroupDirectory(fetch, ttl=60, retry_after=10, clock=clock.monotonic)
    assert directory.members("SSHOPDEV") == {"UDEV"}
    fetch.fail = True
    clock.advance(61)
    assert directory.members("SSHOPDEV") == {"UDEV"}  # Slack hiccup: still known
    assert directory.members("SNEW") == frozenset()  # never known: nobody
    calls = len(fetch.calls)
    clock.advance(5)
    directory.members("SSHOPDEV")
    assert len(fetch.calls) == calls  # failures are retried after retry_after, not on every command


def test_the_pure_modules_import_no_io_libraries() -> None:
    code = (
        "import sys\n"
        "import daemon.chat.commands, daemon.chat.authz, daemon.chat.yamledit, daemon.chat.views\n"
        "bad = [m for m in ('slack_bolt', 'slack_sdk', 'git', 'kubernetes', 'daemon.edges.kube', 'daemon.source')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
