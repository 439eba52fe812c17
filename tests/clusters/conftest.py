"""More local clusters next to the session's, for the tests of one daemon driving several."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devcluster import LocalCluster, RunningCluster
from tests.fixtures_cluster import CLUSTERS_ROOT


def _started(name: str) -> Iterator[RunningCluster]:
    running = LocalCluster.start(name=f"pytest-{os.getpid()}-{name}", nodes=1, base_dir=CLUSTERS_ROOT)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def away(cluster: RunningCluster) -> Iterator[RunningCluster]:
    """A second local cluster (``cluster`` first: it builds the binaries)."""
    yield from _started("away")


@pytest.fixture(scope="session")
def third(cluster: RunningCluster) -> Iterator[RunningCluster]:
    """A third local cluster."""
    yield from _started("third")
