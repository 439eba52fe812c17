"""Jobs and CronJobs: a kind of their own, checked, rendered, and judged by the outcome of their run."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from daemon.model.kinds import PlatformModel
from daemon.model.refs import ObjRef
from daemon.policy.health import assess
from daemon.render import render
from tests.loader.helpers import errors, line_of, load, text
from tests.render.test_render import K8S_VERSION, by

HEAD = "apiVersion: dockyard.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n"


def doc(kind: str, name: str, body: str) -> str:
    return HEAD.format(kind=kind, name=name) + text(body)


MIGRATE = doc(
    "Job",
    "migrate",
    """
    spec:
      image: example/migrate:1.0
      args: [up]
      env: [{name: DB, value: orders}]
      retries: 2
      activeDeadline: 10m
      sidecars:
        - name: proxy
          image: example/proxy:1.0
      volumes: [{scratch: tmp, mountPath: /tmp}]
    """,
)
REPORT = doc(
    "Job",
    "nightly-report",
    """
    spec:
      image: busybox:1.36
      command: [sh, -c, "date > /reports/last"]
      schedule: "0 2 * * mon-fri"
      timezone: Europe/Berlin
      concurrency: Replace
      history: {succeeded: 1, failed: 5}
      parallelism: 2
      completions: 4
      restartPolicy: OnFailure
      serviceAccount: reporter
      volumes: [{volume: data, mountPath: /reports}]
    """,
)


@pytest.fixture
def model(tmp_path: Path) -> PlatformModel:
    data = doc("Volume", "data", "spec:\n  size: 1Gi\n  accessMode: ReadWriteMany\n  storageClass: cephfs\n")
    tenant = text(
        """
        apiVersion: dockyard.dev/v1alpha1
        kind: Tenant
        metadata:
          name: shop
        spec:
          storageClasses: [ceph-rbd, cephfs]
          quota: {cpu: "4", memory: 8Gi}
        """
    )
    result = load(
        tmp_path,
        {
            "tenants/shop/migrate.yaml": MIGRATE,
            "tenants/shop/report.yaml": REPORT,
            "tenants/shop/volume.yaml": data,
            "tenants/shop/tenant.yaml": tenant,
        },
    )
    assert errors(result) == []
    assert result.model is not None
    return result.model


def test_a_one_off_job_is_named_after_what_it_runs(model: PlatformModel) -> None:
    objects = render(model, "r1")
    (job,) = [o for o in objects if o["kind"] == "Job"]
    assert job["metadata"]["name"].startswith("migrate-") and len(job["metadata"]["name"]) == len("migrate-") + 8
    assert job["metadata"]["labels"]["dockyard.dev/job"] == "migrate"
    spec = job["spec"]
    assert spec["backoffLimit"] == 2 and spec["activeDeadlineSeconds"] == 600
    assert "ttlSecondsAfterFinished" not in spec  # a vanished finished Job would run again
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["initContainers"][0]["restartPolicy"] == "Always"  # the sidecar stops when the Job ends
    assert "topologySpreadConstraints" not in pod
    labels = spec["template"]["metadata"]["labels"]
    assert labels["dockyard.dev/app"] == "migrate" and labels["dockyard.dev/job"] == "migrate"
    # The same Job renders the same name (never rerun); a change runs a new one; suspend pauses it.
    assert render(model, "r2")[objects.index(job)]["metadata"]["name"] == job["metadata"]["name"]
    migrate = next(j for j in model.jobs if j.name == "migrate")
    changed = dataclasses.replace(model, jobs=(dataclasses.replace(migrate, image="example/migrate:1.1"),))
    suspended = dataclasses.replace(model, jobs=(dataclasses.replace(migrate, suspend=True),))
    (renamed,) = [o for o in render(changed, "r") if o["kind"] == "Job"]
    (paused,) = [o for o in render(suspended, "r") if o["kind"] == "Job"]
    assert renamed["metadata"]["name"] != job["metadata"]["name"]
    assert paused["metadata"]["name"] == job["metadata"]["name"] and paused["spec"]["suspend"] is True


def test_a_scheduled_job_is_a_cron_job(model: PlatformModel) -> None:
    objects = render(model, "r1")
    cron = by(objects, "CronJob", "nightly-report", "shop")["spec"]
    assert cron["schedule"] == "0 2 * * mon-fri"
    assert cron["timeZone"] == "Europe/Berlin"
    assert cron["concurrencyPolicy"] == "Replace"
    assert cron["startingDeadlineSeconds"] == 3600
    assert (cron["successfulJobsHistoryLimit"], cron["failedJobsHistoryLimit"]) == (1, 5)
    template = cron["jobTemplate"]
    assert template["metadata"]["labels"]["dockyard.dev/job"] == "nightly-report"
    assert template["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "dockyard"
    assert (template["spec"]["parallelism"], template["spec"]["completions"]) == (2, 4)
    pod = template["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure" and pod["serviceAccountName"] == "reporter"
    assert by(objects, "ServiceAccount", "reporter", "shop")
    for obj in objects:
        if obj["kind"] not in ("VolumeSnapshotClass",):
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_job_documents_are_checked(tmp_path: Path) -> None:
    clash = doc("Job", "api", "spec:\n  image: busybox:1.36\n")
    long_name = "a" * 55
    too_long = doc("Job", long_name, "spec:\n  image: busybox:1.36\n")
    unscheduled = doc("Job", "once", "spec:\n  image: busybox:1.36\n  concurrency: Allow\n  timezone: UTC\n")
    parallel = doc(
        "Job",
        "crunch",
        "spec:\n  image: busybox:1.36\n  parallelism: 3\n  volumes: [{volume: data, mountPath: /data}]\n",
    )
    bad_cron = doc("Job", "tick", "spec:\n  image: busybox:1.36\n  schedule: '61 * * * *'\n")
    policy = doc(
        "Policy",
        "jobs",
        "spec:\n  network:\n    - allow:\n        from: {app: crunch}\n        to: {app: api}\n"
        "    - close: {app: once}\n",
    )
    result = load(
        tmp_path,
        {
            "tenants/shop/clash.yaml": clash,
            "tenants/shop/long.yaml": too_long,
            "tenants/shop/once.yaml": unscheduled,
            "tenants/shop/crunch.yaml": parallel,
            "tenants/shop/tick.yaml": bad_cron,
            "tenants/shop/jobs.yaml": policy,
        },
    )
    assert [(f, line, m.split(";")[0] if "App 'api'" in m else m) for f, line, m in errors(result)] == [
        ("tenants/shop/clash.yaml", 4, "App 'api' of this tenant has this name already"),
        (
            "tenants/shop/crunch.yaml",
            line_of(parallel, "volumes"),
            "volume 'data' is ReadWriteOnce, but Job 'crunch' can run 3 pods that would all mount this one claim",
        ),
        ("tenants/shop/long.yaml", 4, "the name is 55 characters long; the limit here is 54"),
        ("tenants/shop/once.yaml", line_of(unscheduled, "concurrency"), "concurrency applies to scheduled Jobs only"),
        ("tenants/shop/once.yaml", line_of(unscheduled, "timezone"), "timezone applies to scheduled Jobs only"),
        (
            "tenants/shop/tick.yaml",
            line_of(bad_cron, "schedule"),
            "'61 * * * *' is not a valid cron schedule: minute: 61 is out of range 0-59",
        ),
    ]


def _job(conditions: list[dict[str, Any]], **status: Any) -> dict[str, Any]:
    return {"kind": "Job", "spec": {"completions": 2}, "status": {"conditions": conditions, **status}}


@pytest.mark.parametrize(
    ("obj", "state", "message"),
    [
        (_job([], active=1, succeeded=1), "healthy", "running: 1 active, 1 of 2 done"),
        (_job([{"type": "Complete", "status": "True"}], succeeded=2), "healthy", "succeeded"),
        (
            _job([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "too many"}]),
            "degraded",
            "failed: BackoffLimitExceeded: too many",
        ),
        ({"kind": "CronJob", "spec": {}, "status": {}}, "healthy", "waiting for its first run"),
        ({"kind": "CronJob", "spec": {"suspend": True}, "status": {}}, "healthy", "suspended"),
        (
            {"kind": "CronJob", "spec": {}, "status": {"lastScheduleTime": "2030-01-01T02:00:00Z", "active": [{}]}},
            "healthy",
            "running (started for 2030-01-01T02:00:00Z)",
        ),
        (
            {
                "kind": "CronJob",
                "spec": {},
                "status": {"lastScheduleTime": "2030-01-01T02:00:00Z", "lastSuccessfulTime": "2030-01-01T02:00:07Z"},
            },
            "healthy",
            "the last run succeeded at 2030-01-01T02:00:07Z",
        ),
        (
            {
                "kind": "CronJob",
                "spec": {},
                "status": {"lastScheduleTime": "2030-01-02T02:00:00Z", "lastSuccessfulTime": "2030-01-01T02:00:07Z"},
            },
            "degraded",
            "the last run (scheduled 2030-01-02T02:00:00Z) did not succeed",
        ),
    ],
)
def test_health_is_the_outcome_of_the_last_run(obj: dict[str, Any], state: str, message: str) -> None:
    health = assess(ObjRef("batch", obj["kind"], "shop", "x"), obj)
    assert (health.state, health.message) == (state, message)
