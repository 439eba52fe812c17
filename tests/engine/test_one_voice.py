"""Only the leader speaks; a restarted daemon is ready at once; unsigned commits are refused when
signatures are required: the cycle's rules of issue 16, with in-memory ports."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from daemon.model.refs import Revision, Signature
from tests.engine.ports import MemorySource
from tests.engine.test_reconcile_rules import NIGHTLY, Rig


def test_a_standby_validates_silently_and_the_new_leader_announces_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.source.commit()
    rig.reconciler.cycle("poll")
    rig.repo.apps["app0"]["spec"]["replicass"] = 3
    bad = rig.source.commit("typo").sha
    rig.leader = False
    for trigger in ("webhook", "poll", "poll"):
        rig.reconciler.cycle(trigger)  # type: ignore[arg-type]
    assert rig.events("validation.failed") == [], "a standby never announces"
    assert [r.kind for r in rig.history.records] == ["sync"], "a standby never records"
    assert rig.reconciler.snapshot().invalid_sha == bad, "but it knows the revision is invalid"

    rig.leader = True  # a failover: the old leader died before announcing
    rig.reconciler.cycle("poll")
    rig.reconciler.cycle("poll")
    assert len(rig.events("validation.failed")) == 1
    assert [r.kind for r in rig.history.records] == ["sync", "validation"]


def test_a_new_leader_does_not_repeat_what_the_old_leader_announced(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.source.commit()
    rig.reconciler.cycle("poll")
    rig.repo.apps["app0"]["spec"]["replicass"] = 3
    rig.source.commit("typo")
    rig.reconciler.cycle("webhook")  # the old leader: announced and recorded
    assert len(rig.events("validation.failed")) == 1

    successor = Rig(tmp_path / "successor")  # a fresh daemon sharing the audit trail
    successor.source = rig.source
    successor.history = rig.history
    successor.reconciler = replace_ports(successor, source=rig.source, history=rig.history)
    successor.reconciler.cycle("poll")
    assert successor.events("validation.failed") == [], "the audit trail shows it was announced"
    assert [r.kind for r in rig.history.records] == ["sync", "validation"]


def replace_ports(rig: Rig, *, source: MemorySource, history: object) -> object:
    from daemon.edges.metrics import DaemonMetrics
    from daemon.engine.reconcile import Reconciler

    return Reconciler(
        source,
        rig.cluster,
        rig.sink,
        metrics=DaemonMetrics(),
        history=history,  # type: ignore[arg-type]
        pauses=rig.pauses,
        clock=rig.clock.wall,
        monotonic=rig.clock.monotonic,
    )


def test_a_restart_against_a_converged_cluster_is_ready_while_a_tenant_waits(tmp_path: Path) -> None:
    rig = Rig(tmp_path, windows=[NIGHTLY])
    rig.add_tenant("night")
    rig.source.commit()
    rig.clock.set(datetime(2030, 3, 4, 23, 0, tzinfo=UTC))  # the window is open: everything lands
    rig.reconciler.cycle("poll")
    rig.clock.set(datetime(2030, 3, 5, 10, 0, tzinfo=UTC))  # daytime, window closed
    rig.repo.tenant_doc["spec"]["quota"]["pods"] = 60  # shop's change applies, night's waits
    rig.night_image = "busybox:1.37"
    rig.source.commit("shop quota, night image")
    assert rig.reconciler.cycle("poll").result == "succeeded"
    assert set(rig.reconciler.snapshot().deferred) == {"night"}

    restarted = Rig(tmp_path / "restart", windows=[NIGHTLY])
    restarted.cluster = rig.cluster
    restarted.reconciler = replace_ports(restarted, source=rig.source, history=rig.history)
    outcome = restarted.reconciler.cycle("poll")
    assert outcome.result == "skipped", "night's change still waits for its window"
    assert restarted.reconciler.snapshot().ready, "the daemon knows the cluster's state: ready at once"


def test_a_daemon_waiting_only_for_a_window_is_ready(tmp_path: Path) -> None:
    rig = Rig(tmp_path, windows=[{**NIGHTLY, "tenants": ["*"]}])
    rig.source.commit()
    outcome = rig.reconciler.cycle("poll")
    assert outcome.result == "skipped"
    state = rig.reconciler.snapshot()
    assert state.ready and state.deferred, "it knows the cluster's state: everything waits for the window"
    assert state.last_sync_time is None, "but nothing was synced yet"


def test_a_standby_is_ready_once_it_has_loaded_the_revision(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.leader = False
    rig.source.commit()
    assert rig.reconciler.cycle("poll").result == "standby"
    assert rig.reconciler.snapshot().ready


def _signed(revision: Revision, status: str, signer: str = "") -> Revision:
    return replace(revision, signature=Signature(status, signer, "SHA256:abc", ""))  # type: ignore[arg-type]


class SigningSource(MemorySource):
    """Revisions with the signature a test says the edge read."""

    signature = Signature()

    def fetch(self) -> Revision:
        return replace(super().fetch(), signature=self.signature)


def test_unsigned_commits_are_refused_whole_when_the_platform_requires_signatures(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.repo.platform["spec"]["verify"] = {"required": True, "signers": ["alice@example.com"]}
    source = SigningSource(rig.repo, tmp_path / "signed")
    rig.reconciler = replace_ports(rig, source=source, history=rig.history)
    source.signature = Signature("none")
    first = source.commit("unsigned")
    outcome = rig.reconciler.cycle("poll")
    assert (outcome.result, outcome.stopped_at) == ("invalid", "validation")
    assert rig.cluster.live == {}
    [refused] = [e for e in rig.sink.events if e.name == "validation.failed"]
    assert first.sha[:8] in refused.summary
    assert any("is not signed" in e and "spec.verify.required" in e for e in refused.errors)

    source.signature = Signature("good", "mallory@example.com", "SHA256:m")
    source.commit("signed by someone else")
    rig.reconciler.cycle("poll")
    assert rig.cluster.live == {}
    assert any("not among the allowed signers" in e for e in rig.sink.events[-1].errors)

    source.signature = Signature("good", "alice@example.com", "SHA256:a")
    applied = source.commit("signed by alice")
    assert rig.reconciler.cycle("poll").result == "succeeded"
    assert rig.history.records[-1].revision == applied.sha
    assert rig.history.records[-1].signer == "alice@example.com", "the audit trail names the verified signer"


def test_turning_verification_off_takes_a_signed_commit(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.repo.platform["spec"]["verify"] = {"required": True}
    source = SigningSource(rig.repo, tmp_path / "signed")
    rig.reconciler = replace_ports(rig, source=source, history=rig.history)
    source.signature = Signature("good", "alice@example.com", "SHA256:a")
    source.commit("signed")
    assert rig.reconciler.cycle("poll").result == "succeeded"

    rig.repo.platform["spec"]["verify"] = {"required": False}
    source.signature = Signature("none")
    source.commit("unsigned commit that turns verification off")
    assert rig.reconciler.cycle("poll").result == "invalid", "judged by the rules in force before it"

    source.signature = Signature("good", "alice@example.com", "SHA256:a")
    source.commit("signed commit that turns verification off")
    assert rig.reconciler.cycle("poll").result in ("succeeded", "noop")
    source.signature = Signature("none")
    source.commit("unsigned, now allowed")
    assert rig.reconciler.cycle("poll").result in ("succeeded", "noop")


def test_a_replica_that_stood_by_does_not_repeat_the_recovery_the_leader_told(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.source.commit()
    rig.reconciler.cycle("poll")
    rig.cluster.degraded = {"app1": "rollout stuck: ProgressDeadlineExceeded"}
    rig.repo.apps["app1"]["spec"]["image"] = "busybox:1.37"
    rig.source.commit("stuck")
    rig.reconciler.cycle("webhook")
    assert len(rig.events("health.degraded")) == 1
    rig.leader = False  # another replica leads, sees the app recover and tells it
    rig.cluster.degraded = {}
    rig.repo.apps["app1"]["spec"]["image"] = "busybox:1.38"
    rig.source.commit("fixed")
    assert rig.reconciler.cycle("poll").result == "standby"
    rig.leader = True  # leadership comes back
    rig.reconciler.cycle("poll")
    assert rig.events("health.recovered") == [], "the recovery was the other replica's news"
    rig.cluster.degraded = {"app1": "rollout stuck: ProgressDeadlineExceeded"}
    rig.repo.apps["app1"]["spec"]["image"] = "busybox:1.39"
    rig.source.commit("stuck again")
    rig.reconciler.cycle("webhook")
    assert len(rig.events("health.degraded")) == 2, "what degrades later is told again"


def _with_canary(rig: Rig) -> None:
    rig.repo.apps["app1"]["spec"]["canary"] = {"image": "busybox:1.37", "weight": 20}
    rig.repo.apps["app1"]["spec"]["domains"] = ["app1.example.com"]  # a canary splits its domains' traffic


def test_a_canary_end_a_standby_saw_is_announced_once_by_it_when_it_takes_over(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    _with_canary(rig)
    rig.source.commit()
    rig.reconciler.cycle("poll")
    del rig.repo.apps["app1"]["spec"]["canary"]
    rig.source.commit("abort the canary")
    rig.leader = False  # the leader died before applying it
    for trigger in ("webhook", "poll"):
        rig.reconciler.cycle(trigger)  # type: ignore[arg-type]
    assert rig.events("canary.aborted") == [], "a standby never announces"
    rig.leader = True
    rig.reconciler.cycle("poll")
    rig.reconciler.cycle("poll")
    assert len(rig.events("canary.aborted")) == 1, "the new leader applies it and says so, once"


def test_a_new_leader_does_not_repeat_a_canary_end_the_old_leader_announced(tmp_path: Path) -> None:
    from daemon.edges.metrics import DaemonMetrics
    from daemon.engine.reconcile import Reconciler
    from daemon.model.events import MemorySink

    rig = Rig(tmp_path)
    _with_canary(rig)
    rig.source.commit()
    rig.reconciler.cycle("poll")
    leading = {"old": True}
    standby_sink = MemorySink()
    standby = Reconciler(
        rig.source,
        rig.cluster,
        standby_sink,
        metrics=DaemonMetrics(),
        history=rig.history,
        pauses=rig.pauses,
        clock=rig.clock.wall,
        monotonic=rig.clock.monotonic,
        is_leader=lambda: not leading["old"],
    )
    standby.cycle("poll")
    del rig.repo.apps["app1"]["spec"]["canary"]
    rig.source.commit("abort the canary")
    standby.cycle("webhook")  # sees the abort while standing by
    rig.reconciler.cycle("webhook")  # the old leader applies and announces it
    assert len(rig.events("canary.aborted")) == 1
    leading["old"] = False  # failover
    standby.cycle("poll")
    standby.cycle("poll")
    assert [e.name for e in standby_sink.events if e.name.startswith("canary.")] == [], (
        "the audit trail shows the revision was applied, so it was announced"
    )
