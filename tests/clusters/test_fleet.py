"""The fleet's rules with in-memory clusters (tests/engine/ports.py): each cluster on its own, and a
move that creates there before it prunes here, never the reverse. The cluster test
(tests/clusters/test_fleet_cluster.py) proves the same on two real API servers."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from daemon.edges.metrics import DaemonMetrics
from daemon.engine.fleet import ClusterEvents, ClusterHistory, CycleSource, Fleet, MoveGates, Target
from daemon.engine.reconcile import Reconciler, ReconcileSettings
from daemon.errors import ClusterError, ConfigError
from daemon.model.clusters import Cluster, remote_clusters
from daemon.model.events import Event, MemorySink
from daemon.model.kinds import PlatformModel
from tests.clock import FakeClock
from tests.engine.ports import MemoryCluster, MemoryHistory, MemorySource
from tests.platforms import PlatformRepo

TRAILER = "\n\ndockyard-allow-mass-prune: true"


class FleetRig:
    """Clusters in memory behind one fleet; ``joinable`` are clusters the platform file may name
    with a connection, which the fleet then joins (the daemon's joiner connects; this one hands
    over the in-memory cluster, or fails like an unreachable one)."""

    def __init__(self, tmp_path: Path, clusters: tuple[str, ...] = ("eu", "us"), joinable: tuple[str, ...] = ()):
        self.repo = PlatformRepo(tmp_path / "platform", "shop", apps=2)
        self.repo.platform["spec"]["clusters"] = [{"name": clusters[0], "default": True}] + [
            {"name": name} for name in clusters[1:]
        ]
        self.raw_source = MemorySource(self.repo, tmp_path / "revisions")
        self.source = CycleSource(self.raw_source)
        self.sink = MemorySink()
        self.history = MemoryHistory()
        self.clock = FakeClock(datetime(2030, 3, 4, 10, 0, tzinfo=UTC))
        self.clusters = {name: MemoryCluster() for name in (*clusters, *joinable)}
        self.gates = MoveGates()
        self.refused: dict[str, str] = {}  # joinable clusters that cannot be reached, with the reason
        self.said: list[tuple[str, str]] = []
        self.closed: list[str] = []
        self.fleet = Fleet(
            [self.target(name, pinned=name in clusters[1:]) for name in clusters],
            source=self.source,
            joiner=self,
            gates=self.gates,
        )

    def target(self, name: str, *, pinned: bool = False) -> Target:
        reconciler = Reconciler(
            self.source,
            self.clusters[name],
            ClusterEvents(self.sink, lambda: name),
            metrics=DaemonMetrics(),
            history=ClusterHistory(self.history, lambda: name),
            settings=ReconcileSettings(backoff_base=5.0, backoff_cap=40.0, cluster=name, named_by_platform=not pinned),
            clock=self.clock.wall,
            monotonic=self.clock.monotonic,
            moves=self.gates.gate(name),
        )
        return Target(name, reconciler, close=lambda: self.closed.append(name), pinned=pinned)

    # the fleet's Joiner
    def wanted(self, model: PlatformModel) -> Sequence[Cluster]:
        return remote_clusters(model.platform.clusters, None)

    def join(self, cluster: Cluster) -> Target:
        if cluster.name in self.refused:
            raise ConfigError(self.refused[cluster.name])
        return self.target(cluster.name)

    def unreachable(self, cluster: str, message: str) -> None:
        self.said.append((cluster, message))

    def place(self, *clusters: str, message: str = "place") -> str:
        self.repo.tenant_doc["spec"]["placement"] = {"clusters": list(clusters)}
        return self.raw_source.commit(message).sha

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
    changed = rig.raw_source.commit("new image").sha
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


def test_a_cluster_the_platform_names_with_a_connection_is_joined_and_one_it_drops_is_left_as_it_is(
    tmp_path: Path,
) -> None:
    rig = FleetRig(tmp_path, clusters=("eu",), joinable=("us",))
    rig.place("eu")
    rig.fleet.cycle("poll")
    assert [t.name for t in rig.fleet.targets] == ["eu"]
    assert rig.fleet.states() == {}, "one cluster: the daemon's state is the cluster's"
    # The platform team names us with a connection and the tenant places itself there too:
    # the fleet joins us after the cycle that loads it, and cycles it at once.
    rig.repo.platform["spec"]["clusters"].append({"name": "us", "connection": {"context": "us"}})
    sha = rig.place("eu", "us")
    rig.fleet.cycle("webhook")
    assert [t.name for t in rig.fleet.targets] == ["eu", "us"]
    assert rig.deployments("us") == rig.deployments("eu") == {"app0", "app1"}
    assert {name: s.applied_sha for name, s in rig.fleet.states().items()} == {"eu": sha, "us": sha}
    assert rig.raw_source.fetches == 2, "one fetch per fleet cycle, whatever the number of clusters"
    # Reached another way (a new context, file or Secret): connected again, the same objects.
    joined = rig.fleet.targets[1]
    rig.repo.platform["spec"]["clusters"][1]["connection"] = {"secret": "cluster-us"}
    rig.place("eu", "us")
    rig.fleet.cycle("webhook")
    assert rig.closed == ["us"] and rig.fleet.targets[1] is not joined
    assert rig.fleet.targets[1].joined_as is not None and rig.fleet.targets[1].joined_as.secret == "cluster-us"
    rig.closed.clear()
    # A cluster the platform no longer names is no longer driven: what it runs stays there.
    rig.repo.platform["spec"]["clusters"].pop()
    rig.place("eu")
    rig.fleet.cycle("webhook")
    assert [t.name for t in rig.fleet.targets] == ["eu"] and rig.closed == ["us"]
    assert rig.deployments("us") == {"app0", "app1"}
    # joined (1), the revision that changed its connection, by the old and the new client (2, 3);
    # the revision that drops it is not planned there, and is no failure of it
    assert rig.clusters["us"].plans == 3
    assert [e.summary for e in rig.sink.events if e.name == "sync.failed"] == []


def test_a_cluster_that_cannot_be_reached_is_said_once_per_reason_and_joined_once_it_can(tmp_path: Path) -> None:
    rig = FleetRig(tmp_path, clusters=("eu",), joinable=("us",))
    rig.repo.platform["spec"]["clusters"].append({"name": "us", "connection": {"secret": "cluster-us"}})
    rig.refused["us"] = "Secret dockyard-system/cluster-us does not exist"
    rig.place("eu", "us")
    for _ in range(3):
        rig.fleet.cycle("webhook")
    assert rig.said == [("us", "Secret dockyard-system/cluster-us does not exist")]
    assert rig.deployments("eu") == {"app0", "app1"}, "the clusters it reaches go on"
    rig.refused["us"] = "key 'kubeconfig' is not a kubeconfig"
    rig.fleet.cycle("webhook")
    assert len(rig.said) == 2
    del rig.refused["us"]
    rig.fleet.cycle("webhook")
    assert rig.deployments("us") == {"app0", "app1"}


def test_clusters_cycle_at_once_so_one_that_hangs_delays_nobody(tmp_path: Path) -> None:
    rig = FleetRig(tmp_path)
    rig.fleet.straggler_seconds = 0.5
    rig.place("eu", "us")
    entered, release = threading.Event(), threading.Event()
    eu = rig.clusters["eu"]
    plan = eu.plan

    def hanging_plan(*args: object, **kwargs: object) -> object:
        entered.set()
        release.wait(30)  # an API server that accepts the connection and never answers
        return plan(*args, **kwargs)  # type: ignore[arg-type]

    eu.plan = hanging_plan  # type: ignore[method-assign]
    try:
        started = time.monotonic()
        rig.fleet.cycle("poll")  # eu, the first cluster, hangs: us is applied all the same
        assert time.monotonic() - started < 5 and entered.is_set()
        assert rig.deployments("us") == {"app0", "app1"} and rig.deployments("eu") == set()
        # The next change reaches us at once: eu's cycle still runs, so this cycle leaves eu to it.
        rig.repo.apps["app1"]["spec"]["image"] = "busybox:1.37"
        changed = rig.raw_source.commit("new image").sha
        started = time.monotonic()
        rig.fleet.cycle("webhook")
        assert time.monotonic() - started < 5
        assert rig.fleet.states()["us"].applied_sha == changed and eu.plans == 0
    finally:
        release.set()
    for _ in range(100):  # eu's late cycle ends on its own
        if rig.deployments("eu") == {"app0", "app1"}:
            break
        time.sleep(0.05)
    rig.fleet.cycle("webhook")
    assert {name: s.applied_sha for name, s in rig.fleet.states().items()} == {"eu": changed, "us": changed}


def test_the_same_news_of_two_clusters_are_two_events() -> None:
    sink = MemorySink()
    news = Event.make("node.notready", "Node kwok-0 is NotReady", id="0123456789abcdef0123456789abcdef")
    for name in ("eu", "us"):
        ClusterEvents(sink, lambda name=name: name).emit(news)  # type: ignore[misc]
    ClusterEvents(sink, lambda: None).emit(news)  # one cluster: the event as it is
    eu, us, alone = sink.events
    assert len({eu.id, us.id, alone.id}) == 3 and alone == news
    assert (eu.summary, us.details["cluster"]) == ("[eu] Node kwok-0 is NotReady", "us")


def test_a_cluster_s_own_window_holds_its_changes_while_the_other_cluster_applies(tmp_path: Path) -> None:
    rig = FleetRig(tmp_path)
    # 10:00 on the rig's clock: us is inside its own deny window, eu has none.
    freeze = {"schedule": "0 9 * * *", "duration": "3h", "action": "deny", "tenants": ["shop"]}
    rig.repo.platform["spec"]["clusters"][1]["windows"] = [freeze]
    sha = rig.place("eu", "us")
    rig.fleet.cycle("poll")
    states = rig.fleet.states()
    assert rig.deployments("eu") == {"app0", "app1"} and rig.deployments("us") == set()
    assert states["eu"].applied_sha == sha and states["us"].applied_sha != sha
    assert states["us"].deferred == {"shop": "deny window '0 9 * * *' (UTC) is open"}
    waiting = [e for e in rig.sink.events if e.name == "sync.skipped"]
    assert [e.details["cluster"] for e in waiting] == ["us"]
    # At noon the window closes and us catches up.
    rig.clock.set(datetime(2030, 3, 4, 12, 1, tzinfo=UTC))
    rig.fleet.cycle("poll")
    assert rig.deployments("us") == {"app0", "app1"} and rig.fleet.states()["us"].applied_sha == sha
