"""``dockyard render``: print the Kubernetes objects a platform repo renders to, as YAML."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import yaml

from daemon.commands._common import (
    add_cluster_args,
    add_repo_arg,
    cluster_of,
    load_model,
    render_repo,
    repo_path,
    revision_of,
)
from daemon.policy.diff import mask_secret

#: libyaml's emitter when PyYAML was built with it (several times faster, the same YAML).
DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "render",
        help="print the rendered Kubernetes objects as YAML",
        description="Validate the platform repo and print every Kubernetes object it renders to, as a "
        "multi-document YAML stream in apply order (like `kustomize build`).",
    )
    add_repo_arg(parser)
    parser.add_argument("--tenant", help="only objects of this tenant")
    add_cluster_args(parser, kube=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = repo_path(args.repo)
    model = load_model(path)
    objects = render_repo(model, revision_of(path), os.environ, cluster=cluster_of(model, args))
    if args.tenant:
        objects = [o for o in objects if o["metadata"].get("labels", {}).get("dockyard.dev/tenant") == args.tenant]
    yaml.dump_all(
        (mask_secret(o) for o in objects),
        sys.stdout,
        Dumper=DUMPER,
        sort_keys=False,
        default_flow_style=False,
        explicit_start=True,
    )
    return 0
