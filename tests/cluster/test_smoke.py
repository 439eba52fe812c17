"""Proof that the local cluster behaves like a real one where Dockyard depends on it."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from devcluster import RunningCluster
from tests.fixtures_cluster import wait_for

pytestmark = pytest.mark.cluster

APPLY = "application/apply-patch+yaml"


def _labels(app: str) -> dict[str, str]:
    return {"app": app}


def _pod_template(app: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": _labels(app)},
        "spec": {"containers": [{"name": "main", "image": "registry.example/app:1"}]},
    }


def test_deployment_pods_run_and_become_ready_on_kwok_nodes(api_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    core = client.CoreV1Api(api_client)
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {"replicas": 3, "selector": {"matchLabels": _labels("web")}, "template": _pod_template("web")},
        },
    )

    wait_for(
        lambda: apps.read_namespaced_deployment_status("web", namespace).status,
        timeout=60,
        message="Deployment web to have 3 available replicas",
        until=lambda status: status.available_replicas == 3,
    )
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    kwok_nodes = {node.metadata.name for node in core.list_node(label_selector="type=kwok").items}
    assert len(pods) == 3
    for pod in pods:
        ready = {c.type: c.status for c in pod.status.conditions}
        assert pod.status.phase == "Running", pod.metadata.name
        assert ready.get("Ready") == "True", pod.metadata.name
        assert pod.spec.node_name in kwok_nodes


def test_server_side_apply_conflict_names_the_owner_and_force_takes_over(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)

    def apply(value: str, manager: str, force: bool | None = None) -> client.V1ConfigMap:
        manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace},
            "data": {"mode": value},
        }
        return core.patch_namespaced_config_map(
            "settings", namespace, manifest, field_manager=manager, force=force, _content_type=APPLY
        )

    apply("a", "manager-a")

    with pytest.raises(client.ApiException) as conflict:
        apply("b", "manager-b")
    assert conflict.value.status == 409
    assert "manager-a" in conflict.value.body
    assert core.read_namespaced_config_map("settings", namespace).data == {"mode": "a"}

    taken = apply("b", "manager-b", force=True)
    assert taken.data == {"mode": "b"}
    owners = {entry.manager for entry in taken.metadata.managed_fields if entry.operation == "Apply"}
    assert owners == {"manager-b"}


def test_statefulset_volume_claim_template_creates_the_claim(api_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    core = client.CoreV1Api(api_client)
    apps.create_namespaced_stateful_set(
        namespace,
        {
            "metadata": {"name": "db"},
            "spec": {
                "serviceName": "db",
                "replicas": 1,
                "selector": {"matchLabels": _labels("db")},
                "template": _pod_template("db"),
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                    }
                ],
            },
        },
    )

    claim = wait_for(
        lambda: core.read_namespaced_persistent_volume_claim("data-db-0", namespace),
        timeout=60,
        message="PersistentVolumeClaim data-db-0 created by the StatefulSet controller",
    )
    assert claim.spec.resources.requests == {"storage": "1Gi"}


def test_volume_snapshot_is_accepted(api_client: client.ApiClient, namespace: str) -> None:
    custom = client.CustomObjectsApi(api_client)
    snapshot = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {"name": "data-backup"},
        "spec": {"volumeSnapshotClassName": "csi-snapclass", "source": {"persistentVolumeClaimName": "data"}},
    }

    custom.create_namespaced_custom_object("snapshot.storage.k8s.io", "v1", namespace, "volumesnapshots", snapshot)

    stored = custom.get_namespaced_custom_object(
        "snapshot.storage.k8s.io", "v1", namespace, "volumesnapshots", "data-backup"
    )
    assert stored["spec"]["source"] == {"persistentVolumeClaimName": "data"}


def test_volume_snapshot_schema_is_enforced(api_client: client.ApiClient, namespace: str) -> None:
    custom = client.CustomObjectsApi(api_client)
    invalid = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {"name": "no-source"},
        "spec": {"volumeSnapshotClassName": "csi-snapclass"},
    }

    with pytest.raises(client.ApiException) as rejected:
        custom.create_namespaced_custom_object("snapshot.storage.k8s.io", "v1", namespace, "volumesnapshots", invalid)
    assert rejected.value.status == 422


def test_rbac_denies_a_service_account_without_rights(
    cluster: RunningCluster, api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    token = core.create_namespaced_service_account_token(
        "nobody", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token

    configuration = client.Configuration(
        host=cluster.server,
        api_key={"BearerToken": token},
        api_key_prefix={"BearerToken": "Bearer"},
        ssl_ca_cert=str(cluster.ca_file),
    )
    with client.ApiClient(configuration) as as_nobody:
        nobody = client.CoreV1Api(as_nobody)
        # The token authenticates (not 401) but grants nothing (403).
        for forbidden in (nobody.list_namespaced_pod, nobody.list_namespaced_secret):
            with pytest.raises(client.ApiException) as denied:
                forbidden(namespace)
            assert denied.value.status == 403
            assert f"system:serviceaccount:{namespace}:nobody" in denied.value.body


def test_api_server_restart_keeps_port_and_data(
    cluster: RunningCluster, api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "survivor"}, "data": {"k": "v"}})
    server = cluster.server

    cluster.restart_apiserver()

    assert cluster.server == server
    assert cluster.is_running("kube-apiserver")
    # The client's pooled connections died with the old process; the next call must reconnect.
    survivor = wait_for(
        lambda: core.read_namespaced_config_map("survivor", namespace),
        timeout=30,
        message="ConfigMap survivor readable after the API server restart",
    )
    assert survivor.data == {"k": "v"}
