"""Sign-in (trusted proxy, bearer tokens, sessions), the Platform's console roles and the scope
they give, CSRF tokens and the Origin check: the pure rules of daemon.console.access."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from daemon.commands import run
from daemon.console.access import (
    Principal,
    ProxyTrust,
    Roles,
    SessionSigner,
    parse_tokens,
    same_origin,
)
from daemon.errors import ConfigError
from daemon.model.kinds import ConsoleRoleBinding
from tests.console.helpers import ADMIN_TOKEN, SHOP_TOKEN, TOKENS, example_model

TENANTS = ["analytics", "monitoring", "payments", "shop"]


def example_roles() -> Roles:
    return Roles(example_model().platform.console.roles)


def test_the_example_maps_groups_and_users_to_roles_per_tenant() -> None:
    roles = example_roles()
    admin = Principal("alice@example.com", frozenset({"platform-team"}))
    shop_dev = Principal("sam@example.com", frozenset({"shop-developers"}))
    bob = Principal("Bob@Example.com")  # user names compare without case
    stranger = Principal("eve@example.com", frozenset({"other"}))
    assert roles.role_for(admin, "shop") == "admin" and roles.role_for(admin, "*") == "admin"
    assert roles.role_for(shop_dev, "shop") == "operator"
    assert roles.role_for(shop_dev, "payments") is None and roles.role_for(shop_dev, "*") is None
    assert roles.role_for(bob, "shop") == "viewer"
    assert roles.scope(admin, TENANTS).platform
    assert roles.scope(shop_dev, TENANTS).tenants == {"shop"} and not roles.scope(shop_dev, TENANTS).platform
    assert roles.scope(stranger, TENANTS).nothing


def test_the_highest_matching_binding_wins() -> None:
    roles = Roles(
        (
            ConsoleRoleBinding("viewer", groups=("devs",), tenants=("shop",)),
            ConsoleRoleBinding("operator", users=("sam",), tenants=("shop",)),
            ConsoleRoleBinding("viewer", users=("sam",), tenants=("*",)),
        )
    )
    sam = Principal("sam", frozenset({"devs"}))
    assert roles.role_for(sam, "shop") == "operator"
    assert roles.role_for(sam, "payments") == "viewer"
    assert roles.grants(sam) == {"*": "viewer", "shop": "operator"}


def test_tokens_map_to_users_and_groups_and_only_digests_are_kept() -> None:
    book = parse_tokens(TOKENS, "tokens.txt")
    who = book.principal(ADMIN_TOKEN)
    assert who == Principal("alice@example.com", frozenset({"platform-team"}), "token")
    assert book.principal(SHOP_TOKEN + "x") is None
    assert ADMIN_TOKEN not in repr(book) and ADMIN_TOKEN not in str(book.users)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("short alice\n", "tokens.txt:1: the token must be at least 24"),
        ("# ok\n" + "a" * 30 + "\n", "tokens.txt:2: expected `TOKEN USER"),
        ("a" * 30 + " alice\n" + "a" * 30 + " bob\n", "tokens.txt:2: this token is listed twice"),
        ("a" * 30 + " al\x01ice\n", "is not a user name"),
    ],
)
def test_a_bad_token_file_names_file_and_line_never_the_token(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_tokens(text, "tokens.txt")
    assert "a" * 30 not in str(caught.value)


def test_proxy_headers_are_believed_only_from_the_proxy_and_with_its_secret() -> None:
    secret = "s" * 32
    trust = ProxyTrust.parse("10.0.0.0/8, 127.0.0.1", secret)
    headers = {
        "x-forwarded-user": "alice@example.com",
        "x-forwarded-groups": "platform-team, ops ,bad group",
        "x-dockyard-proxy-secret": secret,
    }
    assert trust.principal("10.1.2.3", headers) == Principal(
        "alice@example.com", frozenset({"platform-team", "ops"}), "proxy"
    )
    assert trust.principal("192.168.0.9", headers) is None  # not the proxy
    assert trust.principal("10.1.2.3", {**headers, "x-dockyard-proxy-secret": "wrong"}) is None
    assert trust.principal("not-an-address", headers) is None
    email_only = {"x-forwarded-email": "bob@example.com", "x-dockyard-proxy-secret": secret}
    assert trust.principal("127.0.0.1", email_only) == Principal("bob@example.com", frozenset(), "proxy")


def test_trusting_every_address_needs_a_shared_secret() -> None:
    with pytest.raises(ConfigError, match="would believe anyone"):
        ProxyTrust.parse("0.0.0.0/0", None)
    with pytest.raises(ConfigError, match="not an address or network"):
        ProxyTrust.parse("10.0.0.0/33", None)
    with pytest.raises(ConfigError, match="at least 24"):
        ProxyTrust.parse("0.0.0.0/0", "short")


def test_sessions_are_signed_expire_and_end_with_their_token() -> None:
    book = parse_tokens(TOKENS, "tokens.txt")
    signer = SessionSigner(b"k" * 32, lifetime_seconds=3600)
    fingerprint = book.fingerprint(ADMIN_TOKEN)
    assert fingerprint is not None and fingerprint not in ADMIN_TOKEN
    cookie = signer.session(fingerprint, "alice@example.com", now=1000)
    assert signer.read_session(cookie, book, now=2000) == Principal(
        "alice@example.com", frozenset({"platform-team"}), "session"
    )
    assert signer.read_session(cookie, book, now=1000 + 3601) is None  # expired
    payload, _, mac = cookie.partition(".")
    assert signer.read_session(payload[:-2] + "xx." + mac, book, now=2000) is None  # tampered
    other = SessionSigner(b"o" * 32, lifetime_seconds=3600)
    assert other.read_session(cookie, book, now=2000) is None  # another key
    without = parse_tokens(TOKENS.replace(ADMIN_TOKEN, "z" * 30), "tokens.txt")
    assert signer.read_session(cookie, without, now=2000) is None  # the token left the file


def test_csrf_tokens_are_bound_to_the_person() -> None:
    signer = SessionSigner(b"k" * 32, lifetime_seconds=3600)
    alice, eve = Principal("alice"), Principal("eve")
    token = signer.csrf(alice)
    assert signer.csrf_valid(token, alice)
    assert not signer.csrf_valid(token, eve)
    assert not signer.csrf_valid(token.split(".")[0] + ".forged", alice)
    assert not signer.csrf_valid("", alice)
    assert not Principal("x", via="token").needs_csrf and Principal("x", via="session").needs_csrf


@pytest.mark.parametrize(
    ("headers", "public", "expected"),
    [
        ({"origin": "http://console:8080", "host": "console:8080"}, None, True),
        ({"origin": "http://evil.example", "host": "console:8080"}, None, False),
        ({"origin": "https://dockyard.example.com"}, "https://dockyard.example.com", True),
        ({"origin": "http://dockyard.example.com"}, "https://dockyard.example.com", False),
        ({"origin": "null", "host": "console:8080"}, None, False),
        ({"sec-fetch-site": "cross-site"}, None, False),
        ({"sec-fetch-site": "same-origin"}, None, True),
        ({}, None, True),  # not a browser: CSRF is a browser's problem
    ],
)
def test_same_origin(headers: dict[str, str], public: str | None, expected: bool) -> None:
    assert same_origin(headers, public) is expected


def _run_args(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run.register(parser.add_subparsers())
    return parser.parse_args(["run", "--repo", "/tmp/x", *flags])


def test_the_console_settings_are_read_once_from_flags_and_environment(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKENS)
    args = _run_args(
        "--console-tokens",
        str(tokens),
        "--console-trusted-proxy",
        "10.0.0.0/8",
        "--console-url",
        "https://dockyard.example.com/",
    )
    settings = run.console_settings(args, {"DOCKYARD_CONSOLE_SESSION_KEY": "x" * 40})
    assert settings.enabled and settings.session_key_shared and settings.public_origin == "https://dockyard.example.com"
    assert settings.tokens.principal(ADMIN_TOKEN) is not None
    assert settings.proxy is not None and settings.proxy.trusts("10.2.3.4", {})
    assert "x" * 40 not in repr(settings)
    assert not run.console_settings(_run_args("--no-console"), {}).enabled


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        ((), {"DOCKYARD_CONSOLE_PROXY_SECRET": "s" * 30}, "no --console-trusted-proxy"),
        (("--console-url", "dockyard.example.com"), {}, "expected http://HOST"),
        ((), {"DOCKYARD_CONSOLE_SESSION_KEY": "short"}, "at least 32 characters"),
        (("--console-tokens", "/nonexistent/tokens"), {}, "cannot read it"),
    ],
)
def test_bad_console_settings_say_what_is_wrong(flags: tuple[str, ...], environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run.console_settings(_run_args(*flags), environ)
