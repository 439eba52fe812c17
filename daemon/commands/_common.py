"""Arguments and steps shared by the commands that read a platform repo or talk to a cluster."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.edges.kube import KubeClient
from daemon.edges.sops import AgeKeys
from daemon.engine.apply import ResourceManager
from daemon.engine.secrets import SecretOpener
from daemon.errors import ConfigError, SecretError
from daemon.model.kinds import PlatformModel
from daemon.policy.plan import Plan
from daemon.render import render
from daemon.state.inventory import InventoryStore


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


def load_model(path: Path) -> PlatformModel:
    from daemon.loader import load_or_raise

    return load_or_raise(path)


def age_keys(environ: Mapping[str, str]) -> AgeKeys | None:
    """The age identities that open the repo's encrypted Secrets: ``DOCKYARD_AGE_KEY`` (the key
    itself) or ``DOCKYARD_AGE_KEY_FILE`` (a keys.txt file); None when neither is set."""
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


def render_repo(model: PlatformModel, revision: str, environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """The repo's objects, its encrypted Secrets opened with the key in ``environ``."""
    return render(model, revision, secrets=SecretOpener(age_keys(environ)).open(model.secrets))


def kube_client(args: argparse.Namespace) -> KubeClient:
    return KubeClient(args.kubeconfig, context=args.context, max_connections=max(args.concurrency, 4))


def resource_manager(args: argparse.Namespace, kube: KubeClient) -> ResourceManager:
    return ResourceManager(kube, concurrency=args.concurrency, inventory=InventoryStore(kube, namespace=args.namespace))


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RepoPlan:
    """A repo's revision, planned against the cluster, with the manager that can apply it."""

    revision: str
    plan: Plan
    manager: ResourceManager


def plan_repo(args: argparse.Namespace, *, force_conflicts: bool = False) -> RepoPlan:
    """Validate and render ``--repo`` and plan it against ``--kubeconfig`` (plan and apply)."""
    path = repo_path(args.repo)
    model = load_model(path)
    revision = revision_of(path)
    manager = resource_manager(args, kube_client(args))
    plan = manager.plan(
        render_repo(model, revision, os.environ),
        max_fraction=model.platform.prune.max_fraction,
        allow_mass_prune=args.allow_mass_prune,
        force_conflicts=force_conflicts,
    )
    return RepoPlan(revision, plan, manager)
