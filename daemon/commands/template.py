"""``dockyard template list|show``: the catalog's templates and the repo's, what each takes and renders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from daemon.errors import ConfigError, ValidationFailed
from daemon.loader import catalog
from daemon.loader.shapes import TemplateShape, shapes
from daemon.views.templates import template_list, template_show


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "template",
        help="list the catalog's and the repo's templates, or show one",
        description="The templates an App can be made from: Dockyard's catalog (catalog/NAME@VERSION) "
        "and the repo's templates/. `show` prints a template's parameters (types, defaults, docs) and "
        "the App spec it renders.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every template, with its title")
    listing.add_argument("--repo", default=None, metavar="PATH", help="also list this repo's templates/")
    listing.set_defaults(func=run_list)
    show = actions.add_parser("show", help="what one template takes and renders")
    show.add_argument(
        "name",
        help="catalog/NAME@VERSION, NAME@VERSION or NAME (its newest version), or a repo template",
    )
    show.add_argument("--repo", default=None, metavar="PATH", help="the repo whose templates/ to look in too")
    show.set_defaults(func=run_show)


def _shapes(repo: str | None) -> dict[str, TemplateShape]:
    root = None
    if repo is not None:
        root = Path(repo)
        if not root.is_dir():
            raise ConfigError(f"--repo {repo}: no such directory")
    found, problems = shapes(root)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ValidationFailed(errors)
    return found


def run_list(args: argparse.Namespace) -> int:
    sys.stdout.write(template_list(_shapes(args.repo).values()))
    return 0


def run_show(args: argparse.Namespace) -> int:
    found = _shapes(args.repo)
    name = str(args.name)
    shape = found.get(name)  # a repo template, or catalog/NAME@VERSION
    if shape is None:
        entry = catalog.find(name)  # NAME@VERSION, or NAME for its newest version
        shape = found.get(entry.ref) if entry is not None else None
    if shape is None:
        repo_names = [n for n in found if not catalog.is_ref(n)]
        hint = catalog.unknown(name if catalog.is_ref(name) else catalog.PREFIX + name)
        if repo_names:
            hint += "; the repo has: " + ", ".join(repo_names)
        elif args.repo is None:
            hint += " (pass --repo to look in a repo's templates/ too)"
        raise ConfigError(f"unknown template '{name}': {hint}")
    sys.stdout.write(template_show(shape))
    return 0
