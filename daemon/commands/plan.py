"""``dockyard plan``: what an apply would change in the cluster, without changing it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from daemon.commands._common import add_cluster_args, add_kube_args, add_repo_arg, plan_repo
from daemon.edges.terminal import use_colour
from daemon.render.provenance import sources
from daemon.views.paint import Painter
from daemon.views.plan import plan_json, plan_markdown, plan_text


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show what an apply would change",
        description="Diff the rendered objects against the live cluster (server-side apply dry-run) and "
        "print the change set. Nothing is changed.",
    )
    add_repo_arg(parser)
    add_kube_args(parser)
    add_cluster_args(parser)
    parser.add_argument("--output", "-o", choices=["text", "json", "markdown"], default="text")
    parser.add_argument("--verbose", "-v", action="store_true", help="list unchanged objects too")
    parser.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when there is nothing to change, 2 when there are changes, 1 on errors",
    )
    parser.add_argument("--allow-mass-prune", action="store_true", help="plan as if the prune guard were lifted")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    planned = plan_repo(args)
    plan = planned.plan
    written = sources(planned.model, plan.desired)
    if args.output == "json":
        json.dump(plan_json(plan, written), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.output == "markdown":
        sys.stdout.write(plan_markdown(plan, revision=planned.revision, sources=written))
    else:
        print(plan_text(plan, Painter(use_colour(sys.stdout)), verbose=args.verbose, sources=written))
    if args.detailed_exitcode:
        return 2 if plan.changeset.has_changes else 0
    return 0
