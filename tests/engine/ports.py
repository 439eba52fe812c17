"""In-memory stand-ins for the reconciler's ports (source, cluster, history, pauses): the cycle's
rules are tested in milliseconds with them; the cluster tests are the second line.

The in-memory cluster plans with the same pure rules as the real one (the inventory and the prune
guard of ``daemon.policy.inventory``, provenance annotations that never count as a change); it only
replaces reading and writing the API server.
"""

from __future__ import annotations

import copy
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from daemon.errors import ClusterError, SourceError
from daemon.model.audit import HistoryRecord
from daemon.model.refs import ObjRef, Revision
from daemon.policy.diff import Change, ChangeSet, without_provenance
from daemon.policy.inventory import Inventory, plan_prune
from daemon.policy.plan import ApplyResult, ObjectResult, Plan
from daemon.render import objref
from tests.platforms import PlatformRepo


class MemorySource:
    """Revisions of a platform repo: each ``commit`` snapshots the repo's files into a directory."""

    def __init__(self, repo: PlatformRepo, store: Path) -> None:
        self._repo = repo
        self._store = store
        self._revisions: list[Revision] = []
        self.error = ""  # when set, fetch fails with it
        self.fetches = 0

    def commit(self, message: str = "change", author: str = "Alice <alice@example.com>") -> Revision:
        number = len(self._revisions) + 1
        target = self._store / f"rev-{number}"
        self._repo.write()
        shutil.copytree(self._repo.root, target)
        revision = Revision(sha=f"{number:040x}", path=str(target), author=author, message=message)
        self._revisions.append(revision)
        return revision

    def fetch(self) -> Revision:
        self.fetches += 1
        if self.error:
            raise SourceError(self.error)
        if not self._revisions:
            raise SourceError("the remote has no commits")
        return self._revisions[-1]

    def describe(self) -> str:
        return "memory://platform"


class MemoryCluster:
    """Objects by reference and an inventory; plan and apply as the cycle sees them."""

    def __init__(self) -> None:
        self.live: dict[ObjRef, dict[str, Any]] = {}
        self.inventory = Inventory()
        self.plans = 0
        self.applies: list[Plan] = []
        #: objects whose apply the "API server" refuses
        self.refuse: set[str] = set()
        #: raised by the next plan (the API server is unreachable)
        self.plan_error: ClusterError | None = None
        #: called inside apply, while the cycle is in the middle of it
        self.during_apply: Callable[[], None] = lambda: None

    def plan(
        self,
        desired: Sequence[Mapping[str, Any]],
        *,
        max_fraction: float,
        allow_mass_prune: bool,
        force_conflicts: bool,
        imperative_managers: Sequence[str] | None,
    ) -> Plan:
        self.plans += 1
        if self.plan_error is not None:
            raise self.plan_error
        changes: list[Change] = []
        for obj in desired:
            ref = objref(obj)
            current = self.live.get(ref)
            if current is None:
                changes.append(Change("create", ref, desired=obj))
            elif without_provenance(current) != without_provenance(obj):
                changes.append(Change("update", ref, desired=obj))
            else:
                changes.append(Change("unchanged", ref, desired=obj))
        refs = {objref(o) for o in desired}
        stale = {r: self.live[r] for r in self.inventory.entries - refs if r in self.live}
        prune = plan_prune(self.inventory, refs, stale, max_fraction=max_fraction, allow_mass_prune=allow_mass_prune)
        changes += [Change("blocked" if prune.blocked else "prune", r, reason=prune.reason) for r in prune.delete]
        return Plan(ChangeSet(tuple(changes)), prune, self.inventory, tuple(desired), dict(self.live))

    def apply(
        self,
        plan: Plan,
        *,
        force_conflicts: bool,
        revision: str,
        timeout: float,
        cancel: threading.Event | None = None,
    ) -> ApplyResult:
        self.applies.append(plan)
        self.during_apply()
        result = ApplyResult(plan)
        for change in plan.changeset.of("create", "update"):
            assert change.desired is not None
            if change.ref.name in self.refuse:
                result.results.append(ObjectResult(change.ref, change.action, False, "admission webhook said no"))
                continue
            self.live[change.ref] = copy.deepcopy(dict(change.desired))
            result.results.append(ObjectResult(change.ref, change.action, True))
        if not plan.prune.blocked:
            for ref in plan.prune.delete:
                self.live.pop(ref, None)
                result.pruned.append(ref)
                result.results.append(ObjectResult(ref, "prune", True))
        kept = {r for r in plan.inventory.entries if r in self.live}
        self.inventory = Inventory.of(kept | {objref(o) for o in plan.desired if objref(o) in self.live}, revision)
        return result

    def names(self, kind: str) -> set[str]:
        return {r.name for r in self.live if r.kind == kind}


class MemoryHistory:
    def __init__(self) -> None:
        self.records: list[HistoryRecord] = []

    def append(self, record: HistoryRecord) -> None:
        self.records.append(record)

    def contains(self, kind: str, revision: str) -> bool:
        return any(r.kind == kind and r.revision == revision for r in self.records)


class MemoryPauses:
    def __init__(self) -> None:
        self.tenants: set[str] = set()

    def paused(self) -> frozenset[str]:
        return frozenset(self.tenants)
