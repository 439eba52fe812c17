"""Render: every object is valid Kubernetes and says what it is, who owns it and where it came from."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import kubernetes_validate
import pytest

from daemon.model.kinds import NetworkRule, PlatformModel, Policy, TenantNetwork
from daemon.model.refs import Metadata, SourceRef
from daemon.render import objref, render
from daemon.render.app import canary_split
from daemon.render.core import stage_of
from daemon.render.provenance import sources
from tests.render.factory import sample_model, src

K8S_VERSION = "1.34"
CRD_KINDS = {"VolumeSnapshotClass"}


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return render(sample_model(), "0123456789abcdef")


def written_in(model: PlatformModel, objects: list[dict[str, Any]], folder: str) -> list[dict[str, Any]]:
    """The objects rendered from documents under ``folder`` (file and line come from the model)."""
    files = {ref: source.file for ref, source in sources(model, objects).items()}
    return [o for o in objects if files.get(objref(o), "").startswith(folder)]


def by(objects: list[dict[str, Any]], kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == kind and meta["name"] == name and (namespace is None or meta.get("namespace") == namespace):
            return obj
    raise AssertionError(f"no {kind} {namespace}/{name} among {[str(objref(o)) for o in objects]}")


def test_every_object_is_valid_against_the_official_kubernetes_schemas(objects: list[dict[str, Any]]) -> None:
    checked = 0
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        checked += 1
    assert checked >= 25


def test_every_object_carries_ownership_and_provenance(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        meta = obj["metadata"]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "dockyard", objref(obj)
        assert meta["annotations"]["dockyard.dev/revision"] == "0123456789abcdef"
        # The document's identity only: nothing that a comment or a file move changes.
        assert re.fullmatch(r"[A-Z][A-Za-z]+/[a-z0-9-]+", meta["annotations"]["dockyard.dev/source"]), objref(obj)
    web = by(objects, "Deployment", "web", "shop")
    assert web["metadata"]["labels"]["dockyard.dev/tenant"] == "shop"
    assert web["metadata"]["labels"]["dockyard.dev/app"] == "web"
    assert web["metadata"]["annotations"]["dockyard.dev/source"] == "App/web"


def test_the_plan_finds_each_object_s_file_and_line_from_the_model(objects: list[dict[str, Any]]) -> None:
    found = sources(sample_model(), objects)
    assert found[objref(by(objects, "Deployment", "web", "shop"))] == SourceRef("tenants/shop/web.yaml", 3, "App/web")
    assert found[objref(by(objects, "Namespace", "shop"))].file == "tenants/shop/tenant.yaml"
    assert found[objref(by(objects, "PersistentVolumeClaim", "orders-data", "shop"))].document == "Volume/orders-data"
    assert found[objref(by(objects, "StorageClass", "ceph-rbd"))].file == "platform.yaml"


def test_objects_are_in_apply_order(objects: list[dict[str, Any]]) -> None:
    stages = [stage_of(o["kind"]) for o in objects]
    assert stages == sorted(stages)
    assert objects[0]["kind"] in {"Namespace", "StorageClass"}


def test_render_is_deterministic() -> None:
    assert render(sample_model(), "r") == render(sample_model(), "r")


def test_tenant_namespace_quota_limits_and_roles(objects: list[dict[str, Any]]) -> None:
    ns = by(objects, "Namespace", "shop")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns["metadata"]["labels"]["cost-center"] == "cc-42"
    assert ns["metadata"]["annotations"]["dockyard.dev/deletion-policy"] == "Retain"
    quota = by(objects, "ResourceQuota", "tenant-quota", "shop")
    assert quota["spec"]["hard"] == {
        "requests.cpu": "20",
        "requests.memory": "64Gi",
        "requests.storage": "500Gi",
        "pods": "200",
    }
    limits = by(objects, "LimitRange", "tenant-limits", "shop")["spec"]["limits"][0]
    assert limits["defaultRequest"] == {"cpu": "500m", "memory": "512Mi"}
    admins = by(objects, "RoleBinding", "dockyard-tenant-admins", "shop")
    assert admins["roleRef"]["name"] == "admin"
    assert admins["subjects"] == [
        {"kind": "User", "name": "alice@example.com", "apiGroup": "rbac.authorization.k8s.io"}
    ]
    editors = by(objects, "RoleBinding", "dockyard-tenant-editors", "shop")
    assert editors["subjects"][0]["kind"] == "Group"


def test_strict_isolation_denies_by_default_and_allows_the_tenant_and_dns(objects: list[dict[str, Any]]) -> None:
    deny = by(objects, "NetworkPolicy", "default-deny", "shop")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    same = by(objects, "NetworkPolicy", "allow-same-tenant", "shop")
    # Apps that are the target of a rule accept only what their rules allow.
    assert same["spec"]["podSelector"]["matchExpressions"][0]["values"] == ["api", "postgres"]
    egress = by(objects, "NetworkPolicy", "allow-egress-same-tenant-and-dns", "shop")
    assert {"protocol": "UDP", "port": 53} in egress["spec"]["egress"][1]["ports"]
    controller = by(objects, "NetworkPolicy", "allow-ingress-controller", "shop")
    assert controller["spec"]["podSelector"]["matchExpressions"][0]["values"] == ["web"]


def test_open_tenant_gets_no_deny(objects: list[dict[str, Any]]) -> None:
    names = {
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == "analytics"
    }
    assert "default-deny" not in names


def test_allow_from_renders_only_the_ingress_half_in_the_tenants_own_namespace(objects: list[dict[str, Any]]) -> None:
    ingress = by(objects, "NetworkPolicy", "allow-from-tenant-monitoring", "shop")
    assert ingress["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    # The egress half is monitoring's to declare (allowTo); shop's tenant.yaml writes nothing there.
    assert not [
        o
        for o in written_in(sample_model(), objects, "tenants/shop/")
        if o["metadata"].get("namespace") == "monitoring" and o["kind"] == "NetworkPolicy"
    ]


def test_allow_to_renders_the_egress_half_in_the_tenants_own_namespace() -> None:
    model = sample_model()
    monitoring = replace(model.tenants[1], network=TenantNetwork("strict", allow_to=("shop",)))
    model = replace(model, tenants=(model.tenants[0], monitoring, model.tenants[2]))
    objects = render(model, "abc")
    egress = by(objects, "NetworkPolicy", "allow-egress-to-tenant-shop", "monitoring")
    assert egress["spec"]["policyTypes"] == ["Egress"]
    assert egress["spec"]["egress"] == [
        {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}}]}
    ]
    assert egress["metadata"]["annotations"]["dockyard.dev/source"] == "Tenant/monitoring"
    assert sources(model, [egress])[objref(egress)].file == "tenants/monitoring/tenant.yaml"


def test_policy_rules_inside_and_across_tenants(objects: list[dict[str, Any]]) -> None:
    inside = by(objects, "NetworkPolicy", "allow-shop-net-0", "shop")
    assert inside["spec"]["podSelector"] == {"matchLabels": {"dockyard.dev/app": "api"}}
    assert inside["spec"]["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"dockyard.dev/app": "web"}}}]
    assert inside["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9090}]
    across = by(objects, "NetworkPolicy", "allow-shop-net-1", "shop")
    assert across["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    # Only the shop's half: nothing in the source tenants' namespaces comes from the shop's Policy.
    assert not [
        o
        for o in written_in(sample_model(), objects, "tenants/shop/")
        if o["kind"] != "Namespace" and o["metadata"].get("namespace") != "shop"
    ]


def test_a_rule_to_another_tenant_is_the_egress_half_in_the_own_namespace() -> None:
    model = sample_model()
    policy = Policy(
        metadata=Metadata("out"),
        source=src("tenants/shop/out.yaml", "Policy/out"),
        tenant="shop",
        network=(NetworkRule(to_app="etl", from_tenant="shop", from_app="api", ports=(8080,), to_tenant="analytics"),),
    )
    objects = render(replace(model, policies=(*model.policies, policy)), "abc")
    egress = by(objects, "NetworkPolicy", "allow-out-0", "shop")
    assert egress["spec"]["podSelector"] == {"matchLabels": {"dockyard.dev/app": "api"}}
    assert egress["spec"]["egress"] == [
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "analytics"}},
                    "podSelector": {"matchLabels": {"dockyard.dev/app": "etl"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
    ]
    # etl is another tenant's app: a rule out to it restricts nothing in the shop.
    same = by(objects, "NetworkPolicy", "allow-same-tenant", "shop")
    assert "etl" not in str(same["spec"]["podSelector"])


def test_hpa_owns_replicas_and_canary_splits_by_weight(objects: list[dict[str, Any]]) -> None:
    web = by(objects, "Deployment", "web", "shop")
    assert "replicas" not in web["spec"]
    canary = by(objects, "Deployment", "web-canary", "shop")
    assert canary["spec"]["replicas"] == 1
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27.1"
    assert canary["spec"]["selector"]["matchLabels"] == {"dockyard.dev/app": "web", "dockyard.dev/track": "canary"}
    service = by(objects, "Service", "web", "shop")
    assert service["spec"]["selector"] == {"dockyard.dev/app": "web"}  # both tracks behind one Service
    hpa = by(objects, "HorizontalPodAutoscaler", "web", "shop")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    api = by(objects, "Deployment", "api", "shop")
    assert api["spec"]["replicas"] == 2


@pytest.mark.parametrize(
    ("replicas", "weight", "expected"),
    [(4, 25, (3, 1)), (10, 10, (9, 1)), (10, 50, (5, 5)), (1, 10, (1, 1)), (3, 0, (3, 0)), (3, 100, (0, 3))],
)
def test_canary_split(replicas: int, weight: int, expected: tuple[int, int]) -> None:
    assert canary_split(replicas, weight) == expected


def test_restricted_tenant_pods_are_restricted_compliant(objects: list[dict[str, Any]]) -> None:
    container = by(objects, "Deployment", "api", "shop")["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_ingress_with_tls_pdb_and_probes(objects: list[dict[str, Any]]) -> None:
    ingress = by(objects, "Ingress", "web", "shop")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["shop.example.com"], "secretName": "web-tls"}]
    assert ingress["spec"]["rules"][0]["host"] == "shop.example.com"
    pdb = by(objects, "PodDisruptionBudget", "web", "shop")
    assert pdb["spec"]["maxUnavailable"] == 1
    container = by(objects, "Deployment", "web", "shop")["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"] == {"httpGet": {"path": "/healthz", "port": "http"}}
    assert container["livenessProbe"] == {"tcpSocket": {"port": "http"}}
    assert container["env"][1] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
    }


def test_stateful_app_volume_and_storage_classes(objects: list[dict[str, Any]]) -> None:
    sts = by(objects, "StatefulSet", "postgres", "shop")
    assert sts["spec"]["serviceName"] == "postgres-headless"
    assert sts["spec"]["template"]["spec"]["volumes"] == [
        {"name": "orders-data", "persistentVolumeClaim": {"claimName": "orders-data"}}
    ]
    assert by(objects, "Service", "postgres-headless", "shop")["spec"]["clusterIP"] == "None"
    pvc = by(objects, "PersistentVolumeClaim", "orders-data", "shop")
    assert pvc["spec"]["storageClassName"] == "ceph-rbd"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert pvc["metadata"]["annotations"]["dockyard.dev/deletion-policy"] == "Retain"
    rbd = by(objects, "StorageClass", "ceph-rbd")
    assert rbd["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    snap = by(objects, "VolumeSnapshotClass", "csi-rbdplugin-snapclass")
    assert snap["driver"] == "rook-ceph.rbd.csi.ceph.com"


def test_a_request_above_the_tenant_default_limit_gets_a_matching_limit() -> None:
    """Otherwise the LimitRange's default limit lands below the request and every pod is refused."""
    import dataclasses

    from daemon.model.kinds import Resources

    model = sample_model()
    api = next(a for a in model.apps if a.name == "api")
    bigger = dataclasses.replace(api, resources=Resources(cpu="750m", memory="128Mi"))
    model = dataclasses.replace(model, apps=tuple(bigger if a is api else a for a in model.apps))
    container = by(render(model, "r"), "Deployment", "api", "shop")["spec"]["template"]["spec"]["containers"][0]
    # cpu 750m > the tenant's 500m default limit: capped at the request; memory 128Mi fits the default.
    assert container["resources"] == {"requests": {"cpu": "750m", "memory": "128Mi"}, "limits": {"cpu": "750m"}}


def test_scheduled_scaling_raises_the_hpa_bounds_while_its_window_is_open() -> None:
    from daemon.model.kinds import ScaleSchedule

    model = sample_model()
    (hpa_model,) = model.autoscalings
    busy = ScaleSchedule("0 8 * * mon-fri", 10 * 3600, min_replicas=8, max_replicas=None)
    objects = render(model, "r", {(hpa_model.tenant, hpa_model.name): busy})
    hpa = by(objects, "HorizontalPodAutoscaler", "web", "shop")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (8, 12)
    quiet = by(render(model, "r"), "HorizontalPodAutoscaler", "web", "shop")
    assert (quiet["spec"]["minReplicas"], quiet["spec"]["maxReplicas"]) == (4, 12)
    huge = ScaleSchedule("0 8 * * *", 3600, min_replicas=20)
    capped = by(render(model, "r", {("shop", "web"): huge}), "HorizontalPodAutoscaler", "web", "shop")
    assert (capped["spec"]["minReplicas"], capped["spec"]["maxReplicas"]) == (20, 20)
