"""Bringing a started control plane to ready: nodes, CRDs, service accounts."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from daemon.errors import DevClusterError
from devcluster import metrics, procs
from devcluster.kwok_metrics import metrics_path
from devcluster.layout import COMPONENTS, FIELD_MANAGER, KWOK_NODE_ANNOTATION, PortConflict
from devcluster.restclient import ApiUnreachable, probe_healthz

if TYPE_CHECKING:
    from devcluster.handle import RunningCluster

log = logging.getLogger(__name__)

_POLL = 0.25


def condition_status(obj: dict[str, Any], kind: str) -> str:
    for condition in obj.get("status", {}).get("conditions", []) or []:
        if condition.get("type") == kind:
            return str(condition.get("status", "Unknown"))
    return "Unknown"


def node_manifest(name: str) -> dict[str, Any]:
    key, value = KWOK_NODE_ANNOTATION
    # Room for the whole test suite's pods on one session cluster (a real kubelet's 110 filled up
    # once the ported systems and the console ran: later tests waited on "Too many pods").
    resources = {"cpu": "32", "memory": "256Gi", "pods": "500", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                key: value,
                "node.alpha.kubernetes.io/ttl": "0",
                # kwok serves each node's resource metrics on a path of its own.
                "metrics.k8s.io/resource-metrics-path": metrics_path(name),
            },
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
        "spec": {},
        # Nodes are the one kind whose status may be set on create; kwok keeps these values.
        "status": {"allocatable": resources, "capacity": resources},
    }


def node_names(count: int) -> list[str]:
    return [f"kwok-node-{i}" for i in range(count)]


class Bootstrap:
    """Waits for a starting cluster, failing fast when one of its processes dies."""

    def __init__(
        self, cluster: RunningCluster, deadline: float, timeout: float, watched: tuple[str, ...] = COMPONENTS
    ) -> None:
        self.cluster = cluster
        self.deadline = deadline
        self.timeout = timeout
        self.watched = watched

    def check_processes(self) -> None:
        for component, record in self.cluster.state.processes.items():
            if component not in self.watched or procs.is_running(record):
                continue
            tail = procs.log_tail(record.log)
            if "address already in use" in tail:
                raise PortConflict(f"{component} could not bind its port:\n{tail}")
            code = procs.exit_code(record)
            how = f"exited with code {code}" if code is not None else "is no longer running"
            raise DevClusterError(f"{component} {how}; last lines of {record.log}:\n{tail}")

    def wait(self, what: str, check: Callable[[], tuple[bool, str]], blame: str) -> None:
        """Polls ``check`` (done, observation) until done; on timeout shows ``blame``'s log."""
        observed = "nothing yet"
        while True:
            self.check_processes()
            try:
                done, observed = check()
            except ApiUnreachable as e:
                done, observed = False, str(e)
            if done:
                return
            if time.monotonic() > self.deadline:
                log_file = self.cluster.log_path(blame)
                raise DevClusterError(
                    f"timed out after {self.timeout:.0f}s waiting for {what} (last observed: {observed}); "
                    f"last lines of {log_file}:\n{procs.log_tail(log_file)}"
                )
            time.sleep(_POLL)

    def wait_apiserver(self) -> None:
        def check() -> tuple[bool, str]:
            response = self.cluster.client(timeout=3.0).get("/readyz")
            return response.status == 200, f"HTTP {response.status} {response.text()[:300]}"

        self.wait("the API server's /readyz", check, "kube-apiserver")

    def create_nodes(self) -> None:
        client = self.cluster.client()
        for name in node_names(self.cluster.state.nodes):
            response = client.create("/api/v1/nodes", node_manifest(name))
            if response.status not in (201, 409):
                raise DevClusterError(f"creating node {name}: HTTP {response.status}: {response.text()[:300]}")

    def apply_crds(self, crds: tuple[Path, ...]) -> list[str]:
        client = self.cluster.client()
        names = []
        for path in crds:
            manifest = path.read_bytes()
            name = str(yaml.safe_load(manifest)["metadata"]["name"])
            response = client.apply(
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}", manifest, FIELD_MANAGER
            )
            if response.status not in (200, 201):
                raise DevClusterError(f"applying CRD {name}: HTTP {response.status}: {response.text()[:300]}")
            names.append(name)
        return names

    def wait_crds(self, names: list[str]) -> None:
        def check() -> tuple[bool, str]:
            client = self.cluster.client()
            pending = []
            for name in names:
                response = client.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                if response.status != 200 or condition_status(response.json(), "Established") != "True":
                    pending.append(name)
            return not pending, f"not established: {', '.join(pending)}"

        self.wait("the VolumeSnapshot CRDs to be Established", check, "kube-apiserver")

    def register_metrics_api(self) -> None:
        """metrics-server's permissions, its Service and the APIService that points at it."""
        client = self.cluster.client()
        state = self.cluster.state
        ca_pem = state.layout.pki.cert("ca").read_bytes()
        for path, obj in metrics.manifests(state.ports.metrics_server, ca_pem):
            response = client.apply(path, json.dumps(obj).encode(), FIELD_MANAGER)
            if response.status not in (200, 201):
                what = f"{obj['kind']} {obj['metadata']['name']}"
                raise DevClusterError(f"applying {what}: HTTP {response.status}: {response.text()[:300]}")

    def wait_metrics_api(self) -> None:
        self.wait(
            f"the metrics API ({metrics.API_SERVICE}) to be Available", self.cluster.metrics_api, "metrics-server"
        )

    def wait_nodes(self) -> None:
        def check() -> tuple[bool, str]:
            ready = self.cluster.nodes()
            done = len(ready) >= self.cluster.state.nodes and all(s == "True" for s in ready.values())
            return done, f"Ready={ready}"

        self.wait(f"{self.cluster.state.nodes} kwok nodes to be Ready", check, "kwok")

    def wait_default_service_account(self) -> None:
        def check() -> tuple[bool, str]:
            response = self.cluster.client().get("/api/v1/namespaces/default/serviceaccounts/default")
            return response.status == 200, f"HTTP {response.status}"

        self.wait("the default ServiceAccount", check, "kube-controller-manager")

    def wait_healthz(self, component: str, port: int) -> None:
        self.wait(f"{component} /healthz", lambda: (probe_healthz(port), "not healthy"), component)
