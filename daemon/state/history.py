"""Cycle history and chat-command audit, kept in the cluster so it survives restarts.

Public API::

    HistoryRecord(id, kind, started, finished, revision, author, message, trigger, result,
                  counts={}, changes=[], errors=[], duration_seconds=0.0,
                  user="", channel="", command="")
        .to_json() -> str               one JSON line
        HistoryRecord.from_json(text)   unknown keys are ignored (written by a newer version)
    new_record_id(now=None) -> str      sortable by time, unique across replicas
    HistoryStore(kube, *, namespace="dockyard-system", name="dockyard-history", max_records=500)
        .append(record)                 durable once it returns; retried on write conflicts
        .list(limit=None)               newest first
    format_history(records) -> str      a table for the terminal

The records live as JSON lines, oldest first, under the key ``records.jsonl`` of a ConfigMap.
Every append is a read-modify-write carrying the resourceVersion it read, so two replicas (or
two threads) appending at once never overwrite each other: the loser gets a 409 and retries on
the fresh copy. The oldest records are dropped beyond ``max_records`` or when the data would
pass ~900 KiB (a ConfigMap holds at most 1 MiB in all), and a single oversized record has its
``changes`` and ``errors`` lists shortened, saying how many entries were left out.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from daemon.edges.kube import KubeClient, ResourceType
from daemon.errors import ClusterError
from daemon.model.audit import HistoryRecord

_log = logging.getLogger(__name__)

DATA_KEY = "records.jsonl"


#: The ConfigMap's data stays under this; the rest of the 1 MiB object limit is headroom for
#: metadata and managedFields.
MAX_DATA_BYTES = 900 * 1024


#: One record never takes more than this, so a cycle with thousands of errors cannot evict the
#: whole history.
MAX_RECORD_BYTES = 64 * 1024


_MAX_ATTEMPTS = 10


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
    """History records in the ConfigMap ``namespace/name``."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str = "dockyard-system",
        name: str = "dockyard-history",
        max_records: int = 500,
    ) -> None:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        self._kube = kube
        self._namespace = namespace
        self._name = name
        self._max_records = max_records

    @property
    def _rtype(self) -> ResourceType:
        # Resolved on first use (the client caches it): constructing this does no I/O.
        return self._kube.resource_type("v1", "ConfigMap")

    @property
    def location(self) -> str:
        return f"configmap/{self._name} in namespace {self._namespace}"

    def append(self, record: HistoryRecord) -> None:
        """Adds ``record``; raises ClusterError when the API server keeps refusing."""
        line = _bounded(record)
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            current = self._kube.get(self._rtype, self._namespace, self._name)
            try:
                if current is None:
                    self._create(_trim([line], self._max_records))
                else:
                    lines = _lines(current)
                    current.setdefault("data", {})[DATA_KEY] = _trim([*lines, line], self._max_records)
                    # Carries the resourceVersion read above: a concurrent append makes this 409.
                    self._kube.replace(current)
                return
            except ClusterError as e:
                if e.status != 409 or attempt == _MAX_ATTEMPTS:
                    raise
            # Jitter keeps two writers that collided from colliding again in lock step.
            time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311 - not for security

    def list(self, limit: int | None = None) -> list[HistoryRecord]:
        """Records newest first; lines that cannot be parsed are skipped with a warning."""
        current = self._kube.get(self._rtype, self._namespace, self._name)
        if current is None:
            return []
        records: list[HistoryRecord] = []
        for number, line in enumerate(_lines(current), start=1):
            try:
                records.append(HistoryRecord.from_json(line))
            except ValueError as e:
                _log.warning("%s: skipping unreadable history line %d: %s", self.location, number, e)
        records.reverse()
        return records if limit is None else records[: max(limit, 0)]

    def _create(self, data: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self._name,
                "namespace": self._namespace,
                "labels": {"app.kubernetes.io/managed-by": "dockyard", "dockyard.dev/role": "history"},
            },
            "data": {DATA_KEY: data},
        }
        try:
            self._kube.create(body)
        except ClusterError as e:
            if e.status != 404:
                raise  # 409 AlreadyExists: another writer created it; append retries
            self._kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self._namespace}})
            self._kube.create(body)


def _lines(configmap: Mapping[str, Any]) -> list[str]:
    text = str((configmap.get("data") or {}).get(DATA_KEY) or "")
    return [line for line in text.splitlines() if line.strip()]


def _trim(lines: list[str], max_records: int) -> str:
    kept = lines[-max_records:]
    size = sum(len(line.encode()) + 1 for line in kept)
    start = 0
    while size > MAX_DATA_BYTES and start < len(kept) - 1:
        size -= len(kept[start].encode()) + 1
        start += 1
    return "\n".join(kept[start:]) + "\n"
