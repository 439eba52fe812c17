"""Merge-request webhooks as GitHub and GitLab send them (payloads trimmed from their documented
examples), signed, and a remote that holds pull-request refs the way the forges keep them."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.review.repos import commit_change, example_repo, git

SECRET = "mr-webhook-secret"


def github_pull_request(
    action: str, number: int, head: str, *, base: str = "main", repo: str = "acme/platform", fork: str | None = None
) -> dict[str, Any]:
    head_repo = {
        "full_name": fork or repo,
        "fork": fork is not None,
        "clone_url": f"https://github.com/{fork or repo}.git",
    }
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "state": "open",
            "html_url": f"https://github.com/{repo}/pull/{number}",
            "head": {"ref": "feature", "sha": head, "repo": head_repo},
            "base": {"ref": base, "sha": "0" * 40, "repo": {"full_name": repo}},
        },
        "repository": {"full_name": repo},
        "sender": {"login": "octocat"},
    }


def gitlab_merge_request(
    action: str, iid: int, head: str, *, project: int = 42, source: int = 42, oldrev: str = ""
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "iid": iid,
        "action": action,
        "state": "opened",
        "source_branch": "feature",
        "target_branch": "main",
        "source_project_id": source,
        "target_project_id": project,
        "url": f"https://gitlab.example/acme/platform/-/merge_requests/{iid}",
        "last_commit": {"id": head},
    }
    if oldrev:
        attributes["oldrev"] = oldrev
    return {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "project": {"id": project, "path_with_namespace": "acme/platform"},
        "object_attributes": attributes,
        "changes": {},
    }


def post(
    url: str, provider: str, payload: dict[str, Any], *, secret: str = SECRET, delivery: str | None = None
) -> tuple[int, str]:
    body = json.dumps(payload).encode()
    delivery = delivery or str(uuid.uuid4())
    if provider == "github":
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature}
    else:
        headers = {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": secret, "Idempotency-Key": delivery}
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read().decode()


class Remote:
    """``<base>/acme/platform.git``: main, and the refs a forge keeps for pull requests."""

    def __init__(self, base: Path) -> None:
        self.work = base / "work"
        self.platform = example_repo(self.work)
        self.bare = base / "acme" / "platform.git"
        self.bare.parent.mkdir(parents=True)
        git(base, "clone", "-q", "--bare", str(self.work), str(self.bare))
        self.head = commit_change(self.work, self.platform)

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def publish(self, ref: str) -> None:
        git(self.work, "push", "-q", "--force", str(self.bare), f"HEAD:{ref}")

    def commit(self, path: str, old: str, new: str, message: str) -> str:
        file = self.platform / path
        file.write_text(file.read_text().replace(old, new))
        git(self.work, "commit", "-qam", message)
        self.head = git(self.work, "rev-parse", "HEAD")
        return self.head
