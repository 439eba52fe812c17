"""Planning from watches on the real local cluster (issue 15): once the informers have listed, a
plan with nothing new costs no request at all; a hand edit is announced within seconds and the
next plan sees it; our own writes are not announced back as drift."""

from __future__ import annotations

import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.edges.kube import KubeClient
from daemon.edges.watch import LiveCache
from daemon.engine.apply import ResourceManager, slim_live
from daemon.loader import load_or_raise
from daemon.model.refs import ObjRef
from daemon.policy.plan import Plan
from daemon.render import render
from daemon.state.inventory import InventoryStore
from tests.fixtures_cluster import wait_for
from tests.platforms import PlatformRepo


class Changes:
    def __init__(self) -> None:
        self.seen: list[tuple[float, ObjRef]] = []
        self._lock = threading.Lock()

    def __call__(self, ref: ObjRef) -> None:
        with self._lock:
            self.seen.append((time.monotonic(), ref))

    def refs(self) -> list[ObjRef]:
        with self._lock:
            return [ref for _, ref in self.seen]

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()


@pytest.fixture
def rig(kubeconfig: Path, tmp_path: Path) -> Iterator[tuple[KubeClient, ResourceManager, PlatformRepo, Changes]]:
    repo = PlatformRepo(tmp_path / "platform", f"lc-{secrets.token_hex(3)}")
    repo.write()
    kube = KubeClient(str(kubeconfig))
    changes = Changes()
    cache = LiveCache(kube, slim=slim_live, on_change=changes)
    configmaps = kube.resource_type("v1", "ConfigMap")
    store = InventoryStore(
        kube,
        namespace="dockyard-tests",
        name=f"inv-{repo.tenant}",
        list_pieces=lambda: list(cache.objects([configmaps], store.selector).values()),
        on_written=cache.observe,
    )
    manager = ResourceManager(kube, inventory=store, live_cache=cache)
    yield kube, manager, repo, changes
    cache.stop()
    kube.close()


def plan_of(manager: ResourceManager, root: Path) -> Plan:
    model = load_or_raise(root)
    return manager.plan(render(model, "r1"), max_fraction=model.platform.prune.max_fraction)


def test_a_plan_from_warm_watches_costs_no_request_and_a_hand_edit_shows_within_seconds(
    rig: tuple[KubeClient, ResourceManager, PlatformRepo, Changes], kubeconfig: Path
) -> None:
    kube, manager, repo, changes = rig
    result = manager.apply(plan_of(manager, repo.root), revision="r1", wait=False)
    assert result.failed == []
    time.sleep(1)  # let the watches deliver the echoes of our own writes
    changes.clear()
    kube.reset_counts()
    plan = plan_of(manager, repo.root)
    assert not plan.changeset.has_changes
    assert sum(kube.requests.values()) == 0, dict(kube.requests)  # no list, no get, no write
    assert changes.refs() == []  # nothing of ours was announced back as drift

    started = time.monotonic()
    subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", "-n", repo.tenant, "set", "env", "deploy/app1", "DRIFT=1"],
        check=True,
        capture_output=True,
    )
    app1 = ObjRef("apps", "Deployment", repo.tenant, "app1")
    wait_for(changes.refs, timeout=10, message="the watch to announce app1", until=lambda refs: app1 in refs)
    announced = next(t for t, ref in changes.seen if ref == app1) - started
    assert announced < 3.0
    kube.reset_counts()
    plan = plan_of(manager, repo.root)
    assert [str(c.ref) for c in plan.changeset.of("update")] == [str(app1)]
    assert kube.requests["list"] == 0 and kube.requests["get"] == 0
    assert manager.apply(plan, revision="r1", wait=False).failed == []
    assert not plan_of(manager, repo.root).changeset.has_changes
