"""Workloads on a real API server: what the App fields render is accepted as it is (no drift after
apply), and the pods come up."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.edges.kube import KubeClient
from daemon.engine.apply import ResourceManager
from daemon.loader import load_or_raise
from daemon.policy.plan import Plan
from daemon.render import render
from daemon.state.inventory import InventoryStore
from tests.platforms import PlatformRepo, app_spec, doc

pytestmark = pytest.mark.cluster


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    client = KubeClient(str(kubeconfig))
    yield client
    client.close()


@pytest.fixture
def repo(tmp_path: Path) -> PlatformRepo:
    platform = PlatformRepo(tmp_path / "platform", f"wl-{secrets.token_hex(3)}", apps=1)
    platform.platform["spec"]["tenancy"] = {"allowedServiceTypes": ["LoadBalancer", "NodePort"]}
    return platform


def manager_for(kube: KubeClient, repo: PlatformRepo) -> ResourceManager:
    return ResourceManager(kube, inventory=InventoryStore(kube, namespace="dockyard-tests", name=f"inv-{repo.tenant}"))


def plan_of(manager: ResourceManager, root: Path, revision: str = "r1") -> Plan:
    model = load_or_raise(root)
    return manager.plan(render(model, revision), max_fraction=model.platform.prune.max_fraction)


RICH: dict[str, Any] = app_spec(
    image="example/shopfront:1.0",
    replicas=2,
    workingDir="/app",
    ports=[{"name": "http", "port": 8080, "servicePort": 80}, {"name": "grpc", "port": 9555}],
    env=[{"name": "POD_IP", "field": "status.podIP"}],
    probes={
        "readiness": {"http": "/_healthz", "port": "http", "headers": {"Cookie": "id=probe"}, "timeoutSeconds": 2},
        "liveness": {"grpc": "grpc", "grpcService": "shop.Front"},
        "startup": {"tcp": "http", "failureThreshold": 30},
    },
    volumes=[{"scratch": "tmp", "mountPath": "/tmp", "sizeLimit": "64Mi"}],
    files=[{"path": "/etc/shop/config.yaml", "content": "a: 1\n"}],
    initContainers=[{"name": "migrate", "image": "example/migrate:1.0", "command": ["migrate", "up"]}],
    sidecars=[
        {
            "name": "exporter",
            "image": "example/exporter:1.0",
            "ports": [{"name": "metrics", "port": 9100}],
            "probes": {"readiness": {"http": "/metrics", "port": "metrics"}},
            "resources": {"cpu": "10m", "memory": "16Mi"},
        }
    ],
    securityContext={"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001, "readOnlyRootFilesystem": True},
    serviceAccount="shopfront",
    nodeSelector={"type": "kwok"},
    tolerations=[{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
    spread="required",
    terminationGracePeriodSeconds=5,
    preStop={"sleep": 2},
    expose={"type": "LoadBalancer", "service": "shopfront-external"},
)


def test_every_new_app_field_is_accepted_as_rendered_and_the_pods_run(kube: KubeClient, repo: PlatformRepo) -> None:
    repo.apps["shopfront"] = doc("App", "shopfront", RICH)
    repo.write()
    manager = manager_for(kube, repo)
    result = manager.apply(plan_of(manager, repo.root), revision="r1", timeout=120)
    assert result.failed == []
    assert result.unhealthy == [], result.unhealthy
    # The API server kept every field as rendered: a second plan finds nothing to change.
    again = plan_of(manager, repo.root)
    assert not again.changeset.has_changes, [str(c.ref) + str(c.fields) for c in again.changeset.of("update")]

    deployment = kube.get(kube.resource_type("apps/v1", "Deployment"), repo.tenant, "shopfront")
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["migrate", "exporter"]
    assert pod["initContainers"][1]["restartPolicy"] == "Always"
    assert pod["containers"][0]["livenessProbe"]["grpc"] == {"port": 9555, "service": "shop.Front"}
    assert pod["containers"][0]["lifecycle"] == {"preStop": {"sleep": {"seconds": 2}}}
    assert deployment["status"]["availableReplicas"] == 2
    service = kube.get(kube.resource_type("v1", "Service"), repo.tenant, "shopfront")
    assert service is not None
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        ("http", 80, "http"),
        ("grpc", 9555, "grpc"),
        ("metrics", 9100, "metrics"),
    ]
    external = kube.get(kube.resource_type("v1", "Service"), repo.tenant, "shopfront-external")
    assert external is not None and external["spec"]["type"] == "LoadBalancer"
    files = kube.get(kube.resource_type("v1", "ConfigMap"), repo.tenant, "shopfront-files")
    assert files is not None and files["data"] == {"etc_shop_config.yaml": "a: 1\n"}
    pods = kube.list_objects(kube.resource_type("v1", "Pod"), namespace=repo.tenant)
    shop_pods = [p for p in pods if p["metadata"]["labels"].get("dockyard.dev/app") == "shopfront"]
    assert len(shop_pods) == 2 and all(p["status"]["phase"] == "Running" for p in shop_pods)
    assert len({p["spec"]["nodeName"] for p in shop_pods}) == 2  # spread: required
    assert all(p["spec"]["serviceAccountName"] == "shopfront" for p in shop_pods)


def _pods(kube: KubeClient, namespace: str, app: str) -> dict[str, dict[str, Any]]:
    pods = kube.list_objects(kube.resource_type("v1", "Pod"), namespace=namespace)
    return {p["metadata"]["name"]: p for p in pods if p["metadata"]["labels"].get("dockyard.dev/app") == app}


def test_a_claim_per_replica_and_a_partitioned_rollout(kube: KubeClient, repo: PlatformRepo) -> None:
    from tests.fixtures_cluster import wait_for

    repo.apps.clear()
    repo.volumes["pgdata"] = doc("Volume", "pgdata", {"size": "1Gi", "perReplica": True})
    db = app_spec(
        image="postgres:16.3",
        replicas=2,
        stateful=True,
        ports=[{"name": "pg", "port": 5432}],
        volumes=[{"volume": "pgdata", "mountPath": "/var/lib/postgresql/data"}],
    )
    repo.apps["db"] = doc("App", "db", db)
    repo.write()
    manager = manager_for(kube, repo)
    result = manager.apply(plan_of(manager, repo.root), revision="r1", timeout=120)
    assert result.failed == [] and result.unhealthy == [], result.unhealthy
    claims = kube.list_objects(kube.resource_type("v1", "PersistentVolumeClaim"), namespace=repo.tenant)
    by_name = {c["metadata"]["name"]: c for c in claims}
    # One claim per replica, made by the StatefulSet from the Volume's definition, and bound.
    assert {"pgdata-db-0", "pgdata-db-1"} <= set(by_name)
    assert "pgdata" not in by_name
    assert all(by_name[n]["status"]["phase"] == "Bound" for n in ("pgdata-db-0", "pgdata-db-1"))
    assert by_name["pgdata-db-0"]["metadata"]["labels"]["dockyard.dev/volume"] == "pgdata"
    assert not plan_of(manager, repo.root).changeset.has_changes

    # A staged rollout: only ordinals at or above the partition take the new image, and the
    # apply counts that as done instead of waiting for the rest.
    db["image"] = "postgres:16.4"
    db["strategy"] = {"partition": 1}
    repo.write()
    result = manager.apply(plan_of(manager, repo.root, "r2"), revision="r2", timeout=120)
    assert result.failed == [] and result.unhealthy == [], result.unhealthy
    (sts,) = [h for h in result.health if h.ref.kind == "StatefulSet"]
    assert "partition 1: 1 of 2 on the new revision" in sts.message

    def images() -> dict[str, str]:
        return {name: p["spec"]["containers"][0]["image"] for name, p in _pods(kube, repo.tenant, "db").items()}

    wait_for(images, timeout=60, message="db-1 on the new image", until=lambda i: i.get("db-1") == "postgres:16.4")
    assert images()["db-0"] == "postgres:16.3"


def test_a_restore_keeps_the_claim_it_replaces_even_with_delete_policy(kube: KubeClient, repo: PlatformRepo) -> None:
    repo.apps.clear()
    repo.volumes["data"]["spec"]["deletionPolicy"] = "Delete"
    repo.write()
    manager = manager_for(kube, repo)
    result = manager.apply(plan_of(manager, repo.root), revision="r1", timeout=120)
    assert result.failed == []
    repo.volumes["data"]["spec"]["restore"] = {"snapshot": "data-203001010100"}
    repo.write()
    plan = plan_of(manager, repo.root, "r2")
    (kept,) = plan.changeset.of("retain")
    assert kept.ref.name == "data" and "before its restore" in kept.reason
    assert not plan.changeset.of("prune")
    # The restored claim waits for its snapshot (there is none here): no need to wait for health.
    manager.apply(plan, revision="r2", wait=False)
    claim = kube.get(kube.resource_type("v1", "PersistentVolumeClaim"), repo.tenant, "data")
    assert claim is not None and not claim["metadata"].get("deletionTimestamp")


def _job_objects(kube: KubeClient, namespace: str) -> dict[str, dict[str, Any]]:
    return {
        j["metadata"]["name"]: j for j in kube.list_objects(kube.resource_type("batch/v1", "Job"), namespace=namespace)
    }


def test_a_one_off_job_runs_once_and_a_change_runs_it_again(kube: KubeClient, repo: PlatformRepo) -> None:
    from tests.fixtures_cluster import wait_for

    repo.apps.clear()
    migrate: dict[str, Any] = {
        "image": "example/migrate:1.0",
        "args": ["up"],
        "resources": {"cpu": "10m", "memory": "16Mi"},
    }
    repo.extra["jobs/migrate.yaml"] = doc("Job", "migrate", migrate)
    repo.write()
    manager = manager_for(kube, repo)
    result = manager.apply(plan_of(manager, repo.root), revision="r1", timeout=120)
    assert result.failed == [] and result.unhealthy == [], result.unhealthy
    (first,) = _job_objects(kube, repo.tenant)
    done = wait_for(
        lambda: _job_objects(kube, repo.tenant)[first],
        timeout=60,
        message=f"Job {first} complete",
        until=lambda j: any(
            c["type"] == "Complete" and c["status"] == "True" for c in j["status"].get("conditions") or ()
        ),
    )
    assert done["status"]["succeeded"] == 1
    again = plan_of(manager, repo.root, "r2")
    assert not again.changeset.has_changes  # a finished Job is never run again
    health = manager.wait_healthy(again, {}, timeout=5)
    assert [(h.ref.name, h.state, h.message) for h in health if h.ref.kind == "Job"] == [
        (first, "healthy", "succeeded")
    ]

    migrate["image"] = "example/migrate:1.1"
    repo.write()
    result = manager.apply(plan_of(manager, repo.root, "r3"), revision="r3", timeout=120)
    assert result.failed == []
    assert [str(r) for r in result.pruned] == [f"Job.batch/{repo.tenant}/{first}"]
    (second,) = wait_for(
        lambda: _job_objects(kube, repo.tenant),
        timeout=30,
        message="the old Job gone",
        until=lambda jobs: first not in jobs,
    )
    assert second != first and second.startswith("migrate-")


def test_a_failed_run_is_announced_once(kube: KubeClient, repo: PlatformRepo) -> None:
    from daemon.engine.jobs import FAILURE_ANNOUNCED_ANNOTATION, JobMonitor
    from daemon.model.events import MemorySink
    from tests.fixtures_cluster import wait_for

    repo.apps.clear()
    # Its pod can never be scheduled, so the deadline fails the run: the Job controller decides.
    doomed = {"image": "busybox:1.36", "activeDeadline": "2s", "retries": 0, "nodeSelector": {"pool": "none"}}
    repo.extra["jobs/doomed.yaml"] = doc("Job", "doomed", doomed)
    repo.write()
    manager = manager_for(kube, repo)
    model = load_or_raise(repo.root)
    assert manager.apply(manager.plan(render(model, "r1"), max_fraction=0.5), revision="r1", wait=False).failed == []
    (name,) = _job_objects(kube, repo.tenant)
    wait_for(
        lambda: _job_objects(kube, repo.tenant)[name],
        timeout=60,
        message=f"Job {name} failed",
        until=lambda j: any(
            c["type"] == "Failed" and c["status"] == "True" for c in j["status"].get("conditions") or ()
        ),
    )
    sink = MemorySink()
    # Only the leader speaks: a standby's monitor neither announces nor marks the run.
    JobMonitor(kube, sink).scheduled_run(lambda: False, lambda: model)
    assert sink.events == []
    assert FAILURE_ANNOUNCED_ANNOTATION not in (
        _job_objects(kube, repo.tenant)[name]["metadata"].get("annotations") or {}
    )
    report = JobMonitor(kube, sink).run(model)
    assert report.failed == [f"{repo.tenant}/{name}"]
    (event,) = sink.events
    assert event.name == "job.failed" and event.severity == "warning"
    assert event.tenant == repo.tenant and event.app == "doomed"
    assert event.summary.startswith(f"Job {repo.tenant}/doomed failed: DeadlineExceeded")
    assert event.details["run"] == name and event.details["schedule"] is None
    # Announced once: the same monitor, or a new one after a restart, stays quiet.
    assert JobMonitor(kube, sink).run(model).failed == []
    assert len(sink.events) == 1
    assert _job_objects(kube, repo.tenant)[name]["metadata"]["annotations"][FAILURE_ANNOUNCED_ANNOTATION]
    health = manager.wait_healthy(plan_of(manager, repo.root, "r2"), {}, timeout=5)
    (job_health,) = [h for h in health if h.ref.kind == "Job"]
    assert job_health.state == "degraded" and "DeadlineExceeded" in job_health.message


def test_a_cron_job_runs_on_its_schedule_and_its_last_run_is_its_health(kube: KubeClient, repo: PlatformRepo) -> None:
    from daemon.policy.health import assess
    from daemon.render import objref
    from tests.fixtures_cluster import wait_for

    repo.apps.clear()
    repo.extra["jobs/tick.yaml"] = doc("Job", "tick", {"image": "busybox:1.36", "schedule": "* * * * *"})
    repo.write()
    manager = manager_for(kube, repo)
    result = manager.apply(plan_of(manager, repo.root), revision="r1", timeout=120)
    assert result.failed == [] and result.unhealthy == []
    assert not plan_of(manager, repo.root).changeset.has_changes
    cron_type = kube.resource_type("batch/v1", "CronJob")
    # The CronJob controller starts a run at the next minute; kwok completes its pod.
    cron = wait_for(
        lambda: kube.get(cron_type, repo.tenant, "tick"),
        timeout=90,
        message="a successful scheduled run",
        until=lambda c: c is not None and bool(c.get("status", {}).get("lastSuccessfulTime")),
        interval=1.0,
    )
    assert cron is not None
    health = assess(objref(cron), cron)
    assert health.state == "healthy" and health.message.startswith("the last run succeeded at")
    runs = _job_objects(kube, repo.tenant)
    assert runs and all(j["metadata"]["labels"]["dockyard.dev/job"] == "tick" for j in runs.values())


def test_a_secret_from_git_lands_in_its_tenant_and_its_values_never_show(
    kube: KubeClient,
    repo: PlatformRepo,
    kubeconfig: Path,
    sops: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import base64
    import logging

    from daemon.cli import main
    from tests.sopsfiles import AgeKey, encrypt, secret_yaml

    key = AgeKey.generate()
    monkeypatch.setenv("DOCKYARD_AGE_KEY", key.keys_txt())
    repo.apps["app0"]["spec"]["env"] = [{"name": "DB", "secretRef": {"name": "orders-db", "key": "password"}}]
    first, second = "first-p@ssw0rd", "second-p@ssw0rd"
    repo.extra["secrets/orders-db.yaml"] = encrypt(
        sops, secret_yaml("orders-db", repo.tenant, {"password": first}), key.public, tmp_path / "e1"
    )
    repo.write()
    args = ["--repo", str(repo.root), "--kubeconfig", str(kubeconfig), "--namespace", "dockyard-tests"]
    caplog.set_level(logging.DEBUG)
    assert main(["apply", *args, "--timeout", "60"]) == 0
    live = kube.get(kube.resource_type("v1", "Secret"), repo.tenant, "orders-db")
    assert live is not None and base64.b64decode(live["data"]["password"]).decode() == first
    assert live["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "dockyard"
    assert main(["plan", *args, "--detailed-exitcode"]) == 0  # nothing drifts: data only, as the server keeps it

    repo.extra["secrets/orders-db.yaml"] = encrypt(
        sops, secret_yaml("orders-db", repo.tenant, {"password": second}), key.public, tmp_path / "e2"
    )
    repo.write()
    capsys.readouterr()
    assert main(["plan", *args, "--detailed-exitcode"]) == 2
    assert main(["plan", *args, "--output", "json"]) == 0
    assert main(["render", "--repo", str(repo.root)]) == 0
    shown = capsys.readouterr().out
    assert "Secret" in shown and "data.password" in shown and "***" in shown
    for value in (first, second):
        encoded = base64.b64encode(value.encode()).decode()
        assert value not in shown and encoded not in shown
        assert value not in caplog.text and encoded not in caplog.text


def test_manifests_and_patches_are_applied_owned_and_pruned(kube: KubeClient, repo: PlatformRepo) -> None:
    repo.platform["spec"].setdefault("tenancy", {})["allowedManifestKinds"] = [
        "ConfigMap",
        "networking.k8s.io/NetworkPolicy",
    ]
    repo.extra["manifests/flags.yaml"] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "feature-flags"},
        "data": {"checkout.v2": "true"},
    }
    repo.extra["patch-dns.yaml"] = doc(
        "Patch",
        "app0-dns",
        {
            "target": {"kind": "Deployment", "name": "app0"},
            "merge": {"spec": {"template": {"spec": {"dnsConfig": {"options": [{"name": "ndots", "value": "2"}]}}}}},
        },
    )
    repo.write()
    manager = manager_for(kube, repo)
    result = manager.apply(plan_of(manager, repo.root), revision="r1", timeout=120)
    assert result.failed == [] and result.unhealthy == []
    flags = kube.get(kube.resource_type("v1", "ConfigMap"), repo.tenant, "feature-flags")
    assert flags is not None and flags["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "dockyard"
    app0 = kube.get(kube.resource_type("apps/v1", "Deployment"), repo.tenant, "app0")
    assert app0 is not None
    assert app0["spec"]["template"]["spec"]["dnsConfig"] == {"options": [{"name": "ndots", "value": "2"}]}
    assert not plan_of(manager, repo.root).changeset.has_changes

    del repo.extra["manifests/flags.yaml"]
    del repo.extra["patch-dns.yaml"]
    repo.write()
    result = manager.apply(plan_of(manager, repo.root, "r2"), revision="r2", timeout=120)
    assert [str(r) for r in result.pruned] == [f"ConfigMap/{repo.tenant}/feature-flags"]
    app0 = kube.get(kube.resource_type("apps/v1", "Deployment"), repo.tenant, "app0")
    assert app0 is not None and "dnsConfig" not in app0["spec"]["template"]["spec"]
