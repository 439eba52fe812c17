"""One revision's rendered objects against another's (pure): what a merge would create, change
and delete, object by object and field by field, grouped by tenant in a stable order.

Both sides are Dockyard's own rendering, so there are no server defaults to hide; what would still
be noise is left out: the provenance annotations (the revision, which moves with every commit,
and the document's ``Kind/name``). Each change names where it is written (``file:line``, looked
up in the model of its side). Secret values are masked in every change and in every object kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from daemon.model.labels import DELETION_POLICY_ANNOTATION, REVISION_ANNOTATION, SOURCE_ANNOTATION
from daemon.model.refs import ObjRef, SourceRef
from daemon.policy.diff import FieldChange, compare_objects, mask_secret
from daemon.policy.plan import tenant_of
from daemon.render.core import stage_of
from daemon.render.meta import objref
from daemon.render.provenance import where

ObjectAction = Literal["create", "update", "delete"]
ACTIONS: tuple[ObjectAction, ...] = ("create", "update", "delete")
_NOISE = frozenset({REVISION_ANNOTATION, SOURCE_ANNOTATION})


@dataclass(frozen=True)
class ObjectChange:
    """One object a merge creates, updates or deletes. ``source`` is where it is written
    (``file:line`` of the head, or of the base for a deletion)."""

    action: ObjectAction
    ref: ObjRef
    tenant: str  # "" for platform-level objects
    fields: tuple[FieldChange, ...] = ()
    source: str = ""
    #: the object as the head renders it (the base's for a deletion), Secret values masked
    object: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def deletion_policy(self) -> str:
        """``Retain``/``Delete`` for the kinds that carry one (PVCs, Namespaces), else ``""``."""
        annotations = (self.object.get("metadata") or {}).get("annotations") or {}
        return str(annotations.get(DELETION_POLICY_ANNOTATION, ""))


@dataclass(frozen=True)
class RevisionDiff:
    changes: tuple[ObjectChange, ...]
    unchanged: int = 0

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        for change in self.changes:
            counts[change.action] += 1
        counts["unchanged"] = self.unchanged
        return counts

    def of(self, *actions: ObjectAction) -> tuple[ObjectChange, ...]:
        return tuple(c for c in self.changes if c.action in actions)

    def by_tenant(self) -> dict[str, tuple[ObjectChange, ...]]:
        """Changes per tenant (``""``, platform-level, first), each in the diff's order."""
        grouped: dict[str, list[ObjectChange]] = {}
        for change in self.changes:
            grouped.setdefault(change.tenant, []).append(change)
        return {t: tuple(grouped[t]) for t in sorted(grouped)}

    @property
    def tenants(self) -> tuple[str, ...]:
        return tuple(sorted({c.tenant for c in self.changes} - {""}))


def without_noise(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy without the annotations that only record provenance."""
    copy = dict(obj)
    meta = dict(copy.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _NOISE}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    copy["metadata"] = meta
    return copy


def _source(ref: ObjRef, obj: Mapping[str, Any], sources: Mapping[ObjRef, SourceRef]) -> str:
    return where(sources.get(ref)) or str(
        ((obj.get("metadata") or {}).get("annotations") or {}).get(SOURCE_ANNOTATION, "")
    )


def _order(change: ObjectChange) -> tuple[str, int, int, str, str, str]:
    ref = change.ref
    return (change.tenant, ACTIONS.index(change.action), stage_of(ref.kind), ref.kind, ref.namespace, ref.name)


def diff_revisions(
    base: Iterable[Mapping[str, Any]],
    head: Iterable[Mapping[str, Any]],
    *,
    base_sources: Mapping[ObjRef, SourceRef] | None = None,
    head_sources: Mapping[ObjRef, SourceRef] | None = None,
) -> RevisionDiff:
    """What changes from ``base`` to ``head`` (both rendered object lists); the ``sources`` of
    each side (:func:`daemon.render.provenance.sources`) say where each object is written."""
    old_sources, new_sources = base_sources or {}, head_sources or {}
    before = {objref(o): o for o in base}
    after = {objref(o): o for o in head}
    changes: list[ObjectChange] = []
    unchanged = 0
    for ref, obj in after.items():
        old = before.get(ref)
        if old is None:
            changes.append(
                ObjectChange("create", ref, tenant_of(obj, ref), (), _source(ref, obj, new_sources), mask_secret(obj))
            )
            continue
        fields = compare_objects(without_noise(old), without_noise(obj))
        if fields:
            changes.append(
                ObjectChange(
                    "update", ref, tenant_of(obj, ref), fields, _source(ref, obj, new_sources), mask_secret(obj)
                )
            )
        else:
            unchanged += 1
    for ref, obj in before.items():
        if ref not in after:
            changes.append(
                ObjectChange("delete", ref, tenant_of(obj, ref), (), _source(ref, obj, old_sources), mask_secret(obj))
            )
    return RevisionDiff(tuple(sorted(changes, key=_order)), unchanged)
