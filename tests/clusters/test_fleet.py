"""The fleet's rules with in-memory clusters (tests/engine/ports.py): each cluster on its own, and a
move that creates there before it prunes here, never the reverse. The cluster test
(tests/clusters/test_fleet_cluster.py) proves the same on two real API servers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from daemon.edges.metrics import DaemonMetrics
from daemon.engine.fleet import ClusterEvents, ClusterHistory, Fleet, MoveGates, Target
from daemon.engine.reconcile import Reconciler, ReconcileSettings
from daemon.errors import ClusterError
from daemon.model.events import MemorySink
from tests.clock import FakeClock
from tests.engine.ports import MemoryCluster, MemoryHistory, MemorySource
from tests.platforms import PlatformRepo

TRAILER = "\n\ndockyard-allow-mass-prune: true"


class FleetRig:
    def __init__(self, tmp_path: Path) -> None:
        self.repo = PlatformRepo(tmp_path / "platform", "shop", apps=2)
        self.repo.platform["spec"]["clusters"] = [{"name": "eu", "default": True}, {"name": "us"}]
        self.source = MemorySource(self.repo, tmp_path / "revisions")
        self.sink = MemorySink()
        self.history = MemoryHistory()
        self.clock = FakeClock(datetime(2030, 3, 4, 10, 0, tzinfo=UTC))
        self.clusters = {"eu": MemoryCluster(), "us": MemoryCluster()}
        gates = MoveGates()
        self.fleet = Fleet(
            [
                Target(
                    name,
                    Reconciler(
                        self.source,
                        cluster,
                        ClusterEvents(self.sink, name),
                        metrics=DaemonMetrics(),
                        history=ClusterHistory(self.history, name),
                        settings=ReconcileSettings(backoff_base=5.0, backoff_cap=40.0, cluster=name),
                        clock=self.clock.wall,
                        monotonic=self.clock.monotonic,
                        moves=gates.gate(name),
                    ),
                )
                for name, cluster in self.clusters.items()
            ]
        )
        gates.attach(self.fleet.targets)

    def place(self, *clusters: str, message: str = "place") -> str:
        self.repo.tenant_doc["spec"]["placement"] = {"clusters": list(clusters)}
        return self.source.commit(message).sha

    def deployments(self, name: str) -> set[str]:
        return self.clusters[name].names("Deployment")


def test_a_tenant_on_two_clusters_is_applied_to_both_and_one_failing_leaves_the_other(tmp_path: Path) -> None:
    rig = FleetRig(tmp_path)
    sha = rig.place("eu", "us")
    rig.fleet.cycle("poll")
    assert rig.deployments("eu") == rig.deployments("us") == {"app0", "app1"}
    assert {r.cluster for r in rig.history.records if r.revision == sha} == {"eu", "us"}
    rig.clusters["us"].plan_error = ClusterError("API server unreachable")
    rig.repo.apps["app1"]["spec"]["image"] = "busybox:1.37"
    changed = rig.source.commit("new image").sha
    for _ in range(3):
        rig.fleet.cycle("webhook")
    states = rig.fleet.states()
    assert states["eu"].applied_sha == changed and states["us"].applied_sha == sha
    failed = [e for e in rig.sink.events if e.name == "sync.failed"]
    assert [(e.details["cluster"], e.summary.split(" ")[0]) for e in failed] == [("us", "[us]")]
    # The failing cluster backs off on its own: a poll skips it, not the others.
    assert not rig.fleet.targets[1].reconciler.retry_due()
    assert rig.fleet.targets[0].reconciler.retry_due()


def test_a_move_creates_there_before_it_prunes_here_never_the_reverse(tmp_path: Path) -> None:
    rig = FleetRig(tmp_path)
    rig.place("eu")
    rig.fleet.cycle("poll")
    assert (rig.deployments("eu"), rig.deployments("us")) == ({"app0", "app1"}, set())
    # us refuses the tenant's objects: eu keeps them, whatever triggers the cycle.
    rig.clusters["us"].refuse.add("app1")
    rig.place("us", message="move to us" + TRAILER)
    for trigger in ("webhook", "manual"):
        rig.fleet.cycle(trigger, ignore_windows=True)
        assert rig.deployments("eu") == {"app0", "app1"}
        assert rig.fleet.states()["eu"].deferred == {"shop": "moves to cluster us: pruned here once it runs there"}
    # Once us runs it, eu prunes, in the same cycle.
    rig.clusters["us"].refuse.clear()
    rig.fleet.cycle("webhook")
    assert (rig.deployments("eu"), rig.deployments("us")) == (set(), {"app0", "app1"})


def test_a_move_is_held_by_the_prune_guard_like_any_prune(tmp_path: Path) -> None:
    rig = FleetRig(tmp_path)
    rig.place("eu")
    rig.fleet.cycle("poll")
    rig.place("us", message="move to us, no trailer")
    rig.fleet.cycle("webhook")
    assert rig.deployments("us") == {"app0", "app1"}
    assert rig.deployments("eu") == {"app0", "app1"}, "the whole tenant leaving eu is a mass deletion"
    assert [e.details["cluster"] for e in rig.sink.events if e.name == "prune.blocked"] == ["eu"]
