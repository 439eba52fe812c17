"""Problems of the cluster and of Dockyard, read from what the API returns (pure), and the tracker
that opens and closes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from daemon.edges.kube import ResourceType
from daemon.engine.clusterhealth import ClusterWatcher
from daemon.errors import ClusterError, ClusterUnavailable
from daemon.model.events import Event, MemorySink
from daemon.policy.clusterhealth import (
    DockyardSignals,
    dockyard_problems,
    node_problems,
    readyz_problems,
    rollout_problems,
    scheduler_problems,
    volume_problems,
)
from daemon.policy.problems import Problem, ProblemTracker
from daemon.views.problems import problem_event
from tests.clock import FakeClock

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TENANT = {"dockyard.dev/tenant": "shop", "dockyard.dev/app": "web"}


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def node(name: str, ready: str, reason: str = "KubeletReady") -> dict[str, Any]:
    condition = {"type": "Ready", "status": ready, "reason": reason, "message": "Kubelet stopped posting node status."}
    return {"metadata": {"name": name}, "status": {"conditions": [condition]}}


def test_nodes_not_ready_are_problems_of_the_platform() -> None:
    problems = node_problems(
        [node("a", "True"), node("b", "Unknown", "NodeStatusUnknown"), {"metadata": {"name": "c"}}]
    )
    assert [(p.key, p.tenant) for p in problems] == [("node/b", None), ("node/c", None)]
    assert problems[0].summary == "Node b is NotReady (NodeStatusUnknown): Kubelet stopped posting node status."
    assert problems[1].summary == "Node c is NotReady (no Ready condition)"


READYZ_FAILING = """[+]ping ok
[+]log ok
[-]etcd failed: reason withheld
[+]informer-sync ok
[-]etcd-readiness failed: reason withheld
readyz check failed
"""


def test_every_failed_readiness_check_is_a_problem_of_its_own() -> None:
    assert readyz_problems(200, "[+]ping ok\n[+]etcd ok\nreadyz check passed\n") == []
    problems = readyz_problems(500, READYZ_FAILING)
    assert [p.key for p in problems] == ["readyz/etcd", "readyz/etcd-readiness"]
    assert problems[0].summary == "The API server's readiness check etcd fails: failed: reason withheld"
    # An answer that is not the report (a proxy's page) still says the server is not ready.
    [odd] = readyz_problems(503, "<html>bad gateway</html>")
    assert odd.key == "readyz/readyz" and "HTTP 503" in odd.summary


def pod(
    name: str, created: float, *, node: str = "", scheduled: str | None = None, scheduler: str = ""
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Pending"}
    if scheduled is not None:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": scheduled}]
    spec: dict[str, Any] = {"nodeName": node} if node else {}
    if scheduler:
        spec["schedulerName"] = scheduler
    return {
        "metadata": {"name": name, "namespace": "shop", "creationTimestamp": ago(created)},
        "spec": spec,
        "status": status,
    }


def test_pods_nobody_looked_at_mean_no_scheduler_runs() -> None:
    assert scheduler_problems([pod("new", 10)], NOW, 60) == []
    assert scheduler_problems([pod("full", 600, scheduled="Unschedulable")], NOW, 60) == []  # looked at
    assert scheduler_problems([pod("other", 600, scheduler="my-scheduler")], NOW, 60) == []
    [problem] = scheduler_problems([pod("a", 90), pod("b", 300), pod("new", 5)], NOW, 60)
    assert problem.key == "scheduler" and problem.severity == "critical"
    assert problem.summary == (
        "No scheduler is placing pods: 2 pod(s) have not been looked at for over 1m (the oldest, shop/b, for 5m)"
    )


def deployment(reason: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    condition = {
        "type": "Progressing",
        "status": "False",
        "reason": reason,
        "message": 'ReplicaSet "web-1" has timed out progressing.',
    }
    return {
        "metadata": {"name": "web", "namespace": "shop", "labels": labels or {}},
        "spec": {"progressDeadlineSeconds": 30},
        "status": {"conditions": [condition]},
    }


def test_a_rollout_past_its_deadline_is_a_problem_of_its_tenant() -> None:
    assert rollout_problems([deployment("NewReplicaSetAvailable", TENANT)]) == []
    [stuck] = rollout_problems([deployment("ProgressDeadlineExceeded", TENANT)])
    assert (stuck.key, stuck.tenant, stuck.app) == ("rollout/shop/web", "shop", "web")
    assert (
        stuck.summary
        == 'The rollout of shop/web is stuck past its 30s deadline: ReplicaSet "web-1" has timed out progressing.'
    )
    [platform] = rollout_problems([deployment("ProgressDeadlineExceeded")])
    assert platform.tenant is None


def claim(
    name: str, created: float, cls: str | None, *, phase: str = "Pending", selected: bool = False
) -> dict[str, Any]:
    annotations = {"volume.kubernetes.io/selected-node": "n1"} if selected else {}
    spec = {"storageClassName": cls} if cls else {}
    meta = {
        "name": name,
        "namespace": "shop",
        "creationTimestamp": ago(created),
        "labels": TENANT,
        "annotations": annotations,
    }
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}


CLASSES = [
    {"metadata": {"name": "rbd", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}},
    {"metadata": {"name": "local"}, "volumeBindingMode": "WaitForFirstConsumer"},
]


def test_claims_pending_past_the_threshold_unless_they_wait_for_their_first_pod() -> None:
    claims = [
        claim("fresh", 10, "rbd"),
        claim("bound", 900, "rbd", phase="Bound"),
        claim("lazy", 900, "local"),
        claim("placed", 900, "local", selected=True),
        claim("typo", 900, "rdb"),
        claim("default", 400, None),
    ]
    problems = volume_problems(claims, CLASSES, NOW, 300)
    assert [(p.key, p.tenant) for p in problems] == [
        ("volume/shop/placed", "shop"),
        ("volume/shop/typo", "shop"),
        ("volume/shop/default", "shop"),
    ]
    assert (
        problems[1].summary == "Volume claim shop/typo has been Pending for 15m: its storage class rdb does not exist"
    )
    assert problems[2].summary.endswith("storage class rbd has not provisioned a volume")


def test_dockyard_is_degraded_by_a_failing_streak_an_unreachable_repo_and_stuck_notifications() -> None:
    assert dockyard_problems(DockyardSignals(failures=2, undelivered=3, oldest_undelivered_seconds=60)) == []
    problems = dockyard_problems(
        DockyardSignals(
            failures=3, last_error="plan: 503", fetch_error="auth failed", undelivered=4, oldest_undelivered_seconds=900
        )
    )
    assert [p.key for p in problems] == ["dockyard/cycles", "dockyard/source", "dockyard/notifications"]
    assert problems[0].summary == "Reconcile cycles keep failing (3 in a row): plan: 503"
    assert problems[2].summary == "4 notification(s) are not delivered; the oldest has waited 15m"


def problem(key: str, family: str = "node", summary: str = "down") -> Problem:
    return Problem(family, key, summary)


def test_a_problem_opens_after_its_confirmations_and_closes_once() -> None:
    tracker = ProblemTracker(confirm={"controlplane": 2})
    t = [NOW + timedelta(seconds=15 * i) for i in range(6)]
    assert [c.kind for c in tracker.look(["node"], [problem("node/a")], t[0])] == ["opened"]
    assert tracker.look(["controlplane"], [problem("readyz/etcd", "controlplane")], t[0]) == []
    assert tracker.look(["node"], [problem("node/a", summary="still down")], t[1]) == []  # said once
    [opened] = tracker.look(["controlplane"], [problem("readyz/etcd", "controlplane")], t[1])
    assert (opened.kind, opened.since, opened.opened_at) == ("opened", t[0], t[1])
    # A look that does not cover a family decides nothing about it.
    assert tracker.look(["controlplane"], [problem("readyz/etcd", "controlplane")], t[2]) == []
    [closed] = tracker.look(["node", "controlplane"], [problem("readyz/etcd", "controlplane")], t[3], {"node": "Ready"})
    assert (closed.kind, closed.problem.summary, closed.resolution) == ("closed", "still down", "Ready")
    assert [p.key for p, _ in tracker.open_problems()] == ["readyz/etcd"]


def test_a_failed_look_restarts_a_pending_confirmation_but_keeps_what_is_open() -> None:
    tracker = ProblemTracker(confirm={"controlplane": 2})
    etcd = problem("readyz/etcd", "controlplane")
    tracker.look(["controlplane"], [etcd], NOW)
    tracker.forget(["controlplane"])
    assert tracker.look(["controlplane"], [etcd], NOW + timedelta(seconds=15)) == []  # one look again
    assert [c.kind for c in tracker.look(["controlplane"], [etcd], NOW + timedelta(seconds=30))] == ["opened"]
    tracker.forget(["controlplane"])
    assert [p.key for p, _ in tracker.open_problems()] == ["readyz/etcd"]


def test_opening_and_closing_events_pair_up_and_the_closing_one_reaches_who_heard() -> None:
    tracker = ProblemTracker()
    rollout = Problem(
        "rollout", "rollout/shop/web", "stuck", tenant="shop", app="web", details={"deployment": "shop/web"}
    )
    [opened] = tracker.look(["rollout"], [rollout], NOW)
    [closed] = tracker.look(["rollout"], [], NOW + timedelta(minutes=3), {"rollout": "it progresses"})
    bad, good = problem_event(opened), problem_event(closed)
    assert (bad.name, bad.severity, bad.tenant, bad.app) == ("rollout.stuck", "warning", "shop", "web")
    assert (good.name, good.tenant, good.app, good.group) == ("rollout.recovered", "shop", "web", bad.group)
    assert bad.details["alert"] == good.details["alert"] == "rollout/shop/web"
    assert good.details["firingSeverity"] == "warning"
    assert good.summary == "Resolved after 3m: it progresses (was: stuck)"
    assert problem_event(opened).id == bad.id != good.id  # the same change twice is the same event


class FakeKube:
    """Answers the watcher's reads from canned lists; a kind in ``failing`` fails to list."""

    def __init__(self) -> None:
        self.lists: dict[str, list[dict[str, Any]]] = {
            "Node": [node("a", "True")],
            "Pod": [],
            "Deployment": [],
            "PersistentVolumeClaim": [],
            "StorageClass": [],
        }
        self.readyz: tuple[int, str] | ClusterError = (200, "[+]ping ok\nreadyz check passed\n")
        self.failing: set[str] = set()
        self.listed: list[str] = []

    def list_objects(self, rtype: ResourceType, **_: Any) -> list[dict[str, Any]]:
        self.listed.append(rtype.kind)
        if rtype.kind in self.failing:
            raise ClusterUnavailable(f"list {rtype.kind}: 503")
        return self.lists[rtype.kind]

    def probe(self, path: str, *, limit: int = 65536) -> tuple[int, str]:
        assert path == "/readyz?verbose"
        if isinstance(self.readyz, ClusterError):
            raise self.readyz
        return self.readyz


def test_a_family_that_cannot_be_read_neither_opens_nor_closes_its_problems() -> None:
    kube, sink, clock = FakeKube(), MemorySink(), FakeClock(NOW)
    watcher = ClusterWatcher(kube, sink, clock.wall)
    kube.lists["Node"] = [node("a", "False")]
    assert names(watcher.run()) == ["node.notready"]
    kube.failing = {"Node"}
    kube.lists["Node"] = [node("a", "True")]
    clock.advance(15)
    assert watcher.run() == []  # no verdict on a view that could not be had
    kube.failing = set()
    clock.advance(15)
    assert names(watcher.run()) == ["node.ready"]


def test_an_api_server_out_of_reach_is_the_one_problem_known() -> None:
    kube, sink, clock = FakeKube(), MemorySink(), FakeClock(NOW)
    watcher = ClusterWatcher(kube, sink, clock.wall)
    kube.lists["Node"] = [node("a", "False")]
    watcher.run()
    kube.readyz = ClusterUnavailable("GET /readyz?verbose: API server unreachable (MaxRetryError)")
    for _ in range(2):
        clock.advance(15)
        watcher.run()
    assert names(sink.events) == ["node.notready", "controlplane.degraded"]
    assert sink.events[1].details["alert"] == "apiserver" and sink.events[1].severity == "critical"
    # The node's problem stays open: nothing was seen of it.
    assert [p["problem"] for p in watcher.open_problems()] == ["apiserver", "node/a"]
    kube.readyz = (200, "ok")
    kube.lists["Node"] = [node("a", "True")]
    clock.advance(15)
    assert sorted(names(watcher.run())) == ["controlplane.recovered", "node.ready"]


def test_an_api_server_that_is_not_ready_is_asked_nothing_else() -> None:
    kube, sink, clock = FakeKube(), MemorySink(), FakeClock(NOW)
    watcher = ClusterWatcher(kube, sink, clock.wall)
    kube.readyz = (500, READYZ_FAILING)
    for _ in range(2):
        watcher.run()
        clock.advance(15)
    assert kube.listed == []  # lists would hang on an API server without etcd
    assert [e.details["alert"] for e in sink.events] == ["readyz/etcd", "readyz/etcd-readiness"]
    kube.readyz = (200, "ok")
    assert names(watcher.run()) == ["controlplane.recovered", "controlplane.recovered"]
    assert "Node" in kube.listed


def test_dockyards_own_signals_need_two_looks_in_a_row() -> None:
    signals = [DockyardSignals(fetch_error="boom")]
    kube, sink, clock = FakeKube(), MemorySink(), FakeClock(NOW)
    watcher = ClusterWatcher(kube, sink, clock.wall, dockyard=lambda: signals[0])
    assert watcher.run() == []
    clock.advance(15)
    [down] = watcher.run()
    assert (down.name, down.details["alert"]) == ("dockyard.degraded", "dockyard/source")
    signals[0] = DockyardSignals()
    clock.advance(15)
    [up] = watcher.run()
    assert up.name == "dockyard.recovered" and up.summary.startswith("Resolved after 15s: it works again")


def test_a_watcher_that_lost_leadership_never_closes_what_the_new_leader_told() -> None:
    kube, sink, clock = FakeKube(), MemorySink(), FakeClock(NOW)
    watcher = ClusterWatcher(kube, sink, clock.wall)
    kube.lists["Node"] = [node("a", "False")]
    assert names(watcher.run()) == ["node.notready"]
    watcher.forget()  # another replica leads now: it tells when the node comes back
    assert watcher.open_problems() == []
    kube.lists["Node"] = [node("a", "True")]
    clock.advance(15)
    assert watcher.run() == [], "node.ready is the other replica's news"
    kube.lists["Node"] = [node("a", "False")]
    clock.advance(15)
    assert names(watcher.run()) == ["node.notready"], "what breaks later is told again"


def names(events: list[Event]) -> list[str]:
    return [e.name for e in events]
