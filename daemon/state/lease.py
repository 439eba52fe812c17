"""Leader election on a ``coordination.k8s.io/v1`` Lease, so only one replica applies.

Public API::

    LeaderElector(kube, *, namespace, name, identity, lease_seconds=15, renew_every=5,
                  clock=time.time)
        try_acquire_or_renew() -> bool   one round: take a free or expired lease, renew ours
        is_leader                        True only while our last renewal is fresh enough
        holder                           the identity last seen holding the lease ("" if none)
        run_in_background(on_started, on_stopped)
                                         a daemon thread runs a round every ``renew_every``
                                         seconds; the callbacks run in a second thread
        stop(release=True)               ends the loop, calls on_stopped if we led, and (with
                                         release) clears holderIdentity so a successor takes
                                         over at its next round instead of after the lease;
                                         the elector stays stopped until run_in_background
        observe(lease)                   notes a read of the Lease made elsewhere (expiry counts
                                         from when a change was first seen)
        release()                        gives the lease up at once without stopping (a
                                         shard handed to another replica)

The protocol is client-go's: every write carries the resourceVersion it read, so of two
replicas writing at once the API server accepts one and answers the other 409. A follower judges
expiry by *its own* clock from the moment it saw the record change, never by comparing the
holder's ``renewTime`` with its clock, so clock skew between nodes cannot make two leaders.

The leader gives up on its own: it counts as leader only until ``lease_seconds - min(renew_every,
lease_seconds / 3)`` after the start of its last successful renewal, which is before any follower
can consider the lease expired. ``on_stopped`` is then called even when the renewal request is
still hanging on an unreachable API server. Callers that act for a long time (an apply) should
check :attr:`is_leader` between steps, not only rely on the callback.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from daemon.edges.kube import KubeClient, ResourceType
from daemon.errors import ClusterError

__all__ = ["LeaderElector", "micro_time"]

_log = logging.getLogger(__name__)

_LEASE_API = "coordination.k8s.io/v1"


def micro_time(timestamp: float) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """One candidate in the election for the Lease ``namespace/name``."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: float = 15,
        renew_every: float = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not identity:
            raise ValueError("identity must not be empty")
        if not 0 < renew_every < lease_seconds:
            raise ValueError("renew_every must be positive and shorter than lease_seconds")
        self._kube = kube
        self._namespace = namespace
        self._name = name
        self._identity = identity
        self._lease_seconds = float(lease_seconds)
        self._renew_every = float(renew_every)
        self._clock = clock
        # Leadership ends before the lease does, by up to one renewal interval.
        self._validity = self._lease_seconds - min(self._renew_every, self._lease_seconds / 3)

        self._cond = threading.Condition()
        # One round at a time: the background loop and a direct call must not interleave.
        self._round_lock = threading.Lock()
        self._leader = False
        self._valid_until = 0.0
        self._holder = ""
        self._observed_record: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._failing = False

        self._stop_event = threading.Event()
        self._stopping = False
        self._threads: list[threading.Thread] = []

    # --- state

    @property
    def _rtype(self) -> ResourceType:
        # Resolved on first use (the client caches it): constructing this does no I/O.
        return self._kube.resource_type(_LEASE_API, "Lease")

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def is_leader(self) -> bool:
        with self._cond:
            return self._is_leader_locked()

    @property
    def holder(self) -> str:
        with self._cond:
            return self._holder

    def _is_leader_locked(self) -> bool:
        return self._leader and self._clock() < self._valid_until

    # --- one round

    def try_acquire_or_renew(self) -> bool:
        """Acquires the lease if it is free or expired, renews it if ours; returns is_leader.

        API errors are logged, not raised: a leader whose renewal fails stays leader until its
        current term runs out, which is exactly what :attr:`is_leader` reports.
        """
        with self._round_lock:
            return self._try_round()

    def _try_round(self) -> bool:
        started = self._clock()
        try:
            won = self._round(started)
        except ClusterError as e:
            if e.status == 409:
                _log.info("lease %s/%s: another replica wrote it first", self._namespace, self._name)
                self._update(leader=False)
                return False
            if not self._failing:  # once per outage, not every round
                _log.warning("lease %s/%s: election round failed: %s", self._namespace, self._name, e)
            self._failing = True
            return self.is_leader
        if self._failing:
            _log.info("lease %s/%s: the API server answers again", self._namespace, self._name)
            self._failing = False
        # A renewal that was stuck while stop() ran must not make a stopped elector leader again.
        if won and not self._stop_event.is_set():
            self._update(leader=True, valid_until=started + self._validity, holder=self._identity)
        return self.is_leader

    def observe(self, lease: Mapping[str, Any]) -> None:
        """Notes the Lease as read elsewhere (a list of the namespace's Leases): a candidate that
        watches a Lease it does not try for yet knows how long it has gone unrenewed once it does."""
        with self._round_lock:
            self._observe(lease.get("spec") or {}, self._clock())

    def _observe(self, spec: Mapping[str, Any], now: float) -> None:
        holder = str(spec.get("holderIdentity") or "")
        record = (holder, spec.get("renewTime"), spec.get("leaseTransitions"), spec.get("leaseDurationSeconds"))
        if record != self._observed_record:
            self._observed_record = record
            self._observed_at = now

    def _round(self, now: float) -> bool:
        lease = self._kube.get(self._rtype, self._namespace, self._name)
        if lease is None:
            self._create(now)
            self._forget_observation()
            return True
        spec: dict[str, Any] = lease.setdefault("spec", {})
        holder = str(spec.get("holderIdentity") or "")
        self._observe(spec, now)
        duration = float(spec.get("leaseDurationSeconds") or self._lease_seconds)
        if holder and holder != self._identity and now < self._observed_at + duration:
            self._update(leader=False, holder=holder)
            return False

        stamp = micro_time(now)
        if holder != self._identity:
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            spec["acquireTime"] = stamp
        spec["holderIdentity"] = self._identity
        spec["leaseDurationSeconds"] = self._lease_duration()
        spec["renewTime"] = stamp
        # The resourceVersion we read stays in metadata: a concurrent writer makes this a 409.
        self._kube.replace(lease)
        if holder != self._identity:
            _log.info(
                "lease %s/%s acquired by %s (previous holder: %s)",
                self._namespace,
                self._name,
                self._identity,
                holder or "none",
            )
        self._forget_observation()
        return True

    def _forget_observation(self) -> None:
        # After our own write, whatever we read next that differs is someone else's takeover and
        # starts a fresh expiry wait.
        self._observed_record = None

    def _create(self, now: float) -> None:
        stamp = micro_time(now)
        lease = {
            "apiVersion": _LEASE_API,
            "kind": "Lease",
            "metadata": {"name": self._name, "namespace": self._namespace},
            "spec": {
                "holderIdentity": self._identity,
                "leaseDurationSeconds": self._lease_duration(),
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            },
        }
        try:
            self._kube.create(lease)
        except ClusterError as e:
            if e.status != 404:
                raise  # 409: another replica created it first, and won
            # The namespace does not exist yet (first start of the first replica).
            self._kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self._namespace}})
            self._kube.create(lease)
        _log.info("lease %s/%s created and held by %s", self._namespace, self._name, self._identity)

    def _lease_duration(self) -> int:
        return max(1, math.ceil(self._lease_seconds))

    def _update(self, *, leader: bool, valid_until: float | None = None, holder: str | None = None) -> None:
        with self._cond:
            self._leader = leader
            if valid_until is not None:
                self._valid_until = valid_until
            if holder is not None:
                self._holder = holder
            self._cond.notify_all()

    # --- background loop

    def run_in_background(self, on_started: Callable[[], None], on_stopped: Callable[[], None]) -> None:
        """Starts the election loop; ``on_started``/``on_stopped`` run on every change of
        leadership, in order, in a thread of their own (a slow callback never delays renewal)."""
        if self._threads:
            raise RuntimeError("the leader elector is already running")
        self._stop_event.clear()
        with self._cond:
            self._stopping = False
        renewer = threading.Thread(target=self._renew_loop, name=f"dockyard-lease-{self._name}", daemon=True)
        notifier = threading.Thread(
            target=self._notify_loop,
            args=(on_started, on_stopped),
            name=f"dockyard-lease-{self._name}-callbacks",
            daemon=True,
        )
        self._threads = [renewer, notifier]
        renewer.start()
        notifier.start()

    def stop(self, release: bool = True) -> None:
        """Stops the loop; with ``release``, hands the lease over at once instead of letting it
        expire. ``on_stopped`` has returned by the time the lease is released."""
        self._stop_event.set()
        renewer, notifier = self._threads if self._threads else (None, None)
        if renewer is not None:
            # A renewal stuck on a dead API server must not hold up shutdown for long.
            renewer.join(timeout=max(2 * self._renew_every, 5.0))
        with self._cond:
            was_leader = self._is_leader_locked()
            self._leader = False
            self._stopping = True
            self._cond.notify_all()
        if notifier is not None:
            notifier.join(timeout=60)
        self._threads = []
        if release and was_leader:
            self._release()

    def _renew_loop(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.try_acquire_or_renew()
            except Exception:
                # Not an API error (those are handled): log it and keep electing; a dead loop
                # would leave a leader that believes in itself until the lease runs out.
                _log.exception("lease %s/%s: election round failed", self._namespace, self._name)
            self._stop_event.wait(self._renew_every)

    def _notify_loop(self, on_started: Callable[[], None], on_stopped: Callable[[], None]) -> None:
        announced = False
        while True:
            with self._cond:
                while not self._stopping and self._is_leader_locked() == announced:
                    # Wake when the term may run out even if no renewal round ever returns.
                    wait = self._renew_every
                    if announced:
                        wait = min(wait, max(self._valid_until - self._clock(), 0.01))
                    self._cond.wait(wait)
                if self._stopping:
                    break
                leader = self._is_leader_locked()
            self._call(on_started if leader else on_stopped, "started" if leader else "stopped")
            announced = leader
        if announced:
            self._call(on_stopped, "stopped")

    def _call(self, callback: Callable[[], None], what: str) -> None:
        _log.info("lease %s/%s: %s leading (%s)", self._namespace, self._name, what, self._identity)
        try:
            callback()
        except Exception:
            _log.exception("lease %s/%s: the on_%s callback failed", self._namespace, self._name, what)

    def release(self) -> None:
        """Gives the lease up now, without stopping (a hand-over to the candidate it belongs to):
        not leader from here, and the holder cleared so that candidate takes it at its next
        round instead of after the lease."""
        with self._round_lock:
            was_leader = self.is_leader
            self._update(leader=False)
            if was_leader:
                self._release()

    def _release(self) -> None:
        try:
            lease = self._kube.get(self._rtype, self._namespace, self._name)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self._identity:
                return
            spec = lease["spec"]
            spec["holderIdentity"] = None
            spec["leaseDurationSeconds"] = 1
            spec["renewTime"] = micro_time(self._clock())
            self._kube.replace(lease)
            _log.info("lease %s/%s released by %s", self._namespace, self._name, self._identity)
        except ClusterError as e:
            # The lease simply expires instead; a successor waits a little longer.
            _log.warning("lease %s/%s: release failed: %s", self._namespace, self._name, e)
