"""What a plan touches outside the tenants' namespaces: the changes a reviewer must look at twice.

A tenant's documents render only into its own namespace (render refuses anything else), so a
change to ``tenants/<t>/`` alone never shows up here. What does: cluster-scoped objects (storage
classes, Namespaces other than a tenant's own), objects in namespaces that belong to no tenant,
and, should render ever let one through, an object rendered from one tenant's folder into
another's namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daemon.model.labels import TENANT_LABEL
from daemon.model.refs import ObjRef, SourceRef
from daemon.model.tenancy import tenant_of_source
from daemon.policy.plan import Plan
from daemon.render.meta import objref
from daemon.render.provenance import document_of, where

_ACTIONS = ("create", "update", "prune", "blocked")


@dataclass(frozen=True)
class Reach:
    """A change to an object outside the tenants' namespaces, and why it is outside."""

    ref: ObjRef
    action: str
    source: str  # file:line it is rendered from (its Kind/name when unknown, "" when it names none)
    why: str


def outside_tenants(plan: Plan, sources: Mapping[ObjRef, SourceRef] | None = None) -> list[Reach]:
    """The changes of ``plan`` that touch an object outside the tenants' namespaces; ``sources``
    (from :func:`daemon.render.provenance.sources`) names the file and line of each."""
    desired = {objref(o): o for o in plan.desired}
    tenants = {
        ref.name
        for ref, obj in (*desired.items(), *plan.live.items())
        if ref.kind == "Namespace" and (obj.get("metadata", {}).get("labels") or {}).get(TENANT_LABEL)
    }
    found: list[Reach] = []
    for change in plan.changeset.changes:
        if change.action not in _ACTIONS:
            continue
        ref = change.ref
        obj: Mapping[str, Any] = desired.get(ref) or plan.live.get(ref) or {}
        # Whose folder it comes from: its document's file when known, else its tenant label
        # (render sets it, never a document).
        tenant, document = document_of(obj) if obj else ("", "")
        written = (sources or {}).get(ref)
        origin = tenant_of_source(written.file) if written is not None else tenant or None
        source = where(written) or document
        own_namespace = ref.kind == "Namespace" and ref.name in tenants
        if not ref.namespace and not own_namespace:
            why = "cluster-scoped"
        elif ref.namespace and ref.namespace not in tenants:
            why = f"namespace '{ref.namespace}' belongs to no tenant"
        elif origin is not None and (ref.name if own_namespace else ref.namespace) != origin:
            why = f"rendered from tenants/{origin}/ into another tenant's namespace"
        else:
            continue
        found.append(Reach(ref, change.action, source, why))
    return found
