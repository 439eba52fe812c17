"""``dockyard diff``: what a change does to the rendered platform, offline (no cluster, no network).

Reads both revisions from the local git repository, validates and renders both, and prints the
review: the summary that matters (deletions, the mass-deletion guard, tenant boundaries, network
reachability, exposure, cost, sync windows), then the object diff by tenant. An invalid head
prints its problems with file:line in the same output. Exit codes: 0 (no change, or any change
without ``--detailed-exitcode``), 2 changes with ``--detailed-exitcode``, 1 errors.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daemon.edges.revisions import RevisionReader
from daemon.edges.terminal import use_colour
from daemon.engine.review import revision_trees
from daemon.errors import ConfigError
from daemon.policy.review import Comparison
from daemon.views.paint import Painter
from daemon.views.review import full_diff, review_json_text, review_markdown, review_text


def add_revision_args(parser: argparse.ArgumentParser, *, head_default: str) -> None:
    parser.add_argument(
        "--base", required=True, metavar="REF", help="the revision to compare with (branch, tag, commit)"
    )
    parser.add_argument("--head", default=None, metavar="REF", help=f"the revision to review (default: {head_default})")
    parser.add_argument(
        "--repo", default=".", metavar="PATH", help="the platform repo: a directory in a git work tree, or a bare repo"
    )
    parser.add_argument(
        "--full-diff-file",
        type=Path,
        metavar="PATH",
        help="also write every change with every field to PATH (a CI artifact for very large changes)",
    )


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="what a change does to the rendered platform (offline)",
        description="Validate and render two revisions of the platform repo and show what changes between "
        "them: a review summary, then the object diff grouped by tenant. Needs no cluster.",
    )
    add_revision_args(parser, head_default="the work tree as it is")
    parser.add_argument("--output", "-o", choices=["text", "json", "markdown"], default="text")
    parser.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when nothing changes, 2 when something does, 1 on errors",
    )
    parser.set_defaults(func=run)


def compare(args: argparse.Namespace, *, merge: bool = False, validate_only: bool = False) -> Comparison:
    """The comparison the revision flags ask for."""
    from daemon.engine.review import compare_trees

    path = Path(args.repo)
    if not path.is_dir():
        raise ConfigError(f"--repo {args.repo}: no such directory")
    reader = RevisionReader.at(path)
    with revision_trees(reader, args.base, args.head, work_tree=reader.work_tree, merge=merge) as (base, head, note):
        return compare_trees(base, head, now=datetime.now(UTC), note=note, validate_only=validate_only)


def write_full_diff(comparison: Comparison, target: Path | None) -> None:
    if target is None:
        return
    try:
        target.write_text(full_diff(comparison), encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"--full-diff-file {target}: cannot write it: {e.strerror or e}") from e


def run(args: argparse.Namespace) -> int:
    comparison = compare(args)
    write_full_diff(comparison, args.full_diff_file)
    if args.output == "json":
        sys.stdout.write(review_json_text(comparison))
    elif args.output == "markdown":
        sys.stdout.write(review_markdown(comparison))
    else:
        print(review_text(comparison, Painter(use_colour(sys.stdout))))
    if comparison.head_errors or comparison.base_errors:
        return 1
    if args.detailed_exitcode and comparison.has_changes:
        return 2
    return 0
