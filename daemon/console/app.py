"""The console's routes on the daemon's HTTP server: pages at ``/``, the JSON API under ``/api/``,
the package's own assets under ``/static/``.

Every answer carries a strict Content-Security-Policy (only this origin's script and style sheet,
no inline code, no frames), ``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store``
(assets excepted, which are cached by content hash). Every request is signed in first
(:mod:`daemon.console.access`) and cut to the viewer's scope; every state-changing one passes the
Origin and CSRF checks before its body is even parsed. Reads work on every replica; actions on a
standby go to the leader (:mod:`daemon.console.actions`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from daemon.console import pages, reads
from daemon.console.access import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Principal,
    ProxyTrust,
    Roles,
    Scope,
    SessionSigner,
    TokenBook,
    cookies,
    same_origin,
)
from daemon.console.actions import ACTIONS, ActionRequest, ActionResult, ConsoleActions
from daemon.console.ports import ConsolePorts
from daemon.console.topology import Focus
from daemon.edges.http import HttpServer, Request, Response
from daemon.errors import ConsoleError
from daemon.model.kinds import PlatformModel

__all__ = ["CSP", "Console", "ConsoleConfig"]

_log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_ASSETS = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_MAX_FIELDS = 40


@dataclass(frozen=True)
class ConsoleConfig:
    """How people sign in (built from the daemon's settings)."""

    proxy: ProxyTrust | None = None
    tokens: TokenBook = field(default_factory=TokenBook)
    session_key: bytes = field(default=b"", repr=False)
    session_seconds: int = 12 * 3600
    #: ``https://dockyard.example.com``: Origin checks compare with it, and cookies get ``Secure``
    public_origin: str | None = None


@dataclass
class _Seen:
    """A request, signed in and scoped."""

    who: Principal
    scope: Scope
    csrf: str
    new_csrf: bool


class Console:
    def __init__(self, ports: ConsolePorts, config: ConsoleConfig, *, wall: Callable[[], float] = time.time) -> None:
        self._ports = ports
        self._config = config
        self._signer = SessionSigner(config.session_key, lifetime_seconds=config.session_seconds)
        self._wall = wall
        self._roles = Roles()
        self._roles_of: object = None
        self.actions = ConsoleActions(ports, self.roles, self._model)
        self._assets: dict[str, tuple[bytes, str]] = {}
        self._flows = reads.FlowCache()

    # --- wiring -------------------------------------------------------------------------------

    def add_to(self, server: HttpServer) -> None:
        for path, page in (
            ("/", self.overview),
            ("/topology", self.topology),
            ("/backups", self.backups),
            ("/operations", self.operations),
            ("/operations/record", self.record),
            ("/api/overview", self.overview),
            ("/api/topology", self.topology),
            ("/api/backups", self.backups),
            ("/api/operations", self.operations),
            ("/api/operations/record", self.record),
            ("/api/whoami", self.whoami),
        ):
            server.route("GET", path, self._guarded(page))
        server.route("GET", "/login", self._guarded(self.login_form))
        server.route("POST", "/login", self._guarded(self.login))
        server.route("POST", "/logout", self._guarded(self.logout))
        for action in ACTIONS:
            server.route("POST", f"/api/actions/{action}", self._guarded(functools.partial(self.act, action)))
        for name in _ASSETS:
            server.route("GET", f"/static/{name}", functools.partial(self.asset, name))

    def update_model(self, model: PlatformModel) -> None:
        """A model listener: the console roles of each newly loaded revision."""
        self._roles = Roles(model.platform.console.roles)
        self._roles_of = model.platform.console

    def roles(self) -> Roles:
        model = self._model()
        if model is not None and model.platform.console is not self._roles_of:
            self.update_model(model)
        return self._roles

    def _model(self) -> PlatformModel | None:
        return self._ports.snapshot().model

    # --- the request's frame ------------------------------------------------------------------

    def _guarded(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def run(request: Request) -> Response:
            try:
                response = handler(request)
            except ConsoleError as e:
                response = self._error(request, e.status, str(e), e.hint)
            headers = {**_SECURITY_HEADERS, "Cache-Control": "no-store", **response.headers}
            return Response(response.status, response.body, response.content_type, headers)

        return run

    @staticmethod
    def _wants_json(request: Request) -> bool:
        return request.path.startswith("/api/") and "text/html" not in request.headers.get("accept", "")

    def _error(
        self, request: Request, status: int, message: str, hint: str = "", seen: _Seen | None = None
    ) -> Response:
        if self._wants_json(request):
            return Response(status, json.dumps({"error": message, "hint": hint}).encode(), "application/json")
        chrome = (
            self._chrome(seen)
            if seen
            else pages.Chrome(css=self._asset_url("console.css"), js=self._asset_url("console.js"))
        )
        return Response(
            status, pages.error_page(status, message, chrome, hint=hint).encode(), "text/html; charset=utf-8"
        )

    def authenticate(self, request: Request) -> Principal | None:
        headers = request.headers
        if self._config.proxy is not None:
            who = self._config.proxy.principal(request.client, headers)
            if who is not None:
                return who
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and self._config.tokens:
            return self._config.tokens.principal(auth[7:].strip())
        session = cookies(headers.get("cookie", "")).get(SESSION_COOKIE)
        if session and self._config.tokens:
            return self._signer.read_session(session, self._config.tokens, self._wall())
        return None

    def _see(self, request: Request) -> _Seen:
        who = self.authenticate(request)
        if who is None:
            hint = (
                "sign in at /login with your access token"
                if self._config.tokens
                else "open the console through the sign-in proxy"
            )
            raise ConsoleError("you are not signed in", status=401, hint=hint)
        model = self._model()
        tenants = [t.name for t in model.tenants] if model is not None else []
        scope = self.roles().scope(who, tenants)
        if scope.nothing and model is not None:
            raise ConsoleError(
                f"{who.user} has no console role",
                status=403,
                hint="the platform team grants roles in platform.yaml under spec.console.roles",
            )
        csrf = cookies(request.headers.get("cookie", "")).get(CSRF_COOKIE, "")
        if csrf and self._signer.csrf_valid(csrf, who):
            return _Seen(who, scope, csrf, False)
        return _Seen(who, scope, self._signer.csrf(who), True)

    def _cookie(self, name: str, value: str, max_age: int, request: Request) -> str:
        secure = (self._config.public_origin or "").startswith("https://") or (
            self._config.proxy is not None
            and self._config.proxy.trusts(request.client, request.headers)
            and request.headers.get("x-forwarded-proto") == "https"
        )
        return f"{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")

    def _respond(
        self, request: Request, seen: _Seen, html: Callable[[], str], data: Any, status: int = 200
    ) -> Response:
        if self._wants_json(request):
            response = Response.json(data, status)
        else:
            response = Response(status, html().encode(), "text/html; charset=utf-8")
        if seen.new_csrf:
            headers = {"Set-Cookie": self._cookie(CSRF_COOKIE, seen.csrf, self._config.session_seconds, request)}
            response = Response(response.status, response.body, response.content_type, headers)
        return response

    def _chrome(self, seen: _Seen) -> pages.Chrome:
        grants = self.roles().grants(seen.who)
        roles = ", ".join(f"{role} for {'every tenant' if t == '*' else t}" for t, role in grants.items())
        return pages.Chrome(
            user=seen.who.user,
            roles=roles,
            csrf=seen.csrf,
            css=self._asset_url("console.css"),
            js=self._asset_url("console.js"),
            can_sign_out=seen.who.via == "session",
        )

    @staticmethod
    def _query(request: Request) -> dict[str, str]:
        parsed = parse_qs(request.query, max_num_fields=_MAX_FIELDS)
        return {k: v[0][:200] for k, v in parsed.items() if v}

    # --- pages and their API ----------------------------------------------------------------------

    def overview(self, request: Request) -> Response:
        seen = self._see(request)
        data = reads.overview(self._ports, seen.scope, self._ports.live.read())
        can = self._can(seen)
        return self._respond(
            request, seen, lambda: pages.overview_page(data, self._chrome(seen), can), {**data, "can": can}
        )

    def _can(self, seen: _Seen) -> dict[str, Any]:
        actions = self.actions
        tenants = reads.tenants_of(self._ports.snapshot(), seen.scope)
        return {
            "sync": actions.allowed(seen.who, ActionRequest("sync")),
            "sync_force": actions.allowed(seen.who, ActionRequest("sync", force=True)),
            "pause_all": actions.allowed(seen.who, ActionRequest("pause")),
            "operate": [t for t in tenants if actions.allowed(seen.who, ActionRequest("pause", t))],
        }

    def topology(self, request: Request) -> Response:
        seen = self._see(request)
        query = self._query(request)
        state = self._ports.snapshot()
        tenants = list(reads.tenants_of(state, seen.scope))
        tenant, app = query.get("tenant") or None, query.get("app") or None
        if tenant is not None and tenant not in tenants:
            raise ConsoleError(f"there is no tenant {tenant} for you to see", status=404)
        if app is not None and tenant is None:
            raise ConsoleError("name the app's tenant too: ?tenant=...&app=...")
        model = state.model
        if app is not None and model is not None and not any(a.name == app for a in model.apps_of(str(tenant))):
            raise ConsoleError(f"tenant {tenant} has no app {app}", status=404)
        focus = Focus(tenant, app)
        data, graph = reads.topology_view(state, seen.scope, self._ports.live.read(), focus, self._flows)
        scale = None
        if (
            tenant
            and app
            and model is not None
            and self.actions.allowed(seen.who, ActionRequest("scale", tenant, app=app))
        ):
            found = next(a for a in model.apps_of(tenant) if a.name == app)
            if model.autoscaling_for(tenant, app) is None:
                scale = {
                    "tenant": tenant,
                    "app": app,
                    "replicas": found.replicas,
                    "mode": model.platform.chat.commit_mode,
                }
        return self._respond(
            request,
            seen,
            lambda: pages.topology_page(data, reads.topology_svg(graph), self._chrome(seen), tenants, scale),
            data,
        )

    def backups(self, request: Request) -> Response:
        seen = self._see(request)
        state = self._ports.snapshot()
        tenants = list(reads.tenants_of(state, seen.scope))
        tenant = self._query(request).get("tenant") or None
        if tenant is not None and tenant not in tenants:
            raise ConsoleError(f"there is no tenant {tenant} for you to see", status=404)
        now = self._ports.clock()
        live = self._ports.live.read()
        chains = reads.backups(state, seen.scope, live, now, tenant)
        can = [
            t for t in tenants if self.actions.allowed(seen.who, ActionRequest("restore", t, volume="v", snapshot="s"))
        ]
        data = {"volumes": [reads.chain_json(c) for c in chains], "liveError": live.error, "canRestore": can}
        return self._respond(
            request, seen, lambda: pages.backups_page(chains, self._chrome(seen), now, can, tenant, tenants), data
        )

    def operations(self, request: Request) -> Response:
        seen = self._see(request)
        data = reads.operations(self._ports, seen.scope, self._query(request))
        tenants = list(reads.tenants_of(self._ports.snapshot(), seen.scope))
        return self._respond(request, seen, lambda: pages.operations_page(data, self._chrome(seen), tenants), data)

    def record(self, request: Request) -> Response:
        seen = self._see(request)
        record_id = self._query(request).get("id", "")
        data = reads.record(self._ports, seen.scope, record_id) if record_id else None
        if data is None:
            raise ConsoleError("there is no such record for you to see", status=404)
        return self._respond(request, seen, lambda: pages.record_page(data, self._chrome(seen)), data)

    def whoami(self, request: Request) -> Response:
        seen = self._see(request)
        data = {
            "user": seen.who.user,
            "groups": sorted(seen.who.groups),
            "via": seen.who.via,
            "roles": self.roles().grants(seen.who),
            "tenants": sorted(seen.scope.tenants),
            "platform": seen.scope.platform,
        }
        return self._respond(request, seen, lambda: "", data)

    # --- signing in and out -------------------------------------------------------------------

    def login_form(self, request: Request) -> Response:
        chrome = pages.Chrome(css=self._asset_url("console.css"), js=self._asset_url("console.js"))
        html = pages.login_page(chrome, tokens=bool(self._config.tokens), proxy=self._config.proxy is not None)
        return Response(200, html.encode(), "text/html; charset=utf-8")

    def login(self, request: Request) -> Response:
        if not same_origin(request.headers, self._config.public_origin):
            raise ConsoleError("cross-site sign-in refused", status=403)
        token = self._form(request).get("token", "")
        who = self._config.tokens.principal(token) if self._config.tokens and token else None
        fingerprint = self._config.tokens.fingerprint(token) if who is not None else None
        if who is None or fingerprint is None:
            chrome = pages.Chrome(css=self._asset_url("console.css"), js=self._asset_url("console.js"))
            html = pages.login_page(
                chrome,
                tokens=bool(self._config.tokens),
                proxy=self._config.proxy is not None,
                message="That token is not valid.",
            )
            return Response(401, html.encode(), "text/html; charset=utf-8")
        _log.info("console: %s signed in with a token", who.user)
        value = self._signer.session(fingerprint, who.user, self._wall())
        cookie = self._cookie(SESSION_COOKIE, value, self._config.session_seconds, request)
        return Response(303, b"", "text/plain; charset=utf-8", {"Location": "/", "Set-Cookie": cookie})

    def logout(self, request: Request) -> Response:
        seen = self._checked(request)
        _log.info("console: %s signed out", seen.who.user)
        cookie = self._cookie(SESSION_COOKIE, "", 0, request)
        return Response(303, b"", "text/plain; charset=utf-8", {"Location": "/login", "Set-Cookie": cookie})

    # --- actions ------------------------------------------------------------------------------

    def _checked(self, request: Request) -> _Seen:
        """A state-changing request: signed in, from the console's own origin, with its CSRF token."""
        seen = self._see(request)
        if not same_origin(request.headers, self._config.public_origin):
            _log.warning("console: refused a cross-site %s %s by %s", request.method, request.path, seen.who.user)
            raise ConsoleError("cross-site request refused", status=403)
        if seen.who.needs_csrf:
            cookie = cookies(request.headers.get("cookie", "")).get(CSRF_COOKIE, "")
            sent = request.headers.get("x-csrf-token") or self._form(request).get("csrf", "")
            if seen.new_csrf or not sent or not hmac.compare_digest(sent.encode(), cookie.encode()):
                _log.warning(
                    "console: refused %s %s by %s: missing or wrong CSRF token",
                    request.method,
                    request.path,
                    seen.who.user,
                )
                raise ConsoleError(
                    "the page's security token is missing or stale", status=403, hint="reload the page and try again"
                )
        return seen

    def _form(self, request: Request) -> dict[str, Any]:
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind == "application/json":
            try:
                data = json.loads(request.body or b"{}")
            except ValueError as e:
                raise ConsoleError("the body is not JSON") from e
            if not isinstance(data, dict):
                raise ConsoleError("the body must be a JSON object")
            return data
        if kind in ("application/x-www-form-urlencoded", ""):
            try:
                parsed = parse_qs(request.body.decode(), max_num_fields=_MAX_FIELDS, keep_blank_values=True)
            except (UnicodeDecodeError, ValueError) as e:
                raise ConsoleError("the form cannot be read") from e
            return {k: v[0] for k, v in parsed.items() if v}
        raise ConsoleError("send a form or JSON", status=415)

    def act(self, action: str, request: Request) -> Response:
        seen = self._checked(request)
        data = self._form(request)
        parsed = ActionRequest.parse(action, data)
        if parsed.action == "restore" and data.get("confirm") not in (True, "true", "on"):
            raise ConsoleError(
                "a restore needs confirm: true", hint="tick the box that says the apps mount a copy of this backup"
            )
        result = self.actions.run(seen.who, parsed)
        return self._action_response(request, seen, parsed, result)

    def _action_response(self, request: Request, seen: _Seen, parsed: ActionRequest, result: ActionResult) -> Response:
        accept = request.headers.get("accept", "")
        if "application/json" in accept or request.headers.get("content-type", "").startswith("application/json"):
            return Response.json(result.to_json(), result.status)
        links = [("/operations?" + "action=" + parsed.action, "Operations")]
        if parsed.action == "restore":
            links.insert(0, (f"/backups?tenant={parsed.tenant}", "Backups"))
        elif parsed.action == "scale":
            links.insert(0, (f"/topology?tenant={parsed.tenant}&app={parsed.app}", "Topology"))
        else:
            links.insert(0, ("/", "Overview"))
        if result.merge_request_url:
            links.append((result.merge_request_url, "Open a merge request"))
        title = parsed.text()
        html = pages.result_page(title, result.message, result.hint, self._chrome(seen), result.status, links)
        return Response(result.status, html.encode(), "text/html; charset=utf-8")

    # --- assets -------------------------------------------------------------------------------

    def _asset(self, name: str) -> tuple[bytes, str]:
        if name not in self._assets:
            body = resources.files("daemon.console").joinpath("static", name).read_bytes()
            self._assets[name] = (body, hashlib.sha256(body).hexdigest()[:12])
        return self._assets[name]

    def _asset_url(self, name: str) -> str:
        return f"/static/{name}?v={self._asset(name)[1]}"

    def asset(self, name: str, request: Request) -> Response:
        body, digest = self._asset(name)
        fixed = self._query(request).get("v") == digest
        cache = "public, max-age=31536000, immutable" if fixed else "no-cache"
        headers = {**_SECURITY_HEADERS, "Cache-Control": cache, "ETag": f'"{digest}"'}
        if request.headers.get("if-none-match") == f'"{digest}"':
            return Response(304, b"", _ASSETS[name], headers)
        return Response(200, body, _ASSETS[name], headers)
