"""Starting, recognising and stopping the control-plane processes.

The processes outlive the ``dockyard`` command that started them, so a later command only has a
pid from ``state.json``. Before signalling a pid we check, through ``/proc``, that it is still the
process we started (same start time, same executable) and not a stranger that reused it.

A process counts as started only once its exec has completed. ``Popen`` returns as soon as the
kernel has committed to the new program, but loading a large binary from a cold page cache keeps
the child in state ``D`` with an empty ``/proc/<pid>/cmdline`` for a while: the identity check
therefore rests on the start time and ``/proc/<pid>/exe`` (set when the exec commits), never on
the command line alone, and :func:`spawn` waits until the command line is in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.errors import DevClusterError

#: Processes started by this Python process; they must be waited for or they linger as zombies
#: that still look alive to ``kill(pid, 0)``. A pid in here cannot have been reused: it stays
#: ours until we wait for it.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
#: Where the process table is read; tests point it at a recorded table of a process mid-exec.
PROC = Path("/proc")
#: How long an exec may take to complete: loading a 100 MB binary from a cold disk takes seconds.
EXEC_TIMEOUT = 120.0


@dataclass(frozen=True)
class ProcessRecord:
    """One started component, as persisted in ``state.json``."""

    name: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...]
    log: Path
    #: the resolved path of the executable, as ``/proc/<pid>/exe`` shows it
    exe: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "start_ticks": self.start_ticks,
            "argv": list(self.argv),
            "log": str(self.log),
            "exe": self.exe,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        argv = tuple(str(a) for a in data["argv"])
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
            argv=argv,
            log=Path(data["log"]),
            exe=str(data.get("exe") or executable_of(argv)),
        )


def executable_of(argv: Sequence[str]) -> str:
    """The file the kernel runs for ``argv``: the PATH lookup of ``argv[0]``, symlinks resolved."""
    found = shutil.which(argv[0]) if argv and "/" not in argv[0] else (argv[0] if argv else "")
    return os.path.realpath(found) if found else ""


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
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
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ()
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def _exe(pid: int) -> str:
    try:
        target = os.readlink(PROC / str(pid) / "exe")
    except OSError:
        return ""
    # A binary replaced on disk (a rebuild) after the start still is the one we started.
    return target.removesuffix(" (deleted)")


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
    """True when the recorded process is alive and is still the one we started.

    The start time and the executable identify it; both are fixed once the exec has committed,
    while the command line is still empty during the rest of a slow exec.
    """
    child = _CHILDREN.get(record.pid)
    if child is not None:
        # Our own unreaped child: its pid cannot belong to anyone else.
        return child.poll() is None
    fields = _stat_fields(record.pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    if int(fields[19]) != record.start_ticks:
        return False
    exe = _exe(record.pid)
    if exe and record.exe:
        return exe == record.exe
    # /proc/<pid>/exe is unreadable (another user's process): fall back to the command line.
    return _cmdline(record.pid) == record.argv


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
    record = ProcessRecord(name, child.pid, ticks, tuple(argv), log, executable_of(argv))
    _wait_exec(record, child)
    return record


def _wait_exec(record: ProcessRecord, child: subprocess.Popen[bytes], timeout: float = EXEC_TIMEOUT) -> None:
    """Returns once the exec has completed (the command line is in place); a child that exits
    first, or takes longer than ``timeout``, is an error and is not left running."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while _cmdline(record.pid) != record.argv:
        if child.poll() is not None:
            _CHILDREN.pop(record.pid, None)
            raise DevClusterError(f"{record.name} exited with code {child.returncode}:\n{log_tail(record.log)}")
        if time.monotonic() >= deadline:
            child.kill()
            child.wait()
            _CHILDREN.pop(record.pid, None)
            raise DevClusterError(
                f"{record.name} did not finish starting ({record.argv[0]}) within {timeout:.0f}s; is the disk "
                "very slow or the binary damaged? Rebuild it with hack/localcluster/build.sh"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _signal(record: ProcessRecord, sig: signal.Signals) -> None:
    child = _CHILDREN.get(record.pid)
    if child is not None:
        # Our own child is signalled by its handle, whatever /proc says of it (even mid-exec).
        if child.poll() is None:
            child.send_signal(sig)
        return
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


def send(record: ProcessRecord, signum: signal.Signals) -> None:
    """Sends ``signum`` to the recorded process, if it is still the one we started."""
    _signal(record, signum)


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
