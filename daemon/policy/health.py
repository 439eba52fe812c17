"""Health rules (pure): is a live object where its spec wants it?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from daemon.model.refs import ObjRef

State = Literal["healthy", "progressing", "degraded"]

#: ``ScalingActive`` reasons that mean "no metrics for the target's pods (yet)": a new pod has
#: none until the metrics pipeline has scraped it twice, which takes one to three resolutions.
MISSING_METRICS_REASONS = frozenset(
    {
        "FailedGetResourceMetric",
        "FailedGetContainerResourceMetric",
        "FailedGetPodsMetric",
        "FailedGetObjectMetric",
        "FailedGetExternalMetric",
    }
)
#: How long an HPA may wait for its first metrics before it counts as degraded (the HPA
#: controller's own CPU initialisation period).
METRICS_GRACE = timedelta(minutes=5)

#: Kinds whose health is worth waiting for; everything else is healthy once it exists.
WATCHED_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "PersistentVolumeClaim", "HorizontalPodAutoscaler", "Job", "CronJob"}
)


@dataclass(frozen=True)
class Health:
    ref: ObjRef
    state: State
    message: str = ""


@dataclass(frozen=True)
class Unhealthy:
    """A degraded object and whose it is: health is told per app of a tenant."""

    ref: str
    message: str
    tenant: str  # "": the platform's own objects
    app: str = ""  # "": not part of an app (the namespace, its quota)

    @property
    def unit(self) -> tuple[str, str]:
        return self.tenant, self.app


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in obj.get("status", {}).get("conditions") or ():
        if cond.get("type") == kind:
            return dict(cond)
    return None


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def assess(ref: ObjRef, obj: Mapping[str, Any], now: datetime | None = None) -> Health:
    """The health of a live object; ``now`` dates conditions that are acceptable for a while
    (without it, such a condition counts as still within its grace period)."""
    kind = obj.get("kind", ref.kind)
    if kind == "Deployment":
        return _deployment(ref, obj)
    if kind == "StatefulSet":
        return _stateful_set(ref, obj)
    if kind == "DaemonSet":
        return _daemon_set(ref, obj)
    if kind == "PersistentVolumeClaim":
        phase = obj.get("status", {}).get("phase", "Pending")
        if phase == "Bound":
            return Health(ref, "healthy", "Bound")
        if phase == "Lost":
            return Health(ref, "degraded", "Lost: its volume is gone")
        return Health(ref, "progressing", f"{phase}: waiting for the storage class to provision a volume")
    if kind == "HorizontalPodAutoscaler":
        return _autoscaler(ref, obj, now)
    if kind == "Job":
        return _job(ref, obj)
    if kind == "CronJob":
        return _cron_job(ref, obj)
    if kind == "Namespace":
        phase = obj.get("status", {}).get("phase", "Active")
        return Health(ref, "healthy" if phase == "Active" else "progressing", phase)
    return Health(ref, "healthy", "exists")


def _autoscaler(ref: ObjRef, obj: Mapping[str, Any], now: datetime | None) -> Health:
    able = _condition(obj, "AbleToScale")
    if able is None:
        return Health(ref, "progressing", "waiting for the HPA controller")
    if able.get("status") != "True":
        return Health(ref, "degraded", f"cannot scale: {able.get('reason', '')}: {able.get('message', '')}")
    active = _condition(obj, "ScalingActive")
    if active is None or active.get("status") == "True":
        return Health(ref, "healthy", "able to scale")
    reason, message = str(active.get("reason", "")), str(active.get("message", ""))
    if reason == "ScalingDisabled":
        return Health(ref, "healthy", "scaling disabled: its target has 0 replicas")
    if reason in MISSING_METRICS_REASONS:
        since = _timestamp(active.get("lastTransitionTime"))
        if now is None or since is None or now - since < METRICS_GRACE:
            return Health(ref, "progressing", f"waiting for metrics: {message}")
        return Health(ref, "degraded", f"no metrics for {_age(now - since)}, so it cannot scale: {message}")
    return Health(ref, "degraded", f"not scaling: {reason}: {message}")


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60}m" if minutes >= 60 else f"{minutes}m"


def _deployment(ref: ObjRef, obj: Mapping[str, Any]) -> Health:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    if status.get("observedGeneration", 0) < obj.get("metadata", {}).get("generation", 0):
        return Health(ref, "progressing", "waiting for the controller to see the new spec")
    progressing = _condition(obj, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(ref, "degraded", f"rollout stuck: {progressing.get('message', '')}")
    want = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    total = status.get("replicas", 0)
    if updated < want:
        return Health(ref, "progressing", f"{updated} of {want} replicas updated")
    if total > updated:
        return Health(ref, "progressing", f"{total - updated} old replicas pending termination")
    if available < want:
        return Health(ref, "progressing", f"{available} of {want} replicas available")
    return Health(ref, "healthy", f"{available}/{want} available")


def _stateful_set(ref: ObjRef, obj: Mapping[str, Any]) -> Health:
    """Rolled out and ready. A partitioned rollout is done once the ordinals at or above the
    partition run the new revision (the others wait for the partition to come down); with
    OnDelete, pods change only when someone deletes them, so a pending update is not a rollout."""
    spec, status = obj.get("spec", {}), obj.get("status", {})
    if status.get("observedGeneration", 0) < obj.get("metadata", {}).get("generation", 0):
        return Health(ref, "progressing", "waiting for the controller to see the new spec")
    want = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0)
    updated = status.get("updatedReplicas", 0)
    strategy = spec.get("updateStrategy") or {}
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    pending = bool(status.get("updateRevision")) and status.get("currentRevision") != status.get("updateRevision")
    note = ""
    if pending and strategy.get("type") == "OnDelete":
        note = f"; {want - updated} pod(s) take the new revision when deleted (OnDelete)"
    elif pending and partition > 0:
        target = max(want - partition, 0)
        if updated < target:
            return Health(ref, "progressing", f"rolling out: {updated} of {target} updated (partition {partition})")
        note = f"; partition {partition}: {updated} of {want} on the new revision"
    elif pending:
        return Health(ref, "progressing", f"rolling out: {updated} of {want} updated")
    if ready < want:
        return Health(ref, "progressing", f"{ready} of {want} replicas ready")
    return Health(ref, "healthy", f"{ready}/{want} ready{note}")


def _daemon_set(ref: ObjRef, obj: Mapping[str, Any]) -> Health:
    """Healthy once a current pod runs and is available on every node that should have one."""
    status = obj.get("status", {})
    if status.get("observedGeneration", 0) < obj.get("metadata", {}).get("generation", 0):
        return Health(ref, "progressing", "waiting for the controller to see the new spec")
    want = status.get("desiredNumberScheduled", 0)
    updated = status.get("updatedNumberScheduled", 0)
    available = status.get("numberAvailable", 0)
    if status.get("numberMisscheduled", 0):
        return Health(ref, "progressing", f"{status['numberMisscheduled']} pod(s) on nodes that should not have one")
    if updated < want:
        return Health(ref, "progressing", f"{updated} of {want} nodes run the current pod")
    if available < want:
        return Health(ref, "progressing", f"{available} of {want} nodes have an available pod")
    return Health(ref, "healthy", f"{available}/{want} nodes")


def _job(ref: ObjRef, obj: Mapping[str, Any]) -> Health:
    """The outcome of the run: a Job that still runs is healthy (an apply does not wait for batch
    work), one that failed is degraded until a new run replaces it."""
    status = obj.get("status", {})
    complete, failed = _condition(obj, "Complete"), _condition(obj, "Failed")
    if complete is not None and complete.get("status") == "True":
        return Health(ref, "healthy", "succeeded")
    if failed is not None and failed.get("status") == "True":
        return Health(ref, "degraded", f"failed: {failed.get('reason', '')}: {failed.get('message', '')}")
    if obj.get("spec", {}).get("suspend"):
        return Health(ref, "healthy", "suspended")
    done = status.get("succeeded", 0)
    want = obj.get("spec", {}).get("completions", 1)
    return Health(ref, "healthy", f"running: {status.get('active', 0)} active, {done} of {want} done")


def _cron_job(ref: ObjRef, obj: Mapping[str, Any]) -> Health:
    """The outcome of the last run: its schedule time against the last success."""
    spec, status = obj.get("spec", {}), obj.get("status", {})
    if spec.get("suspend"):
        return Health(ref, "healthy", "suspended")
    scheduled, succeeded = status.get("lastScheduleTime"), status.get("lastSuccessfulTime")
    if not scheduled:
        return Health(ref, "healthy", "waiting for its first run")
    if status.get("active"):
        return Health(ref, "healthy", f"running (started for {scheduled})")
    # RFC 3339 times in UTC, as the API server writes them, compare as text.
    if succeeded and str(succeeded) >= str(scheduled):
        return Health(ref, "healthy", f"the last run succeeded at {succeeded}")
    return Health(ref, "degraded", f"the last run (scheduled {scheduled}) did not succeed")
