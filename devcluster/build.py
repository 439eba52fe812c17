"""Obtains the control-plane binaries by running ``hack/localcluster/build.sh``.

The script owns the build and its cache; this module only runs it, lets its progress through to
our stderr and checks that the directory it names holds everything the cluster needs.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from daemon.errors import DevClusterError

#: What the cluster needs (``build.sh``); the test tools come with ``build.sh --tests``.
CLUSTER_BINARIES: tuple[str, ...] = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "metrics-server",
)
TEST_BINARIES: tuple[str, ...] = ("promtool", "sops", "kube-score")
SNAPSHOT_CRDS: tuple[str, ...] = (
    "snapshot.storage.k8s.io_volumesnapshotclasses.yaml",
    "snapshot.storage.k8s.io_volumesnapshotcontents.yaml",
    "snapshot.storage.k8s.io_volumesnapshots.yaml",
)


@dataclass(frozen=True)
class Toolchain:
    """The output directory of build.sh: ``bin/`` with the binaries, ``crds/`` with the CRDs."""

    root: Path

    def binary(self, name: str) -> Path:
        return self.root / "bin" / name

    @property
    def crds(self) -> tuple[Path, ...]:
        return tuple(self.root / "crds" / name for name in SNAPSHOT_CRDS)

    def missing(self, binaries: tuple[str, ...] = CLUSTER_BINARIES) -> list[Path]:
        wanted = [self.binary(name) for name in binaries] + list(self.crds)
        return [path for path in wanted if not path.is_file()]


def source_dir() -> Path:
    """The repository root, where ``hack/`` lives."""
    override = os.environ.get("DOCKYARD_SOURCE_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[1]


def ensure_built(*, tests: bool = False) -> Toolchain:
    """Runs build.sh (instant once its cache is complete) and returns the toolchain it built:
    the cluster's binaries, and with ``tests`` the test tools too."""
    script = source_dir() / "hack" / "localcluster" / "build.sh"
    if not script.is_file():
        raise DevClusterError(f"{script} not found; set DOCKYARD_SOURCE_DIR to the Dockyard checkout")
    try:
        # stderr is inherited, not captured: the first build takes many minutes and its progress
        # is the only sign of life the user gets.
        result = subprocess.run(
            ["bash", str(script), *(["--tests"] if tests else [])],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
    except OSError as e:
        raise DevClusterError(f"cannot run {script}: {e}") from e
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise DevClusterError(f"{script} failed with exit code {result.returncode} (its output is above)")
    toolchain = Toolchain(Path(lines[-1].strip()))
    missing = toolchain.missing(CLUSTER_BINARIES + (TEST_BINARIES if tests else ()))
    if missing:
        raise DevClusterError(f"{script} finished but these files are missing: {', '.join(map(str, missing))}")
    return toolchain
