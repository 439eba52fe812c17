"""Diff (pure): only real changes show; defaults, status, quantities and other managers never do."""

from __future__ import annotations

import copy
from typing import Any

from daemon.policy.diff import MASK, diff_object, mask_secret

DESIRED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "labels": {"app.kubernetes.io/managed-by": "dockyard"},
        "annotations": {"dockyard.dev/revision": "new", "dockyard.dev/source": "web.yaml:3"},
    },
    "spec": {
        "selector": {"matchLabels": {"dockyard.dev/app": "web"}},
        "template": {
            "metadata": {"labels": {"dockyard.dev/app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.27",
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                        "resources": {"requests": {"cpu": "0.5", "memory": "256Mi"}},
                    }
                ]
            },
        },
    },
}

OWNED_BY_US = {
    "manager": "dockyard",
    "operation": "Apply",
    "fieldsV1": {
        "f:metadata": {
            "f:labels": {"f:app.kubernetes.io/managed-by": {}},
            "f:annotations": {"f:dockyard.dev/revision": {}, "f:dockyard.dev/source": {}},
        },
        "f:spec": {
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:dockyard.dev/app": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"web"}': {
                            ".": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {'k:{"containerPort":8080,"protocol":"TCP"}': {".": {}, "f:name": {}}},
                            "f:resources": {"f:requests": {"f:cpu": {}, "f:memory": {}}},
                        }
                    }
                },
            },
        },
    },
}


def live_of(desired: dict[str, Any]) -> dict[str, Any]:
    """What the API server returns: defaults filled in, status, canonical quantities, old revision."""
    live = copy.deepcopy(desired)
    live["metadata"]["annotations"]["dockyard.dev/revision"] = "old"
    live["metadata"]["managedFields"] = [copy.deepcopy(OWNED_BY_US)]
    live["metadata"]["resourceVersion"] = "123"
    live["spec"]["replicas"] = 3  # owned by the HPA
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    container = live["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["requests"]["cpu"] = "500m"
    container["terminationMessagePath"] = "/dev/termination-log"
    container["imagePullPolicy"] = "IfNotPresent"
    live["status"] = {"replicas": 3}
    return live


def test_defaults_status_quantities_and_revision_are_not_drift() -> None:
    assert diff_object(DESIRED, live_of(DESIRED), "dockyard") == ()


def test_a_changed_image_is_the_only_change() -> None:
    live = live_of(DESIRED)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    changes = diff_object(DESIRED, live, "dockyard")
    assert [(c.path, c.before, c.after) for c in changes] == [
        ("spec.template.spec.containers[name=web].image", "nginx:1.26", "nginx:1.27")
    ]
    assert changes[0].describe() == "spec.template.spec.containers[name=web].image: nginx:1.26 → nginx:1.27"


def test_a_different_quantity_value_is_drift() -> None:
    live = live_of(DESIRED)
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] = "128Mi"
    (change,) = diff_object(DESIRED, live, "dockyard")
    assert change.path.endswith("resources.requests.memory")


def test_a_field_we_own_but_no_longer_set_is_a_removal() -> None:
    desired = copy.deepcopy(DESIRED)
    del desired["spec"]["template"]["spec"]["containers"][0]["resources"]
    changes = diff_object(desired, live_of(DESIRED), "dockyard")
    assert [c.path for c in changes] == ["spec.template.spec.containers[name=web].resources"]
    assert changes[0].after is None


def test_a_removed_list_item_we_own_is_detected_by_its_key() -> None:
    desired = copy.deepcopy(DESIRED)
    desired["spec"]["template"]["spec"]["containers"][0]["ports"] = []
    changes = diff_object(desired, live_of(DESIRED), "dockyard")
    assert any("containerPort=8080" in c.path for c in changes)


def test_fields_owned_by_other_managers_are_ignored() -> None:
    live = live_of(DESIRED)
    live["metadata"]["labels"]["team"] = "kubectl-added"
    live["metadata"]["managedFields"].append(
        {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}}
    )
    assert diff_object(DESIRED, live, "dockyard") == ()


def test_an_added_label_and_a_changed_list_length_are_changes() -> None:
    desired = copy.deepcopy(DESIRED)
    desired["metadata"]["labels"]["tier"] = "frontend"
    desired["spec"]["template"]["spec"]["containers"][0]["args"] = ["-g", "daemon off;"]
    changes = {c.path for c in diff_object(desired, live_of(DESIRED), "dockyard")}
    assert changes == {"metadata.labels.tier", "spec.template.spec.containers[name=web].args"}


def test_secret_values_are_masked_in_diffs_and_output() -> None:
    desired = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "bmV3"}}
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "b2xk"}}
    (change,) = diff_object(desired, live, "dockyard")
    assert (change.before, change.after) == (MASK, MASK)
    assert "bmV3" not in change.describe() and "b2xk" not in change.describe()
    assert mask_secret(desired)["data"] == {"password": MASK}


def test_list_items_that_share_a_port_are_told_apart_by_protocol() -> None:
    ports = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    desired = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"ports": ports}}
    live = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"ports": list(ports)}}
    assert diff_object(desired, live, "dockyard") == ()
    live["spec"]["ports"] = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 54}]
    assert diff_object(desired, live, "dockyard") != ()
