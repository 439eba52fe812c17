"""A canary that means its weight: the traffic of the App's domains is split at the Ingress.

ingress-nginx (the platform's ingress class) sends ``weight`` percent of the requests for a host
to a second Ingress of the same hosts annotated ``nginx.ingress.kubernetes.io/canary``, whatever
the number of pods behind either. So the canary track is a Deployment of its own (``canary.replicas``
pods, or its own HPA on the App's metrics when the App is autoscaled) behind a Service of its own
(``<app>-canary``); the App's Service selects the stable track only, so in-cluster callers reach the
stable version. ingress-nginx over Gateway API weights: it is the controller the platform runs
(``spec.ingress.className: nginx``), and the annotations need nothing beyond a second Ingress.
"""

from __future__ import annotations

from typing import Any, Final

from daemon.model.kinds import App, Autoscaling, Canary
from daemon.model.labels import TRACK_LABEL
from daemon.render.meta import object_meta, selector_labels

CANARY_ANNOTATION: Final = "nginx.ingress.kubernetes.io/canary"
WEIGHT_ANNOTATION: Final = "nginx.ingress.kubernetes.io/canary-weight"


def canary_name(app: App) -> str:
    return f"{app.name}-canary"


def track_selector(app: App, track: str) -> dict[str, str]:
    return {**selector_labels(app.name), TRACK_LABEL: track}


def canary_service(service: dict[str, Any], app: App) -> dict[str, Any]:
    """The App's Service, for the canary track only."""
    spec = {k: v for k, v in service["spec"].items() if k not in ("type", "loadBalancerSourceRanges")}
    spec["selector"] = track_selector(app, "canary")
    spec["ports"] = [{k: v for k, v in p.items() if k != "nodePort"} for p in spec["ports"]]
    meta = dict(service["metadata"])
    meta["name"] = canary_name(app)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def canary_ingress(ingress: dict[str, Any], app: App, canary: Canary) -> dict[str, Any]:
    """The App's Ingress for the same hosts, to the canary Service, with the weight of the split."""
    spec: dict[str, Any] = {**ingress["spec"]}
    rules = []
    for rule in spec["rules"]:
        paths = []
        for path in rule["http"]["paths"]:
            backend = {"service": {**path["backend"]["service"], "name": canary_name(app)}}
            paths.append({**path, "backend": backend})
        rules.append({**rule, "http": {"paths": paths}})
    spec["rules"] = rules
    meta = dict(ingress["metadata"])
    meta["name"] = canary_name(app)
    meta["annotations"] = {
        **meta["annotations"],
        CANARY_ANNOTATION: "true",
        WEIGHT_ANNOTATION: str(canary.weight),
    }
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def canary_autoscaler(
    hpa: dict[str, Any], app: App, scaling: Autoscaling, canary: Canary, revision: str
) -> dict[str, Any]:
    """The App's HPA for the canary Deployment: the same metrics, from ``canary.replicas`` pods."""
    spec = dict(hpa["spec"])
    spec["scaleTargetRef"] = {**spec["scaleTargetRef"], "name": canary_name(app)}
    spec["minReplicas"] = canary.replicas
    spec["maxReplicas"] = max(canary.replicas, scaling.max_replicas)
    meta = object_meta(
        canary_name(app),
        source=scaling.source,
        revision=revision,
        namespace=app.tenant,
        tenant=app.tenant,
        app=app.name,
        user=scaling.metadata,
        extra_labels={TRACK_LABEL: "canary"},
    )
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta, "spec": spec}
