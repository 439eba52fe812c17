"""The tenant boundary: guardrails the platform owns (``spec.tenancy``) and who owns a rendered object.

Tenants are untrusted: every file under ``tenants/<t>/`` may be written by someone who wants to
reach past namespace ``<t>``. The guardrails say what a tenant may ask for; the loader reports
what goes past them, and render filters (annotations) and asserts (namespaces) again, so a bug
in one layer is not a way out.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from daemon import API_GROUP
from daemon.model.workload import ServiceType

PodSecurity = Literal["restricted", "baseline", "privileged"]


Isolation = Literal["strict", "open"]


#: Namespaces no tenant may take, whatever platform.yaml says: Kubernetes' own, ``default``
#: (where a mistaken ``kubectl`` lands) and the daemon's default namespace. The daemon's actual
#: namespace and the ingress controller's are added where they are known.
BUILT_IN_RESERVED_NAMESPACES: Final = ("kube-*", "default", "dockyard-system")

#: Annotation keys only Dockyard sets (as for labels).
RESERVED_ANNOTATION_PREFIX: Final = f"{API_GROUP}/"

#: Subjects Kubernetes defines itself (``system:authenticated``, ``system:serviceaccount:...``).
SYSTEM_SUBJECT_PREFIX: Final = "system:"

#: The tenant document kinds, the ones the guardrails speak about.
TENANT_DOCUMENT_KINDS: Final = ("Tenant", "App", "Volume", "Policy", "Autoscaling", "Job")

#: What the annotation rules call a raw manifest (tenants/<t>/manifests/) and the annotations a
#: Patch adds or changes: the escape hatch carries annotations onto objects as documents do.
MANIFEST_RULE_KIND: Final = "Manifest"
PATCH_RULE_KIND: Final = "Patch"


@dataclass(frozen=True)
class MemberRule:
    kind: Literal["User", "Group"]
    names: tuple[str, ...]


@dataclass(frozen=True)
class QuotaRules:
    required: bool = True
    max_cpu: str | None = None
    max_memory: str | None = None
    max_storage: str | None = None
    max_pods: int | None = None


@dataclass(frozen=True)
class AnnotationRule:
    kinds: tuple[str, ...]  # tenant document kinds, or "*"
    prefixes: tuple[str, ...]


@dataclass(frozen=True)
class Guardrails:
    """``spec.tenancy`` of platform.yaml, defaults filled in (see the Platform schema)."""

    reserved_namespaces: tuple[str, ...] = ()
    allowed_pod_security: tuple[PodSecurity, ...] = ("restricted", "baseline")
    allowed_isolation: tuple[Isolation, ...] = ("strict",)
    members: tuple[MemberRule, ...] = (MemberRule("User", ("*",)), MemberRule("Group", ("*",)))
    quota: QuotaRules = field(default_factory=QuotaRules)
    annotations: tuple[AnnotationRule, ...] = ()
    #: Service types besides ClusterIP that Apps may ask for (App spec.expose)
    allowed_service_types: tuple[ServiceType, ...] = ()
    #: kinds tenants may write as raw manifests in tenants/<t>/manifests/ ("Kind" or "group/Kind")
    allowed_manifest_kinds: tuple[str, ...] = ()

    def reserving(self, namespace: str, extra: Iterable[str] = ()) -> str | None:
        """The reserved name or pattern that ``namespace`` falls under, if any.

        ``extra`` holds names reserved where they are known (the daemon's namespace, the
        ingress controller's), checked after the built-in ones and before the platform's list.
        """
        for pattern in (*BUILT_IN_RESERVED_NAMESPACES, *extra, *self.reserved_namespaces):
            if namespace == pattern or (pattern.endswith("*") and namespace.startswith(pattern[:-1])):
                return pattern
        return None

    def member_allowed(self, kind: str, name: str) -> bool:
        """Whether a rule of ``kind`` matches ``name``; ``system:`` names only match ``system:`` patterns."""
        for rule in self.members:
            if rule.kind != kind:
                continue
            for pattern in rule.names:
                if name.startswith(SYSTEM_SUBJECT_PREFIX) and not pattern.startswith(SYSTEM_SUBJECT_PREFIX):
                    continue
                if fnmatch.fnmatchcase(name, pattern):
                    return True
        return False

    def annotation_allowed(self, kind: str, key: str) -> bool:
        """Whether a tenant document of ``kind`` may carry the annotation ``key``."""
        if key.startswith(RESERVED_ANNOTATION_PREFIX):
            return False
        return any(
            (kind in rule.kinds or "*" in rule.kinds) and any(key.startswith(p) for p in rule.prefixes)
            for rule in self.annotations
        )


def tenant_of_source(file: str) -> str | None:
    """The tenant whose folder ``file`` (repo-relative) is in: ``tenants/<t>/...`` -> ``t``."""
    parts = file.split("/")
    if len(parts) >= 3 and parts[0] == "tenants" and parts[1]:
        return parts[1]
    return None
