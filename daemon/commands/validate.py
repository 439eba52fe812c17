"""``dockyard validate [PATH]``: check a platform repo and report every problem.

Exit codes: 0 valid, 1 invalid (or warnings with ``--strict``), 2 usage errors. Human output is one
``path:line:column: severity: message`` line per problem (the form editors and CI annotate), with
the hint on the next line; ``--output json`` prints one JSON object for machines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from daemon.errors import ConfigError, Problem, ValidationFailed
from daemon.loader import LoadResult, load_repo
from daemon.model.secrets import SecretData
from daemon.render import render

_COLOURS = {"error": "\033[31m", "warning": "\033[33m", "ok": "\033[32m", "bold": "\033[1m", "dim": "\033[2m"}
_RESET = "\033[0m"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a platform repo",
        description="Check a platform repo: YAML, schemas, templates and references. Prints every problem "
        "with file, line and column. Exit status: 0 valid, 1 invalid, 2 usage error.",
    )
    parser.add_argument("path", nargs="?", default=".", help="root of the platform repo (default: .)")
    parser.add_argument("--output", "-o", choices=["text", "json"], default="text", help="output format")
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = Path(args.path)
    if not root.exists():
        raise ConfigError(f"{args.path}: no such directory")
    if not root.is_dir():
        raise ConfigError(f"{args.path}: not a directory")
    result = rendered(load_repo(root))
    failed = bool(result.errors) or (args.strict and bool(result.warnings))
    if args.output == "json":
        json.dump(as_json(result, args.path, failed=failed), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        write_text(result, args.path, sys.stdout, colour=use_colour(sys.stdout), strict=args.strict)
    return 1 if failed else 0


def rendered(result: LoadResult) -> LoadResult:
    """``result`` with what only rendering finds (objects rendered twice or outside their tenant's
    namespace, patches that do not apply, manifests that take a rendered object's name), so that
    validate refuses every revision the daemon would refuse; Secrets render empty here:
    validation needs no key."""
    if result.model is None:
        return result
    sealed = {(s.tenant, s.name): SecretData({}) for s in result.model.secrets}
    try:
        render(result.model, "", secrets=sealed)
    except ValidationFailed as e:
        return LoadResult(None, tuple(sorted((*result.problems, *e.problems))), result.files, result.documents)
    return result


def use_colour(stream: TextIO) -> bool:
    """Colours only for a person at a terminal, and never when NO_COLOR is set (no-color.org)."""
    if "NO_COLOR" in os.environ:
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def display_path(root: str, file: str) -> str:
    """The problem's file as the user can open it from where they ran the command."""
    if root in (".", "./", ""):
        return file
    return (Path(root) / file).as_posix()


def format_problem(problem: Problem, root: str, *, colour: bool) -> str:
    def paint(text: str, style: str) -> str:
        return f"{_COLOURS[style]}{text}{_RESET}" if colour else text

    where = display_path(root, problem.file)
    if problem.line:
        where += f":{problem.line}:{problem.column}"
    line = f"{paint(where, 'bold')}: {paint(problem.severity, problem.severity)}: {problem.message}"
    if problem.path not in ("", "$"):
        line += f" {paint(f'(at {problem.path})', 'dim')}"
    if problem.hint:
        line += "\n    " + paint(f"hint: {problem.hint}", "dim")
    return line


def summary(result: LoadResult, *, strict: bool = False) -> tuple[str, bool]:
    """The last line, and whether it reports success."""
    errors, warnings = len(result.errors), len(result.warnings)
    if result.model is not None and not (strict and warnings):
        model = result.model
        counts = [
            (len(model.tenants), "tenant"),
            (len(model.apps), "app"),
            (len(model.jobs), "job"),
            (len(model.volumes), "volume"),
            (len(model.policies), "policy"),
            (len(model.autoscalings), "autoscaling"),
            (len(model.notification_lists), "notification list"),
            (len(model.templates), "template"),
        ]
        text = ", ".join(_plural(n, noun) for n, noun in counts) + " valid"
        if warnings:
            text += f" ({_plural(warnings, 'warning')})"
        return text, True
    files = len({p.file for p in result.problems})
    return f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')} in {_plural(files, 'file')}", False


def _plural(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    if noun.endswith("y") and not noun.endswith("ey"):
        return f"{count} {noun[:-1]}ies"
    return f"{count} {noun}s"


def write_text(result: LoadResult, root: str, stream: TextIO, *, colour: bool, strict: bool = False) -> None:
    for problem in result.problems:
        stream.write(format_problem(problem, root, colour=colour) + "\n")
    text, ok = summary(result, strict=strict)
    mark = "\u2713" if ok else "\u2717"
    try:
        mark.encode(stream.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        mark = "OK" if ok else "FAILED"
    line = f"{mark} {text}"
    if colour:
        line = f"{_COLOURS['ok' if ok else 'error']}{line}{_RESET}"
    stream.write(line + "\n")


def as_json(result: LoadResult, root: str, *, failed: bool) -> dict[str, Any]:
    model = result.model
    counts: dict[str, int] = {}
    if model is not None:
        counts = {
            "tenants": len(model.tenants),
            "apps": len(model.apps),
            "jobs": len(model.jobs),
            "volumes": len(model.volumes),
            "policies": len(model.policies),
            "autoscalings": len(model.autoscalings),
            "notificationLists": len(model.notification_lists),
            "templates": len(model.templates),
        }
    return {
        "valid": not failed,
        "root": root,
        "problems": [
            {
                "file": p.file,
                "line": p.line,
                "column": p.column,
                "severity": p.severity,
                "message": p.message,
                "path": p.path,
                "hint": p.hint,
                "code": p.code,
            }
            for p in result.problems
        ],
        "summary": {
            "errors": len(result.errors),
            "warnings": len(result.warnings),
            "filesWithProblems": len({p.file for p in result.problems}),
            "files": result.files,
            "documents": result.documents,
            **counts,
        },
    }
