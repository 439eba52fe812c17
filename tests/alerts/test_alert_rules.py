"""The meaning of alert rules (pure): every condition's pending, firing and resolved states."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.loader import load_or_raise
from daemon.model.events import Event
from daemon.model.kinds import PlatformModel
from daemon.policy.alerting import (
    AlertEngine,
    Needs,
    RestartHistory,
    Transition,
    alert_event,
    duration_text,
    needs_of,
    targets,
)
from notifiers.pacing import signal_for
from notifiers.routing import RoutingTable, route
from tests.alerts.helpers import T0, at, key, model, observe, pod, rule, usage, workload

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"


def run(engine: AlertEngine, m: PlatformModel, seconds: float, **kwargs: Any) -> list[Transition]:
    return engine.evaluate(m, observe(seconds, **kwargs))


def events(engine: AlertEngine, m: PlatformModel, seconds: float, **kwargs: Any) -> list[Event]:
    return [alert_event(t) for t in run(engine, m, seconds, **kwargs)]


# --- podRestarts ----------------------------------------------------------------------------------

RESTARTS = rule("restarts", "podRestarts", app="web", over=5, window=600, notify=("oncall",))


def test_restarts_over_the_threshold_within_the_window_fire_at_once_with_the_details_routing_needs() -> None:
    engine, m = AlertEngine(), model(RESTARTS)
    old = T0 - timedelta(hours=1)
    assert run(engine, m, 0, pods=(pod("web", "web-a", 2, created=old), pod("web", "web-b", 0, created=old))) == []
    assert engine.state(key("restarts")) == "inactive"
    # 12 more restarts over two pods: the count, not the pods, is what matters.
    fired = events(engine, m, 30, pods=(pod("web", "web-a", 9, created=old), pod("web", "web-b", 5, created=old)))
    assert [e.name for e in fired] == ["alert.firing"]
    firing = fired[0]
    assert firing.summary == "shop/web: 12 pod restarts in 10m (over 5)"
    assert (firing.severity, firing.tenant, firing.app) == ("warning", "shop", "web")
    assert firing.time == at(30)
    assert {k: firing.details[k] for k in ("alert", "policy", "notify", "value", "threshold", "window")} == {
        "alert": "restarts",
        "policy": "shop",
        "notify": ["oncall"],
        "value": 12,
        "threshold": 5,
        "window": "10m",
    }
    assert engine.state(key("restarts")) == "firing"
    # Still over: no second firing.
    assert run(engine, m, 60, pods=(pod("web", "web-a", 10, created=old), pod("web", "web-b", 5, created=old))) == []


def test_exactly_over_restarts_is_not_more_than_over() -> None:
    engine, m = AlertEngine(), model(RESTARTS)
    assert run(engine, m, 0, pods=(pod("web", "web-a", 0, created=T0 - timedelta(hours=1)),)) == []
    assert run(engine, m, 30, pods=(pod("web", "web-a", 5, created=T0 - timedelta(hours=1)),)) == []
    assert [t.kind for t in run(engine, m, 60, pods=(pod("web", "web-a", 6, created=T0 - timedelta(hours=1)),))] == [
        "firing"
    ]


def test_restarts_leave_the_window_exactly_window_seconds_after_they_were_seen() -> None:
    engine, m = AlertEngine(), model(RESTARTS)
    old = T0 - timedelta(hours=1)
    run(engine, m, 0, pods=(pod("web", "web-a", 0, created=old),))
    assert [t.kind for t in run(engine, m, 30, pods=(pod("web", "web-a", 6, created=old),))] == ["firing"]
    # One second before the restarts are window-old they still count...
    assert run(engine, m, 629, pods=(pod("web", "web-a", 6, created=old),)) == []
    assert engine.history.increase("shop", "web", at(629), timedelta(seconds=600)) == 6
    # ...and at exactly window-old they are out: resolved, once.
    resolved = events(engine, m, 630, pods=(pod("web", "web-a", 6, created=old),))
    assert [e.name for e in resolved] == ["alert.resolved"]
    assert resolved[0].summary == "shop/web: restarts resolved after 10m: now 0 pod restarts in 10m (over 5)"
    assert resolved[0].details["firingSeverity"] == "warning"
    assert resolved[0].details["notify"] == ["oncall"]
    assert run(engine, m, 660, pods=(pod("web", "web-a", 6, created=old),)) == []


def test_a_new_pod_created_inside_the_window_counts_its_restarts_from_zero() -> None:
    engine, m = AlertEngine(), model(RESTARTS)
    fired = run(engine, m, 0, pods=(pod("web", "web-new", 7, created=at(-120)),))
    assert [(t.kind, t.reading.value if t.reading else None) for t in fired] == [("firing", 7)]


def test_a_pod_older_than_the_window_counts_from_its_first_sample() -> None:
    # After a daemon restart, nothing says when an old pod's restarts happened.
    engine, m = AlertEngine(), model(RESTARTS)
    assert run(engine, m, 0, pods=(pod("web", "web-old", 40, created=at(-3600)),)) == []
    assert run(engine, m, 30, pods=(pod("web", "web-old", 43, created=at(-3600)),)) == []
    assert engine.history.increase("shop", "web", at(30), timedelta(seconds=600)) == 3
    # Without a creation time the pod is treated as old too.
    assert run(engine, m, 60, pods=(pod("web", "web-old", 43), pod("web", "web-x", 9))) == []


def test_a_pod_that_disappears_keeps_counting_its_last_value() -> None:
    engine, m = AlertEngine(), model(RESTARTS)
    run(engine, m, 0, pods=(pod("web", "web-a", 0, created=at(-3600)),))
    assert run(engine, m, 30, pods=(pod("web", "web-a", 3, created=at(-3600)),)) == []
    # web-a crashed out and was replaced; its replacement restarted three times as well.
    fired = run(engine, m, 60, pods=(pod("web", "web-b", 3, created=at(40)),))
    assert [(t.kind, t.reading.value if t.reading else None) for t in fired] == [("firing", 6)]
    # When both are out of the window the gone pod is forgotten altogether.
    assert [t.kind for t in run(engine, m, 700, pods=(pod("web", "web-b", 3, created=at(40)),))] == ["resolved"]
    assert len(engine.history) == 1


def test_restarts_of_other_apps_and_tenants_do_not_count() -> None:
    engine, m = AlertEngine(), model(RESTARTS)
    created = at(-60)
    others = (pod("api", "api-a", 9, created=created), pod("web", "web-a", 9, created=created, tenant="other"))
    assert run(engine, m, 0, pods=others) == []
    assert engine.history.increase("shop", "api", at(0), timedelta(seconds=600)) == 9


def test_a_count_that_goes_down_counts_from_zero_again() -> None:
    history = RestartHistory()
    old = at(-3600)
    for seconds, count in ((0, 4), (30, 6), (60, 1), (90, 3)):
        history.record(at(seconds), [pod("web", "web-a", count, created=old)])
    assert history.increase("shop", "web", at(90), timedelta(seconds=600)) == 2 + 1 + 2


def test_history_keeps_one_baseline_sample_per_live_pod_and_forgets_gone_pods() -> None:
    history = RestartHistory()
    old = at(-3600)
    for seconds, count in ((0, 0), (10, 1), (20, 2), (30, 3)):
        history.record(at(seconds), [pod("web", "web-a", count, created=old), pod("web", "web-b", 0, created=old)])
    history.record(at(40), [pod("web", "web-a", 3, created=old)])  # web-b is gone
    history.prune(at(625), timedelta(seconds=600))
    assert len(history) == 2
    assert history.increase("shop", "web", at(625), timedelta(seconds=600)) == 1  # 2 -> 3 at 30s
    history.record(at(640), [pod("web", "web-a", 3, created=old)])
    history.prune(at(641), timedelta(seconds=600))
    assert len(history) == 1  # web-b was last seen at 30s, older than any window


# --- unavailable ----------------------------------------------------------------------------------

DOWN = rule("web-down", "unavailable", app="web", hold=120, severity="critical", notify=("oncall",))


def test_unavailable_is_pending_for_its_for_then_fires_once() -> None:
    engine, m = AlertEngine(), model(DOWN)
    healthy, short = (workload("web", 2, 2),), (workload("web", 2, 1),)
    assert run(engine, m, 0, workloads=healthy) == []
    assert run(engine, m, 30, workloads=short) == []
    assert engine.state(key("web-down")) == "pending"
    assert run(engine, m, 149, workloads=short) == []
    fired = events(engine, m, 150, workloads=short)  # held for exactly `for`
    assert [e.name for e in fired] == ["alert.firing"]
    assert fired[0].summary == "shop/web: 1 of 2 replicas available for 2m"
    assert fired[0].severity == "critical"
    assert fired[0].details["value"] == 1 and fired[0].details["threshold"] == 2
    assert fired[0].details["for"] == "2m" and fired[0].details["since"] == at(30).isoformat()
    assert run(engine, m, 180, workloads=short) == []
    assert engine.state(key("web-down")) == "firing"


def test_unavailable_recovering_while_pending_says_nothing_and_the_next_drop_waits_again() -> None:
    engine, m = AlertEngine(), model(DOWN)
    short, healthy = (workload("web", 2, 1),), (workload("web", 2, 2),)
    assert run(engine, m, 0, workloads=short) == []
    assert run(engine, m, 90, workloads=healthy) == []
    assert engine.state(key("web-down")) == "inactive"
    # Flapping: down again; the two minutes count from this drop, not the first one.
    assert run(engine, m, 120, workloads=short) == []
    assert run(engine, m, 210, workloads=short) == []
    assert [t.kind for t in run(engine, m, 240, workloads=short)] == ["firing"]


def test_a_firing_unavailable_alert_resolves_exactly_once_to_the_same_people() -> None:
    engine, m = AlertEngine(), model(DOWN)
    short, healthy = (workload("web", 2, 1),), (workload("web", 2, 2),)
    run(engine, m, 0, workloads=short)
    run(engine, m, 60, workloads=short)
    (firing,) = events(engine, m, 120, workloads=short)
    # The rule is edited while it fires: the resolution still goes where the firing went.
    edited = model(replace(DOWN, severity="info", notify=()))
    (resolved,) = events(engine, edited, 150, workloads=healthy)
    assert resolved.name == "alert.resolved"
    assert resolved.severity == "info"
    assert resolved.details["firingSeverity"] == "critical"
    assert resolved.details["notify"] == ["oncall"]
    assert resolved.details["firedAt"] == at(120).isoformat()
    assert resolved.group == firing.group != ""
    assert resolved.summary == "shop/web: web-down resolved after 30s: now 2 of 2 replicas available"
    assert run(engine, edited, 180, workloads=healthy) == []
    assert run(engine, edited, 210, workloads=healthy) == []


def test_stable_and_canary_workloads_count_together() -> None:
    engine, m = AlertEngine(), model(rule("down", "unavailable", app="web", hold=0))
    assert run(engine, m, 0, workloads=(workload("web", 3, 3), workload("web", 1, 1, name="web-canary"))) == []
    (fired,) = events(engine, m, 30, workloads=(workload("web", 3, 3), workload("web", 1, 0, name="web-canary")))
    assert fired.summary == "shop/web: 3 of 4 replicas available"  # no `for`, so no "for 0s"


def test_an_app_scaled_to_zero_is_not_unavailable() -> None:
    engine, m = AlertEngine(), model(rule("down", "unavailable", app="web", hold=0))
    assert run(engine, m, 0, workloads=(workload("web", 0, 0),)) == []


def test_without_a_workload_pending_starts_over_and_firing_keeps_firing() -> None:
    engine, m = AlertEngine(), model(DOWN)
    short = (workload("web", 2, 1),)
    run(engine, m, 0, workloads=short)
    assert run(engine, m, 60, workloads=()) == []  # the Deployment is being replaced, say
    assert engine.state(key("web-down")) == "inactive"
    assert run(engine, m, 90, workloads=short) == []
    assert run(engine, m, 180, workloads=short) == []
    assert [t.kind for t in run(engine, m, 210, workloads=short)] == ["firing"]
    # No data is no verdict: still firing, nothing said, until the workload is seen again.
    assert run(engine, m, 240, workloads=()) == []
    assert engine.state(key("web-down")) == "firing"
    assert [t.kind for t in run(engine, m, 270, workloads=(workload("web", 2, 2),))] == ["resolved"]


def test_a_long_gap_between_evaluations_restarts_the_wait() -> None:
    # A standby that becomes leader again did not see what happened in between.
    engine, m = AlertEngine(max_gap_seconds=90), model(DOWN)
    short = (workload("web", 2, 1),)
    run(engine, m, 0, workloads=short)
    assert run(engine, m, 3600, workloads=short) == []
    assert engine.state(key("web-down")) == "pending"
    assert run(engine, m, 3690, workloads=short) == []
    assert [t.kind for t in run(engine, m, 3720, workloads=short)] == ["firing"]


# --- cpuAbove and memoryAbove ------------------------------------------------------------------------

HOT = rule("hot", "cpuAbove", app="web", percent=90, hold=300)
FULL = rule("full", "memoryAbove", app="web", percent=80, hold=0)


def test_cpu_above_fires_when_the_busiest_pod_stays_above_for_long_enough() -> None:
    # Evaluations here are minutes apart, which is not what this test is about.
    engine, m = AlertEngine(max_gap_seconds=3600), model(HOT)
    busy = (usage("web", "web-a", cpu=40.0), usage("web", "web-b", cpu=130.44))
    assert run(engine, m, 0, usages=busy) == []
    assert run(engine, m, 299, usages=busy) == []
    (fired,) = events(engine, m, 300, usages=busy)
    assert fired.summary == "shop/web: CPU at 130% of request in pod web-b (above 90%) for 5m"
    assert fired.details["value"] == 130.4 and fired.details["threshold"] == 90 and fired.details["pod"] == "web-b"
    calm = (usage("web", "web-a", cpu=40.0), usage("web", "web-b", cpu=90.0))  # at, not above
    assert [t.kind for t in run(engine, m, 330, usages=calm)] == ["resolved"]


def test_memory_above_compares_with_the_threshold_per_pod() -> None:
    engine, m = AlertEngine(), model(FULL)
    assert run(engine, m, 0, usages=(usage("web", "web-a", memory=80.0),)) == []
    (fired,) = events(engine, m, 30, usages=(usage("web", "web-a", memory=97.0),))
    assert fired.summary == "shop/web: memory at 97% of limit in pod web-a (above 80%)"


def test_missing_metrics_never_fire_and_never_resolve() -> None:
    engine, m = AlertEngine(), model(HOT, FULL)
    hot = (usage("web", "web-a", cpu=200.0, memory=99.0),)
    assert [t.key.rule for t in run(engine, m, 0, usages=hot)] == ["full"]
    assert engine.state(key("hot")) == "pending"
    # The metrics API stops answering: the pending wait starts over, the firing alert stays.
    for seconds in range(30, 900, 30):
        assert run(engine, m, seconds, usages=None) == []
    assert engine.state(key("hot")) == "inactive"
    assert engine.state(key("full")) == "firing"
    # Back, and below: the firing alert resolves, once.
    calm = (usage("web", "web-a", cpu=10.0, memory=10.0),)
    assert [(t.kind, t.key.rule) for t in run(engine, m, 900, usages=calm)] == [("resolved", "full")]


def test_pods_that_declare_no_request_are_not_measured() -> None:
    engine, m = AlertEngine(), model(rule("hot", "cpuAbove", app="web", percent=50, hold=0))
    assert run(engine, m, 0, usages=(usage("web", "web-a", cpu=None, memory=None),)) == []
    assert engine.state(key("hot")) == "inactive"


# --- targets and the model ----------------------------------------------------------------------------


def test_a_rule_without_app_watches_every_app_of_its_tenant_separately() -> None:
    engine = AlertEngine()
    m = model(rule("down", "unavailable", hold=0), apps=("web", "api", "db"))
    fired = run(engine, m, 0, workloads=(workload("web", 2, 1), workload("api", 1, 1), workload("db", 1, 0)))
    assert [(t.key.app, t.kind) for t in fired] == [("web", "firing"), ("db", "firing")]
    assert [
        (t.key.app, t.kind) for t in run(engine, m, 30, workloads=(workload("web", 2, 2), workload("db", 1, 0)))
    ] == [("web", "resolved")]


def test_removing_a_firing_rule_or_its_app_resolves_it_once() -> None:
    engine = AlertEngine()
    down = rule("down", "unavailable", hold=0, severity="critical")
    short = (workload("web", 2, 1), workload("api", 2, 1))
    assert len(run(engine, model(down), 0, workloads=short)) == 2
    (gone,) = events(engine, model(down, apps=("web",)), 30, workloads=short)
    assert gone.name == "alert.resolved" and gone.app == "api"
    assert gone.summary == "shop/api: down resolved after 30s: its rule or app left the platform repo"
    assert gone.details["firingSeverity"] == "critical"
    (removed,) = events(engine, model(apps=("web",)), 60)
    assert removed.name == "alert.resolved" and removed.app == "web"
    assert events(engine, model(apps=("web",)), 90) == []


def test_an_edited_rule_restarts_a_pending_wait() -> None:
    engine = AlertEngine(max_gap_seconds=3600)
    short = (workload("web", 2, 1),)
    run(engine, model(DOWN), 0, workloads=short)
    longer = model(replace(DOWN, params={"for": 300}))
    assert run(engine, longer, 150, workloads=short) == []
    assert run(engine, longer, 449, workloads=short) == []
    assert [t.kind for t in run(engine, longer, 450, workloads=short)] == ["firing"]


def test_needs_follow_the_conditions_in_use() -> None:
    assert needs_of(model()) == Needs()
    assert not needs_of(model()).anything
    assert needs_of(model(RESTARTS)) == Needs(pods=True)
    assert needs_of(model(DOWN)) == Needs(workloads=True)
    assert needs_of(model(HOT)) == Needs(pods=True, metrics=True)


def test_the_example_platform_repo_yields_one_instance_per_rule_and_app() -> None:
    m = load_or_raise(EXAMPLE)
    found = {(k.tenant, k.rule, k.app) for k, _ in targets(m)}
    assert ("shop", "api-down", "api") in found
    shop_apps = {a.name for a in m.apps_of("shop")}
    assert {app for tenant, name, app in found if (tenant, name) == ("shop", "restarts")} == shop_apps
    assert all(r.condition in {"podRestarts", "unavailable", "cpuAbove", "memoryAbove"} for _, r in targets(m))


# --- the events as the notifiers see them ------------------------------------------------------------


def test_firing_and_resolved_reach_the_named_lists_and_pair_up_for_pacing() -> None:
    engine, m = AlertEngine(), model(DOWN)
    assert events(engine, m, 0, workloads=(workload("web", 2, 1),)) == []
    (firing,) = events(engine, m, 120, workloads=(workload("web", 2, 1),))
    (resolved,) = events(engine, m, 150, workloads=(workload("web", 2, 2),))
    table = RoutingTable.from_model(m)
    # The tenant's own list, the platform's default list (it takes every event here) and the rule's
    # `notify`, for the firing and its resolution alike.
    assert [r.list_name for r in route(table, firing)] == ["team", "ops", "oncall"]
    assert [r.list_name for r in route(table, resolved)] == ["team", "ops", "oncall"]
    fire_signal, resolve_signal = signal_for(firing), signal_for(resolved)
    assert fire_signal is not None and resolve_signal is not None
    assert (fire_signal.kind, resolve_signal.kind) == ("firing", "resolved")
    assert fire_signal.ident == resolve_signal.ident


def test_a_resolution_passes_a_list_that_only_takes_what_the_firing_was() -> None:
    engine = AlertEngine()
    m = model(DOWN)
    strict = replace(m.notification_lists[2], min_severity="critical")
    m = replace(m, notification_lists=(*m.notification_lists[:2], strict))
    run(engine, m, 0, workloads=(workload("web", 2, 1),))
    (firing,) = events(engine, m, 120, workloads=(workload("web", 2, 1),))
    (resolved,) = events(engine, m, 150, workloads=(workload("web", 2, 2),))
    table = RoutingTable.from_model(m)
    assert "oncall" in [r.list_name for r in route(table, firing)]
    assert "oncall" in [r.list_name for r in route(table, resolved)]


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.9, "59s"), (600, "10m"), (5430, "1h30m30s"), (90000, "1d1h")]
)
def test_durations_read_like_the_platform_repo(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
