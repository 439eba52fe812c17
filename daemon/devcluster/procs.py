"""Starting, recognising and stopping the control-plane processes.

The processes outlive the ``dockyard`` command that started them, so a later command only has a
pid from ``state.json``. Before signalling a pid we check, through ``/proc``, that it is still the
process we started (same start time, same executable and argv) and not a stranger that reused it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.errors import DevClusterError

#: Processes started by this Python process; they must be waited for or they linger as zombies
#: that still look alive to ``kill(pid, 0)``.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessRecord:
    """One started component, as persisted in ``state.json``."""

    name: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...]
    log: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "start_ticks": self.start_ticks,
            "argv": list(self.argv),
            "log": str(self.log),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
            argv=tuple(str(a) for a in data["argv"]),
            log=Path(data["log"]),
        )


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces and parentheses.
    return raw[raw.rindex(")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    # starttime is field 22 of stat(5); the list starts at field 3 (state).
    return int(fields[19]) if fields else None


def _cmdline(pid: int) -> tuple[str, ...]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ()
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def _reap(pid: int) -> int | None:
    """Collects the exit status if ``pid`` is our child and has exited; returns it."""
    child = _CHILDREN.get(pid)
    if child is None:
        return None
    return child.poll()


def _forget(record: ProcessRecord) -> None:
    """Reaps a child that is known to be gone, so no zombie and no unwaited Popen remain."""
    child = _CHILDREN.pop(record.pid, None)
    if child is not None:
        # It is dead already (a zombie counts as gone): this returns at once.
        child.wait(timeout=5)


def is_running(record: ProcessRecord) -> bool:
    """True when the recorded process is alive and is still the one we started."""
    if _reap(record.pid) is not None:
        return False
    fields = _stat_fields(record.pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return int(fields[19]) == record.start_ticks and _cmdline(record.pid) == record.argv


def exit_code(record: ProcessRecord) -> int | None:
    """The exit code when we started the process in this interpreter and it has exited."""
    return _reap(record.pid)


def spawn(name: str, argv: Sequence[str], log: Path, cwd: Path, env: Mapping[str, str] | None = None) -> ProcessRecord:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            child = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Its own session: the component survives the dockyard command and a Ctrl-C in the
                # terminal that ran it.
                start_new_session=True,
            )
        except OSError as e:
            raise DevClusterError(f"cannot start {name} ({argv[0]}): {e}") from e
    _CHILDREN[child.pid] = child
    ticks = _start_ticks(child.pid)
    if ticks is None:
        child.wait()
        raise DevClusterError(f"{name} exited immediately:\n{log_tail(log)}")
    return ProcessRecord(name, child.pid, ticks, tuple(argv), log)


def _signal(record: ProcessRecord, sig: signal.Signals) -> None:
    # A stranger that reused the pid must never receive our signal.
    if not is_running(record):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, sig)


def _wait_gone(records: Sequence[ProcessRecord], deadline: float) -> list[ProcessRecord]:
    alive = list(records)
    while alive and time.monotonic() < deadline:
        alive = [r for r in alive if is_running(r)]
        if alive:
            time.sleep(0.05)
    return alive


def terminate(records: Iterable[ProcessRecord], grace: float = 15.0) -> None:
    """SIGTERM, then SIGKILL whatever is left after ``grace`` seconds; waits until all are gone."""
    running = [r for r in records if is_running(r)]
    for record in running:
        _signal(record, signal.SIGTERM)
    survivors = _wait_gone(running, time.monotonic() + grace)
    for record in survivors:
        _signal(record, signal.SIGKILL)
    stuck = _wait_gone(survivors, time.monotonic() + 10.0)
    for record in running:
        if record not in stuck:
            _forget(record)
    if stuck:
        names = ", ".join(f"{r.name} (pid {r.pid})" for r in stuck)
        raise DevClusterError(f"these processes survived SIGKILL: {names}")


def kill(record: ProcessRecord) -> None:
    """SIGKILL, to simulate a crash; waits until the process is gone."""
    _signal(record, signal.SIGKILL)
    if _wait_gone([record], time.monotonic() + 10.0):
        raise DevClusterError(f"{record.name} (pid {record.pid}) survived SIGKILL")
    _forget(record)


def log_tail(log: Path, lines: int = 30) -> str:
    try:
        with log.open("rb") as f:
            f.seek(0, os.SEEK_END)
            # The last 64 KiB hold the last lines unless a component logs enormous lines.
            f.seek(max(0, f.tell() - 65536))
            text = f.read().decode(errors="replace")
    except OSError:
        return f"(no log at {log})"
    tail = text.splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in tail) if tail else f"(empty log {log})"
