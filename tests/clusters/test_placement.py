"""Moves between clusters: the prune where a tenant was waits until it runs where it went."""

from __future__ import annotations

from dataclasses import replace

from daemon.model.clusters import Cluster, Placement
from daemon.model.kinds import Platform, PlatformModel, Tenant
from daemon.model.refs import Metadata, SourceRef
from daemon.policy.placement import waiting_moves

SRC = SourceRef("platform.yaml", 1)


def model(placement: Placement | None) -> PlatformModel:
    platform = Platform(Metadata("p"), SRC, clusters=(Cluster("eu", default=True), Cluster("us"), Cluster("ap")))
    return PlatformModel(platform, tenants=(Tenant(Metadata("shop"), SRC, placement=placement),))


def test_the_prune_waits_until_every_new_cluster_runs_the_revision() -> None:
    moved = model(Placement(clusters=("us", "ap")))
    assert waiting_moves(moved, "eu", "r2", {"eu": "r2", "us": "r1", "ap": "r1"}, {"shop"}) == {
        "shop": "moves to cluster us, ap: pruned here once it runs there"
    }
    assert waiting_moves(moved, "eu", "r2", {"us": "r2", "ap": "r1"}, {"shop"}) == {
        "shop": "moves to cluster ap: pruned here once it runs there"
    }
    assert waiting_moves(moved, "eu", "r2", {"us": "r2", "ap": "r2"}, {"shop"}) == {}


def test_a_cluster_this_daemon_does_not_drive_never_vouches_for_a_move() -> None:
    assert waiting_moves(model(Placement(clusters=("ap",))), "eu", "r2", {"eu": "r2", "us": "r2"}, {"shop"}) == {
        "shop": "moves to cluster ap: pruned here once it runs there"
    }


def test_a_tenant_that_stays_or_leaves_the_repo_is_not_a_move() -> None:
    stays = model(Placement(clusters=("eu", "us")))
    assert waiting_moves(stays, "eu", "r2", {}, {"shop"}) == {}
    assert waiting_moves(model(None), "eu", "r2", {}, {"shop"}) == {}  # the default cluster: here
    gone = replace(stays, tenants=())
    assert waiting_moves(gone, "eu", "r2", {}, {"shop", ""}) == {}
    # Platform-level objects (tenant "") are never held by a move.
    assert waiting_moves(model(Placement(match_labels={"zone": "x"})), "eu", "r2", {}, {""}) == {}
