"""Volume: its storage class (defined, allowed for the tenant, able to snapshot), who may mount it
(one writer for ReadWriteOnce, one claim per replica of one stateful App for ``perReplica``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from daemon.loader.checks.context import CheckContext, DocPath, items, where
from daemon.loader.documents import Entry
from daemon.loader.hints import did_you_mean


def check(ctx: CheckContext) -> None:
    classes = ctx.platform_classes()
    default = next((name for name, c in (classes or {}).items() if c.get("default")), None)
    mounts: dict[tuple[str | None, str], list[tuple[Entry, DocPath]]] = defaultdict(list)
    for app in (*ctx.valid["App"], *ctx.valid["Job"]):
        mounted: set[str] = set()  # the containers of one pod share its volumes: one use per App
        for base, container in _containers(app.spec()):
            for i, mount in enumerate(items(container.get("volumes"))):
                if "volume" in mount and mount["volume"] not in mounted:
                    mounted.add(mount["volume"])
                    mounts[(app.tenant, mount["volume"])].append((app, (*base, "volumes", i, "volume")))
    for entry in ctx.valid["Volume"]:
        spec = entry.spec()
        if classes is not None:
            _storage_class(ctx, entry, spec, classes, default)
        users = mounts.get((entry.tenant, str(entry.name)), [])
        if isinstance(spec.get("restore"), dict) and "tenant" in spec["restore"]:
            _shared_restore(ctx, entry, spec["restore"])
        if spec.get("perReplica"):
            _per_replica(ctx, entry, spec, users)
        elif spec.get("accessMode", "ReadWriteOnce") in ("ReadWriteOnce", "ReadWriteOncePod"):
            _single_writer(ctx, entry, spec, users)


def _shared_restore(ctx: CheckContext, entry: Entry, restore: dict[str, Any]) -> None:
    """A restore from another tenant's backup: only from a Volume whose owner lets this tenant
    (``shareWith``), and only of that Volume's own chain, so a tenant cannot read another's data
    by naming it."""
    path: DocPath = ("spec", "restore")
    source, name, snapshot = str(restore["tenant"]), str(restore["volume"]), str(restore["snapshot"])
    if source == entry.tenant:
        ctx.report(
            entry,
            (*path, "tenant"),
            f"restore.tenant names this volume's own tenant '{source}'",
            "leave tenant and volume out to restore from a snapshot of this namespace",
            code="value.restore",
        )
        return
    if not ctx.require(entry, (*path, "tenant"), "Tenant", source):
        return
    if not ctx.require(entry, (*path, "volume"), "Volume", name, source):
        return
    shared = ctx.valid_entry("Volume", name, source)
    if shared is None:
        return  # its own errors are reported
    if entry.tenant not in items(shared.spec().get("shareWith")):
        ctx.report(
            entry,
            (*path, "volume"),
            f"volume '{name}' of tenant '{source}' does not share its backups with tenant '{entry.tenant}'",
            f"the owner adds '{entry.tenant}' to spec.shareWith of that Volume ({where(shared)})",
            code="ref.restore-consent",
        )
    if shared.spec().get("perReplica"):
        ctx.report(
            entry,
            (*path, "volume"),
            f"volume '{name}' of tenant '{source}' is perReplica: its backups are one per replica claim",
            "start from the backup of a shared Volume (perReplica: false)",
            code="value.restore",
        )
    if snapshot != "latest" and not snapshot.startswith(f"{name}-"):
        ctx.report(
            entry,
            (*path, "snapshot"),
            f"snapshot '{snapshot}' is not a backup of volume '{name}' (its backups are named {name}-YYYYMMDDHHMM)",
            f"name one of them, or 'latest' for the newest (dockyard history, or the console's backups of {source})",
            code="value.restore",
        )


def _containers(spec: dict[str, Any]) -> list[tuple[DocPath, dict[str, Any]]]:
    return [
        (("spec",), spec),
        *((("spec", "initContainers", i), c) for i, c in enumerate(items(spec.get("initContainers")))),
        *((("spec", "sidecars", i), c) for i, c in enumerate(items(spec.get("sidecars")))),
    ]


def _storage_class(
    ctx: CheckContext, entry: Entry, spec: dict[str, Any], classes: dict[str, dict[str, Any]], default: str | None
) -> None:
    name = spec.get("storageClass")
    path: DocPath
    if name is None:
        if default is None:
            ctx.report(
                entry,
                ("spec",),
                "no storageClass, and the platform has no default storage class",
                "set spec.storageClass, or mark a class default in platform.yaml",
                code="ref.storage-class",
                key=True,
            )
            return
        name, path = default, ("spec",)
    else:
        path = ("spec", "storageClass")
        if name not in classes:
            guess = did_you_mean(name, classes)
            ctx.report(
                entry,
                path,
                f"storage class '{name}' is not defined in platform.yaml",
                f"did you mean '{guess}'?" if guess else "classes: " + ", ".join(classes),
                code="ref.storage-class",
            )
            return
    tenant = ctx.valid_entry("Tenant", str(entry.tenant))
    allowed = tenant.spec().get("storageClasses") if tenant is not None else None
    if isinstance(allowed, list) and name not in allowed:
        ctx.report(
            entry,
            path,
            f"tenant '{entry.tenant}' may not use storage class '{name}'",
            "allowed: " + ", ".join(allowed) + " (spec.storageClasses of the Tenant)",
            code="ref.storage-class",
            key=path == ("spec",),
        )
    if "backup" in spec and not classes[name].get("snapshotClass"):
        ctx.report(
            entry,
            ("spec", "backup"),
            f"backups are snapshots, and storage class '{name}' has no snapshotClass",
            "use a class with a snapshotClass, or add one to the class in platform.yaml",
            code="ref.snapshot-class",
            key=True,
        )


def _single_writer(ctx: CheckContext, volume: Entry, spec: dict[str, Any], users: list[tuple[Entry, DocPath]]) -> None:
    mode = spec.get("accessMode", "ReadWriteOnce")
    for index, (app, path) in enumerate(users):
        pods = int(app.spec().get("parallelism", 1)) if app.kind == "Job" else ctx.max_pods(app)
        if pods > 1:
            if app.spec().get("stateful"):
                hint = "set perReplica: true on the Volume (a claim per replica), or use ReadWriteMany (cephfs)"
            else:
                hint = "pods on other nodes cannot mount it: use one replica, or ReadWriteMany (cephfs)"
            ctx.report(
                app,
                path,
                f"volume '{volume.name}' is {mode}, but {app.kind} '{app.name}' can run {pods} pods that would "
                "all mount this one claim",
                hint,
                code="value.access-mode",
            )
        elif index > 0:
            first = users[0][0]
            one_pod = mode == "ReadWriteOncePod"
            ctx.report(
                app,
                path,
                f"volume '{volume.name}' is {mode} and already mounted by {first.kind} '{first.name}'",
                "only one pod can ever use it"
                if one_pod
                else "both pods can only run on the same node; use ReadWriteMany (cephfs)",
                code="value.access-mode",
                warning=not one_pod,
            )


def _per_replica(ctx: CheckContext, volume: Entry, spec: dict[str, Any], users: list[tuple[Entry, DocPath]]) -> None:
    if "restore" in spec:
        ctx.report(
            volume,
            ("spec", "restore"),
            "a perReplica Volume cannot be restored: its claims are made by the StatefulSet, whose claim templates "
            "cannot change",
            "restore into a shared Volume (perReplica: false) of a single-replica App, or restore the replicas' "
            "claims from their snapshots outside Dockyard",
            code="value.restore",
            key=True,
        )
    owner: Entry | None = None
    for app, path in users:
        if not app.spec().get("stateful"):
            ctx.report(
                app,
                path,
                f"volume '{volume.name}' is perReplica: only a stateful App can mount it (one claim per replica)",
                "set stateful: true on the App, or perReplica: false on the Volume",
                code="value.per-replica",
            )
        elif owner is not None:
            ctx.report(
                app,
                path,
                f"volume '{volume.name}' is perReplica and already the claim template of App '{owner.name}'",
                "each App needs its own perReplica Volume",
                code="value.per-replica",
            )
        else:
            owner = app
