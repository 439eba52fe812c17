"""Walking a platform repo checkout: which files to read, and what each place may hold.

Layout (see PLATFORM-FORMAT.md)::

    platform.yaml                    Platform
    notifications/**/*.yaml          NotificationList
    templates/**/*.yaml              Template
    tenants/<tenant>/tenant.yaml     Tenant
    tenants/<tenant>/secrets/*.yaml  Kubernetes Secrets encrypted with SOPS (age)
    tenants/<tenant>/manifests/**    raw Kubernetes manifests (the escape hatch)
    tenants/<tenant>/**/*.yaml       App, Volume, Policy, Autoscaling, Job, Patch

Symlinks are followed only while they stay inside their own area: a link in a tenant's folder
only to something in the same tenant's folder, any other link only to something in the checkout
outside ``tenants/``. A repo is untrusted input: a link to ``/etc`` or another checkout must not be
read (or leak into messages), a link from ``tenants/a/`` into ``tenants/b/`` would move b's apps
into namespace a (and prune them from b), and a link from ``templates/`` into a tenant's folder
would let that tenant write Templates. Tenant folders, and ``tenants/`` itself, are never links.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from daemon.errors import Problem

Place = Literal["platform", "notifications", "templates", "tenant", "tenant-object", "tenant-secret", "tenant-manifest"]

PLATFORM_FILE: Final = "platform.yaml"
TENANT_FILES: Final = ("tenant.yaml", "tenant.yml")
#: The folder of a tenant that holds its encrypted Secrets (not Dockyard documents).
SECRETS_DIR: Final = "secrets"
#: The folder of a tenant that holds its raw Kubernetes manifests.
MANIFESTS_DIR: Final = "manifests"
KNOWN_TOP_LEVEL: Final = (PLATFORM_FILE, "notifications", "templates", "tenants")
YAML_SUFFIXES: Final = (".yaml", ".yml")
# Files every repo has that are none of our business; anything else unknown gets a warning.
_IGNORED_NAMES: Final = frozenset({"LICENSE", "CODEOWNERS", "OWNERS", "Makefile", "NOTICE"})
_IGNORED_SUFFIXES: Final = (".md", ".txt", ".rst", ".adoc")

#: Which kinds each place may hold, and where each kind belongs (for messages).
ALLOWED_KINDS: Final[dict[Place, tuple[str, ...]]] = {
    "platform": ("Platform",),
    "notifications": ("NotificationList",),
    "templates": ("Template",),
    "tenant": ("Tenant",),
    "tenant-object": ("App", "Volume", "Policy", "Autoscaling", "Job", "Patch"),
    "tenant-secret": (),
    "tenant-manifest": (),
}
HOME_OF_KIND: Final = {
    "Platform": "platform.yaml",
    "NotificationList": "notifications/",
    "Template": "templates/",
    "Tenant": "tenants/<tenant>/tenant.yaml",
    "App": "tenants/<tenant>/",
    "Volume": "tenants/<tenant>/",
    "Policy": "tenants/<tenant>/",
    "Autoscaling": "tenants/<tenant>/",
    "Job": "tenants/<tenant>/",
    "Patch": "tenants/<tenant>/",
}


@dataclass(frozen=True, slots=True)
class SourceFile:
    rel: str  # repo-relative, '/'-separated: how problems name the file
    path: Path  # what to open (a symlink's target inside the repo)
    place: Place
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class RepoFiles:
    files: tuple[SourceFile, ...]
    problems: tuple[Problem, ...]
    tenant_dirs: tuple[str, ...]


class _Walker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[SourceFile] = []
        self.problems: list[Problem] = []
        self.tenant_dirs: list[str] = []
        self.visited: set[Path] = {root}

    def entries(self, directory: Path, rel: str) -> list[tuple[str, str, Path, bool]]:
        """(name, rel, real path, is_dir) of the entries worth looking at, sorted by name."""
        try:
            with os.scandir(directory) as scan:
                raw = sorted(scan, key=lambda e: e.name)
        except OSError as e:
            self.problems.append(
                Problem(rel or ".", 0, 0, f"cannot read the folder: {e.strerror or e}", code="file.unreadable")
            )
            return []
        result = []
        for entry in raw:
            if entry.name.startswith("."):
                continue  # .git, .github, .gitignore, editor files
            entry_rel = f"{rel}/{entry.name}" if rel else entry.name
            real = Path(entry.path)
            if entry.is_symlink():
                resolved = self.follow(real, entry_rel)
                if resolved is None:
                    continue
                real = resolved
            try:
                is_dir = real.is_dir()
            except OSError:
                is_dir = False
            result.append((entry.name, entry_rel, real, is_dir))
        return result

    def follow(self, link: Path, rel: str) -> Path | None:
        try:
            target = link.resolve(strict=True)
        except (OSError, RuntimeError):
            self.problems.append(Problem(rel, 0, 0, "broken symlink (or a symlink loop)", code="file.symlink"))
            return None
        if not target.is_relative_to(self.root):
            self.problems.append(
                Problem(
                    rel,
                    0,
                    0,
                    "symlink points outside the repository; it is not read",
                    hint="copy the file into the repository instead",
                    code="file.symlink-escape",
                )
            )
            return None
        parts = rel.split("/")
        shown = target.relative_to(self.root).as_posix() or "."
        tenants = self.root / "tenants"
        if parts[0] == "tenants" and len(parts) <= 2:
            what = "tenants/" if len(parts) == 1 else f"the tenant folder {rel}/"
            self.problems.append(
                Problem(
                    rel,
                    0,
                    0,
                    f"{what} is a symlink (to {shown}); it is not read",
                    hint="tenant folders must be real folders, so that each tenant's files are its own",
                    code="file.symlink-escape",
                )
            )
            return None
        if parts[0] == "tenants":
            home = tenants / parts[1]
            if not target.is_relative_to(home):
                self.problems.append(
                    Problem(
                        rel,
                        0,
                        0,
                        f"symlink leads out of the tenant folder tenants/{parts[1]}/ (to {shown}); it is not read",
                        hint="a tenant's documents must be in its own folder; copy the file instead",
                        code="file.symlink-escape",
                    )
                )
                return None
        elif target.is_relative_to(tenants):
            self.problems.append(
                Problem(
                    rel,
                    0,
                    0,
                    f"symlink leads into a tenant folder (to {shown}); it is not read",
                    hint="platform files (platform.yaml, notifications/, templates/) cannot come from a tenant's "
                    "folder; copy the file instead",
                    code="file.symlink-escape",
                )
            )
            return None
        return target

    def walk(self) -> None:
        found_platform = False
        for name, rel, real, is_dir in self.entries(self.root, ""):
            if name == PLATFORM_FILE and not is_dir:
                found_platform = True
                self.files.append(SourceFile(rel, real, "platform"))
            elif name in ("notifications", "templates") and is_dir:
                self.yaml_tree(real, rel, name)  # type: ignore[arg-type]
            elif name == "tenants" and is_dir:
                self.tenants(real, rel)
            elif name in _IGNORED_NAMES or name.endswith(_IGNORED_SUFFIXES) or name.startswith("README"):
                continue
            else:
                close = difflib.get_close_matches(name, KNOWN_TOP_LEVEL, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else "expected: " + ", ".join(KNOWN_TOP_LEVEL)
                self.problems.append(
                    Problem(
                        rel,
                        0,
                        0,
                        f"unknown top-level {'folder' if is_dir else 'file'} '{name}' is ignored",
                        hint=hint,
                        severity="warning",
                        code="layout.unknown",
                    )
                )
        if not found_platform:
            self.problems.append(
                Problem(
                    PLATFORM_FILE,
                    0,
                    0,
                    "the repository has no platform.yaml",
                    hint="every platform repo needs exactly one Platform document in platform.yaml",
                    code="layout.missing-platform",
                )
            )

    def yaml_tree(self, directory: Path, rel: str, place: Place, tenant: str | None = None) -> None:
        if directory in self.visited:
            return  # a symlink back into a folder already read
        self.visited.add(directory)
        for name, entry_rel, real, is_dir in self.entries(directory, rel):
            if is_dir:
                self.yaml_tree(real, entry_rel, place, tenant)
            elif name.endswith(YAML_SUFFIXES):
                self.files.append(SourceFile(entry_rel, real, place, tenant))

    def tenants(self, directory: Path, rel: str) -> None:
        self.visited.add(directory)
        for name, entry_rel, real, is_dir in self.entries(directory, rel):
            if not is_dir:
                if name.endswith(YAML_SUFFIXES):
                    self.problems.append(
                        Problem(
                            entry_rel,
                            0,
                            0,
                            "files directly in tenants/ are not read",
                            hint=f"move it into a tenant folder, e.g. tenants/<tenant>/{name}",
                            code="layout.misplaced",
                        )
                    )
                continue
            if real in self.visited:
                continue
            self.visited.add(real)
            self.tenant_dirs.append(name)
            has_tenant_file = False
            for child, child_rel, child_real, child_is_dir in self.entries(real, entry_rel):
                if child_is_dir and child == SECRETS_DIR:
                    self.yaml_tree(child_real, child_rel, "tenant-secret", name)
                elif child_is_dir and child == MANIFESTS_DIR:
                    self.yaml_tree(child_real, child_rel, "tenant-manifest", name)
                elif child_is_dir:
                    self.yaml_tree(child_real, child_rel, "tenant-object", name)
                elif child in TENANT_FILES:
                    has_tenant_file = True
                    self.files.append(SourceFile(child_rel, child_real, "tenant", name))
                elif child.endswith(YAML_SUFFIXES):
                    self.files.append(SourceFile(child_rel, child_real, "tenant-object", name))
            if not has_tenant_file:
                self.problems.append(
                    Problem(
                        f"{entry_rel}/tenant.yaml",
                        0,
                        0,
                        f"tenant folder '{name}' has no tenant.yaml",
                        hint="add a Tenant document named after the folder, or remove the folder",
                        code="layout.missing-tenant",
                    )
                )


def walk(root: Path) -> RepoFiles:
    """The files of the repo at ``root`` (an existing directory), with layout problems."""
    walker = _Walker(root.resolve())
    walker.walk()
    return RepoFiles(tuple(walker.files), tuple(walker.problems), tuple(walker.tenant_dirs))
