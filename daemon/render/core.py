"""The render entry point and the apply order of kinds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from daemon.errors import ValidationFailed
from daemon.model.kinds import Autoscaling, PlatformModel, ScaleSchedule, Volume
from daemon.model.secrets import SecretData
from daemon.render.app import render_app, render_service_accounts
from daemon.render.autoscaling import render_autoscaling
from daemon.render.boundary import boundary_problems, confine
from daemon.render.canary import canary_autoscaler
from daemon.render.clusters import for_cluster
from daemon.render.job import render_job
from daemon.render.logging import render_logging
from daemon.render.manifests import render_manifests
from daemon.render.network import render_network
from daemon.render.patches import apply_patches
from daemon.render.provenance import documents
from daemon.render.secrets import render_secrets
from daemon.render.storage import render_storage_classes, render_volume
from daemon.render.tenant import render_tenant

KubeObject = dict[str, Any]

#: Apply stages (lightkube/Flux order); deletes go in the reverse order.
STAGES: tuple[frozenset[str], ...] = (
    frozenset({"CustomResourceDefinition", "Namespace"}),
    frozenset({"StorageClass", "VolumeSnapshotClass", "IngressClass", "PriorityClass", "ClusterRole"}),
    frozenset(
        {
            "ResourceQuota",
            "LimitRange",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ClusterRoleBinding",
            "NetworkPolicy",
            "ConfigMap",
            "Secret",
            "PersistentVolumeClaim",
        }
    ),
    frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}),
    frozenset({"Service", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget", "VolumeSnapshot"}),
)


def stage_of(kind: str) -> int:
    for index, kinds in enumerate(STAGES):
        if kind in kinds:
            return index
    return len(STAGES) - 1


def scheduled(scaling: Autoscaling, schedule: ScaleSchedule | None) -> Autoscaling:
    """The Autoscaling with a scheduled scaling window applied (replica bounds only)."""
    if schedule is None:
        return scaling
    minimum = max(scaling.min_replicas, schedule.min_replicas or 0)
    maximum = max(schedule.max_replicas or scaling.max_replicas, minimum)
    return replace(scaling, min_replicas=minimum, max_replicas=maximum)


def render(
    model: PlatformModel,
    revision: str = "",
    schedules: Mapping[tuple[str, str], ScaleSchedule] | None = None,
    secrets: Mapping[tuple[str, str], SecretData] | None = None,
    cluster: str | None = None,
) -> list[KubeObject]:
    """Every object the model asks for, in apply order (stable within a stage).

    With ``cluster``, only what runs on that cluster of ``spec.clusters`` (``render.clusters``);
    without it, every tenant, wherever it is placed.

    ``schedules`` holds the scheduled scaling in force (by tenant and Autoscaling name): the
    caller decides what "now" is, so rendering stays a pure function of its arguments. ``secrets``
    holds the decrypted values of the model's encrypted Secrets (by tenant and name): the caller
    has the key; a Secret without its values is a :class:`ValidationFailed`.
    Raises :class:`ValidationFailed` too when two documents render the same object, or a tenant's
    document (an App, a raw manifest, a patched object...) an object outside its namespace (see
    ``render.boundary``).
    """
    if cluster is not None:
        model = for_cluster(model, cluster)
    objects = _render(confine(model), revision, schedules or {}, secrets or {})
    problems = boundary_problems(objects, documents(model))
    if problems:
        raise ValidationFailed(problems)
    return sorted(objects, key=lambda o: stage_of(o["kind"]))


def _render(
    model: PlatformModel,
    revision: str,
    schedules: Mapping[tuple[str, str], ScaleSchedule],
    secrets: Mapping[tuple[str, str], SecretData],
) -> list[KubeObject]:
    platform = model.platform
    objects: list[KubeObject] = list(render_storage_classes(platform, revision))
    objects.extend(render_logging(platform, revision))
    tenants = {t.name: t for t in model.tenants}
    # Looked up per app: indexed once, or a platform of thousands of apps renders in quadratic time.
    volumes_by_tenant: dict[str, dict[str, Volume]] = {}
    for volume in model.volumes:
        volumes_by_tenant.setdefault(volume.tenant, {})[volume.name] = volume
    scalings: dict[tuple[str, str], Autoscaling] = {}
    for found in model.autoscalings:
        scalings.setdefault((found.tenant, found.target), found)
    for tenant in model.tenants:
        objects.extend(render_tenant(tenant, revision))
    objects.extend(render_network(model, revision))
    if model.secrets:
        objects.extend(render_secrets(model.secrets, secrets, revision))
    for volume in model.volumes:
        if not volume.per_replica:  # those are claim templates of their StatefulSet
            objects.append(render_volume(volume, revision))
    objects.extend(render_service_accounts((*model.apps, *model.jobs), revision))
    for app in model.apps:
        tenant = tenants[app.tenant]
        volumes = volumes_by_tenant.get(app.tenant, {})
        scaling = scalings.get((app.tenant, app.name))
        if scaling is not None:
            scaling = scheduled(scaling, schedules.get((scaling.tenant, scaling.name)))
        objects.extend(
            render_app(
                app,
                tenant,
                volumes,
                scaling,
                revision,
                ingress_class=platform.ingress.class_name,
                ingress_tls=platform.ingress.tls,
            )
        )
        if scaling is not None:
            hpa = render_autoscaling(scaling, app, revision)
            objects.append(hpa)
            if app.canary is not None and not app.stateful:
                objects.append(canary_autoscaler(hpa, app, scaling, app.canary, revision))
    for job in model.jobs:
        objects.extend(
            render_job(job, tenants[job.tenant], {v.name: v for v in model.volumes_of(job.tenant)}, revision)
        )
    # The escape hatch comes last: raw manifests next to what is rendered, then patches on it.
    objects.extend(render_manifests(model.manifests, objects, revision, platform.tenancy))
    return apply_patches(objects, model.patches, rules=platform.tenancy)
