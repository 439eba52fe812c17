"""Names: one Platform, one Tenant per tenant.yaml, unique names, tenant folders named after their tenant."""

from __future__ import annotations

from daemon.loader.checks.context import CheckContext, scope, where
from daemon.loader.documents import Entry


def check(ctx: CheckContext) -> None:
    _duplicates(ctx)
    _tenant_folders(ctx)


def _duplicates(ctx: CheckContext) -> None:
    first: dict[tuple[str, str | None, str], Entry] = {}
    platform: Entry | None = None
    tenant_files: dict[str, Entry] = {}
    for entry in ctx.entries:
        if entry.kind == "Platform":
            if platform is not None:
                ctx.report(
                    entry,
                    ("kind",),
                    "there must be exactly one Platform document",
                    f"another one is at {where(platform, ('kind',))}",
                    code="document.platform-count",
                )
                continue
            platform = entry
        if entry.kind == "Tenant":
            if entry.file in tenant_files:
                ctx.report(
                    entry,
                    ("kind",),
                    "tenant.yaml must hold exactly one Tenant document",
                    f"the first is at {where(tenant_files[entry.file], ('kind',))}",
                    code="document.tenant-count",
                )
                continue
            tenant_files[entry.file] = entry
        if entry.name is None:
            continue
        tenant = scope(entry)
        key = (entry.kind, tenant, entry.name)
        if key in first:
            in_tenant = f" in tenant '{tenant}'" if tenant else ""
            ctx.report(
                entry,
                ("metadata", "name"),
                f"duplicate {entry.kind} '{entry.name}'{in_tenant}",
                f"the first is at {where(first[key])}; names are unique per kind" + (" and tenant" if tenant else ""),
                code="ref.duplicate",
            )
        else:
            first[key] = entry


def _tenant_folders(ctx: CheckContext) -> None:
    for entry in ctx.entries:
        if entry.kind == "Tenant" and entry.name is not None and entry.name != entry.tenant:
            ctx.report(
                entry,
                ("metadata", "name"),
                f"Tenant '{entry.name}' is in folder tenants/{entry.tenant}/; the folder must be named "
                "after the tenant",
                f"rename the folder to tenants/{entry.name}/ or set metadata.name: {entry.tenant}",
                code="layout.tenant-name",
            )
