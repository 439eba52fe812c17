"""Parsing merge-request webhooks (pure): the events that start a review and the fields checked."""

from __future__ import annotations

import json
from typing import Any

import pytest

from daemon.edges.mr_webhooks import parse_merge_request
from daemon.errors import WebhookError
from tests.forges.webhooks import github_pull_request, gitlab_merge_request

HEAD = "c" * 40


def gh(payload: dict[str, Any], event: str = "pull_request") -> Any:
    return parse_merge_request(
        "github", {"x-github-event": event, "x-github-delivery": "d1"}, json.dumps(payload).encode()
    )


def gl(payload: dict[str, Any]) -> Any:
    return parse_merge_request(
        "gitlab", {"X-Gitlab-Event": "Merge Request Hook", "Idempotency-Key": "k1"}, json.dumps(payload).encode()
    )


def test_github_events() -> None:
    hook = gh(github_pull_request("synchronize", 7, HEAD.upper()))
    assert hook.mr is not None and hook.mr.head_sha == HEAD and hook.mr.delivery == "d1" and not hook.mr.fork
    assert hook.mr.fetch_ref == "refs/pull/7/head" and hook.mr.key == "github:acme/platform#7"
    edited = github_pull_request("edited", 7, HEAD)
    assert gh(edited).mr is None and "edited needs no review" in gh(edited).ignored
    edited["changes"] = {"base": {"ref": {"from": "develop"}}}
    assert gh(edited).mr is not None
    assert gh(github_pull_request("closed", 7, HEAD)).mr is None
    assert gh(github_pull_request("opened", 7, HEAD), event="push") is None, "a push is not parsed here"
    fork = gh(github_pull_request("opened", 7, HEAD, fork="mallory/platform")).mr
    assert fork.fork and fork.repository == "acme/platform"
    deleted = github_pull_request("opened", 7, HEAD)
    deleted["pull_request"]["head"]["repo"] = None
    assert gh(deleted).mr.fork, "a fork that was deleted is a fork"


def test_gitlab_events() -> None:
    assert gl(gitlab_merge_request("open", 3, HEAD)).mr.fetch_ref == "refs/merge-requests/3/head"
    assert gl(gitlab_merge_request("update", 3, HEAD)).mr is None
    assert gl(gitlab_merge_request("update", 3, HEAD, oldrev="d" * 40)).mr is not None
    retarget = gitlab_merge_request("update", 3, HEAD)
    retarget["changes"] = {"target_branch": {"previous": "main", "current": "release"}}
    assert gl(retarget).mr is not None
    fork = gl(gitlab_merge_request("open", 3, HEAD, source=99)).mr
    assert fork.fork and fork.repository == "42" and fork.repository_path == "acme/platform"
    assert gl(gitlab_merge_request("merge", 3, HEAD)).mr is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sha", "abc", "is not a full commit id"),
        ("base", "main..evil", "is not a branch name"),
        ("base", "-x", "is not a branch name"),
        ("base", "a b", "is not a branch name"),
        ("repo", "../../etc", "is not owner/name"),
        ("number", True, "without a number"),
    ],
)
def test_hostile_fields_are_refused(field: str, value: Any, message: str) -> None:
    payload = github_pull_request("opened", 7, HEAD)
    if field == "sha":
        payload["pull_request"]["head"]["sha"] = value
    elif field == "base":
        payload["pull_request"]["base"]["ref"] = value
    elif field == "repo":
        payload["pull_request"]["base"]["repo"]["full_name"] = value
    else:
        payload["pull_request"]["number"] = value
    with pytest.raises(WebhookError, match=message):
        gh(payload)


def test_junk_bodies() -> None:
    for body in (b"[]", b"not json", json.dumps({"action": "opened"}).encode()):
        with pytest.raises(WebhookError):
            parse_merge_request("github", {"X-GitHub-Event": "pull_request"}, body)
    with pytest.raises(WebhookError, match="exceeds the limit"):
        parse_merge_request("github", {"X-GitHub-Event": "pull_request"}, b" " * (1024 * 1024 + 1))
