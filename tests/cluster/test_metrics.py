"""The local cluster's metrics pipeline: kwok reports what a pod's annotations say it uses,
metrics-server serves it through the aggregated metrics API, and `kubectl top` shows it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.edges.kube import KubeClient
from devcluster.certs import METRICS_SERVER_USER
from tests.fixtures_cluster import wait_for
from tests.usage import close, pod_usage, set_usage, wait_usage

pytestmark = pytest.mark.cluster


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    client = KubeClient(str(kubeconfig))
    yield client
    client.close()


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args], input=stdin, check=True, capture_output=True, text=True
    ).stdout


def running_pods(kube: KubeClient, namespace: str, count: int) -> list[str]:
    pods = wait_for(
        lambda: kube.list_objects(kube.resource_type("v1", "Pod"), namespace=namespace),
        timeout=60,
        message=f"{count} running pods",
        until=lambda items: len([p for p in items if p.get("status", {}).get("phase") == "Running"]) == count,
    )
    return sorted(p["metadata"]["name"] for p in pods)


def test_a_pods_usage_follows_its_annotations_in_the_metrics_api_and_kubectl_top(
    kube: KubeClient, kubeconfig: Path, namespace: str
) -> None:
    kubectl(kubeconfig, "-n", namespace, "create", "deployment", "web", "--image=nginx", "--replicas=2")
    busy, idle = running_pods(kube, namespace, 2)
    set_usage(kube, namespace, busy, cpu="250m", memory="300Mi")
    wait_usage(kube, namespace, busy, cpu="250m", memory="300Mi")
    # Every other pod on a kwok node uses 1m and 1Mi.
    wait_usage(kube, namespace, idle, cpu="1m", memory="1Mi")
    top = {
        line.split()[0]: line.split()[1:]
        for line in kubectl(kubeconfig, "-n", namespace, "top", "pod").splitlines()[1:]
    }
    # kubectl rounds the rate down: 249.99m on a busy machine shows as 249m.
    cpu, memory = top[busy]
    assert close(Decimal(cpu.removesuffix("m")) / 1000, "250m") and memory == "300Mi", top[busy]

    set_usage(kube, namespace, busy, cpu="40m", memory="2Gi")
    wait_usage(kube, namespace, busy, cpu="40m", memory="2Gi", timeout=40)
    set_usage(kube, namespace, busy, cpu=None, memory=None)
    wait_usage(kube, namespace, busy, cpu="1m", memory="1Mi", timeout=40)
    assert pod_usage(kube, namespace, "no-such-pod") is None


def review(
    kubeconfig: Path,
    verb: str,
    resource: str,
    *,
    group: str = "",
    subresource: str = "",
    namespace: str = "",
    name: str = "",
) -> bool:
    """The API server's own answer for metrics-server's user (a SubjectAccessReview)."""
    spec = {
        "user": METRICS_SERVER_USER,
        "groups": ["system:authenticated"],
        "resourceAttributes": {
            "verb": verb,
            "group": group,
            "resource": resource,
            "subresource": subresource,
            "namespace": namespace,
            "name": name,
        },
    }
    body = json.dumps({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec})
    return bool(json.loads(kubectl(kubeconfig, "create", "-o", "json", "-f", "-", stdin=body))["status"].get("allowed"))


def test_metrics_server_may_read_what_it_scrapes_and_nothing_more(kubeconfig: Path) -> None:
    assert review(kubeconfig, "get", "nodes", subresource="metrics")
    assert review(kubeconfig, "list", "pods")
    assert review(kubeconfig, "create", "tokenreviews", group="authentication.k8s.io")  # delegated authentication
    # The requestheader CA and names the aggregator's requests are checked against.
    assert review(kubeconfig, "get", "configmaps", namespace="kube-system", name="extension-apiserver-authentication")
    assert not review(kubeconfig, "get", "configmaps", namespace="kube-system", name="kubeadm-config")
    assert not review(kubeconfig, "get", "secrets", namespace="kube-system")
    assert not review(kubeconfig, "create", "pods", namespace="default")
    assert not review(kubeconfig, "update", "nodes")
