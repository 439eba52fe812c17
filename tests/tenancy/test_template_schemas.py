"""A Template's parameter schema is data: it fetches nothing, reads no file, and cannot make
validation hang, blow up or backtrack; each problem is located in the Template's file."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from referencing.exceptions import Unresolvable

from daemon.loader.safeschema import safe_validator
from daemon.loader.schemas import validator
from daemon.model.kinds import KINDS
from tests.loader.helpers import line_of
from tests.tenancy.helpers import document, load

TEMPLATE = "templates/t.yaml"
APP = "tenants/shop/t-app.yaml"


class Counting(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        Counting.requests.append(self.path)
        body = b'{"type": "string"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    """A local server that would answer any schema request (and counts them)."""
    Counting.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def silent() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def template(parameters: str) -> str:
    body = "parameters:\n" + "".join(f"  {line}\n" for line in parameters.splitlines()) + "app:\n  image: ${image}"
    return document("Template", "t", body)


def app(parameters: str = "image: nginx:1.27") -> str:
    body = "template: t\nparameters:\n" + "".join(f"  {line}\n" for line in parameters.splitlines())
    return document("App", "t-app", body + "resources: {cpu: 10m, memory: 16Mi}")


def problems_of(tmp_path: Path, parameters: str, given: str = "image: nginx:1.27") -> list[tuple[str, int, str]]:
    result = load(tmp_path, {TEMPLATE: template(parameters), APP: app(given)})
    return [(p.file, p.line, p.message) for p in result.errors]


PARAMS = "type: object\nproperties:\n  image: {type: string}\n"


def test_a_file_reference_is_refused_without_reading_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"type": "string", "description": "hunter2"}')
    for target in (f"file://{secret}", "file:///etc/passwd", "file:///dev/zero", "/etc/passwd", "secret.json"):
        parameters = PARAMS + f"  x: {{$ref: '{target}'}}"
        result = load(tmp_path / str(abs(hash(target))), {TEMPLATE: template(parameters), APP: app()})
        problems = [p for p in result.errors if p.file == TEMPLATE]
        assert [(p.line, p.code) for p in problems] == [(line_of(template(parameters), "$ref"), "template.parameters")]
        assert problems[0].message == f"'$ref: {target}' refers outside the parameter schema; it is never fetched"
        assert "hunter2" not in str(result.problems)
        # The App made from the broken template says so instead of guessing.
        assert any(p.file == APP and p.code == "template.invalid" for p in result.errors)


def test_a_remote_reference_sends_no_request(tmp_path: Path, server: str) -> None:
    parameters = PARAMS + f"  x: {{$ref: '{server}/schema.json'}}\n  y: {{items: {{$ref: '{server}/y#/z'}}}}"
    problems = problems_of(tmp_path, parameters)
    assert [(f, m) for f, _, m in problems if f == TEMPLATE] == [
        (TEMPLATE, f"'$ref: {server}/schema.json' refers outside the parameter schema; it is never fetched"),
        (TEMPLATE, f"'$ref: {server}/y#/z' refers outside the parameter schema; it is never fetched"),
    ]
    assert Counting.requests == []


def test_a_server_that_never_answers_cannot_hang_validation(tmp_path: Path, silent: str) -> None:
    started = time.monotonic()
    problems = problems_of(tmp_path, PARAMS + f"  x: {{$ref: '{silent}/x'}}")
    assert time.monotonic() - started < 10
    assert any("never fetched" in m for _, _, m in problems)


def test_ids_and_dynamic_references_cannot_move_a_local_reference_out(tmp_path: Path, server: str) -> None:
    parameters = (
        f"$id: '{server}/base/'\n$schema: '{server}/meta'\n"
        + PARAMS
        + "  x: {$dynamicRef: '#meta'}\n  y: {$ref: '#/$defs/y'}\n"
        "$defs:\n  y: {type: string}"
    )
    messages = [m for f, _, m in problems_of(tmp_path, parameters) if f == TEMPLATE]
    assert messages == [
        "'$id' is not allowed in a parameter schema: it moves where references point",
        "'$schema' must be https://json-schema.org/draft/2020-12/schema (or left out)",
        "'$dynamicRef' is not allowed in a parameter schema: dynamic references resolve outside the schema",
    ]
    assert Counting.requests == []


def test_local_references_work_and_a_dangling_or_looping_one_is_an_error(tmp_path: Path) -> None:
    good = PARAMS + "  tag: {$ref: '#/$defs/tag'}\n$defs:\n  tag: {type: string, maxLength: 5}"
    assert problems_of(tmp_path / "a", good, "image: nginx:1.27\ntag: v1") == []
    [(file, line, message)] = problems_of(tmp_path / "b", good, "image: nginx:1.27\ntag: toolong")
    assert (file, line, message) == (
        APP,
        line_of(app("image: nginx:1.27\ntag: toolong"), "tag:"),
        "tag is 7 characters long; the limit is 5",
    )
    dangling = PARAMS + "  tag: {$ref: '#/$defs/missing'}"
    assert ("reference '#/$defs/missing' points at nothing in the parameter schema") in [
        m for _, _, m in problems_of(tmp_path / "c", dangling)
    ]
    looping = "$ref: '#'\n" + PARAMS
    messages = [m for _, _, m in problems_of(tmp_path / "d", looping)]
    assert "the parameter schema of template 't' cannot be evaluated: it refers to itself without end" in messages


def test_backtracking_patterns_run_in_linear_time(tmp_path: Path) -> None:
    # The case: pattern ^(a+)+$ against 40 characters ran for minutes.
    parameters = (
        PARAMS + "  name: {type: string, pattern: '^(a+)+$'}\n" + "patternProperties:\n  '^(x+x+)+y$': {type: string}"
    )
    given = "image: nginx:1.27\nname: " + "a" * 40 + "!\n" + "x" * 40 + "!: 1\nxxy: 1"
    started = time.monotonic()
    problems = problems_of(tmp_path, parameters, given)
    assert time.monotonic() - started < 5
    assert [m for f, _, m in problems if f == APP] == [
        f"'{'a' * 40}!' does not match the pattern '^(a+)+$'",
        "xxy must be a string, not the number 1",
    ]


def test_patterns_re2_cannot_run_are_refused_where_they_are_written(tmp_path: Path) -> None:
    parameters = (
        PARAMS
        + "  a: {type: string, pattern: '(a)\\1'}\n  b: {type: string, pattern: '^(?=x)x$'}\n"
        + ("  c: {type: string, pattern: '" + "a" * 1001 + "'}")
    )
    problems = [(line, m) for f, line, m in problems_of(tmp_path, parameters) if f == TEMPLATE]
    text = template(parameters)
    assert problems == [
        (line_of(text, "(a)"), "pattern '(a)\\\\1' cannot run on RE2 (invalid escape sequence: \\1)"),
        (line_of(text, "(?=x)"), "pattern '^(?=x)x$' cannot run on RE2 (invalid perl operator: (?=)"),
        (line_of(text, "aaaa"), "pattern is 1,001 characters long; the limit is 1,000"),
    ]


def test_schema_size_and_depth_are_bounded(tmp_path: Path) -> None:
    wide = PARAMS + "".join(f"  p{i}: {{type: string}}\n" for i in range(1100))
    [(_, line, message)] = [p for p in problems_of(tmp_path / "a", wide) if p[0] == TEMPLATE]
    assert (line, message) == (
        line_of(template(wide), "parameters:"),
        "spec.parameters has more than 2,000 values",
    )
    deep = PARAMS + "  x: " + "{not: " * 40 + "{}" + "}" * 40
    assert any("nested more than 32 levels deep" in m for _, _, m in problems_of(tmp_path / "b", deep))


def test_unique_items_of_many_distinct_objects_is_fast(tmp_path: Path) -> None:
    parameters = PARAMS + "  hosts: {type: array, uniqueItems: true}"
    hosts = "[" + ", ".join(f"{{name: h{i}}}" for i in range(4000)) + ", {name: h7}]"
    started = time.monotonic()
    problems = problems_of(tmp_path, parameters, f"image: nginx:1.27\nhosts: {hosts}")
    assert time.monotonic() - started < 10
    assert [m for f, _, m in problems if f == APP] == ["hosts lists {'name': 'h7'} twice"]


def test_the_daemons_own_schemas_never_fetch(server: str) -> None:
    for kind in KINDS:
        resolver = validator(kind)._resolver  # what a $ref of the schema would be looked up in
        with pytest.raises(Unresolvable):
            resolver.lookup(f"{server}/{kind}.json")
    with pytest.raises(Unresolvable):
        list(safe_validator({"$ref": f"{server}/x.json"}).iter_errors("x"))
    assert Counting.requests == []
