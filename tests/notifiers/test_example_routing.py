"""Every event name, routed by the real router over the example platform repo's lists: each list
receives what it subscribes to, for the tenant (or the platform) the event concerns.

The expected lists are written out by hand from platform-repo-example/notifications/ (the
subscriptions, minSeverity) and the tenants' ``notifications``: they are the oracle, not a second
copy of the routing rules. Each event carries the scope, severity and routing details Dockyard's
emitters give it (sync, health and drift per tenant: tests/engine; scaling: tests/scaling;
alerts: tests/alerts; the cluster's problems: tests/health).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from daemon.loader import load_or_raise
from daemon.model.events import EVENT_NAMES, PAIRED_EVENTS, Event
from notifiers.routing import Router

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"
RESOLVING = set(PAIRED_EVENTS.values())

# (event name, tenant it concerns or None for the platform, extra details, lists that receive it)
CASES: list[tuple[str, str | None, dict[str, Any], set[str]]] = [
    ("sync.succeeded", "shop", {}, {"shop-team", "platform-ops"}),
    ("sync.succeeded", "analytics", {}, {"analytics-team", "platform-ops"}),
    ("sync.succeeded", None, {}, {"platform-ops"}),
    ("sync.failed", "shop", {}, {"shop-oncall", "shop-team", "platform-ops"}),
    ("sync.failed", "payments", {}, {"payments-oncall", "platform-ops"}),
    ("sync.failed", None, {}, {"platform-ops"}),
    ("sync.skipped", "payments", {}, {"platform-ops"}),
    ("validation.failed", None, {}, {"platform-ops"}),
    ("drift.corrected", "shop", {}, {"platform-ops"}),
    ("health.degraded", "shop", {}, {"shop-oncall", "platform-ops"}),
    ("health.degraded", "payments", {}, {"payments-oncall", "platform-ops"}),
    ("health.recovered", "shop", {}, {"shop-oncall", "platform-ops"}),
    # payments-oncall subscribes to health.degraded only.
    ("health.recovered", "payments", {}, {"platform-ops"}),
    ("prune.blocked", None, {}, {"platform-ops"}),
    ("alert.firing", "shop", {"alert": "restarts", "notify": ["shop-oncall"]}, {"shop-oncall"}),
    (
        "alert.firing",
        "shop",
        {"alert": "api-down", "notify": ["shop-oncall", "platform-ops"]},
        {"shop-oncall", "platform-ops"},
    ),
    ("alert.firing", "analytics", {"alert": "etl-cpu", "notify": ["analytics-team"]}, {"analytics-team"}),
    ("alert.firing", "payments", {"alert": "payments-down", "notify": ["payments-oncall"]}, {"payments-oncall"}),
    ("alert.resolved", "shop", {"alert": "restarts", "notify": ["shop-oncall"]}, {"shop-oncall"}),
    ("scaling.succeeded", "analytics", {}, {"analytics-team"}),
    ("scaling.succeeded", "shop", {}, {"shop-team"}),
    ("scaling.succeeded", "payments", {}, set()),  # nobody of the payments team asked for every scale
    ("scaling.limited", "shop", {}, {"shop-oncall", "shop-team", "platform-ops"}),
    ("scaling.limited", "analytics", {}, {"analytics-team", "platform-ops"}),
    ("backup.created", "analytics", {}, {"analytics-team"}),
    ("backup.ready", "shop", {}, {"shop-team"}),  # info: below shop-oncall's minSeverity
    ("backup.ready", "payments", {}, set()),
    ("backup.failed", "shop", {}, {"shop-oncall", "shop-team", "platform-ops"}),
    ("backup.pruned", "analytics", {}, {"analytics-team"}),
    ("backup.restored", "analytics", {}, {"analytics-team"}),
    ("backup.copied", "shop", {}, {"shop-team"}),  # a clone of shop data: info, below shop-oncall
    ("command.executed", "shop", {}, {"platform-ops"}),
    ("command.executed", "monitoring", {}, {"platform-ops"}),
    ("notification.deadlettered", None, {}, {"platform-ops"}),
    ("audit.pruned", None, {}, {"platform-ops"}),
    ("node.notready", None, {"alert": "node/kwok-node-1"}, {"platform-ops"}),
    ("node.ready", None, {"alert": "node/kwok-node-1"}, {"platform-ops"}),
    ("controlplane.degraded", None, {"alert": "readyz/etcd"}, {"platform-ops"}),
    ("controlplane.recovered", None, {"alert": "readyz/etcd"}, {"platform-ops"}),
    ("rollout.stuck", "shop", {"alert": "rollout/shop/web"}, {"shop-oncall", "shop-team", "platform-ops"}),
    ("rollout.recovered", "shop", {"alert": "rollout/shop/web"}, {"shop-oncall", "shop-team", "platform-ops"}),
    ("rollout.stuck", None, {"alert": "rollout/kube-system/coredns"}, {"platform-ops"}),
    ("volume.pending", "shop", {"alert": "volume/shop/orders-data"}, {"shop-oncall", "shop-team", "platform-ops"}),
    ("volume.bound", "shop", {"alert": "volume/shop/orders-data"}, {"shop-oncall", "shop-team", "platform-ops"}),
    # analytics-team subscribes to none of the cluster's problems; the platform hears them.
    ("volume.pending", "analytics", {"alert": "volume/analytics/reports"}, {"platform-ops"}),
    ("monitoring.unavailable", None, {"alert": "metrics.k8s.io/v1beta1"}, {"platform-ops"}),
    ("monitoring.recovered", None, {"alert": "metrics.k8s.io/v1beta1"}, {"platform-ops"}),
    ("dockyard.degraded", None, {"alert": "dockyard/cycles"}, {"platform-ops"}),
    ("dockyard.recovered", None, {"alert": "dockyard/cycles"}, {"platform-ops"}),
    ("job.failed", "analytics", {}, {"analytics-team"}),
    ("job.failed", "shop", {}, {"shop-oncall"}),
    ("job.failed", "payments", {}, set()),  # the payments team asked for no batch news
    ("canary.promoted", "shop", {}, {"shop-team"}),
    ("canary.aborted", "shop", {}, {"shop-team"}),
]


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(load_or_raise(EXAMPLE))


def as_emitted(name: str, tenant: str | None, details: dict[str, Any]) -> Event:
    """An event with the severity its name has by default; a closing event carries the severity
    of what it closes, as every emitter of a pair does."""
    details = dict(details)
    if name in RESOLVING:
        details.setdefault("firingSeverity", "warning")
    return Event.make(name, f"{name} about {tenant or 'the platform'}", tenant=tenant, details=details)


@pytest.mark.parametrize(("name", "tenant", "details", "expected"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_the_example_lists_receive_what_they_subscribe_to(
    router: Router, name: str, tenant: str | None, details: dict[str, Any], expected: set[str]
) -> None:
    routes = router.route(as_emitted(name, tenant, details))
    assert {r.list_name for r in routes} == expected


def test_every_event_name_has_a_case() -> None:
    assert {c[0] for c in CASES} == set(EVENT_NAMES)


def test_each_list_hears_each_of_its_subscriptions_for_some_event(router: Router) -> None:
    """No subscription of the example is dead: every pattern of every list matches an event that
    actually reaches it (a pattern below the list's minSeverity would be)."""
    model = load_or_raise(EXAMPLE)
    reached: dict[str, set[str]] = {}
    for name, tenant, details, _ in CASES:
        for route in router.route(as_emitted(name, tenant, details)):
            reached.setdefault(route.list_name, set()).add(name)
    for nlist in model.notification_lists:
        for pattern in nlist.events:
            assert any(fnmatchcase(n, pattern) for n in reached.get(nlist.name, set())), (nlist.name, pattern)
