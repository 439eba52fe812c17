"""``dockyard review``: the review of a merge request, posted on it from CI.

Compares ``--base`` with ``--head`` merged into it (as ``dockyard diff`` does, offline), then
writes one comment on the merge request (updated in place on later runs, never a second one) and
the ``dockyard/validate`` status on the head commit. The token comes from the environment
(``DOCKYARD_FORGE_TOKEN``, or ``DOCKYARD_GITHUB_TOKEN`` / ``DOCKYARD_GITLAB_TOKEN``), never from a
flag. Where the merge request is comes from flags or, in GitHub Actions and GitLab CI, from their
own variables. Exit codes: 0 reviewed (valid, held by the guard or not), 1 invalid or failed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daemon.commands.diff import add_revision_args, compare, write_full_diff
from daemon.errors import ConfigError
from daemon.model.forge import MergeRequest, Provider

_GITHUB_REF = re.compile(r"^refs/pull/(\d+)/(?:merge|head)$")
DEFAULT_API = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "review",
        help="post the review of a merge request on it (for CI)",
        description="Review a merge request offline and post the result on it: one comment, updated in "
        "place, and the dockyard/validate commit status. The token comes from DOCKYARD_FORGE_TOKEN.",
    )
    parser.add_argument("--provider", choices=["github", "gitlab"], required=True)
    add_revision_args(parser, head_default="HEAD")
    parser.add_argument(
        "--repository",
        help="owner/name on GitHub, the project id or path on GitLab (default: $GITHUB_REPOSITORY, $CI_PROJECT_ID)",
    )
    parser.add_argument(
        "--number",
        type=int,
        help="pull request number / merge request iid (default: from $GITHUB_REF, $CI_MERGE_REQUEST_IID)",
    )
    parser.add_argument("--source-branch", help="the merge request's branch (GitLab statuses name it)")
    parser.add_argument(
        "--fork",
        action="store_true",
        help="the head comes from a fork: validate only (GitLab CI is detected from its variables)",
    )
    parser.add_argument(
        "--api-url",
        help="the forge's API URL (default: $DOCKYARD_GITHUB_API_URL, $DOCKYARD_GITLAB_API_URL, the CI's)",
    )
    parser.set_defaults(func=run)


def _token(provider: Provider, environ: Mapping[str, str]) -> str:
    specific = "DOCKYARD_GITHUB_TOKEN" if provider == "github" else "DOCKYARD_GITLAB_TOKEN"
    token = environ.get(specific) or environ.get("DOCKYARD_FORGE_TOKEN") or ""
    if not token:
        raise ConfigError(f"no token: set DOCKYARD_FORGE_TOKEN (or {specific}) in the job's environment")
    return token


def api_url(provider: Provider, flag: str | None, environ: Mapping[str, str]) -> str:
    if flag:
        return flag
    if provider == "github":
        return environ.get("DOCKYARD_GITHUB_API_URL") or environ.get("GITHUB_API_URL") or DEFAULT_API["github"]
    return environ.get("DOCKYARD_GITLAB_API_URL") or environ.get("CI_API_V4_URL") or DEFAULT_API["gitlab"]


def merge_request(args: argparse.Namespace, head_sha: str, environ: Mapping[str, str]) -> MergeRequest:
    provider: Provider = args.provider
    fork = bool(args.fork)
    if provider == "github":
        repository = args.repository or environ.get("GITHUB_REPOSITORY", "")
        number = args.number
        match = _GITHUB_REF.match(environ.get("GITHUB_REF", ""))
        if number is None and match:
            number = int(match.group(1))
        source = args.source_branch or environ.get("GITHUB_HEAD_REF", "")
    else:
        repository = args.repository or environ.get("CI_PROJECT_ID", "")
        iid = environ.get("CI_MERGE_REQUEST_IID", "")
        number = args.number if args.number is not None else (int(iid) if iid.isdigit() else None)
        source = args.source_branch or environ.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "")
        source_project = environ.get("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "")
        target_project = environ.get("CI_MERGE_REQUEST_PROJECT_ID", "")
        fork = fork or bool(source_project and target_project and source_project != target_project)
    if not repository:
        raise ConfigError("--repository is needed (no $GITHUB_REPOSITORY or $CI_PROJECT_ID here)")
    if number is None or number < 1:
        raise ConfigError("--number is needed (no pull request in $GITHUB_REF, no $CI_MERGE_REQUEST_IID)")
    return MergeRequest(provider, repository, number, head_sha, args.base, source, fork)


def run(args: argparse.Namespace) -> int:
    from daemon.edges.forges import GitHubForge, GitLabForge
    from daemon.edges.revisions import RevisionReader
    from daemon.engine.mr_review import publish, reproduce_command

    environ = os.environ
    if args.head is None:
        args.head = "HEAD"
    token = _token(args.provider, environ)
    head_sha = RevisionReader.at(Path(args.repo)).resolve(args.head) if Path(args.repo).is_dir() else ""
    if not head_sha:
        raise ConfigError(f"--repo {args.repo}: no such directory")
    mr = merge_request(args, head_sha, environ)
    url = api_url(args.provider, args.api_url, environ)
    forge = GitHubForge(url, token) if args.provider == "github" else GitLabForge(url, token)
    note = "the full diff is the job's artifact" if args.full_diff_file else ""

    def compute() -> Any:
        comparison = compare(args, merge=True, validate_only=mr.fork)
        write_full_diff(comparison, args.full_diff_file)
        return comparison

    comparison = publish(forge, mr, compute, reproduce=reproduce_command(args.base, head_sha[:12]), full_diff_note=note)
    from daemon.views.review import review_markdown

    sys.stdout.write(review_markdown(comparison))
    return 1 if comparison.head_errors else 0
