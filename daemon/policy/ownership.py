"""Who owns a live object's fields, and taking back what people changed by hand (pure).

Server-side apply records, per field manager, the fields each one set (``managedFields``). Fields
set by a controller (an HPA's replicas, a sidecar a webhook injects, a defaulted field) belong to
it and are never drift. Fields set by a person with an imperative kubectl command (``kubectl set
env``, ``edit``, ``patch``, ``label``, ``annotate``, ``scale``, a client-side ``apply``) are
drift: the plan shows them and the apply takes them back. As in Flux's cleanup of kubectl
managers, taking back means rewriting ``managedFields`` so that those fields become ours; the
server-side apply that follows then removes every one the desired object does not set, without
a conflict.

Fields the platform deliberately leaves to a controller stay with whoever set them: a workload
rendered without ``spec.replicas`` (an HPA scales it) keeps a hand-set replica count until the
HPA corrects it, rather than Dockyard removing the field and scaling the workload to one.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from typing import Any

#: kubectl's field managers for imperative changes: ``kubectl`` itself (server-side apply by
#: hand, and ``scale``), then one per command. ``kubectl-rollout`` is not among them: undoing
#: the ``restartedAt`` of a ``rollout restart`` would roll the pods out a second time.
DEFAULT_IMPERATIVE_MANAGERS: tuple[str, ...] = (
    "kubectl",
    "kubectl-client-side-apply",
    "kubectl-edit",
    "kubectl-patch",
    "kubectl-set",
    "kubectl-label",
    "kubectl-annotate",
    "kubectl-replace",
)

#: Subresources whose writes are configuration (``scale`` writes ``spec.replicas``); ``status``
#: writes are never taken.
_TAKEN_SUBRESOURCES = frozenset({"", "scale"})

#: Fields a workload leaves to a controller when the desired object does not set them.
DELEGATED_FIELDS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "Deployment": (("f:spec", "f:replicas"),),
    "StatefulSet": (("f:spec", "f:replicas"),),
}

FieldSet = dict[str, Any]
"""A ``fieldsV1`` trie: ``f:<field>``, ``k:<item key>``, ``v:<value>`` and ``.`` (the node itself)."""


def is_imperative(entry: Mapping[str, Any], managers: Collection[str]) -> bool:
    """Whether a managedFields entry records a person's imperative change. A name ending in
    ``*`` matches every manager it starts (``kubectl-*``)."""
    if entry.get("subresource", "") not in _TAKEN_SUBRESOURCES:
        return False
    name = str(entry.get("manager", ""))
    return any(name == m or (m.endswith("*") and name.startswith(m[:-1])) for m in managers)


def imperative_fields(live: Mapping[str, Any], desired: Mapping[str, Any], managers: Collection[str]) -> FieldSet:
    """Every field of ``live`` that imperative managers own and that is Dockyard's to take back."""
    taken: FieldSet = {}
    for entry in live.get("metadata", {}).get("managedFields") or ():
        if is_imperative(entry, managers):
            taken = union(taken, entry.get("fieldsV1") or {})
    return _without_delegated(taken, desired)


def taken_over(
    managed_fields: Sequence[Mapping[str, Any]],
    desired: Mapping[str, Any],
    manager: str,
    managers: Collection[str],
) -> list[dict[str, Any]] | None:
    """``managedFields`` with the imperative managers' fields moved into ``manager``'s Apply
    entry; None when there is nothing to take."""
    ours: dict[str, Any] | None = None
    kept: list[dict[str, Any]] = []
    taken: FieldSet = {}
    for entry in managed_fields:
        if entry.get("manager") == manager and entry.get("operation") == "Apply" and not entry.get("subresource"):
            ours = copy.deepcopy(dict(entry))
            continue
        if not is_imperative(entry, managers):
            kept.append(dict(entry))
            continue
        fields = entry.get("fieldsV1") or {}
        mine = _without_delegated(fields, desired)
        taken = union(taken, mine)
        left = difference(fields, mine)
        if left:
            kept.append({**entry, "fieldsV1": left})
    if not taken:
        return None
    if ours is None:
        first = next(iter(managed_fields), {})
        ours = {"manager": manager, "operation": "Apply", "apiVersion": first.get("apiVersion", "")}
        ours.update({k: first[k] for k in ("time",) if k in first})
        ours["fieldsType"] = "FieldsV1"
    ours["fieldsV1"] = union(ours.get("fieldsV1") or {}, taken)
    return [*kept, ours]


def union(a: Mapping[str, Any], b: Mapping[str, Any]) -> FieldSet:
    """Every field of either trie."""
    merged: FieldSet = {key: copy.deepcopy(value) for key, value in a.items()}
    for key, value in b.items():
        merged[key] = union(merged[key], value) if key in merged else copy.deepcopy(value)
    return merged


def difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> FieldSet:
    """The fields of ``a`` that ``b`` does not hold (inner nodes left empty disappear)."""
    left: FieldSet = {}
    for key, value in a.items():
        if key not in b:
            left[key] = copy.deepcopy(value)
            continue
        if key == "." or not value:
            continue  # a leaf (or the node itself) that both hold
        rest = difference(value, b[key])
        if rest:
            left[key] = rest
    return left


def _without_delegated(fields: Mapping[str, Any], desired: Mapping[str, Any]) -> FieldSet:
    result = dict(fields)
    for path in DELEGATED_FIELDS.get(str(desired.get("kind", "")), ()):
        if not _sets(desired, path):
            result = _remove(result, path)
    return result


def _sets(desired: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = desired
    for step in path:
        name = step.removeprefix("f:")
        if not isinstance(node, Mapping) or name not in node:
            return False
        node = node[name]
    return True


def _remove(fields: Mapping[str, Any], path: tuple[str, ...]) -> FieldSet:
    head, *rest = path
    if head not in fields:
        return dict(fields)
    result = dict(fields)
    if not rest:
        del result[head]
        return result
    inner = _remove(fields[head], tuple(rest))
    if inner:
        result[head] = inner
    else:
        del result[head]
    return result
