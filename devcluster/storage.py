"""A stand-in for Ceph CSI in the local cluster: provisions volumes and takes snapshots.

The local cluster has no storage backend, yet PVCs must bind for StatefulSets to start, and
VolumeSnapshots must become ready for backups. This small controller plays the external CSI
provisioner and snapshotter for every StorageClass / VolumeSnapshotClass: it creates a PV
pre-bound to each pending claim (the real PV controller then binds them; a claim restored from a
snapshot waits for the snapshot to be ready, as the CSI provisioner does), deletes released PVs
whose reclaim policy is Delete, binds every VolumeSnapshot to a ready VolumeSnapshotContent, and
binds a pre-provisioned VolumeSnapshot (``source.volumeSnapshotContentName``) to its content.
No data exists anywhere: this is for control-plane behaviour only.

Run as ``python -m daemon.devcluster.storage --kubeconfig PATH``; ``dockyard dev-cluster up``
starts it as a cluster component.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from daemon.edges.kube import KubeClient
from daemon.errors import ClusterError

log = logging.getLogger("dockyard.devcluster.storage")
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


class FakeStorage:
    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._classes = kube.resource_type("storage.k8s.io/v1", "StorageClass")
        self._pvcs = kube.resource_type("v1", "PersistentVolumeClaim")
        self._pvs = kube.resource_type("v1", "PersistentVolume")
        self._snapshots = kube.resource_type("snapshot.storage.k8s.io/v1", "VolumeSnapshot")
        self._contents = kube.resource_type("snapshot.storage.k8s.io/v1", "VolumeSnapshotContent")
        self._snapshot_classes = kube.resource_type("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass")

    def step(self) -> None:
        classes = {c["metadata"]["name"]: c for c in self._kube.list_objects(self._classes)}
        default = next(
            (
                n
                for n, c in classes.items()
                if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
            ),
            None,
        )
        bound = {pv.get("spec", {}).get("claimRef", {}).get("uid") for pv in self._kube.list_objects(self._pvs)}
        for pvc in self._kube.list_objects(self._pvcs):
            spec = pvc.get("spec", {})
            if pvc.get("status", {}).get("phase") != "Pending" or spec.get("volumeName"):
                continue
            if pvc["metadata"]["uid"] in bound or pvc["metadata"].get("deletionTimestamp"):
                continue
            cls = classes.get(spec.get("storageClassName") or default or "")
            if cls is not None and self._source_ready(pvc):
                self._provision(pvc, cls)
        for pv in self._kube.list_objects(self._pvs):
            if (
                pv.get("status", {}).get("phase") == "Released"
                and pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete"
            ):
                self._kube.delete(self._pvs, None, pv["metadata"]["name"])
                log.info("deleted released volume %s", pv["metadata"]["name"])
        self._snapshot_step()

    def _source_ready(self, pvc: dict[str, Any]) -> bool:
        source = pvc.get("spec", {}).get("dataSource") or {}
        if source.get("kind") != "VolumeSnapshot":
            return True
        snapshot = self._kube.get(self._snapshots, pvc["metadata"]["namespace"], source.get("name", ""))
        return snapshot is not None and (snapshot.get("status") or {}).get("readyToUse") is True

    def _provision(self, pvc: dict[str, Any], cls: dict[str, Any]) -> None:
        meta, spec = pvc["metadata"], pvc["spec"]
        name = f"pvc-{meta['uid']}"
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": cls["provisioner"]}},
            "spec": {
                "capacity": {"storage": spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": cls.get("reclaimPolicy", "Delete"),
                "storageClassName": cls["metadata"]["name"],
                "volumeMode": spec.get("volumeMode", "Filesystem"),
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
                "csi": {"driver": cls["provisioner"], "volumeHandle": meta["uid"]},
            },
        }
        try:
            self._kube.create(pv)
        except ClusterError as e:
            if e.status != 409:
                raise
            return
        log.info("provisioned %s for %s/%s", name, meta["namespace"], meta["name"])

    def _snapshot_step(self) -> None:
        classes = {c["metadata"]["name"]: c for c in self._kube.list_objects(self._snapshot_classes)}
        for snap in self._kube.list_objects(self._snapshots):
            status = snap.get("status") or {}
            if status.get("readyToUse") or snap["metadata"].get("deletionTimestamp"):
                continue
            meta, spec = snap["metadata"], snap.get("spec", {})
            if spec.get("source", {}).get("volumeSnapshotContentName"):
                self._bind_provisioned(snap)
                continue
            cls = classes.get(spec.get("volumeSnapshotClassName") or "")
            pvc_name = spec.get("source", {}).get("persistentVolumeClaimName")
            if cls is None or not pvc_name:
                continue
            pvc = self._kube.get(self._pvcs, meta["namespace"], pvc_name)
            if pvc is None or pvc.get("status", {}).get("phase") != "Bound":
                continue
            content_name = f"snapcontent-{meta['uid']}"
            content: dict[str, Any] = {
                "apiVersion": "snapshot.storage.k8s.io/v1",
                "kind": "VolumeSnapshotContent",
                "metadata": {"name": content_name},
                "spec": {
                    "driver": cls["driver"],
                    "deletionPolicy": cls.get("deletionPolicy", "Delete"),
                    "source": {"snapshotHandle": str(uuid.uuid4())},
                    "volumeSnapshotClassName": cls["metadata"]["name"],
                    "volumeSnapshotRef": {
                        "apiVersion": "snapshot.storage.k8s.io/v1",
                        "kind": "VolumeSnapshot",
                        "namespace": meta["namespace"],
                        "name": meta["name"],
                        "uid": meta["uid"],
                    },
                },
            }
            try:
                self._kube.create(content)
            except ClusterError as e:
                if e.status != 409:
                    raise
            size = pvc.get("status", {}).get("capacity", {}).get("storage", "1Gi")
            # What the CSI snapshotter reports: the backend's handle, for copies to point at.
            self._kube.merge_patch(
                self._contents,
                None,
                content_name,
                {"status": {"readyToUse": True, "snapshotHandle": content["spec"]["source"]["snapshotHandle"]}},
                subresource="status",
            )
            self._kube.merge_patch(
                self._snapshots,
                meta["namespace"],
                meta["name"],
                {
                    "status": {
                        "boundVolumeSnapshotContentName": content_name,
                        "readyToUse": True,
                        "creationTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "restoreSize": size,
                    }
                },
                subresource="status",
            )
            log.info("snapshot %s/%s is ready", meta["namespace"], meta["name"])

    def _bind_provisioned(self, snap: dict[str, Any]) -> None:
        """A VolumeSnapshot of a content made beforehand: ready once that content exists and
        points back at it (what the snapshot controller checks)."""
        meta = snap["metadata"]
        name = snap["spec"]["source"]["volumeSnapshotContentName"]
        content = self._kube.get(self._contents, None, name)
        ref = (content or {}).get("spec", {}).get("volumeSnapshotRef") or {}
        if content is None or (ref.get("namespace"), ref.get("name")) != (meta["namespace"], meta["name"]):
            return
        self._kube.merge_patch(
            self._snapshots,
            meta["namespace"],
            meta["name"],
            {
                "status": {
                    "boundVolumeSnapshotContentName": name,
                    "readyToUse": True,
                    "creationTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "restoreSize": (content.get("status") or {}).get("restoreSize") or "1Gi",
                }
            },
            subresource="status",
        )
        log.info("snapshot %s/%s is bound to the content %s made for it", meta["namespace"], meta["name"], name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    storage = FakeStorage(KubeClient(args.kubeconfig, max_connections=2))
    while not stop.is_set():
        try:
            storage.step()
        except ClusterError as e:
            # The API server may be restarting (tests do that); try again on the next tick.
            log.warning("storage step failed: %s", e)
        stop.wait(args.interval)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
