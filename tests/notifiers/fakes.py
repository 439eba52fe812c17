"""Local servers that stand in for Slack, webhook receivers and SMTP, each in a thread.

They speak the real protocols (the Slack Web API over HTTP, HTTP webhooks, SMTP with STARTTLS and
AUTH), so the notifiers are tested through their real clients.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SLACK_TOKEN = "xoxb-fake-123456-secret-token"
SMTP_USER = "dockyard"
SMTP_PASSWORD = "smtp-pa55word-very-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _params(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.raw_body = raw
        params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if raw:
            if (self.headers.get("Content-Type") or "").startswith("application/json"):
                params.update(json.loads(raw))
            else:
                params.update({k: v[-1] for k, v in parse_qs(raw.decode()).items()})
        return params

    def _answer(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client was killed mid-request: that is what the crash test does


# --- Slack --------------------------------------------------------------------------------------


@dataclass
class SlackFailure:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    #: do the work, then answer with the failure (the outcome the client cannot know)
    after_effect: bool = False
    #: the body of a 5xx answer (a proxy's error page)
    body: bytes = b"<html>upstream exploded</html>"


@dataclass
class SlackCall:
    method: str
    params: dict[str, Any]
    at: float
    monotonic: float


class FakeSlack:
    """The Slack Web API methods the notifiers use, with Block Kit limits checked like Slack does."""

    def __init__(self, *, clock: Callable[[], float] = time.time, token: str = SLACK_TOKEN) -> None:
        self.clock = clock
        self.token = token
        self.channels = {"C0ALERTS01": "alerts", "C0PLATFRM1": "platform", "C0BURST001": "burst", "C0SHOP0001": "shop"}
        self.lock = threading.Lock()
        self.calls: list[SlackCall] = []
        self.messages: dict[str, list[dict[str, Any]]] = {cid: [] for cid in self.channels}
        self.failures: dict[str, list[SlackFailure]] = {}
        self.delay = 0.0
        self.hang_on_post: int | None = None
        self.hang_reached = threading.Event()
        self.hang_release = threading.Event()
        self._last_ts = 0.0
        self._posts = 0
        fake = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.hang_release.set()
        self._server.shutdown()
        self._server.server_close()

    def fail(self, method: str, failure: SlackFailure, times: int = 1) -> None:
        with self.lock:
            self.failures.setdefault(method, []).extend([failure] * times)

    def calls_of(self, method: str) -> list[SlackCall]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def posted(self) -> list[dict[str, Any]]:
        """Every message that exists, top-level and replies, in posting order."""
        with self.lock:
            every = [m for msgs in self.messages.values() for m in msgs]
        return sorted(every, key=lambda m: float(m["ts"]))

    def posted_keys(self) -> Counter[str]:
        return Counter(m["metadata"]["event_payload"]["key"] for m in self.posted() if m.get("metadata"))

    # --- the server side ----------------------------------------------------------------------

    def _handle(self, request: _QuietHandler) -> None:
        method = urlsplit(request.path).path.rsplit("/", 1)[-1]
        params = request._params()
        with self.lock:
            self.calls.append(SlackCall(method, params, self.clock(), time.monotonic()))
            queue = self.failures.get(method) or []
            failure = queue.pop(0) if queue else None
        if self.delay:
            time.sleep(self.delay)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self._json(request, {"ok": False, "error": "invalid_auth"})
            return
        if failure is not None and not failure.after_effect:
            self._fail(request, failure)
            return
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            self._json(request, {"ok": False, "error": "unknown_method"})
            return
        answer = handler(params)
        if failure is not None:
            self._fail(request, failure)
            return
        if method == "chat.postMessage" and answer.get("ok"):
            self._maybe_hang()
        self._json(request, answer)

    def _maybe_hang(self) -> None:
        with self.lock:
            self._posts += 1
            hang = self.hang_on_post is not None and self._posts == self.hang_on_post
        if hang:
            self.hang_reached.set()
            self.hang_release.wait(30)

    def _fail(self, request: _QuietHandler, failure: SlackFailure) -> None:
        if failure.status == 429:
            headers = {"Retry-After": str(failure.retry_after or 1)}
            request._answer(429, b'{"ok": false, "error": "ratelimited"}', "application/json", headers)
        elif failure.status >= 500:
            request._answer(failure.status, failure.body, "text/html")
        else:
            self._json(request, {"ok": False, "error": failure.error or "internal_error"})

    @staticmethod
    def _json(request: _QuietHandler, data: dict[str, Any]) -> None:
        request._answer(200, json.dumps(data).encode(), "application/json; charset=utf-8")

    def _ts(self) -> str:
        with self.lock:
            ts = max(self.clock(), self._last_ts + 0.000001)
            self._last_ts = ts
        return f"{ts:.6f}"

    def _channel(self, value: str) -> str | None:
        if value in self.channels:
            return value
        name = value.lstrip("#")
        return next((cid for cid, n in self.channels.items() if n == name), None)

    @staticmethod
    def _blocks(params: dict[str, Any]) -> list[dict[str, Any]] | None:
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        return blocks

    @staticmethod
    def _blocks_valid(blocks: list[dict[str, Any]] | None) -> bool:
        if blocks is None:
            return True
        if len(blocks) > 50:
            return False
        for block in blocks:
            if block["type"] == "header" and len(block["text"]["text"]) > 150:
                return False
            if block["type"] == "section" and len(block["text"]["text"]) > 3000:
                return False
            if block["type"] == "context" and len(block["elements"]) > 10:
                return False
        return True

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - the Slack method name
        channel = self._channel(str(params.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        blocks = self._blocks(params)
        if not self._blocks_valid(blocks):
            return {"ok": False, "error": "invalid_blocks"}
        metadata = params.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        ts = self._ts()
        message = {
            "type": "message",
            "ts": ts,
            "text": params.get("text", ""),
            "blocks": blocks,
            "metadata": metadata,
            "thread_ts": params.get("thread_ts"),
            "updates": 0,
        }
        with self.lock:
            self.messages[channel].append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        blocks = self._blocks(params)
        if not self._blocks_valid(blocks):
            return {"ok": False, "error": "invalid_blocks"}
        with self.lock:
            for message in self.messages[channel]:
                if message["ts"] == params.get("ts"):
                    message["text"] = params.get("text", "")
                    message["blocks"] = blocks
                    message["updates"] += 1
                    return {"ok": True, "channel": channel, "ts": message["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def _page(self, items: list[dict[str, Any]], params: dict[str, Any], key: str) -> dict[str, Any]:
        start = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 100)
        page = items[start : start + limit]
        more = start + limit < len(items)
        return {"ok": True, key: page, "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _visible(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        oldest = float(params.get("oldest") or 0)
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        shown = []
        for m in messages:
            if float(m["ts"]) <= oldest:
                continue
            copy = {k: v for k, v in m.items() if k not in ("metadata", "updates")}
            if with_metadata and m.get("metadata"):
                copy["metadata"] = m["metadata"]
            shown.append(copy)
        return shown

    def _m_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel", "")))
        if channel is None or channel != params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        with self.lock:
            top = [m for m in self.messages[channel] if not m.get("thread_ts")]
        return self._page(self._visible(list(reversed(top)), params), params, "messages")

    def _m_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel", "")))
        if channel is None or channel != params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        ts = params.get("ts")
        with self.lock:
            thread = [m for m in self.messages[channel] if m["ts"] == ts or m.get("thread_ts") == ts]
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        return self._page(self._visible(thread, params), params, "messages")

    def _m_conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        channels = [{"id": cid, "name": name} for cid, name in self.channels.items()]
        return self._page(channels, params, "channels")


# --- webhooks and robots --------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    signature_ok: bool | None


class WebhookReceiver:
    """Accepts generic webhooks (verifying ``X-Dockyard-Signature``) and robot messages."""

    def __init__(self, key: str | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.clock = clock
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.robot_error: int | None = None
        receiver = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.failures.extend([(status, headers or {})] * times)

    def keys(self) -> Counter[str]:
        with self.lock:
            return Counter(r.headers.get("X-Dockyard-Delivery", "") for r in self.received)

    def verify(self, headers: dict[str, str], body: bytes) -> bool | None:
        signature = headers.get("X-Dockyard-Signature")
        if signature is None:
            return None
        if self.key is None:
            return False
        timestamp = headers.get("X-Dockyard-Timestamp", "")
        if not timestamp.isdigit() or abs(self.clock() - int(timestamp)) > 300:
            return False
        expected = hmac.new(self.key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature, "sha256=" + expected)

    def _handle(self, request: _QuietHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length)
        headers = dict(request.headers.items())
        with self.lock:
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            request._answer(failure[0], b"nope", "text/plain", failure[1])
            return
        received = Received(request.path, headers, body, json.loads(body or b"null"), self.verify(headers, body))
        with self.lock:
            self.received.append(received)
        path = urlsplit(request.path).path
        if path.startswith(("/dingtalk", "/wecom")):
            code = self.robot_error or 0
            answer = {"errcode": code, "errmsg": "ok" if not code else "bad"}
        elif path.startswith("/feishu"):
            answer = {"code": self.robot_error or 0, "msg": "success"}
        elif received.signature_ok is False:
            request._answer(401, b"bad signature", "text/plain")
            return
        else:
            answer = {"ok": True}
        request._answer(200, json.dumps(answer).encode(), "application/json")


# --- SMTP ---------------------------------------------------------------------------------------------


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool


@dataclass
class SmtpRecorder:
    mails: list[Mail] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        self.mails.append(
            Mail(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.content,
                session.ssl is not None,
                bool(session.authenticated),
            )
        )
        return "250 Message accepted for delivery"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


def make_self_signed(directory: Path) -> TlsFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(directory / "smtp-cert.pem", directory / "smtp-key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


class FakeSmtp:
    """aiosmtpd requiring STARTTLS, and AUTH only over TLS."""

    def __init__(self, tls: TlsFiles) -> None:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.cert, tls.key)
        self.recorder = SmtpRecorder()
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._controller = Controller(
            self.recorder,
            loop=self._loop,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=_authenticator,
            auth_require_tls=True,
        )

    @property
    def mails(self) -> list[Mail]:
        return self.recorder.mails

    def start(self) -> FakeSmtp:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
        self._loop.close()
