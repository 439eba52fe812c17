"""Reading the cluster for alert rules: the parsers (pure) and the evaluator against a fake API."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest

from daemon.edges.kube import ResourceType
from daemon.engine.alerts import METRICS_PATH, AlertEvaluator
from daemon.errors import ClusterError, ClusterUnavailable
from daemon.model.events import MemorySink
from daemon.policy.alerting import PodSample, PodUsage, WorkloadSample, pod_samples, pod_usage, workload_samples
from tests.alerts.helpers import T0, at, model, rule
from tests.clock import FakeClock

LABELS = {"app.kubernetes.io/managed-by": "dockyard", "dockyard.dev/tenant": "shop", "dockyard.dev/app": "web"}


def pod_json(
    name: str,
    *,
    restarts: tuple[int, ...] = (0,),
    init_restarts: tuple[int, ...] = (),
    resources: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] = LABELS,
    created: str = "2026-03-02T11:00:00Z",
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"uid-{name}",
            "labels": dict(labels),
            "creationTimestamp": created,
        },
        "spec": {
            "containers": [
                {"name": "web", "image": "busybox:1.36", "resources": dict(resources or {})},
                {"name": "proxy", "image": "envoy:1"},
            ]
        },
        "status": {
            "containerStatuses": [{"name": f"c{i}", "restartCount": n} for i, n in enumerate(restarts)],
            "initContainerStatuses": [{"name": f"i{i}", "restartCount": n} for i, n in enumerate(init_restarts)],
        },
    }


def deployment_json(name: str, replicas: int | None, available: int | None, kind: str = "Deployment") -> dict[str, Any]:
    spec: dict[str, Any] = {} if replicas is None else {"replicas": replicas}
    status: dict[str, Any] = {} if available is None else {"availableReplicas": available}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "shop", "labels": dict(LABELS)},
        "spec": spec,
        "status": status,
    }


def pod_metrics(name: str, **containers: tuple[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "shop"},
        "containers": [{"name": c, "usage": {"cpu": cpu, "memory": mem}} for c, (cpu, mem) in containers.items()],
    }


# --- parsers ------------------------------------------------------------------------------------


def test_pod_samples_sum_container_and_init_container_restarts_of_labelled_pods() -> None:
    pods = [
        pod_json("web-a", restarts=(2, 3), init_restarts=(1,)),
        pod_json("stray", labels={"app.kubernetes.io/managed-by": "dockyard"}),  # no app label
    ]
    assert pod_samples(pods) == (
        PodSample("shop", "web", "web-a", "uid-web-a", 6, datetime.fromisoformat("2026-03-02T11:00:00+00:00")),
    )
    # A pod the kubelet has not reported on yet has no statuses at all.
    bare = pod_json("web-b")
    del bare["status"]
    assert pod_samples([bare])[0].restarts == 0


def test_workload_samples_default_replicas_and_read_statefulset_readiness() -> None:
    ready_only = deployment_json("db", 3, None, kind="StatefulSet")
    ready_only["status"] = {"readyReplicas": 2}
    assert workload_samples([deployment_json("web", None, None), ready_only, deployment_json("api", 4, 4)]) == (
        WorkloadSample("shop", "web", "Deployment", "web", 1, 0),
        WorkloadSample("shop", "web", "StatefulSet", "db", 3, 2),
        WorkloadSample("shop", "web", "Deployment", "api", 4, 4),
    )


def test_usage_is_measured_against_requests_and_limits_of_the_declaring_containers_only() -> None:
    pods = [
        pod_json("web-a", resources={"requests": {"cpu": "200m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}),
        pod_json("web-b", resources={"requests": {"cpu": "1", "memory": "100Mi"}}),
        pod_json("web-c"),
    ]
    metrics = [
        # The proxy declares nothing: its use does not count against the web container's request.
        pod_metrics("web-a", web=("300000000n", "96Mi"), proxy=("5", "1Gi")),
        pod_metrics("web-b", web=("250m", "50Mi")),
        pod_metrics("web-c", web=("1", "1Gi")),
        pod_metrics("unknown-pod", web=("1", "1Gi")),
    ]
    assert pod_usage(pods, metrics) == (
        PodUsage("shop", "web", "web-a", cpu_percent=150.0, memory_percent=75.0),  # of the limit
        PodUsage("shop", "web", "web-b", cpu_percent=25.0, memory_percent=50.0),  # of the request
        PodUsage("shop", "web", "web-c", cpu_percent=None, memory_percent=None),
    )


def test_unreadable_quantities_are_ignored_rather_than_fatal() -> None:
    pods = [pod_json("web-a", resources={"requests": {"cpu": "lots", "memory": "64Mi"}})]
    assert pod_usage(pods, [pod_metrics("web-a", web=("1", "32Mi"))]) == (
        PodUsage("shop", "web", "web-a", cpu_percent=None, memory_percent=50.0),
    )


# --- the evaluator --------------------------------------------------------------------------------


class FakeKube:
    """Serves canned lists; records every request the evaluator makes."""

    def __init__(self) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {"Pod": [], "Deployment": [], "StatefulSet": []}
        self.metrics: list[dict[str, Any]] | ClusterError = ClusterError("404 NotFound", status=404)
        self.fail_lists: ClusterError | None = None
        self.calls: list[tuple[str, str]] = []

    def list_objects(
        self,
        rtype: ResourceType,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> list[dict[str, Any]]:
        assert namespace is None and label_selector == "app.kubernetes.io/managed-by=dockyard"
        self.calls.append(("list", rtype.kind))
        if self.fail_lists is not None:
            raise self.fail_lists
        return [dict(o) for o in self.objects[rtype.kind]]

    def raw_get(self, path: str) -> dict[str, Any]:
        self.calls.append(("get", path))
        if isinstance(self.metrics, ClusterError):
            raise self.metrics
        return {"kind": "PodMetricsList", "items": self.metrics}


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


def test_one_evaluation_lists_pods_and_workloads_once_each_and_gets_nothing_per_pod(kube: FakeKube) -> None:
    kube.objects["Pod"] = [pod_json(f"web-{i}", restarts=(i,)) for i in range(50)]
    kube.objects["Deployment"] = [deployment_json("web", 50, 50)]
    m = model(
        rule("restarts", "podRestarts", over=5, window=600),
        rule("down", "unavailable", hold=60),
    )
    sink, clock = MemorySink(), FakeClock(T0)
    evaluator = AlertEvaluator(kube, sink, clock.wall)
    assert evaluator.run(m) == []
    assert kube.calls == [("list", "Pod"), ("list", "Deployment"), ("list", "StatefulSet")]


def test_the_evaluator_emits_what_the_engine_decides_with_the_injected_time(kube: FakeKube) -> None:
    kube.objects["Deployment"] = [deployment_json("web", 2, 1)]
    m = model(rule("down", "unavailable", app="web", hold=60, notify=("oncall",)))
    sink, clock = MemorySink(), FakeClock(T0)
    evaluator = AlertEvaluator(kube, sink, clock.wall)
    assert evaluator.run(m) == []
    clock.advance(60)
    fired = evaluator.run(m)
    assert [e.name for e in fired] == [e.name for e in sink.events] == ["alert.firing"]
    assert fired[0].time == at(60) and fired[0].details["notify"] == ["oncall"]
    # Only what the rules need is read: no pods, no metrics for an `unavailable` rule.
    assert {call for call, _ in kube.calls} == {"list"} and ("list", "Pod") not in kube.calls
    kube.objects["Deployment"] = [deployment_json("web", 2, 2)]
    clock.advance(30)
    assert [e.name for e in evaluator.run(m)] == ["alert.resolved"]


def test_no_rules_means_no_requests(kube: FakeKube) -> None:
    assert AlertEvaluator(kube, MemorySink(), FakeClock(T0).wall).run(model()) == []
    assert kube.calls == []


def test_missing_metrics_are_logged_once_and_skip_only_the_usage_rules(
    kube: FakeKube, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="daemon.engine.alerts")
    kube.objects["Pod"] = [pod_json("web-a", resources={"requests": {"cpu": "100m"}})]
    kube.objects["Deployment"] = [deployment_json("web", 2, 0)]
    m = model(rule("hot", "cpuAbove", app="web", percent=50, hold=0), rule("down", "unavailable", app="web", hold=0))
    sink, clock = MemorySink(), FakeClock(T0)
    evaluator = AlertEvaluator(kube, sink, clock.wall)
    kube.metrics = ClusterUnavailable("503 ServiceUnavailable: the APIService is not available", status=503)
    for _ in range(3):
        evaluator.run(m)
        clock.advance(30)
    assert [(e.name, e.details["alert"]) for e in sink.events] == [("alert.firing", "down")]
    warnings = [r for r in caplog.records if "metrics API" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert ("get", METRICS_PATH) in kube.calls
    assert METRICS_PATH == "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app.kubernetes.io%2Fmanaged-by%3Ddockyard"
    # The API comes back: said once, and the rule is evaluated again.
    kube.metrics = [pod_metrics("web-a", web=("90m", "1Mi"))]
    fired = evaluator.run(m)
    assert [(e.name, e.details["alert"], e.details["value"]) for e in fired] == [("alert.firing", "hot", 90.0)]
    assert len([r for r in caplog.records if "answers again" in r.getMessage()]) == 1


def test_a_failed_list_skips_the_evaluation_without_a_verdict(kube: FakeKube, caplog: pytest.LogCaptureFixture) -> None:
    kube.objects["Deployment"] = [deployment_json("web", 2, 1)]
    m = model(rule("down", "unavailable", app="web", hold=0))
    sink, clock = MemorySink(), FakeClock(T0)
    evaluator = AlertEvaluator(kube, sink, clock.wall)
    assert [e.name for e in evaluator.run(m)] == ["alert.firing"]
    kube.fail_lists = ClusterUnavailable("GET /apis/apps/v1/deployments: API server unreachable")
    clock.advance(30)
    assert evaluator.run(m) == []
    assert "not evaluated this time" in caplog.text
    # A missing view resolved nothing: the alert resolves when the cluster is readable and healthy.
    kube.fail_lists = None
    kube.objects["Deployment"] = [deployment_json("web", 2, 2)]
    clock.advance(30)
    assert [e.name for e in evaluator.run(m)] == ["alert.resolved"]
    assert [e.name for e in sink.events] == ["alert.firing", "alert.resolved"]
