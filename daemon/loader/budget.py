"""Budgets of one load: how much a repo may hold, and how many problems are worth showing.

A hostile commit must be rejected in seconds and in bounded memory, whatever it holds: 20 files
of 100,000 bad items must not become two million explained problems. So the repo as a whole is
bounded (files, bytes, documents and values, on top of the per-file limits of ``yamlsource``),
schema errors are explained for the first few of a document and only counted after that, and
the problems shown are capped per file and per repo, each cap saying how many it left out.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from typing import Final

from jsonschema import ValidationError

from daemon.errors import Problem, Severity
from daemon.loader.hints import Explainer
from daemon.loader.repo import SourceFile

MAX_REPO_FILES: Final = 20_000
MAX_REPO_BYTES: Final = 64 * 1024 * 1024
MAX_REPO_DOCUMENTS: Final = 100_000
#: Values built over the whole repo (aliases expanded): about twice a platform of 1,000 tenants.
MAX_REPO_VALUES: Final = 1_000_000
#: Schema errors explained per document; the ones after that are counted up to the next limit.
MAX_EXPLAINED_PER_DOCUMENT: Final = 20
MAX_COUNTED_PER_DOCUMENT: Final = 1_000
MAX_PROBLEMS_PER_FILE: Final = 50
MAX_PROBLEMS: Final = 1_000


def repo_problems(files: Sequence[SourceFile]) -> list[Problem]:
    """Why the repo is too large to read at all (checked from the walk, before any file is read)."""
    if len(files) > MAX_REPO_FILES:
        return [
            Problem(
                files[MAX_REPO_FILES].rel,
                0,
                0,
                f"the repository has {len(files):,} YAML files, more than the limit of {MAX_REPO_FILES:,}; "
                "none was read",
                hint="a platform repo of this size is not supported",
                code="budget.files",
            )
        ]
    total = 0
    for source in files:
        try:
            total += os.stat(source.path).st_size
        except OSError:
            continue  # reading it reports why
        if total > MAX_REPO_BYTES:
            return [
                Problem(
                    source.rel,
                    0,
                    0,
                    f"the repository's YAML files hold more than {MAX_REPO_BYTES // 2**20} MiB; none was read",
                    hint="a platform repo of this size is not supported",
                    code="budget.bytes",
                )
            ]
    return []


def over_budget(source: SourceFile, documents: int, values: int, unread: int) -> Problem | None:
    """The problem to report, at the first file not read, once the repo's documents or values
    went over their budget (``unread`` files are left)."""
    if documents > MAX_REPO_DOCUMENTS:
        what = f"more than {MAX_REPO_DOCUMENTS:,} documents"
    elif values > MAX_REPO_VALUES:
        what = f"more than {MAX_REPO_VALUES:,} values"
    else:
        return None
    return Problem(
        source.rel,
        0,
        0,
        f"the repository holds {what}; this file and {unread - 1:,} more were not read",
        hint="a platform repo of this size is not supported; split very large files and lists",
        code="budget.repo",
    )


def schema_problems(explainer: Explainer, errors: Iterable[ValidationError], file: str, line: int) -> list[Problem]:
    """The first errors of one document explained, the rest counted (up to a limit) in one line."""
    stream = iter(errors)
    found = explainer.problems(itertools.islice(stream, MAX_EXPLAINED_PER_DOCUMENT))
    more = sum(1 for _ in itertools.islice(stream, MAX_COUNTED_PER_DOCUMENT))
    if more:
        counted = f"at least {more:,}" if more >= MAX_COUNTED_PER_DOCUMENT else f"{more:,}"
        # Where the last explained one is, so that sorting keeps this line after them.
        last = max(found, default=None)
        found.append(
            Problem(
                last.file if last else file,
                last.line if last else line,
                last.column if last else 1,
                f"and {counted} more schema errors in this document",
                hint=f"the first {MAX_EXPLAINED_PER_DOCUMENT} are shown; fix them and validate again",
                code="budget.problems",
            )
        )
    return found


def capped(problems: Sequence[Problem]) -> tuple[Problem, ...]:
    """Sorted ``problems`` with at most :data:`MAX_PROBLEMS_PER_FILE` per file and
    :data:`MAX_PROBLEMS` in all; each cut is replaced by a line that says how many it left out."""
    shown: list[Problem] = []
    for file, group in itertools.groupby(problems, key=lambda p: p.file):
        of_file = list(group)
        shown.extend(of_file[:MAX_PROBLEMS_PER_FILE])
        left = of_file[MAX_PROBLEMS_PER_FILE:]
        if left:
            shown.append(_summary(left, f"and {len(left):,} more problems in this file", file))
    if len(shown) <= MAX_PROBLEMS:
        return tuple(shown)
    left = shown[MAX_PROBLEMS:]
    files = len({p.file for p in left})
    summary = _summary(left, f"and {len(left):,} more problems in {files:,} files", left[0].file)
    return (*shown[:MAX_PROBLEMS], summary)


def _summary(left: Sequence[Problem], message: str, file: str) -> Problem:
    severity: Severity = "error" if any(p.severity == "error" for p in left) else "warning"
    return Problem(
        file,
        left[0].line,
        left[0].column,
        message,
        hint="fix the problems shown and validate again",
        severity=severity,
        code="budget.problems",
    )
