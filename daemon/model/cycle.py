"""What a reconcile cycle is asked for and what it ends in: closed sets of names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Why a cycle runs. ``manual-override`` is a manual sync that ignores sync windows; ``watch`` is
#: a change to the files of a local repo; ``change`` is a change to a managed object in the
#: cluster, seen by a watch of the API server (possible drift, looked at within seconds).
Trigger = Literal["poll", "drift", "change", "webhook", "watch", "manual", "manual-override"]
TRIGGERS: tuple[Trigger, ...] = ("poll", "drift", "change", "webhook", "watch", "manual", "manual-override")

#: How a cycle ended.
CycleResult = Literal["succeeded", "failed", "skipped", "invalid", "noop", "standby"]

#: Which step a cycle stopped at, when it did not run to the end.
StopReason = Literal[
    "",  # it ran to the end
    "fetch",  # the platform repo could not be fetched
    "rejected",  # the revision was rejected before and has not changed
    "validation",  # the revision is invalid
    "standby",  # not the leader: only the leader writes
    "up-to-date",  # nothing new and nothing waiting
    "not-named",  # a cluster joined from the platform file that the new revision no longer names
    "render",  # the objects of a loaded revision could not be rendered again (its Secrets)
    "plan",  # the live state could not be read or the dry-run failed
    "apply",  # the API server refused or the apply was cancelled
    "internal",  # a bug
]


@dataclass(frozen=True)
class CycleOutcome:
    result: CycleResult
    revision: str = ""
    summary: str = ""
    stopped_at: StopReason = ""
