"""Secret resolution and redaction for notification targets.

A target names a secret (``secret_ref: shop-hook``); its value never comes from the platform repo.
It is looked up, in order, in the environment variable ``DOCKYARD_SECRET_SHOP_HOOK`` and in the
file ``<secrets_dir>/shop-hook`` (how Kubernetes mounts a Secret as a volume). Files are read on
every delivery so a rotated Secret takes effect without a restart.

Every secret value this process ever handles is registered with a :class:`Redactor`, which scrubs
it from any text before that text reaches a log line, an exception, the outbox or a message.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit

from daemon.errors import NotificationError

SECRET_ENV_PREFIX = "DOCKYARD_SECRET_"  # noqa: S105 - a variable name prefix
REDACTED = "***"
#: Shorter values would redact ordinary words and numbers; no real credential is this short.
_MIN_SECRET_LENGTH = 6
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


def secret_env_name(name: str) -> str:
    return SECRET_ENV_PREFIX + name.upper().replace("-", "_").replace(".", "_")


class Redactor:
    """Remembers secret values and removes them from text. Thread-safe."""

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        self.add(*values)

    def add(self, *values: str | None) -> None:
        fresh: set[str] = set()
        for value in values:
            if not value:
                continue
            for variant in _variants(value):
                if len(variant) >= _MIN_SECRET_LENGTH:
                    fresh.add(variant)
        if fresh - self._values:
            with self._lock:
                self._values = self._values | fresh

    def redact(self, text: str) -> str:
        # Longest first, so a URL is replaced whole before its token part would be.
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return text


def _variants(value: str) -> list[str]:
    """The forms in which a secret may show up in text: as is, URL-quoted, and for a URL its
    path and query (where webhook tokens live), since libraries sometimes print only those."""
    variants = [value, value.strip(), quote(value, safe="")]
    if value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        if parts.path not in ("", "/"):
            variants.append(parts.path + (f"?{parts.query}" if parts.query else ""))
            variants.append(parts.path)
        if parts.query:
            variants.append(parts.query)
            variants.extend(v for kv in parts.query.split("&") for v in kv.split("=")[1:])
        if parts.password:
            variants.append(parts.password)
    return variants


class SecretResolver:
    """Resolves ``secret_ref`` names from ``DOCKYARD_SECRET_*`` variables or a secrets directory."""

    def __init__(self, environ: Mapping[str, str], secrets_dir: Path | None, redactor: Redactor | None = None) -> None:
        # Only our own variables are kept: the rest of the environment is none of our business.
        self._env = {k: v for k, v in environ.items() if k.startswith(SECRET_ENV_PREFIX)}
        self._dir = secrets_dir
        self.redactor = redactor if redactor is not None else Redactor()

    def resolve(self, name: str) -> str:
        if not _NAME_RE.match(name):
            raise NotificationError(f"invalid secret reference name {name!r}", permanent=True)
        value = self._env.get(secret_env_name(name))
        if value is None and self._dir is not None:
            path = self._dir / name
            try:
                value = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                value = None
            except OSError as e:
                raise NotificationError(f"secret {name!r} cannot be read: {e.strerror}") from e
        if value is None:
            where = secret_env_name(name)
            if self._dir is not None:
                where += f" or {self._dir / name}"
            raise NotificationError(f"secret {name!r} is not set (expected in {where})")
        value = value.strip()
        self.redactor.add(value)
        return value
