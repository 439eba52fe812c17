"""Where each rendered object was written: file and line, for plans (pure).

Objects carry only their document's identity (``dockyard.dev/source: App/api`` and the tenant
label), which no comment, blank line, reordering or file move changes; the file and line are
looked up here, from the model of the revision being planned, so a plan can say where to look.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from daemon.model.kinds import PlatformModel
from daemon.model.labels import SOURCE_ANNOTATION, TENANT_LABEL
from daemon.model.refs import ObjRef, SourceRef
from daemon.render.core import objref


def sources(model: PlatformModel, objects: Iterable[Mapping[str, Any]]) -> dict[ObjRef, SourceRef]:
    """The document each object was rendered from, for the objects that name one."""
    documents: dict[tuple[str, str], SourceRef] = {("", model.platform.source.document): model.platform.source}
    for tenant in model.tenants:
        documents[(tenant.name, tenant.source.document)] = tenant.source
    for group in (model.apps, model.volumes, model.policies, model.autoscalings):
        for item in group:
            documents[(item.tenant, item.source.document)] = item.source
    found: dict[ObjRef, SourceRef] = {}
    for obj in objects:
        meta = obj["metadata"]
        document = (meta.get("annotations") or {}).get(SOURCE_ANNOTATION, "")
        tenant = (meta.get("labels") or {}).get(TENANT_LABEL, "")
        source = documents.get((tenant, document))
        if source is not None:
            found[objref(obj)] = source
    return found
