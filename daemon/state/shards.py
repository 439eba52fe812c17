"""The shards a replica holds: one Lease per shard, shared out among the live replicas.

Public API::

    ShardKeeper(kube, *, namespace, identity, count, lease_seconds=15, renew_every=5, clock=time.time)
        round()                 one round: say we are alive, then take the shards the hash gives
                                us and hand over those it gives another live replica; calls
                                on_change(held) when what we hold changed
        cycle()                 a context manager: the shards held, kept for the whole cycle
                                (a hand-over waits until the cycle is over)
        held                    the shards whose Lease we hold right now
        run_in_background() / stop(release=True)

Each replica says it is alive with a Lease of its own (``dockyard-member-<hash>``, label
``dockyard.dev/role=shard-member``) renewed every round; the live ones are those renewed within
their lease time. Which replica a shard belongs to is ``policy.shards.assign`` over the live
replicas. The shard's own Lease (``dockyard-shard-<k>``) is a ``LeaderElector``: whoever holds it
applies the shard's tenants, and exactly one replica can hold it - a replica that joins gets a
shard only once its holder has finished its cycle and released it, and a replica that dies keeps
its shards until their Leases expire (the lease time), when the replicas the hash now names
take them.

Member liveness compares ``renewTime`` with this replica's clock, unlike the election: a skewed
clock can only make a shard wait for the wrong replica for a while, never give it two holders,
since holding is decided by the shard Lease alone.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from daemon.edges.kube import KubeClient, ResourceType
from daemon.errors import ClusterError
from daemon.policy.shards import assign
from daemon.state.lease import LeaderElector, micro_time

__all__ = ["MEMBER_LABEL", "ShardKeeper"]

_log = logging.getLogger(__name__)

#: the label of every replica's liveness Lease
MEMBER_LABEL = "dockyard.dev/role"
_MEMBER_ROLE = "shard-member"
_FIELD_MANAGER = "dockyard-shards"


def member_lease_name(identity: str) -> str:
    # Identities are host names and such; a hash makes any of them a valid object name.
    return f"dockyard-member-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class ShardKeeper:
    """This replica's part of ``count`` shards, in ``namespace`` of the home cluster."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        identity: str,
        count: int,
        lease_seconds: float = 15,
        renew_every: float = 5,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[frozenset[int]], None] = lambda _: None,
    ) -> None:
        if count < 2:
            raise ValueError("sharding needs at least two shards")
        self._kube = kube
        self._namespace = namespace
        self._identity = identity
        self.count = count
        self._lease_seconds = float(lease_seconds)
        self._renew_every = float(renew_every)
        self._clock = clock
        self._on_change = on_change
        self._electors = {
            shard: LeaderElector(
                kube,
                namespace=namespace,
                name=f"dockyard-shard-{shard}",
                identity=identity,
                lease_seconds=lease_seconds,
                renew_every=renew_every,
                clock=clock,
            )
            for shard in range(count)
        }
        # Held by a cycle for its whole length: a hand-over never lands in the middle of an apply
        # (a round that finds it taken renews the shard and tries again next round).
        self._cycle_lock = threading.Lock()
        self._round_lock = threading.Lock()
        self._members: tuple[str, ...] = (identity,)
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def _leases(self) -> ResourceType:
        return self._kube.resource_type("coordination.k8s.io/v1", "Lease")

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def held(self) -> frozenset[int]:
        return frozenset(shard for shard, elector in self._electors.items() if elector.is_leader)

    @property
    def members(self) -> tuple[str, ...]:
        """The live replicas seen in the last round (this one included)."""
        return self._members

    @contextmanager
    def cycle(self) -> Iterator[frozenset[int]]:
        with self._cycle_lock:
            yield self.held

    # --- one round

    def round(self) -> frozenset[int]:
        """Renews our liveness, then acquires, renews or hands over each shard; the shards held."""
        with self._round_lock:
            if self._stop.is_set():
                return frozenset()
            try:
                self._renew_member()
                members = self._live_members()
            except ClusterError as e:
                if not self._failing:
                    _log.warning("shards: cannot read or renew the replicas' liveness: %s", e)
                self._failing = True
                members = self._members  # keep the last view; renewing what we hold goes on
            else:
                if self._failing:
                    _log.info("shards: the replicas' liveness can be read again")
                self._failing = False
            before = self.held
            self._members = members
            owners = assign(self.count, members)
            for shard, elector in self._electors.items():
                if owners.get(shard) == self._identity:
                    elector.try_acquire_or_renew()
                elif elector.is_leader:
                    # Another live replica's now: handed over between cycles. While a cycle runs
                    # it is renewed instead; waiting here would stop every renewal of this round
                    # and let the other shards' Leases expire under the running apply.
                    if self._cycle_lock.acquire(blocking=False):
                        try:
                            elector.release()
                        finally:
                            self._cycle_lock.release()
                    else:
                        elector.try_acquire_or_renew()
            held = self.held
            if held != before:
                _log.info(
                    "%s holds shards %s of %d (%d replica(s) live)",
                    self._identity,
                    ",".join(map(str, sorted(held))) or "none",
                    self.count,
                    len(members),
                )
                self._on_change(held)
            return held

    def _renew_member(self) -> None:
        now = self._clock()
        self._kube.apply(
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": member_lease_name(self._identity),
                    "namespace": self._namespace,
                    "labels": {MEMBER_LABEL: _MEMBER_ROLE},
                },
                "spec": {
                    "holderIdentity": self._identity,
                    "leaseDurationSeconds": max(1, round(self._lease_seconds)),
                    "renewTime": micro_time(now),
                },
            },
            field_manager=_FIELD_MANAGER,
            force=True,
        )

    def _live_members(self) -> tuple[str, ...]:
        """The live replicas, from one list of the namespace's Leases; the shard Leases in it are
        noted by their electors, so a shard whose holder died is taken a lease time after its
        last renewal, not a lease time after the hash first names us."""
        now = self._clock()
        live = {self._identity}
        shard_names = {f"dockyard-shard-{shard}": shard for shard in self._electors}
        for lease in self._kube.list_objects(self._leases, namespace=self._namespace):
            meta = lease.get("metadata") or {}
            shard = shard_names.get(str(meta.get("name")))
            if shard is not None and not self._electors[shard].is_leader:
                self._electors[shard].observe(lease)
            if (meta.get("labels") or {}).get(MEMBER_LABEL) != _MEMBER_ROLE:
                continue
            spec = lease.get("spec") or {}
            holder, renewed = spec.get("holderIdentity"), spec.get("renewTime")
            if not holder or not renewed:
                continue  # a replica that stopped cleanly
            try:
                until = _seconds(str(renewed)) + float(spec.get("leaseDurationSeconds") or self._lease_seconds)
            except ValueError:
                continue
            if now < until:
                live.add(str(holder))
        return tuple(sorted(live))

    # --- background loop

    def run_in_background(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the shard keeper is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="dockyard-shards", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.round()
            except Exception:  # a dead loop would hold shards until their Leases ran out
                _log.exception("shards: round failed")
            self._stop.wait(self._renew_every)

    def stop(self, release: bool = True) -> None:
        """Stops the loop; with ``release``, gives up every shard and our liveness at once, so
        the other replicas take the shards at their next round instead of after the lease."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(2 * self._renew_every, 5.0))
            self._thread = None
        if not release:
            return
        with self._cycle_lock:
            for elector in self._electors.values():
                elector.release()
        try:
            self._kube.delete(self._leases, self._namespace, member_lease_name(self._identity))
        except ClusterError as e:
            _log.warning("shards: could not remove %s's liveness Lease (it expires): %s", self._identity, e)
