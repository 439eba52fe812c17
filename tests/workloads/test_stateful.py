"""Stateful done right: a claim per replica from the Volume, rollout settings that fit the workload,
partitioned rollouts that count as done, and a restore that never deletes the data it replaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from daemon.model.refs import ObjRef
from daemon.policy.health import assess
from daemon.policy.inventory import Inventory, plan_prune
from daemon.render import render
from tests.loader.helpers import errors, line_of, load, text
from tests.render.test_render import by

HEAD = "apiVersion: dockyard.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n"


def doc(kind: str, name: str, body: str) -> str:
    return HEAD.format(kind=kind, name=name) + text(body)


DB = doc(
    "App",
    "db",
    """
    spec:
      image: postgres:16
      stateful: true
      replicas: 3
      ports: [{name: pg, port: 5432}]
      volumes:
        - {volume: pgdata, mountPath: /var/lib/postgresql/data}
        - {volume: data, mountPath: /shared, readOnly: true}
      strategy: {partition: 2}
    """,
)
PGDATA = doc("Volume", "pgdata", "spec:\n  size: 10Gi\n  perReplica: true\n  deletionPolicy: Delete\n")


def test_per_replica_volumes_become_claim_templates(tmp_path: Path) -> None:
    shared = doc("Volume", "data", "spec:\n  size: 1Gi\n  accessMode: ReadOnlyMany\n")
    result = load(
        tmp_path,
        {"tenants/shop/db.yaml": DB, "tenants/shop/pgdata.yaml": PGDATA, "tenants/shop/volume.yaml": shared},
    )
    assert errors(result) == []
    assert result.model is not None
    objects = render(result.model, "r1")
    sts = by(objects, "StatefulSet", "db", "shop")["spec"]
    (template,) = sts["volumeClaimTemplates"]
    assert template["metadata"]["name"] == "pgdata"
    assert template["metadata"]["labels"]["dockyard.dev/volume"] == "pgdata"
    assert template["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "ceph-rbd",
        "resources": {"requests": {"storage": "10Gi"}},
    }
    assert sts["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete", "whenScaled": "Retain"}
    # The pod mounts the template by name, and the shared claim as before.
    assert sts["template"]["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    assert sts["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    claims = [o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert "pgdata" not in claims and "data" in claims


def test_who_may_mount_a_volume(tmp_path: Path) -> None:
    shared_db = DB
    web = doc(
        "App",
        "web2",
        "spec:\n  image: nginx:1.27\n  replicas: 2\n  volumes:\n    - {volume: pgdata, mountPath: /x}\n",
    )
    other_db = doc(
        "App",
        "db2",
        "spec:\n  image: postgres:16\n  stateful: true\n  volumes:\n    - {volume: pgdata, mountPath: /x}\n",
    )
    restored = PGDATA + "  restore: {snapshot: pgdata-db-0-203001010100}\n"
    once = doc("Volume", "one", "spec:\n  size: 1Gi\n  accessMode: ReadWriteOncePod\n")
    first = doc("App", "first", "spec:\n  image: busybox:1.36\n  volumes:\n    - {volume: one, mountPath: /x}\n")
    second = doc("App", "second", "spec:\n  image: busybox:1.36\n  volumes:\n    - {volume: one, mountPath: /y}\n")
    result = load(
        tmp_path,
        {
            "tenants/shop/db.yaml": shared_db,
            "tenants/shop/web2.yaml": web,
            "tenants/shop/db2.yaml": other_db,
            "tenants/shop/pgdata.yaml": restored,
            "tenants/shop/one.yaml": once,
            "tenants/shop/first.yaml": first,
            "tenants/shop/second.yaml": second,
        },
    )
    assert errors(result) == [
        (
            "tenants/shop/db.yaml",
            line_of(shared_db, "volume: data"),
            "volume 'data' is ReadWriteOnce, but App 'db' can run 3 pods that would all mount this one claim",
        ),
        ("tenants/shop/db2.yaml", 9, "volume 'pgdata' is perReplica and already the claim template of App 'db'"),
        (
            "tenants/shop/pgdata.yaml",
            line_of(restored, "restore"),
            "a perReplica Volume cannot be restored: its claims are made by the StatefulSet, whose claim templates "
            "cannot change",
        ),
        ("tenants/shop/second.yaml", 8, "volume 'one' is ReadWriteOncePod and already mounted by App 'first'"),
        (
            "tenants/shop/web2.yaml",
            9,
            "volume 'pgdata' is perReplica: only a stateful App can mount it (one claim per replica)",
        ),
    ]
    assert result.errors[0].hint.startswith("set perReplica: true on the Volume")
    deployment = doc(
        "App", "web3", "spec:\n  image: nginx:1.27\n  replicas: 2\n  volumes:\n    - {volume: data, mountPath: /x}\n"
    )
    result = load(tmp_path / "2", {"tenants/shop/web3.yaml": deployment})
    assert errors(result) == [
        (
            "tenants/shop/web3.yaml",
            9,
            "volume 'data' is ReadWriteOnce, but App 'web3' can run 2 pods that would all mount this one claim",
        ),
    ]
    assert result.errors[0].hint == "pods on other nodes cannot mount it: use one replica, or ReadWriteMany (cephfs)"


def test_rollout_settings_fit_the_workload(tmp_path: Path) -> None:
    sts = doc(
        "App",
        "cache",
        """
        spec:
          image: redis:7.2
          stateful: true
          canary: {image: "redis:7.4", weight: 10}
          strategy: {maxSurge: 1, type: Recreate}
        """,
    )
    deploy = doc("App", "front", "spec:\n  image: nginx:1.27\n  strategy: {partition: 1, type: OnDelete}\n")
    recreate = doc("App", "batch", "spec:\n  image: busybox:1.36\n  strategy: {type: Recreate, maxSurge: 1}\n")
    result = load(
        tmp_path,
        {"tenants/shop/cache.yaml": sts, "tenants/other/front.yaml": deploy, "tenants/shop/batch.yaml": recreate},
    )
    assert errors(result) == [
        ("tenants/other/front.yaml", 7, "partition does not apply here: a Deployment has no ordinals to partition"),
        ("tenants/other/front.yaml", 7, "strategy type OnDelete is not for Deployments"),
        ("tenants/shop/batch.yaml", 7, "maxSurge does not apply to strategy type Recreate"),
        (
            "tenants/shop/cache.yaml",
            8,
            "a canary needs a Deployment: a stateful App's pods keep their identity and roll out in order",
        ),
        ("tenants/shop/cache.yaml", 9, "maxSurge does not apply here: StatefulSets replace one pod at a time"),
        ("tenants/shop/cache.yaml", 9, "strategy type Recreate is not for stateful Apps"),
    ]


def _sts(status: dict[str, Any], strategy: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": 3}
    if strategy:
        spec["updateStrategy"] = strategy
    return {
        "kind": "StatefulSet",
        "metadata": {"generation": 2},
        "spec": spec,
        "status": {"observedGeneration": 2, **status},
    }


@pytest.mark.parametrize(
    ("strategy", "status", "state", "message"),
    [
        (
            None,
            {"readyReplicas": 3, "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "b"},
            "progressing",
            "rolling out: 1 of 3 updated",
        ),
        (
            {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            {"readyReplicas": 3, "updatedReplicas": 0, "currentRevision": "a", "updateRevision": "b"},
            "progressing",
            "rolling out: 0 of 1 updated (partition 2)",
        ),
        (
            {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            {"readyReplicas": 3, "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "b"},
            "healthy",
            "3/3 ready; partition 2: 1 of 3 on the new revision",
        ),
        (
            {"type": "OnDelete"},
            {"readyReplicas": 3, "updatedReplicas": 0, "currentRevision": "a", "updateRevision": "b"},
            "healthy",
            "3/3 ready; 3 pod(s) take the new revision when deleted (OnDelete)",
        ),
    ],
)
def test_a_partitioned_rollout_is_done_when_its_ordinals_are(
    strategy: dict[str, Any] | None, status: dict[str, Any], state: str, message: str
) -> None:
    health = assess(ObjRef("apps", "StatefulSet", "shop", "db"), _sts(status, strategy))
    assert (health.state, health.message) == (state, message)


def _claim(name: str, volume: str, policy: str) -> dict[str, Any]:
    return {
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"app.kubernetes.io/managed-by": "dockyard", "dockyard.dev/volume": volume},
            "annotations": {"dockyard.dev/deletion-policy": policy},
        },
    }


def test_a_restore_never_deletes_the_claim_it_replaces_whatever_its_policy() -> None:
    old = ObjRef("", "PersistentVolumeClaim", "shop", "data")
    restored = ObjRef("", "PersistentVolumeClaim", "shop", "data-restore-1a2b3c4d")
    gone = ObjRef("", "PersistentVolumeClaim", "shop", "scratch")
    inventory = Inventory.of([old, gone])
    live = {old: _claim("data", "data", "Delete"), gone: _claim("scratch", "scratch", "Delete")}
    prune = plan_prune(
        inventory,
        [restored],
        live,
        max_fraction=1.0,
        volumes_with_claims=frozenset({("shop", "data")}),
    )
    # The Volume whose data moved keeps its old claim; a Volume that left the repo follows its policy.
    assert prune.delete == (gone,)
    assert prune.retain == ((old, "the data Volume data had before its restore: kept, never pruned"),)
