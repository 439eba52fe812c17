"""``dockyard version``: print the version."""

from __future__ import annotations

import argparse
from typing import Any

from daemon import API_VERSION, __version__


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("version", help="print the version", description="Print the version.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(f"dockyard {__version__} (API {API_VERSION})")
    return 0
