"""Merge-request reviews by two daemons on one cluster: a webhook the standby receives waits in
the cluster inbox, the leader alone posts, one comment per merge request, updated in place."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.edges.kube import KubeClient
from daemon.runtime.settings import ForgeSettings
from tests.daemon.harness import WEBHOOK_SECRET, Setup
from tests.fixtures_cluster import wait_for
from tests.forges.fakes import GITHUB_TOKEN, FakeForge, running_forge
from tests.forges.webhooks import github_pull_request, post
from tests.platforms import PlatformRepo, app_spec, doc, git


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    yield from running_forge()


@pytest.fixture
def setup(tmp_path: Path, kubeconfig: Path) -> Iterator[Setup]:
    prefix = f"mr-{secrets.token_hex(3)}"
    remote = tmp_path / "acme" / "platform.git"  # the repository the pull requests are on
    remote.parent.mkdir()
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    kube = KubeClient(str(kubeconfig))
    s = Setup(remote, work, PlatformRepo(work, prefix), kube, namespace=f"dockyard-{prefix}")
    s.kube_config = kubeconfig
    s.commit("initial platform")
    yield s
    for daemon in s.daemons:
        daemon.stop()
    kube.close()


def url(daemon: object) -> str:
    host, port = daemon.server.address  # type: ignore[attr-defined]
    return f"http://{host}:{port}/webhook/github"


def test_only_the_leader_posts_and_the_comment_is_updated_in_place(setup: Setup, forge: FakeForge) -> None:
    forges = ForgeSettings(github_token=GITHUB_TOKEN, github_api_url=forge.github_url)
    leader = setup.start(forges=forges)
    wait_for(lambda: leader.reconciler.snapshot().last_sync_time, timeout=120, message="the leader's first sync")
    standby = setup.start(forges=forges)
    wait_for(lambda: standby.reconciler.snapshot().ready, timeout=30, message="the standby to be ready")
    assert leader.is_leader() and not standby.is_leader()
    comments = forge.github_pr("acme/platform", 9)

    setup.platform.apps["app3"] = doc("App", "app3", app_spec(domains=[f"app3.{setup.platform.tenant}.example.com"]))
    setup.platform.write()
    git(setup.work, "checkout", "-q", "-b", "feature")
    git(setup.work, "add", "-A")
    git(setup.work, "commit", "-q", "-m", "app3")
    head = git(setup.work, "rev-parse", "HEAD")
    git(setup.work, "push", "-q", "origin", "HEAD:refs/pull/9/head")

    status, text = post(url(standby), "github", github_pull_request("opened", 9, head), secret=WEBHOOK_SECRET)
    assert status == 202 and "requested from the leader" in text
    wait_for(lambda: len(forge.statuses.get("acme/platform", {}).get(head, [])) == 2, timeout=60, message="the review")
    (comment,) = comments
    assert f"`new domain app3.{setup.platform.tenant}.example.com ({setup.platform.tenant}/app3)`" in comment["body"]
    assert [s["state"] for s in forge.statuses["acme/platform"][head]] == ["pending", "success"]
    assert standby.reviews is not None and standby.reviews.reviewed() == [], "the standby never posts"
    # The verdict is recorded just after its status is posted: wait for it, do not race it.
    assert leader.reviews is not None
    reviews = leader.reviews
    wait_for(
        lambda: [v for _, v in reviews.reviewed()],
        timeout=10,
        message="the review recorded",
        until=lambda v: v == ["valid"],
    )

    setup.platform.apps["app3"]["spec"]["replicas"] = 3
    setup.platform.write()
    git(setup.work, "commit", "-qam", "three")
    second = git(setup.work, "rev-parse", "HEAD")
    git(setup.work, "push", "-q", "--force", "origin", "HEAD:refs/pull/9/head")
    assert post(url(leader), "github", github_pull_request("synchronize", 9, second), secret=WEBHOOK_SECRET)[0] == 202
    wait_for(lambda: len(forge.statuses["acme/platform"].get(second, [])) == 2, timeout=60, message="the second review")
    assert len(comments) == 1 and second[:8] in comments[0]["body"] and head[:8] not in comments[0]["body"]
    assert len(forge.requests("POST", "/issues/9/comments")) == 1
