"""Writing new files into a platform repo, all or nothing: written, validated, or taken back."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from daemon.edges.files import FileExists, UnsafePath, create_text, read_text, remove_written, write_text
from daemon.errors import ValidationFailed
from daemon.loader import load_repo
from daemon.loader.schemas import schema_path


def schema_ref(root: Path, rel: str, kind: str) -> str:
    """The modeline's path from the file ``root/rel`` to the JSON Schema of ``kind``."""
    target = schema_path(kind).resolve()
    base = root.resolve()
    if not target.is_relative_to(base.parent):
        return target.as_posix()  # the schemas are not next to the repo: where they are installed
    return Path(os.path.relpath(target, (base / rel).parent)).as_posix()


def write_validated(root: Path, files: Mapping[str, str], *, force: bool, scope: tuple[str, ...]) -> None:
    """Writes ``files`` (repo-relative path -> text) and validates the repo.

    Nothing is overwritten unless ``force``. When the repo then has an error in a file under one
    of the ``scope`` prefixes (what the new files touch: their tenant's folder), every file is put
    back as it was and :class:`ValidationFailed` names the errors; errors elsewhere in the repo
    were there before and are not ours to judge.
    """
    if not force:
        existing = [rel for rel in files if (root / rel).exists() or (root / rel).is_symlink()]
        if existing:
            raise FileExists(", ".join(existing) + " exists; nothing was written (pass --force to overwrite)")
    previous: dict[str, str] = {}
    made: list[str] = []
    written: list[str] = []
    try:
        for rel, text in files.items():
            if force and (root / rel).exists():
                previous[rel] = read_text(root, rel)
                write_text(root, rel, text)
            else:
                made.extend(create_text(root, rel, text))
                written.append(rel)
        result = load_repo(root)
        ours = [p for p in result.errors if p.file.startswith(scope)]
    except (UnsafePath, FileExists, OSError):
        _undo(root, previous, written, made)
        raise
    if ours:
        _undo(root, previous, written, made)
        raise ValidationFailed(tuple(ours))


def _undo(root: Path, previous: Mapping[str, str], written: list[str], made: list[str]) -> None:
    for rel, text in previous.items():
        write_text(root, rel, text)
    remove_written(root, written, made)
