"""The daemon's log for people and for machines: text on a terminal, JSON lines otherwise."""

from __future__ import annotations

import io
import json
import logging
import os
import select
import socket
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from daemon.edges.eventlog import LogSink
from daemon.edges.http import HttpServer
from daemon.edges.logs import configure
from daemon.errors import ConfigError
from daemon.model.events import Event


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _event() -> Event:
    return Event.make(
        "validation.failed",
        "Commit 1234abcd by alice is invalid and was not applied (1 error(s)).",
        tenant="shop",
        errors=("tenants/shop/apps/api.yaml:12:3: error: unknown field 'replicass'",),
    )


def test_a_terminal_gets_readable_lines(restore_root_logger: None) -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as tty, os.fdopen(leader, "rb", buffering=0) as reader:
        configure("INFO", "auto", tty)
        LogSink(logging.getLogger("dockyard.events")).emit(_event())
        logging.getLogger("daemon.runtime").info("listening on http://%s:%d", "127.0.0.1", 8080)
        tty.flush()
        text = ""
        while select.select([reader], [], [], 0.5)[0]:
            text += reader.read(4096).decode()
    assert "{" not in text, "a person at a terminal should not read JSON"
    assert "validation.failed" in text and "[shop] Commit 1234abcd" in text
    assert "tenants/shop/apps/api.yaml:12:3" in text
    assert "listening on http://127.0.0.1:8080" in text


def test_a_pipe_gets_one_json_object_per_line(restore_root_logger: None) -> None:
    out = io.StringIO()
    configure("INFO", "auto", out)
    LogSink(logging.getLogger("dockyard.events")).emit(_event())
    logging.getLogger("daemon.runtime").warning("lost leadership")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["event"]["name"] == "validation.failed"
    assert lines[0]["event"]["tenant"] == "shop"
    assert lines[0]["level"] == "warning"  # validation.failed is a warning by default
    assert lines[1] == {**lines[1], "level": "warning", "logger": "daemon.runtime", "message": "lost leadership"}


def test_the_format_can_be_forced(restore_root_logger: None) -> None:
    out = io.StringIO()
    configure("INFO", "text", out)
    logging.getLogger("x").info("hello")
    assert out.getvalue().rstrip().endswith("hello") and not out.getvalue().startswith("{")


def test_configure_twice_keeps_one_handler_and_others_handlers(restore_root_logger: None) -> None:
    root = logging.getLogger()
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    configure("INFO", "json", io.StringIO())
    configure("INFO", "json", io.StringIO())
    assert foreign in root.handlers
    assert sum(1 for h in root.handlers if h.get_name() == "dockyard") == 1


def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"cannot listen on 127.0.0.1:{port}: the port is in use"):
            HttpServer("127.0.0.1", port, registry=CollectorRegistry())
