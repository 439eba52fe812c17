"""Moving a tenant between clusters: create there first, prune here after, never the reverse."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from daemon.model.clusters import placed_on
from daemon.model.kinds import PlatformModel


def waiting_moves(
    model: PlatformModel, here: str, revision: str, applied: Mapping[str, str], tenants: Iterable[str]
) -> dict[str, str]:
    """The tenants (among ``tenants``, those with changes on cluster ``here``) that left ``here``
    for other clusters that do not run ``revision`` yet: their prune here waits, with the reason.

    ``applied`` holds the revision each cluster this daemon drives has applied (healthy); a cluster
    it does not drive never counts as running the tenant, so nothing is pruned on its word. A
    tenant gone from the repo is placed nowhere: its prune is the normal one, held only by the
    prune guard.
    """
    waiting: dict[str, str] = {}
    for name in sorted(set(tenants)):
        tenant = model.tenant(name)
        if tenant is None:
            continue
        placed = placed_on(model.platform.clusters, name, tenant.placement)
        if here in placed:
            continue
        behind = [c for c in placed if applied.get(c) != revision]
        if behind:
            waiting[name] = f"moves to cluster {', '.join(behind)}: pruned here once it runs there"
    return waiting
