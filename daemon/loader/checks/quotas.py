"""Quotas: what a tenant's apps and volumes request at their most replicas, against the tenant's quota."""

from __future__ import annotations

from decimal import Decimal

from daemon.loader.checks.context import CheckContext, mapping
from daemon.model.quantity import parse_quantity


def check(ctx: CheckContext) -> None:
    for tenant in ctx.valid["Tenant"]:
        spec = tenant.spec()
        quota = mapping(spec.get("quota"))
        if not quota:
            continue
        limits = mapping(spec.get("limits"))
        apps = ctx.valid_of_tenant[("App", tenant.tenant)]
        pods = {id(a): ctx.max_pods(a) for a in apps}
        totals: dict[str, Decimal] = {"cpu": Decimal(0), "memory": Decimal(0)}
        defaults = {"cpu": limits.get("defaultCpu"), "memory": limits.get("defaultMemory")}
        for app in apps:
            resources = mapping(app.spec().get("resources"))
            for resource in totals:
                value = resources.get(resource, defaults[resource])
                if value is not None:
                    totals[resource] += parse_quantity(value) * pods[id(app)]
        for resource, total in totals.items():
            if resource in quota and total > parse_quantity(quota[resource]):
                ctx.report(
                    tenant,
                    ("spec", "quota", resource),
                    f"the apps of tenant '{tenant.name}' request {_human(total, resource)} {resource} at "
                    f"their most replicas, more than the quota of {quota[resource]}",
                    "pods beyond the quota will not start; raise the quota or lower requests or replicas",
                    code="value.quota",
                    warning=True,
                )
        if "pods" in quota and sum(pods.values()) > quota["pods"]:
            ctx.report(
                tenant,
                ("spec", "quota", "pods"),
                f"the apps of tenant '{tenant.name}' run up to {sum(pods.values())} pods, more than the quota "
                f"of {quota['pods']}",
                "raise the quota or lower replicas",
                code="value.quota",
                warning=True,
            )
        if "storage" in quota:
            storage = sum(
                (parse_quantity(v.spec()["size"]) for v in ctx.valid_of_tenant[("Volume", tenant.tenant)]),
                Decimal(0),
            )
            if storage > parse_quantity(quota["storage"]):
                ctx.report(
                    tenant,
                    ("spec", "quota", "storage"),
                    f"the volumes of tenant '{tenant.name}' request {_human(storage, 'memory')}, more than "
                    f"the quota of {quota['storage']}",
                    "raise the quota or shrink volumes",
                    code="value.quota",
                    warning=True,
                )


def _human(value: Decimal, resource: str) -> str:
    if resource == "cpu":
        return f"{value.normalize():f}"
    for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value >= size:
            return f"{(value / size).quantize(Decimal('0.1')).normalize():f}{unit}"
    return f"{value.normalize():f}"
