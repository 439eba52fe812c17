"""An App becomes its workload (Deployment or StatefulSet), Service, Ingress and disruption budget.

A canary is a second Deployment track (``dockyard.dev/track: canary``) behind the same Service,
so traffic splits roughly by the share of replicas on each track. When an Autoscaling targets
the app, the stable workload leaves ``spec.replicas`` out so the HPA alone owns it.
"""

from __future__ import annotations

import math
from typing import Any

from daemon.model.kinds import App, Autoscaling, Probe, Tenant, Volume
from daemon.model.labels import TRACK_LABEL
from daemon.model.quantity import parse_quantity
from daemon.render.meta import object_meta, owner_labels, selector_labels
from daemon.render.storage import claim_name


def canary_split(replicas: int, weight: int) -> tuple[int, int]:
    """(stable, canary) replica counts for a canary weight in percent.

    A positive weight always gets at least one canary pod, and the stable track keeps at least
    one pod unless the weight is 100.
    """
    if weight <= 0:
        return replicas, 0
    if weight >= 100:
        return 0, max(replicas, 1)
    canary = max(1, math.floor(replicas * weight / 100 + 0.5))
    stable = max(1, replicas - canary)
    return stable, canary


def render_app(
    app: App,
    tenant: Tenant,
    volumes: dict[str, Volume],
    autoscaling: Autoscaling | None,
    revision: str,
    *,
    ingress_class: str,
    ingress_tls: bool,
) -> list[dict[str, Any]]:
    replicas = autoscaling.min_replicas if autoscaling else app.replicas
    stable, canary = canary_split(replicas, app.canary.weight) if app.canary and not app.stateful else (replicas, 0)
    objects: list[dict[str, Any]] = []
    if app.stateful:
        objects.append(_stateful_set(app, tenant, volumes, revision, None if autoscaling else app.replicas))
        objects.append(_service(app, revision, headless=True))
    else:
        objects.append(
            _deployment(
                app,
                tenant,
                volumes,
                revision,
                name=app.name,
                image=app.image,
                track="stable",
                replicas=None if autoscaling else stable,
            )
        )
        if app.canary is not None and canary > 0:
            objects.append(
                _deployment(
                    app,
                    tenant,
                    volumes,
                    revision,
                    name=f"{app.name}-canary",
                    image=app.canary.image,
                    track="canary",
                    replicas=canary,
                )
            )
    if app.ports:
        objects.append(_service(app, revision, headless=False))
    if app.domains and app.ports:
        objects.append(_ingress(app, revision, ingress_class=ingress_class, tls=ingress_tls))
    if replicas > 1:
        objects.append(_pdb(app, revision))
    return objects


def _meta(app: App, name: str, revision: str, **kwargs: Any) -> dict[str, Any]:
    return object_meta(
        name,
        source=app.source,
        revision=revision,
        namespace=app.tenant,
        tenant=app.tenant,
        app=app.name,
        user=app.metadata,
        **kwargs,
    )


def _probe(probe: Probe, default_port: str | int | None) -> dict[str, Any]:
    rendered: dict[str, Any]
    if probe.http is not None:
        rendered = {"httpGet": {"path": probe.http, "port": probe.port if probe.port is not None else default_port}}
    elif probe.tcp is not None:
        rendered = {"tcpSocket": {"port": probe.tcp}}
    else:
        rendered = {"exec": {"command": list(probe.command)}}
    for field, value in (
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("periodSeconds", probe.period_seconds),
        ("failureThreshold", probe.failure_threshold),
    ):
        if value is not None:
            rendered[field] = value
    return rendered


def _env(app: App) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    for var in app.env:
        if var.secret_ref is not None:
            ref = {"name": var.secret_ref.name, "key": var.secret_ref.key}
            env.append({"name": var.name, "valueFrom": {"secretKeyRef": ref}})
        elif var.config_map_ref is not None:
            ref = {"name": var.config_map_ref.name, "key": var.config_map_ref.key}
            env.append({"name": var.name, "valueFrom": {"configMapKeyRef": ref}})
        else:
            env.append({"name": var.name, "value": var.value or ""})
    return env


def _resources(app: App, tenant: Tenant) -> dict[str, Any]:
    res = app.resources
    if res is None:
        return {}
    requests = {k: v for k, v in (("cpu", res.cpu), ("memory", res.memory)) if v is not None}
    limits = {k: v for k, v in (("cpu", res.limit_cpu), ("memory", res.limit_memory)) if v is not None}
    defaults = tenant.limits
    default_limits = {"cpu": defaults.default_cpu, "memory": defaults.default_memory} if defaults else {}
    for resource, request in requests.items():
        default = default_limits.get(resource)
        if resource not in limits and default is not None and parse_quantity(request) > parse_quantity(default):
            # The namespace's LimitRange would give this container its default limit, below the
            # request, and the API server would refuse every pod; a limit equal to the request
            # is what the team asked for at least.
            limits[resource] = request
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _container(app: App, tenant: Tenant, image: str) -> dict[str, Any]:
    container: dict[str, Any] = {"name": app.name, "image": image}
    if app.command:
        container["command"] = list(app.command)
    if app.args:
        container["args"] = list(app.args)
    if app.ports:
        container["ports"] = [{"name": p.name, "containerPort": p.port, "protocol": p.protocol} for p in app.ports]
    env = _env(app)
    if env:
        container["env"] = env
    resources = _resources(app, tenant)
    if resources:
        container["resources"] = resources
    default_port: str | int | None = app.ports[0].name if app.ports else None
    for field, probe in (
        ("readinessProbe", app.probes.readiness),
        ("livenessProbe", app.probes.liveness),
        ("startupProbe", app.probes.startup),
    ):
        if probe is not None:
            container[field] = _probe(probe, default_port)
    if app.volumes:
        mounts = []
        for mount in app.volumes:
            rendered: dict[str, Any] = {"name": mount.volume, "mountPath": mount.mount_path}
            if mount.read_only:
                rendered["readOnly"] = True
            if mount.sub_path:
                rendered["subPath"] = mount.sub_path
            mounts.append(rendered)
        container["volumeMounts"] = mounts
    if tenant.pod_security == "restricted":
        # Pods that break the namespace's enforced level are refused at creation, long after the
        # apply looked fine; render what "restricted" demands instead.
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    return container


def _pod_template(app: App, tenant: Tenant, volumes: dict[str, Volume], image: str, track: str) -> dict[str, Any]:
    labels = dict(app.metadata.labels)
    labels.update(owner_labels(app.tenant, app.name))
    labels[TRACK_LABEL] = track
    spec: dict[str, Any] = {"containers": [_container(app, tenant, image)]}
    if app.volumes:
        spec["volumes"] = [
            {
                "name": m.volume,
                "persistentVolumeClaim": {
                    "claimName": claim_name(volumes[m.volume]) if m.volume in volumes else m.volume
                },
            }
            for m in app.volumes
        ]
    return {"metadata": {"labels": labels}, "spec": spec}


def _deployment(
    app: App,
    tenant: Tenant,
    volumes: dict[str, Volume],
    revision: str,
    *,
    name: str,
    image: str,
    track: str,
    replicas: int | None,
) -> dict[str, Any]:
    selector = {**selector_labels(app.name), TRACK_LABEL: track}
    spec: dict[str, Any] = {}
    if replicas is not None:
        spec["replicas"] = replicas
    spec["selector"] = {"matchLabels": selector}
    if app.strategy is not None:
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {
                "maxSurge": app.strategy.max_surge,
                "maxUnavailable": app.strategy.max_unavailable,
            },
        }
    spec["template"] = _pod_template(app, tenant, volumes, image, track)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(app, name, revision, extra_labels={TRACK_LABEL: track}),
        "spec": spec,
    }


def _stateful_set(
    app: App, tenant: Tenant, volumes: dict[str, Volume], revision: str, replicas: int | None
) -> dict[str, Any]:
    selector = {**selector_labels(app.name), TRACK_LABEL: "stable"}
    spec: dict[str, Any] = {}
    if replicas is not None:
        spec["replicas"] = replicas
    spec["serviceName"] = f"{app.name}-headless"
    spec["selector"] = {"matchLabels": selector}
    spec["template"] = _pod_template(app, tenant, volumes, app.image, "stable")
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(app, app.name, revision, extra_labels={TRACK_LABEL: "stable"}),
        "spec": spec,
    }


def _service(app: App, revision: str, *, headless: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": selector_labels(app.name)}
    if headless:
        spec["clusterIP"] = "None"
        # Stateful peers must find each other before they are ready (e.g. to form a cluster).
        spec["publishNotReadyAddresses"] = True
    spec["ports"] = [{"name": p.name, "port": p.port, "targetPort": p.name, "protocol": p.protocol} for p in app.ports]
    if headless and not app.ports:
        spec["ports"] = [{"name": "none", "port": 1, "targetPort": 1, "protocol": "TCP"}]
    name = f"{app.name}-headless" if headless else app.name
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(app, name, revision), "spec": spec}


def _ingress(app: App, revision: str, *, ingress_class: str, tls: bool) -> dict[str, Any]:
    port = next((p for p in app.ports if p.name in ("http", "web")), app.ports[0])
    backend = {"service": {"name": app.name, "port": {"name": port.name}}}
    spec: dict[str, Any] = {
        "ingressClassName": ingress_class,
        "rules": [
            {"host": domain, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
            for domain in app.domains
        ],
    }
    if tls:
        spec["tls"] = [{"hosts": list(app.domains), "secretName": f"{app.name}-tls"}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(app, app.name, revision),
        "spec": spec,
    }


def _pdb(app: App, revision: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(app, app.name, revision),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(app.name)}},
    }
