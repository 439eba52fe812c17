"""The tenant boundary at render time: what tenant documents may carry, and where their objects land.

The loader already refuses what the guardrails forbid; this is the second line, so that a gap in
validation (or a renderer that names the wrong namespace) is still no way out of a tenant:

* :func:`confine` drops annotations the platform does not allow on a tenant document's kind (an
  App's podAnnotations included), and every ``dockyard.dev/`` label or annotation a document
  brings, before anything is rendered (raw manifests and patches: ``render.manifests``,
  ``render.patches``);
* :func:`boundary_problems` refuses an object rendered from ``tenants/<t>/`` that is not in
  namespace ``<t>`` (or is cluster-scoped, other than the Namespace ``<t>`` itself), and two
  objects with the same identity, naming both sources; render raises them as ValidationFailed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from daemon.errors import Problem
from daemon.model.kinds import App, PlatformModel
from daemon.model.labels import SOURCE_ANNOTATION
from daemon.model.refs import Metadata, ObjRef
from daemon.model.tenancy import RESERVED_ANNOTATION_PREFIX, Guardrails, tenant_of_source

_Doc = TypeVar("_Doc")


def confine(model: PlatformModel) -> PlatformModel:
    """``model`` with tenant documents' metadata reduced to what the platform's guardrails allow."""
    rules = model.platform.tenancy

    def each(kind: str, documents: Iterable[_Doc]) -> tuple[_Doc, ...]:
        return tuple(_confined(kind, d, rules) for d in documents)

    return replace(
        model,
        tenants=each("Tenant", model.tenants),
        apps=tuple(_pod_annotations_confined(a, rules) for a in each("App", model.apps)),
        volumes=each("Volume", model.volumes),
        policies=each("Policy", model.policies),
        autoscalings=each("Autoscaling", model.autoscalings),
        jobs=each("Job", model.jobs),
    )


def _confined(kind: str, document: _Doc, rules: Guardrails) -> _Doc:
    meta: Metadata = document.metadata  # type: ignore[attr-defined]
    labels = {k: v for k, v in meta.labels.items() if not k.startswith(RESERVED_ANNOTATION_PREFIX)}
    annotations = {k: v for k, v in meta.annotations.items() if rules.annotation_allowed(kind, k)}
    if labels == meta.labels and annotations == meta.annotations:
        return document
    return replace(document, metadata=replace(meta, labels=labels, annotations=annotations))  # type: ignore[type-var]


def _pod_annotations_confined(app: App, rules: Guardrails) -> App:
    """An App's podAnnotations reach its pods: the rules for App documents apply to them too."""
    kept = {k: v for k, v in app.pod_annotations.items() if rules.annotation_allowed("App", k)}
    return app if kept == app.pod_annotations else replace(app, pod_annotations=kept)


def _identity(obj: Mapping[str, Any]) -> ObjRef:
    meta = obj["metadata"]
    group = str(obj["apiVersion"]).rpartition("/")[0]
    return ObjRef(group=group, kind=obj["kind"], namespace=meta.get("namespace", ""), name=meta["name"])


def _source(obj: Mapping[str, Any]) -> tuple[str, int]:
    text = str((obj["metadata"].get("annotations") or {}).get(SOURCE_ANNOTATION, ""))
    file, _, line = text.rpartition(":")
    return (file, int(line)) if line.isdigit() else (text, 0)


def boundary_problems(objects: Iterable[Mapping[str, Any]]) -> list[Problem]:
    """Objects outside their tenant's namespace, and objects rendered twice (both sources named)."""
    problems: list[Problem] = []
    first: dict[ObjRef, tuple[str, int]] = {}
    for obj in objects:
        ref = _identity(obj)
        file, line = _source(obj)
        tenant = tenant_of_source(file)
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
