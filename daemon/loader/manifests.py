"""The escape hatch, checked: raw Kubernetes manifests of a tenant (``tenants/<tenant>/manifests/``).

A manifest is any namespaced object of a kind the Platform allows (``spec.tenancy.allowedManifestKinds``)
and that is never part of the tenancy itself (namespaces, quotas, limits, RBAC, ServiceAccounts;
Secrets belong in secrets/, encrypted). It lives in the tenant's namespace (a namespace that says
otherwise is an error, and render forces it anyway), and passes the guardrails of everything else:
no host-level pod settings, Service types and Ingress hosts the platform and the other tenants
allow. Render adds Dockyard's ownership labels, so it is pruned like any object.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from daemon import API_GROUP
from daemon.errors import Problem
from daemon.loader.documents import CLUSTER_SCOPED_KINDS, Entry
from daemon.loader.guardrails import guardrails
from daemon.loader.hints import json_path
from daemon.loader.repo import SourceFile
from daemon.loader.yamlsource import Document
from daemon.model.manifests import NEVER_MANIFESTS, Manifest
from daemon.model.podspec import violations
from daemon.model.refs import SourceRef
from daemon.model.tenancy import MANIFEST_RULE_KIND, RESERVED_ANNOTATION_PREFIX, Guardrails

_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
#: More cluster-scoped kinds a tenant may try (the loader's list names the common ones).
_CLUSTER_SCOPED: Final = CLUSTER_SCOPED_KINDS | {
    "PodSecurityPolicy",
    "CertificateSigningRequest",
    "TokenReview",
    "SubjectAccessReview",
    "SelfSubjectAccessReview",
    "ComponentStatus",
    "VolumeAttachment",
    "CSINode",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "FlowSchema",
    "PriorityLevelConfiguration",
    "RuntimeClass",
}


@dataclass(frozen=True)
class ManifestDoc:
    manifest: Manifest
    doc: Document

    def problem(
        self, path: tuple[str | int, ...], message: str, hint: str = "", *, code: str, key: bool = False
    ) -> Problem:
        where = self.doc.locate(path, key=key)
        return Problem(where.file, where.line, where.column, message, json_path(path), hint, "error", code)


def _valid_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name) <= 253
        and set(name) <= _NAME_CHARS
        and name[0].isalnum()
        and name[-1].isalnum()
    )


def manifests_of(documents: Sequence[Document], source: SourceFile) -> tuple[list[ManifestDoc], list[Problem]]:
    """The objects of one manifest file, with the problems of their envelope."""
    problems: list[Problem] = []
    found: list[ManifestDoc] = []
    tenant = str(source.tenant)
    for doc in documents:
        data = doc.data
        where = doc.locate(())
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("kind"), str)
            or not isinstance(data.get("apiVersion"), str)
        ):
            problems.append(
                Problem(
                    where.file,
                    where.line,
                    where.column,
                    "a manifest is a Kubernetes object: apiVersion, kind and metadata",
                    code="manifest.shape",
                )
            )
            continue
        identity = f"manifests/{data['kind']}/{(data.get('metadata') or {}).get('name', '')}"
        item = ManifestDoc(Manifest(tenant, SourceRef(source.rel, doc.line, identity), data), doc)
        if data["apiVersion"].startswith(f"{API_GROUP}/"):
            problems.append(
                item.problem(
                    ("apiVersion",),
                    "Dockyard documents do not go in manifests/",
                    "move it next to the tenant's other documents",
                    code="manifest.dockyard",
                )
            )
            continue
        meta = data.get("metadata")
        if not isinstance(meta, dict) or not _valid_name(meta.get("name")):
            problems.append(
                item.problem(
                    ("metadata",), "a manifest needs metadata.name: a DNS-1123 subdomain", code="manifest.name"
                )
            )
            continue
        namespace = meta.get("namespace")
        if namespace is not None and namespace != tenant:
            problems.append(
                item.problem(
                    ("metadata", "namespace"),
                    f"the objects of tenant '{tenant}' live in namespace '{tenant}', not '{namespace}'",
                    "leave metadata.namespace out: it is always the tenant's",
                    code="manifest.namespace",
                )
            )
            continue
        found.append(item)
    return found, problems


def _kind_key(obj: dict[str, Any] | Any) -> tuple[str, str]:
    group = str(obj["apiVersion"]).rpartition("/")[0]
    return group, str(obj["kind"])


def check_manifests(items: Sequence[ManifestDoc], entries: Iterable[Entry]) -> list[Problem]:
    """What the Platform and the other tenants allow, for every manifest."""
    entries = list(entries)
    platform = next((e for e in entries if e.kind == "Platform" and e.valid), None)
    spec = platform.spec() if platform is not None else {}
    rules = guardrails(spec)
    allowed = set(rules.allowed_manifest_kinds)
    service_types: set[str] = set(rules.allowed_service_types)
    hosts: dict[str, str] = {}  # host -> tenant that claims it (Apps' domains)
    for entry in entries:
        if entry.kind == "App" and entry.valid:
            for domain in entry.spec().get("domains") or ():
                hosts.setdefault(str(domain), str(entry.tenant))
    problems: list[Problem] = []
    seen: dict[tuple[str, str, str, str], ManifestDoc] = {}
    for item in items:
        obj = item.manifest.object
        group, kind = _kind_key(obj)
        written = f"{group}/{kind}" if group else kind
        if kind in _CLUSTER_SCOPED:
            problems.append(
                item.problem(
                    ("kind",),
                    f"'{kind}' is a cluster-scoped object; a tenant's manifests stay in its namespace",
                    "ask the platform team",
                    code="manifest.kind",
                )
            )
            continue
        if kind in NEVER_MANIFESTS:
            why = (
                "they belong in secrets/, encrypted with sops"
                if kind == "Secret"
                else "the tenancy is the platform's (tenant.yaml, Apps' serviceAccount)"
            )
            problems.append(
                item.problem(("kind",), f"{kind} objects cannot be raw manifests: {why}", code="manifest.kind")
            )
            continue
        if written not in allowed:
            problems.append(
                item.problem(
                    ("kind",),
                    f"the platform does not allow {written} manifests",
                    "allowed: "
                    + (", ".join(sorted(allowed)) if allowed else "none")
                    + " (spec.tenancy.allowedManifestKinds in platform.yaml)",
                    code="manifest.kind",
                )
            )
            continue
        key = (item.manifest.tenant, group, kind, item.manifest.name)
        if key in seen:
            problems.append(
                item.problem(
                    ("metadata", "name"),
                    f"{kind} '{item.manifest.name}' is defined twice",
                    f"the first is in {seen[key].doc.file}",
                    code="ref.duplicate",
                )
            )
        seen.setdefault(key, item)
        problems.extend(item.problem(path, message, code="guardrail.host") for path, message in violations(obj))
        problems.extend(_annotations(item, rules))
        problems.extend(_service(item, service_types))
        problems.extend(_ingress(item, hosts))
    return problems


def _service(item: ManifestDoc, allowed: set[str]) -> list[Problem]:
    obj = item.manifest.object
    kind = (obj.get("spec") or {}).get("type", "ClusterIP") if obj["kind"] == "Service" else "ClusterIP"
    if kind in ("ClusterIP", None) or kind in allowed:
        return []
    return [
        item.problem(
            ("spec", "type"),
            f"the platform does not allow {kind} Services",
            "allowed: " + (", ".join(sorted(allowed)) if allowed else "none") + " (spec.tenancy.allowedServiceTypes)",
            code="guardrail.service-type",
        )
    ]


def _annotations(item: ManifestDoc, rules: Guardrails) -> list[Problem]:
    """The annotation guardrails of tenant documents, for raw manifests (rules of kind Manifest)."""
    meta = item.manifest.object.get("metadata") or {}
    out = []
    for key in meta.get("annotations") or {}:
        path = ("metadata", "annotations", key)
        if str(key).startswith(RESERVED_ANNOTATION_PREFIX):
            out.append(
                item.problem(
                    path,
                    f"annotation '{key}' is reserved for Dockyard",
                    f"annotations under {RESERVED_ANNOTATION_PREFIX} are set by Dockyard itself (as labels are)",
                    code="guardrail.annotation",
                    key=True,
                )
            )
        elif not rules.annotation_allowed(MANIFEST_RULE_KIND, str(key)):
            prefixes = sorted(
                {p for r in rules.annotations if {MANIFEST_RULE_KIND, "*"} & set(r.kinds) for p in r.prefixes}
            )
            allowed = "allows: " + ", ".join(prefixes) if prefixes else "allows none"
            out.append(
                item.problem(
                    path,
                    f"annotation '{key}' is not allowed on raw manifests",
                    f"spec.tenancy.annotations in platform.yaml {allowed} for {MANIFEST_RULE_KIND}",
                    code="guardrail.annotation",
                    key=True,
                )
            )
    return out


def _ingress(item: ManifestDoc, hosts: dict[str, str]) -> list[Problem]:
    obj = item.manifest.object
    if obj["kind"] != "Ingress":
        return []
    out = []
    for i, rule in enumerate((obj.get("spec") or {}).get("rules") or ()):
        host = rule.get("host") if isinstance(rule, dict) else None
        owner = hosts.get(str(host)) if host else None
        if owner is not None and owner != item.manifest.tenant:
            out.append(
                item.problem(
                    ("spec", "rules", i, "host"), f"host '{host}' is a domain of tenant '{owner}'", code="ref.domain"
                )
            )
        elif not host:
            out.append(
                item.problem(
                    ("spec", "rules", i),
                    "an Ingress rule of a tenant names its host",
                    "a rule without host would take every other host",
                    code="manifest.ingress",
                    key=True,
                )
            )
    return out
