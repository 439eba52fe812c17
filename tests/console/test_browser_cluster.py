"""The console in a real browser (Debian's headless chromium, driven by Playwright through
``executable_path``; no browser is downloaded) against a daemon that synced platform-repo-example
to the session's local cluster: the overview loads, the topology shows the example's tenants and
flows, a restore from the backup page becomes a commit, and a tenant's user sees no other tenant."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from daemon.console.access import parse_tokens
from daemon.runtime.daemon import Daemon
from daemon.runtime.settings import ConsoleSettings
from tests.console.helpers import ADMIN_TOKEN, EXAMPLE, SHOP_TOKEN, TOKENS
from tests.daemon_settings import daemon_settings
from tests.fixtures_cluster import wait_for
from tests.platforms import git

#: Debian's chromium (the Makefile's apt step installs it); Playwright's own browsers are never used.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.cluster

#: A directory to save screenshots of the pages in (the README's come from here); unset: none.
SCREENSHOTS = os.environ.get("DOCKYARD_CONSOLE_SCREENSHOTS", "")


def _shot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


@dataclass
class Running:
    daemon: Daemon
    remote: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.daemon.server.address[1]}" if self.daemon.server else ""

    def main(self) -> str:
        return git(self.remote, "rev-parse", "main")

    def message(self, rev: str) -> str:
        return git(self.remote, "show", "-s", "--format=%B", rev)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, kubeconfig: Path) -> Iterator[Running]:
    base = tmp_path_factory.mktemp("console")
    remote = base / "remote.git"
    git(base, "init", "-q", "--bare", "-b", "main", str(remote))
    work = base / "work"
    git(base, "clone", "-q", str(remote), str(work))
    shutil.copytree(EXAMPLE, work, dirs_exist_ok=True)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "platform-repo-example")
    git(work, "push", "-q", "origin", "HEAD:main")
    settings = daemon_settings(
        repo=remote.as_uri(),
        kubeconfig=kubeconfig,
        branch="main",
        workdir=base / "daemon",
        listen=("127.0.0.1", 0),
        namespace="dockyard-console",
        identity="console-0",
        health_timeout=90,
    )
    console = ConsoleSettings(tokens=parse_tokens(TOKENS, "tokens.txt"), session_key=b"k" * 32)
    daemon = Daemon.from_settings(replace(settings, console=console))
    daemon.start()
    try:
        wait_for(lambda: daemon.reconciler.snapshot().last_sync_time, timeout=180, message="the first sync")
        model = daemon.reconciler.snapshot().model
        assert model is not None
        # The first backup of orders-data, as the daemon's backup job takes it (made ready by the
        # dev cluster's stand-in snapshotter).
        wait_for(
            lambda: daemon.backups.run(model).created or _ready_snapshot(daemon),
            timeout=90,
            message="a backup of shop/orders-data",
        )
        wait_for(lambda: _ready_snapshot(daemon), timeout=60, message="the snapshot to be ready")
        yield Running(daemon, remote)
    finally:
        daemon.stop()


def _ready_snapshot(daemon: Daemon) -> str:
    rtype = daemon.kube.resource_type("snapshot.storage.k8s.io/v1", "VolumeSnapshot")
    for obj in daemon.kube.list_objects(rtype, namespace="shop"):
        if (obj.get("status") or {}).get("readyToUse") is True:
            return str(obj["metadata"]["name"])
    return ""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


def _page(browser: Any, *, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    context = browser.new_context(extra_http_headers=headers, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    return page


def _sign_in(browser: Any, running: Running, token: str) -> Any:
    """Through the login form, as a person would: the session cookie and its CSRF token."""
    page = _page(browser)
    page.goto(running.base + "/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(running.base + "/")
    return page


def test_the_overview_loads(browser: Any, running: Running) -> None:
    page = _page(browser, token=ADMIN_TOKEN)
    answer = page.goto(running.base + "/")
    assert answer.status == 200
    assert page.locator("h1").first.inner_text() == "Overview"
    sha = running.daemon.reconciler.snapshot().applied_sha or running.main()
    assert sha[:8] in page.content()
    names = page.locator("table.tenants tbody tr td:first-child").all_inner_texts()
    assert names == ["analytics", "monitoring", "payments", "shop"]
    assert "Sync windows" in page.inner_text("main")
    assert page.errors == []
    _shot(page, "overview")


def test_the_topology_shows_the_examples_tenants_and_flows(browser: Any, running: Running) -> None:
    page = _page(browser, token=ADMIN_TOKEN)
    page.goto(running.base + "/topology")
    svg = page.locator("svg.topology")
    assert svg.count() == 1
    labels = svg.text_content()
    for title in ("Online Shop (shop)", "Payments (payments)", "(monitoring)", "(analytics)"):
        assert title in labels, title
    for app in ("web", "api", "postgres", "payments-api", "grafana", "prometheus"):
        assert app in labels
    assert "8080" in labels and "5432" in labels  # ports of the allowed flows
    assert svg.locator(".flow.cross").count() >= 1  # flows across tenants

    def live() -> str:
        page.reload()
        return str(page.locator("svg.topology").text_content())

    # live status of the synced apps reached the nodes
    wait_for(live, timeout=30, message="live status on the nodes", until=lambda t: re.search(r"\d+/\d+ ready", t))
    _shot(page, "topology")
    # focus on one app: the graph narrows to its neighbours
    page.goto(running.base + "/topology?tenant=shop&app=api")
    focused = page.locator("svg.topology").text_content()
    assert "payments-api" in focused and "postgres" in focused and "etl-worker" not in focused
    _shot(page, "topology-app")
    assert page.errors == []


def test_a_restore_from_the_backup_page_produces_a_commit(browser: Any, running: Running) -> None:
    snapshot = _ready_snapshot(running.daemon)
    before = running.main()
    page = _sign_in(browser, running, SHOP_TOKEN)
    page.goto(running.base + "/backups?tenant=shop")
    card = page.locator("section.chain[data-volume=orders-data]")
    _shot(page, "backups")
    form = card.locator("form", has=page.locator(f"input[name=snapshot][value='{snapshot}']"))
    form.locator("input[name=confirm]").check()
    form.locator("button[type=submit]").click()
    flash = page.locator("#flash")
    wait_for(flash.inner_text, timeout=30, message="the action's answer", until=lambda t: "committed" in t)
    after = running.main()
    assert after != before
    message = running.message(after)
    assert message.startswith(f"Restore shop/orders-data from backup {snapshot}")
    assert "Requested-by: sam@example.com via console" in message
    text = git(running.remote, "show", "main:tenants/shop/volumes.yaml")
    assert f"snapshot: {snapshot}" in text
    assert page.errors == []
    admin = _page(browser, token=ADMIN_TOKEN)
    admin.goto(running.base + "/operations")
    assert f"restore shop/orders-data {snapshot}" in admin.inner_text("main")  # the audit trail has it
    _shot(admin, "operations")


def test_a_tenant_user_cannot_see_another_tenant(browser: Any, running: Running) -> None:
    page = _sign_in(browser, running, SHOP_TOKEN)
    for path in ("/", "/topology", "/backups", "/operations"):
        page.goto(running.base + path)
        text = page.inner_text("body")
        assert "shop" in text, path
        for other in ("payments", "analytics", "monitoring", "grafana", "etl-worker"):
            assert other not in text, (path, other)
    refused = page.goto(running.base + "/topology?tenant=payments")
    assert refused.status == 404 and "payments-api" not in page.content()
    api = page.request.get(running.base + "/api/overview", headers={"Accept": "application/json"})
    assert [t["name"] for t in api.json()["tenants"]] == ["shop"]  # the session cookie, from a script
