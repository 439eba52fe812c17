"""The cluster's health on the session's cluster, broken for real: kwok stopped (its nodes stop
heartbeating), the scheduler stopped, etcd stopped, a claim no provisioner serves, a rollout that
cannot progress; and Dockyard's own failure, through the daemon's job and /status. Each problem is
told once when it starts and once when it is over."""

from __future__ import annotations

import json
import secrets
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.edges.kube import KubeClient
from daemon.engine.clusterhealth import ClusterWatcher
from daemon.model.events import Event, MemorySink
from daemon.runtime.daemon import Daemon
from devcluster import RunningCluster
from tests.daemon_settings import daemon_settings
from tests.fixtures_cluster import wait_for
from tests.platforms import PlatformRepo

pytestmark = pytest.mark.cluster


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    client = KubeClient(str(kubeconfig))
    yield client
    client.close()


class Watch:
    """A watcher on the real clock and what it has told."""

    def __init__(self, kube: KubeClient, **thresholds: float) -> None:
        self.sink = MemorySink()
        self.watcher = ClusterWatcher(kube, self.sink, **thresholds)

    def told(self, prefix: str) -> list[Event]:
        return [e for e in self.sink.events if e.name.startswith(prefix)]

    def until(self, what: str, done: Callable[[list[Event]], bool], prefix: str, timeout: float = 120) -> list[Event]:
        def look() -> list[Event]:
            self.watcher.run()
            return self.told(prefix)

        found: list[Event] = wait_for(look, timeout=timeout, message=what, until=done, interval=2.0)
        return found


def names(events: list[Event], key: str | None = None) -> list[str]:
    return [e.name for e in events if key is None or e.details.get("alert") == key]


def test_nodes_whose_kwok_stopped_are_not_ready_until_it_runs_again(kube: KubeClient, cluster: RunningCluster) -> None:
    watch = Watch(kube)
    watch.watcher.run()
    assert watch.told("node.") == []
    nodes = sorted(cluster.nodes())
    cluster.stop_component("kwok")
    try:
        # The node controller waits its grace period (50s) for a heartbeat before it says NotReady.
        down = watch.until("every node NotReady", lambda e: len(names(e)) == len(nodes), "node.", timeout=150)
    finally:
        cluster.start_component("kwok")
    assert sorted(e.details["alert"] for e in down) == [f"node/{n}" for n in nodes]
    assert all(e.name == "node.notready" and e.tenant is None for e in down)
    assert "NotReady (NodeStatusUnknown)" in down[0].summary
    told = watch.until("every node Ready again", lambda e: len(e) == 2 * len(nodes), "node.", timeout=90)
    for n in nodes:
        assert names(told, f"node/{n}") == ["node.notready", "node.ready"]
        # Back with its address: metrics-server scrapes a node at its InternalIP, so a node without
        # one has no pod metrics for the rest of the session (the scaling tests ran into it).
        node = kube.get(kube.resource_type("v1", "Node"), None, n) or {}
        assert "InternalIP" in {a["type"] for a in node["status"].get("addresses") or []}, n
    watch.watcher.run()
    assert len(watch.told("node.")) == 2 * len(nodes)


def test_a_stopped_scheduler_is_a_control_plane_problem_until_it_places_pods_again(
    kube: KubeClient, cluster: RunningCluster, namespace: str
) -> None:
    watch = Watch(kube, scheduler_wait=10)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "waiting", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
    }
    cluster.stop_component("kube-scheduler")
    try:
        kube.create(pod)
        down = watch.until("the scheduler problem", bool, "controlplane.", timeout=60)
    finally:
        cluster.start_component("kube-scheduler")
    assert [(e.name, e.details["alert"], e.severity) for e in down] == [
        ("controlplane.degraded", "scheduler", "critical")
    ]
    assert down[0].summary.startswith("No scheduler is placing pods: 1 pod(s) have not been looked at for over 10s")
    told = watch.until("the scheduler back", lambda e: len(e) == 2, "controlplane.", timeout=60)
    assert names(told) == ["controlplane.degraded", "controlplane.recovered"]
    assert told[1].summary.startswith("Resolved after ") and "the check passes again" in told[1].summary


def test_etcd_down_fails_the_api_servers_readiness_checks_until_it_is_back(
    kube: KubeClient, cluster: RunningCluster
) -> None:
    watch = Watch(kube)
    watch.watcher.run()
    cluster.stop_component("etcd")
    try:
        down = watch.until(
            "the etcd readiness checks",
            lambda e: "readyz/etcd" in {x.details["alert"] for x in e},
            "controlplane.",
            timeout=60,
        )
    finally:
        cluster.start_component("etcd")
        cluster.wait_ready(60)
    assert {e.details["alert"] for e in down} >= {"readyz/etcd"}
    assert all(e.name == "controlplane.degraded" and e.tenant is None for e in down)
    etcd = next(e for e in down if e.details["alert"] == "readyz/etcd")
    assert etcd.summary.startswith("The API server's readiness check etcd fails")
    opened = {e.details["alert"] for e in down}
    told = watch.until(
        "every readiness check passing again",
        lambda e: sorted(x.details["alert"] for x in e if x.name == "controlplane.recovered") == sorted(opened),
        "controlplane.",
        timeout=60,
    )
    assert len(told) == 2 * len(opened)


def test_a_claim_no_provisioner_serves_is_pending_until_its_class_exists(kube: KubeClient, namespace: str) -> None:
    watch = Watch(kube, claim_pending=5)
    cls = f"no-such-class-{secrets.token_hex(3)}"
    labels = {"app.kubernetes.io/managed-by": "dockyard", "dockyard.dev/tenant": namespace, "dockyard.dev/app": "db"}
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": namespace, "labels": labels},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": cls,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    key = f"volume/{namespace}/data"
    try:
        [pending] = watch.until("the pending claim", lambda e: bool(names(e, key)), "volume.", timeout=60)
        assert (pending.name, pending.tenant, pending.app) == ("volume.pending", namespace, "db")
        assert pending.summary.endswith(f"its storage class {cls} does not exist")
        # The dev cluster's provisioner serves every class there is: once it exists, the claim binds.
        kube.create(
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": cls},
                "provisioner": "x.example.com",
            }
        )
        told = watch.until("the claim bound", lambda e: len(names(e, key)) == 2, "volume.", timeout=60)
    finally:
        kube.delete(kube.resource_type("storage.k8s.io/v1", "StorageClass"), None, cls)
    assert names(told, key) == ["volume.pending", "volume.bound"]
    assert told[-1].details["firingSeverity"] == "warning" and told[-1].tenant == namespace


def test_a_rollout_past_its_deadline_is_stuck_until_it_progresses(kube: KubeClient, namespace: str) -> None:
    watch = Watch(kube)
    labels = {"dockyard.dev/tenant": namespace, "dockyard.dev/app": "web"}
    template: dict[str, Any] = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "containers": [{"name": "web", "image": "nginx"}],
            "nodeSelector": {"dockyard.dev/health-test": "no-such-node"},  # it can never start
        },
    }
    deployments = kube.resource_type("apps/v1", "Deployment")
    kube.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "progressDeadlineSeconds": 5,
                "selector": {"matchLabels": {"app": "web"}},
                "template": template,
            },
        }
    )
    key = f"rollout/{namespace}/web"
    [stuck] = watch.until("the stuck rollout", lambda e: bool(names(e, key)), "rollout.", timeout=90)
    assert (stuck.name, stuck.tenant, stuck.app) == ("rollout.stuck", namespace, "web")
    assert stuck.summary.startswith(f"The rollout of {namespace}/web is stuck past its 5s deadline: ")
    kube.merge_patch(deployments, namespace, "web", {"spec": {"template": {"spec": {"nodeSelector": None}}}})
    told = watch.until("the rollout progressing", lambda e: len(names(e, key)) == 2, "rollout.", timeout=90)
    assert names(told, key) == ["rollout.stuck", "rollout.recovered"]


def test_dockyard_out_of_reach_of_its_repo_is_degraded_in_its_events_and_status(
    kubeconfig: Path, tmp_path: Path, kube: KubeClient
) -> None:
    prefix = f"dh-{secrets.token_hex(3)}"
    repo = PlatformRepo(tmp_path / "platform", prefix, apps=1)
    repo.volumes = {}
    del repo.apps["app0"]["spec"]["volumes"]
    repo.write()
    settings = daemon_settings(
        repo=str(repo.root),
        kubeconfig=kubeconfig,
        workdir=tmp_path / "work",
        namespace=f"dockyard-{prefix}",
        identity="health",
        listen=("127.0.0.1", 0),
    )
    sink = MemorySink()
    daemon = Daemon.from_settings(settings, extra_sinks=(sink,))

    def status() -> list[dict[str, Any]]:
        assert daemon.server is not None
        host, port = daemon.server.address
        with urllib.request.urlopen(f"http://{host}:{port}/status", timeout=10) as response:
            return list(json.load(response)["problems"])

    def dockyard_events() -> list[Event]:
        return [e for e in sink.events if e.name.startswith("dockyard.")]

    daemon.start()
    try:
        wait_for(lambda: daemon.reconciler.snapshot().last_sync_time, timeout=120, message="the first sync")
        moved = tmp_path / "moved"
        shutil.move(repo.root, moved)
        daemon.runner.request("poll")
        # The daemon's own job looks every 15s and wants two looks in a row.
        wait_for(dockyard_events, timeout=60, message="dockyard.degraded", until=lambda e: len(e) == 1)
        [down] = dockyard_events()
        assert (down.name, down.tenant, down.details["alert"]) == ("dockyard.degraded", None, "dockyard/source")
        assert down.summary.startswith("The platform repo cannot be fetched, so no change reaches the cluster: ")
        assert [p["problem"] for p in status()] == ["dockyard/source"]
        shutil.move(moved, repo.root)
        daemon.runner.request("poll")
        wait_for(dockyard_events, timeout=60, message="dockyard.recovered", until=lambda e: len(e) == 2)
        assert [e.name for e in dockyard_events()] == ["dockyard.degraded", "dockyard.recovered"]
        assert status() == []
    finally:
        daemon.stop()
        for namespace in (prefix, f"dockyard-{prefix}"):
            kube.delete(kube.resource_type("v1", "Namespace"), None, namespace)
        kube.delete(kube.resource_type("storage.k8s.io/v1", "StorageClass"), None, f"rbd-{prefix}")
