"""Arguments and steps shared by the commands that read a platform repo or talk to a cluster."""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.errors import ConfigError, DockyardError, SecretError

if TYPE_CHECKING:  # imported where used: `render` and `validate` load no Kubernetes client
    from daemon.edges.kube import KubeClient
    from daemon.edges.sops import AgeKeys
    from daemon.engine.apply import ResourceManager
    from daemon.model.audit import HistoryKind, HistoryResult
    from daemon.model.kinds import PlatformModel, ScaleSchedule
    from daemon.policy.plan import Plan


def add_repo_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", default=".", metavar="PATH", help="platform repo checkout (default: .)")


def add_kube_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig", default=os.environ.get("KUBECONFIG"), help="kubeconfig file (default: $KUBECONFIG)"
    )
    parser.add_argument("--context", default=None, help="kubeconfig context")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel API requests (default: 8)")
    parser.add_argument(
        "--namespace", default="dockyard-system", help="namespace of Dockyard's inventory (default: dockyard-system)"
    )


def add_cluster_args(parser: argparse.ArgumentParser, *, kube: bool = True) -> None:
    parser.add_argument(
        "--cluster",
        default=None,
        metavar="NAME",
        help="a cluster of platform.yaml spec.clusters: only what is placed there (default: the default cluster)",
    )
    if kube:
        parser.add_argument(
            "--cluster-kubeconfigs",
            default=None,
            metavar="DIR",
            help="the directory of the kubeconfig files clusters name in connection.kubeconfig (a mounted Secret)",
        )


def cluster_of(model: PlatformModel, args: argparse.Namespace) -> str | None:
    """The cluster ``--cluster`` names (checked), else the platform's default; None without spec.clusters."""
    from daemon.model.clusters import target

    name = target(model.platform.clusters, args.cluster)
    if name is not None and model.platform.cluster(name) is None:
        known = ", ".join(c.name for c in model.platform.clusters) or "none: platform.yaml has no spec.clusters"
        raise ConfigError(f"--cluster {name}: no such cluster in platform.yaml (clusters: {known})")
    return name


def connect_to(model: PlatformModel, args: argparse.Namespace) -> None:
    """Point ``args.kubeconfig``/``args.context`` at the cluster being driven: its connection in
    platform.yaml, unless ``--context`` says otherwise."""
    name = cluster_of(model, args)
    cluster = model.platform.cluster(name) if name is not None else None
    if cluster is None:
        return
    if cluster.kubeconfig is not None:
        if not args.cluster_kubeconfigs:
            raise ConfigError(
                f"cluster '{cluster.name}' is reached with the kubeconfig file '{cluster.kubeconfig}': "
                "give the directory that holds it with --cluster-kubeconfigs DIR"
            )
        args.kubeconfig = str(Path(args.cluster_kubeconfigs) / cluster.kubeconfig)
    if args.context is None:
        args.context = cluster.context


def repo_path(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise ConfigError(f"--repo {value}: no such directory")
    return path


def revision_of(path: Path) -> str:
    """The commit checked out at ``path``, or ``""`` when it is not in a git work tree."""
    try:
        out = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def load_model(path: Path, *, reserved_namespaces: tuple[str, ...] = ()) -> PlatformModel:
    from daemon.loader import load_or_raise

    return load_or_raise(path, reserved_namespaces=reserved_namespaces)


def age_keys(environ: Mapping[str, str]) -> AgeKeys | None:
    """The age identities that open the repo's encrypted Secrets: ``DOCKYARD_AGE_KEY`` (the key
    itself) or ``DOCKYARD_AGE_KEY_FILE`` (a keys.txt file); None when neither is set."""
    from daemon.edges.sops import AgeKeys

    text, origin = environ.get("DOCKYARD_AGE_KEY"), "DOCKYARD_AGE_KEY"
    path = environ.get("DOCKYARD_AGE_KEY_FILE")
    if not text and path:
        origin = f"DOCKYARD_AGE_KEY_FILE ({path})"
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read {origin}: {getattr(e, 'strerror', None) or type(e).__name__}") from e
    if not text:
        return None
    try:
        return AgeKeys.parse(text, origin=origin)
    except SecretError as e:
        raise ConfigError(str(e)) from e


def render_repo(
    model: PlatformModel,
    revision: str,
    environ: Mapping[str, str],
    schedules: Mapping[tuple[str, str], ScaleSchedule] | None = None,
    cluster: str | None = None,
) -> list[dict[str, Any]]:
    """The repo's objects (those placed on ``cluster``, when given), its encrypted Secrets opened
    with the key in ``environ``."""
    from daemon.engine.secrets import SecretOpener
    from daemon.render import render

    secrets = SecretOpener(age_keys(environ)).open(model.secrets)
    return render(model, revision, schedules, secrets=secrets, cluster=cluster)


def kube_client(args: argparse.Namespace) -> KubeClient:
    from daemon.edges.kube import KubeClient

    return KubeClient(args.kubeconfig, context=args.context, max_connections=max(args.concurrency, 4))


def resource_manager(args: argparse.Namespace, kube: KubeClient) -> ResourceManager:
    from daemon.engine.apply import ResourceManager
    from daemon.state.inventory import InventoryStore

    return ResourceManager(kube, concurrency=args.concurrency, inventory=InventoryStore(kube, namespace=args.namespace))


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RepoPlan:
    """A repo's revision, planned against the cluster, with the manager that can apply it."""

    revision: str
    model: PlatformModel
    plan: Plan
    manager: ResourceManager
    cluster: str | None = None  # the cluster of spec.clusters planned (None: a platform without clusters)


def plan_repo(args: argparse.Namespace, *, force_conflicts: bool = False, now: datetime | None = None) -> RepoPlan:
    """Validate and render ``--repo`` (with the scheduled scaling in force ``now``, as the daemon
    renders it) and plan it against ``--kubeconfig`` (plan and apply)."""
    from daemon.policy.windows import active_scale_schedules

    path = repo_path(args.repo)
    model = load_model(path, reserved_namespaces=(args.namespace,))
    revision = revision_of(path)
    connect_to(model, args)
    cluster = cluster_of(model, args)
    manager = resource_manager(args, kube_client(args))
    schedules = active_scale_schedules(model.autoscalings, now or datetime.now(UTC))
    plan = manager.plan(
        render_repo(model, revision, os.environ, schedules, cluster),
        max_fraction=model.platform.prune.max_fraction,
        allow_mass_prune=args.allow_mass_prune,
        force_conflicts=force_conflicts,
        imperative_managers=model.platform.sync.imperative_managers,
    )
    return RepoPlan(revision, model, plan, manager, cluster)


def operator() -> tuple[str, str]:
    """Who runs this command, and where: the local user and host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        user = f"uid {os.getuid()}"
    return user, socket.gethostname()


def audit(
    args: argparse.Namespace,
    kube: KubeClient,
    *,
    kind: HistoryKind,
    started: datetime,
    result: HistoryResult,
    command: str,
    revision: str = "",
    counts: Mapping[str, int] | None = None,
    changes: Sequence[str] = (),
    errors: Sequence[str] = (),
    tenants: Sequence[str] = (),
    cluster: str | None = None,
) -> None:
    """Writes the audit record of an operator action to the daemon's audit trail; a record that
    cannot be written is said loudly (the action itself has happened)."""
    from daemon.model.audit import HistoryRecord, new_record_id
    from daemon.state.history import HistoryStore

    user, host = operator()
    finished = datetime.now(UTC)
    record = HistoryRecord(
        id=new_record_id(started.timestamp()),
        kind=kind,
        started=started.isoformat(),
        finished=finished.isoformat(),
        revision=revision,
        author="",
        message=command,
        trigger="cli",
        result=result,
        counts=dict(counts or {}),
        changes=list(changes)[:100],
        errors=list(errors)[:50],
        duration_seconds=round((finished - started).total_seconds(), 3),
        user=user,
        host=host,
        command=command,
        tenants=sorted(set(tenants)),
        cluster=cluster or "",
    )
    try:
        HistoryStore(kube, namespace=args.namespace).append(record)
    except DockyardError as e:
        print(f"dockyard: warning: could not write the audit record of `{command}`: {e}", file=sys.stderr)
