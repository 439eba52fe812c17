"""Who is asking (sign-in), what they may see (scope) and what they may do (roles), for the console.

Sign-in, one of three ways, tried in this order:

1. a trusted OIDC reverse proxy (oauth2-proxy style) in front of the daemon, which sets
   ``X-Forwarded-User`` (or ``X-Forwarded-Email``) and ``X-Forwarded-Groups``. These headers are
   believed only when :class:`ProxyTrust` holds for the request: it came from one of the proxy's
   networks and, when a shared secret is configured, carries it in ``X-Dockyard-Proxy-Secret``.
   Anyone else sending them is just not signed in;
2. ``Authorization: Bearer <token>`` with a token of the token file (:class:`TokenBook`,
   mounted from a Secret: each token names a user and their groups), for scripts;
3. the session cookie a browser gets by typing such a token into ``/login``: signed with the
   session key, valid for a few hours, and only while its token is still in the file.

Roles are the Platform's ``spec.console.roles`` (user and group names as the sign-in gives them),
with the chat's role order and rules (:mod:`daemon.chat.authz`): a person's role for a tenant is
the highest of the bindings that match. The tenants someone has any role for are their
:class:`Scope`; every page and API answer is cut to it on the server.

CSRF: state-changing requests of a browser (a proxy sign-in or a session cookie, both sent
without the page asking) need the token of the ``dockyard_csrf`` cookie (``SameSite=Strict``,
``HttpOnly``) repeated in an ``X-CSRF-Token`` header or a ``csrf`` form field, signed for the same
person; the Origin is checked too (:func:`same_origin`). A bearer token is never sent by the
browser on its own, so requests signed in with one need no CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from daemon.chat.authz import ALL_TENANTS, ROLE_RANK
from daemon.errors import ConfigError
from daemon.model.kinds import ChatRole, ConsoleRoleBinding

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "Principal",
    "ProxyTrust",
    "Roles",
    "Scope",
    "SessionSigner",
    "TokenBook",
    "parse_tokens",
    "same_origin",
]

SESSION_COOKIE = "dockyard_session"
CSRF_COOKIE = "dockyard_csrf"
PROXY_SECRET_HEADER = "x-dockyard-proxy-secret"  # noqa: S105 - a header name, not a secret
#: Tokens shorter than this are guessable; the file is refused.
MIN_TOKEN_LENGTH = 24
_MAX_NAME = 254
_NAME = re.compile(r"^[^\s,;\x00-\x1f\x7f]{1,254}$")
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]+$")
_MAX_GROUPS = 100

SignIn = Literal["proxy", "token", "session"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Principal:
    """A signed-in person: their user name, their groups, and how they signed in."""

    user: str
    groups: frozenset[str] = frozenset()
    via: SignIn = "proxy"

    @property
    def needs_csrf(self) -> bool:
        """Credentials the browser sends on its own (proxy headers, cookies) need a CSRF token."""
        return self.via != "token"


def _clean_name(value: str) -> str | None:
    value = value.strip()
    return value if _NAME.match(value) else None


def _groups(raw: str) -> frozenset[str]:
    names = (_clean_name(g) for g in raw.split(",")[:_MAX_GROUPS])
    return frozenset(n for n in names if n)


@dataclass(frozen=True)
class ProxyTrust:
    """When the ``X-Forwarded-*`` headers of a request are believed."""

    networks: tuple[Network, ...]
    secret: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, networks: str, secret: str | None) -> ProxyTrust:
        """``networks``: comma-separated CIDRs or addresses, as ``--console-trusted-proxy`` takes them."""
        parsed = []
        for item in (n.strip() for n in networks.split(",")):
            if not item:
                continue
            try:
                parsed.append(ipaddress.ip_network(item, strict=False))
            except ValueError as e:
                raise ConfigError(
                    f"--console-trusted-proxy {item!r} is not an address or network (such as 10.0.0.0/8 or 127.0.0.1)"
                ) from e
        if not parsed:
            raise ConfigError("--console-trusted-proxy needs at least one address or network of the proxy")
        if any(n.prefixlen == 0 for n in parsed) and not secret:
            raise ConfigError(
                "--console-trusted-proxy 0.0.0.0/0 would believe anyone's X-Forwarded-User: name the proxy's "
                "network, or also set DOCKYARD_CONSOLE_PROXY_SECRET (the proxy sends it as X-Dockyard-Proxy-Secret)"
            )
        if secret is not None and len(secret) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"DOCKYARD_CONSOLE_PROXY_SECRET must be at least {MIN_TOKEN_LENGTH} characters long")
        return cls(tuple(parsed), secret)

    def trusts(self, client: str, headers: Mapping[str, str]) -> bool:
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        if not any(address in network for network in self.networks):
            return False
        if self.secret is None:
            return True
        sent = headers.get(PROXY_SECRET_HEADER, "")
        return hmac.compare_digest(sent.encode(), self.secret.encode())

    def principal(self, client: str, headers: Mapping[str, str]) -> Principal | None:
        if not self.trusts(client, headers):
            return None
        user = _clean_name(headers.get("x-forwarded-user", "")) or _clean_name(headers.get("x-forwarded-email", ""))
        if user is None:
            return None
        return Principal(user, _groups(headers.get("x-forwarded-groups", "")), "proxy")


@dataclass(frozen=True)
class _TokenUser:
    user: str
    groups: frozenset[str]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenBook:
    """Bearer tokens: only their SHA-256 digests are kept, so no token sits in memory or a dump."""

    users: Mapping[str, _TokenUser] = field(default_factory=dict, repr=False)  # digest -> user

    def __bool__(self) -> bool:
        return bool(self.users)

    def principal(self, token: str, via: SignIn = "token") -> Principal | None:
        found = self.users.get(_digest(token))
        return None if found is None else Principal(found.user, found.groups, via)

    def fingerprint(self, token: str) -> str | None:
        """What a session cookie remembers of its token (never the token itself)."""
        digest = _digest(token)
        return digest[:32] if digest in self.users else None

    def by_fingerprint(self, fingerprint: str) -> _TokenUser | None:
        return next((u for d, u in self.users.items() if hmac.compare_digest(d[:32], fingerprint)), None)


def parse_tokens(text: str, source: str) -> TokenBook:
    """The token file: one ``TOKEN USER [GROUP,GROUP...]`` per line; ``#`` starts a comment.

    Errors name the file and line, never the token."""
    users: dict[str, _TokenUser] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()  # "#" is never part of a token
        if not line:
            continue
        parts = line.split()
        where = f"{source}:{number}"
        if len(parts) not in (2, 3):
            raise ConfigError(f"{where}: expected `TOKEN USER [GROUP,GROUP...]`, got {len(parts)} field(s)")
        token, user, groups = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
        if len(token) < MIN_TOKEN_LENGTH or not _TOKEN.match(token):
            raise ConfigError(
                f"{where}: the token must be at least {MIN_TOKEN_LENGTH} characters of letters, digits and ._~+/=- "
                "(for example the output of `openssl rand -hex 32`)"
            )
        if _clean_name(user) is None or len(user) > _MAX_NAME:
            raise ConfigError(f"{where}: {user[:40]!r} is not a user name (no spaces, commas or control characters)")
        digest = _digest(token)
        if digest in users:
            raise ConfigError(f"{where}: this token is listed twice; every token names one user")
        users[digest] = _TokenUser(user, _groups(groups))
    return TokenBook(users)


class SessionSigner:
    """Signs and checks the session and CSRF cookies with the session key."""

    def __init__(self, key: bytes, *, lifetime_seconds: int) -> None:
        if len(key) < 16:
            raise ConfigError("the console's session key must be at least 16 bytes")
        self._key = key
        self.lifetime = lifetime_seconds

    def _mac(self, purpose: str, payload: str) -> str:
        digest = hmac.new(self._key, f"{purpose}|{payload}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def session(self, fingerprint: str, user: str, now: float) -> str:
        payload = _b64(json.dumps({"f": fingerprint, "u": user, "e": int(now) + self.lifetime}, separators=(",", ":")))
        return f"{payload}.{self._mac('session', payload)}"

    def read_session(self, value: str, tokens: TokenBook, now: float) -> Principal | None:
        payload, _, mac = value.partition(".")
        if not mac or not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            fingerprint, user, expires = str(data["f"]), str(data["u"]), int(data["e"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires < now:
            return None
        found = tokens.by_fingerprint(fingerprint)
        if found is None or found.user != user:
            return None  # the token left the file (or changed hands): the session ends with it
        return Principal(found.user, found.groups, "session")

    def csrf(self, who: Principal) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._mac('csrf', f'{nonce}|{who.user}')}"

    def csrf_valid(self, value: str, who: Principal) -> bool:
        nonce, _, mac = value.partition(".")
        return bool(nonce and mac) and hmac.compare_digest(mac, self._mac("csrf", f"{nonce}|{who.user}"))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def cookies(header: str) -> dict[str, str]:
    """The cookies of a ``Cookie`` header (the first of each name)."""
    found: dict[str, str] = {}
    for part in header.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name and name not in found:
            found[name] = value.strip()
    return found


def same_origin(headers: Mapping[str, str], public_origin: str | None) -> bool:
    """Whether a state-changing request comes from a page of the console itself.

    ``Origin`` (every browser sends it on POST) must be the console's: the configured public
    origin, else the ``Host`` the request was sent to. Without an Origin, ``Sec-Fetch-Site`` must
    say same-origin; a client sending neither is not a browser, and CSRF is a browser's problem.
    """
    origin = headers.get("origin")
    if origin is not None:
        if public_origin:
            return origin.rstrip("/") == public_origin.rstrip("/")
        host = headers.get("host", "")
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and bool(host) and parts.netloc == host
    site = headers.get("sec-fetch-site")
    return site is None or site in ("same-origin", "none")


@dataclass(frozen=True)
class Scope:
    """The tenants someone may see; ``platform``: every tenant and the platform-level facts."""

    platform: bool
    tenants: frozenset[str]

    def sees(self, tenant: str | None) -> bool:
        """``tenant`` None or "": something platform-level."""
        if self.platform:
            return True
        return bool(tenant) and tenant in self.tenants

    def sees_any(self, tenants: Iterable[str]) -> bool:
        listed = [t for t in tenants if t]
        return self.platform or any(t in self.tenants for t in listed)

    @property
    def nothing(self) -> bool:
        return not self.platform and not self.tenants


class Roles:
    """The console roles of ``spec.console.roles``; immutable, so swap a new one in on each model."""

    def __init__(self, bindings: Iterable[ConsoleRoleBinding] = ()) -> None:
        self.bindings = tuple(bindings)

    @staticmethod
    def _matches(binding: ConsoleRoleBinding, who: Principal) -> bool:
        user = who.user.casefold()
        return any(u.casefold() == user for u in binding.users) or bool(who.groups & set(binding.groups))

    def role_for(self, who: Principal, tenant: str) -> ChatRole | None:
        """The highest role ``who`` has for ``tenant`` (``"*"``: bindings for every tenant only)."""
        best: ChatRole | None = None
        for binding in self.bindings:
            covers = ALL_TENANTS in binding.tenants or (tenant != ALL_TENANTS and tenant in binding.tenants)
            if covers and self._matches(binding, who) and ROLE_RANK[binding.role] > ROLE_RANK.get(best or "", 0):
                best = binding.role
        return best

    def scope(self, who: Principal, tenants: Iterable[str]) -> Scope:
        if self.role_for(who, ALL_TENANTS) is not None:
            return Scope(True, frozenset(tenants))
        return Scope(False, frozenset(t for t in tenants if self.role_for(who, t) is not None))

    def grants(self, who: Principal) -> dict[str, ChatRole]:
        """Every tenant selector ``who`` has a role for, with the highest role."""
        found: dict[str, ChatRole] = {}
        for binding in self.bindings:
            if self._matches(binding, who):
                for tenant in binding.tenants:
                    if ROLE_RANK[binding.role] > ROLE_RANK.get(found.get(tenant, ""), 0):
                        found[tenant] = binding.role
        return dict(sorted(found.items(), key=lambda kv: (kv[0] != ALL_TENANTS, kv[0])))
