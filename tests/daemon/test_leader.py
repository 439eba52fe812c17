"""Leader election on a real Lease: one leader, fail-over on death, hand-over on release, and a
leader cut off from the API server stepping down before anyone else can take over."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from daemon.edges.kube import KubeClient
from daemon.state.lease import LeaderElector
from devcluster import RunningCluster
from tests.clock import FakeClock
from tests.daemon.netcut import Partition
from tests.fixtures_cluster import namespace_name, wait_for

pytestmark = pytest.mark.cluster

LEASE = 2.0
RENEW = 0.5
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class Timeline:
    """What the callbacks of several electors did, in order, with monotonic times."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[tuple[str, str, float]] = []

    def callbacks(self, identity: str) -> tuple[Callable[[], None], Callable[[], None]]:
        return (lambda: self._add(identity, "started"), lambda: self._add(identity, "stopped"))

    def _add(self, identity: str, what: str) -> None:
        with self.lock:
            self.entries.append((identity, what, time.monotonic()))

    def when(self, identity: str, what: str) -> float | None:
        with self.lock:
            return next((t for i, w, t in self.entries if i == identity and w == what), None)

    def events(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(i, w) for i, w, _ in self.entries]


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    client = KubeClient(str(kubeconfig))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def lease_namespace(request: pytest.FixtureRequest, kube: KubeClient) -> Iterator[str]:
    """A namespace name nobody created yet: the electors must create it."""
    name = namespace_name(request.node.name)
    yield name
    kube.delete(kube.resource_type("v1", "Namespace"), None, name)


def start(kube: KubeClient, namespace: str, identity: str, timeline: Timeline) -> LeaderElector:
    elector = LeaderElector(
        kube, namespace=namespace, name="dockyard-leader", identity=identity, lease_seconds=LEASE, renew_every=RENEW
    )
    on_started, on_stopped = timeline.callbacks(identity)
    elector.run_in_background(on_started, on_stopped)
    return elector


def leaders(*electors: LeaderElector) -> list[str]:
    return [e.identity for e in electors if e.is_leader]


def elect_one(a: LeaderElector, b: LeaderElector) -> tuple[LeaderElector, LeaderElector]:
    wait_for(lambda: leaders(a, b), timeout=15, message="a leader", until=lambda found: len(found) == 1)
    return (a, b) if a.is_leader else (b, a)


def test_two_replicas_elect_exactly_one_leader(kube: KubeClient, lease_namespace: str) -> None:
    timeline = Timeline()
    a = start(kube, lease_namespace, "replica-a", timeline)
    b = start(kube, lease_namespace, "replica-b", timeline)
    try:
        leader, follower = elect_one(a, b)
        # Watch through several renewals: never two leaders, never a change of leader.
        deadline = time.monotonic() + 3 * LEASE
        while time.monotonic() < deadline:
            assert leaders(a, b) == [leader.identity]
            time.sleep(0.05)

        lease = kube.get(kube.resource_type("coordination.k8s.io/v1", "Lease"), lease_namespace, "dockyard-leader")
        assert lease is not None
        spec = lease["spec"]
        assert spec["holderIdentity"] == leader.identity
        assert spec["leaseDurationSeconds"] == 2
        assert MICRO_TIME.match(spec["renewTime"])
        assert MICRO_TIME.match(spec["acquireTime"])
        assert spec["leaseTransitions"] == 0
        assert follower.holder == leader.identity
        assert timeline.events() == [(leader.identity, "started")]
    finally:
        a.stop()
        b.stop()


def test_a_dead_leader_is_replaced_once_its_lease_expires(kube: KubeClient, lease_namespace: str) -> None:
    timeline = Timeline()
    a = start(kube, lease_namespace, "replica-a", timeline)
    b = start(kube, lease_namespace, "replica-b", timeline)
    try:
        leader, follower = elect_one(a, b)
        died = time.monotonic()
        leader.stop(release=False)  # as a crash would: the lease is left to expire

        wait_for(lambda: follower.is_leader, timeout=10, message="the follower to take over", interval=0.05)
        took = time.monotonic() - died

        # The follower waits a whole lease from when it *saw* the last renewal, which it may see
        # up to one poll late, and then acts at its next poll: at most LEASE + 2 * RENEW.
        assert LEASE - RENEW <= took <= LEASE + 2 * RENEW + 0.5, took
        assert not leader.is_leader
        stopped = timeline.when(leader.identity, "stopped")
        started = wait_for(lambda: timeline.when(follower.identity, "started"), timeout=5, message="on_started")
        assert stopped is not None
        assert started is not None
        assert stopped < started, "the dead leader stopped acting before the new one started"
    finally:
        a.stop()
        b.stop()


def test_a_released_lease_is_taken_over_at_once(kube: KubeClient, lease_namespace: str) -> None:
    timeline = Timeline()
    a = start(kube, lease_namespace, "replica-a", timeline)
    b = start(kube, lease_namespace, "replica-b", timeline)
    try:
        leader, follower = elect_one(a, b)
        released = time.monotonic()
        leader.stop(release=True)

        wait_for(lambda: follower.is_leader, timeout=10, message="the follower to take over", interval=0.05)

        assert time.monotonic() - released <= RENEW + 0.5
        lease = kube.get(kube.resource_type("coordination.k8s.io/v1", "Lease"), lease_namespace, "dockyard-leader")
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == follower.identity
        assert lease["spec"]["leaseTransitions"] == 1
        assert timeline.events()[:2] == [(leader.identity, "started"), (leader.identity, "stopped")]
    finally:
        a.stop()
        b.stop()


def test_a_leader_cut_off_from_the_api_server_steps_down_before_the_lease_expires(
    cluster: RunningCluster, kube: KubeClient, lease_namespace: str, tmp_path: Path
) -> None:
    server = urlsplit(cluster.server)
    partition = Partition(server.hostname or "127.0.0.1", server.port or 443)
    # Requests through the cut hang for the client's whole timeout; leadership must end anyway.
    isolated_kube = KubeClient(str(partition.kubeconfig(cluster.kubeconfig, tmp_path / "kubeconfig")), timeout=30)
    timeline = Timeline()
    isolated = start(isolated_kube, lease_namespace, "isolated", timeline)
    other: LeaderElector | None = None
    try:
        wait_for(lambda: isolated.is_leader, timeout=15, message="the isolated replica to lead first")
        other = start(kube, lease_namespace, "other", timeline)
        time.sleep(2 * RENEW)  # the other replica has seen the lease renewed
        assert leaders(isolated, other) == ["isolated"]

        cut = time.monotonic()
        partition.cut()
        wait_for(lambda: timeline.when("isolated", "stopped"), timeout=LEASE + 2, message="on_stopped", interval=0.05)
        stopped = timeline.when("isolated", "stopped")
        assert stopped is not None
        assert stopped - cut <= LEASE, "stepped down within its own lease, though its renewal still hangs"
        assert not isolated.is_leader

        wait_for(lambda: other.is_leader, timeout=10, message="the other replica to take over", interval=0.05)
        started = timeline.when("other", "started")
        assert started is not None
        assert stopped < started, "never two leaders at once"
    finally:
        if other is not None:
            other.stop()
        isolated.stop(release=False)
        partition.close()
        isolated_kube.close()


def test_rounds_with_an_injected_clock(kube: KubeClient, lease_namespace: str) -> None:
    a_clock, b_clock = FakeClock(1_700_000_000.0), FakeClock(1_600_000_000.0)  # b's clock is far behind a's
    a = LeaderElector(kube, namespace=lease_namespace, name="l", identity="a", lease_seconds=15, clock=a_clock.unix)
    b = LeaderElector(kube, namespace=lease_namespace, name="l", identity="b", lease_seconds=15, clock=b_clock.unix)

    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert b.holder == "a"

    # Skew does not matter: b counts the lease from when *it* saw the record, on its own clock.
    b_clock.advance(14)
    assert not b.try_acquire_or_renew(), "the lease has not run out on b's clock yet"
    a_clock.advance(10)  # a leads only until lease - renew_every after its last renewal began
    assert not a.is_leader, "a stepped down on its own"
    b_clock.advance(1.5)
    assert b.try_acquire_or_renew()
    assert b.is_leader

    assert not a.try_acquire_or_renew(), "a sees b holding a fresh lease"
    assert a.holder == "b"
    lease = kube.get(kube.resource_type("coordination.k8s.io/v1", "Lease"), lease_namespace, "l")
    assert lease is not None
    assert lease["spec"]["leaseTransitions"] == 1
    assert lease["spec"]["renewTime"].startswith("2020-09-13T12:26:"), "b's own clock, in MicroTime"
