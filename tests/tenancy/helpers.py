"""A platform repo to attack from inside one tenant folder, and what loading and rendering it gives."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daemon.errors import Problem, ValidationFailed
from daemon.loader import LoadResult, load_repo
from daemon.render import render
from tests.loader.helpers import BASE, repo, text

PLATFORM = text(BASE["platform.yaml"])


def platform_with(extra_spec: str) -> str:
    """platform.yaml of the base repo with ``extra_spec`` (YAML indented as under ``spec:``) added."""
    return PLATFORM + "".join(f"  {line}\n" for line in text(extra_spec).splitlines())


def tenant(name: str, spec: str = 'quota: {cpu: "1", memory: 1Gi}', *, metadata: str = "") -> str:
    body = "\n".join("  " + line for line in text(spec).splitlines())
    meta = "\n".join("  " + line for line in text(metadata).splitlines()) + "\n" if metadata else ""
    return f"apiVersion: dockyard.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: {name}\n{meta}spec:\n{body}\n"


def document(kind: str, name: str, spec: str, *, metadata: str = "") -> str:
    body = "\n".join("  " + line for line in text(spec).splitlines())
    meta = "\n".join("  " + line for line in text(metadata).splitlines()) + "\n" if metadata else ""
    return f"apiVersion: dockyard.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n{meta}spec:\n{body}\n"


def load(root: Path, changes: Mapping[str, str | bytes | None], **options: Any) -> LoadResult:
    return load_repo(repo(root, changes), **options)


def errors_at(result: LoadResult, file: str) -> list[Problem]:
    return [p for p in result.errors if p.file == file]


def rendered(root: Path, changes: Mapping[str, str | bytes | None]) -> list[dict[str, Any]]:
    """The objects of a valid repo (fails with every problem when it is not)."""
    result = load(root, changes)
    assert result.model is not None, [p.format() for p in result.errors]
    return render(result.model)


def render_problems(root: Path, changes: Mapping[str, str | bytes | None]) -> list[Problem]:
    result = load(root, changes)
    assert result.model is not None, [p.format() for p in result.errors]
    try:
        render(result.model)
    except ValidationFailed as e:
        return list(e.problems)
    return []
