"""Daemon settings for tests, built the way ``dockyard run`` builds them (the environment is read
here, once, for the notifier and Slack sections, as the command's edge does)."""

from __future__ import annotations

import os
from pathlib import Path

from daemon.chat.config import SlackConfig
from daemon.edges.git import GitRemote, TrustedKeys
from daemon.runtime import settings as s
from notifiers.settings import NotifierSettings


def daemon_settings(
    *,
    repo: str,
    kubeconfig: Path,
    workdir: Path,
    namespace: str,
    identity: str,
    branch: str | None = None,
    listen: tuple[str, int] | None = None,
    webhook_secret: str | None = None,
    interval_seconds: float = 3600,  # only explicit triggers, unless a test asks otherwise
    drift_interval_seconds: float = 3600,
    health_timeout: float = 60,
    lease_seconds: float = 3,
    renew_seconds: float = 0.5,
    watch_files: bool = False,
    force_conflicts: bool = False,
    backoff_base: float = 5.0,
    backoff_cap: float = 300.0,
    trusted_keys: TrustedKeys | None = None,
    require_signed_commits: bool = False,
    forges: s.ForgeSettings | None = None,
    cluster_name: str | None = None,
    targets: tuple[s.ClusterTarget, ...] = (),
    kubeconfigs_dir: Path | None = None,
    shards: int = 1,
) -> s.DaemonSettings:
    return s.DaemonSettings(
        source=s.source_settings(
            repo,
            lambda url: GitRemote(url, branch=branch),
            watch_files=watch_files,
            trusted_keys=trusted_keys,
            require_signed_commits=require_signed_commits,
        ),
        cluster=s.ClusterSettings(
            kubeconfig=str(kubeconfig),
            namespace=namespace,
            force_conflicts=force_conflicts,
            health_timeout=health_timeout,
            name=cluster_name,
            targets=targets,
            kubeconfigs_dir=kubeconfigs_dir,
        ),
        schedule=s.ScheduleSettings(
            interval_seconds=interval_seconds,
            drift_interval_seconds=drift_interval_seconds,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
        ),
        leader=s.LeaderSettings(
            identity=identity, lease_seconds=lease_seconds, renew_seconds=renew_seconds, shards=shards
        ),
        http=s.HttpSettings(listen=listen, webhook_secret=webhook_secret),
        notifications=NotifierSettings.from_env(os.environ),
        slack=SlackConfig.from_env(os.environ),
        forges=forges or s.ForgeSettings(),
        workdir=workdir,
    )
