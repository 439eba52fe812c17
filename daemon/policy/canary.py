"""What became of canaries between two revisions (pure): promoted or aborted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from daemon.model.kinds import PlatformModel


@dataclass(frozen=True)
class CanaryChange:
    """A canary that left the repo: promoted (its image became the App's) or aborted."""

    tenant: str
    app: str
    outcome: Literal["promoted", "aborted"]
    canary_image: str
    image: str  # the App's image now


def canary_changes(before: PlatformModel | None, after: PlatformModel) -> tuple[CanaryChange, ...]:
    """Canaries of ``before`` that ``after`` no longer has, for Apps it still has."""
    if before is None:
        return ()
    now = {(a.tenant, a.name): a for a in after.apps}
    changes = []
    for app in before.apps:
        current = now.get((app.tenant, app.name))
        if app.canary is None or current is None or current.canary is not None:
            continue
        outcome: Literal["promoted", "aborted"] = "promoted" if current.image == app.canary.image else "aborted"
        changes.append(CanaryChange(app.tenant, app.name, outcome, app.canary.image, current.image))
    return tuple(changes)
