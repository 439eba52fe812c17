"""``dockyard apply``: converge the cluster with the platform repo once, then check health."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from daemon.commands._common import add_kube_args, add_repo_arg, plan_repo, stderr_progress
from daemon.edges.terminal import use_colour
from daemon.render.provenance import sources
from daemon.views.paint import Painter
from daemon.views.plan import apply_json, apply_text, plan_text


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "apply",
        help="apply the platform repo to the cluster once",
        description="Validate, render, plan and server-side apply the changed objects in stages, prune what "
        "left Git (never Retain volumes or namespaces; mass deletions are held), then wait for health.",
    )
    add_repo_arg(parser)
    add_kube_args(parser)
    parser.add_argument("--force-conflicts", action="store_true", help="take over fields owned by other managers")
    parser.add_argument("--allow-mass-prune", action="store_true", help="lift the prune.maxFraction guard once")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for health (default 300)")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for health")
    parser.add_argument("--output", "-o", choices=["text", "json"], default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    planned = plan_repo(args, force_conflicts=args.force_conflicts)
    paint = Painter(use_colour(sys.stdout))
    interactive = sys.stderr.isatty() and args.output == "text"
    if args.output == "text":
        print(plan_text(planned.plan, paint, sources=sources(planned.model, planned.plan.desired)))
    result = planned.manager.apply(
        planned.plan,
        force_conflicts=args.force_conflicts,
        revision=planned.revision,
        wait=not args.no_wait,
        timeout=args.timeout,
        progress=stderr_progress if interactive else (lambda _: None),
    )
    if args.output == "json":
        json.dump(apply_json(result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(apply_text(result, paint))
    return 0 if result.ok else 1
