"""The log agent on the session's cluster: spec.logging applied like any change, and its
DaemonSet runs one ready agent on every (kwok) node, admitted at Pod Security privileged."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import yaml

from daemon.edges.kube import KubeClient
from daemon.engine.apply import ResourceManager
from daemon.loader import load_or_raise
from daemon.policy.fluentbit import check_config
from daemon.render import render
from daemon.state.inventory import InventoryStore
from devcluster import RunningCluster
from tests.fixtures_cluster import wait_for
from tests.platforms import PlatformRepo

pytestmark = pytest.mark.cluster


def test_the_agent_runs_on_every_node_with_a_config_that_passes_the_check(
    kubeconfig: Path, cluster: RunningCluster, tmp_path: Path
) -> None:
    prefix = f"lg-{secrets.token_hex(3)}"
    namespace = f"logs-{prefix}"
    repo = PlatformRepo(tmp_path / "platform", prefix, apps=1)
    repo.volumes = {}
    del repo.apps["app0"]["spec"]["volumes"]
    repo.platform["spec"]["logging"] = {
        "namespace": namespace,
        "output": {"forward": {"host": "aggregator.example.com", "secretRef": {"name": "forward-key"}}},
        "tenants": [{"tenant": prefix, "output": {"http": {"url": "https://logs.example.com/in"}}}],
    }
    repo.write()
    model = load_or_raise(repo.root)
    kube = KubeClient(str(kubeconfig))
    manager = ResourceManager(
        kube, inventory=InventoryStore(kube, namespace="dockyard-tests", name=f"inventory-{prefix}")
    )
    try:
        plan = manager.plan(render(model, "r1"), max_fraction=0.5)
        result = manager.apply(plan, revision="r1", timeout=120)
        assert result.ok, (result.failed, result.unhealthy)
        [health] = [h for h in result.health if h.ref.kind == "DaemonSet"]
        assert (health.state, health.message) == ("healthy", f"{cluster.state.nodes}/{cluster.state.nodes} nodes")

        pods = wait_for(
            lambda: kube.list_objects(kube.resource_type("v1", "Pod"), namespace=namespace),
            timeout=60,
            message="an agent on every node",
            until=lambda items: len(items) == cluster.state.nodes,
        )
        assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(cluster.nodes())
        for pod in pods:
            conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
            assert pod["status"]["phase"] == "Running" and conditions["Ready"] == "True"
        config_map = kube.get(kube.resource_type("v1", "ConfigMap"), namespace, "dockyard-log-agent")
        assert config_map is not None
        env = {e["name"] for e in pods[0]["spec"]["containers"][0]["env"]}
        assert check_config(yaml.safe_load(config_map["data"]["fluent-bit.yaml"]), env) == []
    finally:
        for name in (namespace, prefix):
            kube.delete(kube.resource_type("v1", "Namespace"), None, name)
        for kind in ("ClusterRole", "ClusterRoleBinding"):
            kube.delete(kube.resource_type("rbac.authorization.k8s.io/v1", kind), None, "dockyard-log-agent")
        kube.delete(kube.resource_type("storage.k8s.io/v1", "StorageClass"), None, f"rbd-{prefix}")
        kube.close()
