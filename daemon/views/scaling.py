"""What people are told about autoscaling: ``scaling.succeeded`` and ``scaling.limited`` (pure).

Every event of one app's autoscaling on one day shares a group, so chat targets keep a day's
scale-ups and scale-downs in one thread. Event ids are derived from what happened (the HPA's uid
and the change), so announcing the same change twice is a no-op in the outbox.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from daemon.model.events import Event
from daemon.policy.alerting import duration_text
from daemon.policy.scaling import ScalingTransition


def _id(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _replicas(count: int) -> str:
    return f"{count} replica" if count == 1 else f"{count} replicas"


def _details(t: ScalingTransition) -> dict[str, Any]:
    hpa = t.hpa
    details: dict[str, Any] = {} if t.kind == "limited" else {"from": t.before, "to": t.after}
    details.update(minReplicas=hpa.min_replicas, maxReplicas=hpa.max_replicas)
    metric = t.metric
    if metric is not None:
        details.update(metric=metric.name, current=metric.current or None, target=metric.target)
    return details


def scaling_event(t: ScalingTransition, now: datetime) -> Event:
    hpa = t.hpa
    where = f"{hpa.tenant}/{hpa.app}"
    group = f"scaling:{where}@{now.date().isoformat()}"
    details = _details(t)
    metric = t.metric
    because = metric.text if metric is not None else "no metric"
    if t.kind == "limited":
        wanted = t.wanted
        wants = f" and wants about {wanted}" if wanted is not None and wanted > hpa.max_replicas else " and wants more"
        details.update(replicas=hpa.current_replicas, wanted=wanted)
        return Event.make(
            "scaling.limited",
            f"{where} is at its ceiling of {_replicas(hpa.max_replicas)}{wants}: {because}.",
            tenant=hpa.tenant,
            app=hpa.app,
            group=group,
            details=details,
            time=now,
            id=_id(hpa.uid, "limited", hpa.limited_since),
        )
    schedule = t.schedule
    if schedule is not None:
        details.update(reason="schedule", schedule=schedule.why, bounds=f"{schedule.before} → {schedule.after}")
        if t.kind == "rebounded":
            summary = (
                f"{where}: {schedule.why}; bounds {schedule.before} → {schedule.after}; "
                f"its {_replicas(t.after)} are already within them."
            )
        else:
            direction = "up" if t.after > t.before else "down"
            summary = (
                f"{where} scaled {direction} from {t.before} to {_replicas(t.after)}: {schedule.why}; "
                f"bounds {schedule.before} → {schedule.after}."
            )
        return Event.make(
            "scaling.succeeded",
            summary,
            tenant=hpa.tenant,
            app=hpa.app,
            group=group,
            details=details,
            time=now,
            id=_id(hpa.uid, t.kind, schedule.after, schedule.why, t.before, t.after, hpa.last_scale_time),
        )
    details["reason"] = "metrics"
    if t.after > t.before:
        summary = f"{where} scaled up from {t.before} to {_replicas(t.after)}: {because}."
    else:
        window = duration_text(hpa.scale_down_window_seconds)
        details["stabilizationWindow"] = window
        summary = (
            f"{where} scaled down from {t.before} to {_replicas(t.after)}: {because}, "
            f"after a stabilisation window of {window}."
        )
    return Event.make(
        "scaling.succeeded",
        summary,
        tenant=hpa.tenant,
        app=hpa.app,
        group=group,
        details=details,
        time=now,
        id=_id(hpa.uid, "scaled", t.before, t.after, hpa.last_scale_time),
    )
