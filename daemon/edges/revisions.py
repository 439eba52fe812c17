"""Revisions of a git repository read as directories, for comparing one with another offline.

:class:`RevisionReader` works on any git directory (a work tree's, a bare repository, the daemon's
cache) and never holds a credential: it only reads objects that are already there (fetching is the
git edge's job, :class:`~daemon.edges.git.GitRepo`). What it runs is plumbing that executes nothing
from the revision's content, in an environment without the user's or the system's git config, so
no filter driver or hook named there runs on content that may come from a fork::

    RevisionReader.at(path)                   the repository that holds ``path`` (a directory in a
                                              work tree, or a bare repository), with ``path``'s
                                              place in it as the platform directory
    reader.resolve(ref) -> sha                SourceError naming the ref when there is none
    reader.message(sha) -> str
    reader.merge_tree(base, head) -> tree | None   the tree of merging head into base, None on conflicts
    with reader.exported(treeish) as platform: ...  the platform directory of that revision, in a
                                              private temporary directory removed afterwards
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from daemon.edges.git import GitResult, run_git, summarise_stderr
from daemon.errors import SourceError

#: git without the user's and the system's configuration: no filter drivers, no hooks, no aliases.
_PLAIN_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_ATTR_NOSYSTEM": "1",
    "GIT_NO_REPLACE_OBJECTS": "1",
}


#: Exports are written once, read once and removed: a memory file system spares the disk, when it
#: has room (containers often give /dev/shm only 64 MiB, so it must have at least this much free).
_MEMORY_FS = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private (0700) directory in it
_MEMORY_FS_FREE = 1 << 30


def scratch_dir() -> Path | None:
    """Where exports go by default: /dev/shm with room to spare, else the system's temp dir (None)."""
    try:
        stat = os.statvfs(_MEMORY_FS)
    except OSError:
        return None
    if stat.f_bavail * stat.f_frsize < _MEMORY_FS_FREE or not os.access(_MEMORY_FS, os.W_OK | os.X_OK):
        return None
    return _MEMORY_FS


class RevisionReader:
    def __init__(
        self, git_dir: Path, *, prefix: str = "", work_tree: Path | None = None, timeout: float = 60.0
    ) -> None:
        self.git_dir = Path(git_dir).absolute()
        self.prefix = prefix.strip("/")
        #: the platform directory as it is in the work tree (None for a bare repository)
        self.work_tree = work_tree
        self._timeout = timeout

    @classmethod
    def at(cls, path: Path, *, timeout: float = 60.0) -> RevisionReader:
        """The repository holding ``path``; SourceError when ``path`` is in none."""
        path = Path(path).absolute()
        if not path.is_dir():
            raise SourceError(f"{path}: no such directory")
        found = run_git(["rev-parse", "--absolute-git-dir", "--show-prefix", "--is-bare-repository"], cwd=path)
        if found.status != 0:
            raise SourceError(f"{path} is not inside a git repository: {summarise_stderr(found.stderr)}")
        lines = found.stdout.splitlines()
        git_dir = lines[0].strip()
        bare = lines[-1].strip() == "true"
        prefix = "" if bare else (lines[1].strip() if len(lines) == 3 else "")
        return cls(Path(git_dir), prefix=prefix, work_tree=None if bare else path, timeout=timeout)

    def _git(self, *args: str, env: dict[str, str] | None = None) -> GitResult:
        return run_git(
            ["--git-dir", str(self.git_dir), *args],
            cwd=self.git_dir,
            env={**_PLAIN_ENV, **(env or {})},
            timeout=self._timeout,
        )

    def _ok(self, what: str, *args: str, env: dict[str, str] | None = None) -> str:
        result = self._git(*args, env=env)
        if result.status != 0:
            raise SourceError(f"{what} failed: {summarise_stderr(result.stderr) or f'exit status {result.status}'}")
        return result.stdout

    def resolve(self, ref: str) -> str:
        """The commit ``ref`` names (a branch, a tag, a sha, ``HEAD~2``...)."""
        if not ref or ref.startswith("-"):
            raise SourceError(f"{ref!r} is not a revision")
        result = self._git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        sha = result.stdout.strip()
        if result.status != 0 or not sha:
            raise SourceError(
                f"there is no revision {ref!r} in {self.git_dir} (a branch, tag or commit; "
                "in CI, fetch the base branch first, e.g. `git fetch origin main`)"
            )
        return sha

    def has(self, sha: str) -> bool:
        return self._git("cat-file", "-e", f"{sha}^{{commit}}").status == 0

    def message(self, sha: str) -> str:
        return self._ok(f"reading the message of {sha[:12]}", "show", "--no-patch", "--format=%B", sha).strip()

    def merge_tree(self, base: str, head: str) -> str | None:
        """The tree of ``head`` merged into ``base`` (what the branch holds after the merge), or None
        when they conflict (or git is older than 2.38)."""
        result = self._git("merge-tree", "--write-tree", "--no-messages", base, head)
        if result.status != 0:
            return None
        tree = result.stdout.splitlines()[0].strip() if result.stdout else ""
        return tree or None

    @contextlib.contextmanager
    def exported(self, treeish: str, scratch: Path | None = None) -> Iterator[Path]:
        """The platform directory of ``treeish`` in a private temporary directory."""
        parent = Path(tempfile.mkdtemp(prefix="dockyard-rev-", dir=scratch or scratch_dir()))
        tree = parent / "tree"
        tree.mkdir()
        index = {"GIT_INDEX_FILE": str(parent / "index")}
        try:
            self._ok(f"reading the tree of {treeish[:12]}", "read-tree", treeish, env=index)
            self._ok(
                f"checking out {treeish[:12]}",
                "--work-tree",
                str(tree),
                "checkout-index",
                "--all",
                "--force",
                env=index,
            )
            platform = tree / self.prefix if self.prefix else tree
            if not platform.is_dir():
                raise SourceError(f"revision {treeish[:12]} has no directory {self.prefix}/")
            yield platform
        finally:
            shutil.rmtree(parent, ignore_errors=True)
