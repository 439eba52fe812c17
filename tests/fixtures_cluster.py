"""Fixtures for tests that need a real API server: one local cluster per test session.

The cluster runs real kube-apiserver, controller manager and scheduler binaries with kwok nodes
(see ``daemon.devcluster``). The first session builds the binaries, which takes many minutes;
later sessions start a cluster in a few seconds. A cluster that cannot start fails the tests that
need it, with the failing component's log: a skip would hide a broken environment.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client, config

from daemon.errors import DevClusterError
from devcluster import LocalCluster, RunningCluster

T = TypeVar("T")

_NAMESPACE_MAX = 63
_SUFFIX_LEN = 6


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests reach the cluster through fixtures, so marking by fixture keeps `-m "not cluster"`
    # correct even for a test that forgot the marker.
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)


def wait_for(
    probe: Callable[[], T],
    timeout: float = 30.0,
    message: str = "the condition",
    until: Callable[[T], object] = bool,
    interval: float = 0.2,
) -> T:
    """Calls ``probe`` until ``until(value)`` holds and returns that value.

    On timeout raises AssertionError naming ``message`` and the last value observed (or the last
    exception ``probe`` raised, which counts as "not yet": objects often 404 before they appear).
    """
    deadline = time.monotonic() + timeout
    last: str = "nothing: the probe never returned"
    while True:
        try:
            value = probe()
        except Exception as e:  # anything the probe raises just means "not yet"
            last = f"the probe raised {e!r}"
        else:
            if until(value):
                return value
            last = repr(value)
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {message}; last observed: {last}")
        time.sleep(interval)


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A SIGKILLed pytest can linger as a zombie until its new parent reaps it.
    return stat[stat.rindex(")") + 2] not in "ZX"


#: Outside pytest's own temporary directories: pytest deletes all but its three newest base
#: directories when a session starts, which would pull a cluster from under a session that is
#: still running when several sessions overlap.
CLUSTERS_ROOT = Path(tempfile.gettempdir()) / "dockyard-test-clusters"


def stop_orphaned_clusters(root: Path) -> None:
    """Stops clusters whose pytest process died without running its finalizers (e.g. SIGKILL).

    Their processes run in their own sessions, so nothing else would ever stop them.
    """
    for state in root.glob("pytest-*/state.json"):
        directory = state.parent
        owner = directory.name.removeprefix("pytest-")
        if owner.isdigit() and int(owner) != os.getpid() and not _pid_alive(int(owner)):
            LocalCluster(directory.name, directory.parent).down()


def use_built_kubectl() -> None:
    """Puts the kubectl built with the control plane first on PATH: the tests' kubectl is then the
    server's own release, whatever the machine has installed (or not)."""
    from devcluster.build import ensure_built

    try:
        bin_dir = ensure_built().binary("kubectl").parent
    except DevClusterError as e:
        raise pytest.fail.Exception(f"the control plane binaries could not be built:\n{e}", pytrace=False) from None
    if not os.environ.get("PATH", "").startswith(str(bin_dir)):
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(scope="session")
def cluster() -> Iterator[RunningCluster]:
    """A local cluster with three kwok nodes, started once for the whole session."""
    CLUSTERS_ROOT.mkdir(parents=True, exist_ok=True)
    stop_orphaned_clusters(CLUSTERS_ROOT)
    use_built_kubectl()
    try:
        running = LocalCluster.start(name=f"pytest-{os.getpid()}", nodes=3, base_dir=CLUSTERS_ROOT)
    except DevClusterError as e:
        # `from None`: the message already holds the failing component's log; the traceback
        # of our own code would only bury it.
        raise pytest.fail.Exception(f"the local cluster did not start:\n{e}", pytrace=False) from None
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def kubeconfig(cluster: RunningCluster) -> Path:
    """Path of the cluster's admin kubeconfig (system:masters)."""
    return cluster.kubeconfig


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    """A kubernetes ``ApiClient`` authenticated as the cluster admin."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield api
    finally:
        api.close()


def namespace_name(test_name: str) -> str:
    """``t-<test name>-<random>``, squeezed into a valid (RFC 1123, 63 chars) namespace name."""
    suffix = secrets.token_hex(_SUFFIX_LEN // 2)
    stem = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    stem = stem[: _NAMESPACE_MAX - len("t--") - len(suffix)].rstrip("-") or "test"
    return f"t-{stem}-{suffix}"


@pytest.fixture
def namespace(request: pytest.FixtureRequest, api_client: client.ApiClient) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting for it to go)."""
    core = client.CoreV1Api(api_client)
    name = namespace_name(request.node.name)
    body: dict[str, Any] = {"metadata": {"name": name, "labels": {"dockyard.dev/test": "true"}}}
    core.create_namespace(body)
    # Pods are rejected until the service-account controller has made the default account.
    wait_for(
        lambda: core.read_namespaced_service_account("default", name),
        timeout=30,
        message=f"the default ServiceAccount in namespace {name}",
    )
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except client.ApiException as e:
            if e.status != 404:
                raise


@pytest.fixture(scope="session")
def promtool() -> Path:
    """Prometheus' promtool, built with the control plane (hack/localcluster/build.sh)."""
    from devcluster.build import ensure_built

    return ensure_built(tests=True).binary("promtool")


def _held(binary: Path, factory: pytest.TempPathFactory) -> Path:
    """A link to a built binary that stays for the session: build.sh drops the assembled
    directories of other versions, which a checkout with other pins may do meanwhile."""
    held = factory.mktemp("bin") / binary.name
    try:
        os.link(binary, held)
    except OSError:
        shutil.copy2(binary, held)
    return held


@pytest.fixture(scope="session")
def sops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sops binary, built with the control plane: an independent encryptor for SOPS fixtures."""
    from devcluster.build import ensure_built

    return _held(ensure_built(tests=True).binary("sops"), tmp_path_factory)


@pytest.fixture(scope="session")
def kube_score(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kube-score, built with the control plane: the judge of the rendered example."""
    from devcluster.build import ensure_built

    return _held(ensure_built(tests=True).binary("kube-score"), tmp_path_factory)


#: Namespaces the cluster starts with; every other one belongs to some test.
_SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
_LEFT_BEHIND: dict[str, list[str]] = {}


def _active_namespaces(api: client.ApiClient) -> set[str]:
    listed: dict[str, Any] = api.sanitize_for_serialization(client.CoreV1Api(api).list_namespace())
    names = {
        str(ns["metadata"]["name"]) for ns in listed.get("items", []) if not ns["metadata"].get("deletionTimestamp")
    }
    return names - _SYSTEM_NAMESPACES


@pytest.fixture(autouse=True)
def _namespaces_are_cleaned_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """Records the namespaces a cluster test leaves behind (not deleted once its fixtures are torn
    down). The session cluster is shared: leftover pods fill the simulated nodes and slow kwok's
    metrics endpoint for every later test, so leaks are listed at the end of the run."""
    if "cluster" not in request.fixturenames:
        yield
        return
    api: client.ApiClient = request.getfixturevalue("api_client")
    before = _active_namespaces(api)
    yield
    left = sorted(_active_namespaces(api) - before)
    if left:
        _LEFT_BEHIND[request.node.nodeid] = left


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _LEFT_BEHIND:
        return
    terminalreporter.section("namespaces left behind by cluster tests")
    for nodeid, names in _LEFT_BEHIND.items():
        terminalreporter.write_line(f"{nodeid}: {', '.join(names)}")
