"""Lifecycle of a local control plane: ``up``, ``down``, status, and component restarts for tests.

A cluster lives in one directory (``<base>/<name>``) holding its PKI, kubeconfigs, etcd data, one
log per process and ``state.json`` (pids, ports, paths). Every port is picked free on 127.0.0.1,
so any number of clusters with different names run side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from daemon.errors import DevClusterError
from devcluster import procs
from devcluster.bootstrap import Bootstrap
from devcluster.build import Toolchain, ensure_built
from devcluster.components import write_config
from devcluster.handle import RunningCluster
from devcluster.layout import (
    DEFAULT_NAME,
    DEFAULT_NODES,
    DEFAULT_TIMEOUT,
    ClusterState,
    OutdatedState,
    PortConflict,
    Ports,
    cluster_root,
    validate_name,
)
from devcluster.restclient import probe_etcd

log = logging.getLogger(__name__)


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
            existing = self._attach_current()
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
            found = self.directory.exists()
            existing = self._attach_current()
            self._remove(existing)
            return found

    def _attach_current(self) -> RunningCluster | None:
        """Like :meth:`attach`, but a cluster recorded by another version of Dockyard is stopped
        (by the pids it recorded) and its directory removed: it cannot be used as it is."""
        try:
            return self.attach()
        except OutdatedState as e:
            log.info("stopping the cluster %r of another Dockyard version (%s)", self.name, e)
            procs.terminate(e.processes)
            shutil.rmtree(self.directory, ignore_errors=True)
            return None

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
        boot = Bootstrap(cluster, deadline, timeout)
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
        boot.register_metrics_api()
        cluster.start_component("metrics-server")
        cluster.start_component("storage")
        crds = boot.apply_crds(toolchain.crds)
        boot.wait_crds(crds)
        boot.wait_healthz("kube-controller-manager", ports.controller_manager)
        boot.wait_healthz("kube-scheduler", ports.scheduler)
        boot.wait_nodes()
        boot.wait_default_service_account()
        boot.wait_metrics_api()
