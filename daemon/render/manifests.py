"""Raw manifests of tenants (checked by the loader) become objects in the tenant's namespace,
labelled as Dockyard's own: planned, applied and pruned like everything rendered."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from daemon.errors import Problem, ValidationFailed
from daemon.model.manifests import Manifest
from daemon.model.refs import Metadata
from daemon.model.tenancy import MANIFEST_RULE_KIND, RESERVED_ANNOTATION_PREFIX, Guardrails
from daemon.render.meta import object_meta


def render_manifests(
    manifests: Iterable[Manifest], taken: Iterable[dict[str, Any]], revision: str, rules: Guardrails
) -> list[dict[str, Any]]:
    """The manifests as objects; one that has the kind and name of a rendered object is refused.
    As for documents (``boundary.confine``), a manifest keeps only the annotations the platform
    allows on raw manifests, and none of Dockyard's labels or annotations."""
    rendered = {_identity(o) for o in taken}
    objects: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for manifest in manifests:
        obj = copy.deepcopy(dict(manifest.object))
        meta = obj.get("metadata") or {}
        labels = {
            str(k): str(v)
            for k, v in (meta.get("labels") or {}).items()
            if not str(k).startswith(RESERVED_ANNOTATION_PREFIX)
        }
        annotations = {
            str(k): str(v)
            for k, v in (meta.get("annotations") or {}).items()
            if rules.annotation_allowed(MANIFEST_RULE_KIND, str(k))
        }
        merged = object_meta(
            manifest.name,
            source=manifest.source,
            revision=revision,
            namespace=manifest.tenant,  # whatever the file says: the loader refuses another one
            tenant=manifest.tenant,
            user=Metadata(manifest.name, labels, annotations),
        )
        obj["metadata"] = {
            **{k: v for k, v in meta.items() if k not in ("namespace", "labels", "annotations")},
            **merged,
        }
        if _identity(obj) in rendered:
            problems.append(
                Problem(
                    manifest.source.file,
                    manifest.source.line,
                    1,
                    f"{manifest.kind} '{manifest.name}' is an object Dockyard renders from the tenant's documents",
                    hint="change it with a Patch instead, or give the manifest another name",
                    code="manifest.collision",
                )
            )
            continue
        rendered.add(_identity(obj))
        objects.append(obj)
    if problems:
        raise ValidationFailed(problems)
    return objects


def _identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    meta = obj.get("metadata") or {}
    return group, str(obj.get("kind")), str(meta.get("namespace", "")), str(meta.get("name"))
