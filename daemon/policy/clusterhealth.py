"""What is wrong with the cluster and with Dockyard itself, from what the API returns (pure).

:mod:`daemon.engine.clusterhealth` reads the cluster every few seconds and hands what it read to
the functions below; each returns the :class:`~daemon.policy.problems.Problem` s it sees, and the
tracker (:mod:`daemon.policy.problems`) turns them into opened and closed problems.

* **node**: a node whose ``Ready`` condition is not ``True`` (the node controller has already
  waited its grace period before it said so).
* **controlplane**: every check the API server's ``/readyz?verbose`` lists as failed (``etcd``,
  ``etcd-readiness``, ``informer-sync``, ...), or the API server not answering at all; and the
  scheduler, judged by its work: pods for the default scheduler that it has not even looked at
  (no ``PodScheduled`` condition) for ``scheduler_wait`` seconds. A pod it looked at and could
  not place (``Unschedulable``) is a capacity question, not a scheduler outage.
* **rollout**: a Deployment whose ``Progressing`` condition says ``ProgressDeadlineExceeded``.
* **volume**: a claim ``Pending`` for longer than ``pending_after`` seconds, except one whose
  class binds on first use (``WaitForFirstConsumer``) while no pod has been placed for it.
* **dockyard**: reconcile cycles failing ``CYCLE_FAILURES`` times in a row, the platform repo
  out of reach, and notifications that have waited too long for delivery.

Objects of a Dockyard tenant (its label) carry the tenant and app, so the tenant's lists hear of
them; everything else is the platform's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daemon.model.labels import APP_LABEL, TENANT_LABEL
from daemon.policy.alerting import duration_text
from daemon.policy.problems import Problem

#: Families this module reports on.
CLUSTER_FAMILIES = ("node", "controlplane", "rollout", "volume")
DEFAULT_SCHEDULER = "default-scheduler"
#: A streak this long is no longer "a retry will fix it".
CYCLE_FAILURES = 3
#: notifications undelivered for longer than this mean a target (or the outbox) is stuck
NOTIFICATION_DELAY_SECONDS = 600.0
_READYZ_LINE = re.compile(r"^\[(?P<sign>[+-])\](?P<check>\S+)\s*(?P<rest>.*)$")


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    status = obj.get("status")
    for cond in (status.get("conditions") if isinstance(status, Mapping) else None) or ():
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def _owner(obj: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(tenant, app) of a Dockyard tenant's object; (None, None) for anything else."""
    labels = _meta(obj).get("labels") or {}
    tenant = labels.get(TENANT_LABEL) if isinstance(labels, Mapping) else None
    if not isinstance(tenant, str) or not tenant:
        return None, None
    app = labels.get(APP_LABEL)
    return tenant, app if isinstance(app, str) and app else None


# --- nodes ----------------------------------------------------------------------------------------


def node_problems(nodes: Iterable[Mapping[str, Any]]) -> list[Problem]:
    problems = []
    for node in nodes:
        name = str(_meta(node).get("name", ""))
        if not name or _meta(node).get("deletionTimestamp"):
            continue
        ready = _condition(node, "Ready")
        status = str((ready or {}).get("status", "Unknown"))
        if status == "True":
            continue
        reason = str((ready or {}).get("reason", "") or "no Ready condition")
        message = str((ready or {}).get("message", ""))
        problems.append(
            Problem(
                "node",
                f"node/{name}",
                f"Node {name} is NotReady ({reason}): {message}".rstrip(": "),
                details={"node": name, "ready": status, "reason": reason},
            )
        )
    return problems


# --- the control plane ----------------------------------------------------------------------------


def readyz_problems(status: int, body: str) -> list[Problem]:
    """The failed checks of ``/readyz?verbose`` (answered with 200 when all pass, 500 when not)."""
    failed = []
    for line in body.splitlines()[:500]:
        match = _READYZ_LINE.match(line.strip())
        if match and match["sign"] == "-":
            failed.append((match["check"][:100], match["rest"][:300]))
    if status != 200 and not failed:
        # Not the readiness report: a proxy's error page, or the server in some odd state.
        failed.append(("readyz", f"HTTP {status}: {body.strip()[:200]}"))
    return [
        Problem(
            "controlplane",
            f"readyz/{check}",
            f"The API server's readiness check {check} fails: {rest}".rstrip(": "),
            details={"check": check},
        )
        for check, rest in failed
    ]


def apiserver_unreachable(error: str) -> Problem:
    return Problem(
        "controlplane",
        "apiserver",
        f"The API server does not answer: {error}",
        severity="critical",
        details={"error": error[:300]},
    )


def scheduler_problems(pods: Iterable[Mapping[str, Any]], now: datetime, wait_seconds: float) -> list[Problem]:
    """Pending pods the default scheduler has not looked at for ``wait_seconds`` (read from a list
    of pods without a node)."""
    waiting = []
    for pod in pods:
        meta, spec = _meta(pod), pod.get("spec") or {}
        if spec.get("nodeName") or meta.get("deletionTimestamp"):
            continue
        if (spec.get("schedulerName") or DEFAULT_SCHEDULER) != DEFAULT_SCHEDULER:
            continue
        if (pod.get("status") or {}).get("phase", "Pending") != "Pending" or _condition(pod, "PodScheduled"):
            continue
        created = _timestamp(meta.get("creationTimestamp"))
        if created is not None and (now - created).total_seconds() >= wait_seconds:
            waiting.append((created, f"{meta.get('namespace')}/{meta.get('name')}"))
    if not waiting:
        return []
    oldest_at, oldest = min(waiting)
    longest = duration_text((now - oldest_at).total_seconds())
    return [
        Problem(
            "controlplane",
            "scheduler",
            f"No scheduler is placing pods: {len(waiting)} pod(s) have not been looked at for over "
            f"{duration_text(wait_seconds)} (the oldest, {oldest}, for {longest})",
            severity="critical",
            details={"waiting": len(waiting), "oldest": oldest},
        )
    ]


# --- workloads and volumes ------------------------------------------------------------------------


def rollout_problems(deployments: Iterable[Mapping[str, Any]]) -> list[Problem]:
    problems = []
    for deployment in deployments:
        progressing = _condition(deployment, "Progressing")
        if progressing is None or progressing.get("reason") != "ProgressDeadlineExceeded":
            continue
        meta = _meta(deployment)
        where = f"{meta.get('namespace')}/{meta.get('name')}"
        tenant, app = _owner(deployment)
        deadline = (deployment.get("spec") or {}).get("progressDeadlineSeconds", 600)
        problems.append(
            Problem(
                "rollout",
                f"rollout/{where}",
                f"The rollout of {where} is stuck past its {duration_text(float(deadline))} deadline: "
                f"{progressing.get('message', '')}",
                tenant=tenant,
                app=app,
                details={"deployment": where, "deadline": duration_text(float(deadline))},
            )
        )
    return problems


WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
SELECTED_NODE_ANNOTATION = "volume.kubernetes.io/selected-node"


def volume_problems(
    claims: Iterable[Mapping[str, Any]],
    classes: Iterable[Mapping[str, Any]],
    now: datetime,
    pending_after: float,
) -> list[Problem]:
    by_name = {str(_meta(c).get("name")): c for c in classes}
    default = next(
        (
            n
            for n, c in by_name.items()
            if (_meta(c).get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
        ),
        None,
    )
    problems = []
    for claim in claims:
        meta, spec = _meta(claim), claim.get("spec") or {}
        if (claim.get("status") or {}).get("phase") != "Pending" or meta.get("deletionTimestamp"):
            continue
        created = _timestamp(meta.get("creationTimestamp"))
        if created is None or (now - created).total_seconds() < pending_after:
            continue
        class_name = spec.get("storageClassName") or default
        storage_class = by_name.get(str(class_name)) if class_name else None
        annotations = meta.get("annotations") or {}
        if (
            storage_class is not None
            and storage_class.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER
            and SELECTED_NODE_ANNOTATION not in annotations
        ):
            continue  # binds when a pod first uses it: nothing is wrong yet
        where = f"{meta.get('namespace')}/{meta.get('name')}"
        why = (
            f"its storage class {class_name} does not exist"
            if class_name and storage_class is None
            else "no storage class and no default one"
            if not class_name
            else f"storage class {class_name} has not provisioned a volume"
        )
        tenant, app = _owner(claim)
        problems.append(
            Problem(
                "volume",
                f"volume/{where}",
                f"Volume claim {where} has been Pending for {duration_text((now - created).total_seconds())}: {why}",
                tenant=tenant,
                app=app,
                details={"claim": where, "storageClass": str(class_name or "")},
            )
        )
    return problems


# --- Dockyard itself ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DockyardSignals:
    """What the daemon knows about itself, read from its parts at each look."""

    #: reconcile cycles failed in a row, and why the last one did
    failures: int = 0
    last_error: str = ""
    #: why the platform repo cannot be fetched; "" when it can
    fetch_error: str = ""
    #: deliveries not delivered yet, and the age of the oldest
    undelivered: int = 0
    oldest_undelivered_seconds: float = 0.0


def dockyard_problems(signals: DockyardSignals) -> list[Problem]:
    problems = []
    if signals.failures >= CYCLE_FAILURES:
        problems.append(
            Problem(
                "dockyard",
                "dockyard/cycles",
                f"Reconcile cycles keep failing ({signals.failures} in a row): {signals.last_error}",
                severity="critical",
                details={"failures": signals.failures},
            )
        )
    if signals.fetch_error:
        problems.append(
            Problem(
                "dockyard",
                "dockyard/source",
                f"The platform repo cannot be fetched, so no change reaches the cluster: {signals.fetch_error}",
                details={},
            )
        )
    if signals.undelivered and signals.oldest_undelivered_seconds >= NOTIFICATION_DELAY_SECONDS:
        problems.append(
            Problem(
                "dockyard",
                "dockyard/notifications",
                f"{signals.undelivered} notification(s) are not delivered; the oldest has waited "
                f"{duration_text(signals.oldest_undelivered_seconds)}",
                details={"undelivered": signals.undelivered},
            )
        )
    return problems
