"""What each Template takes and renders, for ``dockyard template list`` and ``template show``.

A Template's shape is its ``extends`` chain merged (as the loader merges it for an App): the
parameter schema with its docs and defaults, and the App spec with its ``${name}`` placeholders
still in place. The catalog's entries and the repo's ``templates/`` are read alike, so a repo
Template extending a catalog entry shows what it adds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.errors import Problem
from daemon.loader import budget, catalog
from daemon.loader.documents import Entry, classify
from daemon.loader.hints import Explainer
from daemon.loader.repo import walk
from daemon.loader.schemas import validator
from daemon.loader.templates import resolve_templates
from daemon.loader.yamlsource import build_value, read_file


@dataclass(frozen=True)
class TemplateShape:
    name: str  # a repo Template's name, or catalog/NAME@VERSION
    file: str  # where it is written (<catalog>/... for the catalog)
    extends: tuple[str, ...]  # its bases, nearest first
    parameters: Mapping[str, Any]  # the merged parameter schema
    app: Mapping[str, Any]  # the merged App (or Job) spec, placeholders unfilled
    kind: str = "App"  # what it renders: App or Job

    @property
    def title(self) -> str:
        return str(self.parameters.get("title") or "")

    @property
    def description(self) -> str:
        return " ".join(str(self.parameters.get("description") or "").split())


def repo_templates(root: Path) -> tuple[list[Entry], list[Problem]]:
    """The schema-checked Template entries of ``templates/`` in the repo at ``root``."""
    repo = walk(root)
    entries: list[Entry] = []
    problems: list[Problem] = [p for p in repo.problems if p.file.startswith("templates")]
    for source in repo.files:
        if source.place != "templates":
            continue
        documents, found = read_file(source.path, source.rel)
        problems.extend(found)
        for document in documents:
            entry, found = classify(document, source)
            problems.extend(found)
            if entry is None:
                continue
            found = budget.schema_problems(
                Explainer(entry.doc, tenant=None),
                validator("Template").iter_errors(entry.data),
                entry.file,
                entry.doc.line,
            )
            problems.extend(found)
            entry.valid = not found
            entries.append(entry)
    return entries, problems


def shapes(root: Path | None = None) -> tuple[dict[str, TemplateShape], list[Problem]]:
    """Every template's shape: the whole catalog, and the templates of the repo at ``root``."""
    entries: list[Entry] = []
    problems: list[Problem] = []
    for file in catalog.shipped():
        entry, found = catalog.read_entry(file)
        problems.extend(found)
        if entry is not None:
            entries.append(entry)
    if root is not None:
        found_entries, found = repo_templates(root)
        entries.extend(found_entries)
        problems.extend(found)
    resolved, found = resolve_templates(entries)
    problems.extend(found)
    result: dict[str, TemplateShape] = {}
    for name, template in resolved.items():
        app, found = build_value(template.body, template.entry.file)
        problems.extend(found)
        result[name] = TemplateShape(
            name,
            template.entry.file,
            tuple(str(e.name) for e in template.chain[1:]),
            template.parameters,
            app if isinstance(app, dict) else {},
            template.kind,
        )
    return dict(sorted(result.items())), problems
