"""Volumes become PersistentVolumeClaims (or, ``perReplica``, claim templates of the StatefulSet
that mounts them); the platform's classes become StorageClasses and VolumeSnapshotClasses (Ceph
RBD / CephFS CSI in production).

A restore never overwrites data: it renders a new claim named after the snapshot, with the
snapshot as its data source, and apps mount that claim. A restore from another tenant's backup
(``restore.tenant``, a clone's data) reads a copy of that snapshot in the volume's own namespace,
which the backup manager makes once the owner consents (``shareWith``). The old claim is kept whatever the
Volume's deletion policy (the prune keeps every claim of a Volume that still has one, see
:func:`daemon.policy.inventory.plan_prune`), so a rollback of the rollback is one commit away.
"""

from __future__ import annotations

import hashlib
from typing import Any

from daemon.model.kinds import Platform, StorageClassDef, Volume
from daemon.model.labels import DELETION_POLICY_ANNOTATION, VOLUME_LABEL
from daemon.render.meta import object_meta, owner_labels

SNAPSHOT_API = "snapshot.storage.k8s.io"


def _restore_key(volume: Volume) -> str:
    if volume.restore_tenant is None:
        return str(volume.restore_snapshot)
    return f"{volume.restore_tenant}/{volume.restore_volume}/{volume.restore_snapshot}"


def claim_name(volume: Volume) -> str:
    """The PVC an app mounts for a Volume: the volume's name, or its restored copy."""
    if volume.restore_snapshot is None:
        return volume.name
    digest = hashlib.sha256(_restore_key(volume).encode()).hexdigest()[:8]
    return f"{volume.name}-restore-{digest}"


def restore_source(volume: Volume) -> str | None:
    """The VolumeSnapshot of the volume's own namespace its claim is restored from: the snapshot
    it names, or, from another tenant's backup, the copy of it the backup manager makes here
    (:meth:`daemon.engine.backups.BackupManager.copy_shared`), named after what it copies."""
    if volume.restore_snapshot is None or volume.restore_tenant is None:
        return volume.restore_snapshot
    digest = hashlib.sha256(_restore_key(volume).encode()).hexdigest()[:8]
    return f"{volume.name}-from-{volume.restore_tenant}-{digest}"[:253]


def render_volume(volume: Volume, revision: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": [volume.access_mode],
        "storageClassName": volume.storage_class,
        "resources": {"requests": {"storage": volume.size}},
    }
    annotations: dict[str, str] = {DELETION_POLICY_ANNOTATION: volume.deletion_policy}
    source = restore_source(volume)
    if source is not None:
        spec["dataSource"] = {"apiGroup": SNAPSHOT_API, "kind": "VolumeSnapshot", "name": source}
        annotations["dockyard.dev/restored-from"] = source
    if volume.backup is not None:
        annotations["dockyard.dev/backup-schedule"] = volume.backup.schedule
    meta = object_meta(
        claim_name(volume),
        source=volume.source,
        revision=revision,
        namespace=volume.tenant,
        tenant=volume.tenant,
        user=volume.metadata,
        extra_labels={VOLUME_LABEL: volume.name},
        extra_annotations=annotations,
    )
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}


def claim_template(volume: Volume) -> dict[str, Any]:
    """A StatefulSet volumeClaimTemplate from a ``perReplica`` Volume: each replica gets a claim
    ``<volume>-<app>-<ordinal>`` of this size and class, labelled like a Volume's claim."""
    labels = {**owner_labels(volume.tenant), VOLUME_LABEL: volume.name}
    return {
        "metadata": {"name": volume.name, "labels": labels},
        "spec": {
            "accessModes": [volume.access_mode],
            "storageClassName": volume.storage_class,
            "resources": {"requests": {"storage": volume.size}},
        },
    }


def render_storage_classes(platform: Platform, revision: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for cls in platform.storage_classes:
        objects.append(_storage_class(cls, platform, revision))
        if cls.snapshot_class:
            objects.append(_snapshot_class(cls, platform, revision))
    return objects


def _storage_class(cls: StorageClassDef, platform: Platform, revision: str) -> dict[str, Any]:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if cls.default else {}
    obj: dict[str, Any] = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": object_meta(cls.name, source=platform.source, revision=revision, extra_annotations=annotations),
        "provisioner": cls.provisioner,
        "reclaimPolicy": cls.reclaim_policy,
        "allowVolumeExpansion": cls.allow_volume_expansion,
        "volumeBindingMode": "Immediate",
    }
    if cls.parameters:
        obj["parameters"] = dict(cls.parameters)
    return obj


def _snapshot_class(cls: StorageClassDef, platform: Platform, revision: str) -> dict[str, Any]:
    assert cls.snapshot_class is not None
    return {
        "apiVersion": f"{SNAPSHOT_API}/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": object_meta(cls.snapshot_class, source=platform.source, revision=revision),
        "driver": cls.provisioner,
        # Backups must outlive an accidental delete of their VolumeSnapshot object.
        "deletionPolicy": "Retain",
    }
