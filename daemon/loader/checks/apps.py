"""App: mounted volumes, unique ports, variables and mount paths, probe ports, domains, resources, image tags."""

from __future__ import annotations

from typing import Any

from daemon.loader.checks.context import CheckContext, DocPath, items, mapping, where
from daemon.loader.documents import Entry
from daemon.loader.hints import did_you_mean
from daemon.model.quantity import parse_quantity


def check(ctx: CheckContext) -> None:
    domains: dict[str, tuple[Entry, int]] = {}
    for entry in ctx.valid["App"]:
        spec = entry.spec()
        tenant = entry.tenant
        for i, mount in enumerate(items(spec.get("volumes"))):
            ctx.require(entry, ("spec", "volumes", i, "volume"), "Volume", mount["volume"], tenant, noun="volume")
        _unique(ctx, entry, spec, "ports", "name", "port name")
        seen_ports: dict[tuple[int, str], int] = {}
        for i, port in enumerate(items(spec.get("ports"))):
            number = (port["port"], port.get("protocol", "TCP"))
            if number in seen_ports:
                ctx.report(
                    entry,
                    ("spec", "ports", i, "port"),
                    f"port {port['port']} is listed twice",
                    code="value.duplicate",
                )
            seen_ports.setdefault(number, i)
        _unique(ctx, entry, spec, "env", "name", "environment variable")
        _unique(ctx, entry, spec, "volumes", "mountPath", "mount path")
        _probes(ctx, entry, spec)
        for i, domain in enumerate(items(spec.get("domains"))):
            if domain in domains:
                other, index = domains[domain]
                ctx.report(
                    entry,
                    ("spec", "domains", i),
                    f"domain '{domain}' is already claimed by App '{other.tenant}/{other.name}'",
                    f"see {where(other, ('spec', 'domains', index))}; a domain routes to one App",
                    code="ref.domain",
                )
            else:
                domains[domain] = (entry, i)
        if spec.get("domains") and not spec.get("ports"):
            ctx.report(
                entry,
                ("spec", "domains"),
                "domains need a port to route to",
                "add spec.ports; the Ingress sends traffic to the first port",
                code="value.domains",
                key=True,
            )
        _requests_within_limits(ctx, entry, spec)
        _image_tag(ctx, entry, ("spec", "image"), spec.get("image"))
        canary = mapping(spec.get("canary"))
        if canary:
            _image_tag(ctx, entry, ("spec", "canary", "image"), canary.get("image"))


def _unique(ctx: CheckContext, entry: Entry, spec: dict[str, Any], field: str, key: str, noun: str) -> None:
    seen: set[object] = set()
    for i, item in enumerate(items(spec.get(field))):
        value = item.get(key)
        if value in seen:
            ctx.report(entry, ("spec", field, i, key), f"{noun} '{value}' is used twice", code="value.duplicate")
        seen.add(value)


def _probes(ctx: CheckContext, entry: Entry, spec: dict[str, Any]) -> None:
    ports = [p["name"] for p in items(spec.get("ports"))]
    for kind, probe in mapping(spec.get("probes")).items():
        for field in ("tcp", "port"):
            value = probe.get(field)
            if isinstance(value, str) and value not in ports:
                guess = did_you_mean(value, ports)
                ctx.report(
                    entry,
                    ("spec", "probes", kind, field),
                    f"probe port '{value}' is not a port of this App",
                    f"did you mean '{guess}'?"
                    if guess
                    else ("ports: " + ", ".join(ports) if ports else "declare it in spec.ports"),
                    code="ref.port",
                )
        if "http" in probe and "port" not in probe and not ports:
            ctx.report(
                entry,
                ("spec", "probes", kind),
                "an HTTP probe needs a port",
                "set port, or declare spec.ports (the first one is used)",
                code="ref.port",
                key=True,
            )


def _requests_within_limits(ctx: CheckContext, entry: Entry, spec: dict[str, Any]) -> None:
    resources = mapping(spec.get("resources"))
    limits = mapping(resources.get("limits"))
    for resource in ("cpu", "memory"):
        if resource in resources and resource in limits:
            request = parse_quantity(resources[resource])
            limit = parse_quantity(limits[resource])
            if request > limit:
                ctx.report(
                    entry,
                    ("spec", "resources", resource),
                    f"{resource} request {resources[resource]} is above its limit {limits[resource]}",
                    "a request can be at most the limit",
                    code="value.resources",
                )


def _image_tag(ctx: CheckContext, entry: Entry, path: DocPath, image: object) -> None:
    if not isinstance(image, str):
        return
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return
    if ":" not in last:
        ctx.report(
            entry,
            path,
            f"image '{image}' has no tag, so it means ':latest'",
            f"pin a version, e.g. {image}:1.0, so every sync runs the same code",
            code="value.image",
            warning=True,
        )
    elif last.endswith(":latest"):
        ctx.report(
            entry,
            path,
            f"image '{image}' uses the moving tag ':latest'",
            "pin a version so every sync runs the same code",
            code="value.image",
            warning=True,
        )
