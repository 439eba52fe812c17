"""An audit record: one cycle, one command, one refusal."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

HistoryKind = Literal["sync", "drift", "command", "validation", "audit"]


HistoryResult = Literal["succeeded", "failed", "skipped", "invalid", "noop", "denied", "allowed"]


@dataclass(frozen=True)
class HistoryRecord:
    """One reconcile cycle, drift correction, validation or chat command."""

    id: str
    kind: HistoryKind
    started: str  # ISO 8601, UTC
    finished: str
    revision: str  # commit sha ("" when none was involved)
    author: str  # "Name <email>" of the commit
    message: str  # the commit message
    trigger: str  # poll, webhook, watch, drift, slack, cli, ...
    result: HistoryResult
    counts: dict[str, int] = field(default_factory=dict)  # e.g. {"created": 2, "updated": 1}
    changes: list[str] = field(default_factory=list)  # short descriptions, one per change
    errors: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0
    user: str = ""  # who ran a chat/cli command
    channel: str = ""
    command: str = ""
    #: the tenants the record concerns (empty: platform-level, or not known)
    tenants: list[str] = field(default_factory=list)
    #: the machine a command-line action ran on
    host: str = ""
    #: who signed the commit, as verified against the trusted keys ("" when not verified)
    signer: str = ""
    #: the cluster of spec.clusters a cycle ran on ("" for a daemon that drives one cluster)
    cluster: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> HistoryRecord:
        """Parses a record; raises ValueError when required fields are missing or mistyped."""
        data: Any = json.loads(text) if isinstance(text, str) else dict(text)
        wrong = (
            ["the record"]
            if not isinstance(data, dict)
            else [
                name
                for name, value in data.items()
                if name in _FIELD_TYPES and not isinstance(value, _FIELD_TYPES[name])
            ]
        )
        if wrong:
            raise ValueError(f"not a history record: wrong type for {', '.join(wrong)}")
        try:
            return cls(**{k: v for k, v in data.items() if k in _FIELD_TYPES})
        except TypeError as e:  # a required field is missing
            raise ValueError(f"not a history record: {e}") from e

    def summary(self) -> str:
        """One line: the command for audit records, else the first line of the commit message."""
        text = self.command or (self.message.splitlines()[0] if self.message else "")
        if self.errors and self.result in ("failed", "invalid"):
            text = f"{text} - {self.errors[0]}" if text else self.errors[0]
        return text


_NON_TEXT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "counts": dict,
    "changes": list,
    "errors": list,
    "tenants": list,
    "duration_seconds": (int, float),
}


# What from_json accepts: every field is text except the few above.
_FIELD_TYPES = {f.name: _NON_TEXT_FIELDS.get(f.name, str) for f in fields(HistoryRecord)}


def new_record_id(now: float | None = None) -> str:
    """``<UTC time>-<random>``: sorts by time, and two replicas never pick the same id."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{secrets.token_hex(4)}"
