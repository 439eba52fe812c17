"""The one exception tree of Dockyard.

Every error Dockyard raises on purpose derives from :class:`DockyardError`; library errors are
wrapped at the edge that called the library (``raise ... from e``) so callers never need to know
which client produced them::

    DockyardError
    ├── ConfigError              bad command-line flags, settings or environment
    ├── ValidationFailed         the platform repo is invalid; carries every Problem found
    ├── ClusterError             the Kubernetes API failed or refused us
    │   ├── ClusterUnavailable   connection refused, timeouts, 5xx: worth retrying
    │   ├── ApplyConflict        another field manager owns a field we set
    │   └── ObjectInvalid        the API server rejected an object (422)
    ├── CycleStopped             a step of a reconcile cycle could not finish; names the step
    ├── SourceError              git clone/fetch/checkout failed (credentials are never in it)
    ├── WebhookError             a webhook request that is malformed or cannot be a push event
    ├── ForgeError               the GitHub or GitLab API refused or failed a request (no token in it)
    ├── DevClusterError          the local control plane could not be built or started
    ├── NotificationError        delivery to a target failed (secrets are never in it)
    ├── SecretError              an encrypted file of the repo cannot be decrypted (never carries a value)
    ├── ChatError                a chat command cannot be carried out; message and hint are
    │                            written for the person who typed it (never a secret)
    └── ConsoleError             a console request that cannot be answered or carried out;
                                 ``status`` is the HTTP status, message and hint are shown
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


class DockyardError(Exception):
    """Base of every error Dockyard raises on purpose."""


class ConfigError(DockyardError):
    """Bad command-line flags, settings or environment."""


@dataclass(frozen=True, order=True)
class Problem:
    """One finding of validation, located precisely in the platform repo.

    ``file`` is relative to the repo root; ``line`` and ``column`` are 1-based (0 when the problem
    concerns a whole file); ``path`` is a JSON path into the document such as ``$.spec.ports[0]``.
    """

    file: str
    line: int
    column: int
    message: str = field(compare=False)
    path: str = field(default="$", compare=False)
    hint: str = field(default="", compare=False)
    severity: Severity = field(default="error", compare=False)
    code: str = field(default="", compare=False)

    def format(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"
        if self.path not in ("", "$"):
            text += f" (at {self.path})"
        if self.hint:
            text += f" - {self.hint}"
        return text


class ValidationFailed(DockyardError):
    """The platform repo is invalid. ``problems`` holds every error and warning, sorted."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems))
        errors = [p for p in self.problems if p.severity == "error"]
        first = errors[0].format() if errors else "no errors"
        super().__init__(f"{len(errors)} validation error(s); first: {first}")


class ClusterError(DockyardError):
    """The Kubernetes API failed or refused a request."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class ClusterUnavailable(ClusterError):
    """The API server cannot be reached or answered 5xx/429; the call is worth retrying."""


class ApplyConflict(ClusterError):
    """Server-side apply found fields owned by another field manager."""

    def __init__(self, message: str, *, managers: Sequence[str] = ()) -> None:
        super().__init__(message, status=409, reason="Conflict")
        self.managers = tuple(managers)


class ObjectInvalid(ClusterError):
    """The API server rejected an object as invalid (HTTP 422)."""


class CycleStopped(DockyardError):
    """A step of a reconcile cycle could not finish; ``step`` names it (the cycle ends failed)."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


class SourceError(DockyardError):
    """Git clone, fetch or checkout failed. The message never contains credentials."""


class WebhookError(DockyardError):
    """A webhook request is malformed (bad JSON, missing fields, body too large)."""


class ForgeError(DockyardError):
    """A GitHub or GitLab API request failed. ``status`` is the HTTP status (0: no answer);
    ``retry_after`` the seconds the forge asked to wait. The message never contains the token."""

    def __init__(self, message: str, *, status: int = 0, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class DevClusterError(DockyardError):
    """The local control plane could not be built, started or stopped."""


class NotificationError(DockyardError):
    """Delivery of a notification failed. The message never contains secrets."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class SecretError(DockyardError):
    """An encrypted (SOPS) file cannot be decrypted or does not hold what it must; the message
    says why and never carries a value, encrypted or not."""


class ChatError(DockyardError):
    """A chat command that cannot be carried out (malformed, refused, or failed on the way).

    The message says what happened and ``hint`` what to do instead; both are shown to the person
    who typed the command, so they never contain secrets.
    """

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class ConsoleError(DockyardError):
    """A console request that cannot be answered or carried out (malformed, refused, failed).

    ``status`` is the HTTP status to answer with; the message and ``hint`` are shown to the person
    in the browser, so they never contain secrets.
    """

    def __init__(self, message: str, *, status: int = 400, hint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.hint = hint
