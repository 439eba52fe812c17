"""The envelope of every document: is it ours, which kind, and may that kind live in this file?"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from daemon import API_VERSION
from daemon.errors import Problem
from daemon.loader.hints import did_you_mean, json_path
from daemon.loader.repo import ALLOWED_KINDS, HOME_OF_KIND, SourceFile
from daemon.loader.yamlsource import Document
from daemon.model.kinds import KINDS

#: Kubernetes kinds that are not namespaced: naming one in a tenant folder is an attempt to step
#: outside the tenant, so the message says so instead of "unknown kind".
CLUSTER_SCOPED_KINDS: Final = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "VolumeSnapshotClass",
        "CSIDriver",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "RuntimeClass",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "APIService",
    }
)


@dataclass(slots=True, eq=False)
class Entry:
    """A document of a known kind in a place that may hold it, on its way to the model."""

    kind: str
    source: SourceFile
    doc: Document
    tenant: str | None
    name: str | None  # metadata.name when it is a string, valid or not (for references)
    data: dict[str, Any]
    valid: bool = False  # passed schema validation (templated Apps: after instantiation)
    parameters: dict[str, Any] = field(default_factory=dict)  # a templated App's, defaults applied

    @property
    def file(self) -> str:
        return self.doc.file

    def spec(self) -> dict[str, Any]:
        spec = self.data.get("spec")
        return spec if isinstance(spec, dict) else {}

    def problem(
        self,
        path: tuple[str | int, ...],
        message: str,
        hint: str = "",
        *,
        code: str,
        key: bool = False,
        severity: str = "error",
    ) -> Problem:
        where = self.doc.locate(path, key=key)
        return Problem(
            where.file,
            where.line,
            where.column,
            message,
            json_path(path),
            hint,
            "warning" if severity == "warning" else "error",
            code,
        )


def classify(doc: Document, source: SourceFile) -> tuple[Entry | None, list[Problem]]:
    """The entry for ``doc``, or the reason it cannot be one."""
    data = doc.data
    line, column = doc.line, int(doc.node.start_mark.column) + 1
    if not isinstance(data, dict):
        found = "a list" if isinstance(data, list) else f"the value {str(data)[:40]!r}"
        return None, [
            Problem(
                doc.file,
                line,
                column,
                f"a document must be a mapping with apiVersion, kind, metadata and spec; found {found}",
                code="document.shape",
            )
        ]
    kind = data.get("kind")
    if kind is None:
        return None, [
            Problem(
                doc.file,
                line,
                column,
                "document has no 'kind'",
                hint="allowed here: " + ", ".join(ALLOWED_KINDS[source.place]),
                code="document.kind",
            )
        ]
    if not isinstance(kind, str) or kind not in KINDS:
        where = doc.locate(("kind",))
        shown = kind if isinstance(kind, str) else str(kind)
        api_version = data.get("apiVersion")
        if shown in CLUSTER_SCOPED_KINDS:
            message = f"'{shown}' is a cluster-scoped Kubernetes object; platform repo documents cannot create it"
            hint = "ask the platform team; tenants only declare " + ", ".join(ALLOWED_KINDS["tenant-object"])
        elif isinstance(api_version, str) and api_version != API_VERSION:
            message = f"'{shown}' ({api_version}) is not a Dockyard kind"
            hint = "describe it with one of: " + ", ".join(ALLOWED_KINDS[source.place])
            if source.tenant is not None:
                hint += f"; raw Kubernetes objects go in tenants/{source.tenant}/manifests/ (kinds the platform allows)"
        else:
            message = f"unknown kind '{shown}'"
            guess = did_you_mean(shown, KINDS)
            hint = f"did you mean '{guess}'?" if guess else "kinds: " + ", ".join(KINDS)
        return None, [Problem(where.file, where.line, where.column, message, "$.kind", hint, "error", "document.kind")]
    allowed = ALLOWED_KINDS[source.place]
    if kind not in allowed:
        where = doc.locate(("kind",))
        return None, [
            Problem(
                where.file,
                where.line,
                where.column,
                f"a {kind} document cannot be in {source.rel}; {kind} documents belong in {HOME_OF_KIND[kind]}",
                "$.kind",
                "this file may hold: " + ", ".join(allowed),
                "error",
                "document.place",
            )
        ]
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return (
        Entry(kind, source, doc, source.tenant, name if isinstance(name, str) else None, data),
        [],
    )
