"""The audit trail as a table for the terminal."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from daemon.model.audit import HistoryRecord


def format_history(records: Iterable[HistoryRecord]) -> str:
    """A fixed-width table, one line per record, in the order given."""
    header = ("STARTED", "KIND", "TRIGGER", "RESULT", "REVISION", "DURATION", "BY", "SUMMARY")
    rows = [header]
    for record in records:
        who = record.user or _name_only(record.author)
        rows.append(
            (
                _short_time(record.started),
                record.kind,
                record.trigger,
                record.result,
                record.revision[:12],
                f"{record.duration_seconds:.1f}s",
                _clip(who, 24),
                _clip(" ".join(record.summary().split()), 72),
            )
        )
    if len(rows) == 1:
        return "no history recorded yet\n"
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines) + "\n"


def _short_time(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M:%S")


def _name_only(author: str) -> str:
    return author.split(" <", 1)[0] if author else ""


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
