"""An App becomes its workload (Deployment or StatefulSet), Services, Ingress, disruption budget,
the ConfigMap of its inline files and its ServiceAccount; a canary its own track (see
:mod:`daemon.render.canary`: the traffic of the domains is split at the Ingress by weight).

When an Autoscaling targets the app, the workloads leave ``spec.replicas`` out so the HPAs alone
own them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daemon.model.kinds import App, Autoscaling, Job, Port, Tenant, Volume
from daemon.model.labels import TRACK_LABEL
from daemon.render.canary import canary_ingress, canary_name, canary_service, track_selector
from daemon.render.meta import object_meta, selector_labels
from daemon.render.pod import files_config_map, inline_files, pod_template
from daemon.render.storage import claim_template


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
    canary = app.canary if not app.stateful else None
    objects: list[dict[str, Any]] = []
    files = inline_files(app)
    if files:
        objects.append(_files(app, files, revision))
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
                replicas=None if autoscaling else app.replicas,
            )
        )
        if canary is not None:
            objects.append(
                _deployment(
                    app,
                    tenant,
                    volumes,
                    revision,
                    name=canary_name(app),
                    image=canary.image,
                    track="canary",
                    replicas=None if autoscaling else canary.replicas,
                )
            )
    if service_ports(app):
        service = _service(app, revision, headless=False)
        objects.append(service)
        if canary is not None:
            objects.append(canary_service(service, app))
        if app.expose is not None and app.expose.service is not None:
            objects.append(_exposed_service(app, revision, app.expose.service))
    if app.domains and app.ports:
        ingress = _ingress(app, revision, ingress_class=ingress_class, tls=ingress_tls)
        objects.append(ingress)
        if canary is not None:
            objects.append(canary_ingress(ingress, app, canary))
    # A budget as soon as there can be two pods: evictions then take them one at a time.
    if max(replicas, autoscaling.max_replicas if autoscaling else 0) > 1:
        objects.append(_pdb(app, revision))
    return objects


def render_service_accounts(apps: Iterable[App | Job], revision: str) -> list[dict[str, Any]]:
    """The ServiceAccounts Apps and Jobs run as, each once per tenant (several may share one)."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for app in apps:
        if app.service_account is None or (app.tenant, app.service_account) in seen:
            continue
        meta = object_meta(
            app.service_account, source=app.source, revision=revision, namespace=app.tenant, tenant=app.tenant
        )
        seen[(app.tenant, app.service_account)] = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    return list(seen.values())


def per_replica_volumes(app: App, volumes: dict[str, Volume]) -> list[Volume]:
    """The ``perReplica`` Volumes a stateful App's containers mount, each once, in mount order."""
    found: dict[str, Volume] = {}
    for mounts in (app.volumes, *(c.volumes for c in (*app.init_containers, *app.sidecars))):
        for mount in mounts:
            volume = volumes.get(mount.volume) if mount.scratch is None else None
            if volume is not None and volume.per_replica:
                found.setdefault(volume.name, volume)
    return list(found.values())


def service_ports(app: App) -> tuple[Port, ...]:
    """The ports of the App's Service: its own container's, then its sidecars'."""
    return (*app.ports, *(p for sidecar in app.sidecars for p in sidecar.ports))


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


def _files(app: App, files: dict[str, str], revision: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(app, files_config_map(app), revision),
        "data": dict(sorted(files.items())),
    }


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
    strategy = app.strategy
    if strategy is not None and strategy.type == "Recreate":
        spec["strategy"] = {"type": "Recreate"}
    elif strategy is not None:
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": strategy.max_surge, "maxUnavailable": strategy.max_unavailable},
        }
    spec["template"] = pod_template(app, tenant, volumes, image, track)
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
    templated = per_replica_volumes(app, volumes)
    spec: dict[str, Any] = {}
    if replicas is not None:
        spec["replicas"] = replicas
    spec["serviceName"] = f"{app.name}-headless"
    spec["selector"] = {"matchLabels": selector}
    strategy = app.strategy
    if strategy is not None and strategy.type == "OnDelete":
        spec["updateStrategy"] = {"type": "OnDelete"}
    elif strategy is not None and strategy.partition is not None:
        spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": strategy.partition}}
    spec["template"] = pod_template(
        app, tenant, volumes, app.image, "stable", templated=[v.name for v in templated], per_revision=False
    )
    if templated:
        spec["volumeClaimTemplates"] = [claim_template(v) for v in templated]
        # The claims hold the data: scaling down keeps them; deleting the App follows the Volumes'
        # deletion policy (validation gives a StatefulSet's per-replica Volumes one policy).
        deleted = "Delete" if all(v.deletion_policy == "Delete" for v in templated) else "Retain"
        spec["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": deleted, "whenScaled": "Retain"}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(app, app.name, revision, extra_labels={TRACK_LABEL: "stable"}),
        "spec": spec,
    }


def _service_port(port: Port, *, node_port: bool) -> dict[str, Any]:
    rendered: dict[str, Any] = {"name": port.name, "port": port.exposed, "targetPort": port.name}
    rendered["protocol"] = port.protocol
    if node_port and port.node_port is not None:
        rendered["nodePort"] = port.node_port
    return rendered


def _service(app: App, revision: str, *, headless: bool) -> dict[str, Any]:
    # With a canary, the App's Service is the stable track's: the canary gets its share at the Ingress.
    selector = track_selector(app, "stable") if app.canary and not app.stateful and not headless else None
    spec: dict[str, Any] = {"selector": selector or selector_labels(app.name)}
    ports = service_ports(app)
    exposed_here = not headless and app.expose is not None and app.expose.service is None
    if headless:
        spec["clusterIP"] = "None"
        # Stateful peers must find each other before they are ready (e.g. to form a cluster).
        spec["publishNotReadyAddresses"] = True
    elif exposed_here:
        assert app.expose is not None
        spec["type"] = app.expose.type
        if app.expose.source_ranges:
            spec["loadBalancerSourceRanges"] = list(app.expose.source_ranges)
    spec["ports"] = [_service_port(p, node_port=exposed_here) for p in ports]
    if headless and not ports:
        spec["ports"] = [{"name": "none", "port": 1, "targetPort": 1, "protocol": "TCP"}]
    name = f"{app.name}-headless" if headless else app.name
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(app, name, revision), "spec": spec}


def _exposed_service(app: App, revision: str, name: str) -> dict[str, Any]:
    """A Service of its own for a LoadBalancer or NodePort exposure; the App's stays ClusterIP."""
    assert app.expose is not None
    spec: dict[str, Any] = {"type": app.expose.type, "selector": selector_labels(app.name)}
    if app.expose.source_ranges:
        spec["loadBalancerSourceRanges"] = list(app.expose.source_ranges)
    spec["ports"] = [_service_port(p, node_port=True) for p in service_ports(app)]
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
