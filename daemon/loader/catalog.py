"""The catalog: versioned Templates shipped with Dockyard, referenced as ``catalog/NAME@VERSION``.

Each entry is a file ``daemon/catalog/NAME@VERSION.yaml`` whose first document is a Template
(``metadata.name`` is NAME). Its parameter schema carries the docs (``title``, ``description``,
each parameter's ``description`` and ``default``). Documents after the first are what
``dockyard new app`` writes next to an App made from the entry (the Volume of a database), with
``${app}`` standing for the App's name; the loader never reads them.

A version, once shipped, never changes what it renders: a change is a new file with the next
version, so a repo moves to it by editing its ``template:`` line in review. The loader reads only
the entries a repo refers to (from an App's or a Job's ``template`` or a Template's ``extends``, and the
entries those extend), so a repo without catalog references loads exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from daemon.errors import Problem
from daemon.loader import budget
from daemon.loader.documents import Entry
from daemon.loader.hints import Explainer
from daemon.loader.repo import SourceFile
from daemon.loader.schemas import validator
from daemon.loader.yamlsource import Document, read_file

PREFIX: Final = "catalog/"
#: How problems and listings name a catalog file (never confused with a file of the repo).
FILE_PREFIX: Final = "<catalog>/"
_REF: Final = re.compile(r"^catalog/([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)@([1-9][0-9]{0,5})$")
_FILE: Final = re.compile(r"^([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)@([1-9][0-9]{0,5})\.yaml$")


@dataclass(frozen=True, slots=True)
class CatalogFile:
    name: str
    version: int
    path: Path

    @property
    def ref(self) -> str:
        return f"{PREFIX}{self.name}@{self.version}"

    @property
    def rel(self) -> str:
        return f"{FILE_PREFIX}{self.name}@{self.version}.yaml"


def catalog_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "catalog"


def shipped(directory: Path | None = None) -> tuple[CatalogFile, ...]:
    """Every entry of the catalog, by name and version."""
    found = []
    for path in (directory or catalog_dir()).iterdir():
        match = _FILE.match(path.name)
        if match and path.is_file():
            found.append(CatalogFile(match.group(1), int(match.group(2)), path))
    return tuple(sorted(found, key=lambda f: (f.name, f.version)))


def is_ref(name: object) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def split_ref(ref: str) -> tuple[str, int | None]:
    """(NAME, VERSION) of ``catalog/NAME@VERSION`` or ``NAME[@VERSION]`` (VERSION None when absent)."""
    text = ref.removeprefix(PREFIX)
    name, _, version = text.partition("@")
    return name, int(version) if version.isdigit() and len(version) <= 6 else None


def find(ref: str, files: Iterable[CatalogFile] | None = None) -> CatalogFile | None:
    """The entry ``catalog/NAME@VERSION`` names, or (without a version) the newest of NAME."""
    name, version = split_ref(ref)
    matches = [f for f in (shipped() if files is None else files) if f.name == name]
    if version is None:
        return matches[-1] if matches else None
    return next((f for f in matches if f.version == version), None)


def unknown(ref: str, files: Iterable[CatalogFile] | None = None) -> str:
    """Why ``ref`` names no entry, and what the catalog has instead."""
    files = tuple(shipped() if files is None else files)
    name, version = split_ref(ref)
    versions = [f.version for f in files if f.name == name]
    if not versions:
        return f"the catalog has no template '{name}'; it has: {_listing(files)}"
    shown = ", ".join(f"{PREFIX}{name}@{v}" for v in versions)
    if version is None or not _REF.match(ref):
        return f"write a catalog template as catalog/NAME@VERSION: {shown}"
    return f"the catalog has no version {version} of {name}; it has {shown}"


def _listing(files: Iterable[CatalogFile]) -> str:
    return ", ".join(f.ref for f in files) or "nothing"


def read_entry(file: CatalogFile) -> tuple[Entry | None, list[Problem]]:
    """The Template of ``file`` as a schema-checked entry named by its ref."""
    documents, problems = read_file(file.path, file.rel)
    if not documents:
        return None, problems or [Problem(file.rel, 0, 0, "the catalog file holds no Template", code="catalog")]
    doc = documents[0]
    data = doc.data if isinstance(doc.data, dict) else {}
    source = SourceFile(file.rel, file.path, "templates")
    entry = Entry("Template", source, doc, None, file.ref, data)
    found = budget.schema_problems(
        Explainer(doc, tenant=None), validator("Template").iter_errors(data), file.rel, doc.line
    )
    entry.valid = not found and data.get("kind") == "Template"
    return entry, [*problems, *found]


def scaffolds(file: CatalogFile) -> list[Document]:
    """The documents ``dockyard new app`` writes next to an App made from ``file``."""
    documents, _ = read_file(file.path, file.rel)
    return documents[1:]


def referenced(entries: Iterable[Entry]) -> tuple[list[Entry], list[Problem]]:
    """The catalog entries ``entries`` refer to, with the entries those extend.

    A reference to an entry that does not exist is left to the template resolution, which reports
    it where it is written (with :func:`unknown` as its hint).
    """
    wanted = [str(v) for e in entries for v in _references(e) if is_ref(v)]
    if not wanted:
        return [], []  # most repos: no catalog file is even listed
    files = shipped()
    loaded: dict[str, Entry] = {}
    problems: list[Problem] = []
    while wanted:
        ref = wanted.pop()
        if ref in loaded:
            continue
        file = find(ref, files) if _REF.match(ref) else None
        if file is None:
            continue
        entry, found = read_entry(file)
        problems.extend(found)
        if entry is None:
            continue
        loaded[ref] = entry
        base = entry.spec().get("extends")
        if is_ref(base):
            wanted.append(str(base))
    return list(loaded.values()), problems


def _references(entry: Entry) -> tuple[object, ...]:
    if entry.kind in ("App", "Job"):
        return (entry.spec().get("template"),)
    if entry.kind == "Template":
        return (entry.spec().get("extends"),)
    return ()
