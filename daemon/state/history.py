"""The audit trail: every cycle, change, command and refusal, kept in the cluster so it survives
restarts and failovers, retained by a platform setting and never dropped without an event.

Public API::

    HistoryStore(kube, *, namespace="dockyard-system", name="dockyard-history")
        .append(record)                 durable once it returns; retried on write conflicts
        .list(limit=None)               newest first
        .query(AuditQuery(...))         newest first, filtered by tenant, user, kind, time
        .contains(kind, revision)       whether such a record exists (one voice across failovers)
        .prune(now, retention)          deletes what is older than the retention; what it removed

Records are JSON lines in ConfigMaps of one day each (``<name>-<YYYYMMDD>-<n>``, labelled with
the day): a day that outgrows one ConfigMap (~900 KiB of its 1 MiB limit) continues in the next
(``-2``, ``-3``...), so no object grows with the history and nothing is trimmed on append. Every
append is a read-modify-write carrying the resourceVersion it read, so two replicas (or two
threads) appending at once never overwrite each other: the loser gets a 409 and retries on the
fresh copy. A single oversized record has its ``changes`` and ``errors`` lists shortened, saying
how many entries were left out. Old days are deleted only by :meth:`HistoryStore.prune`, whose
report the daemon announces (``audit.pruned``) and records.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from daemon.edges.kube import KubeClient, ResourceType
from daemon.errors import ClusterError
from daemon.model.audit import HistoryKind, HistoryRecord

_log = logging.getLogger(__name__)

DATA_KEY = "records.jsonl"
ROLE_LABEL = "dockyard.dev/role"
STORE_LABEL = "dockyard.dev/history"
DAY_LABEL = "dockyard.dev/day"
#: One ConfigMap's data stays under this; the rest of the 1 MiB object limit is headroom for
#: metadata and managedFields.
MAX_DATA_BYTES = 900 * 1024
#: One record never takes more than this, so a cycle with thousands of errors cannot fill a day.
MAX_RECORD_BYTES = 64 * 1024
_MAX_ATTEMPTS = 10
#: (the store has a method named ``list``, which hides the builtin inside the class)
_Records = list[HistoryRecord]
_Objects = list[dict[str, Any]]
_CHUNK = re.compile(r"^(?P<base>.+)-(?P<day>\d{8})-(?P<seq>\d+)$")


@dataclass(frozen=True)
class Retention:
    """How long the trail is kept: records older than ``days`` go, and the oldest days go while
    there are more than ``records`` (whole days at a time, the newest day always stays)."""

    days: int = 90
    records: int = 100_000


@dataclass(frozen=True)
class PruneReport:
    records: int = 0
    days: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.days


@dataclass(frozen=True)
class AuditQuery:
    tenant: str | None = None
    user: str | None = None
    kind: HistoryKind | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None

    def matches(self, record: HistoryRecord) -> bool:
        if self.kind is not None and record.kind != self.kind:
            return False
        if self.tenant is not None and self.tenant not in record.tenants:
            return False
        if self.user is not None and self.user.lower() not in f"{record.user} {record.author}".lower():
            return False
        started = _parse_time(record.started)
        if self.since is not None and (started is None or started < self.since):
            return False
        return not (self.until is not None and (started is None or started > self.until))


def _bounded(record: HistoryRecord) -> str:
    line = record.to_json()
    if len(line.encode()) <= MAX_RECORD_BYTES:
        return line
    changes, errors = list(record.changes), list(record.errors)
    while len(line.encode()) > MAX_RECORD_BYTES and (changes or errors):
        # Halve the longer list each time; the note keeps the count honest.
        if len(changes) >= len(errors):
            changes = changes[: len(changes) // 2]
        else:
            errors = errors[: len(errors) // 2]
        line = replace(
            record,
            changes=_with_note(changes, len(record.changes)),
            errors=_with_note(errors, len(record.errors)),
        ).to_json()
    if len(line.encode()) > MAX_RECORD_BYTES:
        # Only the free-text fields are left to blame (a huge commit message).
        line = replace(
            record, message=record.message[:4096], changes=[], errors=_with_note([], len(record.errors))
        ).to_json()
    return line


def _with_note(kept: list[str], total: int) -> list[str]:
    kept = [entry[:2000] for entry in kept]
    return kept if len(kept) == total else [*kept, f"... and {total - len(kept)} more"]


class HistoryStore:
    """The audit trail in ConfigMaps ``<name>-<day>-<n>`` of ``namespace``."""

    def __init__(self, kube: KubeClient, *, namespace: str = "dockyard-system", name: str = "dockyard-history") -> None:
        self._kube = kube
        self._namespace = namespace
        self._name = name
        #: the newest chunk of each day this store wrote to, with the resourceVersion it saw
        self._tips: dict[str, dict[str, Any]] = {}

    @property
    def _rtype(self) -> ResourceType:
        # Resolved on first use (the client caches it): constructing this does no I/O.
        return self._kube.resource_type("v1", "ConfigMap")

    @property
    def location(self) -> str:
        return f"configmaps {self._name}-<day>-<n> in namespace {self._namespace}"

    # --- writing ------------------------------------------------------------------------------

    def append(self, record: HistoryRecord) -> None:
        """Adds ``record``; raises ClusterError when the API server keeps refusing."""
        line = _bounded(record)
        day = _day_of(record.started)
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            tip = self._tips.get(day) or self._newest_chunk(day)
            try:
                if tip is None:
                    self._tips[day] = self._create(day, 1, line)
                elif _size(tip) + len(line.encode()) + 1 > MAX_DATA_BYTES:
                    self._tips[day] = self._create(day, _seq_of(tip) + 1, line)
                else:
                    updated = dict(tip)
                    updated["data"] = {DATA_KEY: _text(tip) + line + "\n"}
                    # Carries the resourceVersion read before: a concurrent append makes this 409.
                    self._tips[day] = self._kube.replace(updated)
                return
            except ClusterError as e:
                if e.status != 409 or attempt == _MAX_ATTEMPTS:
                    raise
                self._tips.pop(day, None)  # someone else wrote: read the day again
            # Jitter keeps two writers that collided from colliding again in lock step.
            time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311 - not for security

    def _create(self, day: str, seq: int, line: str) -> dict[str, Any]:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"{self._name}-{day}-{seq}",
                "namespace": self._namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "dockyard",
                    ROLE_LABEL: "history",
                    STORE_LABEL: self._name,
                    DAY_LABEL: day,
                },
            },
            "data": {DATA_KEY: line + "\n"},
        }
        try:
            return self._kube.create(body)
        except ClusterError as e:
            if e.status != 404:
                raise  # 409 AlreadyExists: another writer created it; append retries
            self._kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self._namespace}})
            return self._kube.create(body)

    # --- reading ------------------------------------------------------------------------------

    def list(self, limit: int | None = None) -> _Records:
        """Records newest first; lines that cannot be parsed are skipped with a warning."""
        return self.query(AuditQuery(limit=limit))

    def query(self, query: AuditQuery) -> _Records:
        days = None
        if query.since is not None:
            first = query.since.astimezone(UTC).strftime("%Y%m%d")
            days = {d for d in self._days() if d >= first}
        found: _Records = []
        for chunk in reversed(self._chunks(days)):
            for record in reversed(tuple(self._records(chunk))):
                if query.matches(record):
                    found.append(record)
                    if query.limit is not None and len(found) >= max(query.limit, 0):
                        return found
        return found

    def contains(self, kind: HistoryKind, revision: str) -> bool:
        """Whether a record of ``kind`` for ``revision`` exists (in the last two days)."""
        recent = sorted(self._days())[-2:]
        return any(
            record.kind == kind and record.revision == revision
            for chunk in self._chunks(set(recent))
            for record in self._records(chunk)
        )

    def count(self) -> int:
        return sum(len(_lines(chunk)) for chunk in self._chunks(None))

    # --- retention ----------------------------------------------------------------------------

    def prune(self, now: datetime, retention: Retention) -> PruneReport:
        """Deletes whole days older than ``retention.days``, then the oldest days while more than
        ``retention.records`` remain; the newest day always stays. Returns what was removed."""
        chunks = self._chunks(None)
        by_day: dict[str, _Objects] = {}
        for chunk in chunks:
            by_day.setdefault(_day_label(chunk), []).append(chunk)
        days = sorted(by_day)
        cutoff = (now.astimezone(UTC) - timedelta(days=retention.days)).strftime("%Y%m%d")
        total = sum(len(_lines(c)) for c in chunks)
        doomed = []
        for day in days[:-1]:  # the newest day always stays
            records = sum(len(_lines(c)) for c in by_day[day])
            if day < cutoff or total > retention.records:
                doomed.append(day)
                total -= records
        removed = 0
        for day in doomed:
            for chunk in by_day[day]:
                removed += len(_lines(chunk))
                self._kube.delete(self._rtype, self._namespace, chunk["metadata"]["name"])
            self._tips.pop(day, None)
        return PruneReport(records=removed, days=tuple(doomed))

    # --- helpers ------------------------------------------------------------------------------

    def _chunks(self, days: set[str] | None) -> _Objects:
        """The store's ConfigMaps (of ``days``, or all), oldest first."""
        selector = f"{STORE_LABEL}={self._name}"
        items = self._kube.list_objects(self._rtype, namespace=self._namespace, label_selector=selector)
        chunks = [c for c in items if _CHUNK.match(c["metadata"]["name"]) and (days is None or _day_label(c) in days)]
        return sorted(chunks, key=lambda c: (_day_label(c), _seq_of(c)))

    def _days(self) -> set[str]:
        return {_day_label(c) for c in self._chunks(None)}

    def _newest_chunk(self, day: str) -> dict[str, Any] | None:
        chunks = self._chunks({day})
        return chunks[-1] if chunks else None

    def _records(self, chunk: Mapping[str, Any]) -> Iterable[HistoryRecord]:
        name = chunk["metadata"]["name"]
        for number, line in enumerate(_lines(chunk), start=1):
            try:
                yield HistoryRecord.from_json(line)
            except ValueError as e:
                _log.warning("configmap %s: skipping unreadable history line %d: %s", name, number, e)


def _text(chunk: Mapping[str, Any]) -> str:
    return str((chunk.get("data") or {}).get(DATA_KEY) or "")


def _lines(chunk: Mapping[str, Any]) -> list[str]:
    return [line for line in _text(chunk).splitlines() if line.strip()]


def _size(chunk: Mapping[str, Any]) -> int:
    return len(_text(chunk).encode())


def _seq_of(chunk: Mapping[str, Any]) -> int:
    match = _CHUNK.match(chunk["metadata"]["name"])
    return int(match.group("seq")) if match else 0


def _day_label(chunk: Mapping[str, Any]) -> str:
    return str(((chunk.get("metadata") or {}).get("labels") or {}).get(DAY_LABEL, "00000000"))


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _day_of(started: str) -> str:
    parsed = _parse_time(started)
    return (parsed or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d")
