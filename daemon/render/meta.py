"""Labels and annotations that mark what Dockyard owns and where it came from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon import API_GROUP
from daemon.model import Metadata, SourceRef

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER_NAME = "dockyard"
TENANT_LABEL = f"{API_GROUP}/tenant"
APP_LABEL = f"{API_GROUP}/app"
TRACK_LABEL = f"{API_GROUP}/track"
SOURCE_ANNOTATION = f"{API_GROUP}/source"
REVISION_ANNOTATION = f"{API_GROUP}/revision"
DELETION_POLICY_ANNOTATION = f"{API_GROUP}/deletion-policy"

#: Annotations that record provenance only; a difference in them alone is not drift.
PROVENANCE_ANNOTATIONS: frozenset[str] = frozenset({REVISION_ANNOTATION})


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
    annotations[SOURCE_ANNOTATION] = f"{source.file}:{source.line}"
    if revision:
        annotations[REVISION_ANNOTATION] = revision
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = labels
    meta["annotations"] = annotations
    return meta
