"""Recognising the control-plane processes: never fooled by a slow exec, never leaving one behind.

The first start on a machine with a cold page cache raced: while the kernel was still loading a
100 MB binary the child was in state ``D`` with an empty ``/proc/<pid>/cmdline``, and the check
"is it still the process we started" said no, so ``dev-cluster up`` gave up and left the
processes running.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daemon.errors import DevClusterError
from devcluster import procs


def _stat_line(pid: int, state: str, start_ticks: int) -> str:
    # pid (comm) state ppid ... starttime is field 22; fill the fields in between with zeros.
    fields = [state, "1"] + ["0"] * 17 + [str(start_ticks)] + ["0"] * 30
    return f"{pid} (kube-apiserver) {' '.join(fields)}\n"


def _proc_table(root: Path, pid: int, *, state: str, start_ticks: int, exe: str, cmdline: bytes) -> None:
    """A ``/proc`` entry as the kernel shows a process: here, one recorded mid-exec."""
    entry = root / str(pid)
    entry.mkdir(parents=True)
    (entry / "stat").write_text(_stat_line(pid, state, start_ticks))
    (entry / "cmdline").write_bytes(cmdline)
    (entry / "exe").symlink_to(exe)


@pytest.fixture
def fake_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proc"
    root.mkdir()
    monkeypatch.setattr(procs, "PROC", root)
    return root


def _record(tmp_path: Path, pid: int, binary: Path) -> procs.ProcessRecord:
    return procs.ProcessRecord(
        name="kube-apiserver",
        pid=pid,
        start_ticks=4242,
        argv=(str(binary), "--etcd-servers=http://127.0.0.1:1"),
        log=tmp_path / "apiserver.log",
        exe=str(binary),
    )


@pytest.fixture
def binary(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "kube-apiserver"
    path.parent.mkdir()
    path.write_bytes(b"\x7fELF")
    path.chmod(0o755)
    return path


def test_a_process_still_loading_its_binary_is_running(fake_proc: Path, tmp_path: Path, binary: Path) -> None:
    # What /proc showed on a cold page cache: state D, exe already the new binary, no cmdline yet.
    _proc_table(fake_proc, 31337, state="D", start_ticks=4242, exe=str(binary), cmdline=b"")
    assert procs.is_running(_record(tmp_path, 31337, binary))


def test_a_stranger_that_reused_the_pid_is_not_ours(fake_proc: Path, tmp_path: Path, binary: Path) -> None:
    _proc_table(fake_proc, 31337, state="S", start_ticks=9999, exe=str(binary), cmdline=b"x\0")
    assert not procs.is_running(_record(tmp_path, 31337, binary))


def test_another_program_with_our_start_time_is_not_ours(fake_proc: Path, tmp_path: Path, binary: Path) -> None:
    _proc_table(fake_proc, 31337, state="S", start_ticks=4242, exe="/usr/bin/bash", cmdline=b"bash\0")
    assert not procs.is_running(_record(tmp_path, 31337, binary))


def test_a_zombie_is_gone(fake_proc: Path, tmp_path: Path, binary: Path) -> None:
    _proc_table(fake_proc, 31337, state="Z", start_ticks=4242, exe=str(binary), cmdline=b"")
    assert not procs.is_running(_record(tmp_path, 31337, binary))


def test_a_rebuilt_binary_still_identifies_the_running_process(fake_proc: Path, tmp_path: Path, binary: Path) -> None:
    _proc_table(fake_proc, 31337, state="S", start_ticks=4242, exe=f"{binary} (deleted)", cmdline=b"x\0")
    assert procs.is_running(_record(tmp_path, 31337, binary))


def test_records_of_older_state_files_resolve_their_executable(tmp_path: Path) -> None:
    data = {"name": "etcd", "pid": 1, "start_ticks": 1, "argv": ["sleep", "1"], "log": str(tmp_path / "l")}
    record = procs.ProcessRecord.from_json(data)
    assert record.exe == os.path.realpath(shutil.which("sleep") or "")


def _evict(path: Path) -> None:
    """Drops a file's pages from the page cache, as after a reboot or a fresh build."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def test_spawn_of_an_evicted_binary_returns_a_running_process(tmp_path: Path) -> None:
    # A private copy of the interpreter, evicted from the page cache before every start.
    binary = tmp_path / "python-copy"
    shutil.copy2(sys.executable if os.path.isfile(sys.executable) else shutil.which("python3") or "", binary)
    binary = Path(os.path.realpath(binary))
    for attempt in range(5):
        _evict(binary)
        record = procs.spawn(
            f"slow-{attempt}",
            [str(binary), "-c", "import time; time.sleep(30)"],
            tmp_path / f"slow-{attempt}.log",
            tmp_path,
        )
        try:
            assert procs.is_running(record), f"attempt {attempt}: a process that runs was reported gone"
            assert procs._cmdline(record.pid) == record.argv, "spawn returned before the exec completed"
        finally:
            procs.terminate([record], grace=5)
        assert not procs.is_running(record)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.cluster
def test_spawn_of_an_evicted_control_plane_binary_is_running_at_once(tmp_path: Path) -> None:
    """The race as the first `dev-cluster up` met it: etcd, evicted from the page cache."""
    from devcluster.build import ensure_built

    binary = tmp_path / "etcd"
    shutil.copy2(ensure_built().binary("etcd"), binary)
    for attempt in range(3):
        _evict(binary)
        client, peer = _free_port(), _free_port()
        argv = [
            str(binary),
            f"--data-dir={tmp_path / f'data-{attempt}'}",
            f"--listen-client-urls=http://127.0.0.1:{client}",
            f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
        ]
        record = procs.spawn("etcd", argv, tmp_path / f"etcd-{attempt}.log", tmp_path)
        try:
            assert procs.is_running(record), f"attempt {attempt}: etcd runs but was reported gone"
            assert procs.ProcessRecord.from_json(record.to_json()) == record
        finally:
            procs.terminate([record], grace=10)


def test_our_children_are_stopped_by_pid_even_when_proc_disagrees(tmp_path: Path) -> None:
    # A record whose argv does not match what /proc shows (the mid-exec case): terminate must still
    # stop the child it started, or a failed start leaves it orphaned.
    record = procs.spawn("sleeper", ["sleep", "60"], tmp_path / "sleeper.log", tmp_path)
    mismatched = procs.ProcessRecord(record.name, record.pid, record.start_ticks, ("other",), record.log, "/nope")
    procs.terminate([mismatched], grace=5)
    with pytest.raises(ProcessLookupError):
        os.kill(record.pid, 0)


def test_a_missing_binary_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DevClusterError, match="cannot start etcd"):
        procs.spawn("etcd", [str(tmp_path / "no-such-etcd")], tmp_path / "etcd.log", tmp_path)


def test_a_process_started_elsewhere_is_recognised_from_proc(tmp_path: Path) -> None:
    # The later `dockyard dev-cluster status|down` has only the state file: no Popen handle.
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while procs._cmdline(child.pid) != ("sleep", "30") and time.monotonic() < deadline:
            time.sleep(0.01)
        ticks = procs._start_ticks(child.pid)
        assert ticks is not None
        record = procs.ProcessRecord("sleep", child.pid, ticks, ("sleep", "30"), tmp_path / "x", "")
        record = procs.ProcessRecord.from_json(record.to_json())
        assert procs.is_running(record)
        os.kill(child.pid, signal.SIGTERM)
        child.wait(5)
        assert not procs.is_running(record)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
