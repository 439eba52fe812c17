"""What Dockyard owns, and what became stale (pure).

The inventory is the set of objects the last successful apply left in the cluster. An object in
the inventory that the new desired state no longer contains is stale: it is pruned unless it is
a volume or a namespace whose deletion policy is ``Retain`` (the default), and the whole prune is
held when it would delete more than ``max_fraction`` of the inventory at once.

It is kept in pieces, so that no object grows with the platform and a tenant's inventory lives
with the tenant: the objects of each namespace are listed in a ConfigMap in that namespace, and
cluster-scoped objects (namespaces, classes) in the platform's own namespace. A scope's data is
one key per kind (``Deployment.apps``) listing names, split over numbered ConfigMaps when it
would pass :data:`CHUNK_BYTES`. Tenants can write ConfigMaps in their namespace, so a piece only
ever speaks for its own scope: what it says about any other object is ignored.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from daemon.model.labels import DELETION_POLICY_ANNOTATION, MANAGED_BY, MANAGER_NAME
from daemon.model.refs import ObjRef

#: Kinds that hold data or everything else; pruned only when their policy says ``Delete``.
PROTECTED_KINDS = frozenset({"PersistentVolumeClaim", "Namespace"})


@dataclass(frozen=True)
class Inventory:
    entries: frozenset[ObjRef] = frozenset()
    revision: str = ""

    @classmethod
    def of(cls, refs: Iterable[ObjRef], revision: str = "") -> Inventory:
        return cls(frozenset(refs), revision)

    def serialise(self) -> dict[str, str]:
        """As ConfigMap data: one id per line, sorted, so diffs of it stay readable."""
        return {"entries": "\n".join(sorted(r.id for r in self.entries)), "revision": self.revision}

    @classmethod
    def parse(cls, data: Mapping[str, str]) -> Inventory:
        lines = [line for line in data.get("entries", "").splitlines() if line.strip()]
        return cls(frozenset(ObjRef.from_id(line) for line in lines), data.get("revision", ""))

    def __len__(self) -> int:
        return len(self.entries)


#: The scope of cluster-scoped objects; any other scope is a namespace.
CLUSTER_SCOPE = ""

#: The most data one inventory ConfigMap carries (the API server refuses objects past 1 MiB).
CHUNK_BYTES = 512 * 1024

#: The data key naming the revision that last changed a scope, and the layout's version.
REVISION_KEY = "revision"
FORMAT_KEY = "format"
FORMAT = "v2"

_KIND_KEY = re.compile(r"^[A-Z][A-Za-z0-9]*(\.[a-z0-9.-]+)?$")
_NAME = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9.:]*$")


def scope_of(ref: ObjRef) -> str:
    """Where an object is inventoried: its namespace, or the cluster scope."""
    return ref.namespace or CLUSTER_SCOPE


def by_scope(refs: Iterable[ObjRef]) -> dict[str, frozenset[ObjRef]]:
    scopes: dict[str, set[ObjRef]] = defaultdict(set)
    for ref in refs:
        scopes[scope_of(ref)].add(ref)
    return {scope: frozenset(found) for scope, found in scopes.items()}


def kind_key(ref: ObjRef) -> str:
    return f"{ref.kind}.{ref.group}" if ref.group else ref.kind


def chunks(refs: Iterable[ObjRef], revision: str, limit: int = CHUNK_BYTES) -> list[dict[str, str]]:
    """One scope's entries as the data of one or more ConfigMaps, each under ``limit`` bytes."""
    names: dict[str, list[str]] = defaultdict(list)
    for ref in refs:
        names[kind_key(ref)].append(ref.name)
    pieces: list[dict[str, list[str]]] = [{}]
    size = 0
    for key in sorted(names):
        for name in sorted(names[key]):
            cost = len(name) + 1 + (len(key) + 8 if key not in pieces[-1] else 0)
            if size + cost > limit and pieces[-1]:
                pieces.append({})
                size = 0
            pieces[-1].setdefault(key, []).append(name)
            size += cost
    return [
        {FORMAT_KEY: FORMAT, REVISION_KEY: revision, **{key: "\n".join(found) for key, found in piece.items()}}
        for piece in pieces
    ]


def parse_chunk(scope: str, data: Mapping[str, str]) -> tuple[frozenset[ObjRef], int]:
    """The entries one ConfigMap of ``scope`` holds, and how many lines it held that were
    refused (malformed, or naming what is not this scope's to name)."""
    found: set[ObjRef] = set()
    refused = 0
    for key, value in data.items():
        if key in (FORMAT_KEY, REVISION_KEY):
            continue
        if not _KIND_KEY.match(key):
            refused += len(value.splitlines()) or 1
            continue
        kind, _, group = key.partition(".")
        for name in value.splitlines():
            if not name.strip():
                continue
            if not _NAME.match(name) or len(name) > 253:
                refused += 1
                continue
            # A tenant's piece can only speak of its own namespace: it has no way to name others.
            found.add(ObjRef(group=group, kind=kind, namespace=scope, name=name))
    return frozenset(found), refused


def parse_legacy(data: Mapping[str, str]) -> Inventory:
    """The single inventory of earlier versions (``ns_name_group_kind`` lines in ``entries``)."""
    return Inventory.parse(data)


def is_legacy(data: Mapping[str, str]) -> bool:
    return "entries" in data and data.get(FORMAT_KEY) != FORMAT


@dataclass(frozen=True)
class PrunePlan:
    delete: tuple[ObjRef, ...]
    retain: tuple[tuple[ObjRef, str], ...]  # (object, why it stays)
    blocked: bool
    reason: str = ""


def is_owned(live: Mapping[str, Any]) -> bool:
    labels = live.get("metadata", {}).get("labels") or {}
    return bool(labels.get(MANAGED_BY) == MANAGER_NAME)


def plan_prune(
    inventory: Inventory,
    desired: Iterable[ObjRef],
    live: Mapping[ObjRef, Mapping[str, Any]],
    *,
    max_fraction: float,
    allow_mass_prune: bool = False,
) -> PrunePlan:
    """Decide which stale objects to delete. ``live`` holds the stale objects that still exist."""
    stale = sorted(inventory.entries - set(desired))
    delete: list[ObjRef] = []
    retain: list[tuple[ObjRef, str]] = []
    for ref in stale:
        obj = live.get(ref)
        if obj is None:
            continue  # already gone
        if not is_owned(obj):
            retain.append((ref, f"no longer labelled {MANAGED_BY}={MANAGER_NAME}; someone else owns it now"))
            continue
        policy = (obj.get("metadata", {}).get("annotations") or {}).get(DELETION_POLICY_ANNOTATION, "Retain")
        if ref.kind in PROTECTED_KINDS and policy != "Delete":
            retain.append((ref, f"deletionPolicy is {policy}: kept, never pruned"))
            continue
        delete.append(ref)
    limit = max_fraction * max(len(inventory), 1)
    if delete and len(delete) > limit and not allow_mass_prune:
        reason = (
            f"this change would delete {len(delete)} of {len(inventory)} managed objects "
            f"({len(delete) / max(len(inventory), 1):.0%}), more than prune.maxFraction={max_fraction:g}; "
            "nothing was deleted. If this is intended, raise spec.prune.maxFraction in platform.yaml "
            "or apply once with --allow-mass-prune"
        )
        return PrunePlan(delete=tuple(delete), retain=tuple(retain), blocked=True, reason=reason)
    return PrunePlan(delete=tuple(delete), retain=tuple(retain), blocked=False)
