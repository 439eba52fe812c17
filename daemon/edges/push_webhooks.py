"""Push webhooks from GitHub and GitLab: verification, parsing and de-duplication.

Pure functions and one small thread-safe class; the HTTP server that receives the requests calls
them (and enforces :data:`MAX_BODY_BYTES` before reading the body). Public API::

    MAX_BODY_BYTES = 1 MiB
    verify_github(headers, body, secret) -> bool     X-Hub-Signature-256: sha256=<hmac hex>
    verify_gitlab(headers, secret) -> bool           X-Gitlab-Token: <secret>
    parse_push(provider, headers, body) -> PushEvent | None
        None for events that are not pushes (ping, issues, ...); WebhookError when the body is
        too large, not JSON, or a push without ``ref``/``after``
    PushEvent(provider, ref, after, delivery_id, pusher)
    DeliveryDeduper(capacity=1000).seen(delivery_id) -> bool
        True when that delivery was already seen (providers redeliver on timeouts and by hand)

Header names are matched case-insensitively (HTTP/2 lower-cases them, proxies rewrite them).
Secrets are compared with :func:`hmac.compare_digest`; an empty secret verifies nothing, so a
forgotten setting fails closed instead of accepting any request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from daemon.errors import WebhookError

__all__ = [
    "MAX_BODY_BYTES",
    "DeliveryDeduper",
    "Provider",
    "PushEvent",
    "WebhookError",
    "header",
    "json_payload",
    "parse_push",
    "verify_github",
    "verify_gitlab",
]

MAX_BODY_BYTES = 1024 * 1024

Provider = Literal["github", "gitlab"]

_GITHUB_PUSH_EVENTS = frozenset({"push"})
# A tag push is a push too: a daemon that follows a tag must hear about it.
_GITLAB_PUSH_EVENTS = frozenset({"push hook", "tag push hook"})


@dataclass(frozen=True)
class PushEvent:
    """A push to the repository: ``ref`` (``refs/heads/main``) now points at ``after``."""

    provider: Provider
    ref: str
    after: str
    delivery_id: str
    pusher: str


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` in any capitalisation, or None."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, found in headers.items():
        if key.lower() == wanted:
            return found
    return None


def _as_bytes(text: str) -> bytes:
    # compare_digest refuses non-ASCII str; a hostile header must give False, not a TypeError.
    return text.encode("utf-8", errors="surrogateescape")


def verify_github(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """True when ``X-Hub-Signature-256`` is the HMAC-SHA256 of ``body`` keyed with ``secret``."""
    given = header(headers, "X-Hub-Signature-256")
    if not secret or not given:
        return False
    expected = "sha256=" + hmac.new(_as_bytes(secret), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(_as_bytes(expected), _as_bytes(given.strip()))


def verify_gitlab(headers: Mapping[str, str], secret: str) -> bool:
    """True when ``X-Gitlab-Token`` equals ``secret`` (GitLab sends the secret itself)."""
    given = header(headers, "X-Gitlab-Token")
    if not secret or given is None:
        return False
    return hmac.compare_digest(_as_bytes(secret), _as_bytes(given))


def parse_push(provider: Provider, headers: Mapping[str, str], body: bytes) -> PushEvent | None:
    """The push event in a verified request, or None when the request is another kind of event."""
    if len(body) > MAX_BODY_BYTES:
        raise WebhookError(f"webhook body of {len(body)} bytes exceeds the limit of {MAX_BODY_BYTES}")
    if provider == "github":
        event = (header(headers, "X-GitHub-Event") or "").strip().lower()
        if event not in _GITHUB_PUSH_EVENTS:
            return None
        payload = json_payload(headers, body)
        delivery = header(headers, "X-GitHub-Delivery") or ""
        pusher = _text(payload, "pusher", "name") or _text(payload, "sender", "login")
    elif provider == "gitlab":
        event = (header(headers, "X-Gitlab-Event") or "").strip().lower()
        if event not in _GITLAB_PUSH_EVENTS:
            return None
        payload = json_payload(headers, body)
        # Idempotency-Key stays the same across GitLab's retries (17.4+); the event UUID is the
        # best older versions offer.
        delivery = header(headers, "Idempotency-Key") or header(headers, "X-Gitlab-Event-UUID") or ""
        pusher = _text(payload, "user_username") or _text(payload, "user_name")
    else:
        raise WebhookError(f"unknown webhook provider {provider!r}; expected github or gitlab")

    ref, after = _text(payload, "ref"), _text(payload, "after")
    if not ref or not after:
        raise WebhookError(f"{provider} push event without 'ref' and 'after'")
    if not delivery.strip():
        # Without an id, a redelivery is the same bytes again; a new push never is (its
        # 'before', commits or timestamps differ).
        delivery = "sha256:" + hashlib.sha256(body).hexdigest()
    return PushEvent(provider=provider, ref=ref, after=after, delivery_id=delivery.strip(), pusher=pusher)


def json_payload(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The JSON object of a webhook body (JSON, or GitHub's form encoding with a `payload` field)."""
    content_type = (header(headers, "Content-Type") or "").lower()
    raw: bytes | str = body
    if content_type.startswith("application/x-www-form-urlencoded"):
        # GitHub's "form" content type: the JSON document is the `payload` field.
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as e:
            raise WebhookError("webhook body is not valid form data") from e
        if "payload" not in fields:
            raise WebhookError("form-encoded webhook body has no 'payload' field")
        raw = fields["payload"][0]
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as e:
        raise WebhookError(f"webhook body is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise WebhookError(f"webhook body is a JSON {type(data).__name__}, expected an object")
    return data


def _text(data: Mapping[str, Any], *keys: str) -> str:
    value: Any = data
    for key in keys:
        if not isinstance(value, Mapping):
            return ""
        value = value.get(key)
    return value if isinstance(value, str) else ""


class DeliveryDeduper:
    """Remembers the last ``capacity`` delivery ids; thread-safe."""

    def __init__(self, capacity: int = 1000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, delivery_id: str) -> bool:
        """True if ``delivery_id`` was seen before; otherwise records it and returns False."""
        if not delivery_id:
            return False  # nothing to recognise a redelivery by; let it through
        with self._lock:
            if delivery_id in self._ids:
                self._ids.move_to_end(delivery_id)
                return True
            self._ids[delivery_id] = None
            if len(self._ids) > self._capacity:
                self._ids.popitem(last=False)
            return False

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)
