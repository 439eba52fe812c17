"""A Tenant becomes a namespace with quota, default limits, role bindings and isolation."""

from __future__ import annotations

from typing import Any

from daemon.model.kinds import Member, Tenant
from daemon.model.labels import DELETION_POLICY_ANNOTATION
from daemon.render.meta import object_meta

#: Tenant roles map onto Kubernetes' built-in user-facing ClusterRoles.
ROLE_BINDINGS: tuple[tuple[str, str], ...] = (
    ("admin", "dockyard-tenant-admins"),
    ("edit", "dockyard-tenant-editors"),
    ("view", "dockyard-tenant-viewers"),
)


def render_tenant(tenant: Tenant, revision: str) -> list[dict[str, Any]]:
    objects = [_namespace(tenant, revision)]
    if tenant.quota is not None:
        objects.append(_quota(tenant, revision))
    if tenant.limits is not None:
        objects.append(_limit_range(tenant, revision))
    objects.extend(_role_bindings(tenant, revision))
    return objects


def _meta(tenant: Tenant, name: str, revision: str, **kwargs: Any) -> dict[str, Any]:
    return object_meta(
        name,
        source=tenant.source,
        revision=revision,
        namespace=tenant.namespace,
        tenant=tenant.name,
        **kwargs,
    )


def _namespace(tenant: Tenant, revision: str) -> dict[str, Any]:
    level = tenant.pod_security
    labels = {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": "latest",
        # Warn and audit one level stricter than enforced so teams see what would break next.
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }
    annotations: dict[str, str] = {DELETION_POLICY_ANNOTATION: tenant.deletion_policy}
    if tenant.display_name:
        annotations["dockyard.dev/display-name"] = tenant.display_name
    meta = object_meta(
        tenant.namespace,
        source=tenant.source,
        revision=revision,
        tenant=tenant.name,
        user=tenant.metadata,
        extra_labels=labels,
        extra_annotations=annotations,
    )
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def _quota(tenant: Tenant, revision: str) -> dict[str, Any]:
    quota = tenant.quota
    assert quota is not None
    hard: dict[str, str] = {}
    if quota.cpu is not None:
        hard["requests.cpu"] = quota.cpu
    if quota.memory is not None:
        hard["requests.memory"] = quota.memory
    if quota.storage is not None:
        hard["requests.storage"] = quota.storage
    if quota.pods is not None:
        hard["pods"] = str(quota.pods)
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta(tenant, "tenant-quota", revision),
        "spec": {"hard": hard},
    }


def _limit_range(tenant: Tenant, revision: str) -> dict[str, Any]:
    limits = tenant.limits
    assert limits is not None
    defaults: dict[str, str] = {}
    if limits.default_cpu is not None:
        defaults["cpu"] = limits.default_cpu
    if limits.default_memory is not None:
        defaults["memory"] = limits.default_memory
    if limits.default_ephemeral_storage is not None:
        defaults["ephemeral-storage"] = limits.default_ephemeral_storage
    # The same values serve as request and limit defaults so that quota-counted requests are
    # always present, even on containers that declare nothing.
    item = {"type": "Container", "default": dict(defaults), "defaultRequest": dict(defaults)}
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta(tenant, "tenant-limits", revision),
        "spec": {"limits": [item]},
    }


def _subject(member: Member) -> dict[str, str]:
    return {"kind": member.kind, "name": member.name, "apiGroup": "rbac.authorization.k8s.io"}


def _role_bindings(tenant: Tenant, revision: str) -> list[dict[str, Any]]:
    bindings = []
    for role, name in ROLE_BINDINGS:
        members = [m for m in tenant.members if m.role == role]
        if not members:
            continue
        bindings.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _meta(tenant, name, revision),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [_subject(m) for m in members],
            }
        )
    return bindings
