"""Exposure outside the cluster other than through domains: the Platform's guardrail on Service
types (``spec.tenancy.allowedServiceTypes``), node ports (unique cluster-wide) and the names of
separate exposed Services."""

from __future__ import annotations

from daemon.loader.checks.context import CheckContext, items, mapping, where
from daemon.loader.documents import Entry
from daemon.loader.guardrails import guardrails


def check(ctx: CheckContext) -> None:
    allowed = _allowed(ctx)
    node_ports: dict[int, tuple[Entry, tuple[str | int, ...]]] = {}
    service_names = _service_names(ctx)
    for entry in ctx.valid["App"]:
        spec = entry.spec()
        expose = mapping(spec.get("expose"))
        kind = expose.get("type")
        if kind is not None and allowed is not None and kind not in allowed:
            ctx.report(
                entry,
                ("spec", "expose", "type"),
                f"the platform does not allow {kind} Services",
                "allowed: "
                + (", ".join(allowed) if allowed else "none")
                + " (spec.tenancy.allowedServiceTypes in platform.yaml); reach the App through spec.domains",
                code="guardrail.service-type",
            )
        if expose.get("sourceRanges") and kind != "LoadBalancer":
            ctx.report(
                entry,
                ("spec", "expose", "sourceRanges"),
                "sourceRanges apply to LoadBalancer Services only",
                code="value.expose",
                key=True,
            )
        separate = expose.get("service")
        if isinstance(separate, str):
            owner = service_names.get((entry.tenant, separate))
            if owner is not None and owner is not entry:
                ctx.report(
                    entry,
                    ("spec", "expose", "service"),
                    f"Service '{separate}' is already the Service of App '{owner.name}'",
                    "pick another name for the exposed Service",
                    code="ref.duplicate",
                )
            elif separate in (entry.name, f"{entry.name}-headless", f"{entry.name}-canary"):
                ctx.report(
                    entry,
                    ("spec", "expose", "service"),
                    f"'{separate}' is a Service the App has already",
                    "leave service out to give the App's own Service the type",
                    code="ref.duplicate",
                )
        containers = [
            (("spec",), spec),
            *((("spec", "sidecars", i), s) for i, s in enumerate(items(spec.get("sidecars")))),
        ]
        for base, container in containers:
            for i, port in enumerate(items(container.get("ports"))):
                if "nodePort" not in port:
                    continue
                path = (*base, "ports", i, "nodePort")
                if kind is None:
                    ctx.report(
                        entry, path, "nodePort needs spec.expose (NodePort or LoadBalancer)", code="value.expose"
                    )
                    continue
                first = node_ports.get(port["nodePort"])
                if first is not None:
                    other, other_path = first
                    ctx.report(
                        entry,
                        path,
                        f"node port {port['nodePort']} is already taken by App '{other.tenant}/{other.name}'",
                        f"see {where(other, other_path)}; node ports are unique across the cluster",
                        code="ref.node-port",
                    )
                else:
                    node_ports[port["nodePort"]] = (entry, path)


def _allowed(ctx: CheckContext) -> list[str] | None:
    if ctx.platform is None:
        return None
    return list(guardrails(ctx.platform.spec()).allowed_service_types)


def _service_names(ctx: CheckContext) -> dict[tuple[str | None, str], Entry]:
    """The Services Apps render by default, by tenant and name."""
    names: dict[tuple[str | None, str], Entry] = {}
    for entry in ctx.valid["App"]:
        for name in (str(entry.name), f"{entry.name}-headless", f"{entry.name}-canary"):
            names.setdefault((entry.tenant, name), entry)
    return names
