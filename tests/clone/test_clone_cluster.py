"""On a real cluster: the example's shop cloned as shop-staging becomes healthy next to the original,
and the original is not touched; cloned with its data, the clone's volume starts from shop's backup."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.edges.kube import KubeClient
from daemon.engine.apply import ResourceManager
from daemon.engine.backups import BackupManager
from daemon.loader import load_or_raise
from daemon.model.events import MemorySink
from daemon.render import render
from daemon.state.inventory import InventoryStore
from tests.clone.helpers import example_repo, git
from tests.fixtures_cluster import wait_for


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    client = KubeClient(str(kubeconfig))
    yield client
    client.close()


_KINDS = (
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("v1", "Service"),
    ("networking.k8s.io/v1", "Ingress"),
    ("v1", "PersistentVolumeClaim"),
)


def _versions(kube: KubeClient, namespace: str) -> dict[tuple[str, str], str]:
    return {
        (o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"]
        for api_version, kind in _KINDS
        for o in kube.list_objects(kube.resource_type(api_version, kind), namespace=namespace)
    }


def _list(kube: KubeClient, api_version: str, kind: str, namespace: str) -> list[dict[str, object]]:
    return kube.list_objects(kube.resource_type(api_version, kind), namespace=namespace)


def _apply(manager: ResourceManager, root: Path, revision: str) -> tuple[list[str], list[str]]:
    """(namespaces of what was created or updated, names of what is not healthy)"""
    model = load_or_raise(root)
    plan = manager.plan(render(model, revision), max_fraction=model.platform.prune.max_fraction)
    result = manager.apply(plan, revision=revision, timeout=180)
    assert result.failed == []
    changed = [c.ref.namespace or "" for c in plan.changeset.of("create", "update", "prune")]
    return changed, [f"{h.ref}: {h.state}" for h in result.unhealthy]


def test_a_clone_of_the_shop_becomes_healthy_next_to_it(
    kube: KubeClient, kubeconfig: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    platform = example_repo(tmp_path)
    manager = ResourceManager(kube, inventory=InventoryStore(kube, namespace="dockyard-tests", name="inventory-clone"))
    _, unhealthy = _apply(manager, platform, "original")
    assert unhealthy == []
    shop_before = _versions(kube, "shop")
    assert len(shop_before) >= 10

    started = time.monotonic()
    assert main(["clone", "shop", "--to", "shop-staging", "--repo", str(platform)]) == 0
    [branch] = [b for b in git(platform, "branch", "--format=%(refname:short)").split() if b.startswith("dockyard/")]
    git(platform, "merge", "-q", "--ff-only", branch)
    changed, unhealthy = _apply(manager, platform, "clone")
    elapsed = time.monotonic() - started

    assert unhealthy == []
    assert "shop" not in changed and changed.count("shop-staging") >= 15
    # Only the clone and its peers' new halves (NetworkPolicies of analytics, payments, monitoring).
    assert set(changed) <= {"shop-staging", "analytics", "payments", "monitoring", ""}
    shop_after = _versions(kube, "shop")
    assert shop_after == shop_before
    staging = {o["metadata"]["name"] for o in _list(kube, "apps/v1", "Deployment", "shop-staging")}
    assert staging == {"admin-web", "api", "web", "web-canary"}
    hosts = {
        r["host"] for o in _list(kube, "networking.k8s.io/v1", "Ingress", "shop-staging") for r in o["spec"]["rules"]
    }
    assert hosts == {"shop-staging.example.com", "api.shop-staging.example.com", "admin.shop-staging.example.com"}
    with capsys.disabled():
        print(f"\nclone of shop: `dockyard clone` to healthy shop-staging in {elapsed:.1f} s")

    # With its data: shop's latest backup of orders-data, copied into the clone's namespace by the
    # backup manager (the daemon runs it every minute), restores the clone's claim.
    backups = BackupManager(kube, MemorySink())
    backups.run(load_or_raise(platform))  # shop's first backup
    wait_for(
        lambda: _list(kube, "snapshot.storage.k8s.io/v1", "VolumeSnapshot", "shop"),
        timeout=60,
        message="a ready backup of shop",
        until=lambda found: any((s.get("status") or {}).get("readyToUse") for s in found),  # type: ignore[union-attr]
    )
    started = time.monotonic()
    assert main(["clone", "shop", "--to", "shop-restore", "--with-data", "latest", "--repo", str(platform)]) == 0
    assert "volume orders-data starts from shop's backup latest" in capsys.readouterr().out
    [branch] = [
        b
        for b in git(platform, "branch", "--format=%(refname:short)").split()
        if b.startswith("dockyard/") and b != branch
    ]
    git(platform, "merge", "-q", "--ff-only", branch)
    model = load_or_raise(platform)
    plan = manager.plan(render(model, "with-data"), max_fraction=model.platform.prune.max_fraction)
    manager.apply(plan, revision="with-data", timeout=5)  # the claim waits for its data
    report = backups.run(model)
    [copied] = report.copied
    assert copied.startswith("shop-restore/orders-data-from-shop-")
    # The copy is bound by the snapshot controller, then the claim by the provisioner.
    wait_for(
        lambda: _list(kube, "v1", "PersistentVolumeClaim", "shop-restore"),
        timeout=60,
        message="the clone's claim Bound",
        until=lambda found: [c["status"].get("phase") for c in found] == ["Bound"],  # type: ignore[index]
    )
    # What the first apply made goes on getting ready (the HPAs read their first metrics): the
    # health of the next syncs, as the daemon's are.
    changed, unhealthy = wait_for(
        lambda: _apply(manager, platform, "with-data"),
        timeout=120,
        message="the clone with its data healthy",
        until=lambda result: result[1] == [],
        interval=2,
    )
    elapsed = time.monotonic() - started
    assert unhealthy == [] and "shop" not in changed
    [claim] = _list(kube, "v1", "PersistentVolumeClaim", "shop-restore")
    assert claim["spec"]["dataSource"]["name"] == copied.split("/")[1]  # type: ignore[index]
    assert claim["status"]["phase"] == "Bound"  # type: ignore[index]
    assert _versions(kube, "shop") == shop_before  # the owner's objects are untouched
    with capsys.disabled():
        print(f"clone of shop with its data: `dockyard clone --with-data latest` to healthy in {elapsed:.1f} s")
