"""The containers of an App's pod (its own, init containers, sidecars): names, ports, variables,
mounts and files, probes, resources, image tags and what a restricted tenant may not ask for."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from daemon.loader.checks.context import CheckContext, DocPath, items, mapping
from daemon.loader.documents import Entry
from daemon.loader.hints import did_you_mean
from daemon.model.quantity import parse_quantity

#: Pod volume names Dockyard gives the sources of files; tenants' names must not take them.
RESERVED_VOLUME_PREFIX: Final = "dockyard-"
#: A ConfigMap holds at most 1 MiB; the inline files of an App share one, with room for its keys.
MAX_INLINE_BYTES: Final = 1_000_000


@dataclass(frozen=True)
class Spot:
    """One container of an App's pod, with where it is in the document."""

    name: str
    data: dict[str, Any]
    path: DocPath  # () for the App's own container (its fields are the spec's)
    noun: str  # how messages name it: "this App", "sidecar 'log'"

    def at(self, *rest: str | int) -> DocPath:
        return ("spec", *self.path, *rest)


def containers(entry: Entry) -> Iterator[Spot]:
    """The containers of an App's or a Job's pod, in the order the pod runs them."""
    spec = entry.spec()
    for i, item in enumerate(items(spec.get("initContainers"))):
        yield Spot(str(item.get("name")), item, ("initContainers", i), f"init container '{item.get('name')}'")
    yield Spot(str(entry.name), spec, (), f"this {entry.kind}")
    for i, item in enumerate(items(spec.get("sidecars"))):
        yield Spot(str(item.get("name")), item, ("sidecars", i), f"sidecar '{item.get('name')}'")


def check(ctx: CheckContext) -> None:
    for entry in (*ctx.valid["App"], *ctx.valid["Job"]):
        spots = list(containers(entry))
        _names(ctx, entry, spots)
        _pod_ports(ctx, entry, spots)
        _volumes(ctx, entry, spots)
        _inline_size(ctx, entry, spots)
        for spot in spots:
            _unique(ctx, entry, spot, "env", "name", "environment variable")
            _mount_paths(ctx, entry, spot)
            _probes(ctx, entry, spot)
            _requests_within_limits(ctx, entry, spot)
            image_tag(ctx, entry, spot.at("image"), spot.data.get("image"))
        _restricted(ctx, entry, spots)
        _pre_stop(ctx, entry)


def _names(ctx: CheckContext, entry: Entry, spots: list[Spot]) -> None:
    seen: dict[str, Spot] = {}
    for spot in spots:
        first = seen.get(spot.name)
        if first is not None:
            why = f"the {entry.kind}'s own container has its name" if first.path == () else f"{first.noun} has it too"
            ctx.report(
                entry,
                spot.at("name"),
                f"container name '{spot.name}' is used twice in the pod: {why}",
                "give every container of the pod its own name",
                code="value.duplicate",
            )
        seen.setdefault(spot.name, spot)


def _pod_ports(ctx: CheckContext, entry: Entry, spots: list[Spot]) -> None:
    """Containers of a pod share its network: port names and numbers are unique across them,
    and so are the ports of the Service the App's and its sidecars' ports make up."""
    names: set[str] = set()
    numbers: dict[tuple[int, str], Spot] = {}
    exposed: dict[tuple[int, str], int] = {}
    for spot in spots:
        for i, port in enumerate(items(spot.data.get("ports"))):
            protocol = port.get("protocol", "TCP")
            if port["name"] in names:
                ctx.report(
                    entry,
                    spot.at("ports", i, "name"),
                    f"port name '{port['name']}' is used twice",
                    code="value.duplicate",
                )
            names.add(port["name"])
            number = (port["port"], protocol)
            if number in numbers:
                other = numbers[number]
                where = "" if other is spot else f" (also by {other.noun})"
                ctx.report(
                    entry,
                    spot.at("ports", i, "port"),
                    f"port {port['port']} is listed twice{where}",
                    code="value.duplicate",
                )
                continue  # its Service port is the same duplicate
            numbers[number] = spot
            service = (port.get("servicePort", port["port"]), protocol)
            if service in exposed:
                ctx.report(
                    entry,
                    spot.at("ports", i, "servicePort" if "servicePort" in port else "port"),
                    f"Service port {service[0]} is used twice",
                    "each port needs its own servicePort on the App's Service",
                    code="value.duplicate",
                )
            exposed.setdefault(service, i)


def _unique(ctx: CheckContext, entry: Entry, spot: Spot, field: str, key: str, noun: str) -> None:
    seen: set[object] = set()
    for i, item in enumerate(items(spot.data.get(field))):
        value = item.get(key)
        if value in seen:
            ctx.report(entry, spot.at(field, i, key), f"{noun} '{value}' is used twice", code="value.duplicate")
        seen.add(value)


def _mount_paths(ctx: CheckContext, entry: Entry, spot: Spot) -> None:
    seen: set[str] = set()
    for field, key in (("volumes", "mountPath"), ("files", "path")):
        for i, item in enumerate(items(spot.data.get(field))):
            path = str(item.get(key)).rstrip("/")
            if path in seen:
                ctx.report(
                    entry,
                    spot.at(field, i, key),
                    f"mount path '{item.get(key)}' is used twice",
                    "a path of a container holds one volume or file",
                    code="value.duplicate",
                )
            seen.add(path)


def _volumes(ctx: CheckContext, entry: Entry, spots: list[Spot]) -> None:
    """Volumes exist, scratch volumes are declared the same way wherever they are mounted, and
    neither takes a name Dockyard uses or the other kind's name."""
    tenant = entry.tenant
    scratch: dict[str, tuple[dict[str, Any], Spot, int]] = {}
    named: set[str] = set()
    for spot in spots:
        for i, mount in enumerate(items(spot.data.get("volumes"))):
            name = mount.get("scratch", mount.get("volume"))
            if isinstance(name, str) and name.startswith(RESERVED_VOLUME_PREFIX):
                ctx.report(
                    entry,
                    spot.at("volumes", i, "scratch" if "scratch" in mount else "volume"),
                    f"volume name '{name}' starts with '{RESERVED_VOLUME_PREFIX}', which Dockyard reserves",
                    "rename it",
                    code="value.reserved",
                )
            if "volume" in mount:
                named.add(mount["volume"])
                ctx.require(entry, spot.at("volumes", i, "volume"), "Volume", mount["volume"], tenant, noun="volume")
                for option in ("sizeLimit", "medium"):
                    if option in mount:
                        ctx.report(
                            entry,
                            spot.at("volumes", i, option),
                            f"{option} applies to scratch volumes only",
                            "the size of a Volume is its spec.size",
                            code="value.scratch",
                            key=True,
                        )
                continue
            options = {k: mount[k] for k in ("sizeLimit", "medium") if k in mount}
            first = scratch.get(name)
            if first is None:
                scratch[name] = (options, spot, i)
            elif options and first[0] and options != first[0]:
                ctx.report(
                    entry,
                    spot.at("volumes", i, "scratch"),
                    f"scratch volume '{name}' is declared with other options than where {first[1].noun} mounts it",
                    "give sizeLimit and medium once, or the same everywhere",
                    code="value.scratch",
                )
    for name, (_, spot, i) in scratch.items():
        if name in named:
            ctx.report(
                entry,
                spot.at("volumes", i, "scratch"),
                f"'{name}' names both a scratch volume and a Volume in this pod",
                "give the scratch volume another name",
                code="value.duplicate",
            )


def _inline_size(ctx: CheckContext, entry: Entry, spots: list[Spot]) -> None:
    total = 0
    keys: dict[str, str] = {}
    for spot in spots:
        for i, file in enumerate(items(spot.data.get("files"))):
            if "content" not in file:
                continue
            total += len(str(file["content"]).encode())
            path = str(file["path"])
            key = path.strip("/").replace("/", "_")
            if key in keys and keys[key] != path:
                ctx.report(
                    entry,
                    spot.at("files", i, "path"),
                    f"files '{keys[key]}' and '{path}' would share the key '{key}' of the App's ConfigMap",
                    "rename one of them",
                    code="value.duplicate",
                )
            keys.setdefault(key, path)
            if total > MAX_INLINE_BYTES:
                ctx.report(
                    entry,
                    spot.at("files", i, "content"),
                    f"the inline files of this App hold more than {MAX_INLINE_BYTES} bytes; a ConfigMap takes no more",
                    "move the large files into the image or a Volume",
                    code="value.size",
                )
                return


def _port_names(spot: Spot) -> list[str]:
    return [p["name"] for p in items(spot.data.get("ports"))]


def _probes(ctx: CheckContext, entry: Entry, spot: Spot) -> None:
    ports = _port_names(spot)
    for kind, probe in mapping(spot.data.get("probes")).items():
        for field in ("tcp", "port", "grpc"):
            value = probe.get(field)
            if isinstance(value, str) and value not in ports:
                guess = did_you_mean(value, ports)
                ctx.report(
                    entry,
                    spot.at("probes", kind, field),
                    f"probe port '{value}' is not a port of {spot.noun}",
                    f"did you mean '{guess}'?"
                    if guess
                    else ("ports: " + ", ".join(ports) if ports else "declare it in ports"),
                    code="ref.port",
                )
        if "http" in probe and "port" not in probe and not ports:
            ctx.report(
                entry,
                spot.at("probes", kind),
                "an HTTP probe needs a port",
                "set port, or declare ports (the first one is used)",
                code="ref.port",
                key=True,
            )


def _pre_stop(ctx: CheckContext, entry: Entry) -> None:
    stop = mapping(entry.spec().get("preStop"))
    ports = [p["name"] for p in items(entry.spec().get("ports"))]
    port = stop.get("port")
    if isinstance(port, str) and port not in ports:
        ctx.report(
            entry, ("spec", "preStop", "port"), f"preStop port '{port}' is not a port of this App", code="ref.port"
        )
    elif "http" in stop and port is None and not ports:
        ctx.report(
            entry,
            ("spec", "preStop"),
            "an HTTP preStop needs a port",
            "set port, or declare spec.ports",
            code="ref.port",
            key=True,
        )


def _requests_within_limits(ctx: CheckContext, entry: Entry, spot: Spot) -> None:
    resources = mapping(spot.data.get("resources"))
    limits = mapping(resources.get("limits"))
    for resource in ("cpu", "memory", "ephemeralStorage"):
        if resource in resources and resource in limits:
            request = parse_quantity(resources[resource])
            limit = parse_quantity(limits[resource])
            if request > limit:
                ctx.report(
                    entry,
                    spot.at("resources", resource),
                    f"{resource} request {resources[resource]} is above its limit {limits[resource]}",
                    "a request can be at most the limit",
                    code="value.resources",
                )


def _restricted(ctx: CheckContext, entry: Entry, spots: list[Spot]) -> None:
    """What the Pod Security restricted level refuses, told at the line instead of at pod creation."""
    tenant = ctx.valid_entry("Tenant", str(entry.tenant))
    if tenant is None or tenant.spec().get("podSecurity") != "restricted":
        return
    why = f"tenant '{entry.tenant}' enforces the restricted Pod Security level"
    for spot in spots:
        security = mapping(spot.data.get("securityContext"))
        base: DocPath = ("securityContext",)
        if security.get("runAsUser") == 0:
            ctx.report(entry, spot.at(*base, "runAsUser"), "runAsUser 0 runs as root", why, code="value.security")
        if security.get("runAsNonRoot") is False:
            ctx.report(
                entry, spot.at(*base, "runAsNonRoot"), "runAsNonRoot must not be false", why, code="value.security"
            )
        if security.get("allowPrivilegeEscalation") is True:
            ctx.report(
                entry,
                spot.at(*base, "allowPrivilegeEscalation"),
                "privilege escalation cannot be allowed",
                why,
                code="value.security",
            )
        for j, capability in enumerate(items(mapping(security.get("capabilities")).get("add"))):
            if capability != "NET_BIND_SERVICE":
                ctx.report(
                    entry,
                    spot.at(*base, "capabilities", "add", j),
                    f"capability {capability} cannot be added",
                    f"{why}: only NET_BIND_SERVICE may be added",
                    code="value.security",
                )


def image_tag(ctx: CheckContext, entry: Entry, path: DocPath, image: object) -> None:
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
