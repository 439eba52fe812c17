"""A running local cluster: its components, restarts for tests, and its API."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

from daemon.errors import DevClusterError
from devcluster import metrics, procs
from devcluster.bootstrap import Bootstrap, condition_status
from devcluster.components import component_argv, component_env
from devcluster.layout import COMPONENTS, ClusterState
from devcluster.restclient import ApiUnreachable, RestClient

_STOP_GROUPS: tuple[tuple[str, ...], ...] = (
    ("storage", "metrics-server", "kwok", "kube-scheduler", "kube-controller-manager"),
    ("kube-apiserver",),
    ("etcd",),
)


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
            component_env(self._state, component),
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

    def freeze(self, component: str) -> None:
        """SIGSTOPs ``component``: it keeps its port (the kernel still accepts connections) and
        answers nothing, like a hung server; :meth:`thaw` lets it go on."""
        record = self._record(component)
        if record is not None:
            procs.send(record, signal.SIGSTOP)

    def thaw(self, component: str) -> None:
        record = self._record(component)
        if record is not None:
            procs.send(record, signal.SIGCONT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Returns once the API server answers /readyz; fails early if it or etcd died."""
        # Only the API server and etcd are watched: a test may have killed another component.
        Bootstrap(self, time.monotonic() + timeout, timeout, ("etcd", "kube-apiserver")).wait_apiserver()

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

    def metrics_api(self) -> tuple[bool, str]:
        """Whether the aggregator finds the metrics API available, and what it says about it."""
        response = self.client().get(f"/apis/apiregistration.k8s.io/v1/apiservices/{metrics.API_SERVICE}")
        if response.status != 200:
            return False, f"{metrics.API_SERVICE}: HTTP {response.status}"
        conditions = response.json().get("status", {}).get("conditions", []) or []
        available: dict[str, str] = next((c for c in conditions if c.get("type") == "Available"), {})
        status = str(available.get("status", "Unknown"))
        return status == "True", f"Available={status} {available.get('message', '')}".strip()

    def nodes(self) -> dict[str, str]:
        """Ready condition (``True``/``False``/``Unknown``) of each kwok node, by name."""
        response = self.client().get("/api/v1/nodes", {"labelSelector": "type=kwok"})
        if response.status != 200:
            raise DevClusterError(f"listing nodes: HTTP {response.status}: {response.text()[:300]}")
        items = response.json().get("items", [])
        return {item["metadata"]["name"]: condition_status(item, "Ready") for item in items}
