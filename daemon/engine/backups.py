"""Backup chains for Volumes: scheduled VolumeSnapshots, their retention, restore announcements.

The daemon's leader calls :meth:`BackupManager.run` every minute with the loaded model. For each
Volume with ``spec.backup`` it

1. follows the snapshots it made: ``backup.ready`` once one is ready to use, ``backup.failed``
   once one reports an error or is still not ready after ``ready_timeout``;
2. takes a new snapshot (``backup.created``) when the cron schedule fired since the newest one.
   A volume without any snapshot gets its first one at once, as Velero does for a new schedule:
   a volume should not wait hours for its first backup;
3. prunes what the retention rules no longer keep (:mod:`daemon.backup_retention`), in one
   ``backup.pruned`` event per volume.

and announces each restored claim once it is Bound (``backup.restored``). A Volume that starts
from another tenant's backup (``restore.tenant``, a clone's data) gets a copy of that snapshot in
its own namespace (``backup.copied``): a VolumeSnapshotContent that points at the same backend
snapshot (``Retain``: deleting the copy never deletes the owner's backup) and a VolumeSnapshot
bound to it, made once, only while the owning Volume shares with the tenant (``shareWith``), and
only from that Volume's own chain. The owner's retention keeps a snapshot while a copy of it
exists. A ``perReplica`` Volume has one claim per replica of its StatefulSet; each claim has its
own chain (snapshots ``<claim>-<minute>``, the schedule and retention applied to each).

Nothing is remembered in memory: the schedule reads the times annotated on the existing
VolumeSnapshots, and what was announced is written on the objects (the snapshot, the claim)
before the event leaves. A restarted daemon, or a new leader, therefore neither misses nor repeats
a backup or an event. A snapshot's name carries its UTC minute, so two writers that race anyway
collide on the name (409) instead of making two backups.

These VolumeSnapshots carry Dockyard's labels but are not rendered and never enter the inventory,
so the ResourceManager neither lists nor prunes them; only the retention rules here delete them.
Snapshots of a Volume that left the repo are kept: nothing here deletes what no rule covers.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from daemon import API_GROUP
from daemon.edges.kube import KubeClient, ResourceType
from daemon.errors import ClusterError
from daemon.model.events import Event, EventSink
from daemon.model.kinds import PlatformModel, Volume
from daemon.model.labels import MANAGED_BY, MANAGER_NAME, TENANT_LABEL, VOLUME_LABEL
from daemon.policy.retention import as_utc, keep
from daemon.render.meta import owner_labels
from daemon.render.storage import SNAPSHOT_API, claim_name, restore_source

log = logging.getLogger(__name__)

#: The schedule a snapshot was taken for (on VolumeSnapshots; render puts it on claims too).
SCHEDULE_ANNOTATION = f"{API_GROUP}/backup-schedule"
#: When a snapshot was taken, by the daemon's clock: the schedule and the retention read it.
TIME_ANNOTATION = f"{API_GROUP}/backup-time"
#: The last state announced for a snapshot: ``created``, ``ready`` or ``failed``.
ANNOUNCED_ANNOTATION = f"{API_GROUP}/backup-announced"
#: On a restored claim (render sets it): the snapshot it was restored from.
RESTORED_FROM_ANNOTATION = f"{API_GROUP}/restored-from"
#: On a restored claim: the snapshot whose restore was announced.
RESTORE_ANNOUNCED_ANNOTATION = f"{API_GROUP}/restore-announced"
#: On a copy of another tenant's snapshot: ``namespace/name`` of the snapshot it copies.
COPY_OF_ANNOTATION = f"{API_GROUP}/copy-of"
#: On a claim: why its volume cannot be backed up, as last announced.
UNAVAILABLE_ANNOTATION = f"{API_GROUP}/backup-unavailable"

DEFAULT_READY_TIMEOUT = timedelta(minutes=30)
#: Ours, and about a volume: the selector of every list this module makes.
_SELECTOR = f"{MANAGED_BY}={MANAGER_NAME},{VOLUME_LABEL}"


@dataclass
class BackupReport:
    """What one run did, as ``namespace/name`` strings; for logs and tests."""

    created: list[str] = field(default_factory=list)
    ready: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.created or self.ready or self.failed or self.pruned or self.restored or self.copied or self.errors
        )


@dataclass(frozen=True)
class _Snapshot:
    """What this module needs of a live VolumeSnapshot."""

    name: str
    namespace: str
    taken: datetime | None  # None: neither our annotation nor a creation time can be read
    ready: bool
    error: str
    announced: str
    content: str  # the bound VolumeSnapshotContent, "" until there is one
    deleting: bool
    source: str  # the claim it is a snapshot of
    copy_of: str  # ``namespace/name`` of another tenant's snapshot this one copies, or ""

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> _Snapshot:
        meta = obj["metadata"]
        annotations = meta.get("annotations") or {}
        status = obj.get("status") or {}
        error = status.get("error") or {}
        return cls(
            name=meta["name"],
            namespace=meta["namespace"],
            taken=_parse_time(annotations.get(TIME_ANNOTATION)) or _parse_time(meta.get("creationTimestamp")),
            ready=status.get("readyToUse") is True,
            error=str(error.get("message") or "") if isinstance(error, Mapping) else "",
            announced=str(annotations.get(ANNOUNCED_ANNOTATION, "")),
            content=str(status.get("boundVolumeSnapshotContentName") or ""),
            deleting=bool(meta.get("deletionTimestamp")),
            source=str(((obj.get("spec") or {}).get("source") or {}).get("persistentVolumeClaimName") or ""),
            copy_of=str(annotations.get(COPY_OF_ANNOTATION, "")),
        )


class BackupManager:
    """Takes, follows and prunes the VolumeSnapshots of every Volume with ``spec.backup``."""

    def __init__(
        self,
        kube: KubeClient,
        sink: EventSink,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        ready_timeout: timedelta = DEFAULT_READY_TIMEOUT,
    ) -> None:
        self._kube = kube
        self._sink = sink
        self._clock = clock
        self.ready_timeout = ready_timeout
        # Only to keep the log quiet: a snapshot whose prune fails is retried every run, and
        # its warning is worth reading once, not every minute.
        self._prune_warned: set[tuple[str, str]] = set()
        #: ``namespace/name`` of every snapshot a copy points at, as of the current run
        self._copied: set[str] = set()
        #: (volume, why) of the copies that wait, each logged once
        self._copy_waits: set[tuple[str, str]] = set()

    @property
    def _snapshots(self) -> ResourceType:
        # Resolved on first use (the client caches it): constructing this does no I/O.
        return self._kube.resource_type(f"{SNAPSHOT_API}/v1", "VolumeSnapshot")

    @property
    def _contents(self) -> ResourceType:
        # Resolved on first use (the client caches it): constructing this does no I/O.
        return self._kube.resource_type(f"{SNAPSHOT_API}/v1", "VolumeSnapshotContent")

    @property
    def _claims(self) -> ResourceType:
        # Resolved on first use (the client caches it): constructing this does no I/O.
        return self._kube.resource_type("v1", "PersistentVolumeClaim")

    def scheduled_run(
        self, is_leader: Callable[[], bool], model: Callable[[], PlatformModel | None]
    ) -> BackupReport | None:
        """The periodic job: a run when this replica leads and a model is loaded.

        Standbys do nothing: two writers would race on every snapshot. A failure of the run is
        logged and the next run retries; it must never end the scheduler's job.
        """
        current = model() if is_leader() else None
        if current is None:
            return None
        try:
            return self.run(current)
        except ClusterError as e:
            # The API server is unreachable or refuses the lists: nothing was done; next minute.
            log.warning("backup run skipped: %s", e)
            return None
        except Exception:  # a bug in one run must not stop backups for good
            log.exception("backup run failed")
            return None

    def run(self, model: PlatformModel) -> BackupReport:
        """One pass over every Volume of ``model``; see the module documentation."""
        now = as_utc(self._clock())
        report = BackupReport()
        # Two lists per run whatever the number of volumes: every snapshot and every claim of
        # ours, cluster-wide, grouped here by namespace and volume.
        snapshots: dict[tuple[str, str], list[_Snapshot]] = defaultdict(list)
        copies: dict[tuple[str, str], _Snapshot] = {}  # copies of other tenants' snapshots: no chain's
        for obj in self._kube.list_objects(self._snapshots, label_selector=_SELECTOR):
            labels = obj["metadata"].get("labels") or {}
            snapshot = _Snapshot.of(obj)
            if snapshot.copy_of:
                copies[(snapshot.namespace, snapshot.name)] = snapshot
            else:
                snapshots[(obj["metadata"]["namespace"], labels.get(VOLUME_LABEL, ""))].append(snapshot)
        claims = {
            (c["metadata"]["namespace"], c["metadata"]["name"]): c
            for c in self._kube.list_objects(self._claims, label_selector=_SELECTOR)
        }
        self._copied = {c.copy_of for c in copies.values()}
        for volume in model.volumes:
            if volume.restore_tenant is None or (volume.tenant, str(restore_source(volume))) in copies:
                continue
            try:
                self._copy_shared(model, volume, snapshots, report)
            except ClusterError as e:
                log.warning("copy of a backup for volume %s/%s: %s", volume.tenant, volume.name, e)
                report.errors.append(f"{volume.tenant}/{volume.name}: {e}")
        for volume in model.volumes:
            if volume.backup is None:
                continue
            try:
                self._volume(model, volume, snapshots[(volume.tenant, volume.name)], claims, now, report)
            except ClusterError as e:
                # One volume's trouble must not cost the others their backups.
                log.warning("backups of volume %s/%s: %s", volume.tenant, volume.name, e)
                report.errors.append(f"{volume.tenant}/{volume.name}: {e}")
        tenants = {t.name for t in model.tenants}
        for (namespace, _), claim in sorted(claims.items()):
            if namespace in tenants:
                try:
                    self._announce_restore(claim, report)
                except ClusterError as e:
                    log.warning("restore of claim %s/%s: %s", namespace, claim["metadata"]["name"], e)
                    report.errors.append(f"{namespace}/{claim['metadata']['name']}: {e}")
        if not report.empty:
            log.info(
                "backups: %d created, %d ready, %d failed, %d pruned, %d restored, %d copied, %d errors",
                len(report.created),
                len(report.ready),
                len(report.failed),
                len(report.pruned),
                len(report.restored),
                len(report.copied),
                len(report.errors),
            )
        return report

    # --- one volume -------------------------------------------------------------------------

    def _volume(
        self,
        model: PlatformModel,
        volume: Volume,
        snapshots: list[_Snapshot],
        claims: Mapping[tuple[str, str], Mapping[str, Any]],
        now: datetime,
        report: BackupReport,
    ) -> None:
        assert volume.backup is not None
        for snapshot in snapshots:
            self._follow(volume, snapshot, now, report)
        chains = self._chains(volume, snapshots, claims)
        if not chains:
            # Not applied yet (first sync, a closed sync window): there is nothing to back up,
            # and no object yet on which to remember an announcement.
            return
        snapshot_class = self._snapshot_class(model, volume, chains[0][0], report)
        if snapshot_class is None:
            return
        for claim, own in chains:
            if self._due(volume.backup.schedule, own, now):
                if (claim.get("status") or {}).get("phase") == "Bound":
                    self._create(volume, claim, snapshot_class, now, report)
                else:
                    # A claim without a volume holds no data; the snapshot is taken once it binds.
                    log.debug(
                        "backup of %s/%s waits for claim %s to bind",
                        volume.tenant,
                        volume.name,
                        claim["metadata"]["name"],
                    )
            self._prune(model, volume, own, now, report)

    def _chains(
        self, volume: Volume, snapshots: list[_Snapshot], claims: Mapping[tuple[str, str], Mapping[str, Any]]
    ) -> list[tuple[Mapping[str, Any], list[_Snapshot]]]:
        """(claim, its snapshots) for each claim backed up: the Volume's claim, whose chain goes on
        through a restore into a new claim, or each replica's claim of a ``perReplica`` Volume."""
        if not volume.per_replica:
            claim = claims.get((volume.tenant, claim_name(volume)))
            return [] if claim is None else [(claim, snapshots)]
        replicas = sorted(
            name
            for (namespace, name), claim in claims.items()
            if namespace == volume.tenant and (claim["metadata"].get("labels") or {}).get(VOLUME_LABEL) == volume.name
        )
        return [(claims[(volume.tenant, name)], [s for s in snapshots if s.source == name]) for name in replicas]

    def _follow(self, volume: Volume, snapshot: _Snapshot, now: datetime, report: BackupReport) -> None:
        """Announces a snapshot's outcome once: ready, or failed (an error, or too slow)."""
        if snapshot.deleting or snapshot.announced == "ready":
            return
        details: dict[str, Any] = {"volume": volume.name, "snapshot": snapshot.name}
        if snapshot.ready:
            self._mark(snapshot, "ready")
            self._emit(
                "backup.ready",
                f"Backup {snapshot.name} of volume {volume.tenant}/{volume.name} is ready",
                volume.tenant,
                details,
                group=snapshot.name,
            )
            report.ready.append(f"{snapshot.namespace}/{snapshot.name}")
            return
        if snapshot.announced == "failed":
            return  # announced already; it may still turn ready, which is announced then
        reason = ""
        if snapshot.error:
            reason = snapshot.error
        elif snapshot.taken is not None and now - snapshot.taken >= self.ready_timeout:
            reason = f"not ready to use {_minutes(self.ready_timeout)} after it was taken"
        if not reason:
            return
        self._mark(snapshot, "failed")
        self._emit(
            "backup.failed",
            f"Backup {snapshot.name} of volume {volume.tenant}/{volume.name} failed: {reason}",
            volume.tenant,
            {**details, "reason": reason},
            group=snapshot.name,
        )
        report.failed.append(f"{snapshot.namespace}/{snapshot.name}")

    def _snapshot_class(
        self, model: PlatformModel, volume: Volume, claim: Mapping[str, Any], report: BackupReport
    ) -> str | None:
        """The volume's VolumeSnapshotClass, or None after announcing (once) that it has none."""
        cls = model.platform.storage_class(volume.storage_class)
        annotations = claim["metadata"].get("annotations") or {}
        announced = annotations.get(UNAVAILABLE_ANNOTATION)
        if cls is not None and cls.snapshot_class:
            if announced is not None:
                # Fixed: forget the announcement, so that breaking it again is announced again.
                self._annotate_claim(claim, {UNAVAILABLE_ANNOTATION: None})
            return cls.snapshot_class
        # Validation refuses this in a platform repo; a model built elsewhere may still hold it.
        reason = (
            f"storage class '{volume.storage_class}' is not defined by the platform"
            if cls is None
            else f"storage class '{volume.storage_class}' has no snapshotClass, and backups are VolumeSnapshots"
        )
        if announced != reason:
            self._annotate_claim(claim, {UNAVAILABLE_ANNOTATION: reason})
            self._emit(
                "backup.failed",
                f"Volume {volume.tenant}/{volume.name} cannot be backed up: {reason}",
                volume.tenant,
                {"volume": volume.name, "snapshot": None, "storageClass": volume.storage_class, "reason": reason},
            )
            report.failed.append(f"{volume.tenant}/{volume.name}")
        return None

    def _due(self, schedule: str, snapshots: list[_Snapshot], now: datetime) -> bool:
        """True when ``schedule`` fired after the newest snapshot (or there is none yet)."""
        times = [s.taken for s in snapshots if s.taken is not None and not s.deleting]
        if not times:
            return True
        # Backup schedules have no time zone field: they are UTC, like the snapshot names.
        trigger = CronTrigger.from_crontab(schedule, timezone="UTC")
        # The first firing strictly after the newest snapshot; several missed firings (the daemon
        # was down) still make one snapshot, not one each.
        fire: datetime | None = trigger.get_next_fire_time(None, max(times) + timedelta(microseconds=1))
        return fire is not None and fire <= now

    def _create(
        self, volume: Volume, claim: Mapping[str, Any], snapshot_class: str, now: datetime, report: BackupReport
    ) -> None:
        assert volume.backup is not None
        source = claim["metadata"]["name"]
        name = snapshot_name(source if volume.per_replica else volume.name, now)
        obj = {
            "apiVersion": f"{SNAPSHOT_API}/v1",
            "kind": "VolumeSnapshot",
            "metadata": {
                "name": name,
                "namespace": volume.tenant,
                "labels": {**owner_labels(volume.tenant), VOLUME_LABEL: volume.name},
                "annotations": {
                    SCHEDULE_ANNOTATION: volume.backup.schedule,
                    TIME_ANNOTATION: now.isoformat(),
                    ANNOUNCED_ANNOTATION: "created",
                },
            },
            "spec": {"volumeSnapshotClassName": snapshot_class, "source": {"persistentVolumeClaimName": source}},
        }
        try:
            self._kube.create(obj)
        except ClusterError as e:
            if e.status == 409:
                # Same volume, same minute: another writer (or a run before a restart) took it.
                log.info("snapshot %s/%s exists already", volume.tenant, name)
                return
            raise
        self._emit(
            "backup.created",
            f"Backup {name} of volume {volume.tenant}/{volume.name} started",
            volume.tenant,
            {
                "volume": volume.name,
                "snapshot": name,
                "claim": source,
                "snapshotClass": snapshot_class,
                "schedule": volume.backup.schedule,
            },
            group=name,
        )
        report.created.append(f"{volume.tenant}/{name}")

    def _prune(
        self, model: PlatformModel, volume: Volume, snapshots: list[_Snapshot], now: datetime, report: BackupReport
    ) -> None:
        assert volume.backup is not None
        live = [s for s in snapshots if not s.deleting]
        # A snapshot we cannot date is judged "not ready": kept, and not counted by the rules.
        pending = {s.name for s in live if not s.ready or s.taken is None}
        protected = {str(restore_source(v)) for v in model.volumes_of(volume.tenant) if v.restore_snapshot}
        # What other tenants start from: copied already (the copy points at this backend
        # snapshot), or named and still to be copied.
        protected |= {c.split("/", 1)[1] for c in self._copied if c.startswith(f"{volume.tenant}/")}
        protected |= {
            str(v.restore_snapshot)
            for v in model.volumes
            if v.restore_tenant == volume.tenant and v.restore_volume == volume.name and v.restore_snapshot != "latest"
        }
        dated = [(s.name, s.taken or now) for s in live]
        _, prune = keep(dated, volume.backup.retention, now, protected=protected, pending=pending)
        by_name = {s.name: s for s in live}
        deleted = [name for name in prune if self._delete(by_name[name])]
        if not deleted:
            return
        kept = len(live) - len(deleted)
        self._emit(
            "backup.pruned",
            f"Pruned {len(deleted)} backup(s) of volume {volume.tenant}/{volume.name}: {', '.join(deleted)}",
            volume.tenant,
            {"volume": volume.name, "snapshots": deleted, "kept": kept},
        )
        report.pruned.extend(f"{volume.tenant}/{name}" for name in deleted)

    def _delete(self, snapshot: _Snapshot) -> bool:
        """Deletes a snapshot and the backup it holds; False when it has to wait."""
        key = (snapshot.namespace, snapshot.name)
        if snapshot.content:
            # Platform snapshot classes retain their contents, so that deleting a VolumeSnapshot
            # by accident loses no backup. Pruning is deliberate: without this, the backend's
            # snapshot would outlive it and retention would free nothing (Velero does the same).
            try:
                self._kube.merge_patch(self._contents, None, snapshot.content, {"spec": {"deletionPolicy": "Delete"}})
            except ClusterError as e:
                if e.status != 404:
                    if key not in self._prune_warned:
                        self._prune_warned.add(key)
                        log.warning(
                            "snapshot %s/%s is kept: its content %s cannot be set to be deleted with it: %s",
                            snapshot.namespace,
                            snapshot.name,
                            snapshot.content,
                            e,
                        )
                    return False
        self._kube.delete(self._snapshots, snapshot.namespace, snapshot.name)
        self._prune_warned.discard(key)
        log.info("pruned snapshot %s/%s", snapshot.namespace, snapshot.name)
        return True

    # --- restores ---------------------------------------------------------------------------

    def _copy_shared(
        self,
        model: PlatformModel,
        volume: Volume,
        snapshots: Mapping[tuple[str, str], list[_Snapshot]],
        report: BackupReport,
    ) -> None:
        """A copy, in ``volume``'s namespace, of the other tenant's backup it starts from."""
        owner, chain, wanted = str(volume.restore_tenant), str(volume.restore_volume), str(volume.restore_snapshot)
        shared = next((v for v in model.volumes_of(owner) if v.name == chain), None)
        if shared is None or volume.tenant not in shared.share_with:
            # The loader refuses this; a model narrowed to one cluster may lack the owner.
            self._wait(volume, f"its backup source {owner}/{chain} is not shared with it on this cluster", warn=True)
            return
        ready = [
            s
            for s in snapshots.get((owner, chain), [])
            if s.ready and s.content and not s.deleting and wanted in ("latest", s.name)
        ]
        if not ready:
            self._wait(volume, f"it waits for backup {wanted} of {owner}/{chain} to be ready")
            return
        original = max(ready, key=lambda s: (s.taken or datetime.min.replace(tzinfo=UTC), s.name))
        content = self._kube.get(self._contents, None, original.content)
        if content is None:
            return
        status, spec = content.get("status") or {}, content.get("spec") or {}
        handle = status.get("snapshotHandle") or (spec.get("source") or {}).get("snapshotHandle")
        if not handle:
            return  # the backend has not reported it yet: next run
        name = str(restore_source(volume))
        copy_of = f"{owner}/{original.name}"
        content_name = f"dockyard-copy-{hashlib.sha256(f'{volume.tenant}/{name}'.encode()).hexdigest()[:16]}"
        labels = {**owner_labels(volume.tenant), VOLUME_LABEL: volume.name}
        annotations = {COPY_OF_ANNOTATION: copy_of}
        snapshot_class = spec.get("volumeSnapshotClassName")
        copy_content: dict[str, Any] = {
            "apiVersion": f"{SNAPSHOT_API}/v1",
            "kind": "VolumeSnapshotContent",
            "metadata": {"name": content_name, "labels": labels, "annotations": annotations},
            "spec": {
                # Retain whatever the class says: the backend snapshot is the owner's.
                "deletionPolicy": "Retain",
                "driver": spec.get("driver"),
                "source": {"snapshotHandle": handle},
                "volumeSnapshotRef": {"namespace": volume.tenant, "name": name},
                **({"volumeSnapshotClassName": snapshot_class} if snapshot_class else {}),
            },
        }
        copy = {
            "apiVersion": f"{SNAPSHOT_API}/v1",
            "kind": "VolumeSnapshot",
            "metadata": {"name": name, "namespace": volume.tenant, "labels": labels, "annotations": annotations},
            "spec": {
                "source": {"volumeSnapshotContentName": content_name},
                **({"volumeSnapshotClassName": snapshot_class} if snapshot_class else {}),
            },
        }
        for obj in (copy_content, copy):
            try:
                self._kube.create(obj)
            except ClusterError as e:
                if e.status != 409:
                    raise
        self._emit(
            "backup.copied",
            f"Backup {copy_of} was copied for volume {volume.tenant}/{volume.name} (as {name})",
            volume.tenant,
            {"volume": volume.name, "snapshot": name, "from": copy_of, "sharedBy": owner},
        )
        report.copied.append(f"{volume.tenant}/{name}")
        self._copied.add(copy_of)

    def _wait(self, volume: Volume, why: str, *, warn: bool = False) -> None:
        # Every run tries again; the reason is worth reading once, not every minute.
        key = (f"{volume.tenant}/{volume.name}", why)
        if key not in self._copy_waits:
            self._copy_waits.add(key)
            (log.warning if warn else log.info)(
                "volume %s/%s has no copy of its data yet: %s", volume.tenant, volume.name, why
            )

    def _announce_restore(self, claim: Mapping[str, Any], report: BackupReport) -> None:
        meta = claim["metadata"]
        annotations = meta.get("annotations") or {}
        source = annotations.get(RESTORED_FROM_ANNOTATION)
        if not source or annotations.get(RESTORE_ANNOUNCED_ANNOTATION) == source:
            return
        if (claim.get("status") or {}).get("phase") != "Bound":
            return
        self._annotate_claim(claim, {RESTORE_ANNOUNCED_ANNOTATION: source})
        volume = (meta.get("labels") or {}).get(VOLUME_LABEL, "")
        tenant = (meta.get("labels") or {}).get(TENANT_LABEL) or meta["namespace"]
        self._emit(
            "backup.restored",
            f"Volume {tenant}/{volume} was restored from backup {source} into claim {meta['name']}",
            tenant,
            {"volume": volume, "snapshot": source, "claim": meta["name"]},
        )
        report.restored.append(f"{meta['namespace']}/{meta['name']}")

    # --- helpers ----------------------------------------------------------------------------

    def _mark(self, snapshot: _Snapshot, state: str) -> None:
        # Written before the event is emitted: a failed write leaves the snapshot unannounced
        # and the next run tries again, instead of announcing it twice.
        self._kube.merge_patch(
            self._snapshots,
            snapshot.namespace,
            snapshot.name,
            {"metadata": {"annotations": {ANNOUNCED_ANNOTATION: state}}},
        )

    def _annotate_claim(self, claim: Mapping[str, Any], annotations: Mapping[str, str | None]) -> None:
        # A merge patch, not an apply: these annotations are state of this module, and fields
        # another operation owns are neither drift nor pruned by the reconciler's apply.
        meta = claim["metadata"]
        self._kube.merge_patch(
            self._claims, meta["namespace"], meta["name"], {"metadata": {"annotations": dict(annotations)}}
        )

    def _emit(self, name: str, summary: str, tenant: str, details: Mapping[str, Any], *, group: str = "") -> None:
        # Events of one snapshot share a group, so chat targets thread created/ready/failed.
        self._sink.emit(
            Event.make(
                name,
                summary,
                tenant=tenant,
                app=None,
                details=dict(details),
                group=f"backup:{tenant}/{group}" if group else "",
            )
        )


def snapshot_name(chain: str, moment: datetime) -> str:
    """``<volume>-<YYYYMMDDHHMM>`` (``<claim>-...`` for a replica's claim) in UTC: sortable, and
    unique per chain and minute."""
    return f"{chain}-{as_utc(moment):%Y%m%d%H%M}"


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        return None


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:g} min"
