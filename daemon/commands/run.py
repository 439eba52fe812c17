"""``dockyard run``: the long-running daemon that keeps the cluster converged with the repo."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daemon.runtime.settings import DaemonSettings

from daemon.errors import ConfigError


def _duration(value: str) -> float:
    from daemon.loader.formats import parse_duration

    try:
        return float(parse_duration(value))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration such as 30s, 1m or 1h30m") from e


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the daemon: poll the platform repo and keep the cluster converged",
        description="Poll (or watch) the platform repo, validate every commit, apply changes within sync "
        "windows, correct drift, and report through events, /metrics and history. Stops cleanly on "
        "SIGTERM/SIGINT between objects.",
    )
    parser.add_argument("--repo", required=True, help="git URL (https://, ssh://, file://) or a local directory")
    ref = parser.add_mutually_exclusive_group()
    ref.add_argument("--branch", help="branch to follow (default: the remote's HEAD)")
    ref.add_argument("--tag", help="tag to follow")
    ref.add_argument("--commit", help="pin one commit")
    parser.add_argument("--path", default="", help="subdirectory of the git repo that holds the platform repo")
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="kubeconfig (default: $KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--interval", type=_duration, help="poll interval (default: the Platform's spec.sync.interval)")
    parser.add_argument("--drift-interval", type=_duration, help="drift check interval (default: the Platform's)")
    parser.add_argument("--listen", default="127.0.0.1:8080", help="HTTP address for /healthz, /metrics, webhooks")
    parser.add_argument("--no-listen", action="store_true", help="serve no HTTP")
    parser.add_argument("--workdir", type=Path, default=Path(".dockyard"), help="git cache and outbox directory")
    parser.add_argument("--namespace", default="dockyard-system", help="namespace of the lease, inventory, history")
    parser.add_argument("--no-leader-elect", action="store_true", help="do not take part in leader election")
    parser.add_argument(
        "--identity",
        default=os.environ.get("DOCKYARD_IDENTITY"),
        help="this replica's name in the leader lease (default: $DOCKYARD_IDENTITY, else host + random)",
    )
    parser.add_argument("--health-timeout", type=_duration, default=120.0, help="wait this long for health")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--force-conflicts", action="store_true", help="take fields owned by other managers")
    parser.add_argument("--no-watch", action="store_true", help="local directory: poll only, do not watch files")
    parser.add_argument("--ready-note", default="", help="a note to log once the daemon is first ready")
    parser.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> DaemonSettings:
    from daemon.runtime.settings import DaemonSettings, parse_listen

    ssh_key = os.environ.get("DOCKYARD_GIT_SSH_KEY")
    kwargs: dict[str, Any] = {}
    if args.identity:
        kwargs["identity"] = args.identity
    return DaemonSettings(
        repo=args.repo,
        kubeconfig=args.kubeconfig,
        context=args.context,
        branch=args.branch,
        tag=args.tag,
        commit=args.commit,
        subdir=args.path,
        workdir=args.workdir,
        interval_seconds=args.interval,
        drift_interval_seconds=args.drift_interval,
        listen=None if args.no_listen else parse_listen(args.listen),
        namespace=args.namespace,
        leader_elect=not args.no_leader_elect,
        webhook_secret=os.environ.get("DOCKYARD_WEBHOOK_SECRET") or None,
        git_token=os.environ.get("DOCKYARD_GIT_TOKEN") or None,
        ssh_key=Path(ssh_key) if ssh_key else None,
        health_timeout=args.health_timeout,
        concurrency=args.concurrency,
        force_conflicts=args.force_conflicts,
        watch_files=not args.no_watch,
        ready_note=args.ready_note,
        **kwargs,
    )


def run(args: argparse.Namespace) -> int:
    # Imported here: the daemon's dependencies are heavy and `dockyard --help` should stay fast.
    from daemon.runtime.daemon import Daemon

    settings = settings_from(args)
    if not settings.kubeconfig and not os.environ.get("KUBERNETES_SERVICE_HOST"):
        raise ConfigError("no cluster: pass --kubeconfig, set KUBECONFIG, or run inside a pod")
    daemon = Daemon(settings)

    def stop(signum: int, _frame: FrameType | None) -> None:
        print(f"dockyard: received {signal.Signals(signum).name}, stopping", file=sys.stderr)
        daemon.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    daemon.start()
    daemon.wait()
    return 0
