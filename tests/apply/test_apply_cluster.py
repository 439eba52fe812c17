"""Render, plan, apply and prune against the real local cluster (issue: converge safely and fast)."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.cli import main
from daemon.edges.kube import KubeClient
from daemon.engine.apply import ResourceManager
from daemon.loader import load_or_raise
from daemon.policy.plan import Plan
from daemon.render import render
from daemon.state.inventory import InventoryStore
from tests.fixtures_cluster import wait_for
from tests.platforms import PlatformRepo

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    client = KubeClient(str(kubeconfig))
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    return f"ap-{secrets.token_hex(3)}"


@pytest.fixture
def repo(tmp_path: Path, prefix: str) -> PlatformRepo:
    platform = PlatformRepo(tmp_path / "platform", prefix)
    platform.write()
    return platform


def manager_for(kube: KubeClient, prefix: str) -> ResourceManager:
    return ResourceManager(kube, inventory=InventoryStore(kube, namespace="dockyard-tests", name=f"inventory-{prefix}"))


def plan_of(manager: ResourceManager, root: Path, revision: str = "r1", **kwargs: Any) -> Plan:
    model = load_or_raise(root)
    return manager.plan(render(model, revision), max_fraction=model.platform.prune.max_fraction, **kwargs)


def kubectl(kubeconfig: Path, *args: str) -> str:
    return subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args], check=True, capture_output=True, text=True
    ).stdout


def test_the_example_platform_applies_from_empty_and_becomes_healthy(kube: KubeClient, kubeconfig: Path) -> None:
    manager = ResourceManager(
        kube, inventory=InventoryStore(kube, namespace="dockyard-tests", name="inventory-example")
    )
    plan = plan_of(manager, EXAMPLE)
    assert plan.changeset.counts["create"] == len(plan.desired) > 60
    result = manager.apply(plan, revision="r1", timeout=120)
    assert result.failed == []
    assert result.unhealthy == [], result.unhealthy
    kinds = {h.ref.kind for h in result.health}
    assert {"Deployment", "StatefulSet", "PersistentVolumeClaim", "HorizontalPodAutoscaler"} <= kinds
    # Idempotent: a second plan finds nothing to do and costs one list per kind, no writes.
    kube.reset_counts()
    again = plan_of(manager, EXAMPLE)
    assert not again.changeset.has_changes
    assert kube.write_count() == 0
    listed_kinds = {(obj["apiVersion"], obj["kind"]) for obj in again.desired}
    # One list per kind rendered, and one for the inventory's pieces.
    assert kube.requests["list"] <= len(listed_kinds) + 1, (kube.requests, sorted(listed_kinds))
    assert kube.requests["get"] <= 1 and kube.requests["dry-run"] == 0


def test_changing_one_image_changes_only_that_workload(kube: KubeClient, repo: PlatformRepo, kubeconfig: Path) -> None:
    manager = manager_for(kube, repo.tenant)
    first = manager.apply(plan_of(manager, repo.root), revision="r1", timeout=60)
    assert first.ok, (first.failed, first.unhealthy)
    repo.apps["app1"]["spec"]["image"] = "busybox:1.37"
    repo.write()
    plan = plan_of(manager, repo.root, "r2")
    changed = plan.changeset.of("create", "update", "prune")
    assert [str(c.ref) for c in changed] == [f"Deployment.apps/{repo.tenant}/app1"]
    assert [f.describe() for f in changed[0].fields] == [
        "spec.template.spec.containers[name=app1].image: busybox:1.36 → busybox:1.37"
    ]
    kube.reset_counts()
    result = manager.apply(plan, revision="r2", timeout=60)
    assert result.ok
    assert kube.requests["apply"] == 1  # the Deployment; the inventory holds the same objects
    image = kubectl(
        kubeconfig,
        "-n",
        repo.tenant,
        "get",
        "deploy",
        "app1",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    )
    assert image == "busybox:1.37"
    wait_for(
        lambda: kubectl(
            kubeconfig,
            "-n",
            repo.tenant,
            "get",
            "pods",
            "-l",
            "dockyard.dev/app=app1",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ).split(),
        timeout=60,
        message="app1's pods to roll over to busybox:1.37",
        until=lambda images: images == ["busybox:1.37"] * 2,
    )


def test_removing_an_app_prunes_its_objects_but_the_volume_stays(
    kube: KubeClient, repo: PlatformRepo, kubeconfig: Path
) -> None:
    manager = manager_for(kube, repo.tenant)
    assert manager.apply(plan_of(manager, repo.root), revision="r1", timeout=60).ok
    del repo.apps["app0"]  # the app that mounts the volume
    del repo.volumes["data"]  # and the Volume itself leaves Git (deletionPolicy Retain by default)
    repo.write()
    plan = plan_of(manager, repo.root, "r2")
    pruned = {str(c.ref) for c in plan.changeset.of("prune")}
    assert pruned == {f"Deployment.apps/{repo.tenant}/app0", f"Service/{repo.tenant}/app0"}
    retained = {str(c.ref): c.reason for c in plan.changeset.of("retain")}
    assert "deletionPolicy is Retain" in retained[f"PersistentVolumeClaim/{repo.tenant}/data"]
    result = manager.apply(plan, revision="r2", timeout=60)
    assert result.ok
    assert kube.get(kube.resource_type("apps/v1", "Deployment"), repo.tenant, "app0") is None
    assert kube.get(kube.resource_type("v1", "PersistentVolumeClaim"), repo.tenant, "data") is not None
    # No longer ours: a later plan neither prunes it nor counts it.
    assert not plan_of(manager, repo.root, "r3").changeset.has_changes


def test_a_volume_with_delete_policy_is_pruned(kube: KubeClient, repo: PlatformRepo) -> None:
    repo.volumes["scratch"] = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "Volume",
        "metadata": {"name": "scratch"},
        "spec": {"size": "1Gi", "deletionPolicy": "Delete"},
    }
    repo.write()
    manager = manager_for(kube, repo.tenant)
    assert manager.apply(plan_of(manager, repo.root), revision="r1", timeout=60).ok
    del repo.volumes["scratch"]
    repo.write()
    plan = plan_of(manager, repo.root, "r2")
    assert [str(c.ref) for c in plan.changeset.of("prune")] == [f"PersistentVolumeClaim/{repo.tenant}/scratch"]


def test_kubectl_edits_show_in_the_plan_and_apply_corrects_them(
    kube: KubeClient, repo: PlatformRepo, kubeconfig: Path
) -> None:
    manager = manager_for(kube, repo.tenant)
    assert manager.apply(plan_of(manager, repo.root), revision="r1", timeout=60).ok
    kubectl(kubeconfig, "-n", repo.tenant, "set", "image", "deploy/app2", "app2=evil:latest")
    kubectl(kubeconfig, "-n", repo.tenant, "label", "svc", "app1", "dockyard.dev/tenant=someone-else", "--overwrite")
    plan = plan_of(manager, repo.root)
    updates = {str(c.ref): [f.describe() for f in c.fields] for c in plan.changeset.of("update")}
    assert updates == {
        f"Deployment.apps/{repo.tenant}/app2": [
            "spec.template.spec.containers[name=app2].image: evil:latest → busybox:1.36"
        ],
        f"Service/{repo.tenant}/app1": [f'metadata.labels["dockyard.dev/tenant"]: someone-else → {repo.tenant}'],
    }
    # kubectl took the image field from us: a hand edit, taken back without --force-conflicts.
    result = manager.apply(plan, revision="r1", timeout=60)
    assert result.failed == []
    assert not plan_of(manager, repo.root).changeset.has_changes


def test_an_hpa_scaling_its_deployment_is_never_drift(kube: KubeClient, repo: PlatformRepo, kubeconfig: Path) -> None:
    repo.autoscalings["app1"] = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "Autoscaling",
        "metadata": {"name": "app1"},
        "spec": {"target": "app1", "minReplicas": 3, "maxReplicas": 5, "metrics": [{"cpu": "70%"}]},
    }
    repo.write()
    manager = manager_for(kube, repo.tenant)
    assert manager.apply(plan_of(manager, repo.root), revision="r1", timeout=60).ok
    # The HPA controller raises replicas to minReplicas through the scale subresource.
    wait_for(
        lambda: kubectl(kubeconfig, "-n", repo.tenant, "get", "deploy", "app1", "-o", "jsonpath={.spec.replicas}"),
        timeout=60,
        message="the HPA to scale app1 to 3",
        until=lambda replicas: replicas == "3",
    )
    kubectl(kubeconfig, "-n", repo.tenant, "scale", "deploy/app1", "--replicas=4")
    assert not plan_of(manager, repo.root).changeset.has_changes


def test_a_change_deleting_half_the_objects_is_held(kube: KubeClient, repo: PlatformRepo) -> None:
    manager = manager_for(kube, repo.tenant)
    assert manager.apply(plan_of(manager, repo.root), revision="r1", timeout=60).ok
    repo.platform["spec"]["prune"]["maxFraction"] = 0.2
    repo.apps = {"app0": repo.apps["app0"]}
    repo.write()
    plan = plan_of(manager, repo.root, "r2")
    assert plan.prune.blocked
    assert {c.action for c in plan.changeset.changes if c.ref.name in ("app1", "app2")} == {"blocked"}
    assert "maxFraction=0.2" in plan.prune.reason and "--allow-mass-prune" in plan.prune.reason
    result = manager.apply(plan, revision="r2", wait=False)
    assert result.pruned == []
    assert kube.get(kube.resource_type("apps/v1", "Deployment"), repo.tenant, "app1") is not None
    # The held objects stay in the inventory, so lifting the guard prunes them.
    lifted = plan_of(manager, repo.root, "r2", allow_mass_prune=True)
    assert len(lifted.changeset.of("prune")) == 6  # two Deployments, Services and PDBs


def test_plan_cli_outputs_and_detailed_exitcode(
    repo: PlatformRepo, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--repo", str(repo.root), "--kubeconfig", str(kubeconfig), "--namespace", f"dockyard-{repo.tenant}"]
    assert main(["plan", *args, "--detailed-exitcode"]) == 2
    out = capsys.readouterr().out
    assert f"+ create   Deployment.apps/{repo.tenant}/app1" in out and "Plan: " in out
    assert main(["plan", *args, "--output", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["create"] == len(data["changes"]) and data["apiRequests"] > 0
    assert main(["plan", *args, "--output", "markdown"]) == 0
    assert "| + | create |" in capsys.readouterr().out
    assert main(["apply", *args, "--timeout", "60"]) == 0
    capsys.readouterr()
    assert main(["plan", *args, "--detailed-exitcode"]) == 0
    capsys.readouterr()
    assert main(["apply", *args, "--output", "json"]) == 0
    applied = json.loads(capsys.readouterr().out)
    assert applied["ok"] and applied["writes"] == 0  # a no-op apply writes nothing
