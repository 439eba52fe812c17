"""Desired against live (pure): what would a server-side apply change?

An object has drifted when a field we set differs from the live value, or when the live object
still carries a field our field manager owns but the desired object no longer sets (SSA would
remove it). Only fields present in the desired object are compared, so server defaults,
``status`` and fields owned by other managers (an HPA's replicas) never show as drift; values
that the API server canonicalises (quantities such as ``0.5`` and ``500m``) compare by value.
Secret data is masked in every diff this module produces.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from daemon.model.labels import PROVENANCE_ANNOTATIONS
from daemon.model.quantity import same_quantity
from daemon.model.refs import ObjRef

Action = Literal["create", "update", "unchanged", "prune", "retain", "blocked", "deferred"]
MASK = "***"

#: List-item fields that identify an item in the associative lists of the kinds we render, in
#: order of preference (containers by name, container ports by number, mounts by path).
_MERGE_KEYS: tuple[str, ...] = ("name", "containerPort", "mountPath", "port", "type")
_QUANTITY_PARENTS = frozenset({"requests", "limits", "hard", "default", "defaultRequest", "capacity"})
_SECRET_FIELDS = frozenset({"data", "stringData"})


@dataclass(frozen=True)
class FieldChange:
    """One field that differs. ``before``/``after`` are ``None`` when the field is absent."""

    path: str
    before: Any
    after: Any

    def describe(self) -> str:
        if self.before is None:
            return f"{self.path}: + {_short(self.after)}"
        if self.after is None:
            return f"{self.path}: - {_short(self.before)}"
        return f"{self.path}: {_short(self.before)} → {_short(self.after)}"


@dataclass(frozen=True)
class Change:
    action: Action
    ref: ObjRef
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""
    desired: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ChangeSet:
    changes: tuple[Change, ...]

    def of(self, *actions: Action) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action in actions)

    @property
    def counts(self) -> dict[str, int]:
        counted: Counter[str] = Counter(c.action for c in self.changes)
        actions = ("create", "update", "unchanged", "prune", "retain", "blocked", "deferred")
        return {a: counted.get(a, 0) for a in actions}

    @property
    def has_changes(self) -> bool:
        return any(c.action in ("create", "update", "prune", "blocked") for c in self.changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "changes": [
                {
                    "action": c.action,
                    "object": str(c.ref),
                    "id": c.ref.id,
                    "reason": c.reason,
                    "fields": [{"path": f.path, "before": f.before, "after": f.after} for f in c.fields],
                }
                for c in self.changes
                if c.action != "unchanged"
            ],
        }


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: A path into an object while walking it: keys, list indices, or ``[key=value]`` selectors. It
#: becomes text only when a change is recorded, which keeps the walk of unchanged objects cheap.
Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    text = ""
    for key in path:
        if isinstance(key, int):
            text += f"[{key}]"
        elif key.startswith("["):
            text += key
        elif key.replace("-", "").replace("_", "").isalnum():
            text += f".{key}" if text else key
        else:
            text += f"[{json.dumps(key)}]"
    return text


def _change(path: Path, before: Any, after: Any) -> FieldChange:
    return FieldChange(format_path(path), before, after)


def without_provenance(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy without annotations that record provenance only."""
    copy = dict(obj)
    meta = dict(copy.get("metadata", {}))
    annotations = {k: v for k, v in meta.get("annotations", {}).items() if k not in PROVENANCE_ANNOTATIONS}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    copy["metadata"] = meta
    return copy


def diff_object(desired: Mapping[str, Any], live: Mapping[str, Any], manager: str) -> tuple[FieldChange, ...]:
    """Every field a server-side apply of ``desired`` by ``manager`` would change on ``live``."""
    changes: list[FieldChange] = []
    _subset_diff(without_provenance(desired), live, (), changes)
    owned = managed_fields_of(live, manager)
    if owned:
        _removed_fields(owned, desired, live, (), changes)
    return tuple(_mask(desired.get("kind", ""), changes))


def removed_fields(
    desired: Mapping[str, Any], live: Mapping[str, Any], fields: Mapping[str, Any]
) -> tuple[FieldChange, ...]:
    """The fields of a ``fieldsV1`` trie that ``live`` holds and ``desired`` does not set: what an
    apply removes once those fields are ours (see :mod:`daemon.policy.ownership`)."""
    changes: list[FieldChange] = []
    _removed_fields(fields, desired, live, (), changes)
    return tuple(_mask(desired.get("kind", ""), changes))


def compare_objects(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """Every field that differs between two rendered objects, added and removed ones included
    (a revision against another, where neither side has server defaults). Secret values are masked."""
    changes: list[FieldChange] = []
    _full_diff(before, after, (), changes)
    return tuple(_mask(after.get("kind", "") or before.get("kind", ""), changes))


def _full_diff(before: Any, after: Any, path: Path, out: list[FieldChange]) -> None:
    if type(before) is dict and type(after) is dict:
        for key, value in after.items():
            if key not in before:
                out.append(_change((*path, key), None, value))
            elif before[key] is not value:
                _full_diff(before[key], value, (*path, key), out)
        for key, value in before.items():
            if key not in after:
                out.append(_change((*path, key), value, None))
        return
    if type(before) is list and type(after) is list:
        key = _merge_key(after) if after else _merge_key(before)
        if key is not None and before and after and _merge_key(before) == key:
            old = {_key_of(item, key): item for item in before}
            new = {_key_of(item, key): item for item in after}
            for item_key, item in new.items():
                child = (*path, "[" + ",".join(f"{f}={v}" for f, v in zip(key, item_key, strict=True)) + "]")
                if item_key in old:
                    _full_diff(old[item_key], item, child, out)
                else:
                    out.append(_change(child, None, item))
            for item_key, item in old.items():
                if item_key not in new:
                    child = (*path, "[" + ",".join(f"{f}={v}" for f, v in zip(key, item_key, strict=True)) + "]")
                    out.append(_change(child, item, None))
            return
        if len(before) == len(after):
            for index, (b, a) in enumerate(zip(before, after, strict=True)):
                _full_diff(b, a, (*path, index), out)
            return
    if before == after and type(before) is type(after):
        return
    if _is_quantity_path(path) and same_quantity(before, after):
        return
    out.append(_change(path, before, after))


def managed_fields_of(live: Mapping[str, Any], manager: str) -> dict[str, Any]:
    for entry in live.get("metadata", {}).get("managedFields") or ():
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            fields: dict[str, Any] = entry.get("fieldsV1") or {}
            return fields
    return {}


def _merge_key(items: Sequence[Any]) -> tuple[str, ...] | None:
    """The fields that identify each item of an associative list, or None for an atomic list.

    A key must be unique among the items; ``protocol`` joins it where the API uses it too
    (UDP and TCP on port 53 are two items).
    """
    if not items or not all(type(i) is dict for i in items):
        return None
    for key in _MERGE_KEYS:
        if not all(key in i for i in items):
            continue
        for fields in ((key,), (key, "protocol")):
            values = [tuple(i.get(f) for f in fields) for i in items]
            if len(set(values)) == len(values):
                return fields
    return None


def _key_of(item: Mapping[str, Any], fields: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(item.get(f) for f in fields)


def _subset_diff(desired: Any, live: Any, path: Path, out: list[FieldChange]) -> None:
    # JSON decodes to plain dicts and lists: exact type checks are much faster than ABCs here.
    if type(desired) is dict:
        if type(live) is not dict:
            out.append(_change(path, live, desired))
            return
        for key, value in desired.items():
            if key not in live:
                if value not in ({}, [], None):
                    out.append(_change((*path, key), None, value))
                continue
            current = live[key]
            if value is current or (type(value) is str and value == current):
                continue
            _subset_diff(value, current, (*path, key), out)
        return
    if type(desired) is list:
        if type(live) is not list:
            out.append(_change(path, live, desired))
            return
        key = _merge_key(desired)
        if key is not None and _merge_key(live) == key:
            by_key = {_key_of(item, key): item for item in live}
            for item in desired:
                child = (*path, "[" + ",".join(f"{f}={item.get(f)}" for f in key) + "]")
                match = by_key.get(_key_of(item, key))
                if match is None:
                    out.append(_change(child, None, item))
                else:
                    _subset_diff(item, match, child, out)
            return
        if len(desired) != len(live):
            out.append(_change(path, live, desired))
            return
        for index, (d, v) in enumerate(zip(desired, live, strict=True)):
            _subset_diff(d, v, (*path, index), out)
        return
    if desired == live and type(desired) is type(live):
        return
    if _is_quantity_path(path) and same_quantity(desired, live):
        return
    out.append(_change(path, live, desired))


def _is_quantity_path(path: Path) -> bool:
    return any(p in _QUANTITY_PARENTS for p in path[-3:-1] if isinstance(p, str)) or path[-1:] == ("storage",)


def _removed_fields(fields: Mapping[str, Any], desired: Any, live: Any, path: Path, out: list[FieldChange]) -> None:
    """Fields the manager owns in ``live`` that ``desired`` no longer sets."""
    for key, sub in fields.items():
        if key == ".":
            continue
        kind, _, raw = key.partition(":")
        if kind == "f":
            live_value = live.get(raw) if type(live) is dict else None
            if type(desired) is not dict or raw not in desired:
                out.append(_change((*path, raw), live_value, None))
            elif sub:
                _removed_fields(sub, desired[raw], live_value, (*path, raw), out)
        elif kind == "k":
            wanted = _parse_key(raw)
            child = (*path, "[" + ",".join(f"{k}={v}" for k, v in wanted.items()) + "]")
            d_item = _find_item(desired, wanted)
            if d_item is None:
                out.append(_change(child, _find_item(live, wanted), None))
            elif sub:
                _removed_fields(sub, d_item, _find_item(live, wanted), child, out)
        elif kind == "v":
            value = json.loads(raw)
            if type(desired) is not list or value not in desired:
                out.append(_change((*path, f"[{_short(value)}]"), value, None))


@functools.lru_cache(maxsize=4096)
def _parse_key_cached(raw: str) -> tuple[tuple[str, Any], ...]:
    return tuple(json.loads(raw).items())


def _parse_key(raw: str) -> dict[str, Any]:
    """The item key of a ``k:{...}`` managed-fields entry (the same few keys repeat endlessly)."""
    return dict(_parse_key_cached(raw))


def _find_item(items: Any, wanted: Mapping[str, Any]) -> Any:
    if not isinstance(items, list):
        return None
    for item in items:
        if isinstance(item, Mapping) and all(item.get(k) == v for k, v in wanted.items()):
            return item
    return None


def _mask(kind: str, changes: Iterable[FieldChange]) -> Iterable[FieldChange]:
    for change in changes:
        top = change.path.split(".", 1)[0].split("[", 1)[0]
        if kind == "Secret" and top in _SECRET_FIELDS:
            yield FieldChange(
                change.path,
                MASK if change.before is not None else None,
                MASK if change.after is not None else None,
            )
        else:
            yield change


def mask_secret(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an object safe to print: Secret values replaced by a mask."""
    copy = dict(obj)
    if obj.get("kind") == "Secret":
        for key in _SECRET_FIELDS:
            if isinstance(copy.get(key), Mapping):
                copy[key] = dict.fromkeys(copy[key], MASK)
    return copy
