"""``dockyard pause TENANT`` and ``dockyard resume TENANT``: hold a tenant's changes back.

A paused tenant's changes are planned and announced but not applied (nor pruned) until it is
resumed; the state lives in the cluster, so every replica of the daemon honours it at once.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from daemon.commands._common import add_kube_args, audit, kube_client
from daemon.state.pauses import PauseStore


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    for name, verb in (("pause", "hold back"), ("resume", "apply again")):
        parser = subparsers.add_parser(
            name,
            help=f"{verb} a tenant's changes",
            description=f"{name.capitalize()} a tenant: the daemon will {verb} its changes. "
            "Without a tenant, list the paused tenants.",
        )
        parser.add_argument("tenant", nargs="?", help="tenant name ('*' pauses the platform-level objects too)")
        add_kube_args(parser)
        parser.set_defaults(func=run, action=name)


def run(args: argparse.Namespace) -> int:
    kube = kube_client(args)
    store = PauseStore(kube, namespace=args.namespace)
    if args.tenant:
        started = datetime.now(UTC)
        if args.action == "pause":
            store.pause(args.tenant)
        else:
            store.resume(args.tenant)
        audit(
            args,
            kube,
            kind="command",
            started=started,
            result="succeeded",
            command=f"dockyard {args.action} {args.tenant}",
            tenants=[] if args.tenant == "*" else [args.tenant],
        )
    paused = sorted(store.paused())
    print("paused: " + (", ".join(paused) if paused else "none"))
    return 0
