"""Checks across documents: names, references and facts no single schema can see.

References are checked against every document that has a name, valid or not: an App that mounts
a Volume with a typo in its size must not also be told the Volume does not exist. Checks that need
the content of the referenced document (its ports, its storage classes) use it only when it is
valid. Warnings are for things that work but probably are not what was meant.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Final

from daemon.errors import Problem
from daemon.loader import formats
from daemon.loader.documents import Entry
from daemon.loader.hints import did_you_mean
from daemon.model.events import EVENT_NAMES
from daemon.model.kinds import TENANT_KINDS
from daemon.model.quantity import parse_quantity

#: Events Dockyard emits (PLATFORM-FORMAT.md); notification lists subscribe by name or pattern.
EVENTS: Final = EVENT_NAMES
EVENT_PATTERNS: Final = tuple(sorted({e.split(".")[0] + ".*" for e in EVENTS})) + EVENTS + ("*",)
RESERVED_LABEL_PREFIX: Final = "dockyard.dev/"

_Path = tuple[str | int, ...]


def _spec(entry: Entry) -> dict[str, Any]:
    return entry.spec()


def _items(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class CrossChecker:
    def __init__(self, entries: Sequence[Entry], tenant_dirs: Iterable[str] = ()) -> None:
        self.entries = entries
        self.problems: list[Problem] = []
        self.names: dict[tuple[str, str | None], dict[str, Entry]] = defaultdict(dict)
        for entry in entries:
            if entry.name is not None:
                self.names[(entry.kind, self.scope(entry))].setdefault(entry.name, entry)
        self.tenant_names = set(self.names[("Tenant", None)]) | set(tenant_dirs)
        self.platform = next((e for e in entries if e.kind == "Platform" and e.valid), None)
        self.valid: dict[str, list[Entry]] = defaultdict(list)
        self.valid_of_tenant: dict[tuple[str, str | None], list[Entry]] = defaultdict(list)
        for entry in entries:
            if entry.valid:
                self.valid[entry.kind].append(entry)
                self.valid_of_tenant[(entry.kind, entry.tenant)].append(entry)
        self.scaling: dict[tuple[str | None, str], Entry] = {}
        for entry in self.valid["Autoscaling"]:
            self.scaling.setdefault((entry.tenant, str(_spec(entry).get("target"))), entry)

    @staticmethod
    def scope(entry: Entry) -> str | None:
        return entry.tenant if entry.kind in TENANT_KINDS else None

    def run(self) -> list[Problem]:
        self.duplicates()
        self.tenant_folders()
        self.platform_refs()
        self.tenant_refs()
        self.apps()
        self.volumes()
        self.policies()
        self.autoscalings()
        self.notification_lists()
        self.labels()
        self.quotas()
        return self.problems

    # --- helpers ----------------------------------------------------------------------------------

    def add(
        self,
        entry: Entry,
        path: _Path,
        message: str,
        hint: str = "",
        *,
        code: str,
        key: bool = False,
        warning: bool = False,
    ) -> None:
        self.problems.append(
            entry.problem(path, message, hint, code=code, key=key, severity="warning" if warning else "error")
        )

    def where(self, entry: Entry, path: _Path = ("metadata", "name")) -> str:
        location = entry.doc.locate(path)
        return f"{location.file}:{location.line}"

    def exists(self, kind: str, name: str, tenant: str | None = None) -> bool:
        return name in self.names.get((kind, tenant), {})

    def entry(self, kind: str, name: str, tenant: str | None = None) -> Entry | None:
        return self.names.get((kind, tenant), {}).get(name)

    def valid_entry(self, kind: str, name: str, tenant: str | None = None) -> Entry | None:
        found = self.entry(kind, name, tenant)
        return found if found is not None and found.valid else None

    def require(
        self, entry: Entry, path: _Path, kind: str, name: object, tenant: str | None = None, *, noun: str = ""
    ) -> bool:
        """Report a dangling reference from ``entry`` at ``path``; True when it resolves."""
        if not isinstance(name, str):
            return False
        if kind == "Tenant":
            if name in self.tenant_names:
                return True
            choices: Iterable[str] = self.tenant_names
        else:
            if self.exists(kind, name, tenant):
                return True
            choices = self.names.get((kind, tenant), {})
        noun = noun or kind
        where = f" in tenant '{tenant}'" if tenant else ""
        guess = did_you_mean(name, choices)
        if guess:
            hint = f"did you mean '{guess}'?"
        elif choices:
            hint = f"{noun}s{where}: " + ", ".join(sorted(choices))
        else:
            hint = f"there is no {noun}{where} yet"
        self.add(entry, path, f"{noun} '{name}' does not exist{where}", hint, code="ref.dangling")
        return False

    # --- names --------------------------------------------------------------------------------------

    def duplicates(self) -> None:
        first: dict[tuple[str, str | None, str], Entry] = {}
        platform: Entry | None = None
        tenant_files: dict[str, Entry] = {}
        for entry in self.entries:
            if entry.kind == "Platform":
                if platform is not None:
                    self.add(
                        entry,
                        ("kind",),
                        "there must be exactly one Platform document",
                        f"another one is at {self.where(platform, ('kind',))}",
                        code="document.platform-count",
                    )
                    continue
                platform = entry
            if entry.kind == "Tenant":
                if entry.file in tenant_files:
                    self.add(
                        entry,
                        ("kind",),
                        "tenant.yaml must hold exactly one Tenant document",
                        f"the first is at {self.where(tenant_files[entry.file], ('kind',))}",
                        code="document.tenant-count",
                    )
                    continue
                tenant_files[entry.file] = entry
            if entry.name is None:
                continue
            scope = self.scope(entry)
            key = (entry.kind, scope, entry.name)
            if key in first:
                where = f" in tenant '{scope}'" if scope else ""
                self.add(
                    entry,
                    ("metadata", "name"),
                    f"duplicate {entry.kind} '{entry.name}'{where}",
                    f"the first is at {self.where(first[key])}; names are unique per kind"
                    + (" and tenant" if scope else ""),
                    code="ref.duplicate",
                )
            else:
                first[key] = entry

    def tenant_folders(self) -> None:
        for entry in self.entries:
            if entry.kind == "Tenant" and entry.name is not None and entry.name != entry.tenant:
                self.add(
                    entry,
                    ("metadata", "name"),
                    f"Tenant '{entry.name}' is in folder tenants/{entry.tenant}/; the folder must be named "
                    "after the tenant",
                    f"rename the folder to tenants/{entry.name}/ or set metadata.name: {entry.tenant}",
                    code="layout.tenant-name",
                )

    # --- Platform and Tenant ----------------------------------------------------------------------

    def platform_refs(self) -> None:
        entry = self.platform
        if entry is None:
            return
        spec = _spec(entry)
        default = _mapping(spec.get("notifications")).get("default")
        if default is not None:
            self.require(
                entry, ("spec", "notifications", "default"), "NotificationList", default, noun="notification list"
            )
        sync = _mapping(spec.get("sync"))
        for key in ("interval", "driftCheckInterval"):
            if isinstance(sync.get(key), str) and formats.parse_duration(sync[key]) == 0:
                self.add(
                    entry, ("spec", "sync", key), f"{key} must be longer than 0s", "e.g. 1m", code="value.duration"
                )
        for i, window in enumerate(_items(sync.get("windows"))):
            if formats.parse_duration(window["duration"]) == 0:
                self.add(
                    entry,
                    ("spec", "sync", "windows", i, "duration"),
                    "a sync window must last longer than 0s",
                    code="value.duration",
                )
            for j, tenant in enumerate(_items(window.get("tenants"))):
                if tenant != "*":
                    self.require(entry, ("spec", "sync", "windows", i, "tenants", j), "Tenant", tenant, noun="tenant")
        names: dict[str, int] = {}
        default_at: int | None = None
        for i, item in enumerate(_items(spec.get("storageClasses"))):
            if item["name"] in names:
                self.add(
                    entry,
                    ("spec", "storageClasses", i, "name"),
                    f"storage class '{item['name']}' is defined twice",
                    code="ref.duplicate",
                )
            names.setdefault(item["name"], i)
            if item.get("default"):
                if default_at is not None:
                    first = spec["storageClasses"][default_at]["name"]
                    self.add(
                        entry,
                        ("spec", "storageClasses", i, "default"),
                        f"more than one default storage class ('{first}' and '{item['name']}')",
                        "mark only one class as default",
                        code="value.default-class",
                    )
                else:
                    default_at = i
        roles = _items(_mapping(_mapping(spec.get("chat")).get("slack")).get("roles"))
        for i, role in enumerate(roles):
            for j, tenant in enumerate(_items(role.get("tenants"))):
                if tenant != "*":
                    self.require(
                        entry, ("spec", "chat", "slack", "roles", i, "tenants", j), "Tenant", tenant, noun="tenant"
                    )

    def platform_classes(self) -> dict[str, dict[str, Any]] | None:
        if self.platform is None:
            return None
        return {c["name"]: c for c in _items(_spec(self.platform).get("storageClasses"))}

    def tenant_refs(self) -> None:
        classes = self.platform_classes()
        for entry in self.valid["Tenant"]:
            spec = _spec(entry)
            for i, name in enumerate(_items(spec.get("notifications"))):
                self.require(entry, ("spec", "notifications", i), "NotificationList", name, noun="notification list")
            for i, item in enumerate(_items(_mapping(spec.get("network")).get("allowFrom"))):
                self.require(
                    entry, ("spec", "network", "allowFrom", i, "tenant"), "Tenant", item["tenant"], noun="tenant"
                )
            if classes is not None:
                for i, name in enumerate(_items(spec.get("storageClasses"))):
                    if name not in classes:
                        guess = did_you_mean(name, classes)
                        self.add(
                            entry,
                            ("spec", "storageClasses", i),
                            f"storage class '{name}' is not defined in platform.yaml",
                            f"did you mean '{guess}'?" if guess else "classes: " + ", ".join(classes),
                            code="ref.storage-class",
                        )

    # --- App ----------------------------------------------------------------------------------------

    def apps(self) -> None:
        domains: dict[str, tuple[Entry, int]] = {}
        for entry in self.valid["App"]:
            spec = _spec(entry)
            tenant = entry.tenant
            for i, mount in enumerate(_items(spec.get("volumes"))):
                self.require(entry, ("spec", "volumes", i, "volume"), "Volume", mount["volume"], tenant, noun="volume")
            self.unique(entry, spec, "ports", "name", "port name")
            seen_ports: dict[tuple[int, str], int] = {}
            for i, port in enumerate(_items(spec.get("ports"))):
                number = (port["port"], port.get("protocol", "TCP"))
                if number in seen_ports:
                    self.add(
                        entry,
                        ("spec", "ports", i, "port"),
                        f"port {port['port']} is listed twice",
                        code="value.duplicate",
                    )
                seen_ports.setdefault(number, i)
            self.unique(entry, spec, "env", "name", "environment variable")
            self.unique(entry, spec, "volumes", "mountPath", "mount path")
            self.probes(entry, spec)
            for i, domain in enumerate(_items(spec.get("domains"))):
                if domain in domains:
                    other, index = domains[domain]
                    self.add(
                        entry,
                        ("spec", "domains", i),
                        f"domain '{domain}' is already claimed by App '{other.tenant}/{other.name}'",
                        f"see {self.where(other, ('spec', 'domains', index))}; a domain routes to one App",
                        code="ref.domain",
                    )
                else:
                    domains[domain] = (entry, i)
            if spec.get("domains") and not spec.get("ports"):
                self.add(
                    entry,
                    ("spec", "domains"),
                    "domains need a port to route to",
                    "add spec.ports; the Ingress sends traffic to the first port",
                    code="value.domains",
                    key=True,
                )
            self.requests_within_limits(entry, spec)
            self.image_tag(entry, ("spec", "image"), spec.get("image"))
            canary = _mapping(spec.get("canary"))
            if canary:
                self.image_tag(entry, ("spec", "canary", "image"), canary.get("image"))

    def unique(self, entry: Entry, spec: dict[str, Any], field: str, key: str, noun: str) -> None:
        seen: set[object] = set()
        for i, item in enumerate(_items(spec.get(field))):
            value = item.get(key)
            if value in seen:
                self.add(entry, ("spec", field, i, key), f"{noun} '{value}' is used twice", code="value.duplicate")
            seen.add(value)

    def probes(self, entry: Entry, spec: dict[str, Any]) -> None:
        ports = [p["name"] for p in _items(spec.get("ports"))]
        for kind, probe in _mapping(spec.get("probes")).items():
            for field in ("tcp", "port"):
                value = probe.get(field)
                if isinstance(value, str) and value not in ports:
                    guess = did_you_mean(value, ports)
                    self.add(
                        entry,
                        ("spec", "probes", kind, field),
                        f"probe port '{value}' is not a port of this App",
                        f"did you mean '{guess}'?"
                        if guess
                        else ("ports: " + ", ".join(ports) if ports else "declare it in spec.ports"),
                        code="ref.port",
                    )
            if "http" in probe and "port" not in probe and not ports:
                self.add(
                    entry,
                    ("spec", "probes", kind),
                    "an HTTP probe needs a port",
                    "set port, or declare spec.ports (the first one is used)",
                    code="ref.port",
                    key=True,
                )

    def requests_within_limits(self, entry: Entry, spec: dict[str, Any]) -> None:
        resources = _mapping(spec.get("resources"))
        limits = _mapping(resources.get("limits"))
        for resource in ("cpu", "memory"):
            if resource in resources and resource in limits:
                request = parse_quantity(resources[resource])
                limit = parse_quantity(limits[resource])
                if request > limit:
                    self.add(
                        entry,
                        ("spec", "resources", resource),
                        f"{resource} request {resources[resource]} is above its limit {limits[resource]}",
                        "a request can be at most the limit",
                        code="value.resources",
                    )

    def image_tag(self, entry: Entry, path: _Path, image: object) -> None:
        if not isinstance(image, str):
            return
        last = image.rsplit("/", 1)[-1]
        if "@" in last:
            return
        if ":" not in last:
            self.add(
                entry,
                path,
                f"image '{image}' has no tag, so it means ':latest'",
                f"pin a version, e.g. {image}:1.0, so every sync runs the same code",
                code="value.image",
                warning=True,
            )
        elif last.endswith(":latest"):
            self.add(
                entry,
                path,
                f"image '{image}' uses the moving tag ':latest'",
                "pin a version so every sync runs the same code",
                code="value.image",
                warning=True,
            )

    # --- Volume -------------------------------------------------------------------------------------

    def volumes(self) -> None:
        classes = self.platform_classes()
        default = next((name for name, c in (classes or {}).items() if c.get("default")), None)
        mounts: dict[tuple[str | None, str], list[tuple[Entry, int]]] = defaultdict(list)
        for app in self.valid["App"]:
            for i, mount in enumerate(_items(_spec(app).get("volumes"))):
                mounts[(app.tenant, mount["volume"])].append((app, i))
        for entry in self.valid["Volume"]:
            spec = _spec(entry)
            if classes is not None:
                self.storage_class(entry, spec, classes, default)
            if spec.get("accessMode", "ReadWriteOnce") in ("ReadWriteOnce", "ReadWriteOncePod"):
                self.single_writer(entry, mounts.get((entry.tenant, str(entry.name)), []))

    def storage_class(
        self, entry: Entry, spec: dict[str, Any], classes: dict[str, dict[str, Any]], default: str | None
    ) -> None:
        name = spec.get("storageClass")
        path: _Path
        if name is None:
            if default is None:
                self.add(
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
                self.add(
                    entry,
                    path,
                    f"storage class '{name}' is not defined in platform.yaml",
                    f"did you mean '{guess}'?" if guess else "classes: " + ", ".join(classes),
                    code="ref.storage-class",
                )
                return
        tenant = self.valid_entry("Tenant", str(entry.tenant))
        allowed = _spec(tenant).get("storageClasses") if tenant is not None else None
        if isinstance(allowed, list) and name not in allowed:
            self.add(
                entry,
                path,
                f"tenant '{entry.tenant}' may not use storage class '{name}'",
                "allowed: " + ", ".join(allowed) + " (spec.storageClasses of the Tenant)",
                code="ref.storage-class",
                key=path == ("spec",),
            )
        if "backup" in spec and not classes[name].get("snapshotClass"):
            self.add(
                entry,
                ("spec", "backup"),
                f"backups are snapshots, and storage class '{name}' has no snapshotClass",
                "use a class with a snapshotClass, or add one to the class in platform.yaml",
                code="ref.snapshot-class",
                key=True,
            )

    def single_writer(self, volume: Entry, users: list[tuple[Entry, int]]) -> None:
        for index, (app, i) in enumerate(users):
            path = ("spec", "volumes", i, "volume")
            if index > 0:
                first = users[0][0]
                self.add(
                    app,
                    path,
                    f"volume '{volume.name}' is ReadWriteOnce and already mounted by App '{first.name}'",
                    "both pods can only run on the same node; use ReadWriteMany (cephfs)",
                    code="value.access-mode",
                    warning=True,
                )
            elif self.max_pods(app) > 1 and not _spec(app).get("stateful"):
                self.add(
                    app,
                    path,
                    f"volume '{volume.name}' is ReadWriteOnce but App '{app.name}' can run {self.max_pods(app)} pods",
                    "pods on other nodes cannot mount it; use ReadWriteMany (cephfs) or one replica",
                    code="value.access-mode",
                    warning=True,
                )

    def max_pods(self, app: Entry) -> int:
        scaling = self.scaling.get((app.tenant, str(app.name)))
        if scaling is not None:
            return int(_spec(scaling)["maxReplicas"])
        return int(_spec(app).get("replicas", 1))

    # --- Policy -------------------------------------------------------------------------------------

    def policies(self) -> None:
        for entry in self.valid["Policy"]:
            spec = _spec(entry)
            tenant = entry.tenant
            for i, rule in enumerate(_items(spec.get("network"))):
                allow = rule["allow"]
                source = allow["from"]
                base: _Path = ("spec", "network", i, "allow")
                source_tenant = source.get("tenant", tenant)
                tenant_ok = True
                if "tenant" in source:
                    tenant_ok = self.require(
                        entry, (*base, "from", "tenant"), "Tenant", source["tenant"], noun="tenant"
                    )
                if "app" in source and tenant_ok:
                    self.require(entry, (*base, "from", "app"), "App", source["app"], source_tenant, noun="App")
                if self.require(entry, (*base, "to", "app"), "App", allow["to"]["app"], tenant, noun="App"):
                    self.rule_ports(entry, base, allow)
            alert_names: set[str] = set()
            for i, alert in enumerate(_items(spec.get("alerts"))):
                path: _Path = ("spec", "alerts", i)
                if alert["name"] in alert_names:
                    self.add(
                        entry,
                        (*path, "name"),
                        f"alert '{alert['name']}' is defined twice in this Policy",
                        code="value.duplicate",
                    )
                alert_names.add(alert["name"])
                if "app" in alert:
                    self.require(entry, (*path, "app"), "App", alert["app"], tenant, noun="App")
                for j, name in enumerate(_items(alert.get("notify"))):
                    self.require(entry, (*path, "notify", j), "NotificationList", name, noun="notification list")

    def rule_ports(self, entry: Entry, base: _Path, allow: dict[str, Any]) -> None:
        target = self.valid_entry("App", allow["to"]["app"], entry.tenant)
        if target is None:
            return
        ports = [p["port"] for p in _items(_spec(target).get("ports"))]
        for j, port in enumerate(_items(allow.get("ports"))):
            if port not in ports:
                self.add(
                    entry,
                    (*base, "ports", j),
                    f"port {port} is not a port of App '{target.name}'",
                    "its ports: " + (", ".join(str(p) for p in ports) if ports else "none"),
                    code="ref.port",
                    warning=True,
                )

    # --- Autoscaling --------------------------------------------------------------------------------

    def autoscalings(self) -> None:
        targets: dict[tuple[str | None, str], Entry] = {}
        for entry in self.valid["Autoscaling"]:
            spec = _spec(entry)
            target = spec["target"]
            if self.require(entry, ("spec", "target"), "App", target, entry.tenant, noun="App"):
                key = (entry.tenant, target)
                if key in targets:
                    self.add(
                        entry,
                        ("spec", "target"),
                        f"App '{target}' already has an Autoscaling ('{targets[key].name}')",
                        f"see {self.where(targets[key], ('spec', 'target'))}; one Autoscaling per App",
                        code="ref.autoscaling",
                    )
                else:
                    targets[key] = entry
            low, high = spec["minReplicas"], spec["maxReplicas"]
            if low > high:
                self.add(
                    entry,
                    ("spec", "minReplicas"),
                    f"minReplicas {low} is above maxReplicas {high}",
                    code="value.replicas",
                )
            for i, schedule in enumerate(_items(spec.get("schedules"))):
                lower = schedule.get("minReplicas", low)
                upper = schedule.get("maxReplicas", high)
                if lower > upper:
                    self.add(
                        entry,
                        ("spec", "schedules", i),
                        f"while this schedule is active the replicas would be at least {lower} and at most {upper}",
                        "keep minReplicas at or below maxReplicas",
                        code="value.replicas",
                        key=True,
                    )
                if formats.parse_duration(schedule["duration"]) == 0:
                    self.add(
                        entry,
                        ("spec", "schedules", i, "duration"),
                        "a schedule must last longer than 0s",
                        code="value.duration",
                    )

    # --- NotificationList and labels ----------------------------------------------------------------

    def notification_lists(self) -> None:
        for entry in self.valid["NotificationList"]:
            for i, pattern in enumerate(_items(_spec(entry).get("events"))):
                if not any(fnmatch.fnmatchcase(event, pattern) for event in EVENTS):
                    guess = did_you_mean(pattern, EVENT_PATTERNS)
                    self.add(
                        entry,
                        ("spec", "events", i),
                        f"'{pattern}' matches no event",
                        f"did you mean '{guess}'?" if guess else "events: " + ", ".join(EVENTS),
                        code="ref.event",
                    )

    def labels(self) -> None:
        for entry in self.entries:
            if not entry.valid:
                continue
            for key in _mapping(_mapping(entry.data.get("metadata")).get("labels")):
                if key.startswith(RESERVED_LABEL_PREFIX):
                    self.add(
                        entry,
                        ("metadata", "labels", key),
                        f"label '{key}' is reserved for Dockyard",
                        f"labels under {RESERVED_LABEL_PREFIX} are set by Dockyard itself",
                        code="value.label",
                        key=True,
                    )

    # --- quotas -------------------------------------------------------------------------------------

    def quotas(self) -> None:
        for tenant in self.valid["Tenant"]:
            spec = _spec(tenant)
            quota = _mapping(spec.get("quota"))
            if not quota:
                continue
            limits = _mapping(spec.get("limits"))
            apps = self.valid_of_tenant[("App", tenant.tenant)]
            pods = {id(a): self.max_pods(a) for a in apps}
            totals: dict[str, Decimal] = {"cpu": Decimal(0), "memory": Decimal(0)}
            defaults = {"cpu": limits.get("defaultCpu"), "memory": limits.get("defaultMemory")}
            for app in apps:
                resources = _mapping(_spec(app).get("resources"))
                for resource in totals:
                    value = resources.get(resource, defaults[resource])
                    if value is not None:
                        totals[resource] += parse_quantity(value) * pods[id(app)]
            for resource, total in totals.items():
                if resource in quota and total > parse_quantity(quota[resource]):
                    self.add(
                        tenant,
                        ("spec", "quota", resource),
                        f"the apps of tenant '{tenant.name}' request {_human(total, resource)} {resource} at "
                        f"their most replicas, more than the quota of {quota[resource]}",
                        "pods beyond the quota will not start; raise the quota or lower requests or replicas",
                        code="value.quota",
                        warning=True,
                    )
            if "pods" in quota and sum(pods.values()) > quota["pods"]:
                self.add(
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
                    (parse_quantity(_spec(v)["size"]) for v in self.valid_of_tenant[("Volume", tenant.tenant)]),
                    Decimal(0),
                )
                if storage > parse_quantity(quota["storage"]):
                    self.add(
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
