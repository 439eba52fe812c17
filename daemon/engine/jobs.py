"""Failed runs of Jobs announced once (``job.failed``): one-off Jobs and the runs of CronJobs.

The daemon's leader calls :meth:`JobMonitor.run` every minute. It lists the Kubernetes Jobs
Dockyard's Jobs made (one list, cluster-wide, by label) and announces each one whose Failed
condition is true and that was not announced yet; the announcement is written on the Job first
(an annotation), so a restarted daemon or a new leader never repeats one, and a failed write
announces nothing and is tried again next minute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from daemon import API_GROUP
from daemon.edges.kube import KubeClient, ResourceType
from daemon.errors import ClusterError
from daemon.model.events import Event, EventSink
from daemon.model.kinds import PlatformModel
from daemon.model.labels import JOB_LABEL, MANAGED_BY, MANAGER_NAME, TENANT_LABEL

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60
#: On a Kubernetes Job: its failure was announced.
FAILURE_ANNOUNCED_ANNOTATION = f"{API_GROUP}/failure-announced"
_SELECTOR = f"{MANAGED_BY}={MANAGER_NAME},{JOB_LABEL}"


@dataclass
class JobReport:
    failed: list[str] = field(default_factory=list)  # namespace/name of the runs announced
    errors: list[str] = field(default_factory=list)


def failure(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Failed condition of a Job, when it is true."""
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return dict(cond)
    return None


class JobMonitor:
    def __init__(self, kube: KubeClient, sink: EventSink) -> None:
        self._kube = kube
        self._sink = sink

    @property
    def _jobs(self) -> ResourceType:
        # Resolved on first use (the client caches it): constructing this does no I/O.
        return self._kube.resource_type("batch/v1", "Job")

    def scheduled_run(self, is_leader: Callable[[], bool], model: Callable[[], PlatformModel | None]) -> None:
        current = model() if is_leader() else None
        if current is None:
            return
        try:
            self.run(current)
        except ClusterError as e:
            log.warning("job check skipped: %s", e)
        except Exception:  # a bug in one run must not end the scheduler's job
            log.exception("job check failed")

    def run(self, model: PlatformModel) -> JobReport:
        report = JobReport()
        tenants = {t.name for t in model.tenants}
        schedules = {(j.tenant, j.name): j.schedule for j in model.jobs}
        for obj in self._kube.list_objects(self._jobs, label_selector=_SELECTOR):
            meta = obj["metadata"]
            condition = failure(obj)
            if condition is None or meta["namespace"] not in tenants:
                continue
            if (meta.get("annotations") or {}).get(FAILURE_ANNOUNCED_ANNOTATION):
                continue
            try:
                self._kube.merge_patch(
                    self._jobs,
                    meta["namespace"],
                    meta["name"],
                    {
                        "metadata": {
                            "annotations": {
                                FAILURE_ANNOUNCED_ANNOTATION: str(condition.get("lastTransitionTime", "true"))
                            }
                        }
                    },
                )
            except ClusterError as e:
                report.errors.append(f"{meta['namespace']}/{meta['name']}: {e}")
                continue
            self._announce(obj, condition, schedules)
            report.failed.append(f"{meta['namespace']}/{meta['name']}")
        return report

    def _announce(
        self, obj: Mapping[str, Any], condition: Mapping[str, Any], schedules: Mapping[tuple[str, str], str | None]
    ) -> None:
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        tenant = labels.get(TENANT_LABEL) or meta["namespace"]
        job = labels.get(JOB_LABEL, meta["name"])
        reason = str(condition.get("reason") or "Failed")
        message = str(condition.get("message") or "")
        schedule = schedules.get((tenant, job))
        what = f"A scheduled run of Job {tenant}/{job}" if schedule else f"Job {tenant}/{job}"
        self._sink.emit(
            Event.make(
                "job.failed",
                f"{what} failed: {reason}" + (f": {message}" if message else ""),
                tenant=tenant,
                app=job,
                details={
                    "job": job,
                    "run": meta["name"],
                    "reason": reason,
                    "message": message,
                    "schedule": schedule,
                    "failedPods": int((obj.get("status") or {}).get("failed", 0)),
                },
                group=f"job:{tenant}/{meta['name']}",
            )
        )
