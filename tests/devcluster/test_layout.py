"""A cluster directory written by another version of Dockyard is stopped and replaced, never left
running behind an error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devcluster import procs
from devcluster.layout import ClusterState, OutdatedState, Ports
from devcluster.local import LocalCluster


def test_every_component_gets_its_own_port() -> None:
    ports = Ports.pick()
    assert len(set(ports.__dict__.values())) == len(ports.__dict__) == 7


def test_an_outdated_state_file_is_stopped_by_its_recorded_pids(tmp_path: Path) -> None:
    directory = tmp_path / "old"
    directory.mkdir()
    sleeper = procs.spawn("etcd", ["sleep", "60"], directory / "etcd.log", directory)
    old = {"version": 1, "name": "old", "ports": {"etcd_client": 1}, "processes": {"etcd": sleeper.to_json()}}
    (directory / "state.json").write_text(json.dumps(old))
    with pytest.raises(OutdatedState) as raised:
        ClusterState.load(directory)
    assert [r.pid for r in raised.value.processes] == [sleeper.pid]

    assert LocalCluster("old", tmp_path).down() is True
    assert not directory.exists()
    assert not procs.is_running(sleeper)
    with pytest.raises(ProcessLookupError):
        os.kill(sleeper.pid, 0)
