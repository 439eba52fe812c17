"""``dockyard schema [KIND]``: print the JSON Schema of a kind, or list the kinds."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from daemon.errors import ConfigError
from daemon.loader.schemas import canonical_kind, schema, schema_path, schema_text
from daemon.model.kinds import KINDS


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of a kind",
        description="Print the JSON Schema (draft 2020-12) of a kind of the platform repo, or list the kinds. "
        "Editors use the same files through a '# yaml-language-server: $schema=...' line.",
    )
    parser.add_argument("kind", nargs="?", help="kind, case-insensitive (e.g. App); omit to list the kinds")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.kind is None:
        width = max(len(k) for k in KINDS)
        for kind in KINDS:
            description = schema(kind).get("description", "")
            print(f"{kind:<{width}}  {description}")
        print(f"\nschemas: {schema_path(KINDS[0]).parent}")
        return 0
    found = canonical_kind(args.kind)
    if found is None:
        raise ConfigError(f"unknown kind '{args.kind}'; kinds: {', '.join(KINDS)}")
    text = schema_text(found)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
