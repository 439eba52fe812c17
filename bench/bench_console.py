"""Benchmark: the console's page weights and load times, for platform-repo-example and for a
generated platform of 1,000 apps (100 tenants of 10 apps, a Volume each).

The console runs on the daemon's own HTTP server in this process, over the model the daemon would
hold (the repo loaded and rendered as a cycle does) with the audit trail and pauses in memory and
no cluster (live state is reported as missing, which costs the pages a few words). Per page: the
HTML bytes, the server's answer time over HTTP (urllib) and the load time in headless chromium
(Debian's, through Playwright: navigation start to the load event, assets cached after the first
page as a browser would). Medians of ``--runs`` runs.

    .venv/bin/python bench/bench_console.py --runs 7
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gen_platform
from prometheus_client import CollectorRegistry

from daemon.console.access import parse_tokens
from daemon.console.app import Console, ConsoleConfig
from daemon.console.live import LiveReader
from daemon.console.ports import ConsolePorts, RecentEvents
from daemon.edges.http import HttpServer
from daemon.engine.reconcile import DaemonState
from daemon.loader.load import load_or_raise
from daemon.model.audit import HistoryRecord
from daemon.model.kinds import ConsoleRoleBinding, ConsoleSettings, PlatformModel
from daemon.model.refs import Revision
from daemon.render.core import render
from daemon.state.history import AuditQuery

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789abcdef"
SHA = "0123456789abcdef0123456789abcdef01234567"


class _Pauses:
    def paused(self) -> frozenset[str]:
        return frozenset()

    def pause(self, tenant: str) -> None: ...

    def resume(self, tenant: str) -> None: ...


class _Trail:
    def __init__(self, records: list[HistoryRecord]) -> None:
        self.records = records

    def append(self, record: HistoryRecord) -> None:
        self.records.append(record)

    def query(self, query: AuditQuery) -> list[HistoryRecord]:
        return [r for r in reversed(self.records) if query.matches(r)]


def _trail(model: PlatformModel, now: datetime) -> _Trail:
    """A day of cycles, one per tenant, as the audit trail would hold them."""
    records = [
        HistoryRecord(
            id=f"{int(now.timestamp() * 1000) - i}-sync",
            kind="sync",
            started=now.isoformat(),
            finished=now.isoformat(),
            revision=SHA,
            author="Ada <ada@example.com>",
            message=f"Change {tenant.name}",
            trigger="webhook",
            result="succeeded",
            counts={"updated": 2},
            changes=[f"updated Deployment/{tenant.name}/x", f"updated Service/{tenant.name}/x"],
            tenants=[tenant.name],
        )
        for i, tenant in enumerate(model.tenants)
    ]
    return _Trail(records)


def _console(model: PlatformModel) -> tuple[HttpServer, str]:
    now = datetime.now(UTC)
    platform = replace(model.platform, console=ConsoleSettings((ConsoleRoleBinding("admin", groups=("bench",)),)))
    model = replace(model, platform=platform)
    revision = Revision(SHA, "", "Ada <ada@example.com>", "A change")
    state = DaemonState(
        revision=revision,
        model=model,
        desired=tuple(render(model, SHA)),
        applied_sha=SHA,
        ready=True,
        last_result="succeeded",
        last_sync_time=now,
    )
    ports = ConsolePorts(
        snapshot=lambda: state,
        is_leader=lambda: True,
        identity="bench",
        source="https://github.com/example/platform.git",
        pauses=_Pauses(),
        history=_trail(model, now),
        live=LiveReader(None),
        request_cycle=lambda trigger: None,
        emit=lambda event: None,
        events=RecentEvents(),
        alerts=list,
        outbox_backlog=lambda: 0,
        clock=lambda: now,
    )
    server = HttpServer("127.0.0.1", 0, registry=CollectorRegistry())
    Console(ports, ConsoleConfig(tokens=parse_tokens(f"{TOKEN} bench bench", "bench"), session_key=b"b" * 32)).add_to(
        server
    )
    server.start()
    return server, f"http://127.0.0.1:{server.address[1]}"


def _get(url: str) -> tuple[int, float]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    return len(body), time.perf_counter() - start


def measure(name: str, model: PlatformModel, runs: int, tenant: str, app: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    server, base = _console(model)
    pages = {
        "overview": "/",
        "topology": "/topology",
        "topology, one tenant": f"/topology?tenant={tenant}",
        "topology, one app": f"/topology?tenant={tenant}&app={app}",
        "backups": "/backups",
        "operations": "/operations",
        "API: topology": "/api/topology",
    }
    assets = sum(_get(base + f"/static/{a}")[0] for a in ("console.css", "console.js", "favicon.svg"))
    results: dict[str, Any] = {
        "platform": name,
        "tenants": len(model.tenants),
        "apps": len(model.apps),
        "assets_bytes": assets,
        "pages": {},
    }
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")
            context = browser.new_context(extra_http_headers={"Authorization": f"Bearer {TOKEN}"})
            page = context.new_page()
            page.goto(base + "/")  # assets cached, as for someone who has the console open
            for label, path in pages.items():
                sizes, server_times, loads = [], [], []
                for _ in range(runs):
                    size, seconds = _get(base + path)
                    sizes.append(size)
                    server_times.append(seconds)
                    if not label.startswith("API"):
                        page.goto(base + path, wait_until="load")
                        loads.append(
                            page.evaluate(
                                "() => { const n = performance.getEntriesByType('navigation')[0];"
                                " return n.loadEventEnd - n.startTime; }"
                            )
                            / 1000
                        )
                results["pages"][label] = {
                    "bytes": statistics.median(sizes),
                    "server_s": statistics.median(server_times),
                    "browser_load_s": statistics.median(loads) if loads else None,
                }
            browser.close()
    finally:
        server.stop()
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        lines.append(
            f"\n{r['platform']}: {r['tenants']} tenants, {r['apps']} apps; assets {r['assets_bytes']:,} bytes\n"
        )
        lines.append("| page | HTML / JSON | server answer | browser load |")
        lines.append("|---|---|---|---|")
        for label, p in r["pages"].items():
            load = f"{p['browser_load_s'] * 1000:.0f} ms" if p["browser_load_s"] is not None else "—"
            lines.append(f"| {label} | {p['bytes'] / 1024:.1f} KiB | {p['server_s'] * 1000:.0f} ms | {load} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tenants", type=int, default=100, help="tenants of the generated platform")
    parser.add_argument("--apps", type=int, default=10, help="apps per tenant of the generated platform")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/console.json")
    args = parser.parse_args(argv)
    results = [
        measure("platform-repo-example", load_or_raise(ROOT / "platform-repo-example"), args.runs, "shop", "api")
    ]
    with tempfile.TemporaryDirectory() as tmp:
        gen_platform.generate(Path(tmp), args.tenants, args.apps)
        large = load_or_raise(Path(tmp))
    results.append(
        measure("generated", large, args.runs, large.tenants[0].name, large.apps_of(large.tenants[0].name)[0].name)
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
