"""Platform and Tenant: what they reference (tenants, notification lists, storage classes) and their own facts."""

from __future__ import annotations

from typing import Any

from daemon.loader import formats
from daemon.loader.checks.context import CheckContext, items, mapping
from daemon.loader.hints import did_you_mean


def check(ctx: CheckContext) -> None:
    _platform_refs(ctx)
    _tenant_refs(ctx)


def _platform_refs(ctx: CheckContext) -> None:
    entry = ctx.platform
    if entry is None:
        return
    spec = entry.spec()
    default = mapping(spec.get("notifications")).get("default")
    if default is not None:
        ctx.require(entry, ("spec", "notifications", "default"), "NotificationList", default, noun="notification list")
    sync = mapping(spec.get("sync"))
    for key in ("interval", "driftCheckInterval"):
        if isinstance(sync.get(key), str) and formats.parse_duration(sync[key]) == 0:
            ctx.report(entry, ("spec", "sync", key), f"{key} must be longer than 0s", "e.g. 1m", code="value.duration")
    # The platform's windows and each cluster's own are checked alike.
    places: list[tuple[tuple[str | int, ...], list[Any]]] = [(("spec", "sync", "windows"), items(sync.get("windows")))]
    places += [
        (("spec", "clusters", c, "windows"), items(mapping(cluster).get("windows")))
        for c, cluster in enumerate(items(spec.get("clusters")))
    ]
    for place, windows in places:
        for i, window in enumerate(windows):
            if formats.parse_duration(window["duration"]) == 0:
                ctx.report(
                    entry, (*place, i, "duration"), "a sync window must last longer than 0s", code="value.duration"
                )
            for j, tenant in enumerate(items(window.get("tenants"))):
                if tenant != "*":
                    ctx.require(entry, (*place, i, "tenants", j), "Tenant", tenant, noun="tenant")
    names: dict[str, int] = {}
    default_at: int | None = None
    for i, item in enumerate(items(spec.get("storageClasses"))):
        if item["name"] in names:
            ctx.report(
                entry,
                ("spec", "storageClasses", i, "name"),
                f"storage class '{item['name']}' is defined twice",
                code="ref.duplicate",
            )
        names.setdefault(item["name"], i)
        if item.get("default"):
            if default_at is not None:
                first = spec["storageClasses"][default_at]["name"]
                ctx.report(
                    entry,
                    ("spec", "storageClasses", i, "default"),
                    f"more than one default storage class ('{first}' and '{item['name']}')",
                    "mark only one class as default",
                    code="value.default-class",
                )
            else:
                default_at = i
    storage_prices = mapping(spec.get("prices")).get("storageGiBMonth")
    for name in storage_prices if isinstance(storage_prices, dict) else ():
        if name != "default" and name not in names:
            guess = did_you_mean(name, list(names))
            ctx.report(
                entry,
                ("spec", "prices", "storageGiBMonth", name),
                f"storage class '{name}' has a price but is not defined in spec.storageClasses",
                f"did you mean '{guess}'?" if guess else "name a class of spec.storageClasses, or use 'default'",
                code="ref.storage-class",
                key=True,
            )
    roles = items(mapping(mapping(spec.get("chat")).get("slack")).get("roles"))
    for i, role in enumerate(roles):
        for j, tenant in enumerate(items(role.get("tenants"))):
            if tenant != "*":
                ctx.require(entry, ("spec", "chat", "slack", "roles", i, "tenants", j), "Tenant", tenant, noun="tenant")
    for i, role in enumerate(items(mapping(spec.get("console")).get("roles"))):
        for j, tenant in enumerate(items(role.get("tenants"))):
            if tenant != "*":
                ctx.require(entry, ("spec", "console", "roles", i, "tenants", j), "Tenant", tenant, noun="tenant")


def _tenant_refs(ctx: CheckContext) -> None:
    classes = ctx.platform_classes()
    for entry in ctx.valid["Tenant"]:
        spec = entry.spec()
        for i, name in enumerate(items(spec.get("notifications"))):
            ctx.require(entry, ("spec", "notifications", i), "NotificationList", name, noun="notification list")
        for field in ("allowFrom", "allowTo"):
            for i, item in enumerate(items(mapping(spec.get("network")).get(field))):
                ctx.require(entry, ("spec", "network", field, i, "tenant"), "Tenant", item["tenant"], noun="tenant")
        if classes is not None:
            for i, name in enumerate(items(spec.get("storageClasses"))):
                if name not in classes:
                    guess = did_you_mean(name, classes)
                    ctx.report(
                        entry,
                        ("spec", "storageClasses", i),
                        f"storage class '{name}' is not defined in platform.yaml",
                        f"did you mean '{guess}'?" if guess else "classes: " + ", ".join(classes),
                        code="ref.storage-class",
                    )
