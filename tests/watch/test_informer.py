"""The informer against a local server speaking the API server's list and watch protocol: it
resumes from the last version (bookmarks included) when a watch ends, lists again on 410 Gone,
announces changes from others but not the echo of its own writes, and keeps objects slimmed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from daemon.edges.kube import KubeClient
from daemon.edges.watch import LiveCache
from daemon.engine.apply import slim_live
from daemon.model.refs import ObjRef


def configmap(name: str, version: int, value: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "resourceVersion": str(version),
            "labels": {"app.kubernetes.io/managed-by": "dockyard"},
            "managedFields": [
                {"manager": "dockyard", "operation": "Apply", "fieldsV1": {"f:data": {}}, "time": "t"},
                {"manager": "kubelet", "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {}}},
            ],
        },
        "data": {"value": value},
        "status": {"ignored": True},
    }


class FakeServer:
    """Lists and watches of ConfigMaps; each watch request plays the next script of events."""

    def __init__(self) -> None:
        #: what each list answers, in turn (the last one from then on)
        self.listings: list[tuple[list[dict[str, Any]], str]] = [([configmap("a", 10)], "10")]
        self.scripts: list[list[dict[str, Any]]] = []
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.hold = threading.Event()  # a watch without a script waits for this
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                kind = "watch" if query.get("watch") == ["true"] else "list"
                server.requests.append((kind, query))
                if kind == "list":
                    items, version = server.listings.pop(0) if len(server.listings) > 1 else server.listings[0]
                    body = {"kind": "ConfigMapList", "metadata": {"resourceVersion": version}, "items": items}
                    self._send(json.dumps(body).encode())
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                events = server.scripts.pop(0) if server.scripts else None
                if events is None:
                    server.hold.wait(10)
                    events = []
                try:
                    for event in events:
                        line = json.dumps(event).encode() + b"\n"
                        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    return  # the client hung up (the informer stopped)

            def _send(self, data: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def watches(self) -> list[str]:
        return [q["resourceVersion"][0] for kind, q in self.requests if kind == "watch"]

    def lists(self) -> int:
        return sum(1 for kind, _ in self.requests if kind == "list")

    def close(self) -> None:
        self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    found = FakeServer()
    yield found
    found.close()


@pytest.fixture
def kube(server: FakeServer, tmp_path: Path) -> Iterator[KubeClient]:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.httpd.server_address[1]}"}}],
        "users": [{"name": "fake", "user": {"token": "t"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        "current-context": "fake",
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
    client = KubeClient(str(tmp_path / "kubeconfig"))
    yield client
    client.close()


def eventually(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_resumes_from_the_last_version_lists_again_on_410_and_announces_changes(
    server: FakeServer, kube: KubeClient
) -> None:
    server.scripts = [
        # A change by someone else, then a bookmark; the watch ends (as after timeoutSeconds).
        [
            {"type": "MODIFIED", "object": configmap("a", 11, "edited")},
            {"type": "BOOKMARK", "object": {"kind": "ConfigMap", "metadata": {"resourceVersion": "15"}}},
        ],
        # Resumed from 15: the version was compacted away meanwhile.
        [{"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}],
    ]
    server.listings.append(([configmap("a", 20, "relisted"), configmap("b", 21)], "21"))  # after the 410
    changed: list[ObjRef] = []
    cache = LiveCache(kube, slim=slim_live, on_change=changed.append)
    cm = kube.resource_type("v1", "ConfigMap")
    try:
        live = cache.objects([cm], "app.kubernetes.io/managed-by=dockyard")
        assert ObjRef("", "ConfigMap", "shop", "a") in live
        eventually(lambda: server.lists() == 2 and len(server.watches()) >= 3)
        assert server.watches()[:3] == ["10", "15", "21"]  # resumed, then after the relist
        informer = cache.informer(cm, "app.kubernetes.io/managed-by=dockyard")
        snapshot = informer.snapshot()
        a = snapshot[ObjRef("", "ConfigMap", "shop", "a")].decode()
        assert a["data"] == {"value": "relisted"}
        # Slimmed: no status for a kind whose health nobody assesses, no status writers' entries.
        assert "status" not in a
        assert [e["manager"] for e in a["metadata"]["managedFields"]] == ["dockyard"]
        assert "time" not in a["metadata"]["managedFields"][0]
        assert changed.count(ObjRef("", "ConfigMap", "shop", "a")) == 2  # the edit, then the relist
        assert ObjRef("", "ConfigMap", "shop", "b") in changed
    finally:
        cache.stop()


def test_the_echo_of_our_own_write_announces_nothing(server: FakeServer, kube: KubeClient) -> None:
    changed: list[ObjRef] = []
    cache = LiveCache(kube, slim=slim_live, on_change=changed.append)
    cm = kube.resource_type("v1", "ConfigMap")
    try:
        cache.objects([cm], "app.kubernetes.io/managed-by=dockyard")
        ours = configmap("a", 30, "applied")
        cache.observe(ours)  # what the API server answered to our apply
        server.scripts = [[{"type": "MODIFIED", "object": ours}, {"type": "MODIFIED", "object": configmap("a", 12)}]]
        server.hold.set()  # end the first (waiting) watch: the next one plays the script
        eventually(lambda: len(server.watches()) >= 2)
        time.sleep(0.3)
        assert changed == []  # the echo, and an older event that arrived late
        live = cache.objects([cm], "app.kubernetes.io/managed-by=dockyard")
        assert live[ObjRef("", "ConfigMap", "shop", "a")]["data"] == {"value": "applied"}
        assert live.version(ObjRef("", "ConfigMap", "shop", "a")) == "30"
    finally:
        cache.stop()
