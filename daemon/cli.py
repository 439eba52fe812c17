"""The ``dockyard`` command: parses arguments and hands over to one command module.

Each subcommand lives in ``daemon.commands.<name>`` and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` to a callable taking the parsed namespace and returning the exit
code. Commands of other packages register through the ``dockyard.commands`` entry-point group
(the local dev cluster's ``dev-cluster`` does): the product never imports them. This module wires
them together and maps our errors to exit codes; it does nothing else.

Only the command being run is imported (``dockyard version`` loads no Kubernetes client, Slack or
scheduler, and ``render`` no Kubernetes client); ``--help`` and unknown words import them all, so
the listing and argparse's suggestions stay complete.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from daemon import __version__
from daemon.edges.logs import LOG_FORMATS
from daemon.edges.logs import configure as configure_logging
from daemon.errors import ConfigError, DockyardError, ValidationFailed

#: Top-level options that take a value (so the value is not mistaken for the command).
_VALUED_OPTIONS = frozenset({"--log-level", "--log-format"})

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "validate",
    "schema",
    "render",
    "plan",
    "diff",
    "review",
    "apply",
    "run",
    "history",
    "pause",
    "version",
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def command_in(argv: Sequence[str]) -> str | None:
    """The subcommand word of ``argv`` (the first argument that is not a top-level option)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUED_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the subcommand it names is registered (when it is one)."""
    chosen = command_in(argv) if argv is not None else None
    parser = argparse.ArgumentParser(
        prog="dockyard",
        description="Dockyard: a GitOps platform controller. Validates a platform repo, renders "
        "Kubernetes objects, plans and applies them, and keeps the cluster converged.",
    )
    parser.add_argument("--version", action="version", version=f"dockyard {__version__}")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log verbosity"
    )
    parser.add_argument(
        "--log-format",
        default="auto",
        choices=LOG_FORMATS,
        help="log lines as readable text or JSON (default auto: text on a terminal, JSON otherwise)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if chosen in COMMAND_MODULES:
        importlib.import_module(f"daemon.commands.{chosen}").register(subparsers)
        return parser
    for name in COMMAND_MODULES:
        importlib.import_module(f"daemon.commands.{name}").register(subparsers)
    # Scanning the installed distributions costs more than all of `dockyard version`: only here.
    from importlib.metadata import entry_points

    for entry in entry_points(group="dockyard.commands"):
        entry.load().register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    configure_logging(args.log_level, args.log_format)
    try:
        code: int = args.func(args)
    except ValidationFailed as e:
        for problem in e.problems:
            print(problem.format(), file=sys.stderr)
        errors = sum(1 for p in e.problems if p.severity == "error")
        print(f"dockyard: the platform repo is invalid ({errors} error(s)); nothing was done", file=sys.stderr)
        return EXIT_FAILURE
    except ConfigError as e:
        print(f"dockyard: {e}", file=sys.stderr)
        return EXIT_USAGE
    except DockyardError as e:
        print(f"dockyard: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
