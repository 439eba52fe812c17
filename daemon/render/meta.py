"""Labels and annotations that mark what Dockyard owns and where it came from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.model.labels import (
    APP_LABEL,
    MANAGED_BY,
    MANAGER_NAME,
    REVISION_ANNOTATION,
    SOURCE_ANNOTATION,
    TENANT_LABEL,
)
from daemon.model.refs import Metadata, ObjRef, SourceRef


def objref(obj: Mapping[str, Any]) -> ObjRef:
    """The identity of a rendered (or live) object."""
    api_version: str = obj["apiVersion"]
    group = api_version.rpartition("/")[0]
    meta = obj["metadata"]
    return ObjRef(group=group, kind=obj["kind"], namespace=meta.get("namespace", ""), name=meta["name"])


def owner_labels(tenant: str | None = None, app: str | None = None) -> dict[str, str]:
    labels = {MANAGED_BY: MANAGER_NAME}
    if tenant is not None:
        labels[TENANT_LABEL] = tenant
    if app is not None:
        labels[APP_LABEL] = app
        labels["app.kubernetes.io/name"] = app
    return labels


def selector_labels(app: str) -> dict[str, str]:
    """The labels that select an app's pods; stable for the app's lifetime (selectors are immutable)."""
    return {APP_LABEL: app}


def object_meta(
    name: str,
    *,
    source: SourceRef,
    revision: str,
    namespace: str | None = None,
    tenant: str | None = None,
    app: str | None = None,
    user: Metadata | None = None,
    extra_labels: Mapping[str, str] | None = None,
    extra_annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Metadata for a rendered object: user labels first, so ours always win."""
    labels: dict[str, str] = dict(user.labels) if user else {}
    labels.update(extra_labels or {})
    labels.update(owner_labels(tenant, app))
    annotations: dict[str, str] = dict(user.annotations) if user else {}
    annotations.update(extra_annotations or {})
    if source.document:
        # The document's identity, not its file and line: an object changes only when what it
        # asks for changes, never because a comment or a file moved (file:line is in the plan).
        annotations[SOURCE_ANNOTATION] = source.document
    if revision:
        annotations[REVISION_ANNOTATION] = revision
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = labels
    meta["annotations"] = annotations
    return meta
