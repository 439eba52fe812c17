"""Workloads on a real API server: what the App fields render is accepted as it is (no drift after
apply), and the pods come up."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.edges.kube import KubeClient
from daemon.engine.apply import ResourceManager
from daemon.loader import load_or_raise
from daemon.policy.plan import Plan
from daemon.render import render
from daemon.state.inventory import InventoryStore
from tests.platforms import PlatformRepo, app_spec, doc

pytestmark = pytest.mark.cluster


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    client = KubeClient(str(kubeconfig))
    yield client
    client.close()


@pytest.fixture
def repo(tmp_path: Path) -> PlatformRepo:
    platform = PlatformRepo(tmp_path / "platform", f"wl-{secrets.token_hex(3)}", apps=1)
    platform.platform["spec"]["tenancy"] = {"allowedServiceTypes": ["LoadBalancer", "NodePort"]}
    return platform


def manager_for(kube: KubeClient, repo: PlatformRepo) -> ResourceManager:
    return ResourceManager(kube, inventory=InventoryStore(kube, namespace="dockyard-tests", name=f"inv-{repo.tenant}"))


def plan_of(manager: ResourceManager, root: Path, revision: str = "r1") -> Plan:
    model = load_or_raise(root)
    return manager.plan(render(model, revision), max_fraction=model.platform.prune.max_fraction)


RICH: dict[str, Any] = app_spec(
    image="example/shopfront:1.0",
    replicas=2,
    workingDir="/app",
    ports=[{"name": "http", "port": 8080, "servicePort": 80}, {"name": "grpc", "port": 9555}],
    env=[{"name": "POD_IP", "field": "status.podIP"}],
    probes={
        "readiness": {"http": "/_healthz", "port": "http", "headers": {"Cookie": "id=probe"}, "timeoutSeconds": 2},
        "liveness": {"grpc": "grpc", "grpcService": "shop.Front"},
        "startup": {"tcp": "http", "failureThreshold": 30},
    },
    volumes=[{"scratch": "tmp", "mountPath": "/tmp", "sizeLimit": "64Mi"}],
    files=[{"path": "/etc/shop/config.yaml", "content": "a: 1\n"}],
    initContainers=[{"name": "migrate", "image": "example/migrate:1.0", "command": ["migrate", "up"]}],
    sidecars=[
        {
            "name": "exporter",
            "image": "example/exporter:1.0",
            "ports": [{"name": "metrics", "port": 9100}],
            "probes": {"readiness": {"http": "/metrics", "port": "metrics"}},
            "resources": {"cpu": "10m", "memory": "16Mi"},
        }
    ],
    securityContext={"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001, "readOnlyRootFilesystem": True},
    serviceAccount="shopfront",
    nodeSelector={"type": "kwok"},
    tolerations=[{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
    spread="required",
    terminationGracePeriodSeconds=5,
    preStop={"sleep": 2},
    expose={"type": "LoadBalancer", "service": "shopfront-external"},
)


def test_every_new_app_field_is_accepted_as_rendered_and_the_pods_run(kube: KubeClient, repo: PlatformRepo) -> None:
    repo.apps["shopfront"] = doc("App", "shopfront", RICH)
    repo.write()
    manager = manager_for(kube, repo)
    result = manager.apply(plan_of(manager, repo.root), revision="r1", timeout=120)
    assert result.failed == []
    assert result.unhealthy == [], result.unhealthy
    # The API server kept every field as rendered: a second plan finds nothing to change.
    again = plan_of(manager, repo.root)
    assert not again.changeset.has_changes, [str(c.ref) + str(c.fields) for c in again.changeset.of("update")]

    deployment = kube.get(kube.resource_type("apps/v1", "Deployment"), repo.tenant, "shopfront")
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["migrate", "exporter"]
    assert pod["initContainers"][1]["restartPolicy"] == "Always"
    assert pod["containers"][0]["livenessProbe"]["grpc"] == {"port": 9555, "service": "shop.Front"}
    assert pod["containers"][0]["lifecycle"] == {"preStop": {"sleep": {"seconds": 2}}}
    assert deployment["status"]["availableReplicas"] == 2
    service = kube.get(kube.resource_type("v1", "Service"), repo.tenant, "shopfront")
    assert service is not None
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        ("http", 80, "http"),
        ("grpc", 9555, "grpc"),
        ("metrics", 9100, "metrics"),
    ]
    external = kube.get(kube.resource_type("v1", "Service"), repo.tenant, "shopfront-external")
    assert external is not None and external["spec"]["type"] == "LoadBalancer"
    files = kube.get(kube.resource_type("v1", "ConfigMap"), repo.tenant, "shopfront-files")
    assert files is not None and files["data"] == {"etc_shop_config.yaml": "a: 1\n"}
    pods = kube.list_objects(kube.resource_type("v1", "Pod"), namespace=repo.tenant)
    shop_pods = [p for p in pods if p["metadata"]["labels"].get("dockyard.dev/app") == "shopfront"]
    assert len(shop_pods) == 2 and all(p["status"]["phase"] == "Running" for p in shop_pods)
    assert len({p["spec"]["nodeName"] for p in shop_pods}) == 2  # spread: required
    assert all(p["spec"]["serviceAccountName"] == "shopfront" for p in shop_pods)
