"""``dockyard new tenant NAME``, ``new app TENANT NAME`` and ``new job TENANT NAME``: valid files to start from.

The files carry the schema modeline (editors check and complete them) and are validated with the
repo before the command returns: a name that is reserved, taken or not a DNS label, a template
that does not exist or parameters it does not take are refused, and nothing is left behind.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

import yaml

from daemon.commands._common import add_repo_arg, repo_path
from daemon.commands._writes import schema_ref, write_validated
from daemon.errors import ConfigError
from daemon.loader import catalog
from daemon.loader.repo import TENANT_FILES
from daemon.views.scaffold import app_text, document_text, tenant_text

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "new",
        help="write a new tenant or app to start from",
        description="Write the files of a new tenant or app into the repo, with the schema modeline, "
        "validated with the repo; an existing file is never overwritten without --force.",
    )
    kinds = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    tenant = kinds.add_parser("tenant", help="tenants/NAME/tenant.yaml")
    tenant.add_argument("name", help="the tenant (and its namespace)")
    app = _workload_parser(kinds, "app", "a repo template or catalog/NAME@VERSION (dockyard template list)")
    job = _workload_parser(
        kinds,
        "job",
        "a repo template or catalog/NAME@VERSION rendering a Job (catalog/cron-job@1)",
        help="tenants/TENANT/jobs/NAME.yaml: batch work, once or on a schedule",
    )
    job.add_argument("--schedule", default=None, metavar="CRON", help="run on this cron schedule (a CronJob)")
    for sub in (tenant, app, job):
        add_repo_arg(sub)
        sub.add_argument("--force", action="store_true", help="overwrite files that exist")
    tenant.set_defaults(func=run_tenant)
    app.set_defaults(func=run_app, kind="App", schedule=None)
    job.set_defaults(func=run_app, kind="Job")


def _workload_parser(
    kinds: argparse._SubParsersAction[Any], noun: str, template_help: str, *, help: str = ""
) -> argparse.ArgumentParser:
    """``new app`` or ``new job``: TENANT NAME, from --template with --param, or from --image."""
    parser: argparse.ArgumentParser = kinds.add_parser(noun, help=help or f"tenants/TENANT/{noun}s/NAME.yaml")
    parser.add_argument("tenant", help="an existing tenant")
    parser.add_argument("name", help=f"the {noun}")
    parser.add_argument("--template", default=None, help=template_help)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter (VALUE is YAML: 3, true, [a, b]); repeatable",
    )
    parser.add_argument(
        "--image",
        default=None,
        help=f"the container image of a{'n' if noun == 'app' else ''} {noun} without a template",
    )
    return parser


def _label(value: str, what: str) -> str:
    if not _LABEL.match(value) or len(value) > 63:
        raise ConfigError(
            f"{what} '{value}' is not a DNS label: at most 63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


def run_tenant(args: argparse.Namespace) -> int:
    root = repo_path(args.repo)
    name = _label(args.name, "tenant")
    rel = f"tenants/{name}/tenant.yaml"
    write_validated(root, {rel: tenant_text(name, schema_ref(root, rel, "Tenant"))}, force=args.force, scope=(rel,))
    print(f"wrote {rel}; the repo is valid. Add members and apps: dockyard new app {name} NAME")
    return 0


def _parameters(pairs: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {pair!r}: write KEY=VALUE")
        try:
            values[key] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"--param {key}: the value is not YAML ({e.__class__.__name__})") from e
    return values


def run_app(args: argparse.Namespace) -> int:
    """``new app`` and ``new job`` (args.kind): the document, and what a catalog entry adds."""
    root = repo_path(args.repo)
    kind = str(args.kind)
    noun = kind.lower()
    tenant = _label(args.tenant, "tenant")
    name = _label(args.name, noun)
    if not any((root / "tenants" / tenant / f).is_file() for f in TENANT_FILES):
        raise ConfigError(f"there is no tenant '{tenant}' (tenants/{tenant}/tenant.yaml); dockyard new tenant {tenant}")
    if args.template is None and not args.image:
        raise ConfigError(f"give the {noun} an --image, or make it from a --template (dockyard template list)")
    if args.template is not None and args.image:
        raise ConfigError(
            f"--image is for a{'n' if kind == 'App' else ''} {noun} without a template; "
            "pass the template's image as --param image=..."
        )
    if args.template is not None and args.schedule:
        raise ConfigError("--schedule is for a job without a template; pass it as --param schedule=...")
    parameters = _parameters(args.param)
    if parameters and args.template is None:
        raise ConfigError("--param is for a --template")
    folder = f"tenants/{tenant}"
    rel = f"{folder}/{noun}s/{name}.yaml"
    files = {
        rel: app_text(
            name,
            schema_ref(root, rel, kind),
            image=args.image,
            template=args.template,
            parameters=parameters,
            kind=kind,
            schedule=args.schedule,
        )
    }
    if catalog.is_ref(args.template):
        entry = catalog.find(args.template) if catalog.split_ref(args.template)[1] is not None else None
        for document in catalog.scaffolds(entry) if entry is not None else ():
            data = _filled(document.data, name)
            kind = str(data.get("kind"))
            extra = f"{folder}/{kind.lower()}s/{data.get('metadata', {}).get('name')}.yaml"
            files[extra] = document_text(data, schema_ref(root, extra, kind))
    write_validated(root, files, force=args.force, scope=(f"{folder}/",))
    for written in files:
        print(f"wrote {written}")
    print("the repo is valid.")
    return 0


def _filled(value: Any, app: str) -> Any:
    """``value`` with ``${app}`` in its strings replaced by the App's name."""
    if isinstance(value, str):
        return value.replace("${app}", app)
    if isinstance(value, list):
        return [_filled(v, app) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, app) for k, v in value.items()}
    return value
