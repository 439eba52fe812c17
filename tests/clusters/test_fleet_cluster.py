"""One daemon, two real clusters: a tenant on both, one cluster down, a tenant moved between them.

The session's local cluster is ``home``; this module starts a second one (``away``). The daemon
drives both (``--cluster home --target away=KUBECONFIG``); each has its own inventory, cache and
back-off. The figures of the move are printed (run with ``-s``) for ARCHITECTURE.md.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.edges.kube import KubeClient
from daemon.runtime.settings import ClusterTarget
from daemon.state.history import HistoryStore
from devcluster import RunningCluster
from tests.daemon.harness import Setup, http_get
from tests.fixtures_cluster import wait_for
from tests.platforms import PlatformRepo, git

ALLOW_MASS_PRUNE = "\n\ndockyard-allow-mass-prune: true"


@pytest.fixture
def setup(tmp_path: Path, kubeconfig: Path, away: RunningCluster) -> Iterator[Setup]:
    prefix = f"mc-{secrets.token_hex(3)}"
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    platform = PlatformRepo(work, prefix, apps=2)
    platform.platform["spec"]["clusters"] = [
        {"name": "home", "region": "eu-central-1", "labels": {"zone": "eu"}, "default": True},
        # `dockyard plan/apply --cluster away` reach it through this file (the daemon: --target).
        {
            "name": "away",
            "region": "us-east-1",
            "labels": {"zone": "us"},
            "connection": {"kubeconfig": "away.kubeconfig"},
        },
    ]
    platform.tenant_doc["spec"]["placement"] = {"clusters": ["home", "away"]}
    kube = KubeClient(str(kubeconfig))
    s = Setup(remote, work, platform, kube, namespace=f"dockyard-{prefix}")
    s.kube_config = kubeconfig
    s.commit("a tenant on both clusters")
    yield s
    for daemon in s.daemons:
        daemon.stop()
    kube.close()


def deployment(kube: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    return kube.get(kube.resource_type("apps/v1", "Deployment"), namespace, name)


def image(kube: KubeClient, namespace: str, name: str) -> str | None:
    found = deployment(kube, namespace, name)
    return None if found is None else str(found["spec"]["template"]["spec"]["containers"][0]["image"])


def start(setup: Setup, away: RunningCluster) -> Any:
    target = ClusterTarget("away", str(away.kubeconfig))
    # force_conflicts: the test's hand edits are made by a manager that is not kubectl's
    return setup.start(cluster_name="home", targets=(target,), backoff_base=0.5, backoff_cap=2.0, force_conflicts=True)


def synced(daemon: Any, sha: str) -> dict[str, str]:
    return {name: state.applied_sha for name, state in daemon.fleet.states().items() if state.applied_sha == sha}


def test_a_tenant_on_both_then_one_cluster_down_then_a_move(setup: Setup, away: RunningCluster) -> None:
    tenant = setup.platform.tenant
    remote_kube = KubeClient(str(away.kubeconfig))
    try:
        daemon = start(setup, away)
        sha = git(setup.work, "rev-parse", "HEAD")
        # 1. Placed on both: applied to both, each cluster with its own inventory.
        started = time.monotonic()
        wait_for(lambda: synced(daemon, sha), timeout=180, message="both clusters synced", until=lambda s: len(s) == 2)
        first_sync = time.monotonic() - started
        assert image(setup.kube, tenant, "app1") == image(remote_kube, tenant, "app1") == "busybox:1.36"
        status = http_get(daemon, "/status")
        assert status[0] == 200 and '"away"' in status[1] and '"home"' in status[1]

        # Drift on away is corrected on away only: home sends nothing.
        home_applies = daemon.kube.requests["apply"]
        remote_kube.merge_patch(
            remote_kube.resource_type("apps/v1", "Deployment"),
            tenant,
            "app1",
            {"spec": {"template": {"spec": {"containers": [{"name": "app1", "image": "evil:1"}]}}}},
        )
        daemon.runner.request("drift")
        wait_for(
            lambda: image(remote_kube, tenant, "app1"),
            timeout=60,
            message="drift corrected",
            until=lambda i: i == "busybox:1.36",
        )
        wait_for(
            lambda: [e for e in setup.sinks[0].events if e.name == "drift.corrected"],
            timeout=30,
            message="drift.corrected",
        )
        assert [e.details.get("cluster") for e in setup.sinks[0].events if e.name == "drift.corrected"] == ["away"]
        assert daemon.kube.requests["apply"] == home_applies

        # 2. The away cluster's API server stops: home converges, away's failure is said once.
        away.stop_component("kube-apiserver")
        setup.platform.apps["app1"]["spec"]["image"] = "busybox:1.37"
        changed = setup.commit("a new image while away is down")
        for _ in range(3):
            before = daemon.runner.cycles_run
            daemon.runner.request("webhook")
            wait_for(
                lambda b=before: daemon.runner.cycles_run,
                timeout=120,
                message="a cycle",
                until=lambda n, b=before: n > b,
            )
        assert image(setup.kube, tenant, "app1") == "busybox:1.37"
        states = daemon.fleet.states()
        assert states["home"].applied_sha == changed
        assert states["away"].last_result == "failed" and states["away"].applied_sha == sha
        failed = [e for e in setup.sinks[0].events if e.name == "sync.failed"]
        assert [e.details.get("cluster") for e in failed] == ["away"], [e.summary for e in failed]
        assert failed[0].summary.startswith("[away] ")

        # Back up: away catches up by itself (its back-off retries on the poll).
        away.start_component("kube-apiserver")

        def caught_up() -> bool:
            daemon.runner.request("poll")
            return image(remote_kube, tenant, "app1") == "busybox:1.37"

        wait_for(caught_up, timeout=180, message="away to catch up", interval=1)
        wait_for(lambda: synced(daemon, changed), timeout=120, message="away healthy", until=lambda s: len(s) == 2)
        wait_for(daemon.runner.idle, timeout=60, message="no cycle running")
        assert [e.details.get("cluster") for e in setup.sinks[0].events if e.name == "sync.failed"] == ["away"]

        # 3. A move (home -> away only): created on away first, pruned on home after; the whole
        # tenant leaving home is a mass deletion, held by the guard until the trailer lifts it.
        seen: dict[str, float] = {}
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                now = time.monotonic()
                if "home-gone" not in seen and deployment(setup.kube, tenant, "app1") is None:
                    seen["home-gone"] = now
                time.sleep(0.05)

        setup.platform.tenant_doc["spec"]["placement"] = {"clusters": ["away"]}
        setup.platform.apps["app1"]["spec"]["image"] = "busybox:1.36"  # so "created there" is visible
        moved = setup.commit("move the tenant to away" + ALLOW_MASS_PRUNE)
        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        move_started = time.monotonic()
        daemon.runner.request("webhook")
        wait_for(
            lambda: image(remote_kube, tenant, "app1"),
            timeout=180,
            message="the tenant on away",
            until=lambda i: i == "busybox:1.36",
        )
        seen["away-created"] = time.monotonic()
        wait_for(lambda: "home-gone" in seen, timeout=180, message="the tenant pruned on home")
        move_seconds = max(seen.values()) - move_started
        stop.set()
        thread.join(5)
        assert seen["away-created"] <= seen["home-gone"] + 0.1, seen  # polled at 50 ms: never pruned first
        wait_for(
            lambda: synced(daemon, moved), timeout=120, message="both clusters at the move", until=lambda s: len(s) == 2
        )
        records = [r for r in daemon.history.list() if r.revision == moved]
        assert {r.cluster for r in records} == {"home", "away"}, records
        print(
            f"\nfigures: first sync of 2 clusters {first_sync:.1f}s; tenant move {move_seconds:.1f}s "
            f"(created on away after {seen['away-created'] - move_started:.1f}s, "
            f"pruned on home after {seen['home-gone'] - move_started:.1f}s); audit records {len(records)}"
        )
        # The command line plans each cluster through platform.yaml's connection: both converged.
        kubeconfigs = setup.remote.parent / "kubeconfigs"
        kubeconfigs.mkdir()
        (kubeconfigs / "away.kubeconfig").write_bytes(away.kubeconfig.read_bytes())
        common = ["plan", "--repo", str(setup.work), "--namespace", setup.namespace, "--detailed-exitcode"]
        common += ["--kubeconfig", str(setup.kube_config)]  # home's: --cluster away must not use it
        assert dockyard(*common, "--cluster", "away", "--cluster-kubeconfigs", str(kubeconfigs)).returncode == 0
        assert dockyard(*common, "--cluster", "home").returncode == 0
        applied = dockyard(
            "apply",
            "--repo",
            str(setup.work),
            "--namespace",
            setup.namespace,
            "--no-wait",
            "--cluster",
            "away",
            "--cluster-kubeconfigs",
            str(kubeconfigs),
            "--kubeconfig",
            str(setup.kube_config),
        )
        assert applied.returncode == 0, applied.stderr
        [record] = [r for r in HistoryStore(remote_kube, namespace=setup.namespace).list() if r.trigger == "cli"]
        assert (record.cluster, record.command) == ("away", "dockyard apply")
        missing = dockyard("plan", "--repo", str(setup.work), "--cluster", "away")  # no --cluster-kubeconfigs
        assert (
            missing.returncode == 2 and "give the directory that holds it with --cluster-kubeconfigs" in missing.stderr
        )
    finally:
        remote_kube.close()


def change_on_home(setup: Setup, daemon: Any, app: str, new_image: str, message: str) -> float:
    """Commits a new image for ``app`` and returns the seconds until the home cluster has it."""
    setup.platform.apps[app]["spec"]["image"] = new_image
    setup.commit(message)
    started = time.monotonic()
    daemon.runner.request("webhook")
    wait_for(
        lambda: image(setup.kube, setup.platform.tenant, app),
        timeout=60,
        message=f"home to apply {message}",
        until=lambda i: i == new_image,
    )
    return time.monotonic() - started


def dockyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_platform_file_names_the_clusters_and_a_hung_one_delays_nobody(
    setup: Setup, away: RunningCluster, tmp_path: Path
) -> None:
    """No --target: the daemon drives away because platform.yaml gives it a connection (a file in
    --cluster-kubeconfigs, then a Secret in the daemon's namespace); away's API server hung
    (SIGSTOP: it accepts connections and answers nothing) does not hold home's apply."""
    tenant = setup.platform.tenant
    remote_kube = KubeClient(str(away.kubeconfig))
    kubeconfigs = tmp_path / "kubeconfigs"
    kubeconfigs.mkdir()
    (kubeconfigs / "away.kubeconfig").write_bytes(away.kubeconfig.read_bytes())
    try:
        daemon = setup.start(cluster_name="home", kubeconfigs_dir=kubeconfigs, backoff_base=0.5, backoff_cap=2.0)
        sha = git(setup.work, "rev-parse", "HEAD")
        wait_for(lambda: synced(daemon, sha), timeout=180, message="both clusters synced", until=lambda s: len(s) == 2)
        assert image(remote_kube, tenant, "app1") == "busybox:1.36"
        assert [t.name for t in daemon.fleet.targets] == ["home", "away"]

        # The platform team moves away's credentials into a Secret next to the daemon's lease.
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "cluster-away", "namespace": setup.namespace},
            "data": {"kubeconfig": base64.b64encode(away.kubeconfig.read_bytes()).decode()},
        }
        setup.kube.create(secret)
        setup.platform.platform["spec"]["clusters"][1]["connection"] = {"secret": "cluster-away"}
        setup.platform.apps["app1"]["spec"]["image"] = "busybox:1.37"
        by_secret = setup.commit("away through a Secret")
        daemon.runner.request("webhook")
        wait_for(
            lambda: synced(daemon, by_secret), timeout=120, message="both at the Secret", until=lambda s: len(s) == 2
        )
        joined = daemon.fleet.targets[1].joined_as
        assert joined is not None and joined.secret == "cluster-away"
        assert image(remote_kube, tenant, "app1") == "busybox:1.37"
        # The kubeconfig (a client key) is in no event, record or log line.
        key = away.kubeconfig.read_text()
        assert all(key not in e.summary and key not in str(e.details) for e in setup.sinks[0].events)

        # away hangs: home's change lands while away's requests wait on their timeouts.
        away.freeze("kube-apiserver")
        try:
            home_seconds = change_on_home(setup, daemon, "app1", "busybox:1.38", "a new image while away hangs")
            assert daemon.fleet.states()["away"].applied_sha == by_secret
            # And the change after it: away's cycle still hangs, the fleet leaves it to it.
            next_seconds = change_on_home(setup, daemon, "app0", "busybox:1.38", "another change while away hangs")
            hung = git(setup.work, "rev-parse", "HEAD")
            assert next_seconds < 30, f"the next change waited {next_seconds:.1f}s for the hung cluster"
            # The leader watches away's health too: its API server not answering is told, named.
            degraded = wait_for(
                lambda: [e for e in setup.sinks[0].events if e.name == "controlplane.degraded"],
                timeout=180,
                message="away's control plane reported",
            )
            assert [e.details.get("cluster") for e in degraded] == ["away"], [e.summary for e in degraded]
            assert degraded[0].summary.startswith("[away] The API server does not answer")
        finally:
            away.thaw("kube-apiserver")

        def caught_up() -> dict[str, str]:
            daemon.runner.request("poll")  # away retries on its back-off, on the next poll
            return synced(daemon, hung)

        wait_for(caught_up, timeout=180, message="away catches up", until=lambda s: len(s) == 2, interval=1)
        wait_for(
            lambda: [e for e in setup.sinks[0].events if e.name == "controlplane.recovered"],
            timeout=120,
            message="away's control plane recovered",
        )
        print(
            f"\nfigures: while away hung, home applied a change {home_seconds:.1f}s after its trigger "
            f"and the next one {next_seconds:.1f}s after its trigger"
        )

        # Dropped from the platform file: no longer driven, and what runs there stays.
        setup.platform.platform["spec"]["clusters"].pop()
        setup.platform.tenant_doc["spec"]["placement"] = {"clusters": ["home"]}
        dropped = setup.commit("away leaves the platform")
        daemon.runner.request("webhook")
        wait_for(
            lambda: [t.name for t in daemon.fleet.targets],
            timeout=60,
            message="away dropped",
            until=lambda n: n == ["home"],
        )
        wait_for(
            lambda: daemon.reconciler.snapshot().applied_sha, timeout=60, message="home", until=lambda s: s == dropped
        )
        assert image(remote_kube, tenant, "app1") == "busybox:1.38"
        failed = [e.summary for e in setup.sinks[0].events if e.name == "sync.failed"]
        assert not [f for f in failed if "not in platform.yaml" in f], failed
    finally:
        remote_kube.close()


def test_backups_run_on_the_cluster_a_volume_is_placed_on_and_name_it(setup: Setup, away: RunningCluster) -> None:
    """The leader's backup run covers every cluster it drives, each with the tenants placed there:
    a tenant on away only gets its snapshot on away, and the events say so."""
    tenant = setup.platform.tenant
    setup.platform.volumes["data"]["spec"]["backup"] = {"schedule": "0 3 * * *", "retention": {"last": 2}}
    setup.platform.tenant_doc["spec"]["placement"] = {"clusters": ["away"]}
    sha = setup.commit("the tenant on away only, its volume backed up")
    remote_kube = KubeClient(str(away.kubeconfig))
    snapshots = remote_kube.resource_type("snapshot.storage.k8s.io/v1", "VolumeSnapshot")
    try:
        daemon = start(setup, away)
        wait_for(lambda: synced(daemon, sha), timeout=180, message="both clusters synced", until=lambda s: len(s) == 2)
        claims = remote_kube.resource_type("v1", "PersistentVolumeClaim")
        wait_for(
            lambda: (remote_kube.get(claims, tenant, "data") or {}).get("status", {}).get("phase"),
            timeout=60,
            message="the claim on away bound",
            until=lambda phase: phase == "Bound",
        )
        daemon.run_backups()  # home: the tenant is not there, nothing to take
        assert setup.kube.list_objects(snapshots, namespace=tenant) == []
        daemon.run_remote_backups()
        taken = wait_for(
            lambda: remote_kube.list_objects(snapshots, namespace=tenant), timeout=30, message="a snapshot on away"
        )
        assert len(taken) == 1
        created = [e for e in setup.sinks[0].events if e.name == "backup.created"]
        assert [(e.tenant, e.details.get("cluster")) for e in created] == [(tenant, "away")]
    finally:
        remote_kube.close()
