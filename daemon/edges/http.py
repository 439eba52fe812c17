"""The daemon's HTTP server: health, readiness, metrics, status, push webhooks and extra routes.

It only reads state snapshots and asks the cycle runner for cycles; it never reconciles itself.
Its peers are untrusted (anything that can reach the port), so:

* a body needs one ``Content-Length`` of plain digits (411 without one, 400 for anything else,
  chunked bodies are refused) and at most ``max_body`` bytes, refused before it is read (413);
* every connection has a socket timeout, so a client that stops sending (slowloris, half-open
  connections) loses its connection instead of holding a thread;
* at most ``max_connections`` connections are served at once; the next ones get a 503;
* a handler that fails answers 500 with no detail, and the traceback goes to our log only;
* request lines are logged without their query string (tokens live there).

Webhook secrets are compared in constant time (see ``daemon.edges.push_webhooks``).
"""

from __future__ import annotations

import errno
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from daemon.errors import ConfigError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
#: Seconds a connection may stay silent (between requests, or inside one) before it is closed.
SOCKET_TIMEOUT_SECONDS = 10.0
MAX_CONNECTIONS = 64
_LENGTH = re.compile(r"^[0-9]{1,12}$")
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\ntoo many connections\n"
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    #: the query string without its "?" (never logged: tokens live there)
    query: str = ""
    #: the peer's IP address (a proxy's, when there is one in front)
    client: str = ""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(data, default=str, indent=2).encode(), "application/json")

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode())


Handler = Callable[[Request], Response]


class _CappedServer(ThreadingHTTPServer):
    """A threading server that serves at most ``max_connections`` connections at once."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int):
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            # Answered from the accepting thread, so it must never wait on the client.
            try:
                request.settimeout(1.0)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback to stderr; a client that went away is not our error.
        log.debug("connection from %s ended with an error", client_address[0], exc_info=True)


class HttpServer:
    """Routes ``(METHOD, path)`` to handlers on a threading HTTP server."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        registry: CollectorRegistry,
        max_body: int = MAX_BODY_BYTES,
        timeout: float = SOCKET_TIMEOUT_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
    ):
        self._routes: dict[tuple[str, str], Handler] = {}
        self._max_body = max_body
        self._registry = registry
        self.route("GET", "/metrics", self._metrics)
        server = self
        connection_timeout = timeout

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # StreamRequestHandler.setup applies it to the connection's socket.
            timeout = connection_timeout

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s %s", self.address_string(), _without_query(format % args))

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                log.debug("%s %s %s %s", self.address_string(), self.command, _path_only(self.path), code)

            def do_GET(self) -> None:
                server._dispatch(self, "GET")

            def do_POST(self) -> None:
                server._dispatch(self, "POST")

        try:
            self._httpd = _CappedServer((host, port), _Handler, max_connections)
        except OSError as e:
            why = "the port is in use by another process" if e.errno == errno.EADDRINUSE else e.strerror
            raise ConfigError(f"cannot listen on {host}:{port}: {why}; pass another --listen HOST:PORT") from e
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="dockyard-http", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def route(self, method: str, path: str, handler: Handler) -> None:
        self._routes[(method, path)] = handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _metrics(self, _: Request) -> Response:
        return Response(200, generate_latest(self._registry), CONTENT_TYPE_LATEST)

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path, _, query = handler.path.partition("?")
        route = self._routes.get((method, path))
        if route is None:
            known = any(p == path for _, p in self._routes)
            status = HTTPStatus.METHOD_NOT_ALLOWED if known else HTTPStatus.NOT_FOUND
            self._send(handler, Response.text(status.phrase + "\n", status))
            return
        length, refusal = self._length(handler, method)
        if refusal is not None:
            self._send(handler, refusal, close=True)
            return
        try:
            body = handler.rfile.read(length) if length else b""
        except (TimeoutError, OSError):
            handler.close_connection = True  # the client stopped sending: nothing to answer
            return
        if len(body) < length:
            self._send(handler, Response.text("the body is shorter than its Content-Length\n", 400), close=True)
            return
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            response = route(Request(method, path, headers, body, query, str(handler.client_address[0])))
        except Exception:
            log.exception("handler for %s %s failed", method, path)
            response = Response.text("internal error\n", 500)
        self._send(handler, response)

    def _length(self, handler: BaseHTTPRequestHandler, method: str) -> tuple[int, Response | None]:
        """The body's length, or the response refusing the request (before reading any body)."""
        if handler.headers.get("Transfer-Encoding") is not None:
            return 0, Response.text("send the body with a Content-Length (chunked bodies are not accepted)\n", 411)
        values = handler.headers.get_all("Content-Length") or []
        if not values:
            if method == "POST":
                return 0, Response.text("a Content-Length is required\n", 411)
            return 0, None
        if len(values) > 1 or not _LENGTH.match(values[0].strip()):
            return 0, Response.text("bad Content-Length: one number of bytes, 0 or more\n", 400)
        length = int(values[0])
        if length > self._max_body:
            # Refused before reading, so a huge body costs us nothing.
            return 0, Response.text("request body too large\n", 413)
        return length, None

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, response: Response, *, close: bool = False) -> None:
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            handler.send_header(name, value)
        if close:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        try:
            handler.wfile.write(response.body)
        except (TimeoutError, OSError):
            handler.close_connection = True  # the client went away or stopped reading


def _path_only(path: str) -> str:
    return path.split("?", 1)[0]


def _without_query(text: str) -> str:
    # Request lines in http.server's own messages: "GET /path?token=... HTTP/1.1".
    return re.sub(r"\?[^\s\"]*", "?…", text)
