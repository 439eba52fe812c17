"""Autoscaling becomes an ``autoscaling/v2`` HorizontalPodAutoscaler on the app's workload."""

from __future__ import annotations

from typing import Any

from daemon.model.kinds import App, Autoscaling, ScalingRules
from daemon.render.meta import object_meta


def _rules(rules: ScalingRules) -> dict[str, Any]:
    rendered: dict[str, Any] = {}
    if rules.stabilization_window_seconds is not None:
        rendered["stabilizationWindowSeconds"] = rules.stabilization_window_seconds
    policies = []
    if rules.max_percent_per_minute is not None:
        policies.append({"type": "Percent", "value": rules.max_percent_per_minute, "periodSeconds": 60})
    if rules.max_pods_per_minute is not None:
        policies.append({"type": "Pods", "value": rules.max_pods_per_minute, "periodSeconds": 60})
    if policies:
        rendered["policies"] = policies
    return rendered


def render_autoscaling(scaling: Autoscaling, app: App, revision: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet" if app.stateful else "Deployment",
            "name": app.name,
        },
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
    }
    if scaling.metrics:
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": m.resource,
                    "target": {"type": "Utilization", "averageUtilization": m.utilization},
                },
            }
            for m in scaling.metrics
        ]
    behavior: dict[str, Any] = {}
    if scaling.scale_up is not None:
        behavior["scaleUp"] = _rules(scaling.scale_up)
    if scaling.scale_down is not None:
        behavior["scaleDown"] = _rules(scaling.scale_down)
    if behavior:
        spec["behavior"] = behavior
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_meta(
            app.name,
            source=scaling.source,
            revision=revision,
            namespace=scaling.tenant,
            tenant=scaling.tenant,
            app=app.name,
            user=scaling.metadata,
        ),
        "spec": spec,
    }
