"""`/dockyard` end to end: signed HTTP requests to the real Bolt app served by the daemon's own
HTTP server, answers through a local Slack's response_url, commits in a real bare repo, and the
daemon applying them to the session's local cluster."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.edges.kube import KubeClient
from daemon.runtime.daemon import Daemon
from tests.chat.slackhttp import BOT_TOKEN, SIGNING_SECRET, ChatSlack, SlashClient, block_text
from tests.daemon.harness import Setup
from tests.fixtures_cluster import wait_for
from tests.platforms import PlatformRepo, git

ADMIN = {"user": "U0ADMIN01", "user_name": "root"}
ALICE = {"user": "U0ALICE1", "user_name": "alice"}  # operator of the tenant through a user group
VIEWER = {"user": "U0VIEW001", "user_name": "val", "channel": "C0VIEWERS"}  # viewer through a channel
MALLORY = {"user": "U0MALLORY", "user_name": "mallory"}


@pytest.fixture
def slack() -> Iterator[ChatSlack]:
    server = ChatSlack().start()
    server.groups["S0SHOPDEV"] = ["U0ALICE1"]
    yield server
    server.stop()


@pytest.fixture
def setup(tmp_path: Path, kubeconfig: Path, slack: ChatSlack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_API_URL", slack.url)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    prefix = f"ch-{secrets.token_hex(3)}"
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    platform = PlatformRepo(work, prefix)
    platform.platform["spec"]["chat"] = {
        "commitMode": "direct",
        "slack": {
            "roles": [
                {"role": "admin", "users": [ADMIN["user"]], "tenants": ["*"]},
                {"role": "operator", "groups": ["S0SHOPDEV"], "tenants": [prefix]},
                {"role": "viewer", "channels": ["C0VIEWERS"], "tenants": ["*"]},
            ]
        },
    }
    kube = KubeClient(str(kubeconfig))
    s = Setup(remote, work, platform, kube, namespace=f"dockyard-{prefix}")
    s.kube_config = kubeconfig
    s.commit("initial platform")
    yield s
    for daemon in s.daemons:
        daemon.stop()
    kube.close()


def started(setup: Setup, slack: ChatSlack) -> tuple[Daemon, SlashClient]:
    daemon = setup.start()
    wait_for(lambda: daemon.reconciler.snapshot().last_sync_time, timeout=60, message="the first sync")
    assert daemon.server is not None
    host, port = daemon.server.address
    return daemon, SlashClient(f"http://{host}:{port}/slack/events", slack)


def commands(daemon: Daemon, text: str | None = None) -> list[Any]:
    records = [r for r in daemon.history.list() if r.kind == "command"]
    return [r for r in records if text is None or r.command == f"/dockyard {text}"]


def replicas(setup: Setup, app: str) -> int | None:
    obj = setup.kube.get(setup.kube.resource_type("apps/v1", "Deployment"), setup.platform.tenant, app)
    return None if obj is None else int(obj["spec"]["replicas"])


def remote_git(setup: Setup, *args: str) -> str:
    return git(setup.remote, *args)


def test_status_is_answered_through_the_response_url_and_audited(
    setup: Setup, slack: ChatSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    daemon, client = started(setup, slack)
    tenant = setup.platform.tenant
    sha = daemon.reconciler.snapshot().applied_sha

    sent = client.command(f"status {tenant}", **ALICE)
    assert sent.status == 200 and sent.body == ""  # acknowledged at once; the answer follows
    (answer,) = client.wait_answers(sent)
    assert answer["response_type"] == "ephemeral"
    shown = block_text(answer)
    assert f"Status of {tenant}" in shown and f"`{sha[:8]}`" in shown and "✅ in sync" in shown
    for app in ("app0", "app1", "app2"):
        assert f"*{app}*" in shown
    assert "2/2 ready" in shown and "`busybox:1.36`" in shown

    platform = client.command("status", **VIEWER)
    assert "Dockyard status" in block_text(client.wait_answers(platform)[0])
    wait_for(lambda: commands(daemon), timeout=10, message="two audit records", until=lambda r: len(r) >= 2)
    listing = client.command("history 5", **VIEWER)
    history = block_text(client.wait_answers(listing)[0])
    assert "Last 3 entries" in history and "sync `" in history  # the first sync and the two commands
    assert f"<@U0ALICE1> in <#C0RANDOM1>: `/dockyard status {tenant}` allowed" in history

    wait_for(lambda: commands(daemon), timeout=10, message="three audit records", until=lambda r: len(r) >= 3)
    record = commands(daemon, f"status {tenant}")[0]
    assert (record.result, record.user, record.channel, record.trigger) == (
        "allowed",
        "alice (U0ALICE1)",
        "#ops (C0RANDOM1)",
        "slack",
    )
    executed = [e for e in setup.sinks[0].events if e.name == "command.executed"]
    assert {e.details["command"] for e in executed} >= {f"/dockyard status {tenant}", "/dockyard status"}
    assert len(slack.calls_of("usergroups.users.list")) == 1  # cached across commands
    # Nothing secret reached a log line, at any level.
    logged = caplog.text
    for secret in (SIGNING_SECRET, BOT_TOKEN, sent.key, platform.key, listing.key):
        assert secret not in logged


def test_forged_stale_and_repeated_requests_never_run(
    setup: Setup, slack: ChatSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    daemon, client = started(setup, slack)
    forged = client.command("history 2", **ADMIN, secret="not-the-signing-secret")
    stale = client.command("history 3", **ADMIN, age=6 * 60)
    assert (forged.status, stale.status) == (401, 401)
    body = client.form("history 4", user=ADMIN["user"], user_name="root", channel="C1", key="k-bad-ts", trigger="t1")
    assert client.post(body, {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"})[0] == 401

    first = client.command("history 5", **ADMIN)
    assert first.status == 200
    client.wait_answers(first)
    # The very same signed request again (a replay within the 5 minutes), and as a Slack retry.
    replay = client.form(
        "history 5", user=ADMIN["user"], user_name="root", channel="C0RANDOM1", key=first.key, trigger=first.trigger
    )
    timestamp = str(int(time.time()))
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": client.sign(replay, timestamp)}
    assert client.post(replay, headers)[0] == 200
    retry = client.form(
        "history 6", user=ADMIN["user"], user_name="root", channel="C0RANDOM1", key="k-retry", trigger="retried-trigger"
    )
    assert (
        client.post(
            retry,
            {
                **headers,
                "X-Slack-Signature": client.sign(retry, timestamp),
                "X-Slack-Retry-Num": "1",
                "X-Slack-Retry-Reason": "http_timeout",
            },
        )[0]
        == 200
    )
    time.sleep(2)  # anything that would run has had time to answer
    assert len(slack.answers(first.key)) == 1
    assert slack.answers("k-retry") == [] and slack.answers(forged.key) == [] and slack.answers(stale.key) == []
    texts = [r.command for r in commands(daemon)]
    assert texts == ["/dockyard history 5"]
    # Forged and stale requests are refused before Bolt parses them, so Bolt never saw (or logged) them.
    assert "Invalid request signature detected" not in caplog.text
    for secret in (SIGNING_SECRET, BOT_TOKEN, forged.key, stale.key, first.key):
        assert secret not in caplog.text


def test_an_unauthorised_user_is_denied_and_the_denial_is_audited(setup: Setup, slack: ChatSlack) -> None:
    daemon, client = started(setup, slack)
    tenant = setup.platform.tenant
    main = remote_git(setup, "rev-parse", "main")
    sent = client.command(f"scale {tenant}/app1 5", **MALLORY)
    assert sent.status == 200
    (answer,) = client.wait_answers(sent)
    shown = block_text(answer)
    assert "Not allowed." in shown and f"needs *operator* for tenant `{tenant}`" in shown
    assert "You have no Dockyard role" in shown and answer["response_type"] == "ephemeral"
    viewer = client.command("sync", **VIEWER)
    assert "needs *operator* for every tenant" in block_text(client.wait_answers(viewer)[0])

    denied = wait_for(lambda: commands(daemon), timeout=10, message="the audit records", until=lambda r: len(r) >= 2)
    by_command = {r.command: r for r in denied}
    record = by_command[f"/dockyard scale {tenant}/app1 5"]
    assert (record.result, record.user) == ("denied", "mallory (U0MALLORY)")
    assert "needs operator for tenant" in record.errors[0]
    assert by_command["/dockyard sync"].result == "denied"
    event = next(e for e in setup.sinks[0].events if e.name == "command.executed" and e.details["user"] == "U0MALLORY")
    assert event.severity == "warning" and event.details["result"] == "denied" and event.tenant == tenant
    assert remote_git(setup, "rev-parse", "main") == main
    assert replicas(setup, "app1") == 2

    # Help is open to everyone (it says how to get a role); what does not parse says what to type.
    helped = client.command("help", **MALLORY)
    assert "You have no Dockyard role yet" in block_text(client.wait_answers(helped)[0])
    typo = client.command(f"scael {tenant}/app1 5", **MALLORY)
    assert typo.status == 200 and "Did you mean `scale`?" in block_text(typo.json())  # answered in the ack
    wait_for(lambda: commands(daemon, f"scael {tenant}/app1 5"), timeout=10, message="the typo's audit record")
    assert commands(daemon, f"scael {tenant}/app1 5")[0].result == "failed"


def test_scale_commits_to_the_repo_and_the_daemon_applies_it(setup: Setup, slack: ChatSlack) -> None:
    daemon, client = started(setup, slack)
    tenant = setup.platform.tenant
    before = remote_git(setup, "rev-parse", "main")
    sent = client.command(f"scale {tenant}/app1 3", **ALICE)
    assert sent.status == 200 and "Working on" in block_text(sent.json())  # a slow command says so at once
    committed, applied = client.wait_answers(sent, count=2, timeout=90)
    assert committed["response_type"] == "in_channel" and "Committed" in block_text(committed)
    assert "spec.replicas 2 → 3" in block_text(committed) and "Applied" in block_text(applied)

    sha = remote_git(setup, "rev-parse", "main")
    assert remote_git(setup, "rev-parse", f"{sha}^") == before
    assert remote_git(setup, "show", "-s", "--format=%an <%ae>", sha) == "Dockyard <dockyard@dockyard.dev>"
    message = remote_git(setup, "show", "-s", "--format=%B", sha)
    assert message.strip().endswith("Requested-by: <@U0ALICE1> (alice) via Slack")
    path = f"tenants/{tenant}/app-app1.yaml"
    assert remote_git(setup, "diff", "--name-only", before, sha) == path
    assert yaml.safe_load(remote_git(setup, "show", f"{sha}:{path}"))["spec"]["replicas"] == 3

    wait_for(lambda: replicas(setup, "app1"), timeout=30, message="app1 at 3 replicas", until=lambda n: n == 3)
    assert daemon.reconciler.snapshot().applied_sha == sha
    record = commands(daemon, f"scale {tenant}/app1 3")[0]
    assert record.result == "succeeded" and record.revision == sha and record.author.startswith("Dockyard")
    event = next(e for e in setup.sinks[0].events if e.name == "command.executed" and e.commit is not None)
    assert event.commit is not None and event.commit.sha == sha and event.app == "app1"


def test_branch_mode_pushes_a_branch_for_review_and_main_stays(setup: Setup, slack: ChatSlack) -> None:
    setup.platform.platform["spec"]["chat"]["commitMode"] = "branch"
    setup.commit("chat changes go through review")
    daemon, client = started(setup, slack)
    tenant = setup.platform.tenant
    main = remote_git(setup, "rev-parse", "main")
    sent = client.command(f"scale {tenant}/app2 4", **ALICE)
    (answer,) = client.wait_answers(sent, timeout=60)
    shown = block_text(answer)
    assert "Pushed branch `dockyard/scale-" in shown and "open a merge request" in shown
    branches = remote_git(setup, "for-each-ref", "--format=%(refname:short)", "refs/heads/dockyard/").split()
    assert len(branches) == 1 and branches[0].startswith("dockyard/scale-")
    sha = remote_git(setup, "rev-parse", branches[0])
    assert remote_git(setup, "rev-parse", f"{sha}^") == main and remote_git(setup, "rev-parse", "main") == main
    assert yaml.safe_load(remote_git(setup, "show", f"{sha}:tenants/{tenant}/app-app2.yaml"))["spec"]["replicas"] == 4
    daemon.runner.request("manual")
    time.sleep(2)
    assert replicas(setup, "app2") == 2 and daemon.reconciler.snapshot().applied_sha == main


def test_rollback_restores_an_earlier_image(setup: Setup, slack: ChatSlack) -> None:
    daemon, client = started(setup, slack)
    good = daemon.reconciler.snapshot().applied_sha
    setup.platform.apps["app1"]["spec"]["image"] = "busybox:1.37"
    newer = setup.commit("app1: busybox 1.37")
    daemon.runner.request("webhook")
    wait_for(lambda: setup.deployment_image("app1"), timeout=30, message="1.37", until=lambda i: i == "busybox:1.37")

    operator = client.command(f"rollback {good[:10]}", **ALICE)  # an operator may not roll back
    assert "needs *admin* for every tenant" in block_text(client.wait_answers(operator)[0])
    sent = client.command(f"rollback {good[:10]}", **ADMIN)
    committed, applied = client.wait_answers(sent, count=2, timeout=90)
    assert f"as of {good[:8]}" in block_text(committed) and "Applied" in block_text(applied)
    wait_for(lambda: setup.deployment_image("app1"), timeout=30, message="1.36", until=lambda i: i == "busybox:1.36")
    sha = remote_git(setup, "rev-parse", "main")
    assert remote_git(setup, "rev-parse", f"{sha}^") == newer  # a new commit on top: history kept
    assert remote_git(setup, "rev-parse", f"{sha}^{{tree}}") == remote_git(setup, "rev-parse", f"{good}^{{tree}}")


def test_pause_diff_sync_and_resume(setup: Setup, slack: ChatSlack) -> None:
    daemon, client = started(setup, slack)
    tenant = setup.platform.tenant
    paused = client.command(f"pause {tenant}", **ALICE)
    (answer,) = client.wait_answers(paused)
    assert f"Paused `{tenant}`" in block_text(answer) and answer["response_type"] == "in_channel"
    assert tenant in daemon.pauses.paused()

    setup.platform.apps["app1"]["spec"]["image"] = "busybox:1.37"
    newer = setup.commit("app1: busybox 1.37")
    synced = client.command(f"sync {tenant}", **ALICE)
    requested, finished = client.wait_answers(synced, count=2, timeout=60)
    assert "Sync requested by <@U0ALICE1> (respecting sync windows)" in block_text(requested)
    assert f"`{tenant}` is paused" in block_text(requested)
    assert "some changes wait" in block_text(finished) and "paused" in block_text(finished)
    assert setup.deployment_image("app1") == "busybox:1.36"

    diff = client.command("diff", **VIEWER)
    shown = block_text(client.wait_answers(diff)[0])
    assert "Pending changes" in shown and f"Deployment.apps/{tenant}/app1" in shown and "waits: paused" in shown
    status = client.command(f"status {tenant}", **VIEWER)
    assert "⏸️ paused" in block_text(client.wait_answers(status)[0])

    resumed = client.command(f"resume {tenant}", **ALICE)
    assert f"Resumed `{tenant}`" in block_text(client.wait_answers(resumed)[0])
    wait_for(lambda: setup.deployment_image("app1"), timeout=30, message="1.37", until=lambda i: i == "busybox:1.37")
    wait_for(
        lambda: daemon.reconciler.snapshot().applied_sha, timeout=30, message="applied", until=lambda a: a == newer
    )

    forced = client.command("sync --force", **ADMIN)
    requested, finished = client.wait_answers(forced, count=2, timeout=60)
    assert "ignoring sync windows" in block_text(requested)
    assert f"the cluster matches `{newer[:8]}`" in block_text(finished)
    results = {r.command: r.result for r in commands(daemon)}
    assert results[f"/dockyard pause {tenant}"] == "succeeded" and results["/dockyard diff"] == "allowed"
    assert results["/dockyard sync --force"] == "succeeded"


def test_without_slack_settings_there_is_no_slack_endpoint(
    setup: Setup, slack: ChatSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    daemon = setup.start()
    assert daemon.chat is None
    assert daemon.server is not None
    host, port = daemon.server.address
    status, _ = SlashClient(f"http://{host}:{port}/slack/events", slack).post(b"x=1", {})
    assert status == 404


def test_a_command_sent_to_the_standby_runs_once_on_the_leader(setup: Setup, slack: ChatSlack) -> None:
    leader, _ = started(setup, slack)
    standby = setup.start()
    wait_for(lambda: standby.reconciler.snapshot().ready, timeout=30, message="the standby to be ready")
    assert leader.is_leader() and not standby.is_leader()
    assert standby.server is not None
    host, port = standby.server.address
    to_standby = SlashClient(f"http://{host}:{port}/slack/events", slack)
    tenant = setup.platform.tenant

    sent = to_standby.command(f"status {tenant}", **ALICE)
    assert sent.status == 200  # the standby acknowledges at once and hands the command over
    (answer,) = to_standby.wait_answers(sent)
    assert f"Status of {tenant}" in block_text(answer), "the leader answered through the response_url"
    wait_for(lambda: commands(leader, f"status {tenant}"), timeout=10, message="the leader's audit record")
    time.sleep(2)  # a second run would have answered and recorded by now
    assert len([r for r in slack.responses if r["key"] == sent.key]) == 1, "run once"
    assert len(commands(leader, f"status {tenant}")) == 1
    executed = [e for sink in setup.sinks for e in sink.events if e.name == "command.executed"]
    assert len(executed) == 1 and executed[0] in setup.sinks[0].events, "only the leader speaks"
