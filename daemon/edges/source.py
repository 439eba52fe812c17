"""Where revisions of the platform repo come from: a Git remote, or a local directory.

Public API (used by the reconcile loop; keep it stable)::

    class Source(Protocol):                     # runtime_checkable
        def fetch(self) -> Revision: ...       # the newest revision, materialised on disk
        def describe(self) -> str: ...         # the location, safe to log (no credentials)

    GitSource(url, *, workdir, branch=None, tag=None, commit=None, token=None, ssh_key=None,
              timeout=60.0)
        fetch() -> Revision     clone on first call, then fetch; resolves the branch (default:
                                the remote's HEAD), the tag or the pinned commit and checks its
                                tree out into ``workdir/checkouts/<sha>`` (the newest 3 are kept)
        describe() -> str       the URL without userinfo
    LocalSource(path)
        fetch() -> Revision     the directory as it is now: ``<HEAD>`` when clean, else
                                ``<HEAD>-dirty-<hash>``, or ``local-<hash>`` outside a git repo
        describe() -> str
    ChangeWatcher(path, callback, *, debounce=0.5, max_delay=5.0)
        start() / stop()        calls ``callback()`` in a thread once a burst of changes under
                                ``path`` has been quiet for ``debounce`` seconds

Every git failure raises :class:`~daemon.errors.SourceError`, whose message never contains a
credential: tokens are handed to git through the environment (``GIT_CONFIG_COUNT``), not the
command line (readable by every local user in ``/proc``) nor the remote URL (stored in the cache's
config), and every message git prints is redacted before it reaches an exception or a log.

Credentials: ``token=`` (sent as Basic ``x-access-token:<token>``, which GitHub, GitLab, Gitea
and Bitbucket accept), or userinfo in an https URL (``https://user:token@host/...`` keeps the
user; ``https://token@host/...`` treats the lone name as the token). ``ssh_key=`` is used with
``IdentitiesOnly`` and ``StrictHostKeyChecking=accept-new``; new host keys are recorded in
``workdir/known_hosts``.

The cache is ``workdir/cache.git``, a bare repository whose ``origin`` points at the URL without
credentials. Only what is followed is fetched (the branch, the tag, or the remote HEAD; every
branch and tag for a pinned commit until it is found, then nothing), always with forced ``+``
refspecs and ``--prune``, so force-pushes and rewritten history simply move the refs. One
``GitSource`` per ``workdir``: concurrent fetches in one process are serialised, separate
processes sharing a workdir are not supported.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import re
import shlex
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from daemon.edges.git import _describe_url, _Redactor, _run_git, _split_credentials, _summarise_stderr
from daemon.errors import SourceError
from daemon.model.refs import Revision

_log = logging.getLogger(__name__)

#: How many materialised checkouts stay on disk: the one in use, the one before (still read by a
#: cycle that started before the fetch) and one spare for a rollback.
KEEP_CHECKOUTS = 3


_REMOTE = "origin"


_HEAD_REF = "refs/dockyard/remote-head"


_TMP_PREFIX = ".tmp-"


_SHA_LIKE = re.compile(r"^[0-9a-fA-F]{4,64}$")


@runtime_checkable
class Source(Protocol):
    """Anything the reconcile loop can take revisions from."""

    def fetch(self) -> Revision: ...

    def describe(self) -> str: ...


class GitSource:
    """A remote Git repository, cached in ``workdir`` and checked out one directory per commit."""

    def __init__(
        self,
        url: str,
        *,
        workdir: Path,
        branch: str | None = None,
        tag: str | None = None,
        commit: str | None = None,
        token: str | None = None,
        ssh_key: Path | None = None,
        timeout: float = 60.0,
    ) -> None:
        if sum(x is not None for x in (branch, tag, commit)) > 1:
            raise SourceError("choose at most one of branch, tag and commit")
        if commit is not None and not _SHA_LIKE.match(commit):
            raise SourceError(f"commit {commit!r} is not a hexadecimal commit id")
        self._workdir = Path(workdir).absolute()
        self._cache = self._workdir / "cache.git"
        self._checkouts = self._workdir / "checkouts"
        self._branch = branch
        self._tag = tag
        self._commit = commit.lower() if commit else None
        self._timeout = timeout
        self._lock = threading.Lock()
        self._prepared = False

        clean_url, user, password = _split_credentials(url)
        self._url = clean_url
        self._described = _describe_url(clean_url)
        secrets: list[str] = [s for s in (token, password) if s]
        header: str | None = None
        if token or password or user:
            # GitHub, GitLab, Gitea and Bitbucket all accept a token as the Basic password with any
            # user name. A user given with a password in the URL is kept (`https://oauth2:T@...`);
            # a lone user name (`https://TOKEN@host/...`) is the token itself.
            if token or password:
                username, secret = user or "x-access-token", token or password or ""
            else:
                username, secret = "x-access-token", user or ""
                secrets.append(secret)
            basic = base64.b64encode(f"{username}:{secret}".encode()).decode()
            header = f"Authorization: Basic {basic}"
            secrets.append(basic)
            if urlsplit(clean_url).scheme == "http":
                _log.warning("sending git credentials over plain http to %s", self._described)
        self._redact = _Redactor(secrets)
        self._ssh_key = Path(ssh_key).absolute() if ssh_key is not None else None
        self._env = self._build_env(header)

    # --- public API

    def describe(self) -> str:
        """The remote URL with any userinfo removed, safe for logs and messages."""
        return self._described

    def fetch(self) -> Revision:
        """Brings the cache up to date and returns the wanted commit, checked out on disk."""
        with self._lock:
            self._prepare()
            self._install_key()  # every time: a mounted Secret may have been rotated
            sha = self._update_and_resolve()
            path = self._materialise(sha)
            author, message = self._commit_info(sha)
            self._prune(keep=path)
        _log.debug("fetched %s at %s", self._described, sha)
        return Revision(sha=sha, path=str(path), author=author, message=message)

    # --- environment

    def _build_env(self, header: str | None) -> dict[str, str]:
        env = {
            # Never wait for a password on a terminal nobody watches.
            "GIT_TERMINAL_PROMPT": "0",
            "GCM_INTERACTIVE": "never",
        }
        if header is not None:
            # Config from the environment: not stored in cache.git/config, not on the command
            # line (visible in /proc), not in GitPython's logged argv.
            env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader", "GIT_CONFIG_VALUE_0": header})
        if self._ssh_key is not None:
            known_hosts = f"{self._workdir / 'known_hosts'} ~/.ssh/known_hosts"
            connect = max(1, int(self._timeout))
            env["GIT_SSH_COMMAND"] = " ".join(
                [
                    "ssh",
                    "-i",
                    shlex.quote(str(self._usable_key_path())),
                    "-o IdentitiesOnly=yes",
                    "-o StrictHostKeyChecking=accept-new",
                    "-o BatchMode=yes",
                    f"-o ConnectTimeout={connect}",
                    # The daemon's own file first: accept-new records new hosts there, in the
                    # workdir (a volume), since $HOME is often read-only in a container.
                    "-o",
                    shlex.quote(f"UserKnownHostsFile={known_hosts}"),
                ]
            )
        return env

    def _usable_key_path(self) -> Path:
        assert self._ssh_key is not None
        return self._workdir / "ssh-key" if self._key_too_open() else self._ssh_key

    def _key_too_open(self) -> bool:
        assert self._ssh_key is not None
        try:
            return bool(self._ssh_key.stat().st_mode & 0o077)
        except OSError:
            return False  # ssh reports the missing file itself

    def _install_key(self) -> None:
        # ssh ignores a private key readable by others, and Kubernetes mounts Secrets 0644 unless
        # told otherwise: use a private copy in the workdir then.
        if self._ssh_key is None or not self._key_too_open():
            return
        copy = self._workdir / "ssh-key"
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._ssh_key.read_bytes())
        copy.chmod(0o600)

    # --- git plumbing

    def _git(self, *args: str, network: bool = False, env: Mapping[str, str] | None = None) -> str:
        full_env = dict(self._env)
        if env:
            full_env.update(env)
        started = time.monotonic()
        result = _run_git(
            ["--git-dir", str(self._cache), *args],
            cwd=self._workdir,
            env=full_env,
            timeout=self._timeout,
        )
        if result.status != 0:
            verb = args[0] if args else "git"
            if time.monotonic() - started >= self._timeout:
                detail = f"timed out after {self._timeout:g}s"
            else:
                detail = self._redact(_summarise_stderr(result.stderr)) or f"exit status {result.status}"
            where = f" {self._described}" if network else ""
            raise SourceError(f"git {verb}{where} failed: {detail}")
        return result.stdout

    def _prepare(self) -> None:
        if self._prepared:
            return
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._checkouts.mkdir(exist_ok=True)
        # Leftovers of a checkout interrupted by a crash.
        for leftover in self._checkouts.glob(f"{_TMP_PREFIX}*"):
            _remove(leftover)
        if self._cache.exists() and not _is_git_dir(self._cache):
            _log.warning("the git cache %s is damaged; cloning again", self._cache)
            _remove(self._cache)
        if not self._cache.exists():
            self._git("init", "--quiet", "--bare", str(self._cache))
        # The URL may have changed since the cache was made (a restart with another --repo).
        self._git("config", f"remote.{_REMOTE}.url", self._url)
        self._prepared = True

    def _refspecs(self) -> list[str]:
        if self._branch is not None:
            return [f"+refs/heads/{self._branch}:refs/remotes/{_REMOTE}/{self._branch}"]
        if self._tag is not None:
            return [f"+refs/tags/{self._tag}:refs/tags/{self._tag}"]
        if self._commit is not None:
            return [f"+refs/heads/*:refs/remotes/{_REMOTE}/*", "+refs/tags/*:refs/tags/*"]
        # Only what is followed: other branches cost bandwidth and disk and are never used.
        return [f"+HEAD:{_HEAD_REF}"]

    def _fetch(self, refspecs: Sequence[str]) -> None:
        self._git("fetch", "--quiet", "--force", "--prune", "--no-tags", _REMOTE, *refspecs, network=True)

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
                raise SourceError(f"commit {self._commit} was not found in {self._described}")
            return found

        self._fetch(self._refspecs())
        if self._branch is not None:
            ref, what = f"refs/remotes/{_REMOTE}/{self._branch}", f"branch {self._branch}"
        elif self._tag is not None:
            ref, what = f"refs/tags/{self._tag}", f"tag {self._tag}"
        else:
            ref, what = _HEAD_REF, "the default branch (HEAD)"
        found = self._resolve(f"{ref}^{{commit}}")
        if found is None:
            raise SourceError(f"{what} of {self._described} does not point at a commit")
        return found

    def _resolve(self, rev: str) -> str | None:
        try:
            out = self._git("rev-parse", "--verify", "--quiet", "--end-of-options", rev)
        except SourceError:
            return None
        return out.strip() or None

    def _commit_info(self, sha: str) -> tuple[str, str]:
        out = self._git("show", "--no-patch", "--format=%an%x00%ae%x00%B", sha)
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
            self._git("read-tree", sha, env={"GIT_INDEX_FILE": str(index)})
            self._git("--work-tree", str(tmp), "checkout-index", "--all", "--force", env={"GIT_INDEX_FILE": str(index)})
            try:
                tmp.rename(target)
            except OSError:
                if not target.is_dir():
                    raise
                _remove(tmp)  # someone materialised the same commit first; theirs is as good
        except BaseException:
            _remove(tmp)
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
                _remove(path)


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


#: Files modified this recently are hashed again even when their stat data looks unchanged:
#: filesystems store mtimes with coarse granularity, so a quick second edit can keep them.
_RACY_SECONDS = 2.0


class LocalSource:
    """A working directory used as it is, for development: no clone, no checkout."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path).absolute()
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
                sha=f"local-{content[:16]}", path=str(self._path), author="", message="local directory (not in git)"
            )
        sha, author, message = head
        if self._is_dirty():
            subject = message.splitlines()[0] if message else sha[:12]
            return Revision(
                sha=f"{sha}-dirty-{content[:12]}",
                path=str(self._path),
                author=author,
                message=f"uncommitted changes on top of: {subject}",
            )
        return Revision(sha=sha, path=str(self._path), author=author, message=message)

    def _git_head(self) -> tuple[str, str, str] | None:
        try:
            result = _run_git(
                ["show", "--no-patch", "--format=%H%x00%an <%ae>%x00%B", "HEAD"], cwd=self._path, timeout=30
            )
        except SourceError:
            return None  # no git installed: the directory is all there is
        if result.status != 0:  # not in a repository, or a repository without commits yet
            return None
        sha, author, message = [*result.stdout.split("\x00", 2), "", ""][:3]
        return sha.strip(), author, message.strip()

    def _is_dirty(self) -> bool:
        result = _run_git(["status", "--porcelain", "--untracked-files=all", "--", "."], cwd=self._path, timeout=30)
        if result.status != 0:
            raise SourceError(f"git status in {self._path} failed: {_summarise_stderr(result.stderr)}")
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
