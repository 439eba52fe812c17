"""The part of a platform that runs on one cluster: its tenants, with that cluster's overrides."""

from __future__ import annotations

from dataclasses import replace

from daemon.errors import ConfigError
from daemon.model.clusters import placed_on
from daemon.model.kinds import PlatformModel


def for_cluster(model: PlatformModel, name: str) -> PlatformModel:
    """``model`` narrowed to the tenants placed on cluster ``name``, its overrides applied.

    Platform-wide objects (storage classes, the log agent) belong to every cluster; everything of
    a tenant placed elsewhere is left out. Raises :class:`ConfigError` for a cluster the platform
    does not name.
    """
    platform = model.platform
    cluster = platform.cluster(name)
    if cluster is None:
        known = ", ".join(c.name for c in platform.clusters) or "none (platform.yaml has no spec.clusters)"
        raise ConfigError(f"cluster '{name}' is not in platform.yaml spec.clusters; clusters: {known}")
    here = {t.name for t in model.tenants if name in placed_on(platform.clusters, t.name, t.placement)}
    apps = {(o.tenant, o.app): o for o in cluster.apps}
    volumes = {(o.tenant, o.volume): o for o in cluster.volumes}
    narrowed_apps = []
    for app in model.apps:
        if app.tenant not in here:
            continue
        override = apps.get((app.tenant, app.name))
        narrowed_apps.append(
            app
            if override is None
            else replace(
                app,
                replicas=app.replicas if override.replicas is None else override.replicas,
                domains=app.domains if override.domains is None else override.domains,
            )
        )
    narrowed_volumes = []
    for volume in model.volumes:
        if volume.tenant not in here:
            continue
        changed = volumes.get((volume.tenant, volume.name))
        narrowed_volumes.append(volume if changed is None else replace(volume, storage_class=changed.storage_class))
    return replace(
        model,
        tenants=tuple(t for t in model.tenants if t.name in here),
        apps=tuple(narrowed_apps),
        volumes=tuple(narrowed_volumes),
        policies=tuple(p for p in model.policies if p.tenant in here),
        autoscalings=tuple(a for a in model.autoscalings if a.tenant in here),
        jobs=tuple(j for j in model.jobs if j.tenant in here),
        secrets=tuple(s for s in model.secrets if s.tenant in here),
        manifests=tuple(m for m in model.manifests if m.tenant in here),
        patches=tuple(p for p in model.patches if p.tenant in here),
    )
