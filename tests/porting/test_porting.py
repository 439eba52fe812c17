"""Proof by porting: three public multi-service systems, their upstream manifests next to their
Dockyard port, compared field by field (tests/porting/compare.py), and applied to the local
cluster, where every workload must become Available and every Service serve the ports its
clients call.

| system | upstream | workloads | Services | escape hatch | not kept |
|---|---|---|---|---|---|
| online-boutique | GoogleCloudPlatform/microservices-demo v0.10.1 | 12 | 12 | nothing | nothing |
| sock-shop | microservices-demo/microservices-demo complete-demo.yaml | 14 | 14 | nothing | nothing |
| wordpress | the Kubernetes tutorial (WordPress and MySQL) | 2 | 2 | nothing | the headless mysql Service |
"""

from __future__ import annotations

import copy
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.edges.kube import KubeClient
from daemon.edges.sops import AgeKeys
from daemon.engine.apply import ResourceManager
from daemon.engine.secrets import SecretOpener
from daemon.loader import load_or_raise
from daemon.model.kinds import PlatformModel
from daemon.render import render
from daemon.state.inventory import InventoryStore
from tests.fixtures_cluster import wait_for
from tests.porting.compare import WORKLOADS, by_kind, lost_fields
from tests.sopsfiles import AgeKey, encrypt, secret_yaml

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Port:
    tenant: str
    #: what the port does not keep, with why that is acceptable (the goal: nothing)
    not_kept: dict[str, str] = field(default_factory=dict)
    #: what had to go through raw manifests or Patches (the goal: nothing)
    escape_hatch: tuple[str, ...] = ()
    #: Secrets of the upstream system, kept encrypted in the port (made at test time)
    secrets: tuple[str, ...] = ()


SYSTEMS: dict[str, Port] = {
    "online-boutique": Port("online-boutique"),
    "sock-shop": Port("sock-shop"),
    "wordpress": Port(
        "wordpress",
        not_kept={
            "Service wordpress-mysql: clusterIP None (headless) became a cluster IP": (
                "its only client (wordpress) calls wordpress-mysql:3306, which the cluster IP serves the same; "
                "a headless name of one pod adds nothing here"
            )
        },
        secrets=("mysql-pass",),
    ),
}


def upstream(system: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((HERE / system / "upstream.yaml").read_text()) if d]


@pytest.fixture(scope="module")
def key() -> AgeKey:
    return AgeKey.generate()


def prepared(system: str, workdir: Path, sops: Path, key: AgeKey) -> Path:
    """The port's platform repo, with its Secrets encrypted by sops for a key of this test."""
    root = workdir / system
    shutil.copytree(HERE / system / "platform", root)
    port = SYSTEMS[system]
    for name in port.secrets:
        secret = next(d for d in upstream(system) if d["kind"] == "Secret" and d["metadata"]["name"] == name)
        plain = secret_yaml(name, port.tenant, dict(secret["stringData"]))
        folder = root / "tenants" / port.tenant / "secrets"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.yaml").write_text(encrypt(sops, plain, key.public, workdir / f"enc-{name}"))
    return root


def rendered(root: Path, key: AgeKey) -> tuple[PlatformModel, list[dict[str, Any]]]:
    model = load_or_raise(root)
    keys = AgeKeys.parse(key.keys_txt(), origin="the test key")
    return model, render(model, "port", secrets=SecretOpener(keys).open(model.secrets))


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_the_port_keeps_every_field_that_matters(system: str, tmp_path: Path, sops: Path, key: AgeKey) -> None:
    model, objects = rendered(prepared(system, tmp_path, sops, key), key)
    assert lost_fields(upstream(system), objects) == list(SYSTEMS[system].not_kept)
    assert all(len(reason) > 40 for reason in SYSTEMS[system].not_kept.values())
    # The escape hatch: nothing (no raw manifests, no patches).
    used = [f"manifest {m.kind}/{m.name}" for m in model.manifests] + [f"patch {p.name}" for p in model.patches]
    assert used == list(SYSTEMS[system].escape_hatch) == []


def test_the_comparison_sees_a_loss(tmp_path: Path, sops: Path, key: AgeKey) -> None:
    """The judge is not blind: each kind of loss in a rendered object is named."""
    _, objects = rendered(prepared("online-boutique", tmp_path, sops, key), key)
    objects = copy.deepcopy(objects)
    email = by_kind(objects, "Deployment")["emailservice"]["spec"]["template"]["spec"]
    email["containers"][0]["env"] = email["containers"][0]["env"][1:]
    email["containers"][0]["readinessProbe"]["grpc"]["port"] = 9999
    email["securityContext"]["runAsUser"] = 0
    by_kind(objects, "Service")["frontend"]["spec"]["ports"][0]["port"] = 8080
    redis = by_kind(objects, "Deployment")["redis-cart"]["spec"]["template"]["spec"]
    redis["volumes"] = [{"name": "redis-data", "emptyDir": {"medium": "Memory"}}]
    lost = lost_fields(upstream("online-boutique"), objects)
    assert [line.split(":")[0] + ": " + line.split(": ", 1)[1].split(" ")[0] for line in lost] == [
        "Deployment emailservice container server: env",
        "Deployment emailservice container server: readinessProbe",
        "Deployment emailservice container server: securityContext.runAsUser",
        "Deployment redis-cart container redis: volume",
        "Service frontend: port",
    ]


# --- on the cluster -------------------------------------------------------------------------------


def _available(workload: dict[str, Any]) -> bool:
    if workload["kind"] == "StatefulSet":
        return workload.get("status", {}).get("readyReplicas", 0) >= workload["spec"].get("replicas", 1)
    conditions = workload.get("status", {}).get("conditions") or ()
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_the_port_runs_every_workload_and_serves_every_port(
    system: str, tmp_path: Path, sops: Path, key: AgeKey, kubeconfig: Path
) -> None:
    root = prepared(system, tmp_path, sops, key)
    model, objects = rendered(root, key)
    port = SYSTEMS[system]
    kube = KubeClient(str(kubeconfig))
    try:
        if system == "sock-shop":
            # Its pods select the deprecated OS label kubelets set beside kubernetes.io/os.
            nodes = kube.resource_type("v1", "Node")
            for node in kube.list_objects(nodes):
                kube.merge_patch(
                    nodes, None, node["metadata"]["name"], {"metadata": {"labels": {"beta.kubernetes.io/os": "linux"}}}
                )
        manager = ResourceManager(
            kube, inventory=InventoryStore(kube, namespace="dockyard-tests", name=f"port-{system}")
        )
        plan = manager.plan(objects, max_fraction=model.platform.prune.max_fraction)
        started = time.monotonic()
        result = manager.apply(plan, revision="port", timeout=240)
        assert result.failed == [] and result.unhealthy == [], (result.failed, result.unhealthy)
        names = sorted(by_kind(upstream(system), *WORKLOADS))
        for kind in ("Deployment", "StatefulSet"):
            rtype = kube.resource_type("apps/v1", kind)
            for workload in kube.list_objects(rtype, namespace=port.tenant):
                if workload["metadata"]["name"] in names:
                    assert _available(workload), workload["metadata"]["name"]
        live = {
            w["metadata"]["name"]
            for kind in ("Deployment", "StatefulSet")
            for w in kube.list_objects(kube.resource_type("apps/v1", kind), namespace=port.tenant)
            if _available(w)
        }
        assert set(names) <= live
        # Every Service of the upstream system has ready endpoints on the container port each of
        # its ports leads to: what its clients call is served.
        slices = kube.resource_type("discovery.k8s.io/v1", "EndpointSlice")
        for name, service in by_kind(upstream(system), "Service").items():

            def served(name: str = name) -> dict[str, Any]:
                found = kube.list_objects(
                    slices, namespace=port.tenant, label_selector=f"kubernetes.io/service-name={name}"
                )
                ready = [e for s in found for e in s.get("endpoints") or () if (e.get("conditions") or {}).get("ready")]
                return {"ready": len(ready), "ports": {p["port"] for s in found for p in s.get("ports") or ()}}

            wanted = _container_ports(service, objects)
            wait_for(
                served,
                timeout=60,
                message=f"endpoints of Service {name} on {wanted}",
                until=lambda seen, wanted=wanted: seen["ready"] > 0 and wanted <= seen["ports"],
            )
        print(f"{system}: {len(names)} workloads Available in {time.monotonic() - started:.1f}s")
    finally:
        kube.close()


def _container_ports(service: dict[str, Any], objects: list[dict[str, Any]]) -> set[int]:
    """The container ports the rendered Service of this name sends its ports to."""
    mine = by_kind(objects, "Service")[service["metadata"]["name"]]
    workloads = [
        w
        for w in by_kind(objects, *WORKLOADS).values()
        if all(w["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in mine["spec"]["selector"].items())
    ]
    pod = workloads[0]["spec"]["template"]["spec"]
    containers = pod["containers"] + list(pod.get("initContainers") or ())
    numbers = {p["name"]: p["containerPort"] for c in containers for p in c.get("ports") or () if "name" in p}
    wanted = {p["port"] for p in service["spec"]["ports"]}
    return {numbers.get(p["targetPort"], p["targetPort"]) for p in mine["spec"]["ports"] if p["port"] in wanted}
