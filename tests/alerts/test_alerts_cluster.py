"""Alert rules against the session's cluster: real Deployments on kwok nodes lose availability
for real (their pods cannot be scheduled), and the evaluator, on an injected clock, says so once
and says once that it is over."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.edges.kube import KubeClient
from daemon.engine.alerts import AlertEvaluator
from daemon.engine.apply import ResourceManager
from daemon.errors import ClusterError
from daemon.loader import load_or_raise
from daemon.model.events import Event, MemorySink
from daemon.model.kinds import PlatformModel
from daemon.policy.alerting import AlertKey
from daemon.render import render
from daemon.runtime.daemon import Daemon
from daemon.state.inventory import InventoryStore
from tests.clock import FakeClock
from tests.daemon_settings import daemon_settings
from tests.fixtures_cluster import wait_for
from tests.platforms import PlatformRepo, app_spec, doc

pytestmark = pytest.mark.cluster

#: a label no node has: pods that ask for it stay Pending, as on a cluster without capacity
NOWHERE = {"dockyard.dev/alerts-test": "no-such-node"}


def alert_platform(root: Path, prefix: str, alerts: list[dict[str, Any]]) -> PlatformRepo:
    """Two apps; `web` rolls one pod at a time without surge, so a rollout that cannot schedule
    its new pod leaves it one replica short for as long as it is stuck."""
    repo = PlatformRepo(root, prefix)
    repo.volumes = {}
    repo.apps = {
        "web": doc("App", "web", app_spec(replicas=2, strategy={"maxSurge": 0, "maxUnavailable": 1})),
        "worker": doc("App", "worker", app_spec(replicas=1)),
    }
    repo.notification_lists = {
        "oncall": doc("NotificationList", "oncall", {"targets": [{"slack": {"channel": "#oncall"}}]})
    }
    repo.write()
    # PlatformRepo writes no Policies; this one sits next to the apps like a user's would.
    policy = doc("Policy", "alerts", {"alerts": alerts})
    (repo.tenant_dir / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    return repo


@dataclass
class Shop:
    kube: KubeClient
    model: PlatformModel
    tenant: str


@pytest.fixture(scope="module")
def shop(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    prefix = f"al-{secrets.token_hex(3)}"
    alerts = [
        {
            "name": "web-down",
            "app": "web",
            "when": {"unavailable": {"for": "2m"}},
            "severity": "critical",
            "notify": ["oncall"],
        },
        {"name": "restarts", "app": "worker", "when": {"podRestarts": {"over": 2, "window": "10m"}}},
        # The session cluster serves no metrics API: this rule must stay silent, without errors.
        {"name": "hot", "when": {"cpuAbove": {"percent": 1, "for": "30s"}}},
    ]
    repo = alert_platform(tmp_path_factory.mktemp("alerts") / "platform", prefix, alerts)
    model = load_or_raise(repo.root)
    kube = KubeClient(str(kubeconfig))
    manager = ResourceManager(
        kube, inventory=InventoryStore(kube, namespace="dockyard-tests", name=f"inventory-{prefix}")
    )
    plan = manager.plan(render(model, "r1"), max_fraction=model.platform.prune.max_fraction)
    result = manager.apply(plan, revision="r1", timeout=120)
    assert result.ok, (result.failed, result.unhealthy)
    try:
        yield Shop(kube, model, prefix)
    finally:
        cleanup(kube, prefix)
        kube.close()


def cleanup(kube: KubeClient, prefix: str) -> None:
    kube.delete(kube.resource_type("v1", "Namespace"), None, prefix)
    kube.delete(kube.resource_type("storage.k8s.io/v1", "StorageClass"), None, f"rbd-{prefix}")


def deployment(kube: KubeClient, tenant: str, app: str) -> dict[str, Any]:
    obj = kube.get(kube.resource_type("apps/v1", "Deployment"), tenant, app)
    assert obj is not None
    return obj


def schedule_nowhere(kube: KubeClient, tenant: str, app: str, *, nowhere: bool) -> None:
    """Starts (or undoes) a rollout whose pods no node accepts."""
    patch = {"spec": {"template": {"spec": {"nodeSelector": NOWHERE if nowhere else None}}}}
    kube.merge_patch(kube.resource_type("apps/v1", "Deployment"), tenant, app, patch)


def settled(obj: dict[str, Any], available: int) -> bool:
    status = obj.get("status", {})
    return bool(
        status.get("observedGeneration", 0) >= obj["metadata"]["generation"]
        and status.get("availableReplicas", 0) == available
        and status.get("replicas", 0) == obj["spec"]["replicas"]
    )


def wait_available(kube: KubeClient, tenant: str, app: str, available: int) -> None:
    wait_for(
        lambda: deployment(kube, tenant, app),
        timeout=60,
        message=f"{app} with {available} available replicas",
        until=lambda obj: settled(obj, available),
    )


def metrics_api_served(kube: KubeClient) -> bool:
    try:
        kube.raw_get("/apis/metrics.k8s.io/v1beta1")
    except ClusterError:
        return False
    return True


def test_an_app_that_loses_availability_fires_once_and_resolves_once(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="daemon.engine.alerts")
    sink, clock = MemorySink(), FakeClock(datetime.now(UTC))
    evaluator = AlertEvaluator(shop.kube, sink, clock.wall)
    down = AlertKey(shop.tenant, "alerts", "web-down", "web")
    assert evaluator.run(shop.model) == []

    schedule_nowhere(shop.kube, shop.tenant, "web", nowhere=True)
    try:
        wait_available(shop.kube, shop.tenant, "web", 1)
        clock.advance(30)
        assert evaluator.run(shop.model) == []
        assert evaluator.engine.state(down) == "pending"
        clock.advance(60)
        assert evaluator.run(shop.model) == []
        clock.advance(60)  # two minutes since it was first seen short
        fired, fired_at = evaluator.run(shop.model), clock.wall()
        clock.advance(30)
        assert evaluator.run(shop.model) == []
    finally:
        schedule_nowhere(shop.kube, shop.tenant, "web", nowhere=False)
    assert [(e.name, e.app) for e in fired] == [("alert.firing", "web")]
    firing = fired[0]
    assert firing.summary == f"{shop.tenant}/web: 1 of 2 replicas available for 2m"
    assert (firing.severity, firing.tenant, firing.time) == ("critical", shop.tenant, fired_at)
    assert {k: firing.details[k] for k in ("alert", "policy", "notify", "value", "threshold", "for")} == {
        "alert": "web-down",
        "policy": "alerts",
        "notify": ["oncall"],
        "value": 1,
        "threshold": 2,
        "for": "2m",
    }

    wait_available(shop.kube, shop.tenant, "web", 2)
    clock.advance(30)
    resolved = evaluator.run(shop.model)
    for _ in range(3):
        clock.advance(30)
        assert evaluator.run(shop.model) == []
    assert [e.name for e in resolved] == ["alert.resolved"]
    assert resolved[0].details["firingSeverity"] == "critical"
    assert resolved[0].details["alert"] == "web-down" and resolved[0].group == firing.group
    assert resolved[0].summary == f"{shop.tenant}/web: web-down resolved after 1m: now 2 of 2 replicas available"
    web_events: list[Event] = [e for e in sink.events if e.app == "web"]
    assert [e.name for e in web_events] == ["alert.firing", "alert.resolved"]
    # No metrics API on this cluster: the cpuAbove rule said nothing, and that was logged once.
    assert not [e for e in sink.events if e.details.get("alert") == "hot"]
    if not metrics_api_served(shop.kube):
        assert len([r for r in caplog.records if "metrics API" in r.getMessage()]) == 1


def test_restarts_reported_in_pod_status_fire_and_then_age_out(shop: Shop) -> None:
    """kwok runs no containers, so nothing can crash for real here: the test reports restarts in
    the pod's status the way a kubelet does, and the evaluator reads them from its pod list."""
    sink, clock = MemorySink(), FakeClock(datetime.now(UTC))
    evaluator = AlertEvaluator(shop.kube, sink, clock.wall)
    pods = shop.kube.list_objects(
        shop.kube.resource_type("v1", "Pod"), namespace=shop.tenant, label_selector="dockyard.dev/app=worker"
    )
    assert len(pods) == 1
    assert evaluator.run(shop.model) == []
    pod = pods[0]
    statuses = pod["status"]["containerStatuses"]
    statuses[0]["restartCount"] = 3
    shop.kube.merge_patch(
        shop.kube.resource_type("v1", "Pod"),
        shop.tenant,
        pod["metadata"]["name"],
        {"status": {"containerStatuses": statuses}},
        subresource="status",
    )
    clock.advance(30)
    fired = evaluator.run(shop.model)
    assert [(e.name, e.app, e.details["alert"], e.details["value"]) for e in fired] == [
        ("alert.firing", "worker", "restarts", 3)
    ]
    assert fired[0].summary == f"{shop.tenant}/worker: 3 pod restarts in 10m (over 2)"
    clock.advance(30)
    assert evaluator.run(shop.model) == []
    clock.advance(570)  # the restarts were seen 10m ago: out of the window
    assert [e.name for e in evaluator.run(shop.model)] == ["alert.resolved"]


def test_the_daemon_evaluates_alert_rules_on_the_leader_only(kubeconfig: Path, tmp_path: Path) -> None:
    prefix = f"ad-{secrets.token_hex(3)}"
    alerts = [{"name": "web-down", "app": "web", "when": {"unavailable": {"for": "0s"}}}]
    repo = alert_platform(tmp_path / "platform", prefix, alerts)
    kube = KubeClient(str(kubeconfig))
    daemons: list[Daemon] = []
    sinks: list[MemorySink] = []

    def start(identity: str) -> Daemon:
        settings = daemon_settings(
            repo=str(repo.root),
            kubeconfig=kubeconfig,
            workdir=tmp_path / f"work-{identity}",
            namespace=f"dockyard-{prefix}",
            identity=identity,
        )
        sink = MemorySink()
        daemon = Daemon.from_settings(settings, extra_sinks=(sink,))
        daemon.start()
        daemons.append(daemon)
        sinks.append(sink)
        return daemon

    try:
        leader = start("leader")
        wait_for(lambda: leader.reconciler.snapshot().last_sync_time, timeout=120, message="the first sync")
        start("standby")
        schedule_nowhere(kube, prefix, "web", nowhere=True)
        # The job runs every 30 seconds.
        wait_for(
            lambda: [e.name for e in sinks[0].events if e.name.startswith("alert.")],
            timeout=90,
            message="alert.firing from the leader's own job",
            until=lambda names: names == ["alert.firing"],
        )
        schedule_nowhere(kube, prefix, "web", nowhere=False)
        wait_for(
            lambda: [e.name for e in sinks[0].events if e.name.startswith("alert.")],
            timeout=90,
            message="alert.resolved from the leader's own job",
            until=lambda names: names == ["alert.firing", "alert.resolved"],
        )
        assert not [e for e in sinks[1].events if e.name.startswith("alert.")]
    finally:
        for daemon in daemons:
            daemon.stop()
        cleanup(kube, prefix)
        kube.delete(kube.resource_type("v1", "Namespace"), None, f"dockyard-{prefix}")  # lease and history
        kube.close()
