"""Clusters and placements: names that exist, placements that land somewhere, overrides of what exists."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from daemon.loader.checks.context import CheckContext, items, mapping
from daemon.loader.documents import Entry
from daemon.loader.hints import did_you_mean


def check(ctx: CheckContext) -> None:
    platform = ctx.platform
    clusters = [mapping(c) for c in items(platform.spec().get("clusters"))] if platform is not None else []
    if platform is not None:
        _clusters(ctx, platform, clusters)
    labels = {str(c.get("name")): mapping(c.get("labels")) for c in clusters}
    for tenant in ctx.valid["Tenant"]:
        placement = mapping(tenant.spec().get("placement"))
        if placement:
            _placement(ctx, tenant, placement, labels)
        if labels:
            _taken(ctx, tenant, placement, clusters)


def _clusters(ctx: CheckContext, platform: Entry, clusters: list[dict[str, Any]]) -> None:
    seen: dict[str, int] = {}
    reaches: dict[tuple[str, str], int] = {}
    defaults: list[int] = []
    for i, cluster in enumerate(clusters):
        name = str(cluster.get("name"))
        if name in seen:
            ctx.report(
                platform,
                ("spec", "clusters", i, "name"),
                f"cluster '{name}' is already named (spec.clusters[{seen[name]}])",
                "each cluster once",
                code="name.duplicate",
            )
        seen.setdefault(name, i)
        if cluster.get("default") is True:
            defaults.append(i)
        connection = mapping(cluster.get("connection"))
        reach = ("context", str(connection["context"])) if "context" in connection else None
        if "kubeconfig" in connection:
            reach = ("kubeconfig", f"{connection['kubeconfig']}#{connection.get('context', '')}")
        if "secret" in connection:
            reach = ("secret", f"{connection['secret']}#{connection.get('context', '')}")
            if "kubeconfig" in connection:
                ctx.report(
                    platform,
                    ("spec", "clusters", i, "connection", "secret"),
                    f"cluster '{name}' names both a kubeconfig file and a Secret",
                    "one of connection.kubeconfig (a file in --cluster-kubeconfigs) or connection.secret",
                    code="value.cluster",
                )
        if reach is not None:
            if reach in reaches:
                ctx.report(
                    platform,
                    ("spec", "clusters", i, "connection"),
                    f"cluster '{name}' is reached like spec.clusters[{reaches[reach]}]",
                    "two names for one cluster would apply every tenant twice",
                    code="value.cluster",
                )
            reaches.setdefault(reach, i)
        _overrides(ctx, platform, i, name, mapping(cluster.get("overrides")), clusters)
    for i in defaults[1:]:
        ctx.report(
            platform,
            ("spec", "clusters", i, "default"),
            f"spec.clusters[{defaults[0]}] is already the default cluster",
            "at most one cluster is the default",
            code="value.default",
        )


def _overrides(
    ctx: CheckContext, platform: Entry, i: int, cluster: str, overrides: dict[str, Any], clusters: list[dict[str, Any]]
) -> None:
    classes = ctx.platform_classes() or {}
    for j, override in enumerate(items(overrides.get("apps"))):
        base = ("spec", "clusters", i, "overrides", "apps", j)
        tenant = override.get("tenant")
        if ctx.require(platform, (*base, "tenant"), "Tenant", tenant) and ctx.require(
            platform, (*base, "app"), "App", override.get("app"), str(tenant)
        ):
            _placed(ctx, platform, (*base, "tenant"), str(tenant), cluster, clusters)
            scaling = ctx.scaling.get((str(tenant), str(override.get("app"))))
            if "replicas" in override and scaling is not None:
                ctx.report(
                    platform,
                    (*base, "replicas"),
                    f"the replicas of App '{override['app']}' are its Autoscaling's ({scaling.source.rel})",
                    "an App with an Autoscaling scales between its minReplicas and maxReplicas on every cluster",
                    code="value.replicas",
                )
    for j, override in enumerate(items(overrides.get("volumes"))):
        base = ("spec", "clusters", i, "overrides", "volumes", j)
        tenant = override.get("tenant")
        if ctx.require(platform, (*base, "tenant"), "Tenant", tenant) and ctx.require(
            platform, (*base, "volume"), "Volume", override.get("volume"), str(tenant)
        ):
            _placed(ctx, platform, (*base, "tenant"), str(tenant), cluster, clusters)
        storage_class = override.get("storageClass")
        if isinstance(storage_class, str) and storage_class not in classes:
            guess = did_you_mean(storage_class, classes)
            ctx.report(
                platform,
                (*base, "storageClass"),
                f"storage class '{storage_class}' is not in spec.storageClasses",
                f"did you mean '{guess}'?" if guess else "classes: " + (", ".join(sorted(classes)) or "none"),
                code="ref.dangling",
            )


def _placed(
    ctx: CheckContext,
    platform: Entry,
    path: tuple[str | int, ...],
    tenant: str,
    cluster: str,
    clusters: list[dict[str, Any]],
) -> None:
    """Report an override for a tenant that does not run on its cluster (it would change nothing)."""
    entry = ctx.valid_entry("Tenant", tenant)
    if entry is None:
        return
    if cluster not in _placed_on(mapping(entry.spec().get("placement")), clusters, tenant):
        ctx.report(
            platform,
            path,
            f"tenant '{tenant}' does not run on cluster '{cluster}'",
            f"its placement (or the default cluster) is in {entry.source.rel}",
            code="ref.placement",
        )


def _chosen(placement: dict[str, Any], clusters: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """The clusters (index, cluster) a placement picks, before their ``tenants`` are asked."""
    indexed = list(enumerate(clusters))
    if not placement:
        default = next(((i, c) for i, c in indexed if c.get("default") is True), indexed[0] if indexed else None)
        return [] if default is None else [default]
    if "clusters" in placement:
        names = set(map(str, items(placement["clusters"])))
        return [(i, c) for i, c in indexed if str(c.get("name")) in names]
    wanted = mapping(mapping(placement.get("clusterSelector")).get("matchLabels"))
    return [(i, c) for i, c in indexed if all(mapping(c.get("labels")).get(k) == v for k, v in wanted.items())]


def _takes(cluster: dict[str, Any], tenant: str) -> bool:
    patterns = items(cluster["tenants"]) if "tenants" in cluster else ["*"]
    return any(fnmatchcase(tenant, str(p)) for p in patterns)


def _placed_on(placement: dict[str, Any], clusters: list[dict[str, Any]], tenant: str) -> list[str]:
    return [str(c.get("name")) for _, c in _chosen(placement, clusters) if _takes(c, tenant)]


def _taken(ctx: CheckContext, tenant: Entry, placement: dict[str, Any], clusters: list[dict[str, Any]]) -> None:
    """Report the clusters a tenant places itself on that do not take it: the platform decides."""
    name = str(tenant.name)
    refused = [(i, c) for i, c in _chosen(placement, clusters) if not _takes(c, name)]
    if not refused:
        return
    i, cluster = refused[0]
    allowed = ", ".join(map(str, items(cluster.get("tenants"))))
    hint = f"spec.clusters[{i}].tenants of platform.yaml takes: {allowed}"
    if not placement:
        path: tuple[str | int, ...] = ("metadata", "name")
        message = f"tenant '{name}' has no placement and the default cluster '{cluster.get('name')}' does not take it"
        hint = "place it (spec.placement) on a cluster that takes it; " + hint
    elif "clusters" in placement:
        path = ("spec", "placement", "clusters", items(placement["clusters"]).index(cluster.get("name")))
        message = f"cluster '{cluster.get('name')}' does not take tenant '{name}'"
    else:
        if _placed_on(placement, clusters, name):
            return  # a selector picks among the clusters that take the tenant
        path = ("spec", "placement", "clusterSelector", "matchLabels")
        message = f"no cluster with these labels takes tenant '{name}': the tenant would run nowhere"
    ctx.report(tenant, path, message, hint, code="ref.placement")


def _placement(ctx: CheckContext, tenant: Entry, placement: dict[str, Any], labels: dict[str, dict[str, Any]]) -> None:
    if not labels:
        ctx.report(
            tenant,
            ("spec", "placement"),
            "platform.yaml names no clusters (spec.clusters)",
            "name the clusters in platform.yaml, or drop the placement: the tenant runs on the one cluster",
            code="ref.placement",
        )
        return
    for i, name in enumerate(items(placement.get("clusters"))):
        if name not in labels:
            guess = did_you_mean(str(name), labels)
            ctx.report(
                tenant,
                ("spec", "placement", "clusters", i),
                f"cluster '{name}' does not exist",
                f"did you mean '{guess}'?" if guess else "clusters: " + ", ".join(sorted(labels)),
                code="ref.dangling",
            )
    if "clusterSelector" in placement:
        wanted = mapping(mapping(placement["clusterSelector"]).get("matchLabels"))
        if not any(all(have.get(k) == v for k, v in wanted.items()) for have in labels.values()):
            shown = _labels(wanted)
            ctx.report(
                tenant,
                ("spec", "placement", "clusterSelector", "matchLabels"),
                f"no cluster has the labels {shown}: the tenant would run nowhere",
                "labels of spec.clusters: "
                + "; ".join(
                    f"{n}: {', '.join(f'{k}={v}' for k, v in sorted(ls.items())) or '-'}" for n, ls in labels.items()
                ),
                code="ref.placement",
            )


def _labels(labels: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
