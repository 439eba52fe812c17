"""The daemon's HTTP server: health, readiness, metrics, status, push webhooks and extra routes.

It only reads state snapshots and asks the cycle runner for cycles; it never reconciles itself.
Request bodies are capped before they are read, and webhook secrets are compared in constant time
(see ``daemon.webhook``).
"""

from __future__ import annotations

import errno
import json
import logging
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


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


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


class HttpServer:
    """Routes ``(METHOD, path)`` to handlers on a threading HTTP server."""

    def __init__(self, host: str, port: int, *, registry: CollectorRegistry, max_body: int = MAX_BODY_BYTES):
        self._routes: dict[tuple[str, str], Handler] = {}
        self._max_body = max_body
        self._registry = registry
        self.route("GET", "/metrics", self._metrics)
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s %s", self.address_string(), format % args)

            def do_GET(self) -> None:
                server._dispatch(self, "GET")

            def do_POST(self) -> None:
                server._dispatch(self, "POST")

        try:
            self._httpd = ThreadingHTTPServer((host, port), _Handler)
        except OSError as e:
            why = "the port is in use by another process" if e.errno == errno.EADDRINUSE else e.strerror
            raise ConfigError(f"cannot listen on {host}:{port}: {why}; pass another --listen HOST:PORT") from e
        self._httpd.daemon_threads = True
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
        path = handler.path.split("?", 1)[0]
        route = self._routes.get((method, path))
        if route is None:
            known = any(p == path for _, p in self._routes)
            status = HTTPStatus.METHOD_NOT_ALLOWED if known else HTTPStatus.NOT_FOUND
            self._send(handler, Response.text(status.phrase + "\n", status))
            return
        try:
            length = int(handler.headers.get("Content-Length") or 0)
        except ValueError:
            self._send(handler, Response.text("bad Content-Length\n", 400))
            return
        if length > self._max_body:
            # Refused before reading, so a huge body costs us nothing.
            self._send(handler, Response.text("request body too large\n", 413), close=True)
            return
        body = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            response = route(Request(method, path, headers, body))
        except Exception:
            log.exception("handler for %s %s failed", method, path)
            response = Response.text("internal error\n", 500)
        self._send(handler, response)

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
        handler.wfile.write(response.body)
