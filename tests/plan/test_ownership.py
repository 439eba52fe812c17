"""Taking back hand edits (pure): whose fields are taken, what stays with controllers."""

from __future__ import annotations

from typing import Any

from daemon.policy.diff import removed_fields
from daemon.policy.ownership import (
    DEFAULT_IMPERATIVE_MANAGERS,
    difference,
    imperative_fields,
    is_imperative,
    taken_over,
    union,
)

ENV_DRIFT: dict[str, Any] = {
    "f:spec": {
        "f:template": {
            "f:spec": {
                "f:containers": {
                    'k:{"name":"web"}': {"f:env": {'k:{"name":"DRIFT"}': {".": {}, "f:name": {}, "f:value": {}}}}
                }
            }
        }
    }
}
OURS: dict[str, Any] = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:template": {"f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}}}
    },
}
REPLICAS: dict[str, Any] = {"f:spec": {"f:replicas": {}}}


def entry(manager: str, fields: dict[str, Any], operation: str = "Update", subresource: str = "") -> dict[str, Any]:
    found = {"manager": manager, "operation": operation, "apiVersion": "apps/v1", "fieldsType": "FieldsV1"}
    found["fieldsV1"] = fields
    if subresource:
        found["subresource"] = subresource
    return found


def deployment(replicas: int | None, *managed: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "template": {
            "spec": {"containers": [{"name": "web", "image": "web:1", "env": [{"name": "DRIFT", "value": "1"}]}]}
        }
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "managedFields": list(managed)},
        "spec": spec,
    }


def desired(replicas: int | None) -> dict[str, Any]:
    obj = deployment(replicas)
    obj["spec"]["template"]["spec"]["containers"][0].pop("env")
    del obj["metadata"]["managedFields"]
    return obj


def test_kubectl_s_managers_are_imperative_and_controllers_are_not() -> None:
    managers = DEFAULT_IMPERATIVE_MANAGERS
    assert is_imperative(entry("kubectl-set", {}), managers)
    assert is_imperative(entry("kubectl", {}, subresource="scale"), managers)  # kubectl scale
    assert is_imperative(entry("kubectl", {}, operation="Apply"), managers)  # apply --server-side by hand
    assert not is_imperative(entry("kubectl-edit", {}, subresource="status"), managers)
    assert not is_imperative(entry("kube-controller-manager", {}, subresource="scale"), managers)  # an HPA
    assert not is_imperative(entry("kubectl-rollout", {}), managers)  # undoing it would restart the pods
    assert is_imperative(entry("helm-upgrade", {}), ("helm-*",))


def test_union_and_difference_are_inverse_on_disjoint_fields() -> None:
    merged = union(OURS, ENV_DRIFT)
    assert merged["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}'].keys() == {
        ".",
        "f:image",
        "f:name",
        "f:env",
    }
    assert difference(merged, ENV_DRIFT) == OURS
    assert difference(REPLICAS, REPLICAS) == {}


def test_an_env_var_set_by_hand_is_removed_by_taking_it_back() -> None:
    live = deployment(2, entry("dockyard", OURS, "Apply"), entry("kubectl-set", ENV_DRIFT))
    taken = imperative_fields(live, desired(2), DEFAULT_IMPERATIVE_MANAGERS)
    assert taken == ENV_DRIFT
    (change,) = removed_fields(desired(2), live, taken)
    assert change.describe() == 'spec.template.spec.containers[name=web].env: - [{"name": "DRIFT", "value": "1"}]'
    entries = taken_over(live["metadata"]["managedFields"], desired(2), "dockyard", ("kubectl-set",))
    assert entries is not None
    assert [e["manager"] for e in entries] == ["dockyard"]  # kubectl-set had nothing else
    assert entries[0]["fieldsV1"] == union(OURS, ENV_DRIFT)


def test_replicas_scaled_by_hand_are_taken_only_when_dockyard_sets_replicas() -> None:
    scaled = entry("kubectl", REPLICAS, subresource="scale")
    live = deployment(5, entry("dockyard", OURS, "Apply"), scaled)
    # No HPA: the desired object sets replicas, so `kubectl scale` is drift.
    assert imperative_fields(live, desired(2), DEFAULT_IMPERATIVE_MANAGERS) == REPLICAS
    # An HPA scales it: replicas are not rendered and stay with whoever set them.
    assert imperative_fields(live, desired(None), DEFAULT_IMPERATIVE_MANAGERS) == {}
    assert taken_over(live["metadata"]["managedFields"], desired(None), "dockyard", ("kubectl",)) is None


def test_taking_back_keeps_what_an_edit_set_on_delegated_fields() -> None:
    edit = entry("kubectl-edit", union(REPLICAS, ENV_DRIFT))
    live = deployment(5, entry("dockyard", OURS, "Apply"), edit, entry("kube-controller-manager", {"f:status": {}}))
    entries = taken_over(live["metadata"]["managedFields"], desired(None), "dockyard", ("kubectl-edit",))
    assert entries is not None
    by_manager = {e["manager"]: e["fieldsV1"] for e in entries}
    assert by_manager["kubectl-edit"] == REPLICAS
    assert by_manager["kube-controller-manager"] == {"f:status": {}}
    assert by_manager["dockyard"] == union(OURS, ENV_DRIFT)


def test_an_object_dockyard_never_applied_gets_an_apply_entry() -> None:
    live = deployment(2, entry("kubectl-client-side-apply", ENV_DRIFT))
    entries = taken_over(live["metadata"]["managedFields"], desired(2), "dockyard", DEFAULT_IMPERATIVE_MANAGERS)
    assert entries == [
        {
            "manager": "dockyard",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": ENV_DRIFT,
        }
    ]
