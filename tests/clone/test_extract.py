"""``extract`` on objects as the API server returns them: what it writes, and what it reports."""

from __future__ import annotations

from typing import Any

from daemon.policy.extract import extract


def _deployment(name: str, **pod: Any) -> dict[str, Any]:
    containers = pod.pop("containers", [{"name": name, "image": "busybox:1.36", "ports": [{"containerPort": 8080}]}])
    return {
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers, **pod}},
        },
    }


def _service(name: str, port: int, target: Any, **spec: Any) -> dict[str, Any]:
    ports = [{"port": port, "targetPort": target}]
    return {"kind": "Service", "metadata": {"name": name}, "spec": {"selector": {"app": name}, "ports": ports, **spec}}


def test_an_app_with_a_service_on_its_port() -> None:
    out = extract([_deployment("api"), _service("api", 8080, 8080)])
    assert out.documents["apps/api.yaml"]["spec"] == {
        "image": "busybox:1.36",
        "replicas": 1,
        "ports": [{"name": "http", "port": 8080}],
    }
    assert out.unsupported == []


def test_what_cannot_be_expressed_is_reported_and_left_out() -> None:
    sidecar = [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]
    objects = [
        _deployment("two", containers=sidecar),
        _deployment("api", initContainers=[{"name": "init", "image": "x:1"}], tolerations=[{"key": "k"}]),
        _service("api", 80, 8080, type="LoadBalancer"),
        {"kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}},
    ]
    out = extract(objects)
    assert "apps/two.yaml" not in out.documents
    assert out.unsupported == [
        "Deployment api: spec.template.spec.initContainers cannot be expressed",
        "Deployment api: spec.template.spec.tolerations cannot be expressed",
        "Service api: type LoadBalancer cannot be expressed (Services are ClusterIP)",
        "Service api: port 80 -> 8080: a Dockyard Service listens on the container's port number (8080)",
        "Deployment two: 2 containers; an App has exactly one, so it is left out",
    ]


def test_claim_templates_become_one_volume() -> None:
    workload = _deployment("db")
    workload["kind"] = "StatefulSet"
    container = workload["spec"]["template"]["spec"]["containers"][0]
    container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    template = {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "2Gi"}}}}
    workload["spec"]["volumeClaimTemplates"] = [template]
    out = extract([workload])
    assert out.documents["apps/db.yaml"]["spec"]["volumes"] == [{"volume": "data-db", "mountPath": "/data"}]
    assert out.documents["volumes/data-db.yaml"]["spec"] == {"size": "2Gi", "accessMode": "ReadWriteOnce"}
    assert out.unsupported[0].startswith("StatefulSet db: volumeClaimTemplate data: made the Volume data-db")


def test_one_app_only() -> None:
    out = extract([_deployment("a"), _deployment("b")], app="b")
    assert list(out.documents) == ["apps/b.yaml"]
    assert extract([_deployment("a")], app="zz").unsupported == ["no Deployment or StatefulSet zz in the namespace"]
