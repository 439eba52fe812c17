"""App fields beyond a simple web app, rendered: valid Kubernetes that keeps what the App says."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from daemon.model.kinds import PlatformModel
from daemon.render import render
from tests.loader.helpers import BASE, errors, load, text
from tests.render.test_render import K8S_VERSION, by

HEAD = "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata:\n  name: {name}\n"

SHOPFRONT = HEAD.format(name="shopfront") + text(
    """
    spec:
      image: example/shopfront:1.0
      workingDir: /app
      ports:
        - {name: http, port: 8080, servicePort: 80}
        - {name: grpc, port: 9555}
      env:
        - {name: POD_IP, field: status.podIP}
      probes:
        readiness: {http: /_healthz, port: http, scheme: HTTP, headers: {Cookie: "id=probe"}, timeoutSeconds: 2}
        liveness: {grpc: grpc, grpcService: shop.Front, periodSeconds: 5}
        startup: {tcp: 8080, failureThreshold: 30}
      volumes:
        - {scratch: tmp, mountPath: /tmp, sizeLimit: 64Mi}
        - {scratch: shm, mountPath: /dev/shm, medium: Memory}
      files:
        - {path: /etc/shop/config.yaml, content: "a: 1\\n"}
        - {path: /etc/shop/nginx.conf, configMap: {name: nginx, key: default.conf}}
        - {path: /etc/tls, secret: {name: shop-tls}, mode: 0400}
      initContainers:
        - name: migrate
          image: example/migrate:1.0
          command: [migrate, up]
          volumes: [{scratch: tmp, mountPath: /work}]
      sidecars:
        - name: exporter
          image: example/exporter:1.0
          ports: [{name: metrics, port: 9100}]
          probes: {readiness: {http: /metrics, port: metrics}}
          securityContext: {runAsUser: 65534}
      securityContext: {runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, readOnlyRootFilesystem: true}
      serviceAccount: shopfront
      imagePullSecrets: [registry]
      nodeSelector: {kubernetes.io/os: linux}
      tolerations: [{key: dedicated, value: shop, effect: NoSchedule, seconds: 60}]
      spread: required
      terminationGracePeriodSeconds: 5
      preStop: {sleep: 5}
      expose: {type: LoadBalancer, service: shopfront-external, sourceRanges: [203.0.113.0/24]}
    """
)

ROOT = HEAD.format(name="legacy") + text(
    """
    spec:
      image: nginx:1.27
      serviceAccount: shopfront
      ports: [{name: http, port: 80, nodePort: 30080}]
      expose: {type: NodePort}
      spread: none
      preStop: {command: [nginx, -s, quit]}
    """
)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> PlatformModel:
    platform = text(BASE["platform.yaml"]) + "  tenancy:\n    allowedServiceTypes: [LoadBalancer, NodePort]\n"
    result = load(
        tmp_path_factory.mktemp("repo"),
        {"platform.yaml": platform, "tenants/shop/shopfront.yaml": SHOPFRONT, "tenants/shop/legacy.yaml": ROOT},
    )
    assert errors(result) == []
    assert result.model is not None
    return result.model


@pytest.fixture(scope="module")
def objects(model: PlatformModel) -> list[dict[str, Any]]:
    return render(model, "r1")


def pod(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    spec: dict[str, Any] = by(objects, "Deployment", name, "shop")["spec"]["template"]["spec"]
    return spec


def test_every_rendered_object_is_valid_kubernetes(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["kind"] != "VolumeSnapshotClass":
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_service_port_differs_from_the_container_port(objects: list[dict[str, Any]]) -> None:
    service = by(objects, "Service", "shopfront", "shop")
    assert service["spec"].get("type") is None  # the exposure is a Service of its own
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
        {"name": "grpc", "port": 9555, "targetPort": "grpc", "protocol": "TCP"},
        {"name": "metrics", "port": 9100, "targetPort": "metrics", "protocol": "TCP"},  # the sidecar's
    ]
    main = pod(objects, "shopfront")["containers"][0]
    assert [p["containerPort"] for p in main["ports"]] == [8080, 9555]


def test_exposure_as_its_own_service_or_the_apps(objects: list[dict[str, Any]]) -> None:
    external = by(objects, "Service", "shopfront-external", "shop")
    assert external["spec"]["type"] == "LoadBalancer"
    assert external["spec"]["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
    assert external["spec"]["selector"] == {"dockyard.dev/app": "shopfront"}
    legacy = by(objects, "Service", "legacy", "shop")
    assert legacy["spec"]["type"] == "NodePort"
    assert legacy["spec"]["ports"][0]["nodePort"] == 30080


def test_probes_grpc_headers_and_timings(objects: list[dict[str, Any]]) -> None:
    main = pod(objects, "shopfront")["containers"][0]
    assert main["readinessProbe"] == {
        "httpGet": {
            "path": "/_healthz",
            "port": "http",
            "scheme": "HTTP",
            "httpHeaders": [{"name": "Cookie", "value": "id=probe"}],
        },
        "timeoutSeconds": 2,
    }
    # gRPC probes take a number: the port's name is resolved.
    assert main["livenessProbe"] == {"grpc": {"port": 9555, "service": "shop.Front"}, "periodSeconds": 5}
    assert main["startupProbe"] == {"tcpSocket": {"port": 8080}, "failureThreshold": 30}


def test_files_scratch_volumes_and_their_mounts(objects: list[dict[str, Any]]) -> None:
    files = by(objects, "ConfigMap", "shopfront-files", "shop")
    assert files["data"] == {"etc_shop_config.yaml": "a: 1\n"}
    spec = pod(objects, "shopfront")
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}
    assert volumes["shm"] == {"name": "shm", "emptyDir": {"medium": "Memory"}}
    assert volumes["dockyard-files"] == {"name": "dockyard-files", "configMap": {"name": "shopfront-files"}}
    mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["/etc/shop/config.yaml"] == {
        "name": "dockyard-files",
        "mountPath": "/etc/shop/config.yaml",
        "readOnly": True,
        "subPath": "etc_shop_config.yaml",
    }
    nginx = volumes[mounts["/etc/shop/nginx.conf"]["name"]]
    assert nginx["configMap"] == {"name": "nginx"}
    assert mounts["/etc/shop/nginx.conf"]["subPath"] == "default.conf"
    tls = volumes[mounts["/etc/tls"]["name"]]
    assert tls["secret"] == {"secretName": "shop-tls", "defaultMode": 0o400}
    assert "subPath" not in mounts["/etc/tls"]  # a whole Secret: a directory
    # A change of an inline file rolls the pods (subPath mounts never see updates).
    template = by(objects, "Deployment", "shopfront", "shop")["spec"]["template"]
    assert len(template["metadata"]["annotations"]["dockyard.dev/files-digest"]) == 16


def test_init_containers_then_native_sidecars(objects: list[dict[str, Any]]) -> None:
    spec = pod(objects, "shopfront")
    migrate, exporter = spec["initContainers"]
    assert migrate["name"] == "migrate" and "restartPolicy" not in migrate
    assert migrate["volumeMounts"] == [{"name": "tmp", "mountPath": "/work"}]
    assert exporter["name"] == "exporter" and exporter["restartPolicy"] == "Always"
    assert exporter["readinessProbe"]["httpGet"]["port"] == "metrics"
    assert [c["name"] for c in spec["containers"]] == ["shopfront"]


def test_security_context_of_the_pod_and_each_container(objects: list[dict[str, Any]]) -> None:
    spec = pod(objects, "shopfront")
    assert spec["securityContext"] == {
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "runAsNonRoot": True,  # a non-root id was asked for: never start as root after all
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    main = spec["containers"][0]["securityContext"]
    assert main == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }
    exporter = spec["initContainers"][1]["securityContext"]
    assert exporter["runAsUser"] == 65534 and exporter["readOnlyRootFilesystem"] is True
    # An image that may run as root gets back what official root images need, nothing more.
    legacy = pod(objects, "legacy")["containers"][0]["securityContext"]
    assert legacy["capabilities"] == {
        "drop": ["ALL"],
        "add": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETGID", "SETUID"],
    }


def test_identity_scheduling_and_shutdown(objects: list[dict[str, Any]]) -> None:
    spec = pod(objects, "shopfront")
    assert spec["serviceAccountName"] == "shopfront"
    assert spec["imagePullSecrets"] == [{"name": "registry"}]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "shop", "effect": "NoSchedule", "tolerationSeconds": 60}
    ]
    node, zone = spec["topologySpreadConstraints"]
    assert node["topologyKey"] == "kubernetes.io/hostname" and node["whenUnsatisfiable"] == "DoNotSchedule"
    assert zone["topologyKey"] == "topology.kubernetes.io/zone" and zone["whenUnsatisfiable"] == "ScheduleAnyway"
    assert node["matchLabelKeys"] == ["pod-template-hash"]
    assert spec["terminationGracePeriodSeconds"] == 5
    assert spec["containers"][0]["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    pod_ip = {"fieldRef": {"fieldPath": "status.podIP"}}
    assert spec["containers"][0]["env"] == [{"name": "POD_IP", "valueFrom": pod_ip}]
    assert spec["containers"][0]["workingDir"] == "/app"
    legacy = pod(objects, "legacy")
    assert "topologySpreadConstraints" not in legacy
    assert legacy["containers"][0]["lifecycle"] == {"preStop": {"exec": {"command": ["nginx", "-s", "quit"]}}}
    # Two Apps naming one ServiceAccount get one; Apps naming none get no API token.
    accounts = [o for o in objects if o["kind"] == "ServiceAccount" and o["metadata"]["namespace"] == "shop"]
    assert [a["metadata"]["name"] for a in accounts] == ["shopfront"]
    assert pod(objects, "web")["automountServiceAccountToken"] is False


def test_exposed_apps_of_a_strict_tenant_accept_their_clients(objects: list[dict[str, Any]]) -> None:
    policy = by(objects, "NetworkPolicy", "allow-exposed-shopfront", "shop")
    assert policy["spec"]["podSelector"] == {"matchLabels": {"dockyard.dev/app": "shopfront"}}
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]
    assert rule["ports"] == [
        {"protocol": "TCP", "port": 8080},
        {"protocol": "TCP", "port": 9555},
        {"protocol": "TCP", "port": 9100},
    ]
