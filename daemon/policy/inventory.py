"""What Dockyard owns, and what became stale (pure).

The inventory is the set of objects the last successful apply left in the cluster. An object in
the inventory that the new desired state no longer contains is stale: it is pruned unless it is
a volume or a namespace whose deletion policy is ``Retain`` (the default), or the claim of a
Volume that still has a claim (a restore moved its data to a new one: the data it replaced is
kept whatever the policy), and the whole prune is held when it would delete more than
``max_fraction`` of the inventory at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from daemon.model.labels import DELETION_POLICY_ANNOTATION, MANAGED_BY, MANAGER_NAME, VOLUME_LABEL
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
    volumes_with_claims: frozenset[tuple[str, str]] = frozenset(),
) -> PrunePlan:
    """Decide which stale objects to delete. ``live`` holds the stale objects that still exist;
    ``volumes_with_claims`` the (namespace, Volume) pairs the desired state still has a claim for."""
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
        volume = (obj.get("metadata", {}).get("labels") or {}).get(VOLUME_LABEL)
        if ref.kind == "PersistentVolumeClaim" and (ref.namespace, volume) in volumes_with_claims:
            retain.append((ref, f"the data Volume {volume} had before its restore: kept, never pruned"))
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
