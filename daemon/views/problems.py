"""The events of problems that open and close (pure): nodes, the control plane, stuck rollouts,
pending volumes, the metrics API and Dockyard itself.

Each family has an opening and a closing event name (``daemon.model.events.PROBLEM_EVENTS``). The
two share ``details["alert"]`` (the problem's key, the identity pacing pairs them by) and a group
(chat targets thread the closing message under the opening one); the closing one carries the
opening one's severity so every list that heard of the problem hears that it is over. Ids come
from the problem and when it opened, so saying it twice is a no-op in the outbox.
"""

from __future__ import annotations

import hashlib
from typing import Any

from daemon.model.events import PROBLEM_EVENTS, Event
from daemon.policy.alerting import duration_text
from daemon.policy.problems import ProblemChange


def problem_event(change: ProblemChange) -> Event:
    problem = change.problem
    opening, closing = PROBLEM_EVENTS[problem.family]
    opened = int(change.opened_at.timestamp())
    group = f"{problem.family}:{problem.key}@{opened}"
    details: dict[str, Any] = {"alert": problem.key, **problem.details, "since": change.since.isoformat()}
    ident = hashlib.sha256(f"{problem.family}\x1f{problem.key}\x1f{opened}\x1f{change.kind}".encode()).hexdigest()
    if change.kind == "opened":
        return Event.make(
            opening,
            problem.summary,
            severity=problem.severity,
            tenant=problem.tenant,
            app=problem.app,
            group=group,
            details=details,
            time=change.time,
            id=ident[:32],
        )
    lasted = duration_text((change.time - change.opened_at).total_seconds())
    now = f": {change.resolution}" if change.resolution else ""
    details.update(firingSeverity=problem.severity, openedAt=change.opened_at.isoformat())
    return Event.make(
        closing,
        f"Resolved after {lasted}{now} (was: {problem.summary})",
        tenant=problem.tenant,
        app=problem.app,
        group=group,
        details=details,
        time=change.time,
        id=ident[:32],
    )
