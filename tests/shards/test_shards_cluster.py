"""Sharding on the session's cluster: Leases shared out among replicas, and three daemons that
split the tenants, each applied exactly once, a killed replica's tenants taken over within the
lease time (issue 15)."""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

from daemon.edges.kube import KubeClient
from daemon.policy.shards import assign, shard_of
from daemon.runtime.daemon import Daemon
from daemon.state.shards import ShardKeeper
from tests.daemon.harness import Setup, http_get
from tests.fixtures_cluster import wait_for
from tests.platforms import PlatformRepo, _dump, app_spec, doc

SHARDS = 4


def keepers(kube: KubeClient, namespace: str, names: list[str], count: int = 8) -> list[ShardKeeper]:
    return [
        ShardKeeper(kube, namespace=namespace, identity=n, count=count, lease_seconds=3, renew_every=0.5) for n in names
    ]


def settle(group: list[ShardKeeper], timeout: float = 20) -> dict[str, frozenset[int]]:
    """Rounds until every live keeper holds exactly what the hash gives it."""

    def held() -> dict[str, frozenset[int]] | None:
        for keeper in group:
            keeper.round()
        owners = assign(group[0].count, [k.identity for k in group])
        wanted = {k.identity: frozenset(s for s, o in owners.items() if o == k.identity) for k in group}
        now = {k.identity: k.held for k in group}
        return now if now == wanted else None

    found = wait_for(held, timeout=timeout, message="every shard on the replica the hash names", interval=0.2)
    assert found is not None
    return found


def test_shards_are_shared_out_moved_to_a_newcomer_and_taken_from_a_dead_replica(kubeconfig: Path) -> None:
    kube = KubeClient(str(kubeconfig))
    namespace = f"dockyard-sh-{secrets.token_hex(3)}"
    a, b, c, d = keepers(kube, namespace, ["a", "b", "c", "d"])
    try:
        three = settle([a, b, c])
        assert sorted(s for held in three.values() for s in held) == list(range(8)), "each shard held once"
        four = settle([a, b, c, d])
        assert four["d"], "the newcomer got shards"
        for name in "abc":
            assert four[name] <= three[name], "a shard moved only to the newcomer"
        # c dies without a word: its Leases stay until they expire.
        c.stop(release=False)
        died = time.monotonic()
        orphaned = four["c"]
        group = [a, b, d]

        def taken() -> bool:
            for keeper in group:
                keeper.round()
            return orphaned <= a.held | b.held | d.held

        wait_for(taken, timeout=20, message="c's shards taken over", interval=0.2)
        takeover = time.monotonic() - died
        assert takeover < 3 + 2.5, f"taken over after {takeover:.1f}s with a 3s lease"
        print(f"a dead replica's shards taken over after {takeover:.1f}s (3s lease)")
        after = settle(group)
        assert sorted(s for held in after.values() for s in held) == list(range(8))
        assert all(after[k] >= four[k] for k in "abd"), "only c's shards moved"
    finally:
        for keeper in (a, b, d):
            keeper.stop(release=True)
        kube.close()


class ManyTenants(PlatformRepo):
    """The harness's platform plus ``count`` tenants of one app each."""

    def __init__(self, root: Path, prefix: str, count: int) -> None:
        super().__init__(root, prefix, apps=1)
        self.volumes = {}
        self.apps["app0"]["spec"].pop("volumes", None)
        self.others = {f"{prefix}-{n}": "busybox:1.36" for n in range(count)}

    def write(self) -> Path:
        root = super().write()
        for name, image in self.others.items():
            folder = root / "tenants" / name
            folder.mkdir(parents=True, exist_ok=True)
            tenant = doc("Tenant", name, {"quota": {"cpu": "2", "memory": "2Gi", "pods": 10}})
            _dump(folder / "tenant.yaml", tenant)
            _dump(folder / "app-web.yaml", doc("App", "web", app_spec(image=image, replicas=1)))
        return root


def image_of(setup: Setup, tenant: str) -> str | None:
    obj = setup.kube.get(setup.kube.resource_type("apps/v1", "Deployment"), tenant, "web")
    return None if obj is None else str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def holder_of(daemons: list[Daemon], tenant: str) -> Daemon:
    [holder] = [d for d in daemons if d.shard_keeper is not None and shard_of(tenant, SHARDS) in d.shard_keeper.held]
    return holder


def creations(daemons: list[Daemon], tenant: str, sha: str) -> int:
    """How many sync records of ``sha`` say they created the tenant's Deployment."""
    records = [r for r in daemons[0].history.list() if r.revision == sha and r.kind in ("sync", "drift")]
    wanted = f"Deployment.apps/{tenant}/web"
    return sum(1 for r in records for change in r.changes if wanted in change and "creat" in change)


def test_three_daemons_apply_every_tenant_once_and_a_killed_replica_s_tenants_move_within_the_lease(
    setup: Setup,
) -> None:
    setup.platform = ManyTenants(setup.work, setup.platform.tenant, count=8)
    tenants = list(setup.platform.others)
    setup.platform.others = {}
    setup.commit("the harness tenant only")
    daemons = [setup.start(shards=SHARDS) for _ in range(3)]
    identities = [d.settings.leader.identity for d in daemons]
    owners = assign(SHARDS, identities)

    def settled() -> bool:
        return all(
            d.shard_keeper is not None
            and d.shard_keeper.held == {s for s, o in owners.items() if o == d.settings.leader.identity}
            for d in daemons
        )

    wait_for(settled, timeout=30, message="the shards shared out among the three replicas")
    for daemon in daemons:
        status = json.loads(http_get(daemon, "/status")[1])["shards"]
        mine = sorted(s for s, o in owners.items() if o == daemon.settings.leader.identity)
        assert status == {"count": SHARDS, "held": mine, "replicas": sorted(identities)}
    setup.platform.others = dict.fromkeys(tenants, "busybox:1.36")
    sha = setup.commit("eight tenants")
    for daemon in daemons:
        daemon.runner.request("webhook")
    for tenant in tenants:
        wait_for(lambda t=tenant: image_of(setup, t), timeout=120, message=f"{tenant} applied")

    def every_creation_recorded() -> dict[str, int] | None:
        counts = {t: creations(daemons, t, sha) for t in tenants}
        return counts if all(counts.values()) else None

    counts = wait_for(every_creation_recorded, timeout=60, message="the sync records of every tenant")
    assert counts == dict.fromkeys(tenants, 1), "every tenant's objects created by exactly one replica"
    told: Counter[tuple[str, int]] = Counter()
    for index, sink in enumerate(setup.sinks):
        for event in sink.events:
            if event.name == "sync.succeeded" and event.tenant in tenants and event.commit and event.commit.sha == sha:
                told[(event.tenant, index)] += 1
    for tenant in tenants:
        [(index, times)] = [(i, n) for (t, i), n in told.items() if t == tenant]
        assert times == 1, f"{tenant}'s sync told {times} times"
        assert daemons[index] is holder_of(daemons, tenant), f"{tenant}'s sync told by the replica of its shard"
    leaders = [d for d in daemons if d.is_leader()]
    assert len(leaders) == 1

    # The replica of some tenant's shard dies mid-flight, without releasing anything.
    victim_tenant = next(t for t in tenants if holder_of(daemons, t) is not leaders[0])
    victim = holder_of(daemons, victim_tenant)
    assert victim.shard_keeper is not None
    victim.shard_keeper.stop(release=False)
    victim.runner.stop()
    if victim.elector is not None:
        victim.elector.stop(release=False)
    died = time.monotonic()
    setup.platform.others[victim_tenant] = "busybox:1.37"
    setup.commit(f"{victim_tenant} on 1.37")
    survivors = [d for d in daemons if d is not victim]
    for daemon in survivors:
        daemon.runner.request("webhook")
    wait_for(
        lambda: image_of(setup, victim_tenant),
        timeout=30,
        message=f"{victim_tenant}'s change applied by a survivor",
        until=lambda image: image == "busybox:1.37",
    )
    took = time.monotonic() - died
    lease = victim.settings.leader.lease_seconds
    assert took < 2 * lease + 5, f"applied {took:.1f}s after the replica died, with a {lease:.0f}s lease"
    print(f"killed replica's tenant applied {took:.1f}s after it died ({lease:.0f}s lease)")
    still: dict[str, Any] = {t: image_of(setup, t) for t in tenants if t != victim_tenant}
    assert set(still.values()) == {"busybox:1.36"}


def test_a_shard_is_handed_over_only_after_the_running_cycle_and_kept_renewed_meanwhile(kubeconfig: Path) -> None:
    kube = KubeClient(str(kubeconfig))
    namespace = f"dockyard-sh-{secrets.token_hex(3)}"
    a, b = keepers(kube, namespace, ["a", "b"])
    try:
        settle([a])
        with a.cycle() as held:
            assert held == frozenset(range(8))
            # b joins while a applies: for two lease times a keeps (and renews) every shard.
            until = time.monotonic() + 2 * 3
            while time.monotonic() < until:
                a.round()
                b.round()
                assert a.held == frozenset(range(8)) and not b.held
                time.sleep(0.2)
        after = settle([a, b])
        assert after["b"] and after["a"] | after["b"] == frozenset(range(8)), "handed over once the cycle ended"
    finally:
        for keeper in (a, b):
            keeper.stop(release=True)
        kube.close()
