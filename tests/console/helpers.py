"""The console on a real HTTP server with the example platform loaded and rendered, in-memory
pauses and audit trail, and the cluster's answers given as object lists (what a real API server
returns for them); requests go through urllib like a browser's would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from daemon.chat.gitops import GitOps
from daemon.console.access import ProxyTrust, parse_tokens
from daemon.console.app import Console, ConsoleConfig
from daemon.console.live import LiveReader
from daemon.console.ports import ActiveAlert, ConsolePorts, RecentEvents
from daemon.edges.http import HttpServer
from daemon.engine.reconcile import DaemonState
from daemon.loader.load import load_or_raise
from daemon.model.audit import HistoryRecord
from daemon.model.cycle import Trigger
from daemon.model.events import Event
from daemon.model.kinds import PlatformModel
from daemon.model.refs import Revision
from daemon.render.core import render
from daemon.state.history import AuditQuery

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"
NOW = datetime(2026, 5, 12, 10, 30, tzinfo=UTC)
SESSION_KEY = b"k" * 32
ADMIN_TOKEN = "admin-token-0123456789abcdef"
SHOP_TOKEN = "shop-token-0123456789abcdefg"
BOB_TOKEN = "bobs-token-0123456789abcdefg"
DATA_TOKEN = "data-token-0123456789abcdefg"
NOBODY_TOKEN = "nobody-token-0123456789abcd"
TOKENS = f"""# test tokens
{ADMIN_TOKEN} alice@example.com platform-team
{SHOP_TOKEN} sam@example.com shop-developers
{BOB_TOKEN} bob@example.com
{DATA_TOKEN} data-lead@example.com
{NOBODY_TOKEN} eve@example.com
"""


def example_model() -> PlatformModel:
    return load_or_raise(EXAMPLE)


def example_state(model: PlatformModel | None = None, **extra: Any) -> DaemonState:
    model = model or example_model()
    revision = Revision(
        "0123456789abcdef0123456789abcdef01234567", str(EXAMPLE), "Ada <ada@example.com>", "Add the shop\n\nbody"
    )
    values: dict[str, Any] = {
        "revision": revision,
        "model": model,
        "desired": tuple(render(model, revision.sha)),
        "applied_sha": revision.sha,
        "ready": True,
        "last_result": "succeeded",
        "last_sync_time": NOW,
    }
    values.update(extra)
    return DaemonState(**values)


class ListedKube:
    """The cluster's lists, as ``KubeClient.list_objects`` returns them, by kind."""

    def __init__(self, objects: Mapping[str, list[dict[str, Any]]] | None = None) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {k: list(v) for k, v in (objects or {}).items()}
        self.lists = 0

    def resource_type(self, api_version: str, kind: str) -> str:
        return kind

    def list_objects(
        self, rtype: Any, *, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        self.lists += 1
        return list(self.objects.get(str(rtype), []))


class MemoryPauses:
    def __init__(self) -> None:
        self.tenants: set[str] = set()

    def paused(self) -> frozenset[str]:
        return frozenset(self.tenants)

    def pause(self, tenant: str) -> None:
        self.tenants.add(tenant)

    def resume(self, tenant: str) -> None:
        self.tenants.discard(tenant)


class MemoryTrail:
    def __init__(self, records: Sequence[HistoryRecord] = ()) -> None:
        self.records: list[HistoryRecord] = list(records)

    def append(self, record: HistoryRecord) -> None:
        self.records.append(record)

    def query(self, query: AuditQuery) -> list[HistoryRecord]:
        return [r for r in reversed(self.records) if query.matches(r)]


@dataclass
class Bench:
    """What a test sets and reads around one console."""

    state: DaemonState
    kube: ListedKube = field(default_factory=ListedKube)
    pauses: MemoryPauses = field(default_factory=MemoryPauses)
    trail: MemoryTrail = field(default_factory=MemoryTrail)
    events: RecentEvents = field(default_factory=RecentEvents)
    alerts: list[ActiveAlert] = field(default_factory=list)
    cycles: list[Trigger] = field(default_factory=list)
    emitted: list[Event] = field(default_factory=list)
    leader: bool = True
    handed: list[Mapping[str, Any]] = field(default_factory=list)
    gitops: GitOps | None = None
    clusters: dict[str, DaemonState] = field(default_factory=dict)

    def ports(self) -> ConsolePorts:
        return ConsolePorts(
            snapshot=lambda: self.state,
            is_leader=lambda: self.leader,
            identity="replica-0",
            source="https://github.com/example/platform.git",
            pauses=self.pauses,
            history=self.trail,
            live=LiveReader(self.kube, ttl=0),
            request_cycle=self.cycles.append,
            emit=self.emitted.append,
            events=self.events,
            alerts=lambda: self.alerts,
            outbox_backlog=lambda: 3,
            clock=lambda: NOW,
            gitops=self.gitops,
            hand_to_leader=self.handed.append,
            clusters=lambda: self.clusters,
        )


def config(*, proxy: str | None = "127.0.0.1/32", proxy_secret: str | None = None) -> ConsoleConfig:
    return ConsoleConfig(
        proxy=ProxyTrust.parse(proxy, proxy_secret) if proxy else None,
        tokens=parse_tokens(TOKENS, "tokens.txt"),
        session_key=SESSION_KEY,
    )


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Served:
    console: Console
    server: HttpServer
    bench: Bench

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.address[1]}"

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Answer:
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
        except urllib.error.HTTPError as e:
            return Answer(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())

    def as_token(self, token: str, path: str, **kwargs: Any) -> Answer:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.request(path, headers=headers, **kwargs)

    def as_user(self, user: str, path: str, *, groups: str = "", **kwargs: Any) -> Answer:
        """Signed in by the trusted proxy (the test client is at 127.0.0.1)."""
        headers = {"X-Forwarded-User": user, "X-Forwarded-Groups": groups, **kwargs.pop("headers", {})}
        return self.request(path, headers=headers, **kwargs)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


urllib.request.install_opener(urllib.request.build_opener(_NoRedirect))


@contextmanager
def serve(bench: Bench, console_config: ConsoleConfig | None = None) -> Iterator[Served]:
    server = HttpServer("127.0.0.1", 0, registry=CollectorRegistry())
    console = Console(bench.ports(), console_config or config(), wall=NOW.timestamp)
    console.add_to(server)
    server.start()
    try:
        yield Served(console, server, bench)
    finally:
        server.stop()


Check = Callable[[Answer], None]
