"""``dockyard history``: the daemon's recorded cycles and chat commands, newest first."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any, get_args

from daemon.commands._common import add_kube_args, kube_client
from daemon.errors import ConfigError
from daemon.model.audit import HistoryKind
from daemon.state.history import HistoryStore
from daemon.views.history import format_history


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "history",
        help="show what the daemon did: syncs, drift corrections, rejected commits, chat commands",
        description="Show the history the daemon keeps in the cluster, newest first.",
    )
    add_kube_args(parser)
    parser.add_argument("--limit", type=int, default=20, metavar="N", help="show at most N records (default: 20)")
    parser.add_argument("--output", "-o", choices=["text", "json"], default="text", help="output format")
    parser.add_argument("--kind", choices=list(get_args(HistoryKind)), default=None, help="only records of this kind")
    parser.add_argument("--name", default="dockyard-history", help="ConfigMap holding the history")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise ConfigError(f"--limit {args.limit}: must be at least 1")
    kube = kube_client(args)
    try:
        store = HistoryStore(kube, namespace=args.namespace, name=args.name)
        # Filter before limiting, so `--kind command --limit 5` shows five commands.
        records = store.list()
    finally:
        kube.close()
    if args.kind is not None:
        records = [r for r in records if r.kind == args.kind]
    records = records[: args.limit]
    if args.output == "json":
        print(json.dumps([asdict(r) for r in records], indent=2, ensure_ascii=False))
    else:
        print(format_history(records), end="")
    return 0
