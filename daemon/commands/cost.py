"""``dockyard cost [--tenant T]``: what the repo's tenants and apps cost a month, beside their quotas."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from daemon.commands._common import add_repo_arg, load_model, repo_path
from daemon.errors import ConfigError
from daemon.policy.estimate import estimate
from daemon.render import render
from daemon.views.cost import cost_json, cost_text

_PRICES_EXAMPLE = "prices: {currency: EUR, cpuCoreMonth: 20, memoryGiBMonth: 3, storageGiBMonth: 0.1}"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "cost",
        help="estimate the monthly cost per tenant and app",
        description="Estimate what the repo's tenants cost a month, per app, volume and snapshots, from "
        "requests, replicas (an Autoscaling's min..max), volumes and backups, at the prices of "
        "platform.yaml (spec.prices); each tenant's requests beside its quota.",
    )
    add_repo_arg(parser)
    parser.add_argument("--tenant", action="append", default=None, help="only this tenant (repeatable)")
    parser.add_argument("--output", "-o", choices=["text", "json"], default="text", help="output format")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(repo_path(args.repo))
    prices = model.platform.prices
    if prices is None:
        raise ConfigError(
            f"platform.yaml has no spec.prices, so there is nothing to cost with; add e.g. {_PRICES_EXAMPLE}"
        )
    known = [t.name for t in model.tenants]
    unknown = [t for t in args.tenant or () if t not in known]
    if unknown:
        raise ConfigError(f"no tenant {', '.join(map(repr, unknown))}; tenants: {', '.join(known)}")
    estimates = estimate(render(model), model, prices, args.tenant)
    if args.output == "json":
        json.dump(cost_json(estimates, prices.currency), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(cost_text(estimates, prices.currency))
    return 0
