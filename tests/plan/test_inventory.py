"""Inventory and the prune guard (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.model.refs import ObjRef
from daemon.policy.inventory import Inventory, plan_prune


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
