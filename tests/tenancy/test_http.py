"""The daemon's HTTP server against peers that lie, stall and probe, over real sockets; and no
credential of the git URL in /status, errors or logs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from daemon.chat.config import SlackConfig
from daemon.chat.gitops import GitOps
from daemon.chat.slack_app import build_chat
from daemon.edges.git import GitRemote
from daemon.edges.http import HttpServer, Request, Response
from daemon.edges.source import GitSource
from daemon.engine.reconcile import DaemonState
from daemon.errors import SourceError
from daemon.runtime.endpoints import Endpoints
from tests.chat.slackhttp import BOT_TOKEN, SIGNING_SECRET, ChatSlack
from tests.chat.test_slack_app import ports

TIMEOUT = 0.5
CONNECTIONS = 4


def _boom(_: Request) -> Response:
    raise RuntimeError("database password is hunter2")


@pytest.fixture
def server() -> Iterator[HttpServer]:
    http = HttpServer("127.0.0.1", 0, registry=CollectorRegistry(), timeout=TIMEOUT, max_connections=CONNECTIONS)
    http.route("GET", "/ok", lambda _: Response.text("ok\n"))
    http.route("POST", "/echo", lambda r: Response.text(f"{len(r.body)} bytes\n"))
    http.route("GET", "/boom", _boom)
    http.start()
    yield http
    http.stop()


def connect(server: HttpServer) -> socket.socket:
    return socket.create_connection(server.address, timeout=5)


def exchange(server: HttpServer, raw: bytes) -> bytes:
    with connect(server) as sock:
        sock.sendall(raw)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
            break
    return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (b"Content-Length: -1\r\n", 400),  # used to bypass the 1 MiB cap
        (b"Content-Length: abc\r\n", 400),
        (b"Content-Length: +5\r\n", 400),
        (b"Content-Length: \xd9\xa3\r\n", 400),  # an Arabic-Indic digit int() would accept
        (b"Content-Length: 5\r\nContent-Length: 50\r\n", 400),  # two lengths: a smuggling setup
        (b"", 411),
        (b"Transfer-Encoding: chunked\r\n", 411),
        (b"Content-Length: 2000000\r\n", 413),
    ],
)
def test_bodies_need_one_honest_length(server: HttpServer, headers: bytes, expected: int) -> None:
    response = exchange(server, b"POST /echo HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\nhello")
    assert status(response) == expected, response
    assert b"connection: close" in response.lower()


def test_a_short_body_is_refused_after_the_timeout_not_waited_for(server: HttpServer) -> None:
    started = time.monotonic()
    response = exchange(server, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly this")
    assert response == b""  # the client stopped sending: the connection is closed, nothing more
    assert time.monotonic() - started < TIMEOUT + 3


def test_a_valid_body_is_served(server: HttpServer) -> None:
    response = exchange(
        server, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    )
    assert status(response) == 200 and response.endswith(b"5 bytes\n")


def test_half_open_connections_are_capped_and_time_out(server: HttpServer) -> None:
    idle = [connect(server) for _ in range(CONNECTIONS)]
    time.sleep(0.1)
    try:
        # Every slot is held by a silent client: the next one is told so, at once.
        response = exchange(server, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status(response) == 503 and b"too many connections" in response
        # The silent clients lose their connections after the timeout, and the server serves again.
        for sock in idle:
            sock.settimeout(TIMEOUT + 5)
            assert sock.recv(1) == b""
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.1)
    assert status(exchange(server, b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == 200


def test_slowloris_headers_lose_the_connection(server: HttpServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n")
        started = time.monotonic()
        sock.settimeout(TIMEOUT + 5)
        assert sock.recv(1024) == b""
        assert time.monotonic() - started < TIMEOUT + 3


def test_a_failing_handler_shows_the_client_nothing(server: HttpServer, caplog: pytest.LogCaptureFixture) -> None:
    response = exchange(server, b"GET /boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status(response) == 500
    assert response.endswith(b"\r\n\r\ninternal error\n")
    assert b"hunter2" not in response and b"Traceback" not in response


def test_query_strings_stay_out_of_the_request_log(server: HttpServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="daemon.edges.http")
    exchange(server, b"GET /ok?token=s3cr3t-t0ken HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    exchange(server, b"GET /nowhere?access_token=s3cr3t-t0ken HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    exchange(server, b"BREW /x?token=s3cr3t-t0ken HTTP/1.1\r\n\r\n")
    assert caplog.records
    assert "s3cr3t-t0ken" not in caplog.text


def test_unsigned_slack_junk_is_refused_before_anything_parses_it(caplog: pytest.LogCaptureFixture) -> None:
    slack = ChatSlack().start()
    chat = build_chat(ports(), GitOps(None, refusal="t"), SlackConfig(SIGNING_SECRET, BOT_TOKEN, api_url=slack.url))
    http = HttpServer("127.0.0.1", 0, registry=CollectorRegistry(), timeout=TIMEOUT)
    http.route("POST", "/slack/events", chat.handle_http)
    http.start()
    try:
        junk = [
            b"\xff\xfe{{{{",
            b'{"type": "event_callback", "event": ',
            b"payload=%7B%22type%22%3A" + b"A" * 1000,
            b"command=/dockyard&text=scale shop/web 100",
        ]
        now = str(int(time.time()))
        for body in junk:
            for headers in (
                b"",
                b"X-Slack-Request-Timestamp: " + now.encode() + b"\r\nX-Slack-Signature: v0=" + b"0" * 64 + b"\r\n",
                b"X-Slack-Request-Timestamp: 12345\r\nX-Slack-Signature: " + _sign(body, "12345").encode() + b"\r\n",
            ):
                raw = (
                    b"POST /slack/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    b"Content-Type: application/json\r\n"
                    + headers
                    + b"Content-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                response = exchange(http, raw)
                assert status(response) == 401, (body, headers, response)
                assert b"Traceback" not in response
        assert "Traceback" not in caplog.text
        assert slack.calls_of("auth.test") == []
    finally:
        http.stop()
        chat.close()
        slack.stop()


def _sign(body: bytes, timestamp: str) -> str:
    """A correct signature, of a timestamp too old to accept (a replay)."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()


SECRET = "glpat-s3cr3tT0ken"


@pytest.mark.parametrize(
    "url",
    [
        f"http://127.0.0.1:{{port}}/platform.git?access_token={SECRET}",
        f"http://127.0.0.1:{{port}}/platform.git?private_token={SECRET}&ref=main",
        f"http://oauth2:{SECRET}@127.0.0.1:{{port}}/platform.git",
        f"http://{SECRET}@127.0.0.1:{{port}}/platform.git",
        "http://127.0.0.1:{port}/platform.git",  # with the token given apart (DOCKYARD_GIT_TOKEN): a header
    ],
)
def test_git_credentials_never_reach_status_errors_logs_or_disk(
    tmp_path: Path, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there: the fetch fails at once
    token = None if SECRET in url else SECRET
    source = GitSource(GitRemote(url.format(port=port), token=token, timeout=10), workdir=tmp_path / "git")
    with pytest.raises(SourceError) as raised:
        source.fetch()
    error = str(raised.value)
    endpoints = Endpoints(
        identity="test",
        source=source.describe(),
        snapshot=lambda: DaemonState(fetch_error=error),
        is_leader=lambda: True,
        paused=frozenset,
        request_cycle=lambda _: None,
        webhook_secret=None,
        hand_to_leader=lambda _: None,
    )
    shown = str(endpoints.status())
    stored = "".join(p.read_text(errors="replace") for p in (tmp_path / "git").rglob("config"))
    basic = base64.b64encode(f"x-access-token:{SECRET}".encode()).decode()
    for text in (error, source.describe(), shown, caplog.text, stored):
        assert SECRET not in text
        assert basic not in text
    assert "127.0.0.1" in shown and "platform.git" in shown
