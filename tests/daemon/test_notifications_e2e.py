"""The daemon's events reach people: sync results land in Slack (a local Web API server), one
thread per revision, and a restart delivers nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.harness import Setup, names
from tests.fixtures_cluster import wait_for
from tests.notifiers.fakes import SLACK_TOKEN, FakeSlack


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("SLACK_API_URL", server.url)
    yield server
    server.stop()


def configure_ops_channel(setup: Setup) -> None:
    setup.platform.notification_lists["ops"] = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "NotificationList",
        "metadata": {"name": "ops"},
        "spec": {
            "targets": [{"slack": {"channel": "#platform"}}],
            "events": ["sync.*", "validation.failed", "drift.*"],
        },
    }
    setup.platform.platform["spec"]["notifications"] = {"default": "ops"}
    setup.platform.tenant_doc["spec"]["notifications"] = ["ops"]


def test_sync_results_reach_slack_threaded_by_revision(setup: Setup, slack: FakeSlack, tmp_path: Path) -> None:
    configure_ops_channel(setup)
    first = setup.commit("notify #ops")
    daemon = setup.start()
    wait_for(
        lambda: [m for m in slack.posted() if first[:8] in str(m)],
        timeout=60,
        message="the sync result of the first revision in Slack",
    )
    setup.platform.apps["app1"]["spec"]["replicas"] = "many"
    bad = setup.commit("break app1")
    daemon.runner.request("webhook")
    wait_for(
        lambda: [m for m in slack.posted() if bad[:8] in str(m)], timeout=60, message="the validation failure in Slack"
    )
    rejected = next(m for m in slack.posted() if bad[:8] in str(m))
    text = str(rejected)
    assert "app-app1.yaml" in text and "replicas" in text  # the error, with its file
    assert SLACK_TOKEN not in text
    # Every message went to #platform, each revision has its own head message.
    heads = [m for m in slack.posted() if not m.get("thread_ts")]
    assert len(slack.posted()) == len(slack.messages["C0PLATFRM1"])
    assert len([h for h in heads if h["text"].startswith("sync.succeeded") and first[:8] in h["text"]]) == 1
    assert any(h["text"].startswith("validation.failed") and bad[:8] in h["text"] for h in heads)
    assert "validation.failed" in names(setup.sinks[0])
