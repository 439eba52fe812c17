"""The daemon's settings: built once, at the command line's edge, from flags and the environment.

Nothing below ``commands/run.py`` reads ``os.environ`` or the flags: every part gets the frozen
section of these settings it needs, passed in explicitly.
"""

from __future__ import annotations

import secrets
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from daemon.chat.config import SlackConfig
from daemon.console.access import ProxyTrust, TokenBook
from daemon.edges.git import GitRemote, TrustedKeys
from daemon.edges.sops import AgeKeys
from daemon.errors import ConfigError
from notifiers.settings import NotifierSettings


@dataclass(frozen=True)
class SourceSettings:
    """Where revisions come from: a Git remote, or a local directory (development)."""

    remote: GitRemote | None = None
    local_path: Path | None = None
    #: local directory: watch it for changes instead of only polling
    watch_files: bool = True
    #: the keys trusted to sign commits (the repo's spec.verify decides whether signatures are needed)
    trusted_keys: TrustedKeys = field(default_factory=TrustedKeys)
    #: refuse unsigned or untrusted commits whatever the repo says
    require_signed_commits: bool = False

    def __post_init__(self) -> None:
        if (self.remote is None) == (self.local_path is None):
            raise ConfigError("the platform repo is either a Git remote or a local directory")


@dataclass(frozen=True)
class ClusterTarget:
    """Another cluster of spec.clusters the daemon drives (``--target NAME=KUBECONFIG[@CONTEXT]``),
    whatever its connection in the platform file says."""

    name: str
    kubeconfig: str
    context: str | None = None


@dataclass(frozen=True)
class ClusterSettings:
    kubeconfig: str | None = None
    context: str | None = None
    #: the cluster of platform.yaml spec.clusters this daemon drives (None: the default one)
    name: str | None = None
    #: the other clusters it drives, each with its own cache, inventory, health and back-off
    targets: tuple[ClusterTarget, ...] = ()
    #: where the kubeconfig files of spec.clusters[].connection.kubeconfig are (a mounted Secret)
    kubeconfigs_dir: Path | None = None
    #: where the lease, the inventory, the history and the pauses live
    namespace: str = "dockyard-system"
    concurrency: int = 8
    force_conflicts: bool = False
    health_timeout: float = 120.0


@dataclass(frozen=True)
class ScheduleSettings:
    #: None: the Platform's spec.sync.interval / driftCheckInterval
    interval_seconds: float | None = None
    drift_interval_seconds: float | None = None
    backoff_base: float = 5.0
    backoff_cap: float = 300.0


@dataclass(frozen=True)
class LeaderSettings:
    enabled: bool = True
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}")
    lease_seconds: float = 15.0
    renew_seconds: float = 5.0
    #: tenants split across the replicas in this many shards, a Lease each (1: not sharded)
    shards: int = 1


@dataclass(frozen=True)
class HttpSettings:
    #: None: serve no HTTP
    listen: tuple[str, int] | None = ("127.0.0.1", 8080)
    #: verifies GitHub/GitLab push webhooks; None: webhooks are off
    webhook_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SecretSettings:
    #: decrypts the repo's SOPS-encrypted Secrets; None: the daemon has no key
    age_keys: AgeKeys | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ForgeSettings:
    """Merge-request reviews: the forges' API URLs and tokens (a forge without a token: no reviews there)."""

    github_token: str | None = field(default=None, repr=False)
    gitlab_token: str | None = field(default=None, repr=False)
    github_api_url: str = "https://api.github.com"
    gitlab_api_url: str = "https://gitlab.com/api/v4"

    @property
    def enabled(self) -> bool:
        return bool(self.github_token or self.gitlab_token)


@dataclass(frozen=True)
class ConsoleSettings:
    """The web console at ``/``: who may sign in, and how."""

    enabled: bool = True
    #: the OIDC proxy whose X-Forwarded-User/-Groups are believed; None: no proxy sign-in
    proxy: ProxyTrust | None = None
    #: bearer tokens (from a file mounted from a Secret); empty: no token sign-in
    tokens: TokenBook = field(default_factory=TokenBook)
    #: signs session and CSRF cookies; replicas behind one Service need the same key
    session_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    #: True when the key came from the environment (shared), False when made up by this process
    session_key_shared: bool = False
    #: e.g. https://dockyard.example.com: Origin checks compare with it, cookies become Secure
    public_origin: str | None = None
    session_seconds: int = 12 * 3600


@dataclass(frozen=True)
class DaemonSettings:
    source: SourceSettings
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    leader: LeaderSettings = field(default_factory=LeaderSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    notifications: NotifierSettings = field(default_factory=NotifierSettings)
    slack: SlackConfig = field(default_factory=SlackConfig)
    secrets: SecretSettings = field(default_factory=SecretSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    forges: ForgeSettings = field(default_factory=ForgeSettings)
    #: the git cache, the chat commits' cache and the notification outbox
    workdir: Path = Path(".dockyard")
    #: logged once the daemon is first ready (``make demo`` says what to try next)
    ready_note: str = ""


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError as e:
        raise ConfigError(f"--listen {value}: expected HOST:PORT") from e


def source_settings(
    repo: str,
    remote: Callable[[str], GitRemote],
    *,
    watch_files: bool,
    trusted_keys: TrustedKeys | None = None,
    require_signed_commits: bool = False,
) -> SourceSettings:
    """A local directory that is not a bare repository is read as it is; anything else is a Git
    remote, built by ``remote`` from the URL."""
    local = Path(repo)
    is_local = "://" not in repo and local.is_dir() and not _is_bare_repo(local)
    return SourceSettings(
        remote=None if is_local else remote(repo),
        local_path=local if is_local else None,
        watch_files=watch_files,
        trusted_keys=trusted_keys or TrustedKeys(),
        require_signed_commits=require_signed_commits,
    )


def _is_bare_repo(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and not (path / ".git").exists()
