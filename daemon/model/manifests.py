"""The escape hatch: raw Kubernetes manifests of a tenant, and patches to what Dockyard renders."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from daemon.model.refs import Metadata, SourceRef

#: Kinds a raw manifest can never be, whatever the Platform allows: what the tenancy itself is
#: made of (namespace, quota, limits, roles), and Secrets (they belong in secrets/, encrypted).
NEVER_MANIFESTS: Final = frozenset(
    {"Namespace", "ResourceQuota", "LimitRange", "Role", "RoleBinding", "Secret", "ServiceAccount"}
)
#: What a Patch may change of the objects rendered from a tenant's documents.
PATCHABLE_KINDS: Final = (
    "Deployment",
    "StatefulSet",
    "CronJob",
    "Service",
    "Ingress",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "ConfigMap",
)


@dataclass(frozen=True)
class Manifest:
    """A Kubernetes object as a tenant wrote it under ``tenants/<tenant>/manifests/``."""

    tenant: str
    source: SourceRef
    object: Mapping[str, Any] = field(repr=False)

    @property
    def kind(self) -> str:
        return str(self.object["kind"])

    @property
    def name(self) -> str:
        return str(self.object["metadata"]["name"])


@dataclass(frozen=True)
class Patch:
    """A change to one object rendered from the tenant's documents: a JSON patch (RFC 6902) or a
    strategic merge (maps merged, lists of objects merged by their Kubernetes key)."""

    metadata: Metadata
    source: SourceRef
    tenant: str
    target_kind: str
    target_name: str
    json_patch: tuple[Mapping[str, Any], ...] = ()
    merge: Mapping[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.metadata.name
