"""Comparing two revisions of the platform repo offline: validate both, render both, review.

Nothing here talks to a cluster or the network: both revisions are directories (exported from git
by :mod:`daemon.edges.revisions`, or a work tree as it is), loaded with the real loader (sharing one
cache, so the files both revisions have in common are parsed once) and rendered by the real
renderer, without scheduled scaling (the repo's own bounds: a review must not depend on the hour).
Used by ``dockyard diff`` and ``dockyard review``, the daemon's merge-request reviews and chat.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from daemon.edges.revisions import RevisionReader
from daemon.errors import SourceError
from daemon.loader import LoadCache, LoadResult, load_repo
from daemon.model.refs import Revision
from daemon.policy.review import Comparison, RevisionSide, review
from daemon.render import render


@dataclass(frozen=True)
class Tree:
    """One side to compare: a directory holding a platform repo, and what to call it."""

    path: Path
    label: str
    sha: str = ""
    message: str = ""


def compare_trees(base: Tree, head: Tree, *, now: datetime, validate_only: bool = False, note: str = "") -> Comparison:
    """The comparison of two platform directories. ``validate_only``: only the head's problems (a
    fork's merge request: nothing of it is rendered)."""
    # As loading does (daemon.loader.load): rendering and reviewing allocate millions of objects
    # that form no cycles, and the cyclic collector rescanning the growing heap doubles the time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _compare(base, head, now=now, validate_only=validate_only, note=note)
    finally:
        if enabled:
            gc.enable()


def _compare(base: Tree, head: Tree, *, now: datetime, validate_only: bool, note: str) -> Comparison:
    cache = LoadCache()
    head_result = load_repo(head.path, cache)
    base_result: LoadResult | None = None if validate_only else load_repo(base.path, cache)
    comparison = Comparison(
        base.label, base.sha, head.label, head.sha, head_problems=head_result.problems, note=note, fork=validate_only
    )
    if base_result is None:
        return comparison
    if base_result.model is None:
        return replace(comparison, base_errors=base_result.errors)
    if head_result.model is None:
        return comparison
    before = RevisionSide(base_result.model, tuple(render(base_result.model)), base.sha, base.message)
    after = RevisionSide(head_result.model, tuple(render(head_result.model)), head.sha, head.message)
    return replace(comparison, review=review(before, after, now=now))


@contextmanager
def revision_trees(
    reader: RevisionReader, base_ref: str, head_ref: str | None, *, work_tree: Path | None = None, merge: bool = False
) -> Iterator[tuple[Tree, Tree, str]]:
    """The two sides of a comparison from a repository, exported while the context lasts, and a
    note on how the head was made.

    ``head_ref`` None: the work tree as it is (``work_tree``, uncommitted changes included).
    ``merge``: the head is the merge of ``head_ref`` into ``base_ref`` (what the target branch will
    hold), or, when they conflict, the head commit itself (and the note says so)."""
    base_sha = reader.resolve(base_ref)
    if head_ref is None and work_tree is None:
        raise SourceError("a bare repository has no work tree to compare: pass --head REF")
    head_sha = reader.resolve(head_ref) if head_ref is not None else ""
    note, treeish = "", head_sha
    if head_ref is not None and merge:
        merged = reader.merge_tree(base_sha, head_sha)
        if merged is not None:
            treeish = merged
            named = head_sha[:8] if head_sha.startswith(head_ref) else f"{head_ref} ({head_sha[:8]})"
            note = f"The head is {named} merged into {base_ref}, as the merge will leave it."
        else:
            note = f"{head_ref} does not merge cleanly into {base_ref}; compared with {head_ref} as it is."
    with ExitStack() as stack:
        # Both exports at once: git does the writing, and two of them overlap well.
        with ThreadPoolExecutor(max_workers=2) as pool:
            wanted = [base_sha, treeish] if treeish else [base_sha]
            futures = [pool.submit(stack.enter_context, reader.exported(t)) for t in wanted]
            dirs = [f.result() for f in futures]
        base = Tree(dirs[0], base_ref, base_sha, reader.message(base_sha))
        if head_ref is None:
            assert work_tree is not None
            head = Tree(work_tree, "the work tree")
        else:
            head = Tree(dirs[1], head_ref, head_sha, reader.message(head_sha))
        yield base, head, note


_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@contextmanager
def _tree_of(reader: RevisionReader | None, sha: str, on_disk: Path | None) -> Iterator[Path | None]:
    if on_disk is not None and on_disk.is_dir():
        yield on_disk
        return
    if reader is None or not _COMMIT.match(sha) or not reader.has(sha):
        yield None
        return
    with reader.exported(sha) as path:
        yield path


def pending_comparison(
    reader: RevisionReader | None, applied: str, current: Revision, *, now: datetime, why_no_reader: str = ""
) -> Comparison | str:
    """The revision the daemon has against the one it applied, computed now from Git; a sentence
    saying why not when the applied revision cannot be read (it is then not in the git cache)."""
    with _tree_of(reader, applied, None) as base_dir, _tree_of(reader, current.sha, Path(current.path)) as head_dir:
        if base_dir is None:
            if reader is None:
                return f"the applied revision {applied[:12]} cannot be read: {why_no_reader}"
            if not _COMMIT.match(applied):
                return f"the applied revision {applied[:24]} had uncommitted changes, which Git does not keep"
            return (
                f"the applied revision {applied[:12]} is not in the daemon's git cache any more (the branch's "
                f"history was rewritten?); `dockyard diff --base {applied[:12]} --head {current.sha[:12]}` in a "
                "clone that has both compares them"
            )
        assert head_dir is not None
        return compare_trees(
            Tree(base_dir, "applied", applied, reader.message(applied) if reader is not None else ""),
            Tree(head_dir, "current", current.sha, current.message),
            now=now,
        )
