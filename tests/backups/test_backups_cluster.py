"""Backups on the local cluster: VolumeSnapshots taken on schedule, made ready by the dev cluster's
stand-in CSI snapshotter, pruned by retention, and restores announced; all with an injected clock.

Each test has its own tenant (namespace) and storage classes, applied with the ResourceManager
as the daemon would. A "restart" is a new BackupManager: it must decide from the cluster alone.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.edges.kube import KubeClient
from daemon.engine.apply import ResourceManager
from daemon.engine.backups import (
    ANNOUNCED_ANNOTATION,
    RESTORE_ANNOUNCED_ANNOTATION,
    SCHEDULE_ANNOTATION,
    TIME_ANNOTATION,
    UNAVAILABLE_ANNOTATION,
    BackupManager,
)
from daemon.loader import load_or_raise
from daemon.model.events import Event, MemorySink
from daemon.model.kinds import PlatformModel
from daemon.render import render
from daemon.render.storage import claim_name, restore_source
from daemon.state.inventory import InventoryStore
from tests.clock import FakeClock
from tests.fixtures_cluster import wait_for
from tests.platforms import PlatformRepo, doc

T0 = datetime(2030, 1, 1, 1, 0, 20, tzinfo=UTC)


@dataclasses.dataclass
class Env:
    kube: KubeClient
    repo: PlatformRepo
    manager: ResourceManager
    sink: MemorySink
    clock: FakeClock
    applied: int = 0

    @property
    def namespace(self) -> str:
        return self.repo.tenant

    def apply(self) -> PlatformModel:
        """Writes the repo and applies it as a sync would; returns the model the daemon would hold."""
        self.repo.write()
        model = load_or_raise(self.repo.root)
        self.applied += 1
        revision = f"r{self.applied}"
        plan = self.manager.plan(render(model, revision), max_fraction=model.platform.prune.max_fraction)
        result = self.manager.apply(plan, revision=revision, timeout=120)
        assert result.failed == [] and result.unhealthy == [], (result.failed, result.unhealthy)
        return model

    def backups(self, **kwargs: Any) -> BackupManager:
        """A new BackupManager, as after a restart of the daemon."""
        return BackupManager(self.kube, self.sink, self.clock.wall, **kwargs)

    def snapshots(self) -> dict[str, dict[str, Any]]:
        rtype = self.kube.resource_type("snapshot.storage.k8s.io/v1", "VolumeSnapshot")
        return {s["metadata"]["name"]: s for s in self.kube.list_objects(rtype, namespace=self.namespace)}

    def snapshot(self, name: str) -> dict[str, Any] | None:
        return self.snapshots().get(name)

    def wait_ready(self, name: str) -> dict[str, Any]:
        found = wait_for(
            lambda: self.snapshot(name),
            timeout=30,
            message=f"snapshot {name} ready to use",
            until=lambda s: s is not None and (s.get("status") or {}).get("readyToUse") is True,
        )
        assert found is not None
        return found

    def claim(self, name: str) -> dict[str, Any] | None:
        return self.kube.get(self.kube.resource_type("v1", "PersistentVolumeClaim"), self.namespace, name)

    def wait_bound(self, name: str) -> dict[str, Any]:
        found = wait_for(
            lambda: self.claim(name),
            timeout=60,
            message=f"claim {name} Bound",
            until=lambda c: c is not None and c.get("status", {}).get("phase") == "Bound",
        )
        assert found is not None
        return found

    def events(self, name: str | None = None) -> list[Event]:
        return [e for e in self.sink.events if name is None or e.name == name]

    def content_of(self, snapshot: dict[str, Any]) -> dict[str, Any] | None:
        rtype = self.kube.resource_type("snapshot.storage.k8s.io/v1", "VolumeSnapshotContent")
        return self.kube.get(rtype, None, snapshot["status"]["boundVolumeSnapshotContentName"])


@pytest.fixture
def env(tmp_path: Path, kubeconfig: Path) -> Iterator[Env]:
    prefix = f"bk-{secrets.token_hex(3)}"
    repo = PlatformRepo(tmp_path / "platform", prefix, apps=1)
    # Backups need no app: without one, no rollout's pace on a busy machine decides the outcome.
    repo.apps.clear()
    repo.volumes["data"]["spec"]["backup"] = {"schedule": "0 */6 * * *", "retention": {"last": 2}}
    kube = KubeClient(str(kubeconfig))
    manager = ResourceManager(kube, inventory=InventoryStore(kube, namespace="dockyard-tests", name=f"inv-{prefix}"))
    yield Env(kube, repo, manager, MemorySink(), FakeClock(T0))
    kube.close()


def names_of(report_items: list[str]) -> list[str]:
    return [item.split("/", 1)[1] for item in report_items]


def test_a_snapshot_is_taken_when_the_schedule_fires_and_announced_once_ready(env: Env) -> None:
    env.repo.volumes["data"]["spec"]["backup"]["retention"] = {"last": 5}
    model = env.apply()
    env.wait_bound("data")
    # A standby, or a daemon without a model yet, does nothing.
    assert env.backups().scheduled_run(lambda: False, lambda: model) is None
    assert env.backups().scheduled_run(lambda: True, lambda: None) is None
    assert env.snapshots() == {}

    # No snapshot yet: the first is taken at once rather than at the next firing.
    report = env.backups().run(model)
    assert names_of(report.created) == ["data-203001010100"]
    snapshot = env.wait_ready("data-203001010100")
    meta = snapshot["metadata"]
    assert meta["labels"] == {
        "app.kubernetes.io/managed-by": "dockyard",
        "dockyard.dev/tenant": env.namespace,
        "dockyard.dev/volume": "data",
    }
    assert meta["annotations"][SCHEDULE_ANNOTATION] == "0 */6 * * *"
    assert meta["annotations"][TIME_ANNOTATION] == T0.isoformat()
    assert snapshot["spec"] == {
        "volumeSnapshotClassName": f"snap-{env.namespace}",
        "source": {"persistentVolumeClaimName": "data"},
    }

    # A restart: the new manager announces readiness, once, and takes nothing new.
    report = env.backups().run(model)
    assert names_of(report.ready) == ["data-203001010100"] and report.created == []
    assert env.snapshot("data-203001010100")["metadata"]["annotations"][ANNOUNCED_ANNOTATION] == "ready"  # type: ignore[index]
    assert env.backups().run(model).empty

    env.clock.set(datetime(2030, 1, 1, 5, 59, 59, tzinfo=UTC))
    assert env.backups().run(model).empty, "the schedule has not fired since 01:00"

    env.clock.set(datetime(2030, 1, 1, 6, 0, 5, tzinfo=UTC))
    first = env.backups()
    assert names_of(first.run(model).created) == ["data-203001010600"]
    env.wait_ready("data-203001010600")
    # Neither the same manager nor a restarted one takes it twice.
    assert first.run(model).created == []
    assert env.backups().run(model).created == []

    # The daemon was down through three firings: one snapshot catches up, not three.
    env.clock.set(datetime(2030, 1, 2, 3, 0, 0, tzinfo=UTC))
    assert names_of(env.backups().run(model).created) == ["data-203001020300"]
    env.wait_ready("data-203001020300")
    assert env.backups().run(model).created == []
    assert sorted(env.snapshots()) == ["data-203001010100", "data-203001010600", "data-203001020300"]

    events = env.events()
    assert [(e.name, e.details["snapshot"]) for e in events] == [
        ("backup.created", "data-203001010100"),
        ("backup.ready", "data-203001010100"),
        ("backup.created", "data-203001010600"),
        ("backup.ready", "data-203001010600"),
        ("backup.created", "data-203001020300"),
        ("backup.ready", "data-203001020300"),
    ]
    for event in events:
        assert event.tenant == env.namespace and event.app is None and event.severity == "info"
        assert event.details["volume"] == "data"
    assert events[0].details["claim"] == "data" and events[0].group == events[1].group


def test_retention_prunes_the_oldest_beyond_last_and_the_resource_manager_leaves_snapshots_alone(env: Env) -> None:
    env.repo.volumes["data"]["spec"]["backup"] = {"schedule": "*/10 * * * *", "retention": {"last": 2}}
    model = env.apply()
    env.wait_bound("data")
    taken: list[str] = []
    objects: dict[str, dict[str, Any]] = {}
    for minute in (0, 10, 20, 30):
        env.clock.set(datetime(2030, 1, 1, 0, minute, 30, tzinfo=UTC))
        report = env.backups().run(model)
        assert len(report.created) == 1
        taken.append(names_of(report.created)[0])
        objects[taken[-1]] = env.wait_ready(taken[-1])
        # Only ready snapshots count: the new one never pushes out an old one before it is ready.
        assert names_of(report.pruned) == ([taken[0]] if minute == 30 else [])
    assert taken == ["data-203001010000", "data-203001010010", "data-203001010020", "data-203001010030"]

    # 00:30's run pruned 00:00 (three were ready); this one sees 00:30 ready and prunes 00:10.
    report = env.backups().run(model)
    assert names_of(report.ready) == [taken[3]] and names_of(report.pruned) == [taken[1]]
    assert sorted(env.snapshots()) == taken[2:]
    pruned = env.events("backup.pruned")
    assert [e.details["snapshots"] for e in pruned] == [[taken[0]], [taken[1]]]
    assert all(e.tenant == env.namespace and e.details["volume"] == "data" for e in pruned)
    # The classes retain contents; a prune deletes the backup for real, not just the object.
    for gone in taken[:2]:
        content = env.content_of(objects[gone])
        assert content is not None and content["spec"]["deletionPolicy"] == "Delete"
    assert env.backups().run(model).empty

    # A sync neither lists nor prunes the snapshots: they are not rendered, not in the inventory.
    plan = env.manager.plan(render(model, "r9"), max_fraction=model.platform.prune.max_fraction)
    assert not any(c.ref.kind == "VolumeSnapshot" for c in plan.changeset.changes)
    assert not any(ref.kind == "VolumeSnapshot" for ref in plan.inventory.entries)
    env.manager.apply(plan, revision="r9", timeout=60)
    # Even with the volume gone from the repo (its claim is retained), its snapshots stay.
    del env.repo.volumes["data"]
    env.apply()
    assert sorted(env.snapshots()) == taken[2:]


def test_a_class_without_snapshot_class_is_announced_once(env: Env) -> None:
    model = env.apply()
    env.wait_bound("data")
    # The loader refuses this in a repo; a model may still hold it (defence in depth).
    classes = tuple(dataclasses.replace(c, snapshot_class=None) for c in model.platform.storage_classes)
    broken = dataclasses.replace(model, platform=dataclasses.replace(model.platform, storage_classes=classes))

    for manager in (env.backups(), env.backups()):
        manager.run(broken)
        manager.run(broken)
    failed = env.events("backup.failed")
    assert len(failed) == 1, failed
    assert failed[0].severity == "critical" and failed[0].tenant == env.namespace and failed[0].app is None
    assert failed[0].details["volume"] == "data" and failed[0].details["snapshot"] is None
    assert "has no snapshotClass" in failed[0].details["reason"]
    assert env.snapshots() == {}
    assert UNAVAILABLE_ANNOTATION in env.claim("data")["metadata"]["annotations"]  # type: ignore[index]

    # Fixed: backups start, and the announcement is forgotten so a new breakage is heard again.
    assert len(env.backups().run(model).created) == 1
    assert UNAVAILABLE_ANNOTATION not in env.claim("data")["metadata"]["annotations"]  # type: ignore[index]
    env.backups().run(broken)
    assert len(env.events("backup.failed")) == 2


def test_an_error_or_a_timeout_is_announced_once_and_a_late_success_too(env: Env) -> None:
    model = env.apply()
    env.wait_bound("data")
    # A VolumeSnapshotClass that does not exist: the dev cluster's snapshotter never serves it.
    classes = tuple(
        dataclasses.replace(c, snapshot_class=f"missing-{env.namespace}") for c in model.platform.storage_classes
    )
    stuck = dataclasses.replace(model, platform=dataclasses.replace(model.platform, storage_classes=classes))
    timeout = timedelta(minutes=10)
    snapshots = env.kube.resource_type("snapshot.storage.k8s.io/v1", "VolumeSnapshot")

    (first,) = names_of(env.backups(ready_timeout=timeout).run(stuck).created)
    # What a CSI snapshotter reports when the backend refuses.
    env.kube.merge_patch(
        snapshots,
        env.namespace,
        first,
        {"status": {"readyToUse": False, "error": {"message": "rbd: pool is full", "time": "2030-01-01T01:00:30Z"}}},
        subresource="status",
    )
    report = env.backups(ready_timeout=timeout).run(stuck)
    assert names_of(report.failed) == [first]
    assert env.backups(ready_timeout=timeout).run(stuck).empty

    env.clock.set(T0 + timedelta(hours=5))
    (second,) = names_of(env.backups(ready_timeout=timeout).run(stuck).created)
    env.clock.set(env.clock.wall() + timeout - timedelta(seconds=1))
    assert env.backups(ready_timeout=timeout).run(stuck).empty
    env.clock.advance(1)
    assert names_of(env.backups(ready_timeout=timeout).run(stuck).failed) == [second]
    assert env.backups(ready_timeout=timeout).run(stuck).empty

    failed = env.events("backup.failed")
    assert [(e.details["snapshot"], e.details["reason"]) for e in failed] == [
        (first, "rbd: pool is full"),
        (second, "not ready to use 10 min after it was taken"),
    ]
    assert all(e.severity == "critical" for e in failed)

    # Slow, not broken after all: it becomes ready, and that is announced too.
    env.kube.merge_patch(snapshots, env.namespace, second, {"status": {"readyToUse": True}}, subresource="status")
    assert names_of(env.backups(ready_timeout=timeout).run(stuck).ready) == [second]
    # Failed snapshots are never pruned: they are evidence, and not backups the rules can count.
    assert sorted(env.snapshots()) == sorted([first, second])


def test_a_restore_binds_is_announced_once_and_its_snapshot_is_never_pruned(env: Env) -> None:
    env.repo.volumes["data"]["spec"]["backup"] = {"schedule": "0 */6 * * *", "retention": {"last": 1}}
    model = env.apply()
    env.wait_bound("data")
    (source,) = names_of(env.backups().run(model).created)
    env.wait_ready(source)
    env.backups().run(model)

    env.repo.volumes["data"]["spec"]["restore"] = {"snapshot": source}
    restored = env.apply()
    claim = claim_name(restored.volumes[0])
    assert claim.startswith("data-restore-")
    bound = env.wait_bound(claim)
    assert bound["spec"]["dataSource"] == {
        "apiGroup": "snapshot.storage.k8s.io",
        "kind": "VolumeSnapshot",
        "name": source,
    }

    env.clock.set(T0 + timedelta(minutes=1))
    report = env.backups().run(restored)
    assert names_of(report.restored) == [claim]
    assert env.backups().run(restored).restored == []
    assert env.claim(claim)["metadata"]["annotations"][RESTORE_ANNOUNCED_ANNOTATION] == source  # type: ignore[index]
    (event,) = env.events("backup.restored")
    assert event.tenant == env.namespace and event.app is None and event.severity == "info"
    assert event.details == {"volume": "data", "snapshot": source, "claim": claim}

    # Backups go on from the claim the app now mounts; last=1 would drop the restore source,
    # but a snapshot that spec.restore names is never pruned.
    env.clock.set(T0 + timedelta(hours=5))
    (newer,) = names_of(env.backups().run(restored).created)
    assert env.snapshot(newer)["spec"]["source"]["persistentVolumeClaimName"] == claim  # type: ignore[index]
    env.wait_ready(newer)
    assert env.backups().run(restored).pruned == []
    env.clock.set(T0 + timedelta(hours=11))
    (newest,) = names_of(env.backups().run(restored).created)
    env.wait_ready(newest)
    assert names_of(env.backups().run(restored).pruned) == [newer]
    assert sorted(env.snapshots()) == sorted([source, newest])


def test_a_per_replica_volume_has_a_chain_for_each_replica_claim(env: Env) -> None:
    from tests.platforms import app_spec, doc

    env.repo.volumes["data"]["spec"]["perReplica"] = True
    env.repo.apps["db"] = doc(
        "App",
        "db",
        app_spec(replicas=2, stateful=True, volumes=[{"volume": "data", "mountPath": "/data"}]),
    )
    model = env.apply()
    env.wait_bound("data-db-0")
    env.wait_bound("data-db-1")
    report = env.backups().run(model)
    assert sorted(names_of(report.created)) == ["data-db-0-203001010100", "data-db-1-203001010100"]
    for claim in ("data-db-0", "data-db-1"):
        snapshot = env.wait_ready(f"{claim}-203001010100")
        assert snapshot["spec"]["source"] == {"persistentVolumeClaimName": claim}
        assert snapshot["metadata"]["labels"]["dockyard.dev/volume"] == "data"
    # Each chain follows its own schedule and retention (last: 2): a third run per claim prunes one each.
    for hour in (6, 12):
        env.clock.set(datetime(2030, 1, 1, hour, 0, 5, tzinfo=UTC))
        created = names_of(env.backups().run(model).created)
        assert sorted(created) == [f"data-db-0-20300101{hour:02}00", f"data-db-1-20300101{hour:02}00"]
        for name in created:
            env.wait_ready(name)
    report = env.backups().run(model)
    assert sorted(names_of(report.pruned)) == ["data-db-0-203001010100", "data-db-1-203001010100"]


def test_a_volume_starts_from_another_tenants_backup_through_a_copy_the_owner_keeps(env: Env) -> None:
    """``restore.tenant`` (a clone's data): the backup is copied into the other namespace, pointing
    at the same backend snapshot but retained on its own, made once, and kept by the owner's
    retention while the copy exists."""
    owner = env.repo
    owner.volumes["data"]["spec"]["backup"] = {"schedule": "0 */6 * * *", "retention": {"last": 1}}
    owner.volumes["data"]["spec"]["shareWith"] = [f"{owner.tenant}-c"]
    clone = f"{owner.tenant}-c"
    restore = {"tenant": owner.tenant, "volume": "data", "snapshot": "latest"}

    def apply() -> PlatformModel:
        owner.write()
        folder = owner.root / "tenants" / clone
        folder.mkdir()
        quota = {"quota": {"cpu": "1", "memory": "1Gi", "pods": 5}}
        (folder / "tenant.yaml").write_text(yaml.safe_dump(doc("Tenant", clone, quota)))
        volume = doc("Volume", "data", {"size": "1Gi", "restore": restore})
        (folder / "volume.yaml").write_text(yaml.safe_dump(volume))
        model = load_or_raise(owner.root)
        env.applied += 1
        plan = env.manager.plan(render(model, f"r{env.applied}"), max_fraction=1.0)
        env.manager.apply(plan, revision=f"r{env.applied}", timeout=5)  # the clone's claim waits: not healthy yet
        return model

    model = apply()
    env.wait_bound("data")
    [copy_volume] = model.volumes_of(clone)
    claims = env.kube.resource_type("v1", "PersistentVolumeClaim")
    snapshots = env.kube.resource_type("snapshot.storage.k8s.io/v1", "VolumeSnapshot")
    name = restore_source(copy_volume)
    assert name is not None
    # No backup of the owner yet: nothing to copy, and the clone's claim waits for its data.
    report = env.backups().run(model)
    assert report.copied == [] and names_of(report.created) == ["data-203001010100"]
    assert env.kube.get(snapshots, clone, name) is None
    pending = env.kube.get(claims, clone, claim_name(copy_volume))
    assert pending is not None and pending["status"]["phase"] == "Pending"
    original = env.wait_ready("data-203001010100")

    report = env.backups().run(model)
    assert report.copied == [f"{clone}/{name}"]
    (event,) = env.events("backup.copied")
    assert event.tenant == clone
    shared = f"{owner.tenant}/data-203001010100"
    assert event.details == {"volume": "data", "snapshot": name, "from": shared, "sharedBy": owner.tenant}
    copy = wait_for(
        lambda: env.kube.get(snapshots, clone, name),
        timeout=30,
        message="the copy ready",
        until=lambda s: s is not None and (s.get("status") or {}).get("readyToUse") is True,
    )
    assert copy is not None
    content, source_content = env.content_of(copy), env.content_of(original)
    assert content is not None and source_content is not None
    assert content["spec"]["source"]["snapshotHandle"] == source_content["status"]["snapshotHandle"]
    assert content["spec"]["deletionPolicy"] == "Retain"  # deleting the clone never deletes the owner's backup
    wait_for(
        lambda: env.kube.get(claims, clone, claim_name(copy_volume)),
        timeout=60,
        message="the clone's claim Bound",
        until=lambda c: c is not None and c["status"].get("phase") == "Bound",
    )
    assert env.backups().run(model).copied == []  # once

    # The owner's retention (last=1) would drop the copied backup for a newer one; the copy keeps it.
    env.clock.set(T0 + timedelta(hours=6))
    (newer,) = names_of(env.backups().run(model).created)
    env.wait_ready(newer)
    assert env.backups().run(model).pruned == []
    assert {"data-203001010100", newer} <= set(env.snapshots())
