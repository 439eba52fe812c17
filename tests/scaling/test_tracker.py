"""What the HPAs did, from their status as the API returns it (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from daemon.engine.scaling import ScalingWatcher
from daemon.model.events import MemorySink
from daemon.model.refs import ObjRef
from daemon.policy.health import assess
from daemon.policy.scaling import ScalingTracker, ScheduledScaling, hpa_sample, hpa_samples
from daemon.views.scaling import scaling_event

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
REF = ObjRef("autoscaling", "HorizontalPodAutoscaler", "shop", "web")


def hpa(
    *,
    desired: int = 2,
    current: int | None = None,
    cpu: int | None = 40,
    bounds: tuple[int, int] = (2, 6),
    limited: str = "",
    limited_since: str = "2026-03-02T11:00:00Z",
    generation: int = 1,
    observed: int = 1,
    uid: str = "uid-1",
    scale_down_window: int | None = 30,
    active: tuple[str, str, str] = ("True", "ValidMetricFound", "2026-03-02T10:00:00Z"),
    synced: bool = True,
) -> dict[str, Any]:
    conditions = [
        {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
        {
            "type": "ScalingActive",
            "status": active[0],
            "reason": active[1],
            "message": "m",
            "lastTransitionTime": active[2],
        },
        {
            "type": "ScalingLimited",
            "status": "True" if limited else "False",
            "reason": limited or "DesiredWithinRange",
            "lastTransitionTime": limited_since,
        },
    ]
    spec: dict[str, Any] = {
        "minReplicas": bounds[0],
        "maxReplicas": bounds[1],
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
            },
            {
                "type": "Resource",
                "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}},
            },
        ],
    }
    if scale_down_window is not None:
        spec["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": scale_down_window}}
    status: dict[str, Any] = {
        "observedGeneration": observed,
        "currentReplicas": desired if current is None else current,
        "desiredReplicas": desired,
        "lastScaleTime": "2026-03-02T11:59:00Z",
        "conditions": conditions if synced else [],
    }
    if cpu is not None:
        status["currentMetrics"] = [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "current": {"averageUtilization": cpu, "averageValue": "1"}},
            },
            {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "300Mi"}}},
        ]
    labels = {"app.kubernetes.io/managed-by": "dockyard", "dockyard.dev/app": "web", "dockyard.dev/tenant": "shop"}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop", "uid": uid, "generation": generation, "labels": labels},
        "spec": spec,
        "status": status,
    }


def observe(tracker: ScalingTracker, obj: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [(t.kind, t.before, t.after) for t in tracker.observe(hpa_samples([obj]))]


def test_the_first_sight_is_recorded_silently_then_every_change_is_said() -> None:
    tracker = ScalingTracker()
    assert observe(tracker, hpa(desired=2)) == []
    assert observe(tracker, hpa(desired=2)) == []
    assert observe(tracker, hpa(desired=5, current=2, cpu=120)) == [("scaled", 2, 5)]
    assert observe(tracker, hpa(desired=5)) == []
    assert observe(tracker, hpa(desired=2, current=5, cpu=3)) == [("scaled", 5, 2)]


def test_a_desired_count_computed_without_metrics_is_not_a_scale_from_zero() -> None:
    tracker = ScalingTracker()
    waiting = ("False", "FailedGetResourceMetric", "2026-03-02T11:58:00Z")
    assert observe(tracker, hpa(desired=0, current=1, active=waiting)) == []
    assert observe(tracker, hpa(desired=0, synced=False)) == []
    assert observe(tracker, hpa(desired=2)) == []  # its first real state: recorded only
    assert observe(tracker, hpa(desired=0, current=2, active=waiting)) == []  # metrics gone a moment
    assert observe(tracker, hpa(desired=3)) == [("scaled", 2, 3)]


def test_a_replaced_hpa_starts_over_and_a_deleted_one_is_forgotten() -> None:
    tracker = ScalingTracker()
    observe(tracker, hpa(desired=2))
    assert observe(tracker, hpa(desired=4, uid="uid-2")) == []
    assert tracker.observe([]) == []
    assert observe(tracker, hpa(desired=6, uid="uid-2")) == []


def test_the_ceiling_is_said_once_per_episode() -> None:
    tracker = ScalingTracker()
    observe(tracker, hpa(desired=2))
    hit = observe(tracker, hpa(desired=6, current=2, cpu=300, limited="TooManyReplicas"))
    assert hit == [("scaled", 2, 6), ("limited", 6, 6)]
    assert observe(tracker, hpa(desired=6, cpu=310, limited="TooManyReplicas")) == []
    assert observe(tracker, hpa(desired=6, cpu=90)) == []  # the episode ends without a word
    again = hpa(desired=6, cpu=400, limited="TooManyReplicas", limited_since="2026-03-02T11:30:00Z")
    assert observe(tracker, again) == [("limited", 6, 6)]
    # Held at the floor is an idle app, not news.
    assert observe(tracker, hpa(desired=2, current=6, cpu=1, limited="TooFewReplicas")) == [("scaled", 6, 2)]


def test_a_limit_already_on_at_first_sight_was_said_by_whoever_saw_it_begin() -> None:
    tracker = ScalingTracker()
    assert observe(tracker, hpa(desired=6, limited="TooManyReplicas")) == []
    assert observe(tracker, hpa(desired=6, limited="TooManyReplicas")) == []


def test_a_schedule_is_announced_with_what_the_hpa_did_once_it_saw_the_new_bounds() -> None:
    tracker = ScalingTracker()
    observe(tracker, hpa(desired=2, bounds=(2, 6)))
    tracker.expect(ScheduledScaling("shop", "web", "2-6", "4-8", "the schedule '0 8 * * 1-5' (UTC) began"))
    # Applied, not yet seen by the HPA controller: nothing to say.
    assert observe(tracker, hpa(desired=2, bounds=(4, 8), generation=2, observed=1)) == []
    [scaled] = tracker.observe(hpa_samples([hpa(desired=4, current=2, bounds=(4, 8), generation=2, observed=2)]))
    assert (scaled.kind, scaled.before, scaled.after) == ("scaled", 2, 4)
    assert scaled.schedule is not None and scaled.schedule.before == "2-6"
    assert tracker.expected == ()
    event = scaling_event(scaled, NOW)
    assert event.summary == (
        "shop/web scaled up from 2 to 4 replicas: the schedule '0 8 * * 1-5' (UTC) began; bounds 2-6 → 4-8."
    )
    assert event.details["reason"] == "schedule"


def test_a_schedule_that_moves_no_replica_is_still_announced() -> None:
    tracker = ScalingTracker()
    observe(tracker, hpa(desired=5, bounds=(2, 6)))
    tracker.expect(ScheduledScaling("shop", "web", "2-6", "4-8", "the schedule '0 8 * * 1-5' (UTC) began"))
    [t] = tracker.observe(hpa_samples([hpa(desired=5, bounds=(4, 8), generation=2, observed=2)]))
    assert (t.kind, t.before, t.after) == ("rebounded", 5, 5)
    assert scaling_event(t, NOW).summary.endswith("bounds 2-6 → 4-8; its 5 replicas are already within them.")


def test_a_second_schedule_change_before_the_first_arrived_keeps_the_first_bounds() -> None:
    tracker = ScalingTracker()
    observe(tracker, hpa(desired=2, bounds=(2, 6)))
    tracker.expect(ScheduledScaling("shop", "web", "2-6", "4-8", "a began"))
    tracker.expect(ScheduledScaling("shop", "web", "4-8", "6-8", "b began"))
    [t] = tracker.observe(hpa_samples([hpa(desired=6, bounds=(6, 8), generation=3, observed=3)]))
    assert t.schedule is not None and (t.schedule.before, t.schedule.after, t.schedule.why) == ("2-6", "6-8", "b began")


def test_events_name_the_deciding_metric_its_target_and_the_scale_down_window() -> None:
    tracker = ScalingTracker()
    observe(tracker, hpa(desired=1, bounds=(1, 4)))
    [up] = tracker.observe(hpa_samples([hpa(desired=4, current=1, cpu=400, bounds=(1, 4))]))
    up_event = scaling_event(up, NOW)
    assert up_event.name == "scaling.succeeded" and (up_event.tenant, up_event.app) == ("shop", "web")
    assert up_event.summary == "shop/web scaled up from 1 to 4 replicas: cpu at 400% of its request (target 50%)."
    assert {k: up_event.details[k] for k in ("from", "to", "metric", "current", "target", "maxReplicas")} == {
        "from": 1,
        "to": 4,
        "metric": "cpu",
        "current": "400%",
        "target": "50%",
        "maxReplicas": 4,
    }
    [down] = tracker.observe(hpa_samples([hpa(desired=1, current=4, cpu=2, bounds=(1, 4))]))
    assert scaling_event(down, NOW).summary == (
        "shop/web scaled down from 4 to 1 replica: cpu at 2% of its request (target 50%), "
        "after a stabilisation window of 30s."
    )
    [_, limit] = tracker.observe(
        hpa_samples([hpa(desired=4, current=4, cpu=200, bounds=(1, 4), limited="TooManyReplicas")])
    )
    limited = scaling_event(limit, NOW)
    assert (limited.name, limited.severity) == ("scaling.limited", "warning")
    assert limited.summary == (
        "shop/web is at its ceiling of 4 replicas and wants about 16: cpu at 200% of its request (target 50%)."
    )
    assert limited.details["maxReplicas"] == 4 and limited.details["wanted"] == 16


def test_event_ids_and_groups_are_stable_so_a_repeat_is_a_no_op() -> None:
    def once() -> tuple[str, str]:
        tracker = ScalingTracker()
        observe(tracker, hpa(desired=1, bounds=(1, 4)))
        [t] = tracker.observe(hpa_samples([hpa(desired=3, bounds=(1, 4))]))
        event = scaling_event(t, NOW)
        return event.id, event.group

    assert once() == once()
    assert once()[1] == "scaling:shop/web@2026-03-02"


def test_hostile_or_partial_status_is_read_without_failing() -> None:
    assert hpa_sample({"metadata": {"name": 3}}) is None
    odd = hpa()
    odd["status"] = {"desiredReplicas": "many", "conditions": [{"type": "AbleToScale"}, "junk"], "currentMetrics": [7]}
    odd["spec"]["metrics"] = [
        {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"averageValue": "10"}}},
        3,
    ]
    sample = hpa_sample(odd)
    assert sample is not None and sample.desired_replicas == 0
    assert [m.text for m in sample.metrics] == ["qps: no measurement yet (target 10)"]


def test_an_hpa_without_metrics_waits_for_them_then_is_degraded() -> None:
    fresh = hpa(active=("False", "FailedGetResourceMetric", "2026-03-02T11:58:00Z"))
    assert assess(REF, fresh, NOW).state == "progressing"
    assert assess(REF, fresh).state == "progressing"  # no clock: still within its grace
    stale = hpa(active=("False", "FailedGetResourceMetric", "2026-03-02T11:50:00Z"))
    health = assess(REF, stale, NOW)
    assert health.state == "degraded" and health.message.startswith("no metrics for 10m")
    assert assess(REF, stale, NOW - timedelta(minutes=6)).state == "progressing"
    assert assess(REF, hpa(active=("False", "InvalidSelector", "2026-03-02T11:59:00Z")), NOW).state == "degraded"
    assert assess(REF, hpa(active=("False", "ScalingDisabled", "2026-03-02T11:00:00Z")), NOW).state == "healthy"
    assert assess(REF, hpa(), NOW).state == "healthy"


def test_a_watcher_that_lost_leadership_starts_over_instead_of_repeating_the_new_leaders_news() -> None:
    class Kube:
        objects = [hpa(desired=2)]

        def list_objects(self, rtype: Any, **_: Any) -> list[dict[str, Any]]:
            return self.objects

    kube, sink = Kube(), MemorySink()
    watcher = ScalingWatcher(kube, sink, lambda: NOW)
    watcher.run()
    watcher.forget()
    kube.objects = [hpa(desired=5)]  # scaled while another replica led and told
    assert watcher.run() == []
    kube.objects = [hpa(desired=6)]
    assert [e.details["from"] for e in watcher.run()] == [5]


def test_a_watcher_given_the_platform_s_tenants_tells_nothing_of_other_hpas() -> None:
    ours, leftover = hpa(desired=2), hpa(desired=2)
    ours["metadata"].setdefault("labels", {})["dockyard.dev/tenant"] = "shop"
    leftover["metadata"] = {**leftover["metadata"], "name": "old", "labels": {"dockyard.dev/tenant": "gone"}}

    class Kube:
        objects = [ours, leftover]

        def list_objects(self, rtype: Any, **_: Any) -> list[dict[str, Any]]:
            return self.objects

    kube, sink = Kube(), MemorySink()
    watcher = ScalingWatcher(kube, sink, lambda: NOW)
    watcher.run(tenants={"shop"})
    scaled = [hpa(desired=4), hpa(desired=4)]
    scaled[0]["metadata"].setdefault("labels", {})["dockyard.dev/tenant"] = "shop"
    scaled[1]["metadata"] = {**scaled[1]["metadata"], "name": "old", "labels": {"dockyard.dev/tenant": "gone"}}
    kube.objects = scaled
    assert [(e.tenant, e.details["to"]) for e in watcher.run(tenants={"shop"})] == [("shop", 4)]
    assert [(e.tenant, e.details["to"]) for e in watcher.run()] == []  # "old" seen now, unchanged since
