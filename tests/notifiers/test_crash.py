"""Kill -9 the notifier in the middle of a delivery burst, restart it: every message arrives
exactly once, and every thread is intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.notifiers.fakes import SLACK_TOKEN, FakeSlack

CHILD = Path(__file__).with_name("crash_child.py")
EVENTS = 40
GROUP_SIZE = 4


def child(outbox: Path, server: FakeSlack, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SLACK_API_URL": server.url, "SLACK_BOT_TOKEN": SLACK_TOKEN}
    return subprocess.Popen(
        [sys.executable, "-W", "error", str(CHILD), "--outbox", str(outbox), "--mode", mode, "--events", str(EVENTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
    )


def wait_for(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.002)


@pytest.mark.parametrize("moment", ["answer-lost", "mid-burst"])
def test_kill_9_mid_burst_then_restart_delivers_each_message_exactly_once(
    real_slack_server: FakeSlack, tmp_path: Path, moment: str
) -> None:
    server = real_slack_server
    outbox = tmp_path / "outbox.sqlite"
    if moment == "answer-lost":
        # Slack has posted the 14th message, but the answer never reaches the process.
        server.hang_on_post = 14
    else:
        server.delay = 0.01
    first = child(outbox, server, "emit")
    try:
        if moment == "answer-lost":
            assert server.hang_reached.wait(30), "the burst never reached the 14th message"
        else:
            wait_for(lambda: len(server.posted()) >= 15, 30)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    server.hang_release.set()
    assert first.returncode == -signal.SIGKILL
    before = len(server.posted())
    assert 0 < before < EVENTS, "the kill did not land in the middle of the burst"

    second = child(outbox, server, "resume")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, (out, err)
    assert "DRAINED" in out

    keys = server.posted_keys()
    expected = {f"evt{i:04d}:slack:#burst" for i in range(EVENTS)}
    assert set(keys) == expected
    duplicates = {k: n for k, n in keys.items() if n != 1}
    assert duplicates == {}
    if moment == "answer-lost":
        # The restarted process looked for the message whose answer was lost, and found it.
        assert server.calls_of("conversations.history") or server.calls_of("conversations.replies")

    heads = {}
    for message in server.posted():
        index = int(message["metadata"]["event_payload"]["key"][3:7])
        if message["thread_ts"] is None:
            heads[index // GROUP_SIZE] = message
    assert sorted(heads) == list(range(EVENTS // GROUP_SIZE))
    for message in server.posted():
        index = int(message["metadata"]["event_payload"]["key"][3:7])
        if message["thread_ts"] is not None:
            assert message["thread_ts"] == heads[index // GROUP_SIZE]["ts"]
    for group, head in heads.items():
        last = group * GROUP_SIZE + GROUP_SIZE - 1
        assert head["text"] == f"backup.created: burst {last}", head["text"]
