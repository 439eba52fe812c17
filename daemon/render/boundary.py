"""The tenant boundary at render time: what tenant documents may carry, and where their objects land.

The loader already refuses what the guardrails forbid; this is the second line, so that a gap in
validation (or a renderer that names the wrong namespace) is still no way out of a tenant:

* :func:`confine` drops annotations the platform does not allow on a tenant document's kind
  (and every ``dockyard.dev/`` label or annotation a document brings) before anything is rendered;
* :func:`boundary_problems` refuses an object rendered from ``tenants/<t>/`` that is not in
  namespace ``<t>`` (or is cluster-scoped, other than the Namespace ``<t>`` itself), and two
  objects with the same identity, naming both sources; objects carry only their document's
  ``Kind/name`` and tenant label, so the file (whose folder decides) and line are looked up in
  the model. Render raises them as ValidationFailed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from daemon.errors import Problem
from daemon.model.kinds import PlatformModel
from daemon.model.refs import Metadata, ObjRef
from daemon.model.tenancy import RESERVED_ANNOTATION_PREFIX, Guardrails, tenant_of_source
from daemon.render.meta import objref
from daemon.render.provenance import Documents, document_of

_Doc = TypeVar("_Doc")


def confine(model: PlatformModel) -> PlatformModel:
    """``model`` with tenant documents' metadata reduced to what the platform's guardrails allow."""
    rules = model.platform.tenancy

    def each(kind: str, documents: Iterable[_Doc]) -> tuple[_Doc, ...]:
        return tuple(_confined(kind, d, rules) for d in documents)

    return replace(
        model,
        tenants=each("Tenant", model.tenants),
        apps=each("App", model.apps),
        volumes=each("Volume", model.volumes),
        policies=each("Policy", model.policies),
        autoscalings=each("Autoscaling", model.autoscalings),
    )


def _confined(kind: str, document: _Doc, rules: Guardrails) -> _Doc:
    meta: Metadata = document.metadata  # type: ignore[attr-defined]
    labels = {k: v for k, v in meta.labels.items() if not k.startswith(RESERVED_ANNOTATION_PREFIX)}
    annotations = {k: v for k, v in meta.annotations.items() if rules.annotation_allowed(kind, k)}
    if labels == meta.labels and annotations == meta.annotations:
        return document
    return replace(document, metadata=replace(meta, labels=labels, annotations=annotations))  # type: ignore[type-var]


def _origin(obj: Mapping[str, Any], known: Documents) -> tuple[str | None, str, int]:
    """The tenant whose folder ``obj`` comes from (None: platform-level), and its file and line.

    The folder of the document's file decides, not the tenant the model gave it; an object whose
    document the model does not know falls back to its tenant label."""
    tenant, document = document_of(obj)
    source = known.get((tenant, document))
    if source is None:
        return tenant or None, document, 0
    return tenant_of_source(source.file), source.file, source.line


def boundary_problems(objects: Iterable[Mapping[str, Any]], known: Documents) -> list[Problem]:
    """Objects outside their tenant's namespace, and objects rendered twice (both sources named);
    ``known`` is the model's documents (``provenance.documents``)."""
    problems: list[Problem] = []
    first: dict[ObjRef, tuple[str, int]] = {}
    for obj in objects:
        ref = objref(obj)
        tenant, file, line = _origin(obj, known)
        if tenant is not None and not (ref.namespace == tenant or (ref.kind == "Namespace" and ref.name == tenant)):
            where = f"namespace '{ref.namespace}'" if ref.namespace else "the cluster scope"
            problems.append(
                Problem(
                    file,
                    line,
                    1,
                    f"{ref} would be rendered into {where}, outside tenant '{tenant}'",
                    hint=f"the documents of tenants/{tenant}/ only ever render into namespace '{tenant}'; "
                    "this is a bug in Dockyard: report it",
                    code="render.outside-tenant",
                )
            )
        if ref not in first:
            first[ref] = (file, line)
        else:
            other_file, other_line = first[ref]
            problems.append(
                Problem(
                    file,
                    line,
                    1,
                    f"{ref} is rendered twice: from {other_file}:{other_line} and from {file}:{line}",
                    hint="rename one of the documents: each would overwrite the other's object in the cluster",
                    code="render.duplicate-object",
                )
            )
    return problems
