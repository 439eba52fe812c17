"""``dockyard extract`` round trip on a real cluster: raw manifests applied to a namespace, extracted,
the Dockyard YAML applied to a fresh namespace, and the two compared field by field."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.cli import main
from daemon.edges.kube import KubeClient
from daemon.engine.apply import ResourceManager
from daemon.loader import load_or_raise
from daemon.render import render
from daemon.state.inventory import InventoryStore
from tests.clone.helpers import EXAMPLE, SCHEMAS
from tests.fixtures_cluster import wait_for

RAW = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {log-level: debug}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          args: ["-g", "daemon off;"]
          ports: [{name: http, containerPort: 8080}]
          env:
            - {name: MODE, value: shop}
            - name: LOG_LEVEL
              valueFrom: {configMapKeyRef: {name: settings, key: log-level}}
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {cpu: 200m, memory: 128Mi}
          readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 5}
          livenessProbe: {tcpSocket: {port: http}, initialDelaySeconds: 10}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
    - host: web.rt.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 5
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: db-data}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ceph-rbd
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 1
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      containers:
        - name: db
          image: postgres:16
          ports: [{name: postgres, containerPort: 5432}]
          env:
            - name: POSTGRES_PASSWORD
              valueFrom: {secretKeyRef: {name: db, key: password}}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {cpu: 100m, memory: 128Mi}
          volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
      volumes:
        - {name: data, persistentVolumeClaim: {claimName: db-data}}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  selector: {app: db}
  ports: [{name: postgres, port: 5432, targetPort: postgres}]
---
apiVersion: v1
kind: Service
metadata: {name: outside}
spec:
  type: ExternalName
  externalName: db.example.com
"""


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    client = KubeClient(str(kubeconfig))
    yield client
    client.close()


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args], input=stdin, check=True, capture_output=True, text=True
    ).stdout


def _list(kube: KubeClient, api_version: str, kind: str, namespace: str) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o for o in kube.list_objects(kube.resource_type(api_version, kind), namespace=namespace)
    }


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    container = dict(workload["spec"]["template"]["spec"]["containers"][0])
    shown = ("image", "command", "args", "env", "resources", "readinessProbe", "livenessProbe", "volumeMounts")
    result = {k: container.get(k) for k in shown}
    result["ports"] = [(p["containerPort"], p.get("protocol")) for p in container.get("ports") or ()]
    # A mount's name is the pod's own; what it mounts is the claim.
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in workload["spec"]["template"]["spec"].get("volumes") or ()
        if "persistentVolumeClaim" in v
    }
    result["volumeMounts"] = [
        (claims.get(m["name"]), m["mountPath"], m.get("readOnly", False)) for m in container.get("volumeMounts") or ()
    ]
    return result


def _shape(kube: KubeClient, namespace: str) -> dict[str, Any]:
    """What both namespaces must agree on, by object name."""
    deployments = _list(kube, "apps/v1", "Deployment", namespace)
    stateful = _list(kube, "apps/v1", "StatefulSet", namespace)
    claims = _list(kube, "v1", "PersistentVolumeClaim", namespace)
    hpas = _list(kube, "autoscaling/v2", "HorizontalPodAutoscaler", namespace)
    services = _list(kube, "v1", "Service", namespace)
    ingresses = _list(kube, "networking.k8s.io/v1", "Ingress", namespace)
    return {
        "deployments": {n: _container(o) for n, o in deployments.items()},
        "strategy": {n: o["spec"]["strategy"] for n, o in deployments.items()},
        "statefulsets": {
            n: (_container(o), o["spec"]["replicas"], o["spec"]["template"]["spec"].get("nodeSelector"))
            for n, o in stateful.items()
        },
        "claims": {
            n: (
                o["spec"]["resources"]["requests"]["storage"],
                o["spec"].get("storageClassName"),
                o["spec"]["accessModes"],
            )
            for n, o in claims.items()
        },
        "hpas": {
            n: (
                o["spec"]["scaleTargetRef"]["name"],
                o["spec"]["minReplicas"],
                o["spec"]["maxReplicas"],
                o["spec"]["metrics"],
            )
            for n, o in hpas.items()
        },
        "services": {
            n: sorted((p["port"], p["targetPort"]) for p in o["spec"]["ports"])
            for n, o in services.items()
            if o["spec"].get("type") == "ClusterIP" and o["spec"].get("clusterIP") != "None"
        },
        "hosts": sorted(r["host"] for o in ingresses.values() for r in o["spec"]["rules"]),
    }


def test_extract_round_trip(
    kube: KubeClient, kubeconfig: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suffix = secrets.token_hex(3)
    source, target = f"rt-src-{suffix}", f"rt-dst-{suffix}"
    kubectl(kubeconfig, "create", "namespace", source)
    try:
        kubectl(kubeconfig, "-n", source, "apply", "-f", "-", stdin=RAW)
        wait_for(
            lambda: kubectl(kubeconfig, "-n", source, "get", "deploy,sts,pvc,hpa,svc,ing,cm", "-o", "name"),
            message="the raw objects",
            until=lambda out: out.count("\n") >= 9,
        )
        root = tmp_path / "repo"
        (root / "platform").mkdir(parents=True)
        example = yaml.safe_load((EXAMPLE / "platform.yaml").read_text())
        spec = {k: example["spec"][k] for k in ("storageClasses", "ingress", "prices") if k in example["spec"]}
        platform_doc = {**example, "spec": spec}
        (root / "platform/platform.yaml").write_text(yaml.safe_dump(platform_doc, sort_keys=False))
        shutil.copytree(SCHEMAS, root / "schemas")
        platform = root / "platform"
        assert main(["new", "tenant", target, "--repo", str(platform)]) == 0
        capsys.readouterr()
        args = ["extract", "--namespace", source, "--kubeconfig", str(kubeconfig)]
        assert main([*args, "--repo", str(platform), "--tenant", target]) == 0
        captured = capsys.readouterr()
        assert sorted(
            p.relative_to(platform / "tenants" / target).as_posix()
            for p in (platform / "tenants" / target).rglob("*.yaml")
        ) == ["apps/db.yaml", "apps/web.yaml", "autoscaling/web.yaml", "tenant.yaml", "volumes/db-data.yaml"]
        unsupported = captured.err
        assert "ConfigMap settings: the format has no ConfigMaps" in unsupported
        assert "Service outside: it selects no extracted workload" in unsupported
        web = yaml.safe_load((platform / f"tenants/{target}/apps/web.yaml").read_text().split("\n", 1)[1])
        assert web["spec"]["domains"] == ["web.rt.example.com"]
        db = yaml.safe_load((platform / f"tenants/{target}/apps/db.yaml").read_text().split("\n", 1)[1])
        assert db["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}

        # The extracted YAML, applied to a fresh namespace, renders what the raw manifests made.
        model = load_or_raise(platform)
        manager = ResourceManager(
            kube, inventory=InventoryStore(kube, namespace="dockyard-tests", name=f"inventory-{target}")
        )
        plan = manager.plan(render(model, "rt"), max_fraction=1.0)
        result = manager.apply(plan, revision="rt", timeout=120)
        assert result.failed == []
        original, copy = _shape(kube, source), _shape(kube, target)
        for key in original:
            assert copy[key] == original[key], key
        with capsys.disabled():
            print(f"\nextract round trip: {len(original)} aspects equal; unsupported:\n{unsupported}")
    finally:
        subprocess.run(
            ["kubectl", f"--kubeconfig={kubeconfig}", "delete", "namespace", source, target, "--wait=false"],
            capture_output=True,
            check=False,
        )
