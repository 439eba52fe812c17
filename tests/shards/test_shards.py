"""Sharding's pure rules: which shard a tenant is in, which replica a shard is on, and what a
replica's plan keeps of a revision (issue 15)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from daemon.model.labels import TENANT_LABEL
from daemon.policy.diff import Change, ChangeSet
from daemon.policy.inventory import CLUSTER_SCOPE, Inventory, PrunePlan
from daemon.policy.plan import Plan
from daemon.policy.shards import PLATFORM, Ownership, assign, shard_of
from daemon.render import objref

TENANTS = [f"team-{n}" for n in range(2000)]


def test_a_tenant_s_shard_is_stable_and_tenants_spread_evenly() -> None:
    assert [shard_of(t, 8) for t in TENANTS[:50]] == [shard_of(t, 8) for t in TENANTS[:50]]
    counts = Counter(shard_of(t, 8) for t in TENANTS)
    assert set(counts) == set(range(8))
    assert max(counts.values()) < 1.25 * len(TENANTS) / 8, counts


def test_one_more_shard_moves_about_one_tenant_in_n_and_only_into_the_new_shard() -> None:
    moved = [t for t in TENANTS if shard_of(t, 8) != shard_of(t, 9)]
    assert all(shard_of(t, 9) == 8 for t in moved)
    assert 0.07 < len(moved) / len(TENANTS) < 0.16  # about 1/9


def test_a_replica_that_joins_takes_shards_only_from_the_others_and_one_that_leaves_gives_only_its_own() -> None:
    three = assign(64, ["a", "b", "c"])
    assert set(Counter(three.values()).values()) <= set(range(14, 30)) and set(three.values()) == {"a", "b", "c"}
    four = assign(64, ["a", "b", "c", "d"])
    assert all(four[s] in (three[s], "d") for s in range(64)), "a shard moves only to the newcomer"
    two = assign(64, ["a", "c"])
    assert all(two[s] == three[s] for s in range(64) if three[s] != "b"), "only b's shards move"
    assert assign(64, []) == {}


def test_shard_counts_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one shard"):
        shard_of("shop", 0)


def test_ownership_of_the_platform_and_of_tenants() -> None:
    whole = Ownership.everything()
    assert whole.whole and whole.owns(PLATFORM) and whole.owns("shop")
    shop = shard_of("shop", 4)
    mine = Ownership(4, frozenset({shop}), platform=False)
    assert mine.owns("shop") and not mine.owns(PLATFORM) and not mine.whole and mine.anything
    assert [t for t in TENANTS[:40] if mine.owns(t)] == [t for t in TENANTS[:40] if shard_of(t, 4) == shop]
    assert not Ownership(4, frozenset(), platform=False).anything
    assert Ownership(4, frozenset(), platform=True).anything


def _obj(kind: str, name: str, namespace: str | None = None, tenant: str | None = None) -> dict[str, Any]:
    api = "apps/v1" if kind == "Deployment" else "v1"
    meta: dict[str, Any] = {"name": name, "labels": {TENANT_LABEL: tenant} if tenant else {}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def _pick_two_tenants_on_different_shards() -> tuple[str, str]:
    first = TENANTS[0]
    second = next(t for t in TENANTS if shard_of(t, 4) != shard_of(first, 4))
    return first, second


def test_a_replica_s_plan_keeps_only_its_tenants_changes_and_writes_only_their_inventory() -> None:
    mine, theirs = _pick_two_tenants_on_different_shards()
    desired = [
        _obj("Namespace", mine, tenant=mine),
        _obj("Deployment", "api", mine, tenant=mine),
        _obj("Namespace", theirs, tenant=theirs),
        _obj("Deployment", "api", theirs, tenant=theirs),
        _obj("ClusterRole", "tenant-view"),  # the platform's own
    ]
    gone_mine = _obj("Deployment", "old", mine, tenant=mine)
    gone_theirs = _obj("Deployment", "old", theirs, tenant=theirs)
    changes = [Change("create", objref(o), (), "", o) for o in desired]
    changes += [Change("prune", objref(o)) for o in (gone_mine, gone_theirs)]
    live = {objref(o): o for o in (gone_mine, gone_theirs)}
    inventory = Inventory.of([objref(gone_mine), objref(gone_theirs)], "r0")
    plan = Plan(
        ChangeSet(tuple(changes)),
        PrunePlan((objref(gone_mine), objref(gone_theirs)), (), False),
        inventory,
        tuple(desired),
        live,
    )
    ownership = Ownership(4, frozenset({shard_of(mine, 4)}), platform=False)
    cut = plan.only(ownership.owns)
    assert {(c.action, str(c.ref)) for c in cut.changeset.changes} == {
        ("create", f"Namespace/{mine}"),
        ("create", f"Deployment.apps/{mine}/api"),
        ("prune", f"Deployment.apps/{mine}/old"),
    }
    assert cut.prune.delete == (objref(gone_mine),)
    assert {objref(o) for o in cut.desired} == {objref(desired[0]), objref(desired[1])}
    # The other tenant's objects and the platform's stay listed in the inventory it writes ...
    assert cut.foreign == {objref(o) for o in (*desired[2:], gone_theirs)}
    # ... but it writes only its tenant's namespace piece: the cluster piece is the leader's.
    assert cut.scopes == {mine}
    leader = plan.only(Ownership(4, frozenset(), platform=True).owns)
    assert [str(c.ref) for c in leader.changeset.changes] == ["ClusterRole/tenant-view"]
    assert leader.scopes == {CLUSTER_SCOPE}
    assert not leader.prune.delete


def test_a_mass_prune_of_another_shard_does_not_block_this_one() -> None:
    mine, theirs = _pick_two_tenants_on_different_shards()
    gone = _obj("Deployment", "old", theirs, tenant=theirs)
    plan = Plan(
        ChangeSet((Change("blocked", objref(gone)),)),
        PrunePlan((objref(gone),), (), True, "would delete 100% of the objects"),
        Inventory.of([objref(gone)]),
        (),
        {objref(gone): gone},
    )
    cut = plan.only(Ownership(4, frozenset({shard_of(mine, 4)}), platform=False).owns)
    assert not cut.prune.blocked and not cut.changeset.changes and cut.foreign == {objref(gone)}
    theirs_cut = plan.only(Ownership(4, frozenset({shard_of(theirs, 4)}), platform=False).owns)
    assert theirs_cut.prune.blocked and theirs_cut.prune.delete == (objref(gone),)
