"""Where revisions of the platform repo come from: a Git remote, or a local directory.

Public API (used by the reconcile loop; keep it stable)::

    class Source(Protocol):                     # runtime_checkable
        def fetch(self) -> Revision: ...       # the newest revision, materialised on disk
        def describe(self) -> str: ...         # the location, safe to log (no credentials)

    GitSource(remote: GitRemote, workdir)
        fetch() -> Revision     clone on first call, then fetch; resolves the branch (default:
                                the remote's HEAD), the tag or the pinned commit and checks its
                                tree out into ``workdir/checkouts/<sha>`` (the newest 3 are kept);
                                with ``remote.subdir``, the revision's path is that subdirectory
        describe() -> str       the URL without credentials
    LocalSource(path)
        fetch() -> Revision     the directory as it is now: ``<HEAD>`` when clean, else
                                ``<HEAD>-dirty-<hash>``, or ``local-<hash>`` outside a git repo
        describe() -> str

Every git failure raises :class:`~daemon.errors.SourceError`, whose message never contains a
credential (the git edge, :mod:`daemon.edges.git`, hands credentials over and redacts output).

The cache is ``workdir/cache.git``, a bare repository whose ``origin`` points at the URL without
credentials. Only what is followed is fetched (the branch, the tag, or the remote HEAD; every
branch and tag for a pinned commit until it is found, then nothing), always with forced ``+``
refspecs and ``--prune``, so force-pushes and rewritten history simply move the refs. One
``GitSource`` per ``workdir``: concurrent fetches in one process are serialised, separate
processes sharing a workdir are not supported.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from daemon.edges.git import (
    REMOTE,
    GitRemote,
    GitRepo,
    Redactor,
    SignatureReader,
    TrustedKeys,
    check,
    remove,
    run_git,
    summarise_stderr,
)
from daemon.errors import SourceError
from daemon.model.refs import Revision, Signature

_log = logging.getLogger(__name__)

#: How many materialised checkouts stay on disk: the one in use, the one before (still read by a
#: cycle that started before the fetch) and one spare for a rollback.
KEEP_CHECKOUTS = 3


_HEAD_REF = "refs/dockyard/remote-head"


_TMP_PREFIX = ".tmp-"


@runtime_checkable
class Source(Protocol):
    """Anything the reconcile loop can take revisions from."""

    def fetch(self) -> Revision: ...

    def describe(self) -> str: ...


class GitSource:
    """A remote Git repository, cached in ``workdir`` and checked out one directory per commit."""

    def __init__(self, remote: GitRemote, *, workdir: Path, trusted: TrustedKeys | None = None) -> None:
        self._repo = GitRepo(remote, workdir)
        self._signatures = SignatureReader(trusted or TrustedKeys(), workdir)
        self._remote = remote
        self._workdir = self._repo.workdir
        self._checkouts = self._workdir / "checkouts"
        self._commit = remote.commit.lower() if remote.commit else None
        self._lock = threading.Lock()
        self._prepared = False

    # --- public API

    @property
    def repo(self) -> GitRepo:
        """The git edge over this source's cache (chat commits share it)."""
        return self._repo

    def describe(self) -> str:
        """The remote URL with any credential removed, safe for logs and messages."""
        described = self._repo.describe()
        return f"{described}//{self._remote.subdir}" if self._remote.subdir else described

    def fetch(self) -> Revision:
        """Brings the cache up to date and returns the wanted commit, checked out on disk."""
        with self._lock:
            self._prepare()
            self._repo.install_key()
            sha = self._update_and_resolve()
            path = self._materialise(sha)
            author, message = self._commit_info(sha)
            signature = self._signatures.read(self._repo.run, sha)
            self._prune(keep=path)
        _log.debug("fetched %s at %s", self._repo.describe(), sha)
        subdir = self._remote.subdir.strip("/")
        if subdir:
            path = path / subdir
            if not path.is_dir():
                raise SourceError(f"revision {sha[:8]} has no directory {subdir!r}")
        return Revision(sha=sha, path=str(path), author=author, message=message, signature=signature)

    # --- git plumbing

    def _prepare(self) -> None:
        if self._prepared:
            return
        self._repo.ensure_cache()
        self._checkouts.mkdir(exist_ok=True)
        # Leftovers of a checkout interrupted by a crash.
        for leftover in self._checkouts.glob(f"{_TMP_PREFIX}*"):
            remove(leftover)
        self._prepared = True

    def _refspecs(self) -> list[str]:
        if self._remote.branch is not None:
            return [f"+refs/heads/{self._remote.branch}:refs/remotes/{REMOTE}/{self._remote.branch}"]
        if self._remote.tag is not None:
            return [f"+refs/tags/{self._remote.tag}:refs/tags/{self._remote.tag}"]
        if self._commit is not None:
            return [f"+refs/heads/*:refs/remotes/{REMOTE}/*", "+refs/tags/*:refs/tags/*"]
        # Only what is followed: other branches cost bandwidth and disk and are never used.
        return [f"+HEAD:{_HEAD_REF}"]

    def _fetch(self, refspecs: Sequence[str]) -> None:
        self._repo.run("fetch", "--quiet", "--force", "--prune", "--no-tags", REMOTE, *refspecs, network=True)

    def _update_and_resolve(self) -> str:
        if self._commit is not None:
            # A pinned commit never changes: once it is in the cache there is nothing to fetch.
            found = self._resolve(f"{self._commit}^{{commit}}")
            if found:
                return found
            self._fetch(self._refspecs())
            found = self._resolve(f"{self._commit}^{{commit}}")
            if found is None and len(self._commit) == 40:
                # Not reachable from a branch or tag: servers may still hand it out by id.
                with contextlib.suppress(SourceError):
                    self._fetch([self._commit])
                found = self._resolve(f"{self._commit}^{{commit}}")
            if found is None:
                raise SourceError(f"commit {self._commit} was not found in {self._repo.describe()}")
            return found

        self._fetch(self._refspecs())
        if self._remote.branch is not None:
            ref, what = f"refs/remotes/{REMOTE}/{self._remote.branch}", f"branch {self._remote.branch}"
        elif self._remote.tag is not None:
            ref, what = f"refs/tags/{self._remote.tag}", f"tag {self._remote.tag}"
        else:
            ref, what = _HEAD_REF, "the default branch (HEAD)"
        found = self._resolve(f"{ref}^{{commit}}")
        if found is None:
            raise SourceError(f"{what} of {self._repo.describe()} does not point at a commit")
        return found

    def _resolve(self, rev: str) -> str | None:
        try:
            out = self._repo.run("rev-parse", "--verify", "--quiet", "--end-of-options", rev)
        except SourceError:
            return None
        return out.strip() or None

    def _commit_info(self, sha: str) -> tuple[str, str]:
        out = self._repo.run("show", "--no-patch", "--format=%an%x00%ae%x00%B", sha)
        name, email, message = [*out.split("\x00", 2), "", ""][:3]
        return f"{name} <{email}>", message.strip()

    # --- checkouts

    def _materialise(self, sha: str) -> Path:
        target = self._checkouts / sha
        if target.is_dir():
            os.utime(target)  # newest again, so pruning keeps it
            return target
        tmp = self._checkouts / f"{_TMP_PREFIX}{sha[:12]}-{uuid.uuid4().hex[:8]}"
        index = tmp.with_name(tmp.name + ".index")
        tmp.mkdir()
        try:
            # A private index file: the cache stays bare and two checkouts never share state.
            self._repo.run("read-tree", sha, env={"GIT_INDEX_FILE": str(index)})
            self._repo.run(
                "--work-tree", str(tmp), "checkout-index", "--all", "--force", env={"GIT_INDEX_FILE": str(index)}
            )
            try:
                tmp.rename(target)
            except OSError:
                if not target.is_dir():
                    raise
                remove(tmp)  # someone materialised the same commit first; theirs is as good
        except BaseException:
            remove(tmp)
            raise
        finally:
            index.unlink(missing_ok=True)
        return target

    def _prune(self, keep: Path) -> None:
        entries = [p for p in self._checkouts.iterdir() if p.is_dir() and not p.name.startswith(_TMP_PREFIX)]
        entries.sort(key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
        survivors = [keep, *[p for p in entries if p != keep][: KEEP_CHECKOUTS - 1]]
        for path in entries:
            if path not in survivors:
                remove(path)


#: Files modified this recently are hashed again even when their stat data looks unchanged:
#: filesystems store mtimes with coarse granularity, so a quick second edit can keep them.
_RACY_SECONDS = 2.0


class LocalSource:
    """A working directory used as it is, for development: no clone, no checkout."""

    def __init__(self, path: Path, *, trusted: TrustedKeys | None = None, workdir: Path | None = None) -> None:
        self._path = Path(path).absolute()
        self._signatures = SignatureReader(trusted or TrustedKeys(), workdir)
        self._lock = threading.Lock()
        self._digests: dict[str, tuple[tuple[int, int, int, int], str]] = {}

    def describe(self) -> str:
        return str(self._path)

    def fetch(self) -> Revision:
        if not self._path.is_dir():
            raise SourceError(f"{self._path} is not a directory")
        with self._lock:
            content = self._content_hash()
        head = self._git_head()
        if head is None:
            return Revision(
                sha=f"local-{content[:16]}",
                path=str(self._path),
                author="",
                message="local directory (not in git)",
                signature=Signature("none", detail="a directory outside git has no commit to sign"),
            )
        sha, author, message = head
        if self._is_dirty():
            subject = message.splitlines()[0] if message else sha[:12]
            return Revision(
                sha=f"{sha}-dirty-{content[:12]}",
                path=str(self._path),
                author=author,
                message=f"uncommitted changes on top of: {subject}",
                signature=Signature("none", detail="uncommitted changes are not signed"),
            )
        signature = self._signatures.read(self._git, sha)
        return Revision(sha=sha, path=str(self._path), author=author, message=message, signature=signature)

    def _git(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        return check(run_git(args, cwd=self._path, env=env, timeout=30), f"git {args[0]} in {self._path}", Redactor())

    def _git_head(self) -> tuple[str, str, str] | None:
        try:
            result = run_git(
                ["show", "--no-patch", "--format=%H%x00%an <%ae>%x00%B", "HEAD"], cwd=self._path, timeout=30
            )
        except SourceError:
            return None  # no git installed: the directory is all there is
        if result.status != 0:  # not in a repository, or a repository without commits yet
            return None
        sha, author, message = [*result.stdout.split("\x00", 2), "", ""][:3]
        return sha.strip(), author, message.strip()

    def _is_dirty(self) -> bool:
        result = run_git(["status", "--porcelain", "--untracked-files=all", "--", "."], cwd=self._path, timeout=30)
        if result.status != 0:
            raise SourceError(f"git status in {self._path} failed: {summarise_stderr(result.stderr)}")
        return bool(result.stdout.strip())

    def _content_hash(self) -> str:
        total = hashlib.sha256()
        now = time.time()
        seen: set[str] = set()
        for root, dirs, files in os.walk(self._path):
            dirs[:] = sorted(d for d in dirs if d != ".git")
            for name in sorted(files):
                full = os.path.join(root, name)
                rel = os.path.relpath(full, self._path)
                digest = self._file_digest(full, rel, now)
                if digest is None:
                    continue  # vanished while we walked; the next fetch sees the new state
                seen.add(rel)
                total.update(rel.encode(errors="surrogateescape") + b"\0" + digest.encode() + b"\n")
        for gone in set(self._digests) - seen:
            del self._digests[gone]
        return total.hexdigest()

    def _file_digest(self, full: str, rel: str, now: float) -> str | None:
        try:
            st = os.lstat(full)
        except OSError:
            return None
        signature = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        cached = self._digests.get(rel)
        if cached is not None and cached[0] == signature and now - st.st_mtime > _RACY_SECONDS:
            return cached[1]
        try:
            if stat.S_ISLNK(st.st_mode):
                digest = "link:" + hashlib.sha256(os.readlink(full).encode(errors="surrogateescape")).hexdigest()
            else:
                with open(full, "rb") as handle:
                    digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError:
            return None
        self._digests[rel] = (signature, digest)
        return digest
