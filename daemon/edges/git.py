"""Running git: one runner, credentials handed over safely, every output redacted."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import git

from daemon.errors import SourceError

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")


_AUTH_HEADER = re.compile(r"(?i)(authorization:\s*)\S+(\s+\S+)?")


_SCP_LIKE = re.compile(r"^(?:[^@/:\s]+@)?[^/:\s]+:(?!//)")


@dataclass(frozen=True)
class _GitResult:
    status: int
    stdout: str
    stderr: str


class _Redactor:
    """Removes credentials from any text git or GitPython produced before we show it."""

    def __init__(self, secrets: Sequence[str]) -> None:
        # Longest first so a secret that contains another is removed whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _AUTH_HEADER.sub(r"\1***", text)
        return _URL_USERINFO.sub(r"\1***@", text)


def _run_git(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> _GitResult:
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
            env=dict(env) if env else None,
            strip_newline_in_stdout=False,
        )
    except (git.GitCommandNotFound, OSError) as e:
        raise SourceError(f"cannot run git ({type(e).__name__}); is git installed?") from e
    status, stdout, stderr = result
    return _GitResult(int(status), str(stdout or ""), str(stderr or ""))


def _split_credentials(url: str) -> tuple[str, str | None, str | None]:
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


def _describe_url(url: str) -> str:
    return _URL_USERINFO.sub(r"\1", url) if urlsplit(url).scheme in ("http", "https") else url


def _summarise_stderr(stderr: str) -> str:
    # git prints progress and hints; these lines say what went wrong (ssh's own come first).
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    important = [line for line in lines if line.lower().startswith(_IMPORTANT_PREFIXES)]
    text = "; ".join((important or lines)[-3:])
    if "could not read username" in text.lower() or "authentication failed" in text.lower():
        text += " (the remote wants credentials: none were given or they were rejected)"
    return text


_IMPORTANT_PREFIXES = ("fatal:", "error:", "ssh:", "warning: identity file", "permission denied", "host key")
