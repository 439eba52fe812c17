"""`dockyard run` end to end: a real bare git repo, the daemon in this process, the local cluster."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devcluster import RunningCluster
from tests.clock import FakeClock
from tests.daemon.harness import Setup, event, http_get, names, post_github_push
from tests.fixtures_cluster import wait_for


def test_first_sync_then_a_pushed_commit_is_applied_within_seconds_of_a_webhook(setup: Setup, promtool: Path) -> None:
    daemon = setup.start()
    wait_for(lambda: daemon.reconciler.snapshot().last_sync_time, timeout=120, message="the first sync")
    assert http_get(daemon, "/readyz")[0] == 200
    assert setup.deployment_image("app1") == "busybox:1.36"
    assert "sync.succeeded" in names(setup.sinks[0])

    setup.platform.apps["app1"]["spec"]["image"] = "busybox:1.37"
    sha = setup.commit("app1: busybox 1.37")
    started = datetime.now(UTC)
    assert post_github_push(daemon, delivery="d-1", sha=sha) == 202
    wait_for(
        lambda: setup.deployment_image("app1"),
        timeout=20,
        message="app1 at busybox:1.37",
        until=lambda image: image == "busybox:1.37",
    )
    latency = (datetime.now(UTC) - started).total_seconds()
    assert latency < 10, f"commit to applied took {latency:.1f}s"
    wait_for(
        lambda: daemon.reconciler.snapshot().applied_sha,
        timeout=30,
        message="the revision recorded as applied",
        until=lambda applied: applied == sha,
    )
    succeeded = [e for e in setup.sinks[0].events if e.name == "sync.succeeded" and e.commit and e.commit.sha == sha]
    assert succeeded and succeeded[0].commit is not None and "Test Author" in succeeded[0].commit.author
    # A repeated delivery is ignored; a bad signature is refused.
    assert post_github_push(daemon, delivery="d-1", sha=sha) == 202
    assert daemon.server is not None
    forged = urllib.request.Request(
        f"http://{daemon.server.address[0]}:{daemon.server.address[1]}/webhook/github",
        data=b"{}",
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    refused.value.close()
    assert refused.value.code == 401
    # Metrics and history say what happened.
    status, metrics = http_get(daemon, "/metrics")
    assert status == 200
    assert 'dockyard_last_applied_revision_info{author="Test Author <author@example.com>",revision="' + sha in metrics
    assert "dockyard_api_requests_total" in metrics and "dockyard_cycle_duration_seconds_bucket" in metrics
    lint = subprocess.run(
        [str(promtool), "check", "metrics"], input=metrics, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), lint.stdout + lint.stderr
    records = daemon.history.list()
    assert records[0].revision == sha and records[0].result == "succeeded"


def test_an_invalid_commit_is_rejected_whole_and_the_cluster_is_unchanged(setup: Setup) -> None:
    daemon = setup.start()
    wait_for(lambda: daemon.reconciler.snapshot().last_sync_time, timeout=120, message="the first sync")
    good = daemon.reconciler.snapshot().applied_sha
    # One valid change and one invalid document in the same commit: nothing of it may land.
    setup.platform.apps["app1"]["spec"]["image"] = "busybox:1.37"
    setup.platform.apps["app2"]["spec"]["replicas"] = "many"
    bad = setup.commit("break app2")
    daemon.runner.request("webhook")
    wait_for(
        lambda: names(setup.sinks[0]),
        timeout=30,
        message="a validation.failed event",
        until=lambda n: "validation.failed" in n,
    )
    failed = event(setup.sinks[0], "validation.failed")
    assert failed.commit is not None and failed.commit.sha == bad and "Test Author" in failed.commit.author
    assert any("app-app2.yaml" in e and "replicas" in e for e in failed.errors), failed.errors
    assert setup.deployment_image("app1") == "busybox:1.36"
    assert daemon.reconciler.snapshot().applied_sha == good
    assert daemon.history.list()[0].result == "invalid"


def test_drift_is_corrected_on_the_drift_check(setup: Setup) -> None:
    daemon = setup.start(force_conflicts=True)
    wait_for(lambda: daemon.reconciler.snapshot().last_sync_time, timeout=120, message="the first sync")
    deployments = setup.kube.resource_type("apps/v1", "Deployment")
    setup.kube.merge_patch(
        deployments,
        setup.platform.tenant,
        "app2",
        {"spec": {"template": {"spec": {"containers": [{"name": "app2", "image": "evil:1"}]}}}},
    )
    assert setup.deployment_image("app2") == "evil:1"
    daemon.runner.request("drift")
    wait_for(
        lambda: setup.deployment_image("app2"),
        timeout=30,
        message="drift corrected",
        until=lambda image: image == "busybox:1.36",
    )
    wait_for(
        lambda: names(setup.sinks[0]),
        timeout=10,
        message="a drift.corrected event",
        until=lambda n: "drift.corrected" in n,
    )
    assert f"Deployment.apps/{setup.platform.tenant}/app2" in str(event(setup.sinks[0], "drift.corrected").details)


def test_a_hand_edit_is_corrected_within_seconds_and_a_quiet_cycle_lists_nothing(setup: Setup) -> None:
    daemon = setup.start()  # the drift check runs hourly here: only the watches can notice
    wait_for(lambda: daemon.reconciler.snapshot().last_sync_time, timeout=120, message="the first sync")
    # One drift cycle first: the first sync's last steps (its audit record) may still be running.
    settled = daemon.runner.cycles_run
    daemon.runner.request("drift")
    wait_for(lambda: daemon.runner.cycles_run, timeout=30, message="a drift cycle", until=lambda n: n > settled)
    before = daemon.runner.cycles_run
    kube = daemon.kube
    # Writes of objects (the lease's renewals go on meanwhile, as patches).
    writes = ("apply", "create", "delete")
    lists, written = kube.requests["list"], [kube.requests[w] for w in writes]
    daemon.runner.request("drift")
    wait_for(lambda: daemon.runner.cycles_run, timeout=30, message="a drift cycle", until=lambda n: n > before)
    assert kube.requests["list"] == lists  # from the watches
    assert [kube.requests[w] for w in writes] == written
    started = time.monotonic()
    kubectl = ["kubectl", f"--kubeconfig={setup.kube_config}", "-n", setup.platform.tenant]
    subprocess.run([*kubectl, "set", "env", "deploy/app2", "DRIFT=1"], check=True, capture_output=True)

    def env() -> object:
        obj = setup.kube.get(setup.kube.resource_type("apps/v1", "Deployment"), setup.platform.tenant, "app2")
        return None if obj is None else obj["spec"]["template"]["spec"]["containers"][0].get("env")

    wait_for(env, timeout=30, message="the hand edit taken back", until=lambda value: value is None)
    corrected = time.monotonic() - started
    assert corrected < 10, f"drift took {corrected:.1f}s to correct"
    wait_for(
        lambda: names(setup.sinks[0]),
        timeout=10,
        message="a drift.corrected event",
        until=lambda n: "drift.corrected" in n,
    )
    assert kube.requests["list"] == lists  # still no list: the watches saw it all


@pytest.mark.parametrize(
    ("window", "closed_at", "open_at", "next_open"),
    [
        # A deny window (a freeze) is open from 21:00 for an hour: skipped at 21:30, applied at 22:30.
        ({"schedule": "0 21 * * *", "duration": "1h", "action": "deny"}, (21, 30), (22, 30), None),
        # An allow window opens at 22:00 for two hours: skipped at 21:00, applied at 22:30.
        (
            {"schedule": "0 22 * * *", "duration": "2h", "action": "allow"},
            (21, 0),
            (22, 30),
            "2026-03-02T22:00:00+00:00",
        ),
    ],
    ids=["deny-window", "allow-window"],
)
def test_a_closed_window_skips_and_the_open_window_applies(
    setup: Setup,
    window: dict[str, Any],
    closed_at: tuple[int, int],
    open_at: tuple[int, int],
    next_open: str | None,
) -> None:
    clock = FakeClock(datetime(2026, 3, 2, *closed_at, tzinfo=UTC))  # a Monday
    setup.platform.platform["spec"]["sync"]["windows"] = [{**window, "timezone": "UTC", "tenants": ["*"]}]
    setup.commit("sync window")
    daemon = setup.start(clock=clock.wall)
    wait_for(
        lambda: names(setup.sinks[0]),
        timeout=60,
        message="sync.skipped while the window is closed",
        until=lambda n: "sync.skipped" in n,
    )
    assert setup.deployment_image("app1") is None  # nothing was applied
    skipped = event(setup.sinks[0], "sync.skipped")
    assert skipped.details["nextOpen"] == next_open
    assert setup.platform.tenant in daemon.reconciler.snapshot().deferred
    # Ready all the same: it knows the cluster's state, and waits (a rolling restart must not).
    assert daemon.reconciler.snapshot().ready
    clock.set(datetime(2026, 3, 2, *open_at, tzinfo=UTC))
    daemon.runner.request("poll")
    wait_for(
        lambda: setup.deployment_image("app1"),
        timeout=60,
        message="the apply once the window is open",
        until=lambda image: image == "busybox:1.36",
    )
    wait_for(
        lambda: daemon.reconciler.snapshot().deferred,
        timeout=30,
        message="nothing waits once the window opened",
        until=lambda deferred: deferred == {},
    )
    assert daemon.reconciler.snapshot().last_sync_time is not None


def test_two_daemons_elect_one_leader_and_fail_over(setup: Setup) -> None:
    first = setup.start()
    wait_for(lambda: first.reconciler.snapshot().last_sync_time, timeout=60, message="the leader's first sync")
    second = setup.start()
    wait_for(lambda: second.reconciler.snapshot().revision, timeout=30, message="the standby to load the revision")
    assert first.is_leader() and not second.is_leader()
    # The standby loads and validates but never writes.
    setup.platform.apps["app1"]["spec"]["image"] = "busybox:1.37"
    setup.commit("app1 1.37")
    second.runner.request("webhook")
    wait_for(lambda: second.runner.cycles_run, timeout=30, message="a standby cycle", until=lambda n: n >= 2)
    assert setup.deployment_image("app1") == "busybox:1.36"
    # The leader dies without releasing its lease: the standby takes over within seconds.
    assert first.elector is not None
    first.elector.stop(release=False)
    first.runner.stop()
    wait_for(second.is_leader, timeout=10, message="the standby to become leader")
    wait_for(
        lambda: setup.deployment_image("app1"),
        timeout=30,
        message="the new leader to apply",
        until=lambda image: image == "busybox:1.37",
    )


def test_an_api_server_restart_mid_cycle_still_converges(setup: Setup, cluster: RunningCluster) -> None:
    for i in range(3, 40):
        setup.platform.apps[f"app{i}"] = json.loads(json.dumps(setup.platform.apps["app1"]))
        setup.platform.apps[f"app{i}"]["metadata"]["name"] = f"app{i}"
    setup.commit("many apps")
    daemon = setup.start(backoff_base=0.5, backoff_cap=2.0)
    restarted = threading.Event()

    def restart_when_applying() -> None:
        wait_for(
            lambda: daemon.kube.requests["apply"],
            timeout=60,
            message="the apply to start",
            until=lambda n: n > 3,
            interval=0.02,
        )
        cluster.restart_apiserver()
        restarted.set()

    thread = threading.Thread(target=restart_when_applying)
    thread.start()
    thread.join(120)
    assert restarted.is_set()

    # Retries with backoff (the poll trigger honours it) converge once the server is back.
    def converged() -> bool:
        daemon.runner.request("poll")
        return daemon.reconciler.snapshot().applied_sha != "" and setup.deployment_image("app39") is not None

    wait_for(converged, timeout=120, message="convergence after the API server restart", interval=1)
    assert daemon.runner._thread.is_alive()


def test_an_unreachable_remote_keeps_the_last_good_revision_and_is_reported_once(setup: Setup) -> None:
    daemon = setup.start()
    wait_for(lambda: daemon.reconciler.snapshot().last_sync_time, timeout=120, message="the first sync")
    good = daemon.reconciler.snapshot().applied_sha
    hidden = setup.remote.with_name("moved.git")
    setup.remote.rename(hidden)
    for _ in range(3):
        before = daemon.runner.cycles_run
        daemon.runner.request("webhook")
        wait_for(
            lambda b=before: daemon.runner.cycles_run, timeout=30, message="a cycle", until=lambda n, b=before: n > b
        )
    fetch_failures = [e for e in setup.sinks[0].events if e.name == "sync.failed" and e.details.get("stage") == "fetch"]
    assert len(fetch_failures) == 1
    state = daemon.reconciler.snapshot()
    assert state.fetch_error and state.applied_sha == good
    assert setup.deployment_image("app1") == "busybox:1.36"
    hidden.rename(setup.remote)
    daemon.runner.request("webhook")
    wait_for(
        lambda: daemon.reconciler.snapshot().fetch_error,
        timeout=30,
        message="the fetch error to clear",
        until=lambda error: error == "",
    )


def test_sigterm_stops_between_objects_and_exits_zero(setup: Setup, tmp_path: Path) -> None:
    for i in range(3, 30):
        setup.platform.apps[f"app{i}"] = json.loads(json.dumps(setup.platform.apps["app1"]))
        setup.platform.apps[f"app{i}"]["metadata"]["name"] = f"app{i}"
    setup.commit("many apps")
    dockyard = Path(sys.executable).parent / "dockyard"
    command = [
        str(dockyard),
        "run",
        "--repo",
        setup.remote.as_uri(),
        "--branch",
        "main",
        "--kubeconfig",
        str(setup.kube_config),
        "--namespace",
        setup.namespace,
        "--no-listen",
        "--workdir",
        str(tmp_path / "work"),
        "--interval",
        "1h",
    ]
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            # Stop it in the middle of the first apply.
            wait_for(
                lambda: setup.deployment_image("app3"),
                timeout=60,
                message="the apply to be under way",
                until=lambda image: image is not None,
                interval=0.05,
            )
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log.read_text()[-3000:]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    text = log.read_text()
    assert "received SIGTERM, stopping" in text
    assert "Traceback" not in text
    # The lease was released: a successor does not have to wait for it to expire.
    lease = setup.kube.get(
        setup.kube.resource_type("coordination.k8s.io/v1", "Lease"), setup.namespace, "dockyard-leader"
    )
    assert lease is not None and not lease["spec"].get("holderIdentity")
    # And a new daemon finishes the job.
    daemon = setup.start()
    wait_for(lambda: daemon.reconciler.snapshot().last_sync_time, timeout=60, message="the successor to converge")
    assert setup.deployment_image("app29") == "busybox:1.36"


def test_a_paused_tenant_waits_and_resumes(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    from daemon.cli import main

    daemon = setup.start()
    wait_for(lambda: daemon.reconciler.snapshot().last_sync_time, timeout=120, message="the first sync")
    args = ["--kubeconfig", str(setup.kube_config), "--namespace", setup.namespace]
    assert main(["pause", setup.platform.tenant, *args]) == 0
    assert capsys.readouterr().out.strip() == f"paused: {setup.platform.tenant}"
    setup.platform.apps["app1"]["spec"]["image"] = "busybox:1.37"
    setup.commit("while paused")
    daemon.runner.request("webhook")
    wait_for(
        lambda: daemon.reconciler.snapshot().deferred,
        timeout=30,
        message="the change held back",
        until=lambda deferred: deferred.get(setup.platform.tenant) == "paused",
    )
    assert setup.deployment_image("app1") == "busybox:1.36"
    assert main(["resume", setup.platform.tenant, *args]) == 0
    assert capsys.readouterr().out.strip() == "paused: none"
    daemon.runner.request("poll")
    wait_for(
        lambda: setup.deployment_image("app1"),
        timeout=30,
        message="the change applied after resume",
        until=lambda image: image == "busybox:1.37",
    )
    # "*" pauses everything, tenants that did not exist when it was paused included.
    assert main(["pause", "*", *args]) == 0
    capsys.readouterr()
    setup.platform.apps["app2"]["spec"]["image"] = "busybox:1.37"
    setup.commit("while everything is paused")
    daemon.runner.request("webhook")
    wait_for(
        lambda: daemon.reconciler.snapshot().deferred,
        timeout=30,
        message="the change held back by '*'",
        until=lambda deferred: deferred.get(setup.platform.tenant) == "paused",
    )
    assert setup.deployment_image("app2") == "busybox:1.36"
    assert main(["resume", "*", *args]) == 0


def test_scheduled_scaling_changes_the_hpa_when_its_window_opens_and_closes(setup: Setup) -> None:
    clock = FakeClock(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))  # a Monday, before the morning window
    setup.platform.autoscalings["app1"] = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "Autoscaling",
        "metadata": {"name": "app1"},
        "spec": {
            "target": "app1",
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [{"cpu": "70%"}],
            "schedules": [
                {"cron": "0 8 * * 1-5", "duration": "10h", "minReplicas": 4, "maxReplicas": 6, "timezone": "UTC"}
            ],
        },
    }
    setup.commit("office hours")
    daemon = setup.start(clock=clock.wall)
    wait_for(lambda: daemon.reconciler.snapshot().last_sync_time, timeout=120, message="the first sync")
    hpas = setup.kube.resource_type("autoscaling/v2", "HorizontalPodAutoscaler")

    def bounds() -> tuple[int, int]:
        spec = (setup.kube.get(hpas, setup.platform.tenant, "app1") or {})["spec"]
        return spec["minReplicas"], spec["maxReplicas"]

    assert bounds() == (1, 3)
    clock.set(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    daemon.runner.request("poll")
    wait_for(bounds, timeout=30, message="the HPA raised for office hours", until=lambda b: b == (4, 6))
    wait_for(
        lambda: names(setup.sinks[0]),
        timeout=10,
        message="a scaling.succeeded event",
        until=lambda n: "scaling.succeeded" in n,
    )
    scaled = event(setup.sinks[0], "scaling.succeeded")
    assert scaled.tenant == setup.platform.tenant and scaled.app == "app1"
    assert (scaled.details["before"], scaled.details["after"]) == ("1-3", "4-6")
    clock.set(datetime(2026, 3, 2, 18, 0, tzinfo=UTC))  # the window has closed
    daemon.runner.request("poll")
    wait_for(bounds, timeout=30, message="the HPA back to its normal bounds", until=lambda b: b == (1, 3))
    assert "drift.corrected" not in names(setup.sinks[0])
