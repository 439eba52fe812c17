"""``dockyard canary promote|abort TENANT APP``: end a canary with a commit to the platform repo."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from daemon.commands._common import repo_path
from daemon.errors import ChatError, ConfigError


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "canary",
        help="promote or abort an App's canary, as a commit",
        description="Commit the end of an App's canary to the platform repo (a git work tree): promote makes "
        "the canary's image the App's, abort removes the canary. The daemon applies the commit like any "
        "other and announces canary.promoted or canary.aborted.",
    )
    parser.add_argument("outcome", choices=["promote", "abort"])
    parser.add_argument("tenant")
    parser.add_argument("app")
    parser.add_argument("--repo", default=".", metavar="PATH", help="platform repo work tree (default: .)")
    parser.add_argument(
        "--branch", action="store_true", help="commit to a new branch dockyard/canary-... for review instead"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from daemon.chat.gitops import GitOps, Requester

    path = repo_path(args.repo)
    gitops = GitOps.for_local(path)
    if not gitops.available:
        raise ConfigError(f"--repo {args.repo}: {gitops.describe().removeprefix('nowhere: ')}")
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    try:
        result = gitops.canary(
            args.tenant,
            args.app,
            args.outcome,
            requester=Requester("", user, via="CLI"),
            mode="branch" if args.branch else "direct",
        )
    except ChatError as e:
        print(f"dockyard: {e}" + (f" ({e.hint})" if e.hint else ""), file=sys.stderr)
        return 1
    print(f"committed {result.short_sha} to {result.branch}: {result.summary}")
    return 0
