"""Routing is pure: NotificationLists, tenants and the default list decide who hears what."""

from __future__ import annotations

from daemon.model.events import EVENT_NAMES
from notifiers.routing import Router, RoutingTable, route, target_key, target_label
from tests.notifiers.helpers import email, event, model, nlist, slack, webhook

PLATFORM = nlist("platform", slack("#platform"), events=("sync.*", "backup.failed"))
SHOP = nlist("shop", slack("#shop"), events=("sync.*", "health.*"))
SHOP_BACKUPS = nlist("shop-backups", email("ops@example.com"), events=("backup.*",), min_severity="warning")
ONCALL = nlist("shop-oncall", webhook(secret_ref="pager"), events=("sync.failed",), min_severity="warning")
MODEL = model(
    PLATFORM, SHOP, SHOP_BACKUPS, ONCALL, tenants={"shop": ["shop", "shop-backups"], "quiet": []}, default="platform"
)
TABLE = RoutingTable.from_model(MODEL)


def lists_of(e: object) -> list[str]:
    return [r.list_name for r in route(TABLE, e)]  # type: ignore[arg-type]


def test_platform_events_go_to_the_default_list() -> None:
    assert lists_of(event("sync.failed", tenant=None)) == ["platform"]


def test_tenant_events_go_to_the_tenants_lists_and_the_default_list_filtered_by_pattern() -> None:
    assert lists_of(event("sync.succeeded", tenant="shop")) == ["shop", "platform"]
    assert lists_of(event("health.degraded", tenant="shop")) == ["shop"]  # the platform wants no health
    assert lists_of(event("scaling.succeeded", tenant="shop")) == []
    assert lists_of(event("command.executed", tenant="quiet")) == []
    assert lists_of(event("sync.failed", tenant="quiet")) == ["platform"]


def test_glob_patterns_and_min_severity() -> None:
    assert lists_of(event("backup.failed", tenant="shop")) == ["shop-backups", "platform"]  # critical by default
    assert lists_of(event("backup.created", tenant="shop")) == []  # info < warning
    assert lists_of(event("backup.created", tenant="shop", severity="warning")) == ["shop-backups"]


def test_unknown_tenant_falls_back_to_the_default_list() -> None:
    assert lists_of(event("sync.failed", tenant="deleted-yesterday")) == ["platform"]


def test_alerts_may_name_lists_which_skip_patterns_but_not_min_severity() -> None:
    firing = event("alert.firing", tenant="shop", details={"alert": "restarts", "notify": ["shop-oncall"]})
    assert lists_of(firing) == ["shop-oncall"]  # ONCALL's patterns do not mention alerts
    info = event("alert.firing", tenant="shop", severity="info", details={"notify": "shop-oncall"})
    assert lists_of(info) == []
    # Only alert events may name lists.
    named = event("sync.failed", tenant="shop", details={"notify": ["shop-oncall"]})
    assert lists_of(named) == ["shop", "platform"]


def test_resolved_alerts_use_the_firing_severity() -> None:
    resolved = event("alert.resolved", tenant="shop", details={"notify": ["shop-oncall"], "firingSeverity": "critical"})
    assert lists_of(resolved) == ["shop-oncall"]
    assert lists_of(event("alert.resolved", tenant="shop", details={"notify": ["shop-oncall"]})) == []


def test_a_target_in_several_lists_gets_the_event_once() -> None:
    both = model(nlist("a", slack("#x")), nlist("b", slack("#x"), slack("#y")), tenants={"t": ["a", "b"]})
    routes = route(RoutingTable.from_model(both), event("sync.failed", tenant="t"))
    assert [(r.list_name, r.target.channel) for r in routes] == [("a", "#x"), ("b", "#y")]


def test_unknown_list_names_are_skipped_not_fatal() -> None:
    broken = model(nlist("a", slack("#x")), tenants={"t": ["missing", "a"]})
    assert [r.list_name for r in route(RoutingTable.from_model(broken), event("sync.failed", tenant="t"))] == ["a"]


def test_every_documented_event_name_routes_to_a_catch_all_list() -> None:
    table = RoutingTable.from_model(model(nlist("all", slack("#all")), default="all"))
    for name in EVENT_NAMES:
        assert len(route(table, event(name))) == 1, name


def test_router_reconfigure_swaps_the_whole_table() -> None:
    router = Router()
    assert not router.configured
    assert router.route(event("sync.failed")) == ()
    router.reconfigure(MODEL)
    assert [r.list_name for r in router.route(event("sync.failed"))] == ["platform"]
    router.reconfigure(model(nlist("new", slack("#new")), default="new"))
    assert [r.list_name for r in router.route(event("sync.failed"))] == ["new"]


def test_target_keys_are_stable_and_secret_free() -> None:
    url = "https://hooks.example.com/services/T000/B000/s3cr3tt0k3n"
    hook = webhook(url=url)
    assert target_key(hook) == target_key(webhook(url=url))
    assert "s3cr3t" not in target_key(hook)
    assert "s3cr3t" not in target_label(hook)
    assert target_key(slack("#a")) == "slack:#a"
    assert "ops@example.com" not in target_key(email("ops@example.com"))
    assert target_key(webhook(secret_ref="a")) != target_key(webhook(secret_ref="b"))
