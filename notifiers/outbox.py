"""The durable outbox: every routed delivery is in SQLite before anything is sent.

One file, WAL mode, ``synchronous=FULL`` (a committed row survives a power cut, not just a crash).
Rows are keyed by the idempotency key ``<event.id>:<target key>``, so emitting an event twice is a
no-op while its row is kept (``retention``).

Life of a row::

    pending ──claim──> (attempt in flight) ──success──> delivered
       ^                      │
       └──── reschedule ──────┤  (backoff, Retry-After)
                              └──> dead   (attempts used up, or a permanent error)
    suppressed                    (pacing held it back; kept for idempotency and audit)

Crash safety: ``claim`` commits an attempt marker (``in_flight``) before the request is sent, and
success is recorded in one transaction together with what it produced (the Slack ``ts``, the
thread). A row whose marker survives a crash is retried as *uncertain*: senders that can check
the target (Slack) look for the earlier copy first; the others deliver again (at least once).

Ordering: the deliveries of one group to one target leave in order (a reply never overtakes its
thread's head); everything else is independent, so one broken target never holds up another.

One process uses an outbox file at a time. All methods are thread-safe.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from daemon.errors import ConfigError
from daemon.model.events import Event
from daemon.model.kinds import NotificationTarget
from notifiers.format import StatusLine
from notifiers.pacing import PaceState, PacingPolicy, decide, signal_for
from notifiers.routing import Route
from notifiers.targets.base import Delivery, ThreadState

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL,
    event_json TEXT NOT NULL,
    target_key TEXT NOT NULL,
    target_json TEXT NOT NULL,
    list_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    grp TEXT NOT NULL,
    repeat INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    created_at REAL NOT NULL,
    first_attempt_at REAL,
    in_flight INTEGER NOT NULL DEFAULT 0,
    uncertain INTEGER NOT NULL DEFAULT 0,
    progress_json TEXT NOT NULL DEFAULT '{}',
    last_error TEXT,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_group ON deliveries (target_key, grp, status, seq);
CREATE TABLE IF NOT EXISTS threads (
    target_key TEXT NOT NULL,
    grp TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    head_key TEXT NOT NULL,
    head_json TEXT NOT NULL,
    statuses_json TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (target_key, grp)
);
CREATE TABLE IF NOT EXISTS pacing (
    target_key TEXT NOT NULL,
    ident TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    open INTEGER NOT NULL,
    last_sent REAL NOT NULL,
    PRIMARY KEY (target_key, ident)
);
CREATE TABLE IF NOT EXISTS unrouted (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_json TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""

#: a pending row is blocked while an older pending row of its (target, group) exists
_UNBLOCKED = """NOT EXISTS (
    SELECT 1 FROM deliveries e
    WHERE d.grp != '' AND e.target_key = d.target_key AND e.grp = d.grp
      AND e.status = 'pending' AND e.seq < d.seq)"""
_DELIVERY_COLUMNS = (
    "key, event_json, target_json, target_key, list_name, attempts, uncertain, first_attempt_at, progress_json, repeat"
)

# Built once from the constants above; no value ever enters these strings.
_CANDIDATES_SQL = (
    "SELECT key, target_key, kind, grp FROM deliveries WHERE seq IN ("  # noqa: S608
    " SELECT MIN(seq) FROM deliveries d WHERE status = 'pending' AND next_attempt_at <= ? AND "
    + _UNBLOCKED
    + " GROUP BY target_key) ORDER BY seq"
)
_NEXT_DUE_SQL = (
    "SELECT target_key, MIN(next_attempt_at) AS due FROM deliveries d"  # noqa: S608
    " WHERE status = 'pending' AND " + _UNBLOCKED + " GROUP BY target_key"
)
_CLAIMED_SQL = f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE key = ? AND status = 'pending'"  # noqa: S608


@dataclass(frozen=True)
class Enqueued:
    key: str
    kind: str
    status: str  # pending | suppressed | duplicate
    reason: str = ""


@dataclass(frozen=True)
class Candidate:
    key: str
    target_key: str
    kind: str
    grp: str


@dataclass(frozen=True)
class EnqueueOptions:
    pacing: PacingPolicy
    #: kinds whose deliveries of one group are sent together, after ``group_wait`` seconds
    batching_kinds: frozenset[str] = frozenset()
    group_wait: float = 0.0


def target_to_json(target: NotificationTarget) -> str:
    data = asdict(target)
    data["to"] = list(target.to)
    return json.dumps(data, sort_keys=True)


def target_from_json(raw: str) -> NotificationTarget:
    data = json.loads(raw)
    data["to"] = tuple(data.get("to") or ())
    return NotificationTarget(**data)


def _event_json(event: Event) -> str:
    return json.dumps(event.to_json(), sort_keys=True, default=str)


class Outbox:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        except sqlite3.Error as e:
            raise ConfigError(f"cannot open the notification outbox {self.path}: {e}") from e
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            self._db.close()
            raise ConfigError(f"cannot use the notification outbox {self.path}: {e}") from e
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- writing new deliveries ------------------------------------------------------------

    def enqueue(self, event: Event, routes: Sequence[Route], now: float, options: EnqueueOptions) -> list[Enqueued]:
        """Persist one row per route (or record why pacing held it back), in one transaction."""
        with self._tx() as db:
            return self._enqueue(db, event, routes, now, options)

    def _enqueue(
        self, db: sqlite3.Connection, event: Event, routes: Sequence[Route], now: float, options: EnqueueOptions
    ) -> list[Enqueued]:
        results: list[Enqueued] = []
        signal = signal_for(event)
        event_json = _event_json(event)
        for route in routes:
            key = f"{event.id}:{route.target_key}"
            kind = route.target.kind
            if db.execute("SELECT 1 FROM deliveries WHERE key = ?", (key,)).fetchone():
                results.append(Enqueued(key, kind, "duplicate"))
                continue
            status, reason, repeat = "pending", "", False
            if signal is not None:
                state = self._pace_state(db, route.target_key, signal.ident)
                decision = decide(signal, state, now, options.pacing)
                if decision.state is not None and decision.state != state:
                    db.execute(
                        "INSERT OR REPLACE INTO pacing VALUES (?, ?, ?, ?, ?)",
                        (
                            route.target_key,
                            signal.ident,
                            decision.state.fingerprint,
                            int(decision.state.open),
                            decision.state.last_sent,
                        ),
                    )
                if not decision.send:
                    status, reason = "suppressed", decision.reason
                repeat = decision.repeat
            due = now
            if event.group and kind in options.batching_kinds:
                due = now + options.group_wait
            db.execute(
                """INSERT INTO deliveries (key, event_id, event_json, target_key, target_json, list_name, kind,
                       grp, repeat, status, next_attempt_at, created_at, last_error, finished_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    key,
                    event.id,
                    event_json,
                    route.target_key,
                    target_to_json(route.target),
                    route.list_name,
                    kind,
                    event.group,
                    int(repeat),
                    status,
                    due,
                    now,
                    reason or None,
                    now if status != "pending" else None,
                ),
            )
            results.append(Enqueued(key, kind, status, reason))
        return results

    @staticmethod
    def _pace_state(db: sqlite3.Connection, target_key: str, ident: str) -> PaceState | None:
        row = db.execute(
            "SELECT fingerprint, open, last_sent FROM pacing WHERE target_key = ? AND ident = ?", (target_key, ident)
        ).fetchone()
        return PaceState(row["fingerprint"], bool(row["open"]), row["last_sent"]) if row else None

    def hold_unrouted(self, event: Event, now: float) -> None:
        """Keep an event that arrived before any routing configuration existed."""
        with self._tx() as db:
            db.execute("INSERT INTO unrouted (event_json, created_at) VALUES (?, ?)", (_event_json(event), now))

    def release_unrouted(
        self, route: Callable[[Event], Sequence[Route]], now: float, options: EnqueueOptions
    ) -> list[tuple[Event, list[Enqueued]]]:
        """Route every held event now that routing exists, and forget it, in one transaction."""
        with self._tx() as db:
            rows = db.execute("SELECT seq, event_json FROM unrouted ORDER BY seq").fetchall()
            released = []
            for row in rows:
                event = Event.from_json(json.loads(row["event_json"]))
                released.append((event, self._enqueue(db, event, route(event), now, options)))
            db.execute("DELETE FROM unrouted")
            return released

    # --- dispatching ------------------------------------------------------------------------

    def candidates(self, now: float) -> list[Candidate]:
        """Per target, the oldest delivery that is due and not waiting behind its group."""
        with self._lock:
            rows = self._db.execute(_CANDIDATES_SQL, (now,)).fetchall()
        return [Candidate(r["key"], r["target_key"], r["kind"], r["grp"]) for r in rows]

    def next_due(self) -> dict[str, float]:
        """Per target, when its next unblocked pending delivery is due."""
        with self._lock:
            rows = self._db.execute(_NEXT_DUE_SQL).fetchall()
        return {r["target_key"]: r["due"] for r in rows}

    def claim(self, candidate: Candidate, now: float, *, batch: bool, max_batch: int = 50) -> list[Delivery]:
        """Start an attempt: commit the in-flight marker, then return the delivery (or, for a
        batching kind, every pending delivery of the candidate's group to its target)."""
        with self._tx() as db:
            if batch and candidate.grp:
                keys = [
                    r["key"]
                    for r in db.execute(
                        """SELECT key FROM deliveries WHERE status = 'pending' AND target_key = ? AND grp = ?
                           ORDER BY seq LIMIT ?""",
                        (candidate.target_key, candidate.grp, max_batch),
                    )
                ]
            else:
                keys = [candidate.key]
            deliveries = []
            for key in keys:
                db.execute(
                    """UPDATE deliveries SET uncertain = uncertain | in_flight, in_flight = 1,
                           attempts = attempts + 1, first_attempt_at = COALESCE(first_attempt_at, ?)
                       WHERE key = ? AND status = 'pending'""",
                    (now, key),
                )
                row = db.execute(_CLAIMED_SQL, (key,)).fetchone()
                if row is not None:
                    deliveries.append(_delivery(row))
            return deliveries

    def thread(self, target_key: str, grp: str) -> ThreadState | None:
        if not grp:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM threads WHERE target_key = ? AND grp = ?", (target_key, grp)
            ).fetchone()
        if row is None:
            return None
        return ThreadState(
            channel=row["channel"],
            ts=row["ts"],
            head=Event.from_json(json.loads(row["head_json"])),
            head_key=row["head_key"],
            statuses=tuple(StatusLine.from_json(s) for s in json.loads(row["statuses_json"])),
        )

    def checkpoint(self, key: str, progress: Mapping[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE deliveries SET progress_json = ? WHERE key = ?", (json.dumps(dict(progress)), key))

    def delivered(
        self, deliveries: Sequence[Delivery], progress: Mapping[str, Any], thread: ThreadState | None, now: float
    ) -> None:
        """Record success and whatever it produced, atomically."""
        with self._tx() as db:
            for delivery in deliveries:
                db.execute(
                    """UPDATE deliveries SET status = 'delivered', in_flight = 0, progress_json = ?,
                           finished_at = ?, last_error = NULL WHERE key = ?""",
                    (json.dumps(dict(progress), default=str), now, delivery.key),
                )
            if thread is not None:
                db.execute(
                    "INSERT OR REPLACE INTO threads VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        deliveries[0].target_key,
                        thread.head.group,
                        thread.channel,
                        thread.ts,
                        thread.head_key,
                        _event_json(thread.head),
                        json.dumps([s.to_json() for s in thread.statuses]),
                        now,
                    ),
                )

    def reschedule(
        self, delivery: Delivery, next_at: float, error: str, *, maybe_delivered: bool, rate_limited: bool
    ) -> None:
        with self._tx() as db:
            db.execute(
                """UPDATE deliveries SET in_flight = 0, uncertain = uncertain | ?, next_attempt_at = ?,
                       last_error = ?, attempts = attempts - ?, rate_limited = rate_limited + ?
                   WHERE key = ? AND status = 'pending'""",
                (int(maybe_delivered), next_at, error, int(rate_limited), int(rate_limited), delivery.key),
            )

    def bury(
        self,
        delivery: Delivery,
        error: str,
        now: float,
        followup: tuple[Event, Sequence[Route]] | None,
        options: EnqueueOptions,
    ) -> list[Enqueued]:
        """Make a delivery a dead letter and enqueue its announcement, in one transaction."""
        with self._tx() as db:
            db.execute(
                """UPDATE deliveries SET status = 'dead', in_flight = 0, last_error = ?, finished_at = ?
                   WHERE key = ? AND status = 'pending'""",
                (error, now, delivery.key),
            )
            if followup is None:
                return []
            return self._enqueue(db, followup[0], followup[1], now, options)

    def rate_limited_count(self, key: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT rate_limited FROM deliveries WHERE key = ?", (key,)).fetchone()
        return int(row["rate_limited"]) if row else 0

    # --- looking and tidying ----------------------------------------------------------------

    def backlog(self) -> int:
        with self._lock:
            pending = self._db.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'").fetchone()[0]
            held = self._db.execute("SELECT COUNT(*) FROM unrouted").fetchone()[0]
        return int(pending) + int(held)

    def undelivered(self) -> tuple[int, float | None]:
        """How many deliveries are still pending, and when the oldest of them was queued."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE status = 'pending'"
            ).fetchone()
        return int(row[0]), None if row[1] is None else float(row[1])

    def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every row (for tests, the CLI and debugging); secrets are never stored, so this is safe."""
        with self._lock:
            if status is None:
                result = self._db.execute("SELECT * FROM deliveries ORDER BY seq").fetchall()
            else:
                result = self._db.execute(
                    "SELECT * FROM deliveries WHERE status = ? ORDER BY seq", (status,)
                ).fetchall()
        return [dict(r) for r in result]

    def purge(self, now: float, retention: float, pacing: PacingPolicy) -> int:
        cutoff = now - retention
        quiet = now - max(pacing.dedup_window, pacing.repeat_interval)
        # An alert still open after this long lost its resolving event; keep no state for it.
        stale = now - max(retention, 30 * 24 * 3600.0)
        with self._tx() as db:
            removed = db.execute(
                "DELETE FROM deliveries WHERE status != 'pending' AND finished_at < ?", (cutoff,)
            ).rowcount
            db.execute("DELETE FROM threads WHERE updated_at < ?", (cutoff,))
            db.execute("DELETE FROM pacing WHERE (open = 0 AND last_sent < ?) OR last_sent < ?", (quiet, stale))
        return int(removed)


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        key=row["key"],
        event=Event.from_json(json.loads(row["event_json"])),
        target=target_from_json(row["target_json"]),
        target_key=row["target_key"],
        list_name=row["list_name"],
        attempts=int(row["attempts"]),
        uncertain=bool(row["uncertain"]),
        first_attempt_at=row["first_attempt_at"],
        progress=json.loads(row["progress_json"]),
        repeat=bool(row["repeat"]),
    )
