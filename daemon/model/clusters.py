"""The clusters a platform runs on, where each tenant runs, and what differs per cluster.

A platform without ``spec.clusters`` is one cluster: the one the daemon (or ``dockyard``) is
pointed at, and every tenant runs there. With clusters named, a tenant runs where its
``placement`` says; a tenant without one runs on the default cluster only, so naming a new
cluster never deploys anything there by surprise.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # kinds imports this module (Platform.clusters)
    from daemon.model.kinds import SyncWindow


@dataclass(frozen=True)
class AppOverride:
    """What one App of one tenant has on one cluster instead of what its document says."""

    tenant: str
    app: str
    replicas: int | None = None
    domains: tuple[str, ...] | None = None


@dataclass(frozen=True)
class VolumeOverride:
    """The storage class one Volume of one tenant has on one cluster."""

    tenant: str
    volume: str
    storage_class: str


@dataclass(frozen=True)
class Cluster:
    """One cluster: how the daemon reaches it (a kubeconfig context, or a kubeconfig file by name
    in the directory the daemon is given, mounted from a Secret: never a credential in Git)."""

    name: str
    region: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    default: bool = False
    context: str | None = None  # None: the kubeconfig's current context
    kubeconfig: str | None = None  # a file name in the daemon's --cluster-kubeconfigs directory
    #: a Secret in the daemon's namespace (on its home cluster) holding the kubeconfig (key ``kubeconfig``)
    secret: str | None = None
    #: the platform says how to reach it: a daemon drives it from afar (without: the daemon's own cluster)
    connected: bool = False
    apps: tuple[AppOverride, ...] = ()
    volumes: tuple[VolumeOverride, ...] = ()
    #: the tenants that may run here (names or "*"): placements are the tenants' own files
    tenants: tuple[str, ...] = ("*",)
    #: sync windows of this cluster only, on top of the platform's
    windows: tuple[SyncWindow, ...] = ()

    def takes(self, tenant: str) -> bool:
        return any(fnmatchcase(tenant, pattern) for pattern in self.tenants)


@dataclass(frozen=True)
class Placement:
    """Where a tenant runs: clusters by name, or every cluster whose labels match."""

    clusters: tuple[str, ...] = ()
    match_labels: Mapping[str, str] = field(default_factory=dict)


def default_cluster(clusters: tuple[Cluster, ...]) -> Cluster | None:
    """The cluster marked ``default``, else the first one; None without clusters."""
    return next((c for c in clusters if c.default), clusters[0] if clusters else None)


def placed_on(clusters: tuple[Cluster, ...], tenant: str, placement: Placement | None) -> tuple[str, ...]:
    """The names of the clusters ``tenant`` with ``placement`` runs on, in the platform's order:
    never one whose ``tenants`` does not take it, whatever its placement says (the loader reports
    such a placement; this keeps render from ever following one)."""
    if placement is None:
        default = default_cluster(clusters)
        chosen: tuple[Cluster, ...] = () if default is None else (default,)
    elif placement.clusters:
        chosen = tuple(c for c in clusters if c.name in placement.clusters)
    else:
        chosen = tuple(c for c in clusters if all(c.labels.get(k) == v for k, v in placement.match_labels.items()))
    return tuple(c.name for c in chosen if c.takes(tenant))


def target(clusters: tuple[Cluster, ...], name: str | None) -> str | None:
    """The cluster a command or daemon drives: ``name`` when given, else the default cluster;
    None for a platform that names no clusters (and then drives the one it is pointed at)."""
    if name is not None:
        return name
    default = default_cluster(clusters)
    return None if default is None else default.name


def windows_on(
    windows: tuple[SyncWindow, ...], clusters: tuple[Cluster, ...], name: str | None
) -> tuple[SyncWindow, ...]:
    """The sync windows on cluster ``name`` (None: the default): the platform's ``windows``, then
    the cluster's own."""
    wanted = target(clusters, name)
    own = next((c.windows for c in clusters if c.name == wanted), ())
    return (*windows, *own)


def remote_clusters(
    clusters: tuple[Cluster, ...], home: str | None, pinned: Collection[str] = ()
) -> tuple[Cluster, ...]:
    """The clusters a daemon on cluster ``home`` (None: the default one) drives from afar: every
    other cluster the platform gives a connection, besides the ones given on its command line
    (``pinned``, driven anyway)."""
    here = target(clusters, home)
    return tuple(c for c in clusters if c.name != here and c.connected and c.name not in pinned)
