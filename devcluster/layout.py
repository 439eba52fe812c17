"""Where a local cluster lives: its name, directory, ports and state file."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import socket
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from daemon.errors import DevClusterError
from devcluster import certs, procs

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
    "metrics-server",
    "storage",
)


_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


#: 2: metrics-server joined the cluster (a port and a process of its own).
_STATE_VERSION = 2


def state_root() -> Path:
    override = os.environ.get("DOCKYARD_STATE_DIR")
    return Path(override) if override else Path.home() / ".local" / "state" / "dockyard"


def cluster_root() -> Path:
    """The default parent directory of all named clusters."""
    return state_root() / "clusters"


class PortConflict(DevClusterError):
    """Another process grabbed one of our ports between picking and binding; worth retrying."""


class OutdatedState(DevClusterError):
    """``state.json`` was written by another version of this module: its processes can still be
    found and stopped (``processes``), but the cluster cannot be used as it is."""

    def __init__(self, message: str, processes: tuple[procs.ProcessRecord, ...]) -> None:
        super().__init__(message)
        self.processes = processes


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int
    metrics_server: int

    @classmethod
    def pick(cls) -> Ports:
        # All sockets stay open until every port is chosen, so the kernel never hands out one
        # port twice; the remaining race with other programs is handled by PortConflict.
        with contextlib.ExitStack() as stack:
            ports = []
            for _ in range(len(fields(cls))):
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
    def kwok_metrics_config(self) -> Path:
        return self.directory / "kwok" / "metrics.yaml"

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
            raise OutdatedState(
                f"state.json version {data.get('version')!r} is not this version's ({_STATE_VERSION})",
                _recorded_processes(data),
            )
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


def _recorded_processes(data: dict[str, Any]) -> tuple[procs.ProcessRecord, ...]:
    """The processes any version of ``state.json`` names, so a cluster of another version can
    still be stopped; whatever cannot be read is skipped."""
    records = []
    raw = data.get("processes")
    for value in raw.values() if isinstance(raw, dict) else ():
        try:
            records.append(procs.ProcessRecord.from_json(value))
        except (KeyError, TypeError, ValueError):
            continue
    return tuple(records)


def validate_name(name: str) -> str:
    """Cluster names become directory names; keep them short and shell-safe."""
    if not _NAME_RE.match(name):
        raise DevClusterError(f"invalid cluster name {name!r}: use 1-40 lowercase letters, digits and '-'")
    return name
