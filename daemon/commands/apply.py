"""``dockyard apply``: converge the cluster with the platform repo once, then check health.

The command line obeys the daemon's rules: changes of tenants outside their sync window or paused
wait (they are listed as deferred), and scheduled scaling in force is rendered, unless an explicit
flag overrides a rule; every run is an audit record with the local user, the host and the
overrides used.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from daemon.commands._common import add_cluster_args, add_kube_args, add_repo_arg, audit, plan_repo, stderr_progress
from daemon.edges.terminal import use_colour
from daemon.model.clusters import windows_on
from daemon.policy.plan import changed_tenants, plan_tenants
from daemon.policy.windows import held_tenants
from daemon.render.provenance import sources
from daemon.state.pauses import PauseStore
from daemon.views.cycle import applied_changes, apply_counts, apply_errors, unhealthy
from daemon.views.paint import Painter
from daemon.views.plan import apply_json, apply_text, plan_text


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "apply",
        help="apply the platform repo to the cluster once",
        description="Validate, render, plan and server-side apply the changed objects in stages, prune what "
        "left Git (never Retain volumes or namespaces; mass deletions are held), then wait for health. Like the "
        "daemon, it holds back tenants outside their sync window or paused, unless told otherwise.",
    )
    add_repo_arg(parser)
    add_kube_args(parser)
    add_cluster_args(parser)
    parser.add_argument("--force-conflicts", action="store_true", help="take over fields owned by other managers")
    parser.add_argument("--allow-mass-prune", action="store_true", help="lift the prune.maxFraction guard once")
    parser.add_argument("--ignore-windows", action="store_true", help="apply outside sync windows (recorded)")
    parser.add_argument("--ignore-pauses", action="store_true", help="apply paused tenants too (recorded)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for health (default 300)")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for health")
    parser.add_argument("--output", "-o", choices=["text", "json"], default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    planned = plan_repo(args, force_conflicts=args.force_conflicts, now=started)
    paused = frozenset() if args.ignore_pauses else PauseStore(planned.manager.kube, namespace=args.namespace).paused()
    held = held_tenants(
        plan_tenants(planned.plan),
        paused=paused,
        windows=windows_on(planned.model.platform.sync.windows, planned.model.platform.clusters, planned.cluster),
        now=started,
        ignore_windows=args.ignore_windows,
    )
    plan = planned.plan.defer(held)
    written = sources(planned.model, plan.desired)
    paint = Painter(use_colour(sys.stdout))
    interactive = sys.stderr.isatty() and args.output == "text"
    if args.output == "text":
        print(plan_text(plan, paint, sources=written))
        for tenant, decision in sorted(held.items()):
            print(f"held back: {tenant or 'platform-level objects'}: {decision.reason}", file=sys.stderr)
    result = planned.manager.apply(
        plan,
        force_conflicts=args.force_conflicts,
        revision=planned.revision,
        wait=not args.no_wait,
        timeout=args.timeout,
        progress=stderr_progress if interactive else (lambda _: None),
    )
    flags = {
        "--ignore-windows": args.ignore_windows,
        "--ignore-pauses": args.ignore_pauses,
        "--force-conflicts": args.force_conflicts,
        "--allow-mass-prune": args.allow_mass_prune,
    }
    overrides = [flag for flag, on in flags.items() if on]
    audit(
        args,
        planned.manager.kube,
        kind="sync",
        started=started,
        result="succeeded" if result.ok else "failed",
        command=" ".join(["dockyard apply", *overrides]),
        revision=planned.revision,
        counts=apply_counts(result),
        changes=applied_changes(result),
        errors=apply_errors(result) + unhealthy(result),
        tenants=changed_tenants(plan),
        cluster=planned.cluster,
    )
    if args.output == "json":
        json.dump(apply_json(result, written), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(apply_text(result, paint))
    return 0 if result.ok else 1
