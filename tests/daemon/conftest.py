"""The ``setup`` fixture of the daemon tests (see tests/daemon/harness.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.edges.kube import KubeClient
from tests.daemon.harness import Setup
from tests.platforms import PlatformRepo, git


@pytest.fixture
def setup(tmp_path: Path, kubeconfig: Path) -> Iterator[Setup]:
    prefix = f"rn-{secrets.token_hex(3)}"
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    platform = PlatformRepo(work, prefix)
    kube = KubeClient(str(kubeconfig))
    s = Setup(remote, work, platform, kube, namespace=f"dockyard-{prefix}")
    s.kube_config = kubeconfig
    s.commit("initial platform")
    yield s
    for daemon in s.daemons:
        daemon.stop()
    kube.close()
