"""A Job becomes a Kubernetes Job (run once) or a CronJob (run on its schedule), with the ConfigMap
of its inline files.

A Job's pod template cannot change once it exists, and a Job that finished stays finished: so a
one-off Job is named after a digest of what it runs (``<name>-<digest>``), and a change of it
runs a new Job while the old one is pruned. An unchanged Job is never run again, and no
``ttlSecondsAfterFinished`` is set: a finished Job that disappeared would be created, and run,
again. A CronJob keeps its name; its ``history`` bounds the finished runs it keeps.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from daemon.model.kinds import Job, Tenant, Volume
from daemon.model.labels import JOB_LABEL
from daemon.model.workload import JOB_DIGEST_LENGTH
from daemon.render.meta import object_meta, owner_labels
from daemon.render.pod import files_config_map, inline_files, pod_template


def job_name(job: Job, spec: dict[str, Any]) -> str:
    """``<name>-<digest of what it runs>``: a change runs a new Job, no change never reruns it."""
    # suspend only pauses the same Job: it is left out, so resuming does not start another.
    digest = json.dumps({k: v for k, v in spec.items() if k != "suspend"}, sort_keys=True)
    return f"{job.name}-{hashlib.sha256(digest.encode()).hexdigest()[:JOB_DIGEST_LENGTH]}"


def render_job(job: Job, tenant: Tenant, volumes: dict[str, Volume], revision: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    files = inline_files(job)
    if files:
        meta = _meta(job, files_config_map(job), revision)
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": dict(sorted(files.items()))})
    spec = _job_spec(job, tenant, volumes)
    if job.schedule is None:
        if job.suspend:
            spec["suspend"] = True
        objects.append(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": _meta(job, job_name(job, spec), revision),
                "spec": spec,
            }
        )
        return objects
    labels = {**dict(job.metadata.labels), **owner_labels(job.tenant, job.name), JOB_LABEL: job.name}
    cron: dict[str, Any] = {
        "schedule": job.schedule,
        "timeZone": job.timezone,
        "concurrencyPolicy": job.concurrency,
        "startingDeadlineSeconds": job.starting_deadline_seconds,
        "successfulJobsHistoryLimit": job.keep_succeeded,
        "failedJobsHistoryLimit": job.keep_failed,
        "suspend": job.suspend,
        "jobTemplate": {"metadata": {"labels": labels}, "spec": spec},
    }
    objects.append(
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(job, job.name, revision), "spec": cron}
    )
    return objects


def _meta(job: Job, name: str, revision: str) -> dict[str, Any]:
    return object_meta(
        name,
        source=job.source,
        revision=revision,
        namespace=job.tenant,
        tenant=job.tenant,
        app=job.name,
        user=job.metadata,
        extra_labels={JOB_LABEL: job.name},
    )


def _job_spec(job: Job, tenant: Tenant, volumes: dict[str, Volume]) -> dict[str, Any]:
    template = pod_template(job, tenant, volumes, job.image, None)
    template["metadata"]["labels"][JOB_LABEL] = job.name
    template["spec"]["restartPolicy"] = job.restart_policy
    spec: dict[str, Any] = {"backoffLimit": job.retries}
    if job.active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = job.active_deadline_seconds
    if job.completions is not None:
        spec["completions"] = job.completions
    if job.parallelism is not None:
        spec["parallelism"] = job.parallelism
    spec["template"] = template
    return spec
