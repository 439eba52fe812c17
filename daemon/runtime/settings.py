"""The daemon's settings, built once from flags and the environment."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from daemon.errors import ConfigError


@dataclass(frozen=True)
class DaemonSettings:
    repo: str
    kubeconfig: str | None = None
    context: str | None = None
    branch: str | None = None
    tag: str | None = None
    commit: str | None = None
    subdir: str = ""
    workdir: Path = Path(".dockyard")
    interval_seconds: float | None = None  # None: the Platform's spec.sync.interval
    drift_interval_seconds: float | None = None
    listen: tuple[str, int] | None = ("127.0.0.1", 8080)
    namespace: str = "dockyard-system"
    leader_elect: bool = True
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}")
    lease_seconds: float = 15.0
    renew_seconds: float = 5.0
    webhook_secret: str | None = None
    git_token: str | None = None
    ssh_key: Path | None = None
    health_timeout: float = 120.0
    backoff_base: float = 5.0
    backoff_cap: float = 300.0
    concurrency: int = 8
    force_conflicts: bool = False
    watch_files: bool = True
    #: printed once the daemon is first ready (``make demo`` says what to try next)
    ready_note: str = ""


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError as e:
        raise ConfigError(f"--listen {value}: expected HOST:PORT") from e
