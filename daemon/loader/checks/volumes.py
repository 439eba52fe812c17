"""Volume: its storage class (defined, allowed for the tenant, able to snapshot) and single-writer mounts."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from daemon.loader.checks.context import CheckContext, DocPath, items
from daemon.loader.documents import Entry
from daemon.loader.hints import did_you_mean


def check(ctx: CheckContext) -> None:
    classes = ctx.platform_classes()
    default = next((name for name, c in (classes or {}).items() if c.get("default")), None)
    mounts: dict[tuple[str | None, str], list[tuple[Entry, int]]] = defaultdict(list)
    for app in ctx.valid["App"]:
        for i, mount in enumerate(items(app.spec().get("volumes"))):
            if "volume" in mount:
                mounts[(app.tenant, mount["volume"])].append((app, i))
    for entry in ctx.valid["Volume"]:
        spec = entry.spec()
        if classes is not None:
            _storage_class(ctx, entry, spec, classes, default)
        if spec.get("accessMode", "ReadWriteOnce") in ("ReadWriteOnce", "ReadWriteOncePod"):
            _single_writer(ctx, entry, mounts.get((entry.tenant, str(entry.name)), []))


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


def _single_writer(ctx: CheckContext, volume: Entry, users: list[tuple[Entry, int]]) -> None:
    for index, (app, i) in enumerate(users):
        path = ("spec", "volumes", i, "volume")
        if index > 0:
            first = users[0][0]
            ctx.report(
                app,
                path,
                f"volume '{volume.name}' is ReadWriteOnce and already mounted by App '{first.name}'",
                "both pods can only run on the same node; use ReadWriteMany (cephfs)",
                code="value.access-mode",
                warning=True,
            )
        elif ctx.max_pods(app) > 1 and not app.spec().get("stateful"):
            ctx.report(
                app,
                path,
                f"volume '{volume.name}' is ReadWriteOnce but App '{app.name}' can run {ctx.max_pods(app)} pods",
                "pods on other nodes cannot mount it; use ReadWriteMany (cephfs) or one replica",
                code="value.access-mode",
                warning=True,
            )
