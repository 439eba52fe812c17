"""Two daemons on one cluster: exactly one voice, nothing dropped, nothing run twice (issue 16)."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

from tests.clock import FakeClock
from tests.daemon.harness import Setup, http_get, names, post_github_push
from tests.fixtures_cluster import wait_for


def both_running(setup: Setup) -> tuple[object, object]:
    leader = setup.start()
    wait_for(lambda: leader.reconciler.snapshot().last_sync_time, timeout=120, message="the leader's first sync")
    standby = setup.start()
    wait_for(lambda: standby.reconciler.snapshot().ready, timeout=30, message="the standby to be ready")
    assert leader.is_leader() and not standby.is_leader()
    return leader, standby


def test_an_invalid_commit_is_announced_and_recorded_once_by_two_daemons(setup: Setup) -> None:
    leader, standby = both_running(setup)
    setup.platform.apps["app2"]["spec"]["replicas"] = "many"
    bad = setup.commit("break app2")
    for daemon in (standby, leader, standby):
        daemon.runner.request("webhook")
    wait_for(
        lambda: names(setup.sinks[0]), timeout=30, message="validation.failed", until=lambda n: "validation.failed" in n
    )
    wait_for(
        lambda: standby.reconciler.snapshot().invalid_sha,
        timeout=30,
        message="the standby to reject it too",
        until=lambda sha: sha == bad,
    )
    time.sleep(1)
    announced = [e for sink in setup.sinks for e in sink.events if e.name == "validation.failed"]
    assert len(announced) == 1 and announced[0] in setup.sinks[0].events
    records = [r for r in leader.history.list() if r.kind == "validation" and r.revision == bad]
    assert len(records) == 1


def test_a_webhook_sent_to_the_standby_triggers_the_leaders_cycle_within_seconds(setup: Setup) -> None:
    leader, standby = both_running(setup)
    setup.platform.apps["app1"]["spec"]["image"] = "busybox:1.37"
    sha = setup.commit("app1 1.37")
    started = time.monotonic()
    assert post_github_push(standby, delivery=secrets.token_hex(8), sha=sha) == 202
    wait_for(
        lambda: setup.deployment_image("app1"),
        timeout=30,
        message="the leader to apply the pushed commit",
        until=lambda image: image == "busybox:1.37",
    )
    assert time.monotonic() - started < 15
    wait_for(
        lambda: leader.reconciler.snapshot().applied_sha,
        timeout=60,
        message="the leader's sync to finish",
        until=lambda applied: applied == sha,
    )


def test_a_standby_is_ready_and_so_is_a_leader_whose_tenant_waits_for_its_window(setup: Setup) -> None:
    window = {"schedule": "0 22 * * *", "duration": "1h", "timezone": "UTC", "action": "allow", "tenants": ["*"]}
    setup.platform.platform["spec"]["sync"]["windows"] = [window]
    setup.commit("a nightly window")
    daytime = FakeClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    leader = setup.start(clock=daytime.wall)
    wait_for(lambda: leader.reconciler.snapshot().deferred, timeout=60, message="its changes to wait for the window")
    assert leader.is_leader() and leader.reconciler.snapshot().last_sync_time is None, "nothing was synced"
    assert http_get(leader, "/readyz")[0] == 200, "ready all the same: a restart never waits for the window"
    standby = setup.start(clock=daytime.wall)
    wait_for(
        lambda: http_get(standby, "/readyz")[0],
        timeout=30,
        message="the standby ready",
        until=lambda status: status == 200,
    )


def test_killing_the_leader_mid_apply_loses_nothing_and_duplicates_nothing(setup: Setup) -> None:
    leader, standby = both_running(setup)
    for n in range(3):
        setup.platform.apps[f"app{n}"]["spec"]["image"] = "busybox:1.37"
    sha = setup.commit("three images")
    leader.runner.request("webhook")
    wait_for(
        lambda: setup.deployment_image("app0"),
        timeout=30,
        message="the apply to start",
        until=lambda image: image == "busybox:1.37",
    )
    # The leader dies mid-apply, without releasing its lease.
    assert leader.elector is not None
    leader.elector.stop(release=False)
    leader.runner.stop()
    wait_for(standby.is_leader, timeout=15, message="the standby to take over")
    for n in range(3):
        wait_for(
            lambda n=n: setup.deployment_image(f"app{n}"),
            timeout=60,
            message=f"app{n} applied",
            until=lambda image: image == "busybox:1.37",
        )
    wait_for(
        lambda: standby.reconciler.snapshot().applied_sha,
        timeout=60,
        message="the new leader's sync",
        until=lambda applied: applied == sha,
    )
    syncs = [r for r in standby.history.list() if r.revision == sha and r.kind in ("sync", "drift")]
    succeeded = [
        e
        for sink in setup.sinks
        for e in sink.events
        if e.name == "sync.succeeded" and e.commit and e.commit.sha == sha
    ]
    assert len([r for r in syncs if r.result == "succeeded"]) <= 2 and len(succeeded) <= 2
    assert any(r.result == "succeeded" for r in syncs), "the revision's sync is recorded"
