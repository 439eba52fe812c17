"""Chat commands that change desired state become commits on the platform repo, never cluster writes.

``GitOps.scale`` sets ``spec.replicas`` of one App document (a string splice, see
:mod:`daemon.chat.yamledit`, so comments and formatting stay), ``GitOps.restore`` (the console's
restore) ``spec.restore.snapshot`` of one Volume the same way; ``GitOps.rollback`` makes a new
commit whose platform directory is the one of an earlier revision (a revert to that state; the
history in between is kept). Each commit is authored by the daemon and names the person who asked
in a ``Requested-by:`` trailer, and goes either straight to the followed branch (``commitMode:
direct``; the daemon then applies it like any other commit) or to a new branch
``dockyard/<command>-<id>`` ready for a merge request (``commitMode: branch``).

How a commit is made, the same way for both kinds of repository: the base commit is checked out
into a private temporary work tree with a private index (never the daemon's own checkouts), the
change is made there and validated with the real loader (a chat command never produces an invalid
revision), then ``git add -A``, ``write-tree`` and ``commit-tree`` make the commit. Publishing:

* a Git remote: the daemon's :class:`~daemon.edges.git.GitRemote` in a cache of its own, through
  the git edge, so fetch and push use exactly the daemon's credential handling: tokens in the
  environment, never on the command line or in URLs, and redacted from every error.
  A push that loses a race against another push is retried on the new tip.
* a local directory (``LocalSource``): the commit is made in that git work tree and fast-forwarded
  into it (``git merge --ff-only``, which refuses to touch uncommitted work), or stored as a new
  branch; nothing is pushed. A directory outside git is refused.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeVar
from urllib.parse import quote, urlsplit

from daemon.chat.yamledit import end_canary, set_app_replicas, set_volume_restore
from daemon.edges import files
from daemon.edges.git import REMOTE, GitRemote, Redactor, check, run_git
from daemon.edges.source import GitSource
from daemon.errors import ChatError, SourceError, ValidationFailed
from daemon.loader import load_or_raise
from daemon.model.kinds import PlatformModel
from daemon.render import render

__all__ = ["AUTHOR_EMAIL", "AUTHOR_NAME", "CommitMode", "CommitResult", "GitOps", "Requester"]

_log = logging.getLogger(__name__)

AUTHOR_NAME = "Dockyard"
AUTHOR_EMAIL = "dockyard@dockyard.dev"
CommitMode = Literal["direct", "branch"]

_PUSH_ATTEMPTS = 3
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_UNSAFE_NAME = re.compile(r"[^\w .@'-]+")


@dataclass(frozen=True)
class Requester:
    """The person a commit is made for; recorded as a trailer, never as the author."""

    user_id: str
    user_name: str = ""
    via: str = "Slack"

    def trailer(self) -> str:
        name = _UNSAFE_NAME.sub("", self.user_name)[:64].strip()
        if self.via != "Slack":  # the command line or the console: a local or sign-in name, no Slack id
            who = name or _UNSAFE_NAME.sub("", self.user_id)[:64].strip() or "unknown"
            return f"Requested-by: {who} via {self.via}"
        user = self.user_id if _USER_ID.match(self.user_id) else "unknown"
        return f"Requested-by: <@{user}>" + (f" ({name})" if name else "") + f" via {self.via}"


class _FileEdit(Protocol):
    @property
    def text(self) -> str: ...


_Edit = TypeVar("_Edit", bound=_FileEdit)


def _edit_file(platform: Path, file: str, make: Callable[[str], _Edit]) -> _Edit:
    """``file`` of the platform directory edited by ``make``, never through a symlink: the
    document's file is edited where it is, or not at all."""
    try:
        edit = make(files.read_text(platform, file))
        files.write_text(platform, file, edit.text)
    except files.UnsafePath as e:
        raise ChatError(f"cannot edit {file}: {e}", hint="edit that file by hand") from e
    return edit


@dataclass(frozen=True)
class CommitResult:
    sha: str
    branch: str  # where the commit went
    base_branch: str  # the branch the daemon follows
    direct: bool  # True: on the followed branch; False: on a new branch for review
    summary: str  # what changed, one line
    files: tuple[str, ...]  # repository paths changed
    merge_request_url: str | None = None

    @property
    def short_sha(self) -> str:
        return self.sha[:8]


@dataclass(frozen=True)
class _Work:
    """A commit in the making: its base, the temporary tree and the platform directory in it."""

    base: str
    tree: Path
    platform: Path
    model: PlatformModel
    prefix: str


class _Repo(Protocol):
    """Where commits are made: the git plumbing the two kinds of repository share."""

    prefix: str  # the platform directory inside the repository ("" or "sub/dir")

    def run(self, *args: str, env: Mapping[str, str] | None = None, network: bool = False) -> str: ...

    def tip(self) -> str: ...

    def target_branch(self) -> str: ...

    def publish(self, commit: str, base: str, branch: str, *, direct: bool) -> None: ...

    def scratch(self) -> Path: ...

    def describe(self) -> str: ...


class _PushRefused(SourceError):
    """Publishing the commit was refused: the branch moved meanwhile, or the remote said no."""


class _RemoteRepo:
    """The daemon's Git remote through the git edge (its credentials, its redaction), in a cache
    of its own: fetch the followed branch, commit, push."""

    def __init__(self, remote: GitRemote, workdir: Path) -> None:
        self._source = GitSource(remote, workdir=workdir)
        self._git = self._source.repo
        self.prefix = remote.subdir.strip("/")
        self._branch_name = remote.branch
        self._scratch = Path(workdir).absolute() / "scratch"

    def run(self, *args: str, env: Mapping[str, str] | None = None, network: bool = False) -> str:
        self._git.install_key()
        return self._git.run(*args, network=network, env=env)

    def tip(self) -> str:
        return self._source.fetch().sha

    def target_branch(self) -> str:
        if self._branch_name:
            return self._branch_name
        out = self.run("ls-remote", "--symref", REMOTE, "HEAD", network=True)
        match = re.search(r"^ref: refs/heads/(\S+)\s+HEAD$", out, re.MULTILINE)
        if match is None:
            raise ChatError(
                f"cannot tell which branch {self.describe()} has as its default",
                hint="run the daemon with --branch so chat commits know where to go",
            )
        self._branch_name = match.group(1)
        return self._branch_name

    def publish(self, commit: str, base: str, branch: str, *, direct: bool) -> None:
        # Not forced: when someone pushed meanwhile, this is refused and the caller starts over.
        try:
            self.run("push", "--quiet", REMOTE, f"{commit}:refs/heads/{branch}", network=True)
        except SourceError as e:
            raise _PushRefused(str(e)) from e

    def scratch(self) -> Path:
        self._scratch.mkdir(parents=True, exist_ok=True)
        return self._scratch

    def describe(self) -> str:
        return self._git.describe()


class _LocalRepo:
    """The daemon's local directory, when it is inside a git work tree."""

    def __init__(self, path: Path, *, timeout: float) -> None:
        self._path = Path(path).absolute()
        self._timeout = timeout
        self._top = self._path  # until git says where the work tree starts
        self._top = Path(self._plain("rev-parse", "--show-toplevel", cwd=self._path).strip())
        self._git_dir = self._plain("rev-parse", "--absolute-git-dir", cwd=self._path).strip()
        self.prefix = self._plain("rev-parse", "--show-prefix", cwd=self._path).strip().strip("/")

    def _plain(self, *args: str, cwd: Path, env: Mapping[str, str] | None = None) -> str:
        result = run_git(args, cwd=cwd, env=env, timeout=self._timeout)
        return check(result, f"git {args[0]} in {self._top}", Redactor())

    def run(self, *args: str, env: Mapping[str, str] | None = None, network: bool = False) -> str:
        return self._plain("--git-dir", self._git_dir, *args, cwd=self._top, env=env)

    def tip(self) -> str:
        return self.run("rev-parse", "--verify", "HEAD^{commit}").strip()

    def target_branch(self) -> str:
        try:
            return self.run("symbolic-ref", "--quiet", "--short", "HEAD").strip()
        except SourceError as e:
            raise ChatError(
                f"{self._top} has a detached HEAD, so there is no branch to commit to",
                hint="check a branch out in that work tree",
            ) from e

    def publish(self, commit: str, base: str, branch: str, *, direct: bool) -> None:
        if direct:
            # Moves the checked-out branch, its index and files; refuses to overwrite local edits.
            try:
                self._plain("merge", "--ff-only", "--quiet", commit, cwd=self._top)
            except SourceError as e:
                if "commit your changes or stash them" in str(e) or "would be overwritten" in str(e):
                    raise ChatError(
                        f"uncommitted changes in {self._top} would be overwritten by this commit",
                        hint="commit or stash them there, then try again",
                    ) from e
                raise _PushRefused(str(e)) from e
        else:
            self.run("update-ref", f"refs/heads/{branch}", commit, "")

    def scratch(self) -> Path:
        path = Path(self._git_dir) / "dockyard-scratch"
        path.mkdir(exist_ok=True)
        return path

    def describe(self) -> str:
        return str(self._top)


class GitOps:
    """Makes the commits of ``scale``, ``restore`` and ``rollback``; one at a time per daemon."""

    def __init__(
        self,
        repo: _Repo | None,
        *,
        refusal: str = "",
        author: tuple[str, str] = (AUTHOR_NAME, AUTHOR_EMAIL),
        new_id: Callable[[], str] = lambda: secrets.token_hex(4),
    ) -> None:
        self._repo = repo
        self._refusal = refusal
        self._author = author
        self._new_id = new_id
        self._lock = threading.Lock()

    # --- construction ----------------------------------------------------------------------------

    @classmethod
    def for_remote(cls, remote: GitRemote, *, workdir: Path) -> GitOps:
        """For a daemon following a Git remote, with the daemon's own URL and credentials in a
        cache of its own (``workdir``)."""
        if remote.pinned:
            return cls(None, refusal=f"the daemon follows {remote.pinned}, which no commit can move")
        return cls(_RemoteRepo(remote, workdir))

    @classmethod
    def for_local(cls, path: Path, *, timeout: float = 60.0) -> GitOps:
        """For a daemon reading a local directory: commits there when it is in a git work tree."""
        try:
            repo = _LocalRepo(path, timeout=timeout)
        except SourceError:
            return cls(None, refusal=f"{path} is not inside a git work tree, so there is nothing to commit to")
        return cls(repo)

    @property
    def available(self) -> bool:
        return self._repo is not None

    def describe(self) -> str:
        """Where commits go, or why they cannot be made (safe to log: no credentials)."""
        return self._repo.describe() if self._repo is not None else f"nowhere: {self._refusal}"

    # --- commands -----------------------------------------------------------------------------

    def scale(self, tenant: str, app: str, replicas: int, *, requester: Requester, mode: CommitMode) -> CommitResult:
        """Commits ``spec.replicas: replicas`` for the App ``tenant/app``."""
        summary: list[str] = []

        def change(work: _Work) -> str:
            model, platform = work.model, work.platform
            found = next((a for a in model.apps_of(tenant) if a.name == app), None)
            if model.tenant(tenant) is None:
                raise ChatError(
                    f"there is no tenant `{tenant}`", hint=_did_you_mean(tenant, [t.name for t in model.tenants])
                )
            if found is None:
                names = [a.name for a in model.apps_of(tenant)]
                raise ChatError(f"tenant `{tenant}` has no app `{app}`", hint=_did_you_mean(app, names))
            scaling = model.autoscaling_for(tenant, app)
            if scaling is not None:
                raise ChatError(
                    f"`{tenant}/{app}` is scaled by the Autoscaling `{scaling.name}` "
                    f"({scaling.min_replicas} to {scaling.max_replicas} replicas), so its replica count is not "
                    "set by hand",
                    hint=f"change minReplicas/maxReplicas in {_repo_path(work.prefix, scaling.source.file)} instead",
                )
            if found.replicas == replicas:
                raise ChatError(f"`{tenant}/{app}` already has {replicas} replica(s); nothing to change")
            edit = _edit_file(
                platform, found.source.file, lambda text: set_app_replicas(text, app, replicas, file=found.source.file)
            )
            changed = _validated(platform, "the edited platform repo")
            now = next((a for a in changed.apps_of(tenant) if a.name == app), None)
            if now is None or now.replicas != replicas:
                raise ChatError(
                    f"setting spec.replicas in {found.source.file} did not change the replicas of `{tenant}/{app}`",
                    hint="edit that file by hand",
                )
            where = f"{_repo_path(work.prefix, found.source.file)}:{edit.line}"
            summary.append(f"spec.replicas {found.replicas} → {replicas} in {where}")
            return (
                f"Scale {tenant}/{app} to {replicas} replica{'s' if replicas != 1 else ''}\n\n"
                f"Sets spec.replicas of the App {app} in {where} (was {found.replicas})."
            )

        return self._commit("scale", change, requester=requester, mode=mode, summary=summary)

    def canary(
        self,
        tenant: str,
        app: str,
        outcome: Literal["promote", "abort"],
        *,
        requester: Requester,
        mode: CommitMode,
    ) -> CommitResult:
        """Commits the end of the canary of ``tenant/app``: its image becomes the App's (promote),
        or it is removed (abort)."""
        summary: list[str] = []

        def change(work: _Work) -> str:
            model, platform = work.model, work.platform
            if model.tenant(tenant) is None:
                raise ChatError(
                    f"there is no tenant `{tenant}`", hint=_did_you_mean(tenant, [t.name for t in model.tenants])
                )
            found = next((a for a in model.apps_of(tenant) if a.name == app), None)
            if found is None:
                names = [a.name for a in model.apps_of(tenant)]
                raise ChatError(f"tenant `{tenant}` has no app `{app}`", hint=_did_you_mean(app, names))
            if found.canary is None:
                raise ChatError(f"`{tenant}/{app}` has no canary to {outcome}")
            edit = _edit_file(
                platform,
                found.source.file,
                lambda text: end_canary(text, app, outcome, current_image=found.image, file=found.source.file),
            )
            changed = _validated(platform, "the edited platform repo")
            now = next((a for a in changed.apps_of(tenant) if a.name == app), None)
            wanted = found.canary.image if outcome == "promote" else found.image
            if now is None or now.canary is not None or now.image != wanted:
                raise ChatError(
                    f"editing {found.source.file} did not {outcome} the canary of `{tenant}/{app}`",
                    hint="edit that file by hand",
                )
            where = f"{_repo_path(work.prefix, found.source.file)}:{edit.line}"
            if outcome == "promote":
                summary.append(f"image {found.image} → {found.canary.image}, canary removed, in {where}")
                return (
                    f"Promote the canary of {tenant}/{app}: {found.canary.image}\n\n"
                    f"The App's image becomes the canary's ({found.image} → {found.canary.image}) and the canary "
                    f"track goes, in {where}."
                )
            summary.append(f"canary {found.canary.image} removed, {found.image} stays, in {where}")
            return (
                f"Abort the canary of {tenant}/{app}: {found.canary.image}\n\n"
                f"The canary track goes; {found.image} serves all of the App's traffic again ({where})."
            )

        return self._commit(f"canary-{outcome}", change, requester=requester, mode=mode, summary=summary)

    def restore(
        self, tenant: str, volume: str, snapshot: str, *, requester: Requester, mode: CommitMode
    ) -> CommitResult:
        """Commits ``spec.restore.snapshot: snapshot`` for the Volume ``tenant/volume``."""
        summary: list[str] = []

        def change(work: _Work) -> str:
            model, platform = work.model, work.platform
            if model.tenant(tenant) is None:
                raise ChatError(
                    f"there is no tenant `{tenant}`", hint=_did_you_mean(tenant, [t.name for t in model.tenants])
                )
            found = next((v for v in model.volumes_of(tenant) if v.name == volume), None)
            if found is None:
                names = [v.name for v in model.volumes_of(tenant)]
                raise ChatError(f"tenant `{tenant}` has no volume `{volume}`", hint=_did_you_mean(volume, names))
            if found.restore_snapshot == snapshot:
                raise ChatError(f"`{tenant}/{volume}` is already restored from `{snapshot}`; nothing to change")
            edit = _edit_file(
                platform,
                found.source.file,
                lambda text: set_volume_restore(text, volume, snapshot, file=found.source.file),
            )
            changed = _validated(platform, "the edited platform repo")
            now = next((v for v in changed.volumes_of(tenant) if v.name == volume), None)
            if now is None or now.restore_snapshot != snapshot:
                raise ChatError(
                    f"setting spec.restore.snapshot in {found.source.file} did not restore `{tenant}/{volume}`",
                    hint="edit that file by hand",
                )
            where = f"{_repo_path(work.prefix, found.source.file)}:{edit.line}"
            was = found.restore_snapshot or "unset"
            summary.append(f"spec.restore.snapshot {was} → {snapshot} in {where}")
            return (
                f"Restore {tenant}/{volume} from backup {snapshot}\n\n"
                f"Sets spec.restore.snapshot of the Volume {volume} in {where} (was {was}).\n"
                "The daemon renders a new claim from the snapshot for the apps to mount; the claim they\n"
                "mount now, and its data, are kept."
            )

        return self._commit("restore", change, requester=requester, mode=mode, summary=summary)

    def rollback(self, revision: str, *, requester: Requester, mode: CommitMode) -> CommitResult:
        """Commits the platform directory as it was at ``revision`` on top of the branch."""
        summary: list[str] = []

        def change(work: _Work) -> str:
            repo = self._need_repo()
            target = self._resolve(revision)
            tip = work.base
            if target == tip:
                raise ChatError(f"the branch is already at {target[:8]}; nothing to roll back")
            if not self._is_ancestor(target, tip):
                raise ChatError(
                    f"{revision} is not an earlier revision of the branch the daemon follows",
                    hint="pick a commit from `/dockyard history`",
                )
            with self._exported(target) as old:
                old_platform = old / work.prefix if work.prefix else old
                for tree in (old, work.tree):
                    link = files.symlink_on_the_way(tree, work.prefix) if work.prefix else None
                    if link is not None:
                        raise ChatError(
                            f"{link} is a symlink in the repository, so the platform directory cannot be replaced",
                            hint="roll back by hand",
                        )
                if not old_platform.is_dir():
                    raise ChatError(f"revision {target[:8]} has no directory {work.prefix}")
                _validated(old_platform, f"revision {target[:8]}")
                _replace_dir(work.platform, old_platform)
            subject = repo.run("show", "--no-patch", "--format=%s", target).strip()
            where = f"{work.prefix}/" if work.prefix else "the platform repo"
            summary.append(f"{where} as of {target[:8]} ({subject})")
            return (
                f"Roll back the platform to {target[:8]}\n\n"
                f"Restores {where} as it was at {target} ({subject}).\n"
                "The commits in between stay in the history; this is a new commit on top."
            )

        same = f"the platform at {revision} is the same as now; there is nothing to roll back"
        return self._commit("rollback", change, requester=requester, mode=mode, summary=summary, unchanged=same)

    def commit_edit(
        self, verb: str, edit: Callable[[Path, PlatformModel], str], *, requester: Requester, mode: CommitMode
    ) -> CommitResult:
        """Commits what ``edit`` does to the platform directory of the tip (``dockyard clone``):
        it gets that directory and its model and returns the commit message; the result must be a
        valid platform repo, as for every chat change."""
        summary: list[str] = []

        def change(work: _Work) -> str:
            message = edit(work.platform, work.model)
            _validated(work.platform, "the changed platform repo")
            summary.append(message.splitlines()[0])
            return message

        return self._commit(verb, change, requester=requester, mode=mode, summary=summary)

    # --- the commit machinery -----------------------------------------------------------------

    def _need_repo(self) -> _Repo:
        if self._repo is None:
            raise ChatError(
                f"chat commands cannot change the platform repo: {self._refusal}",
                hint="change the repo in Git instead",
            )
        return self._repo

    def _commit(
        self,
        verb: str,
        change: Callable[[_Work], str],
        *,
        requester: Requester,
        mode: CommitMode,
        summary: list[str],
        unchanged: str = "that would not change anything in the platform repo; nothing to commit",
    ) -> CommitResult:
        repo = self._need_repo()
        with self._lock:
            try:
                return self._commit_locked(
                    repo, verb, change, requester=requester, mode=mode, summary=summary, unchanged=unchanged
                )
            except SourceError as e:  # already free of credentials
                raise ChatError(
                    f"git failed: {e}", hint="try again; if it keeps failing, tell the platform team"
                ) from e

    def _commit_locked(
        self,
        repo: _Repo,
        verb: str,
        change: Callable[[_Work], str],
        *,
        requester: Requester,
        mode: CommitMode,
        summary: list[str],
        unchanged: str,
    ) -> CommitResult:
        direct = mode == "direct"
        base_branch = ""
        for attempt in range(1, _PUSH_ATTEMPTS + 1):
            summary.clear()
            base = repo.tip()
            base_branch = repo.target_branch()
            with self._exported(base) as tree:
                platform = tree / repo.prefix if repo.prefix else tree
                if not platform.is_dir():
                    raise ChatError(f"{base_branch} at {base[:8]} has no directory {repo.prefix}")
                model = _validated(platform, f"{base_branch} at {base[:8]}")
                body = change(_Work(base, tree, platform, model, repo.prefix))
                message = f"{body}\n\n{requester.trailer()}\n"
                commit = self._write_commit(repo, tree, base, message, unchanged)
            branch = base_branch if direct else f"dockyard/{verb}-{self._new_id()}"
            try:
                repo.publish(commit, base, branch, direct=direct)
            except _PushRefused as e:
                if direct and repo.tip() != base:
                    _log.info(
                        "%s moved while committing (attempt %d); trying again on the new tip", base_branch, attempt
                    )
                    continue
                raise ChatError(
                    f"the commit could not be published: {e}",
                    hint="if the branch is protected, set `spec.chat.commitMode: branch` in platform.yaml so "
                    "chat changes arrive as merge requests",
                ) from e
            files = tuple(
                line.split("\t", 1)[1]
                for line in repo.run("diff-tree", "-r", "--name-status", "--no-renames", base, commit).splitlines()
                if "\t" in line
            )
            url = None if direct else _merge_request_url(repo.describe(), branch, base_branch)
            _log.info("chat %s: committed %s to %s (%s)", verb, commit[:8], branch, requester.trailer())
            return CommitResult(commit, branch, base_branch, direct, summary[0] if summary else verb, files, url)
        raise ChatError(f"{base_branch} kept moving while I tried to commit", hint="try again in a moment")

    def _write_commit(self, repo: _Repo, tree: Path, base: str, message: str, unchanged: str) -> str:
        index = {"GIT_INDEX_FILE": str(tree.with_name(tree.name + ".index"))}
        repo.run("--work-tree", str(tree), "add", "-A", env=index)
        new_tree = repo.run("write-tree", env=index).strip()
        if new_tree == repo.run("rev-parse", f"{base}^{{tree}}").strip():
            raise ChatError(unchanged)
        name, email = self._author
        who = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        return repo.run("commit-tree", new_tree, "-p", base, "-m", message, env=who).strip()

    @contextlib.contextmanager
    def _exported(self, sha: str) -> Iterator[Path]:
        """The tree of ``sha`` in a private temporary directory (with its own index file next to it)."""
        repo = self._need_repo()
        parent = Path(tempfile.mkdtemp(prefix="export-", dir=repo.scratch()))
        tree = parent / "tree"
        tree.mkdir()
        index = {"GIT_INDEX_FILE": str(tree.with_name(tree.name + ".index"))}
        try:
            repo.run("read-tree", sha, env=index)
            repo.run("--work-tree", str(tree), "checkout-index", "--all", "--force", env=index)
            yield tree
        finally:
            shutil.rmtree(parent, ignore_errors=True)

    def _resolve(self, revision: str) -> str:
        repo = self._need_repo()
        try:
            return repo.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}").strip()
        except SourceError as e:
            raise ChatError(
                f"I cannot find revision `{revision}` in the history of the branch the daemon follows",
                hint="use a commit id from `/dockyard history` (at least 7 characters avoids ambiguity)",
            ) from e

    def _is_ancestor(self, older: str, newer: str) -> bool:
        try:
            self._need_repo().run("merge-base", "--is-ancestor", older, newer)
        except SourceError:
            return False
        return True


def _validated(platform: Path, what: str) -> PlatformModel:
    try:
        model = load_or_raise(platform)
        render(model)  # what only rendering finds (objects rendered twice) fails the daemon too
    except ValidationFailed as e:
        errors = [p for p in e.problems if p.severity == "error"]
        first = errors[0].format() if errors else str(e)
        raise ChatError(
            f"{what} is not a valid platform repo ({len(errors)} error(s); first: {first})",
            hint="fix the platform repo in Git first",
        ) from e
    return model


def _replace_dir(target: Path, source: Path) -> None:
    """Makes ``target`` hold exactly what ``source`` holds."""
    for entry in list(target.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    for entry in source.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, target / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, target / entry.name, follow_symlinks=False)


def _repo_path(prefix: str, file: str) -> str:
    return f"{prefix}/{file}" if prefix else file


def _did_you_mean(value: str, candidates: list[str]) -> str:
    names = sorted(candidates)
    guess = difflib.get_close_matches(value, names, n=1)
    if guess:
        return f"did you mean `{guess[0]}`?"
    return "known: " + ", ".join(f"`{n}`" for n in names[:20]) if names else "there are none"


def _merge_request_url(remote: str, branch: str, base: str) -> str | None:
    """A link that opens a merge/pull request for ``branch`` on GitHub or GitLab, if we can tell."""
    scp = re.match(r"^(?:[^@/:\s]+@)?([^/:\s]+):(?!//)(.+)$", remote)
    if scp and "://" not in remote:
        host, path = scp.group(1), scp.group(2)
    else:
        parts = urlsplit(remote)
        if parts.scheme not in ("http", "https", "ssh") or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path
    path = path.strip("/").removesuffix(".git")
    if not path:
        return None
    if host == "github.com" or host.startswith("github."):
        return f"https://{host}/{path}/compare/{quote(base)}...{quote(branch)}?expand=1"
    if "gitlab" in host:
        return (
            f"https://{host}/{path}/-/merge_requests/new?merge_request%5Bsource_branch%5D={quote(branch, safe='')}"
            f"&merge_request%5Btarget_branch%5D={quote(base, safe='')}"
        )
    return None
