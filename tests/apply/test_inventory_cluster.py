"""The inventory in pieces (issue 15): each tenant's lives in its namespace, cluster objects apart;
one change rewrites one piece; the single ConfigMap of earlier versions is read once and split;
a tenant writing its own piece cannot reach past its namespace."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.edges.kube import KubeClient
from daemon.engine.apply import ResourceManager
from daemon.loader import load_or_raise
from daemon.model.refs import ObjRef
from daemon.policy.inventory import Inventory
from daemon.policy.plan import Plan
from daemon.render import render
from daemon.state.inventory import InventoryStore
from tests.platforms import PlatformRepo, doc

STORE_NAMESPACE = "dockyard-tests"


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    client = KubeClient(str(kubeconfig))
    yield client
    client.close()


@pytest.fixture
def repo(tmp_path: Path) -> PlatformRepo:
    platform = PlatformRepo(tmp_path / "platform", f"iv-{secrets.token_hex(3)}")
    platform.write()
    return platform


def store_for(kube: KubeClient, repo: PlatformRepo) -> InventoryStore:
    return InventoryStore(kube, namespace=STORE_NAMESPACE, name=f"inv-{repo.tenant}")


def plan_of(manager: ResourceManager, root: Path, revision: str = "r1") -> Plan:
    model = load_or_raise(root)
    return manager.plan(render(model, revision), max_fraction=model.platform.prune.max_fraction)


def apply(manager: ResourceManager, root: Path, revision: str = "r1") -> None:
    result = manager.apply(plan_of(manager, root, revision), revision=revision, wait=False)
    assert result.failed == [], result.failed


def configmap(kube: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    return kube.get(kube.resource_type("v1", "ConfigMap"), namespace, name)


def test_a_tenant_s_inventory_lives_in_its_namespace_and_cluster_objects_apart(
    kube: KubeClient, repo: PlatformRepo
) -> None:
    store = store_for(kube, repo)
    apply(ResourceManager(kube, inventory=store), repo.root)
    tenant_piece = configmap(kube, repo.tenant, store.name)
    cluster_piece = configmap(kube, STORE_NAMESPACE, f"{store.name}-cluster")
    assert tenant_piece is not None and cluster_piece is not None
    assert tenant_piece["data"]["Deployment.apps"].splitlines() == ["app0", "app1", "app2"]
    assert tenant_piece["data"]["revision"] == "r1"
    assert "Namespace" not in tenant_piece["data"]  # cluster objects are not the tenant's to list
    assert cluster_piece["data"]["Namespace"] == repo.tenant
    assert cluster_piece["data"]["StorageClass.storage.k8s.io"] == f"rbd-{repo.tenant}"


def test_one_change_rewrites_one_piece_and_an_unchanged_set_writes_none(kube: KubeClient, repo: PlatformRepo) -> None:
    store = store_for(kube, repo)
    manager = ResourceManager(kube, inventory=store)
    apply(manager, repo.root)
    versions = {
        name: configmap(kube, namespace, name)["metadata"]["resourceVersion"]  # type: ignore[index]
        for namespace, name in ((repo.tenant, store.name), (STORE_NAMESPACE, f"{store.name}-cluster"))
    }
    repo.apps["app1"]["spec"]["image"] = "busybox:1.37"  # a new revision, the same objects
    repo.write()
    kube.reset_counts()
    apply(manager, repo.root, "r2")
    assert kube.requests["apply"] == 1  # the Deployment; no inventory piece
    repo.apps["app3"] = doc("App", "app3", {"image": "busybox:1.36", "ports": [{"name": "http", "port": 80}]})
    repo.write()
    apply(manager, repo.root, "r3")
    tenant_piece = configmap(kube, repo.tenant, store.name)
    cluster_piece = configmap(kube, STORE_NAMESPACE, f"{store.name}-cluster")
    assert tenant_piece is not None and cluster_piece is not None
    assert "app3" in tenant_piece["data"]["Deployment.apps"] and tenant_piece["data"]["revision"] == "r3"
    assert tenant_piece["metadata"]["resourceVersion"] != versions[store.name]
    assert cluster_piece["metadata"]["resourceVersion"] == versions[f"{store.name}-cluster"]


def test_the_single_inventory_of_earlier_versions_is_split_once_and_still_prunes(
    kube: KubeClient, repo: PlatformRepo
) -> None:
    store = store_for(kube, repo)
    manager = ResourceManager(kube, inventory=store)
    apply(manager, repo.root)
    everything = store.load()
    # Back to what an earlier version kept: one ConfigMap of ns_name_group_kind lines.
    for namespace, name in ((repo.tenant, store.name), (STORE_NAMESPACE, f"{store.name}-cluster")):
        kube.delete(kube.resource_type("v1", "ConfigMap"), namespace, name)
    legacy = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": store.name, "namespace": STORE_NAMESPACE},
        "data": Inventory.of(everything.entries, "r1").serialise(),
    }
    kube.apply(legacy, force=True)
    upgraded = ResourceManager(kube, inventory=store_for(kube, repo))
    plan = plan_of(upgraded, repo.root)
    assert plan.inventory.entries == everything.entries and not plan.changeset.has_changes
    result = upgraded.apply(plan, revision="r1", wait=False)
    assert result.failed == []
    assert configmap(kube, STORE_NAMESPACE, store.name) is None  # read once, split, gone
    assert configmap(kube, repo.tenant, store.name) is not None
    # What the old inventory recorded is still pruned when it leaves Git.
    del repo.apps["app2"]
    repo.write()
    pruned = {str(c.ref) for c in plan_of(upgraded, repo.root, "r2").changeset.of("prune")}
    assert f"Deployment.apps/{repo.tenant}/app2" in pruned


def test_a_forged_tenant_piece_cannot_make_dockyard_delete_another_namespace(
    kube: KubeClient, repo: PlatformRepo, tmp_path: Path
) -> None:
    # A second tenant, whose namespace allows deletion: the prize a forged inventory would aim at.
    victim = PlatformRepo(tmp_path / "victim", f"vi-{secrets.token_hex(3)}")
    victim.tenant_doc["spec"]["deletionPolicy"] = "Delete"
    victim.write()
    victim_manager = ResourceManager(kube, inventory=store_for(kube, victim))
    apply(victim_manager, victim.root)
    store = store_for(kube, repo)
    manager = ResourceManager(kube, inventory=store)
    apply(manager, repo.root)
    piece = configmap(kube, repo.tenant, store.name)
    assert piece is not None
    # Tenant admins may edit ConfigMaps in their namespace: forge entries for the victim.
    forged = dict(piece["data"])
    forged["Namespace"] = victim.tenant
    forged["Deployment.apps"] += f"\n../{victim.tenant}/app1"
    forged["Widget.evil.example.com"] = "x"
    kube.merge_patch(kube.resource_type("v1", "ConfigMap"), repo.tenant, store.name, {"data": forged})
    plan = plan_of(manager, repo.root)
    assert ObjRef("", "Namespace", "", victim.tenant) not in plan.inventory.entries
    assert not plan.changeset.of("prune", "blocked"), plan.changeset.of("prune", "blocked")
    manager.apply(plan, revision="r1", wait=False)
    assert kube.get(kube.resource_type("v1", "Namespace"), None, victim.tenant) is not None
