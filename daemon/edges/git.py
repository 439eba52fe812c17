"""The git edge: one runner, one value object for a remote, credentials handed over safely, every
output redacted. The source (fetching revisions) and chat's commits both go through it.

Credentials never reach the command line (readable by every local user in ``/proc``) nor a stored
URL (the cache's config): an https token travels as an ``http.extraHeader`` set through the
environment (``GIT_CONFIG_COUNT``), an SSH key through ``GIT_SSH_COMMAND``. Whatever git prints is
redacted before it reaches an exception or a log: the token, its Basic encoding, any
``Authorization`` header, the userinfo of URLs and query-string credentials (``?access_token=``).

Credentials: ``token`` (sent as Basic ``x-access-token:<token>``, which GitHub, GitLab, Gitea and
Bitbucket accept), or userinfo in an https URL (``https://user:token@host/...`` keeps the user;
``https://token@host/...`` treats the lone name as the token). ``ssh_key`` is used with
``IdentitiesOnly`` and ``StrictHostKeyChecking=accept-new``; new host keys are recorded in
``<workdir>/known_hosts``.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import git

from daemon.errors import SourceError
from daemon.model.refs import Signature, SignatureStatus

_log = logging.getLogger(__name__)

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_AUTH_HEADER = re.compile(r"(?i)(authorization:\s*)\S+(\s+\S+)?")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:access_token|private_token|token|key|password)=)[^&\s#]+")
_SCP_LIKE = re.compile(r"^(?:[^@/:\s]+@)?[^/:\s]+:(?!//)")
_SHA_LIKE = re.compile(r"^[0-9a-fA-F]{4,64}$")
_IMPORTANT_PREFIXES = ("fatal:", "error:", "ssh:", "warning: identity file", "permission denied", "host key")
REMOTE = "origin"


@dataclass(frozen=True)
class GitRemote:
    """Where the platform repo lives and how to reach it; what it follows (at most one of branch,
    tag and commit; none: the remote's default branch) and in which subdirectory."""

    url: str
    branch: str | None = None
    tag: str | None = None
    commit: str | None = None
    subdir: str = ""
    token: str | None = field(default=None, repr=False)
    ssh_key: Path | None = None
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.branch, self.tag, self.commit)) > 1:
            raise SourceError("choose at most one of branch, tag and commit")
        if self.commit is not None and not _SHA_LIKE.match(self.commit):
            raise SourceError(f"commit {self.commit!r} is not a hexadecimal commit id")

    @property
    def pinned(self) -> str:
        """``tag v1`` or ``commit abc``: what no new commit can move; empty when following a branch."""
        if self.tag is not None:
            return f"tag {self.tag}"
        if self.commit is not None:
            return f"commit {self.commit}"
        return ""

    def describe(self) -> str:
        """The URL with any credential removed, safe for logs and messages."""
        return describe_url(split_credentials(self.url)[0])


@dataclass(frozen=True)
class GitResult:
    status: int
    stdout: str
    stderr: str


class Redactor:
    """Removes credentials from any text git or GitPython produced before we show it."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        # Longest first so a secret that contains another is removed whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _AUTH_HEADER.sub(r"\1***", text)
        text = _QUERY_SECRET.sub(r"\1***", text)
        return _URL_USERINFO.sub(r"\1***@", text)


def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> GitResult:
    """Runs one git command through GitPython and returns its status and output, never raising
    for a non-zero status (callers turn that into a redacted SourceError themselves)."""
    runner = git.Git(str(cwd) if cwd is not None else None)
    executable = git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git"
    try:
        result = runner.execute(
            [executable, *args],
            with_extended_output=True,
            with_exceptions=False,
            kill_after_timeout=timeout,
            # Never wait for a password on a terminal nobody watches.
            env={"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never", **(env or {})},
            strip_newline_in_stdout=False,
        )
    except (git.GitCommandNotFound, OSError) as e:
        raise SourceError(f"cannot run git ({type(e).__name__}); is git installed?") from e
    status, stdout, stderr = result
    return GitResult(int(status), str(stdout or ""), str(stderr or ""))


def check(result: GitResult, what: str, redact: Redactor) -> str:
    """The output of a successful command; a redacted SourceError naming ``what`` otherwise."""
    if result.status != 0:
        detail = redact(summarise_stderr(result.stderr)) or f"exit status {result.status}"
        raise SourceError(f"{what} failed: {detail}")
    return result.stdout


class GitRepo:
    """git against one bare cache of a :class:`GitRemote`, in ``workdir/cache.git``, with the
    remote's credentials and every failure redacted. One per workdir."""

    def __init__(self, remote: GitRemote, workdir: Path) -> None:
        self.remote = remote
        self.workdir = Path(workdir).absolute()
        self.cache = self.workdir / "cache.git"
        clean_url, user, password = split_credentials(remote.url)
        self.url = clean_url
        self._described = describe_url(clean_url)
        secrets: list[str] = [s for s in (remote.token, password) if s]
        header: str | None = None
        if remote.token or password or user:
            # GitHub, GitLab, Gitea and Bitbucket all accept a token as the Basic password with any
            # user name. A user given with a password in the URL is kept (`https://oauth2:T@...`);
            # a lone user name (`https://TOKEN@host/...`) is the token itself.
            if remote.token or password:
                username, secret = user or "x-access-token", remote.token or password or ""
            else:
                username, secret = "x-access-token", user or ""
                secrets.append(secret)
            basic = base64.b64encode(f"{username}:{secret}".encode()).decode()
            header = f"Authorization: Basic {basic}"
            secrets.append(basic)
            if urlsplit(clean_url).scheme == "http":
                _log.warning("sending git credentials over plain http to %s", self._described)
        self.redact = Redactor(secrets)
        self._ssh_key = Path(remote.ssh_key).absolute() if remote.ssh_key is not None else None
        self._env = self._build_env(header)

    def describe(self) -> str:
        return self._described

    def run(self, *args: str, network: bool = False, env: Mapping[str, str] | None = None) -> str:
        """``git --git-dir <cache> ARGS`` with the credentials; raises a redacted SourceError."""
        started = time.monotonic()
        timeout = self.remote.timeout
        result = run_git(
            ["--git-dir", str(self.cache), *args], cwd=self.workdir, env={**self._env, **(env or {})}, timeout=timeout
        )
        if result.status != 0:
            verb = args[0] if args else "git"
            if time.monotonic() - started >= timeout:
                detail = f"timed out after {timeout:g}s"
            else:
                detail = self.redact(summarise_stderr(result.stderr)) or f"exit status {result.status}"
            where = f" {self._described}" if network else ""
            raise SourceError(f"git {verb}{where} failed: {detail}")
        return result.stdout

    def ensure_cache(self) -> None:
        """Creates the bare cache (again, when damaged) and points ``origin`` at the URL."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.cache.exists() and not is_git_dir(self.cache):
            _log.warning("the git cache %s is damaged; cloning again", self.cache)
            remove(self.cache)
        if not self.cache.exists():
            self.run("init", "--quiet", "--bare", str(self.cache))
        # The URL reaches git through the environment (see _build_env), never the command line or
        # cache.git/config: a query-string token in it would be in /proc and in GitPython's debug
        # log. A URL stored by an older version is dropped (exit 5: there was none).
        run_git(["--git-dir", str(self.cache), "config", "--unset-all", f"remote.{REMOTE}.url"], cwd=self.workdir)

    def install_key(self) -> None:
        """ssh ignores a private key readable by others, and Kubernetes mounts Secrets 0644 unless
        told otherwise: use a private copy in the workdir then. Called before every network
        command, since a mounted Secret may have been rotated."""
        if self._ssh_key is None or not self._key_too_open():
            return
        copy = self.workdir / "ssh-key"
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._ssh_key.read_bytes())
        copy.chmod(0o600)

    def _build_env(self, header: str | None) -> dict[str, str]:
        env: dict[str, str] = {}
        # Config from the environment: not stored in cache.git/config, not on the command line
        # (visible in /proc), not in GitPython's logged argv.
        config = [(f"remote.{REMOTE}.url", self.url)]
        if header is not None:
            config.append(("http.extraHeader", header))
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for index, (name, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{index}"] = name
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        if self._ssh_key is not None:
            known_hosts = f"{self.workdir / 'known_hosts'} ~/.ssh/known_hosts"
            connect = max(1, int(self.remote.timeout))
            key = self.workdir / "ssh-key" if self._key_too_open() else self._ssh_key
            env["GIT_SSH_COMMAND"] = " ".join(
                [
                    "ssh",
                    "-i",
                    shlex.quote(str(key)),
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

    def _key_too_open(self) -> bool:
        assert self._ssh_key is not None
        try:
            return bool(self._ssh_key.stat().st_mode & 0o077)
        except OSError:
            return False  # ssh reports the missing file itself


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without the userinfo of an http(s) URL, and that user and password (decoded)."""
    if _SCP_LIKE.match(url) and "://" not in url:
        return url, None, None
    parts = urlsplit(url)
    if parts.scheme == "":
        # A plain path: git runs with another working directory, so make it absolute.
        return str(Path(url).expanduser().absolute()), None, None
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        if parts.password is not None:  # ssh://user:password@ is never used by ssh; drop it
            return urlunsplit(_without_userinfo(parts, keep_user=True)), None, None
        return url, None, None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return urlunsplit(_without_userinfo(parts, keep_user=False)), user, password


def _without_userinfo(parts: SplitResult, *, keep_user: bool) -> SplitResult:
    host = parts.netloc.rpartition("@")[2]
    if keep_user and parts.username:
        host = f"{parts.username}@{host}"
    return parts._replace(netloc=host)


def describe_url(url: str) -> str:
    """A URL safe to show: no userinfo, no credentials in the query string."""
    if urlsplit(url).scheme in ("http", "https"):
        url = _URL_USERINFO.sub(r"\1", url)
    return _QUERY_SECRET.sub(r"\1***", url)


def summarise_stderr(stderr: str) -> str:
    # git prints progress and hints; these lines say what went wrong (ssh's own come first).
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    important = [line for line in lines if line.lower().startswith(_IMPORTANT_PREFIXES)]
    text = "; ".join((important or lines)[-3:])
    if "could not read username" in text.lower() or "authentication failed" in text.lower():
        text += " (the remote wants credentials: none were given or they were rejected)"
    return text


def is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# --- commit signatures -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedKeys:
    """The keys the daemon trusts to sign commits: an SSH ``allowed_signers`` file (the format
    ``git`` and ``ssh-keygen -Y verify`` use) and/or a file of armored OpenPGP public keys."""

    allowed_signers: Path | None = None
    openpgp_keys: Path | None = None

    @property
    def configured(self) -> bool:
        return self.allowed_signers is not None or self.openpgp_keys is not None


#: git's %G? letters: G good and trusted, U good but not trusted (for SSH: no allowed principal),
#: B bad, X/Y expired signature/key, R revoked key, E cannot be checked (unknown key), N none.
_STATUS: dict[str, SignatureStatus] = {
    "G": "good",
    "U": "untrusted",
    "B": "bad",
    "X": "expired",
    "Y": "expired",
    "R": "revoked",
    "E": "untrusted",
    "N": "none",
}


class SignatureReader:
    """Reads a commit's signature with git, against :class:`TrustedKeys` only (a private GnuPG
    home in ``workdir`` holds just the trusted OpenPGP keys, fully trusted; SSH keys come from the
    allowed-signers file alone)."""

    def __init__(self, trusted: TrustedKeys, workdir: Path | None) -> None:
        if trusted.openpgp_keys is not None and workdir is None:
            raise SourceError("trusted OpenPGP keys need a work directory for their keyring")
        self._trusted = trusted
        self._home = Path(workdir or ".").absolute() / "gnupg"
        self._imported: tuple[float, int] | None = None

    def read(self, run: Callable[..., str], sha: str) -> Signature:
        """``run(*args, env=...)`` runs git in the repository that holds ``sha``."""
        if not self._trusted.configured:
            return Signature(
                "unchecked", detail="the daemon has no trusted keys (--allowed-signers, --trusted-gpg-keys)"
            )
        env = {"GNUPGHOME": str(self._prepare_keyring())}
        signers = str(self._trusted.allowed_signers or "/dev/null")
        out = run(
            "-c",
            f"gpg.ssh.allowedSignersFile={signers}",
            "log",
            "-1",
            "--format=%G?%x00%GS%x00%GF%x00%GK",
            sha,
            env=env,
        )
        letter, signer, fingerprint, key = [*out.strip("\n").split("\x00"), "", "", "", ""][:4]
        status = _STATUS.get(letter.strip(), "bad")
        detail = "" if status == "good" else f"git reports {letter.strip() or '?'}" + (f" for key {key}" if key else "")
        return Signature(status, signer.strip() if status == "good" else "", fingerprint or key, detail)

    def _prepare_keyring(self) -> Path:
        keys = self._trusted.openpgp_keys
        self._home.mkdir(mode=0o700, parents=True, exist_ok=True)
        if keys is None:
            return self._home
        stat = keys.stat()
        stamp = (stat.st_mtime, stat.st_size)
        if stamp != self._imported:
            # A fresh keyring each time the file changes: a key removed from it is no longer trusted.
            shutil.rmtree(self._home, ignore_errors=True)
            self._home.mkdir(mode=0o700, parents=True)
            _gpg(self._home, "--import", str(keys))
            fingerprints = [
                line.split(":")[9]
                for line in _gpg(self._home, "--with-colons", "--list-keys").splitlines()
                if line.startswith("fpr:")
            ]
            # Every key in this keyring is one the platform team chose to trust.
            _gpg(self._home, "--import-ownertrust", stdin="".join(f"{f}:6:\n" for f in fingerprints))
            self._imported = stamp
        return self._home


def _gpg(home: Path, *args: str, stdin: str = "") -> str:
    try:
        result = subprocess.run(
            ["gpg", "--batch", "--quiet", "--homedir", str(home), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise SourceError(
            f"cannot run gpg to read the trusted OpenPGP keys ({type(e).__name__}); is gnupg installed?"
        ) from e
    if result.returncode != 0:
        raise SourceError(f"gpg {args[0]} failed: {summarise_stderr(result.stderr)}")
    return result.stdout
