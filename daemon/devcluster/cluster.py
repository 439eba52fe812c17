"""Lifecycle of a local control plane: ``up``, ``down``, status, and component restarts for tests.

A cluster lives in one directory (``<base>/<name>``) holding its PKI, kubeconfigs, etcd data, one
log per process and ``state.json`` (pids, ports, paths). Every port is picked free on 127.0.0.1,
so any number of clusters with different names run side by side.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from daemon.devcluster import certs, procs
from daemon.devcluster.build import Toolchain, ensure_built
from daemon.devcluster.kwok_stages import STAGES_YAML
from daemon.devcluster.restclient import ApiUnreachable, RestClient, probe_etcd, probe_healthz
from daemon.errors import DevClusterError

log = logging.getLogger(__name__)

DEFAULT_NAME = "dockyard"
DEFAULT_NODES = 3
DEFAULT_TIMEOUT = 180.0
FIELD_MANAGER = "dockyard-dev-cluster"
SERVICE_CIDR = ipaddress.IPv4Network("10.96.0.0/16")
POD_CIDR = "10.244.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
#: Start order.
COMPONENTS: tuple[str, ...] = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "storage",
)
_STOP_GROUPS: tuple[tuple[str, ...], ...] = (
    ("storage", "kwok", "kube-scheduler", "kube-controller-manager"),
    ("kube-apiserver",),
    ("etcd",),
)
_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
_STATE_VERSION = 1
_POLL = 0.25


def state_root() -> Path:
    override = os.environ.get("DOCKYARD_STATE_DIR")
    return Path(override) if override else Path.home() / ".local" / "state" / "dockyard"


def cluster_root() -> Path:
    """The default parent directory of all named clusters."""
    return state_root() / "clusters"


class PortConflict(DevClusterError):
    """Another process grabbed one of our ports between picking and binding; worth retrying."""


# --------------------------------------------------------------------------- state and layout


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int

    @classmethod
    def pick(cls) -> Ports:
        # All sockets stay open until every port is chosen, so the kernel never hands out one
        # port twice; the remaining race with other programs is handled by PortConflict.
        with contextlib.ExitStack() as stack:
            ports = []
            for _ in range(6):
                sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                sock.bind(("127.0.0.1", 0))
                ports.append(int(sock.getsockname()[1]))
        return cls(*ports)


@dataclass(frozen=True)
class Layout:
    """Every path inside a cluster directory."""

    directory: Path

    @property
    def state(self) -> Path:
        return self.directory / "state.json"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def pki(self) -> certs.PKIFiles:
        return certs.PKIFiles(self.directory / "pki")

    @property
    def etcd_data(self) -> Path:
        return self.directory / "etcd"

    @property
    def kwok_config(self) -> Path:
        return self.directory / "kwok" / "stages.yaml"

    @property
    def kwok_home(self) -> Path:
        return self.directory / "kwok"

    def component_kubeconfig(self, component: str) -> Path:
        return self.directory / "kubeconfigs" / f"{component}.kubeconfig"

    def log(self, component: str) -> Path:
        return self.directory / "logs" / f"{component}.log"


@dataclass(frozen=True)
class ClusterState:
    """What ``state.json`` holds: enough to find, check, restart and stop every process."""

    name: str
    nodes: int
    directory: Path
    toolchain: Path
    ports: Ports
    processes: dict[str, procs.ProcessRecord] = field(default_factory=dict)

    @property
    def layout(self) -> Layout:
        return Layout(self.directory)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    def with_process(self, record: procs.ProcessRecord) -> ClusterState:
        return replace(self, processes={**self.processes, record.name: record})

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "name": self.name,
            "nodes": self.nodes,
            "directory": str(self.directory),
            "toolchain": str(self.toolchain),
            "server": self.server,
            "kubeconfig": str(self.layout.kubeconfig),
            "ports": self.ports.__dict__,
            "processes": {name: record.to_json() for name, record in self.processes.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterState:
        if data.get("version") != _STATE_VERSION:
            raise DevClusterError(f"unknown state.json version {data.get('version')!r}")
        return cls(
            name=str(data["name"]),
            nodes=int(data["nodes"]),
            directory=Path(data["directory"]),
            toolchain=Path(data["toolchain"]),
            ports=Ports(**{k: int(v) for k, v in data["ports"].items()}),
            processes={k: procs.ProcessRecord.from_json(v) for k, v in data["processes"].items()},
        )

    def save(self) -> None:
        tmp = self.layout.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.replace(self.layout.state)

    @classmethod
    def load(cls, directory: Path) -> ClusterState | None:
        try:
            data = json.loads(Layout(directory).state.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise DevClusterError(f"cannot read {Layout(directory).state}: {e}") from e
        return cls.from_json(data)


# --------------------------------------------------------------------------- configuration files


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig_yaml(cluster: str, server: str, ca_pem: bytes, client: certs.CertKey, user: str) -> str:
    """A self-contained kubeconfig (certs inline) so it keeps working when copied elsewhere."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(client.cert_pem),
                    "client-key-data": _b64(client.key_pem),
                },
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    }
    return yaml.safe_dump(config, sort_keys=False)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def write_config(state: ClusterState) -> None:
    """Generates the PKI and writes every kubeconfig and the kwok stages."""
    layout = state.layout
    pki = certs.generate_pki(ipaddress.IPv4Address(SERVICE_CIDR.network_address + 1))
    certs.write_pki(pki, layout.pki.directory)
    context = f"dockyard-{state.name}"
    _write_private(
        layout.kubeconfig,
        kubeconfig_yaml(context, state.server, pki.ca.cert_pem, pki.clients["admin"], "admin"),
    )
    for component in ("kube-controller-manager", "kube-scheduler", "kwok"):
        text = kubeconfig_yaml(context, state.server, pki.ca.cert_pem, pki.clients[component], component)
        _write_private(layout.component_kubeconfig(component), text)
    layout.kwok_config.parent.mkdir(parents=True, exist_ok=True)
    layout.kwok_config.write_text(STAGES_YAML)


# --------------------------------------------------------------------------- command lines


def _etcd_argv(state: ClusterState) -> list[str]:
    client = f"http://127.0.0.1:{state.ports.etcd_client}"
    peer = f"http://127.0.0.1:{state.ports.etcd_peer}"
    return [
        "--name=dockyard",
        f"--data-dir={state.layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=dockyard={peer}",
        "--initial-cluster-state=new",
        # Throwaway data: durability is not worth the fsync latency on slow CI disks.
        "--unsafe-no-fsync=true",
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=5m",
        "--quota-backend-bytes=4294967296",
        "--log-level=warn",
    ]


def _apiserver_argv(state: ClusterState) -> list[str]:
    pki = state.layout.pki
    return [
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={state.ports.apiserver}",
        f"--etcd-servers=http://127.0.0.1:{state.ports.etcd_client}",
        f"--cert-dir={pki.directory}",
        f"--tls-cert-file={pki.cert('apiserver')}",
        f"--tls-private-key-file={pki.key('apiserver')}",
        f"--client-ca-file={pki.cert('ca')}",
        "--authorization-mode=Node,RBAC",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        # The aggregation layer's identity, so aggregated APIs (metrics-server) can be added.
        f"--requestheader-client-ca-file={pki.cert('front-proxy-ca')}",
        f"--requestheader-allowed-names={certs.FRONT_PROXY_CLIENT_CN}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki.cert('front-proxy-client')}",
        f"--proxy-client-key-file={pki.key('front-proxy-client')}",
        "--allow-privileged=true",
        "--profiling=false",
        # The `kubernetes` Service cannot have a loopback endpoint (validation rejects it) and
        # nothing in the cluster dials it: kwok pods run nowhere.
        "--endpoint-reconciler-type=none",
        # Without this the server waits the full 60s request timeout on SIGTERM for the clients'
        # watches to end; with it, it closes them, so restarts and `down` take a second or two.
        "--shutdown-watch-termination-grace-period=2s",
    ]


def _controller_manager_argv(state: ClusterState) -> list[str]:
    pki = state.layout.pki
    kubeconfig = state.layout.component_kubeconfig("kube-controller-manager")
    return [
        f"--kubeconfig={kubeconfig}",
        # Delegated authn/authz for its own /healthz and /metrics endpoint.
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={state.ports.controller_manager}",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.sa_key}",
        f"--root-ca-file={pki.cert('ca')}",
        f"--cluster-signing-cert-file={pki.cert('ca')}",
        f"--cluster-signing-key-file={pki.key('ca')}",
        f"--cluster-name={state.name}",
        # Tests create and delete many objects; the default 20 QPS makes controllers lag.
        "--kube-api-qps=100",
        "--kube-api-burst=200",
        "--profiling=false",
    ]


def _scheduler_argv(state: ClusterState) -> list[str]:
    kubeconfig = state.layout.component_kubeconfig("kube-scheduler")
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={state.ports.scheduler}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def _kwok_argv(state: ClusterState) -> list[str]:
    key, value = KWOK_NODE_ANNOTATION
    return [
        f"--kubeconfig={state.layout.component_kubeconfig('kwok')}",
        f"--config={state.layout.kwok_config}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={key}={value}",
        # The heartbeat stage renews only the node lease; without a lease the node controller
        # would mark the nodes NotReady after its grace period.
        "--node-lease-duration-seconds=40",
        "--node-ip=127.0.0.1",
        f"--cidr={POD_CIDR}",
        f"--server-address=127.0.0.1:{state.ports.kwok}",
    ]


_ARGV: dict[str, Callable[[ClusterState], list[str]]] = {
    "etcd": _etcd_argv,
    "kube-apiserver": _apiserver_argv,
    "kube-controller-manager": _controller_manager_argv,
    "kube-scheduler": _scheduler_argv,
    "kwok": _kwok_argv,
}


def component_argv(state: ClusterState, component: str) -> list[str]:
    if component == "storage":
        # The stand-in for Ceph CSI (daemon.devcluster.storage) runs on this interpreter.
        return [sys.executable, "-m", "daemon.devcluster.storage", f"--kubeconfig={state.layout.kubeconfig}"]
    return [str(Toolchain(state.toolchain).binary(component)), *_ARGV[component](state)]


def _component_env(state: ClusterState, component: str) -> dict[str, str]:
    # kwok always reads ~/.kwok/kwok.yaml when it exists; a private HOME keeps the user's own
    # kwok setup out of our cluster.
    return {"HOME": str(state.layout.kwok_home)} if component == "kwok" else {}


# --------------------------------------------------------------------------- bootstrap objects


def node_manifest(name: str) -> dict[str, Any]:
    key, value = KWOK_NODE_ANNOTATION
    resources = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {key: value, "node.alpha.kubernetes.io/ttl": "0"},
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


def _condition(obj: dict[str, Any], kind: str) -> str:
    for condition in obj.get("status", {}).get("conditions", []) or []:
        if condition.get("type") == kind:
            return str(condition.get("status", "Unknown"))
    return "Unknown"


# --------------------------------------------------------------------------- running cluster


class RunningCluster:
    """A started cluster: its API address and kubeconfig, and control over its processes."""

    def __init__(self, state: ClusterState) -> None:
        self._state = state

    @property
    def state(self) -> ClusterState:
        return self._state

    @property
    def name(self) -> str:
        return self._state.name

    @property
    def directory(self) -> Path:
        return self._state.directory

    @property
    def kubeconfig(self) -> Path:
        return self._state.layout.kubeconfig

    @property
    def server(self) -> str:
        return self._state.server

    @property
    def ca_file(self) -> Path:
        """The CA that signed the API server's certificate, for clients that do not use kubeconfig."""
        return self._state.layout.pki.cert("ca")

    def client(self, timeout: float = 10.0) -> RestClient:
        pki = self._state.layout.pki
        return RestClient(
            "127.0.0.1",
            self._state.ports.apiserver,
            pki.cert("ca"),
            pki.cert("admin"),
            pki.key("admin"),
            timeout,
        )

    def log_path(self, component: str) -> Path:
        return self._state.layout.log(component)

    # --- processes

    def _record(self, component: str) -> procs.ProcessRecord | None:
        if component not in COMPONENTS:
            raise DevClusterError(f"unknown component {component!r}; one of {', '.join(COMPONENTS)}")
        return self._state.processes.get(component)

    def is_running(self, component: str) -> bool:
        record = self._record(component)
        return record is not None and procs.is_running(record)

    def components(self) -> dict[str, bool]:
        return {component: self.is_running(component) for component in COMPONENTS}

    def start_component(self, component: str) -> None:
        """Starts ``component`` with the same flags and ports as before; no-op if it runs."""
        if self.is_running(component):
            return
        record = procs.spawn(
            component,
            component_argv(self._state, component),
            self._state.layout.log(component),
            self._state.directory,
            _component_env(self._state, component),
        )
        self._state = self._state.with_process(record)
        self._state.save()

    def stop_component(self, component: str, grace: float = 15.0) -> None:
        record = self._record(component)
        if record is not None:
            procs.terminate([record], grace)

    def kill(self, component: str) -> None:
        """SIGKILLs ``component``, as a crash would."""
        record = self._record(component)
        if record is not None:
            procs.kill(record)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Returns once the API server answers /readyz; fails early if it or etcd died."""
        # Only the API server and etcd are watched: a test may have killed another component.
        _Bootstrap(self, time.monotonic() + timeout, timeout, ("etcd", "kube-apiserver")).wait_apiserver()

    def restart_apiserver(self, timeout: float = 60.0) -> None:
        """Stops the API server and starts it again on the same port; returns once it is ready.

        For a longer outage, call ``stop_component("kube-apiserver")``, then
        ``start_component("kube-apiserver")`` and ``wait_ready()``.
        """
        self.stop_component("kube-apiserver")
        self.start_component("kube-apiserver")
        self.wait_ready(timeout)

    def stop_processes(self) -> None:
        """Stops every process, keeping the directory (and so the logs)."""
        # Clients first, etcd last: an API server that loses etcd while shutting down hangs for
        # the whole grace period.
        for group in _STOP_GROUPS:
            procs.terminate([self._state.processes[c] for c in group if c in self._state.processes])

    def stop(self) -> None:
        """Stops every process and removes the cluster directory. Safe to repeat."""
        self.stop_processes()
        shutil.rmtree(self._state.directory, ignore_errors=True)

    # --- API

    def readyz(self) -> bool:
        try:
            response = self.client(timeout=3.0).get("/readyz")
        except ApiUnreachable:
            return False
        return response.status == 200

    def nodes(self) -> dict[str, str]:
        """Ready condition (``True``/``False``/``Unknown``) of each kwok node, by name."""
        response = self.client().get("/api/v1/nodes", {"labelSelector": "type=kwok"})
        if response.status != 200:
            raise DevClusterError(f"listing nodes: HTTP {response.status}: {response.text()[:300]}")
        items = response.json().get("items", [])
        return {item["metadata"]["name"]: _condition(item, "Ready") for item in items}


# --------------------------------------------------------------------------- bootstrap


class _Bootstrap:
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
                if response.status != 200 or _condition(response.json(), "Established") != "True":
                    pending.append(name)
            return not pending, f"not established: {', '.join(pending)}"

        self.wait("the VolumeSnapshot CRDs to be Established", check, "kube-apiserver")

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


# --------------------------------------------------------------------------- local cluster


def validate_name(name: str) -> str:
    """Cluster names become directory names; keep them short and shell-safe."""
    if not _NAME_RE.match(name):
        raise DevClusterError(f"invalid cluster name {name!r}: use 1-40 lowercase letters, digits and '-'")
    return name


@contextlib.contextmanager
def _locked(base_dir: Path, name: str) -> Iterator[None]:
    """Serialises up/down of one cluster name across processes."""
    base_dir.mkdir(parents=True, exist_ok=True)
    with (base_dir / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True)
class LocalCluster:
    """A named cluster under ``base_dir``, started or not."""

    name: str = DEFAULT_NAME
    base_dir: Path = field(default_factory=cluster_root)

    def __post_init__(self) -> None:
        validate_name(self.name)

    @property
    def directory(self) -> Path:
        return self.base_dir / self.name

    @classmethod
    def start(
        cls,
        name: str = DEFAULT_NAME,
        nodes: int = DEFAULT_NODES,
        base_dir: Path | None = None,
        toolchain: Toolchain | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> RunningCluster:
        local = cls(name, base_dir) if base_dir is not None else cls(name)
        return local.up(nodes, toolchain, timeout)

    def attach(self) -> RunningCluster | None:
        """The cluster as recorded in its state file, running or not; None when there is none."""
        state = ClusterState.load(self.directory)
        return RunningCluster(state) if state is not None else None

    def up(
        self, nodes: int = DEFAULT_NODES, toolchain: Toolchain | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> RunningCluster:
        """Starts the cluster, or returns it when it already runs."""
        if nodes < 1:
            raise DevClusterError("a cluster needs at least one node")
        with _locked(self.base_dir, self.name):
            existing = self.attach()
            if existing is not None and all(existing.components().values()) and existing.readyz():
                log.info("cluster %r already runs at %s", self.name, existing.server)
                return existing
            if existing is not None or self.directory.exists():
                log.info("removing the stale cluster directory %s", self.directory)
                self._remove(existing)
            toolchain = toolchain or ensure_built()
            return self._start_with_retries(nodes, toolchain, timeout)

    def down(self) -> bool:
        """Stops the cluster and removes its directory; returns whether there was anything."""
        with _locked(self.base_dir, self.name):
            existing = self.attach()
            found = existing is not None or self.directory.exists()
            self._remove(existing)
            return found

    def _remove(self, existing: RunningCluster | None) -> None:
        if existing is not None:
            existing.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _start_with_retries(self, nodes: int, toolchain: Toolchain, timeout: float) -> RunningCluster:
        attempts = 3
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(nodes, toolchain, timeout)
            except PortConflict as e:
                if attempt == attempts:
                    raise
                log.warning("port conflict (%s); retrying with new ports", str(e).splitlines()[0])
                shutil.rmtree(self.directory, ignore_errors=True)
        raise AssertionError("unreachable")

    def _start_once(self, nodes: int, toolchain: Toolchain, timeout: float) -> RunningCluster:
        started = time.monotonic()
        self.directory.mkdir(mode=0o700, parents=True)
        state = ClusterState(self.name, nodes, self.directory.resolve(), toolchain.root, Ports.pick())
        write_config(state)
        state.save()
        cluster = RunningCluster(state)
        try:
            self._boot(cluster, toolchain, time.monotonic() + timeout, timeout)
        except BaseException as e:
            # Leave the logs for a post-mortem but no process behind; the next up or down
            # removes the directory.
            with contextlib.suppress(DevClusterError):
                cluster.stop_processes()
            if isinstance(e, DevClusterError) and not isinstance(e, PortConflict):
                raise DevClusterError(f"{e}\n(logs kept in {self.directory})") from e
            raise
        log.info("cluster %r is up at %s after %.1fs", self.name, cluster.server, time.monotonic() - started)
        return cluster

    @staticmethod
    def _boot(cluster: RunningCluster, toolchain: Toolchain, deadline: float, timeout: float) -> None:
        boot = _Bootstrap(cluster, deadline, timeout)
        ports = cluster.state.ports
        cluster.start_component("etcd")
        # The API server would start anyway and retry, but its log would fill with connection
        # errors that hide real ones.
        boot.wait("etcd /health", lambda: (probe_etcd(ports.etcd_client), "not healthy"), "etcd")
        cluster.start_component("kube-apiserver")
        boot.wait_apiserver()
        # The others start only now: the controller manager gives up if the API server is not
        # reachable within seconds of its start.
        for component in ("kube-controller-manager", "kube-scheduler", "kwok"):
            cluster.start_component(component)
        boot.create_nodes()
        cluster.start_component("storage")
        crds = boot.apply_crds(toolchain.crds)
        boot.wait_crds(crds)
        boot.wait_healthz("kube-controller-manager", ports.controller_manager)
        boot.wait_healthz("kube-scheduler", ports.scheduler)
        boot.wait_nodes()
        boot.wait_default_service_account()
