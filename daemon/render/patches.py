"""Patches on rendered objects: RFC 6902 JSON patches and strategic merges, then the guardrails.

A patch targets an object rendered from its own tenant's documents, of a kind it may change. The
patched object keeps its kind, name, namespace and Dockyard's ownership labels, and passes the
same guardrails as a raw manifest (no host-level settings, Service types the platform allows);
anything else refuses the revision with the Patch's file and line.

Strategic merge here is Kubernetes' rule for the objects Dockyard renders: mappings merge (``null``
removes a key), lists of objects merge item by item on their key (``name``, then
``containerPort``, ``mountPath``, ``port``), an item with ``$patch: delete`` is removed, and other
lists are replaced whole.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from daemon import API_GROUP
from daemon.errors import Problem, ValidationFailed
from daemon.model.labels import MANAGED_BY
from daemon.model.manifests import PATCHABLE_KINDS, Patch
from daemon.model.podspec import violations
from daemon.model.tenancy import PATCH_RULE_KIND, Guardrails

_MERGE_KEYS: Final = ("name", "containerPort", "mountPath", "port")
_MISSING: Final = object()


class PatchFailed(Exception):
    """One operation cannot be applied; the message says which and why."""


def apply_patches(
    objects: list[dict[str, Any]], patches: Iterable[Patch], *, rules: Guardrails
) -> list[dict[str, Any]]:
    problems: list[Problem] = []
    index = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): i for i, o in enumerate(objects)}
    for patch in patches:
        position = index.get((patch.target_kind, patch.tenant, patch.target_name))
        where = (patch.source.file, patch.source.line, 1)
        if position is None or patch.target_kind not in PATCHABLE_KINDS:
            names = sorted(n for k, ns, n in index if k == patch.target_kind and ns == patch.tenant)
            hint = f"{patch.target_kind}s of tenant '{patch.tenant}': " + (", ".join(names) if names else "none")
            problems.append(
                Problem(
                    *where,
                    f"there is no {patch.target_kind} '{patch.target_name}' to patch",
                    hint=hint,
                    code="patch.target",
                )
            )
            continue
        before = objects[position]
        try:
            after = _json_patch(before, patch.json_patch) if patch.json_patch else merge(before, patch.merge or {})
        except PatchFailed as e:
            problems.append(Problem(*where, f"Patch '{patch.name}' cannot be applied: {e}", code="patch.apply"))
            continue
        found = _guardrails(before, after, rules)
        if found:
            problems.extend(
                Problem(*where, f"Patch '{patch.name}': {message}", code="patch.guardrail") for message in found
            )
            continue
        objects[position] = after
    if problems:
        raise ValidationFailed(problems)
    return objects


def _guardrails(before: Mapping[str, Any], after: Any, rules: Guardrails) -> list[str]:
    if not isinstance(after, dict) or not isinstance(after.get("metadata"), dict):
        return ["the result is not an object any more"]
    found = []
    for field in ("apiVersion", "kind"):
        if after.get(field) != before.get(field):
            found.append(f"it changes {field}, which a patch cannot")
    for field in ("name", "namespace"):
        if after["metadata"].get(field) != before["metadata"].get(field):
            found.append(f"it changes metadata.{field}, which a patch cannot")
    labels_before = before["metadata"].get("labels") or {}
    labels_after = after["metadata"].get("labels") or {}
    for label in sorted({MANAGED_BY, *(k for k in (*labels_before, *labels_after) if k.startswith(API_GROUP + "/"))}):
        if labels_after.get(label) != labels_before.get(label):
            found.append(f"it changes the label {label}, which marks what Dockyard owns")
    notes_before = before["metadata"].get("annotations") or {}
    for key, value in (after["metadata"].get("annotations") or {}).items():
        if notes_before.get(key) != value and not rules.annotation_allowed(PATCH_RULE_KIND, str(key)):
            found.append(
                f"it sets the annotation {key}, which spec.tenancy.annotations does not allow for {PATCH_RULE_KIND}"
            )
    for path, message in violations(after):
        found.append(f"at {'.'.join(str(p) for p in path)}: {message}")
    if after.get("kind") == "Service":
        kind = (after.get("spec") or {}).get("type", "ClusterIP")
        if kind != "ClusterIP" and kind not in rules.allowed_service_types:
            found.append(f"the platform does not allow {kind} Services (spec.tenancy.allowedServiceTypes)")
    return found


# --- RFC 6902 ----------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchFailed(f"{path!r} is not a JSON pointer (it starts with /)")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], step: str, path: str, *, adding: bool) -> int:
    if step == "-" and adding:
        return len(container)
    if not step.isdigit() or (len(step) > 1 and step.startswith("0")):
        raise PatchFailed(f"{path}: {step!r} is not a list index")
    position = int(step)
    if position > len(container) or (position == len(container) and not adding):
        raise PatchFailed(f"{path}: index {position} is past the end of the list ({len(container)} items)")
    return position


def _parent(document: Any, parts: list[str], path: str) -> Any:
    node = document
    for token in parts[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchFailed(f"{path}: there is no {token!r}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path, adding=False)]
        else:
            raise PatchFailed(f"{path}: {token!r} is inside a value, not an object or list")
    return node


def _get(document: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return document
    parent, token = _parent(document, parts, path), parts[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchFailed(f"{path}: there is no {token!r}")
        return parent[token]
    if isinstance(parent, list):
        return parent[_index(parent, token, path, adding=False)]
    raise PatchFailed(f"{path}: not inside an object or list")


def _add(document: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent, token = _parent(document, parts, path), parts[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, path, adding=True), value)
    else:
        raise PatchFailed(f"{path}: not inside an object or list")
    return document


def _remove(document: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        raise PatchFailed("the whole object cannot be removed")
    parent, token = _parent(document, parts, path), parts[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchFailed(f"{path}: there is no {token!r} to remove")
        del parent[token]
    elif isinstance(parent, list):
        del parent[_index(parent, token, path, adding=False)]
    else:
        raise PatchFailed(f"{path}: not inside an object or list")
    return document


def _json_patch(obj: Mapping[str, Any], operations: Iterable[Mapping[str, Any]]) -> Any:
    document: Any = copy.deepcopy(dict(obj))
    for number, operation in enumerate(operations, start=1):
        try:
            document = _operation(document, operation)
        except PatchFailed as e:
            raise PatchFailed(f"operation {number} ({operation['op']}): {e}") from None
    return document


def _operation(document: Any, operation: Mapping[str, Any]) -> Any:
    op, path = operation["op"], str(operation["path"])
    value = copy.deepcopy(operation.get("value", _MISSING))
    if op in ("add", "replace", "test") and value is _MISSING:
        raise PatchFailed(f"{op} needs a value")
    if op == "add":
        return _add(document, path, value)
    if op == "remove":
        return _remove(document, path)
    if op == "replace":
        _get(document, path)
        return _add(_remove(document, path), path, value) if _pointer(path) else value
    if op == "test":
        if _get(document, path) != value:
            raise PatchFailed(f"{path} does not hold the value the test expects")
        return document
    source = operation.get("from")
    if not isinstance(source, str):
        raise PatchFailed(f"{op} needs from")
    if op == "move" and (path == source or path.startswith(source + "/")):
        raise PatchFailed(f"cannot move {source} into itself")
    moved = copy.deepcopy(_get(document, source))
    if op == "move":
        document = _remove(document, source)
    return _add(document, path, moved)


# --- strategic merge ---------------------------------------------------------------------------


def _merge_key(items: Sequence[Any]) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    return next((k for k in _MERGE_KEYS if all(k in i for i in items)), None)


def merge(target: Any, patch: Any) -> Any:
    """``target`` with ``patch`` merged in (both left unchanged)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    if not isinstance(target, Mapping):
        target = {}
    out = {k: copy.deepcopy(v) for k, v in target.items()}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = _merge_lists(out[key], value)
        elif isinstance(value, Mapping):
            out[key] = merge(out.get(key), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_lists(current: list[Any], patch: list[Any]) -> list[Any]:
    key = _merge_key([*current, *(p for p in patch if not (isinstance(p, dict) and p.get("$patch") == "delete"))])
    if key is None or not all(isinstance(p, dict) and key in p for p in patch):
        return copy.deepcopy(patch)
    out = [copy.deepcopy(item) for item in current]
    for item in patch:
        position = next((i for i, c in enumerate(out) if c.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if position is not None:
                del out[position]
            continue
        if position is None:
            out.append(copy.deepcopy(item))
        else:
            out[position] = merge(out[position], item)
    return out
