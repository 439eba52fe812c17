"""Where each rendered object was written: file and line, for plans, reviews and errors (pure).

Objects carry only their document's identity (``dockyard.dev/source: App/api`` and the tenant
label), which no comment, blank line, reordering or file move changes; the file and line are
looked up here, from the model of the revision at hand, so a plan or an error can say where to
look.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from daemon.model.kinds import PlatformModel
from daemon.model.labels import SOURCE_ANNOTATION, TENANT_LABEL
from daemon.model.refs import ObjRef, SourceRef
from daemon.render.meta import objref

#: Each document of a model by (tenant, ``Kind/name``); ``""`` is the platform's own.
Documents = Mapping[tuple[str, str], SourceRef]


def documents(model: PlatformModel) -> dict[tuple[str, str], SourceRef]:
    """Every document of ``model`` that renders objects, by tenant and ``Kind/name`` (a source
    without a document identity, which only hand-built models have, names nothing)."""
    found: dict[tuple[str, str], SourceRef] = {("", model.platform.source.document): model.platform.source}
    for tenant in model.tenants:
        found[(tenant.name, tenant.source.document)] = tenant.source
    for group in (model.apps, model.volumes, model.policies, model.autoscalings):
        for item in group:
            found[(item.tenant, item.source.document)] = item.source
    return {key: source for key, source in found.items() if key[1]}


def document_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    """The tenant (``""`` for platform-level objects) and ``Kind/name`` an object names."""
    meta = obj["metadata"]
    document = str((meta.get("annotations") or {}).get(SOURCE_ANNOTATION, ""))
    tenant = str((meta.get("labels") or {}).get(TENANT_LABEL, ""))
    return tenant, document


def source_of(obj: Mapping[str, Any], known: Documents) -> SourceRef | None:
    """The document ``obj`` was rendered from, if ``known`` has it."""
    return known.get(document_of(obj))


def sources(model: PlatformModel, objects: Iterable[Mapping[str, Any]]) -> dict[ObjRef, SourceRef]:
    """The document each object was rendered from, for the objects that name one."""
    known = documents(model)
    found: dict[ObjRef, SourceRef] = {}
    for obj in objects:
        source = source_of(obj, known)
        if source is not None:
            found[objref(obj)] = source
    return found


def where(source: SourceRef | None) -> str:
    """``file:line`` of a document, ``""`` when unknown."""
    return f"{source.file}:{source.line}" if source is not None else ""
