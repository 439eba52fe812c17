"""Inventory and the prune guard (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.model.refs import ObjRef
from daemon.policy.inventory import (
    CHUNK_BYTES,
    CLUSTER_SCOPE,
    Inventory,
    by_scope,
    chunks,
    is_legacy,
    parse_chunk,
    plan_prune,
)


def ref(kind: str, name: str, ns: str = "shop", group: str = "") -> ObjRef:
    return ObjRef(group, kind, ns, name)


def owned(policy: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"labels": {"app.kubernetes.io/managed-by": "dockyard"}}
    if policy:
        meta["annotations"] = {"dockyard.dev/deletion-policy": policy}
    return {"metadata": meta}


def test_inventory_round_trips_through_configmap_data() -> None:
    inv = Inventory.of([ref("Deployment", "web", group="apps"), ref("Namespace", "shop", ns="")], "abc")
    assert Inventory.parse(inv.serialise()) == inv
    assert inv.serialise()["entries"].splitlines() == ["_shop__Namespace", "shop_web_apps_Deployment"]


def test_stale_objects_are_pruned_but_retained_volumes_and_namespaces_stay() -> None:
    web, pvc, ns, gone = (
        ref("Deployment", "web", group="apps"),
        ref("PersistentVolumeClaim", "data"),
        ref("Namespace", "old", ns=""),
        ref("Service", "x"),
    )
    keep = [ref("Service", f"s{i}") for i in range(10)]
    inv = Inventory.of([web, pvc, ns, gone, *keep])
    plan = plan_prune(inv, keep, {web: owned(), pvc: owned(), ns: owned("Retain")}, max_fraction=0.5)
    assert plan.delete == (web,)
    assert {r for r, _ in plan.retain} == {pvc, ns}
    assert not plan.blocked


def test_volumes_with_delete_policy_are_pruned() -> None:
    pvc = ref("PersistentVolumeClaim", "scratch")
    keep = [ref("Service", f"s{i}") for i in range(10)]
    plan = plan_prune(Inventory.of([pvc, *keep]), keep, {pvc: owned("Delete")}, max_fraction=0.5)
    assert plan.delete == (pvc,)


def test_objects_no_longer_labelled_as_ours_are_left_alone() -> None:
    svc = ref("Service", "adopted")
    plan = plan_prune(
        Inventory.of([svc, ref("Service", "k")]), [ref("Service", "k")], {svc: {"metadata": {}}}, max_fraction=1
    )
    assert plan.delete == ()
    assert "no longer labelled" in plan.retain[0][1]


@pytest.mark.parametrize(("stale", "blocked"), [(3, False), (4, True)])
def test_mass_deletion_guard(stale: int, blocked: bool) -> None:
    objs = [ref("Service", f"s{i}") for i in range(10)]
    inv = Inventory.of(objs)
    live = {r: owned() for r in objs}
    plan = plan_prune(inv, objs[stale:], live, max_fraction=0.3)
    assert plan.blocked is blocked
    if blocked:
        assert "4 of 10" in plan.reason and "--allow-mass-prune" in plan.reason
        assert not plan_prune(inv, objs[stale:], live, max_fraction=0.3, allow_mass_prune=True).blocked


def test_a_scope_splits_into_pieces_below_the_object_limit_and_reads_back_whole() -> None:
    refs = {ref("Deployment", f"worker-{i:05d}", group="apps") for i in range(30_000)}
    refs |= {ref("Service", f"worker-{i:05d}") for i in range(30_000)}
    pieces = chunks(refs, "abc")
    sizes = [sum(len(k) + len(v) for k, v in piece.items()) for piece in pieces]
    assert len(pieces) > 1 and max(sizes) <= CHUNK_BYTES + 64
    read = frozenset().union(*(parse_chunk("shop", piece)[0] for piece in pieces))
    assert read == refs
    assert all(piece["revision"] == "abc" and piece["format"] == "v2" for piece in pieces)


def test_objects_are_inventoried_in_their_namespace_and_cluster_objects_apart() -> None:
    web, ns, cls = ref("Deployment", "web", group="apps"), ref("Namespace", "shop", ns=""), ref("StorageClass", "x", "")
    other = ref("Service", "api", ns="billing")
    scopes = by_scope([web, ns, cls, other])
    assert scopes == {"shop": {web}, "billing": {other}, CLUSTER_SCOPE: {ns, cls}}
    (piece,) = chunks(scopes["shop"], "r1")
    assert piece == {"format": "v2", "revision": "r1", "Deployment.apps": "web"}


def test_a_tenant_s_piece_cannot_name_another_namespace_or_the_cluster() -> None:
    # A tenant can write ConfigMaps in its namespace: whatever it writes names only its own objects.
    forged = {
        "format": "v2",
        "Deployment.apps": "web\n../billing/api\nbilling_api_apps_Deployment",
        "Namespace": "billing",
        "not a kind": "x",
        "entries": "billing_api_apps_Deployment",
    }
    entries, refused = parse_chunk("shop", forged)
    assert entries == {ref("Deployment", "web", group="apps"), ref("Namespace", "billing", ns="shop")}
    assert all(r.namespace == "shop" for r in entries)
    assert refused == 4  # two names that are no object names, and the lines of two keys that are no kind
    assert not is_legacy(forged)
