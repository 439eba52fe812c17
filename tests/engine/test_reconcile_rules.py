"""The reconcile cycle's rules, with in-memory ports (tests/engine/ports.py): every rule the module
docstring of ``daemon.engine.reconcile`` promises, in milliseconds. The cluster tests
(tests/daemon/test_run_cluster.py) prove the same on a real API server."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.edges.metrics import DaemonMetrics
from daemon.engine.reconcile import Reconciler, ReconcileSettings
from daemon.engine.scheduler import CycleRunner
from daemon.errors import ClusterError
from daemon.model.events import MemorySink
from tests.clock import FakeClock
from tests.engine.ports import MemoryCluster, MemoryHistory, MemoryPauses, MemorySource
from tests.platforms import PlatformRepo, app_spec, doc

# A Monday, 10:00 UTC: outside the nightly window of the tests below.
MONDAY_10 = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)
NIGHTLY = {"schedule": "0 22 * * *", "duration": "6h", "timezone": "UTC", "action": "allow", "tenants": ["night"]}


class Rig:
    def __init__(self, tmp_path: Path, *, windows: list[dict[str, object]] | None = None) -> None:
        self.repo = PlatformRepo(tmp_path / "platform", "shop", apps=2, windows=windows)
        self.source = MemorySource(self.repo, tmp_path / "revisions")
        self.cluster = MemoryCluster()
        self.sink = MemorySink()
        self.history = MemoryHistory()
        self.pauses = MemoryPauses()
        self.clock = FakeClock(MONDAY_10)
        self.leader = True
        self.night_image = "busybox:1.36"
        self.models: list[object] = []
        self.reconciler = Reconciler(
            self.source,
            self.cluster,
            self.sink,
            metrics=DaemonMetrics(),
            history=self.history,
            pauses=self.pauses,
            settings=ReconcileSettings(backoff_base=5.0, backoff_cap=40.0),
            clock=self.clock.wall,
            monotonic=self.clock.monotonic,
            is_leader=lambda: self.leader,
            on_model=self.models.append,
        )

    def events(self, name: str) -> list[str]:
        return [e.summary for e in self.sink.events if e.name == name]

    def add_tenant(self, name: str) -> None:
        """A second tenant, written next to the repo's own on every commit."""
        original = self.repo.write

        def write() -> Path:
            root = original()
            folder = root / "tenants" / name
            folder.mkdir(parents=True, exist_ok=True)
            import yaml

            tenant = doc("Tenant", name, {"quota": {"cpu": "4", "memory": "4Gi", "pods": 20}})
            (folder / "tenant.yaml").write_text(yaml.safe_dump(tenant))
            (folder / "app-web.yaml").write_text(yaml.safe_dump(doc("App", "web", app_spec(self.night_image))))
            return root

        self.repo.write = write  # type: ignore[method-assign]


def test_a_valid_commit_is_applied_and_the_daemon_becomes_ready(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    sha = rig.source.commit().sha
    outcome = rig.reconciler.cycle("poll")
    assert (outcome.result, outcome.revision) == ("succeeded", sha)
    assert {"app0", "app1"} <= rig.cluster.names("Deployment")
    state = rig.reconciler.snapshot()
    assert state.ready and state.applied_sha == sha and state.last_result == "succeeded"
    assert len(rig.events("sync.succeeded")) == 1
    assert [r.result for r in rig.history.records] == ["succeeded"]
    assert len(rig.models) == 1


def test_an_invalid_commit_is_rejected_whole_and_announced_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    good = rig.source.commit().sha
    rig.reconciler.cycle("poll")
    applied = dict(rig.cluster.live)
    rig.repo.apps["app1"]["spec"]["image"] = "busybox:1.37"  # a valid change in the same commit...
    rig.repo.apps["app0"]["spec"]["replicass"] = 3  # ...next to an invalid one
    bad = rig.source.commit("typo").sha

    outcome = rig.reconciler.cycle("webhook")
    assert (outcome.result, outcome.stopped_at) == ("invalid", "validation")
    assert rig.cluster.live == applied, "nothing of an invalid commit may reach the cluster"
    assert len(rig.cluster.applies) == 1
    [message] = rig.events("validation.failed")
    assert bad[:8] in message and good[:8] in message  # which commit failed, which one stays
    errors = next(e.errors for e in rig.sink.events if e.name == "validation.failed")
    assert any("app-app0.yaml:" in e and "replicass" in e for e in errors)
    state = rig.reconciler.snapshot()
    assert state.revision is not None and state.revision.sha == good and state.invalid_sha == bad

    again = rig.reconciler.cycle("poll")
    assert (again.result, again.stopped_at) == ("noop", "rejected")
    assert len(rig.events("validation.failed")) == 1, "the same rejection is not announced twice"

    del rig.repo.apps["app0"]["spec"]["replicass"]
    fixed = rig.source.commit("fix").sha
    assert rig.reconciler.cycle("poll").result == "succeeded"
    assert rig.reconciler.snapshot().applied_sha == fixed


def test_a_tenant_outside_its_window_waits_while_the_others_are_applied(tmp_path: Path) -> None:
    rig = Rig(tmp_path, windows=[NIGHTLY])
    rig.add_tenant("night")
    sha = rig.source.commit().sha

    outcome = rig.reconciler.cycle("poll")
    assert outcome.result == "succeeded"
    live_namespaces = {r.namespace for r in rig.cluster.live}
    assert "shop" in live_namespaces and "night" not in live_namespaces
    state = rig.reconciler.snapshot()
    assert set(state.deferred) == {"night"} and state.applied_sha != sha
    assert any("night" in p for p in state.pending_changes)
    [waiting] = rig.events("sync.skipped")
    assert "(night)" in waiting and "2030-03-04T22:00:00+00:00" in waiting

    assert rig.reconciler.cycle("poll").result == "skipped"
    assert len(rig.events("sync.skipped")) == 1, "what waits is announced once, not on every poll"

    rig.clock.set(datetime(2030, 3, 4, 22, 30, tzinfo=UTC))  # the window is open
    assert rig.reconciler.cycle("poll").result == "succeeded"
    assert "night" in {r.namespace for r in rig.cluster.live}
    state = rig.reconciler.snapshot()
    assert not state.deferred and state.applied_sha == sha


def test_a_manual_override_ignores_windows_but_never_pauses(tmp_path: Path) -> None:
    rig = Rig(tmp_path, windows=[NIGHTLY])
    rig.add_tenant("night")
    rig.pauses.tenants.add("shop")
    rig.source.commit()
    assert rig.reconciler.cycle("manual", ignore_windows=True).result == "succeeded"
    namespaces = {r.namespace for r in rig.cluster.live}
    assert "night" in namespaces, "the override opens the window"
    assert "shop" not in namespaces, "a paused tenant stays paused"
    assert rig.reconciler.snapshot().deferred == {"shop": "paused"}


def test_pausing_everything_holds_every_tenant_and_the_platform(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.pauses.tenants.add("*")
    rig.source.commit()
    assert rig.reconciler.cycle("poll").result == "skipped"
    assert rig.cluster.live == {}
    assert rig.reconciler.snapshot().deferred.keys() >= {"", "shop"}


def test_a_failing_cycle_backs_off_exponentially_and_is_announced_once_per_streak(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.source.commit()
    rig.cluster.plan_error = ClusterError("connection refused", status=0, reason="Unreachable")

    first = rig.reconciler.cycle("poll")
    assert (first.result, first.stopped_at) == ("failed", "plan")
    assert "connection refused" in first.summary
    assert rig.reconciler.snapshot().failures == 1
    assert not rig.reconciler.retry_due()
    rig.clock.advance(4.9)
    assert not rig.reconciler.retry_due()
    rig.clock.advance(0.2)  # 5 s: the first delay
    assert rig.reconciler.retry_due()

    delays = []
    for _ in range(4):
        before = rig.clock.monotonic()
        rig.reconciler.cycle("poll")
        delays.append(rig.reconciler.snapshot().next_retry - before)
    assert delays == pytest.approx([10.0, 20.0, 40.0, 40.0]), "doubling, capped at backoff_cap"
    assert len(rig.events("sync.failed")) == 1, "a streak of failures is announced once"

    rig.cluster.plan_error = None
    assert rig.reconciler.cycle("poll").result == "succeeded"
    state = rig.reconciler.snapshot()
    assert state.failures == 0 and rig.reconciler.retry_due()


def test_refused_objects_fail_the_sync_and_are_retried(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.source.commit()
    rig.cluster.refuse.add("app1")
    outcome = rig.reconciler.cycle("poll")
    assert outcome.result == "failed"
    [failed] = rig.events("sync.failed")
    assert "admission webhook said no" in failed
    assert rig.reconciler.snapshot().failures == 1
    rig.cluster.refuse.clear()
    rig.clock.advance(10)
    assert rig.reconciler.cycle("poll").result == "succeeded", "a failed sync is not up to date"


def test_a_fetch_error_is_reported_once_and_the_last_good_revision_stays(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    good = rig.source.commit().sha
    rig.reconciler.cycle("poll")
    rig.source.error = "git fetch https://git.example.com/p.git failed: connection timed out"
    for _ in range(3):
        outcome = rig.reconciler.cycle("poll")
        assert (outcome.result, outcome.stopped_at) == ("failed", "fetch")
    assert len([e for e in rig.sink.events if e.details.get("stage") == "fetch"]) == 1
    state = rig.reconciler.snapshot()
    assert state.applied_sha == good and state.fetch_error
    rig.source.error = ""
    rig.reconciler.cycle("poll")
    assert rig.reconciler.snapshot().fetch_error == ""


def test_only_the_leader_writes(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.leader = False
    sha = rig.source.commit().sha
    outcome = rig.reconciler.cycle("webhook")
    assert (outcome.result, outcome.stopped_at) == ("standby", "standby")
    assert rig.cluster.plans == 0 and rig.cluster.applies == []
    state = rig.reconciler.snapshot()
    assert state.revision is not None and state.revision.sha == sha, "the standby stays warm"
    rig.leader = True
    assert rig.reconciler.cycle("poll").result == "succeeded"


def test_a_change_a_standby_sees_is_neither_corrected_nor_announced(tmp_path: Path) -> None:
    """A standby keeps its watches warm, but a hand edit they see (``change``) is the leader's to
    correct and announce: the standby plans nothing, writes nothing and says nothing."""
    rig = Rig(tmp_path)
    rig.source.commit()
    rig.reconciler.cycle("poll")
    rig.leader = False
    deployment = next(r for r in rig.cluster.live if r.kind == "Deployment" and r.name == "app0")
    desired = rig.cluster.live[deployment]["spec"]["replicas"]
    rig.cluster.live[deployment]["spec"]["replicas"] = 7
    plans, applies, events, records = (
        rig.cluster.plans,
        len(rig.cluster.applies),
        len(rig.sink.events),
        len(rig.history.records),
    )
    outcome = rig.reconciler.cycle("change")
    assert (outcome.result, outcome.stopped_at) == ("standby", "standby")
    assert (rig.cluster.plans, len(rig.cluster.applies)) == (plans, applies)
    assert (len(rig.sink.events), len(rig.history.records)) == (events, records)
    assert rig.cluster.live[deployment]["spec"]["replicas"] == 7
    rig.leader = True
    assert rig.reconciler.cycle("change").result == "succeeded"
    assert rig.cluster.live[deployment]["spec"]["replicas"] == desired
    assert rig.history.records[-1].kind == "drift"


def test_a_periodic_cycle_with_nothing_new_does_not_touch_the_cluster(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.source.commit()
    rig.reconciler.cycle("poll")
    outcome = rig.reconciler.cycle("poll")
    assert (outcome.result, outcome.stopped_at) == ("noop", "up-to-date")
    assert rig.cluster.plans == 1
    # Explicit triggers look at the cluster: that is how drift is found.
    assert rig.reconciler.cycle("drift").result == "noop"
    assert rig.cluster.plans == 2


def test_drift_is_corrected_and_announced_as_drift(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.source.commit()
    rig.reconciler.cycle("poll")
    deployment = next(r for r in rig.cluster.live if r.kind == "Deployment" and r.name == "app1")
    rig.cluster.live[deployment]["spec"]["replicas"] = 9  # kubectl scale
    assert rig.reconciler.cycle("drift").result == "succeeded"
    assert rig.cluster.live[deployment]["spec"]["replicas"] == 2
    assert len(rig.events("drift.corrected")) == 1
    assert rig.history.records[-1].kind == "drift"


def test_a_mass_deletion_is_held_and_announced(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.repo.platform["spec"]["prune"]["maxFraction"] = 0.1
    rig.source.commit()
    rig.reconciler.cycle("poll")
    rig.repo.apps.clear()
    rig.repo.volumes.clear()
    rig.source.commit("remove everything")
    outcome = rig.reconciler.cycle("webhook")
    assert outcome.result == "failed"
    assert rig.cluster.names("Deployment") >= {"app0", "app1"}, "nothing was deleted"
    [held] = rig.events("prune.blocked")
    assert "prune.maxFraction" in held


def test_readers_see_the_state_before_or_after_a_cycle_never_in_between(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    first = rig.source.commit().sha
    rig.reconciler.cycle("poll")
    rig.repo.apps["app1"]["spec"]["image"] = "busybox:1.37"
    second = rig.source.commit("bump").sha
    seen = []
    rig.cluster.during_apply = lambda: seen.append(rig.reconciler.snapshot())
    rig.reconciler.cycle("webhook")
    [during] = seen
    assert during.revision is not None and during.revision.sha == first and during.applied_sha == first
    after = rig.reconciler.snapshot()
    assert after.revision is not None and after.revision.sha == second and after.applied_sha == second


def test_a_bug_in_a_step_fails_the_cycle_without_killing_the_daemon(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.source.commit()

    def crash() -> None:
        raise RuntimeError("boom")

    rig.cluster.during_apply = crash
    outcome = rig.reconciler.cycle("poll")
    assert (outcome.result, outcome.stopped_at) == ("failed", "internal")
    assert "RuntimeError: boom" in outcome.summary
    rig.cluster.during_apply = lambda: None
    rig.clock.advance(10)
    assert rig.reconciler.cycle("poll").result == "succeeded"


@pytest.mark.parametrize("trailer", ["dockyard-allow-mass-prune: true", "Dockyard-Allow-Mass-Prune: TRUE"])
def test_a_reviewed_trailer_lets_one_mass_deletion_through(tmp_path: Path, trailer: str) -> None:
    rig = Rig(tmp_path)
    rig.source.commit()
    rig.reconciler.cycle("poll")
    rig.repo.apps.clear()
    rig.source.commit(f"retire the shop\n\n{trailer}")
    assert rig.reconciler.cycle("webhook").result == "succeeded"
    assert rig.cluster.names("Deployment") == set()


def test_a_change_seen_in_the_cluster_is_looked_at_even_while_backing_off(tmp_path: Path) -> None:
    """A workload that stays unhealthy fails every cycle; the periodic drift check then waits out
    the backoff, but a hand edit the watches saw (``change``) is corrected at once, as drift."""
    rig = Rig(tmp_path)
    rig.source.commit()
    rig.reconciler.cycle("poll")
    rig.cluster.refuse.add("app0")  # every apply fails from now on
    deployment = next(r for r in rig.cluster.live if r.kind == "Deployment" and r.name == "app0")
    rig.cluster.live[deployment]["spec"]["replicas"] = 7
    assert rig.reconciler.cycle("drift").result == "failed"
    assert not rig.reconciler.retry_due()
    runner = CycleRunner(rig.reconciler)
    runner.start()
    try:
        app1 = next(r for r in rig.cluster.live if r.kind == "Deployment" and r.name == "app1")
        rig.cluster.live[app1]["spec"]["replicas"] = 9  # kubectl scale
        runner.request("drift")
        time.sleep(0.3)
        assert runner.cycles_run == 0  # the periodic check waits for the retry
        runner.request("change")
        deadline = time.monotonic() + 5
        while runner.cycles_run == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runner.cycles_run == 1
        assert rig.cluster.live[app1]["spec"]["replicas"] == 2
        assert rig.history.records[-1].kind == "drift"
    finally:
        runner.stop()


def test_objects_rendered_twice_reject_the_commit_like_any_invalid_one(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.source.commit()
    rig.reconciler.cycle("poll")
    applied = dict(rig.cluster.live)
    # An App named like the canary track of another: both would be Deployment app1-canary.
    rig.repo.apps["app1"]["spec"]["canary"] = {"image": "busybox:1.37", "weight": 50}
    rig.repo.apps["app1-canary"] = doc("App", "app1-canary", app_spec())
    rig.source.commit("collide")
    outcome = rig.reconciler.cycle("webhook")
    assert (outcome.result, outcome.stopped_at) == ("invalid", "validation")
    assert rig.cluster.live == applied
    errors = next(e.errors for e in rig.sink.events if e.name == "validation.failed")
    assert any("Deployment.apps/shop/app1-canary is rendered twice" in e for e in errors)


def test_no_tenant_may_take_the_daemons_own_namespace(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.reconciler = Reconciler(
        rig.source,
        rig.cluster,
        rig.sink,
        metrics=DaemonMetrics(),
        history=rig.history,
        pauses=rig.pauses,
        settings=ReconcileSettings(reserved_namespaces=("shop",)),
        clock=rig.clock.wall,
        monotonic=rig.clock.monotonic,
        is_leader=lambda: True,
    )
    rig.source.commit()
    assert rig.reconciler.cycle("poll").result == "invalid"
    assert rig.cluster.live == {}
    errors = next(e.errors for e in rig.sink.events if e.name == "validation.failed")
    assert any("namespace 'shop' is reserved" in e for e in errors)
