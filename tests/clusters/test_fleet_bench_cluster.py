"""Figures for the design note (ARCHITECTURE.md, "Several clusters"): one daemon driving two, then
three local clusters, a tenant of five apps placed on all of them. Run with ``-s`` for the figures."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from daemon.edges.kube import KubeClient
from daemon.runtime.settings import ClusterTarget
from devcluster import RunningCluster
from tests.daemon.harness import Setup
from tests.fixtures_cluster import wait_for
from tests.platforms import PlatformRepo, git


def fleet_setup(root: Path, kubeconfig: Path, names: list[str]) -> Setup:
    prefix = f"mb-{secrets.token_hex(3)}"
    remote = root / "remote.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    work = root / "work"
    git(root, "clone", "-q", str(remote), str(work))
    platform = PlatformRepo(work, prefix, apps=5)
    platform.platform["spec"]["clusters"] = [{"name": n, "default": n == "home"} for n in names]
    platform.tenant_doc["spec"]["placement"] = {"clusters": names}
    s = Setup(remote, work, platform, KubeClient(str(kubeconfig)), namespace=f"dockyard-{prefix}")
    s.kube_config = kubeconfig
    s.commit("a tenant on every cluster")
    return s


def measure(setup: Setup, targets: dict[str, RunningCluster]) -> dict[str, float]:
    daemon = setup.start(
        cluster_name="home", targets=tuple(ClusterTarget(n, str(c.kubeconfig)) for n, c in targets.items())
    )
    count = len(targets) + 1

    def all_at(sha: str) -> bool:
        return sum(s.applied_sha == sha for s in daemon.fleet.states().values()) == count

    started = time.monotonic()
    wait_for(lambda: all_at(git(setup.work, "rev-parse", "HEAD")), timeout=300, message="the first sync")
    first = time.monotonic() - started
    wait_for(daemon.runner.idle, timeout=60, message="an idle runner")
    setup.platform.apps["app1"]["spec"]["image"] = "busybox:1.37"
    sha = setup.commit("a new image everywhere")
    started = time.monotonic()
    daemon.runner.request("webhook")
    wait_for(lambda: all_at(sha), timeout=300, message="the change everywhere")
    change = time.monotonic() - started
    for name, cluster in targets.items():
        kube = KubeClient(str(cluster.kubeconfig))
        try:
            found = kube.get(kube.resource_type("apps/v1", "Deployment"), setup.platform.tenant, "app1")
            assert found is not None, name
            assert found["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"
        finally:
            kube.close()
    wait_for(daemon.runner.idle, timeout=60, message="an idle runner")
    time.sleep(1)  # let the change's cycle end
    before = daemon.runner.cycles_run
    started = time.monotonic()
    daemon.runner.request("webhook")
    wait_for(lambda: daemon.runner.cycles_run, timeout=60, message="a quiet cycle", until=lambda n: n > before)
    quiet = time.monotonic() - started
    return {"first sync": first, "a change": change, "a quiet cycle": quiet}


def test_figures_of_two_and_three_clusters(
    tmp_path: Path, kubeconfig: Path, away: RunningCluster, third: RunningCluster
) -> None:
    figures: dict[int, dict[str, float]] = {}
    for targets in ({"away": away}, {"away": away, "third": third}):
        root = tmp_path / str(len(targets))
        root.mkdir()
        setup = fleet_setup(root, kubeconfig, ["home", *targets])
        try:
            figures[len(targets) + 1] = measure(setup, targets)
        finally:
            for daemon in setup.daemons:
                daemon.stop()
            setup.kube.close()
    for clusters, values in figures.items():
        print(f"\n{clusters} clusters: " + ", ".join(f"{k} {v:.2f}s" for k, v in values.items()))
