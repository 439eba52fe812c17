"""Merge-request webhooks from GitHub (``pull_request``) and GitLab (``Merge Request Hook``).

Pure parsing of a request whose signature or token the caller has already verified (with
:mod:`daemon.edges.push_webhooks`, the same secret as pushes). Every field Dockyard uses is
checked before it goes anywhere near git: the head is a full commit id, the target branch a plain
branch name, the repository ``owner/name``; anything else is a :class:`~daemon.errors.WebhookError`.

Which events start a review (the forges' documented actions): GitHub ``opened``, ``reopened``,
``synchronize`` (new commits) and ``edited`` when the base changed; GitLab ``open``, ``reopen`` and
``update`` with new commits (``oldrev``) or a new target branch. Everything else (labels, approvals,
closing, merging, title edits) is answered and ignored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daemon.edges.push_webhooks import MAX_BODY_BYTES, Provider, header, json_payload
from daemon.errors import WebhookError
from daemon.model.forge import MergeRequest

_SHA = re.compile(r"^[0-9a-f]{40}$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]{1,100}(/[A-Za-z0-9_.-]{1,100}){1,20}$")
#: A branch name git accepts and that cannot be taken for an option or a refspec.
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)(?!.*@\{)[A-Za-z0-9._/+-]{1,200}(?<![./])$")
_GITHUB_ACTIONS = frozenset({"opened", "reopened", "synchronize"})
_GITLAB_ACTIONS = frozenset({"open", "reopen"})


@dataclass(frozen=True)
class MergeRequestHook:
    """What a merge-request webhook asks for: a review of ``mr``, or nothing (``ignored`` says why)."""

    mr: MergeRequest | None
    ignored: str = ""


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _text(data: Any, *keys: str) -> str:
    value = _get(data, *keys)
    return value if isinstance(value, str) else ""


def _checked(mr: MergeRequest) -> MergeRequest:
    what = f"{mr.provider} merge-request event"
    if not _SHA.match(mr.head_sha):
        raise WebhookError(f"{what}: the head {mr.head_sha[:50]!r} is not a full commit id")
    if not _BRANCH.match(mr.base_ref):
        raise WebhookError(f"{what}: the target branch {mr.base_ref[:50]!r} is not a branch name Dockyard reads")
    if mr.head_ref and not _BRANCH.match(mr.head_ref):
        raise WebhookError(f"{what}: the source branch {mr.head_ref[:50]!r} is not a branch name Dockyard reads")
    segments = mr.repository.split("/")
    if not (mr.repository.isdigit() or (_REPOSITORY.match(mr.repository) and not {".", ".."} & set(segments))):
        raise WebhookError(f"{what}: the repository {mr.repository[:50]!r} is not owner/name")
    if mr.number < 1 or mr.number > 10**9:
        raise WebhookError(f"{what}: {mr.number} is not a merge-request number")
    return mr


def _delivery(headers: Mapping[str, str], body: bytes, *names: str) -> str:
    for name in names:
        value = (header(headers, name) or "").strip()
        if value:
            return value
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _number(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise WebhookError(f"{what} without a number")
    return value


def parse_merge_request(provider: Provider, headers: Mapping[str, str], body: bytes) -> MergeRequestHook | None:
    """The review a verified request asks for; None when the request is no merge-request event."""
    if len(body) > MAX_BODY_BYTES:
        raise WebhookError(f"webhook body of {len(body)} bytes exceeds the limit of {MAX_BODY_BYTES}")
    if provider == "github":
        if (header(headers, "X-GitHub-Event") or "").strip().lower() != "pull_request":
            return None
        return _github(json_payload(headers, body), _delivery(headers, body, "X-GitHub-Delivery"))
    if (header(headers, "X-Gitlab-Event") or "").strip().lower() != "merge request hook":
        return None
    return _gitlab(json_payload(headers, body), _delivery(headers, body, "Idempotency-Key", "X-Gitlab-Event-UUID"))


def _github(payload: Mapping[str, Any], delivery: str) -> MergeRequestHook:
    action = _text(payload, "action")
    if action not in _GITHUB_ACTIONS and not (action == "edited" and _get(payload, "changes", "base")):
        return MergeRequestHook(None, f"pull_request action {action[:40] or '(none)'} needs no review")
    pr = _get(payload, "pull_request")
    if not isinstance(pr, Mapping):
        raise WebhookError("pull_request event without a pull_request")
    base_repo = _text(pr, "base", "repo", "full_name") or _text(payload, "repository", "full_name")
    head_repo = _text(pr, "head", "repo", "full_name")
    number = _number(_get(pr, "number") if _get(pr, "number") is not None else _get(payload, "number"), "pull_request")
    mr = MergeRequest(
        "github",
        repository=base_repo,
        number=number,
        head_sha=_text(pr, "head", "sha").lower(),
        base_ref=_text(pr, "base", "ref"),
        head_ref=_text(pr, "head", "ref"),
        # A deleted fork has no head repository: a fork all the same.
        fork=not head_repo or head_repo.lower() != base_repo.lower(),
        url=_text(pr, "html_url"),
        delivery=delivery,
        repository_path=base_repo,
    )
    return MergeRequestHook(_checked(mr))


def _gitlab(payload: Mapping[str, Any], delivery: str) -> MergeRequestHook:
    attributes = _get(payload, "object_attributes")
    if not isinstance(attributes, Mapping):
        raise WebhookError("Merge Request Hook without object_attributes")
    action = _text(attributes, "action")
    new_commits = bool(_text(attributes, "oldrev")) or bool(_get(payload, "changes", "target_branch"))
    if action not in _GITLAB_ACTIONS and not (action == "update" and new_commits):
        return MergeRequestHook(None, f"merge request action {action[:40] or '(none)'} needs no review")
    target = _get(attributes, "target_project_id")
    source = _get(attributes, "source_project_id")
    project = _get(payload, "project", "id")
    project_id = _number(project if project is not None else target, "Merge Request Hook project")
    mr = MergeRequest(
        "gitlab",
        repository=str(project_id),
        number=_number(_get(attributes, "iid"), "Merge Request Hook"),
        head_sha=_text(attributes, "last_commit", "id").lower(),
        base_ref=_text(attributes, "target_branch"),
        head_ref=_text(attributes, "source_branch"),
        fork=source is None or source != target,
        url=_text(attributes, "url"),
        delivery=delivery,
        repository_path=_text(payload, "project", "path_with_namespace"),
    )
    return MergeRequestHook(_checked(mr))
