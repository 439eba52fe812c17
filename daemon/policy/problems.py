"""Problems that open and close: the state behind every "it broke / it is fine again" pair of
events about the cluster and Dockyard itself (pure: no I/O, no clock).

A checker looks at the world and lists the :class:`Problem` s it sees now, each with a stable
``key`` (``node/kwok-node-1``, ``readyz/etcd``); :class:`ProblemTracker` compares that with what
it saw before and says which problems *opened* and which *closed*:

* a problem opens once it has been seen on ``confirm`` consecutive looks (one look for signals
  that are already debounced at their source, like a node's Ready condition; two for a single
  failed probe, which may be a blip);
* it closes on the first look that covers its family and does not see it;
* a look covers only the families it names: when one of them could not be read (the API server
  did not answer), its problems neither open nor close, and a pending one starts over.

Every opened problem is closed exactly once (or stays open); what the checker says about it
while it stays open (a count that changes, say) is kept as its latest summary, not announced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from daemon.model.events import Severity

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Problem:
    family: str  # node | controlplane | rollout | volume | dockyard | monitoring
    key: str  # stable identity within the family, e.g. "node/kwok-node-1"
    summary: str  # what is wrong, for people
    severity: Severity = "warning"
    tenant: str | None = None
    app: str | None = None
    details: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True)
class ProblemChange:
    kind: Literal["opened", "closed"]
    problem: Problem  # for a closing one: the problem as last seen
    since: datetime  # first seen
    opened_at: datetime
    time: datetime
    #: for a closing one: what the check saw instead (e.g. "Ready"), "" when it says nothing
    resolution: str = ""


@dataclass
class _Open:
    problem: Problem
    since: datetime
    opened_at: datetime | None = None
    looks: int = 1


@dataclass
class ProblemTracker:
    """The problems seen so far. Not thread-safe: its owner serialises the looks."""

    confirm: Mapping[str, int] = field(default_factory=dict)
    _seen: dict[tuple[str, str], _Open] = field(default_factory=dict)

    def open_problems(self, family: str | None = None) -> list[tuple[Problem, datetime]]:
        """Problems announced and not closed yet, with the time they opened."""
        return [
            (o.problem, o.opened_at)
            for (fam, _), o in sorted(self._seen.items())
            if o.opened_at is not None and (family is None or fam == family)
        ]

    def look(
        self,
        families: Iterable[str],
        problems: Iterable[Problem],
        now: datetime,
        resolutions: Mapping[str, str] | None = None,
    ) -> list[ProblemChange]:
        """One look at ``families``; ``problems`` is everything wrong in them now.
        ``resolutions`` may say, per family, what a closed problem means ("it is Ready again")."""
        covered = set(families)
        current = {(p.family, p.key): p for p in problems if p.family in covered}
        changes: list[ProblemChange] = []
        for ident, problem in current.items():
            known = self._seen.get(ident)
            if known is None:
                known = self._seen[ident] = _Open(problem, since=now, looks=0)
            known.problem = problem
            known.looks += 1
            if known.opened_at is None and known.looks >= self.confirm.get(problem.family, 1):
                known.opened_at = now
                changes.append(ProblemChange("opened", problem, known.since, now, now))
        for ident in sorted(set(self._seen) - set(current)):
            if ident[0] not in covered:
                continue
            known = self._seen.pop(ident)
            if known.opened_at is not None:
                resolution = (resolutions or {}).get(ident[0], "")
                changes.append(ProblemChange("closed", known.problem, known.since, known.opened_at, now, resolution))
        return changes

    def forget(self, families: Iterable[str]) -> None:
        """Drops what is pending in ``families`` (a look that failed): a problem must then be
        seen on ``confirm`` consecutive good looks again. Open problems stay open."""
        for ident in [i for i, o in self._seen.items() if i[0] in set(families) and o.opened_at is None]:
            del self._seen[ident]
