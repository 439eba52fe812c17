"""Settings of the notifiers: where Slack and SMTP are, how hard to retry, how much to pace.

Build them with :meth:`NotifierSettings.from_env` (the daemon) or directly (tests). Secret fields
are excluded from ``repr`` so a settings object can be logged safely.

Environment variables read by :meth:`NotifierSettings.from_env`:

=================================  ================================================================
``SLACK_BOT_TOKEN``                bot token (``xoxb-...``) for Slack targets
``SLACK_API_URL``                  Web API base URL (default ``https://slack.com/api/``)
``DOCKYARD_SMTP_HOST``             SMTP server; email targets fail without it
``DOCKYARD_SMTP_PORT``             default 587
``DOCKYARD_SMTP_USER``             login, if the server wants AUTH
``DOCKYARD_SMTP_PASSWORD``         its password
``DOCKYARD_SMTP_FROM``             sender address (default ``dockyard@<host>``)
``DOCKYARD_SMTP_STARTTLS``         ``true`` (default) or ``false``
``DOCKYARD_SMTP_CA_FILE``          CA bundle to verify the SMTP server with (default: system CAs)
``DOCKYARD_SECRETS_DIR``           directory holding one file per ``secret_ref``
``DOCKYARD_SECRET_<NAME>``         value of ``secret_ref: <name>`` (upper case, ``-`` becomes ``_``)
``DOCKYARD_COMMIT_URL``            link template for commits, e.g. ``https://git/x/commit/{sha}``
``DOCKYARD_NOTIFY_MAX_ATTEMPTS``   attempts before a delivery is dead-lettered (default 8)
=================================  ================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from daemon.errors import ConfigError
from notifiers.pacing import PacingPolicy
from notifiers.secrets import SECRET_ENV_PREFIX

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    from_addr: str = ""
    starttls: bool = True
    ca_file: str | None = None
    timeout: float = 20.0

    @property
    def sender(self) -> str:
        return self.from_addr or f"dockyard@{self.host}"


@dataclass(frozen=True)
class NotifierSettings:
    slack_api_url: str = DEFAULT_SLACK_API_URL
    slack_token: str | None = field(default=None, repr=False)
    smtp: SmtpSettings | None = None
    secrets_dir: Path | None = None
    #: ``DOCKYARD_SECRET_*`` values; nothing else of the environment is kept
    secret_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    commit_url: str | None = None
    http_timeout: float = 10.0
    slack_timeout: int = 15
    max_attempts: int = 8
    backoff_base: float = 2.0
    backoff_max: float = 600.0
    #: 429 answers do not use up attempts, but an endless stream of them must end somewhere
    max_rate_limited: int = 50
    pacing: PacingPolicy = field(default_factory=PacingPolicy)
    #: how long email and robot deliveries of one group wait for the rest of their cycle
    group_wait: float = 5.0
    #: how long finished deliveries are kept, which is how long re-emitting an event is a no-op
    retention: float = 7 * 24 * 3600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError("notifier max_attempts must be at least 1")
        if self.backoff_base <= 0 or self.backoff_max < self.backoff_base:
            raise ConfigError("notifier backoff must satisfy 0 < base <= max")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> NotifierSettings:
        smtp: SmtpSettings | None = None
        host = environ.get("DOCKYARD_SMTP_HOST", "").strip()
        if host:
            smtp = SmtpSettings(
                host=host,
                port=_int(environ, "DOCKYARD_SMTP_PORT", 587),
                user=environ.get("DOCKYARD_SMTP_USER") or None,
                password=environ.get("DOCKYARD_SMTP_PASSWORD") or None,
                from_addr=environ.get("DOCKYARD_SMTP_FROM", ""),
                starttls=_bool(environ, "DOCKYARD_SMTP_STARTTLS", True),
                ca_file=environ.get("DOCKYARD_SMTP_CA_FILE") or None,
            )
        secrets_dir = environ.get("DOCKYARD_SECRETS_DIR")
        return cls(
            slack_api_url=environ.get("SLACK_API_URL") or DEFAULT_SLACK_API_URL,
            slack_token=environ.get("SLACK_BOT_TOKEN") or None,
            smtp=smtp,
            secrets_dir=Path(secrets_dir) if secrets_dir else None,
            secret_env={k: v for k, v in environ.items() if k.startswith(SECRET_ENV_PREFIX)},
            commit_url=environ.get("DOCKYARD_COMMIT_URL") or None,
            max_attempts=_int(environ, "DOCKYARD_NOTIFY_MAX_ATTEMPTS", 8),
        )


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")
