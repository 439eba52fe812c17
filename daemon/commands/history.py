"""``dockyard history``: the audit trail (cycles, changes, commands, refusals), newest first,
filtered by tenant, user, kind and time; JSON lines for a central log platform."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from daemon.commands._common import add_kube_args, kube_client
from daemon.errors import ConfigError
from daemon.model.audit import HistoryKind
from daemon.state.history import AuditQuery, HistoryStore
from daemon.views.history import format_history


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "history",
        help="show what the daemon did: syncs, drift corrections, rejected commits, chat commands",
        description="Show the history the daemon keeps in the cluster, newest first.",
    )
    add_kube_args(parser)
    parser.add_argument("--limit", type=int, default=20, metavar="N", help="show at most N records (default: 20)")
    parser.add_argument(
        "--output", "-o", choices=["text", "json", "jsonl"], default="text", help="output format (jsonl: one per line)"
    )
    parser.add_argument(
        "--kind", "--action", choices=list(get_args(HistoryKind)), default=None, help="only records of this kind"
    )
    parser.add_argument("--tenant", default=None, help="only records that concern this tenant")
    parser.add_argument("--user", default=None, help="only records of this user or commit author (substring)")
    parser.add_argument("--since", type=_ago, default=None, metavar="DURATION", help="only the last DURATION (24h, 7d)")
    parser.add_argument("--name", default="dockyard-history", help="name prefix of the history ConfigMaps")
    parser.set_defaults(func=run)


def _ago(value: str) -> datetime:
    from daemon.loader.formats import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration such as 30m, 24h or 7d") from e
    return datetime.now(UTC) - timedelta(seconds=seconds)


def run(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise ConfigError(f"--limit {args.limit}: must be at least 1")
    kube = kube_client(args)
    query = AuditQuery(tenant=args.tenant, user=args.user, kind=args.kind, since=args.since, limit=args.limit)
    try:
        # Filtered before the limit, so `--kind command --limit 5` shows five commands.
        records = HistoryStore(kube, namespace=args.namespace, name=args.name).query(query)
    finally:
        kube.close()
    if args.output == "json":
        print(json.dumps([asdict(r) for r in records], indent=2, ensure_ascii=False))
    elif args.output == "jsonl":
        for r in records:
            print(r.to_json())
    else:
        print(format_history(records), end="")
    return 0
