"""NotificationList events that exist, and labels that stay out of Dockyard's own prefix."""

from __future__ import annotations

import fnmatch
from typing import Final

from daemon.loader.checks.context import CheckContext, items, mapping
from daemon.loader.hints import did_you_mean
from daemon.model.events import EVENT_NAMES

#: What to suggest for an event pattern with a typo: every event, every ``prefix.*``, and ``*``.
EVENT_PATTERNS: Final = tuple(sorted({e.split(".")[0] + ".*" for e in EVENT_NAMES})) + EVENT_NAMES + ("*",)
RESERVED_LABEL_PREFIX: Final = "dockyard.dev/"


def check(ctx: CheckContext) -> None:
    _notification_lists(ctx)
    _labels(ctx)


def _notification_lists(ctx: CheckContext) -> None:
    for entry in ctx.valid["NotificationList"]:
        for i, pattern in enumerate(items(entry.spec().get("events"))):
            if not any(fnmatch.fnmatchcase(event, pattern) for event in EVENT_NAMES):
                guess = did_you_mean(pattern, EVENT_PATTERNS)
                ctx.report(
                    entry,
                    ("spec", "events", i),
                    f"'{pattern}' matches no event",
                    f"did you mean '{guess}'?" if guess else "events: " + ", ".join(EVENT_NAMES),
                    code="ref.event",
                )


def _labels(ctx: CheckContext) -> None:
    for entry in ctx.entries:
        if not entry.valid:
            continue
        for key in mapping(mapping(entry.data.get("metadata")).get("labels")):
            if key.startswith(RESERVED_LABEL_PREFIX):
                ctx.report(
                    entry,
                    ("metadata", "labels", key),
                    f"label '{key}' is reserved for Dockyard",
                    f"labels under {RESERVED_LABEL_PREFIX} are set by Dockyard itself",
                    code="value.label",
                    key=True,
                )
