"""What every family of checks shares: the documents indexed by kind and name, and the problems found."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from daemon.errors import Problem
from daemon.loader.documents import Entry
from daemon.loader.hints import did_you_mean
from daemon.model.kinds import TENANT_KINDS

#: Where in a document a problem is: mapping keys and list indexes from the root.
DocPath = tuple[str | int, ...]


def items(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def scope(entry: Entry) -> str | None:
    """The tenant a name is unique in; None for kinds whose names are unique across the platform."""
    return entry.tenant if entry.kind in TENANT_KINDS else None


def where(entry: Entry, path: DocPath = ("metadata", "name")) -> str:
    location = entry.doc.locate(path)
    return f"{location.file}:{location.line}"


class CheckContext:
    """The entries of one load, indexed once for all families, and the problems they report in order."""

    def __init__(
        self, entries: Sequence[Entry], tenant_dirs: Iterable[str] = (), reserved_namespaces: Iterable[str] = ()
    ) -> None:
        self.entries = entries
        #: namespaces reserved where the load runs (the daemon's own), on top of platform.yaml's
        self.reserved_namespaces = tuple(reserved_namespaces)
        self.problems: list[Problem] = []
        self.names: dict[tuple[str, str | None], dict[str, Entry]] = defaultdict(dict)
        for entry in entries:
            if entry.name is not None:
                self.names[(entry.kind, scope(entry))].setdefault(entry.name, entry)
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
            self.scaling.setdefault((entry.tenant, str(entry.spec().get("target"))), entry)

    def report(
        self,
        entry: Entry,
        path: DocPath,
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

    def exists(self, kind: str, name: str, tenant: str | None = None) -> bool:
        return name in self.names.get((kind, tenant), {})

    def entry(self, kind: str, name: str, tenant: str | None = None) -> Entry | None:
        return self.names.get((kind, tenant), {}).get(name)

    def valid_entry(self, kind: str, name: str, tenant: str | None = None) -> Entry | None:
        found = self.entry(kind, name, tenant)
        return found if found is not None and found.valid else None

    def require(
        self, entry: Entry, path: DocPath, kind: str, name: object, tenant: str | None = None, *, noun: str = ""
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
        in_tenant = f" in tenant '{tenant}'" if tenant else ""
        guess = did_you_mean(name, choices)
        if guess:
            hint = f"did you mean '{guess}'?"
        elif choices:
            hint = f"{noun}s{in_tenant}: " + ", ".join(sorted(choices))
        else:
            hint = f"there is no {noun}{in_tenant} yet"
        self.report(entry, path, f"{noun} '{name}' does not exist{in_tenant}", hint, code="ref.dangling")
        return False

    def platform_classes(self) -> dict[str, dict[str, Any]] | None:
        """The storage classes of platform.yaml by name; None when there is no valid Platform."""
        if self.platform is None:
            return None
        return {c["name"]: c for c in items(self.platform.spec().get("storageClasses"))}

    def max_pods(self, app: Entry) -> int:
        """The most pods ``app`` can run: its Autoscaling's maxReplicas, else its replicas."""
        scaling = self.scaling.get((app.tenant, str(app.name)))
        if scaling is not None:
            return int(scaling.spec()["maxReplicas"])
        return int(app.spec().get("replicas", 1))
