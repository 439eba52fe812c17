"""Merge-request webhooks through the daemon's real endpoints and reviewer (no cluster: the leader
path), a real git remote holding pull-request refs, and the local forge."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from daemon.edges.forges import GitHubForge, GitLabForge
from daemon.edges.git import GitRemote, GitRepo
from daemon.edges.http import HttpServer
from daemon.engine.mr_review import MergeRequestReviewer
from daemon.engine.reconcile import DaemonState
from daemon.runtime.endpoints import Endpoints
from daemon.state.inbox import InboxRequest
from tests.forges.fakes import GITHUB_TOKEN, GITLAB_TOKEN, FakeForge
from tests.forges.webhooks import SECRET, Remote, github_pull_request, gitlab_merge_request, post


class Daemonish:
    """The daemon's review path wired as runtime/daemon.py wires it, with a leader switch."""

    def __init__(self, remote: Remote, forge: FakeForge, workdir: Path) -> None:
        self.leader = True
        self.handed: list[InboxRequest] = []
        self.reviewer = MergeRequestReviewer(
            GitRepo(GitRemote(remote.url), workdir),
            {
                "github": GitHubForge(forge.github_url, GITHUB_TOKEN),
                "gitlab": GitLabForge(forge.gitlab_url, GITLAB_TOKEN),
            },
            is_leader=lambda: self.leader,
        )
        self.server = HttpServer("127.0.0.1", 0, registry=CollectorRegistry())
        Endpoints(
            identity="replica-0",
            source=remote.url,
            snapshot=DaemonState,
            is_leader=lambda: self.leader,
            paused=frozenset,
            request_cycle=lambda trigger: None,
            webhook_secret=SECRET,
            hand_to_leader=self.handed.append,
            reviews=self.reviewer,
        ).add_to(self.server)

    def url(self, provider: str) -> str:
        host, port = self.server.address
        return f"http://{host}:{port}/webhook/{provider}"

    def settle(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.reviewer.reviewed()) >= count and self.reviewer.idle():
                return
            time.sleep(0.05)
        raise AssertionError(f"reviews done: {self.reviewer.reviewed()}")


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "forge-side")


@pytest.fixture
def daemon(remote: Remote, forge: FakeForge, tmp_path: Path) -> Iterator[Daemonish]:
    d = Daemonish(remote, forge, tmp_path / "review-git")
    d.server.start()
    d.reviewer.start()
    yield d
    d.reviewer.stop()
    d.server.stop()


def test_github_pull_request_reviewed_then_updated_in_place(
    remote: Remote, forge: FakeForge, daemon: Daemonish
) -> None:
    comments = forge.github_pr("acme/platform", 7)
    remote.publish("refs/pull/7/head")
    first = remote.head
    status, text = post(daemon.url("github"), "github", github_pull_request("opened", 7, first))
    assert status == 202 and "queued" in text
    daemon.settle(1)
    (comment,) = comments
    assert "`shop/web -> analytics/recommender: new: TCP 8080 (cross-tenant)`" in comment["body"]
    assert (
        "`PersistentVolumeClaim/monitoring/prometheus-data: deleted with its data (deletionPolicy Delete)`"
        in comment["body"]
    )
    assert [s["state"] for s in forge.statuses["acme/platform"][first]] == ["pending", "success"]
    # A push to the pull request: synchronize; the same comment is updated, the new head gets the status.
    second = remote.commit("tenants/analytics/recommender.yaml", "replicas: 2", "replicas: 3", "three replicas")
    remote.publish("refs/pull/7/head")
    assert post(daemon.url("github"), "github", github_pull_request("synchronize", 7, second))[0] == 202
    daemon.settle(2)
    assert len(comments) == 1 and second[:8] in comments[0]["body"] and first[:8] not in comments[0]["body"]
    assert [s["state"] for s in forge.statuses["acme/platform"][second]] == ["pending", "success"]
    assert len(forge.requests("POST", "/comments")) == 1 and len(forge.requests("PATCH")) == 1


def test_what_is_not_reviewed(remote: Remote, forge: FakeForge, daemon: Daemonish) -> None:
    remote.publish("refs/pull/7/head")
    head = remote.head
    assert post(daemon.url("github"), "github", github_pull_request("opened", 7, head), secret="wrong")[0] == 401
    status, text = post(daemon.url("github"), "github", github_pull_request("labeled", 7, head))
    assert status == 202 and "pull_request action labeled needs no review" in text
    status, text = post(daemon.url("github"), "github", github_pull_request("opened", 7, head, repo="acme/other"))
    assert status == 202 and "acme/other is not the platform repo" in text
    bad = github_pull_request("opened", 7, head)
    bad["pull_request"]["base"]["ref"] = "--upload-pack=evil"
    status, text = post(daemon.url("github"), "github", bad)
    assert status == 400 and "is not a branch name Dockyard reads" in text
    bad = github_pull_request("opened", 7, "HEAD~1")
    assert post(daemon.url("github"), "github", bad)[0] == 400
    assert post(daemon.url("gitlab"), "gitlab", gitlab_merge_request("approved", 3, head))[1].startswith(
        "ignored: merge request action approved"
    )
    assert post(daemon.url("gitlab"), "gitlab", gitlab_merge_request("update", 3, head))[1].startswith("ignored:"), (
        "no new commits"
    )
    time.sleep(0.5)
    assert daemon.reviewer.reviewed() == [] and forge.requests("POST") == []


def test_a_redelivery_is_reviewed_once_and_a_standby_hands_it_over(
    remote: Remote, forge: FakeForge, daemon: Daemonish
) -> None:
    forge.github_pr("acme/platform", 7)
    remote.publish("refs/pull/7/head")
    payload = github_pull_request("opened", 7, remote.head)
    assert post(daemon.url("github"), "github", payload, delivery="d-1")[0] == 202
    assert "duplicate" in post(daemon.url("github"), "github", payload, delivery="d-1")[1]
    daemon.settle(1)
    daemon.leader = False
    status, text = post(daemon.url("github"), "github", payload, delivery="d-2")
    assert status == 202 and "requested from the leader" in text
    (request,) = daemon.handed
    assert request.kind == "merge-request" and request.payload["head_sha"] == remote.head
    assert len(daemon.reviewer.reviewed()) == 1


def test_gitlab_fork_merge_request_is_validated_only(remote: Remote, forge: FakeForge, daemon: Daemonish) -> None:
    forge.gitlab_project("acme/platform", 42)
    notes = forge.gitlab_mr(42, 3)
    remote.publish("refs/merge-requests/3/head")
    head = remote.head
    assert post(daemon.url("gitlab"), "gitlab", gitlab_merge_request("open", 3, head, source=99))[0] == 202
    daemon.settle(1)
    (note,) = notes
    assert "comes from a fork: Dockyard **validated it only**" in note["body"]
    assert "Network reachability" not in note["body"]
    statuses = forge.gl_statuses[42][head]
    assert [(s["status"], s["ref"]) for s in statuses] == [("success", "feature")]


def test_a_head_that_is_not_there_is_an_error_on_the_merge_request(
    remote: Remote, forge: FakeForge, daemon: Daemonish
) -> None:
    comments = forge.github_pr("acme/platform", 7)
    remote.publish("refs/pull/7/head")
    assert post(daemon.url("github"), "github", github_pull_request("opened", 7, "b" * 40))[0] == 202
    daemon.settle(1)
    assert "Dockyard could not review this change" in comments[0]["body"]
    assert "is not in refs/pull/7/head" in comments[0]["body"]
    assert [s["state"] for s in forge.statuses["acme/platform"]["b" * 40]] == ["pending", "error"]
    assert daemon.reviewer.reviewed()[0][1].startswith("error: ")
