"""``dockyard run``: the long-running daemon that keeps the cluster converged with the repo."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daemon.runtime.settings import ClusterTarget, ConsoleSettings, DaemonSettings, ForgeSettings

from daemon.errors import ConfigError


def _duration(value: str) -> float:
    from daemon.loader.formats import parse_duration

    try:
        return float(parse_duration(value))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration such as 30s, 1m or 1h30m") from e


def _shard_count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= 1024:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of shards from 1 to 1024")
    return count


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
    parser.add_argument(
        "--cluster",
        default=None,
        metavar="NAME",
        help="the cluster of platform.yaml spec.clusters that --kubeconfig/--context reach: only what is "
        "placed there is applied (default: the default cluster)",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=KUBECONFIG[@CONTEXT]",
        help="another cluster of spec.clusters this daemon drives, through a kubeconfig file (a mounted "
        "Secret); repeatable. Each has its own cache, inventory, health and back-off; needs --cluster",
    )
    parser.add_argument(
        "--cluster-kubeconfigs",
        type=Path,
        default=None,
        metavar="DIR",
        help="the directory of the kubeconfig files that spec.clusters[].connection.kubeconfig names (a mounted "
        "Secret): the daemon drives every cluster the platform file gives a connection",
    )
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
    parser.add_argument(
        "--shards",
        type=_shard_count,
        default=1,
        metavar="N",
        help="split the tenants across the replicas in N shards, a Lease each (same N on every replica; default 1: "
        "the leader applies everything)",
    )
    parser.add_argument("--health-timeout", type=_duration, default=120.0, help="wait this long for health")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--force-conflicts", action="store_true", help="take fields owned by other managers")
    parser.add_argument("--no-watch", action="store_true", help="local directory: poll only, do not watch files")
    parser.add_argument("--ready-note", default="", help="a note to log once the daemon is first ready")
    parser.add_argument(
        "--allowed-signers",
        type=Path,
        help="SSH allowed_signers file: the keys trusted to sign commits (see spec.verify in platform.yaml)",
    )
    parser.add_argument("--trusted-gpg-keys", type=Path, help="armored OpenPGP public keys trusted to sign commits")
    parser.add_argument(
        "--require-signed-commits",
        action="store_true",
        help="refuse every commit not signed by a trusted key, whatever platform.yaml says",
    )
    console = parser.add_argument_group("the web console (served at / of --listen)")
    console.add_argument("--no-console", action="store_true", help="serve no console")
    console.add_argument(
        "--console-trusted-proxy",
        metavar="CIDRS",
        help="addresses or networks (comma-separated) of the OIDC proxy whose X-Forwarded-User/-Email/-Groups "
        "are believed; with DOCKYARD_CONSOLE_PROXY_SECRET set, the proxy must also send it as X-Dockyard-Proxy-Secret",
    )
    console.add_argument(
        "--console-tokens",
        type=Path,
        metavar="FILE",
        help="bearer tokens, one `TOKEN USER [GROUP,...]` per line (mount it from a Secret); also for /login",
    )
    console.add_argument(
        "--console-url",
        metavar="URL",
        help="the console's public address (https://dockyard.example.com): Origin checks compare with it and "
        "cookies are Secure when it is https",
    )
    parser.set_defaults(func=run)


def console_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> ConsoleSettings:
    """The console section: the token file is read here, once; its errors name file and line."""
    import hashlib

    from daemon.console.access import ProxyTrust, TokenBook, parse_tokens
    from daemon.runtime.settings import ConsoleSettings

    if args.no_console:
        return ConsoleSettings(enabled=False)
    secret = environ.get("DOCKYARD_CONSOLE_PROXY_SECRET") or None
    if secret and not args.console_trusted_proxy:
        raise ConfigError(
            "DOCKYARD_CONSOLE_PROXY_SECRET is set, but no --console-trusted-proxy says which proxy sends it"
        )
    proxy = ProxyTrust.parse(args.console_trusted_proxy, secret) if args.console_trusted_proxy else None
    tokens = TokenBook()
    if args.console_tokens is not None:
        try:
            text = args.console_tokens.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"--console-tokens {args.console_tokens}: cannot read it: {e}") from e
        tokens = parse_tokens(text, str(args.console_tokens))
    url = args.console_url.rstrip("/") if args.console_url else None
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError(f"--console-url {url}: expected http://HOST[:PORT] or https://HOST[:PORT]")
    key = environ.get("DOCKYARD_CONSOLE_SESSION_KEY") or ""
    if key and len(key) < 32:
        raise ConfigError("DOCKYARD_CONSOLE_SESSION_KEY must be at least 32 characters (e.g. `openssl rand -hex 32`)")
    if key:
        return ConsoleSettings(
            proxy=proxy,
            tokens=tokens,
            session_key=hashlib.sha256(key.encode()).digest(),
            session_key_shared=True,
            public_origin=url,
        )
    return ConsoleSettings(proxy=proxy, tokens=tokens, public_origin=url)


def settings_from(args: argparse.Namespace, environ: Mapping[str, str]) -> DaemonSettings:
    """Every setting of the daemon, read once here from the flags and the environment."""
    from daemon.chat.config import SlackConfig
    from daemon.commands._common import age_keys
    from daemon.edges.git import GitRemote, TrustedKeys
    from daemon.runtime import settings as s
    from notifiers.settings import NotifierSettings

    ssh_key = environ.get("DOCKYARD_GIT_SSH_KEY")

    def remote(url: str) -> GitRemote:
        return GitRemote(
            url,
            branch=args.branch,
            tag=args.tag,
            commit=args.commit,
            subdir=args.path,
            token=environ.get("DOCKYARD_GIT_TOKEN") or None,
            ssh_key=Path(ssh_key) if ssh_key else None,
        )

    if args.shards > 1 and args.no_leader_elect:
        raise ConfigError("--shards needs leader election: the replicas share the shards through Leases")
    leader = s.LeaderSettings(enabled=not args.no_leader_elect, shards=args.shards)
    if args.identity:
        leader = replace(leader, identity=args.identity)
    return s.DaemonSettings(
        source=s.source_settings(
            args.repo,
            remote,
            watch_files=not args.no_watch,
            trusted_keys=TrustedKeys(args.allowed_signers, args.trusted_gpg_keys),
            require_signed_commits=args.require_signed_commits,
        ),
        cluster=s.ClusterSettings(
            kubeconfig=args.kubeconfig,
            context=args.context,
            name=args.cluster,
            targets=tuple(cluster_target(t) for t in args.target),
            kubeconfigs_dir=args.cluster_kubeconfigs,
            namespace=args.namespace,
            concurrency=args.concurrency,
            force_conflicts=args.force_conflicts,
            health_timeout=args.health_timeout,
        ),
        schedule=s.ScheduleSettings(interval_seconds=args.interval, drift_interval_seconds=args.drift_interval),
        leader=leader,
        http=s.HttpSettings(
            listen=None if args.no_listen else s.parse_listen(args.listen),
            webhook_secret=environ.get("DOCKYARD_WEBHOOK_SECRET") or None,
        ),
        notifications=NotifierSettings.from_env(environ),
        slack=SlackConfig.from_env(environ),
        secrets=s.SecretSettings(age_keys=age_keys(environ)),
        console=console_settings(args, environ),
        forges=forge_settings(environ),
        workdir=args.workdir,
        ready_note=args.ready_note,
    )


def forge_settings(environ: Mapping[str, str]) -> ForgeSettings:
    """Merge-request reviews: a token per forge, or one for both (DOCKYARD_FORGE_TOKEN)."""
    from daemon.runtime.settings import ForgeSettings

    shared = environ.get("DOCKYARD_FORGE_TOKEN") or None
    return ForgeSettings(
        github_token=environ.get("DOCKYARD_GITHUB_TOKEN") or shared,
        gitlab_token=environ.get("DOCKYARD_GITLAB_TOKEN") or shared,
        github_api_url=environ.get("DOCKYARD_GITHUB_API_URL") or "https://api.github.com",
        gitlab_api_url=environ.get("DOCKYARD_GITLAB_API_URL") or "https://gitlab.com/api/v4",
    )


def run(args: argparse.Namespace) -> int:
    # Imported here: the daemon's dependencies are heavy and `dockyard --help` should stay fast.
    from daemon.runtime.daemon import Daemon

    settings = settings_from(args, os.environ)
    if not settings.cluster.kubeconfig and not os.environ.get("KUBERNETES_SERVICE_HOST"):
        raise ConfigError("no cluster: pass --kubeconfig, set KUBECONFIG, or run inside a pod")
    daemon = Daemon.from_settings(settings)

    def stop(signum: int, _frame: FrameType | None) -> None:
        print(f"dockyard: received {signal.Signals(signum).name}, stopping", file=sys.stderr)
        daemon.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    daemon.start()
    daemon.wait()
    return 0


def cluster_target(value: str) -> ClusterTarget:
    """``NAME=KUBECONFIG[@CONTEXT]`` of ``--target``."""
    from daemon.runtime.settings import ClusterTarget

    name, sep, rest = value.partition("=")
    kubeconfig, _, context = rest.partition("@")
    if not sep or not name or not kubeconfig:
        raise ConfigError(
            f"--target {value}: expected NAME=KUBECONFIG[@CONTEXT], e.g. us-east=/etc/dockyard/us.kubeconfig"
        )
    return ClusterTarget(name=name, kubeconfig=kubeconfig, context=context or None)
