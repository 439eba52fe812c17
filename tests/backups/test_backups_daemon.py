"""The wiring: a running Daemon (with an injected clock) takes and announces backups by itself."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

from daemon.edges.kube import KubeClient
from daemon.model.events import MemorySink
from daemon.runtime.daemon import Daemon
from tests.clock import FakeClock
from tests.daemon_settings import daemon_settings
from tests.fixtures_cluster import wait_for
from tests.platforms import PlatformRepo

NOW = datetime(2030, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_the_leader_backs_up_volumes_every_minute(tmp_path: Path, kubeconfig: Path) -> None:
    prefix = f"bd-{secrets.token_hex(3)}"
    repo = PlatformRepo(tmp_path / "platform", prefix, apps=1)
    repo.apps.clear()  # the volume alone: the first sync never waits on a rollout
    repo.volumes["data"]["spec"]["backup"] = {"schedule": "0 3 * * *", "retention": {"last": 7}}
    repo.write()
    sink = MemorySink()
    daemon = Daemon.from_settings(
        daemon_settings(
            repo=str(repo.root),  # a plain directory: the daemon reads it as it is
            kubeconfig=kubeconfig,
            workdir=tmp_path / "work",
            namespace=f"dockyard-{prefix}",
            identity="backup-leader",
        ),
        extra_sinks=(sink,),
        clock=FakeClock(NOW).wall,
    )
    kube = KubeClient(str(kubeconfig))
    daemon.start()
    try:
        wait_for(lambda: daemon.reconciler.snapshot().last_sync_time, timeout=120, message="the first sync")
        # The job runs a minute after start; the volume has no backup yet, so it takes one then,
        # named by the daemon's (injected) clock, and announces it ready on a later run.
        wait_for(
            lambda: [e.name for e in sink.events if e.name.startswith("backup.")],
            timeout=150,
            message="backup.created and backup.ready from the daemon",
            until=lambda names: names == ["backup.created", "backup.ready"],
            interval=1.0,
        )
        created, ready = (e for e in sink.events if e.name.startswith("backup."))
        assert created.details["snapshot"] == ready.details["snapshot"] == "data-203003040506"
        assert created.tenant == prefix and created.app is None
        rtype = kube.resource_type("snapshot.storage.k8s.io/v1", "VolumeSnapshot")
        snapshot = kube.get(rtype, prefix, "data-203003040506")
        assert snapshot is not None and snapshot["status"]["readyToUse"] is True
        assert (
            daemon.metrics.registry.get_sample_value("dockyard_events_emitted_total", {"event": "backup.created"})
            == 1.0
        )
    finally:
        daemon.stop()
        kube.close()
