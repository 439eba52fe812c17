"""One JSON POST over urllib, with a timeout, and failures mapped to :class:`DeliveryError`.

Webhook URLs often carry their credential (a token in the path or query), so no message built
here ever names the URL; callers pass a ``what`` such as ``"webhook (secret shop-hook)"``.
"""

from __future__ import annotations

import email.utils
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from notifiers.targets.base import DeliveryError

USER_AGENT = "dockyard-notifier/0.1"
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would resend a signed body to a place nobody configured.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(when - (time.time() if now is None else now), 0.0)


def post_json(url: str, body: bytes, headers: dict[str, str], *, timeout: float, what: str) -> HttpResponse:
    """POST ``body``; return the 2xx response or raise :class:`DeliveryError`."""
    if not url.startswith(("https://", "http://")):
        raise DeliveryError(f"{what}: the URL is not http(s)", permanent=True)
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - scheme checked above
    request.add_header("Content-Type", "application/json; charset=utf-8")
    request.add_header("User-Agent", USER_AGENT)
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return HttpResponse(response.status, response.read(MAX_RESPONSE_BYTES))
    except urllib.error.HTTPError as e:
        status = e.code
        retry_after = parse_retry_after(e.headers.get("Retry-After")) if e.headers else None
        e.close()
        raise _status_error(what, status, retry_after) from e
    except urllib.error.URLError as e:
        refused = isinstance(e.reason, ConnectionRefusedError)
        reason = _reason(e.reason)
        raise DeliveryError(f"{what}: request failed: {reason}", maybe_delivered=not refused) from e
    except TimeoutError as e:
        raise DeliveryError(f"{what}: no answer within {timeout:g}s", maybe_delivered=True) from e
    except (OSError, ValueError) as e:
        # http.client errors (a reset, an invalid URL) can quote the URL: name only the type.
        raise DeliveryError(f"{what}: request failed: {type(e).__name__}", maybe_delivered=True) from None


def _reason(reason: object) -> str:
    if isinstance(reason, ssl.SSLError):
        return f"TLS error ({reason.reason or type(reason).__name__})"
    if isinstance(reason, OSError):
        return reason.strerror or type(reason).__name__
    if isinstance(reason, str) and "://" not in reason:
        return reason
    return type(reason).__name__


def _status_error(what: str, status: int, retry_after: float | None) -> DeliveryError:
    if status == 429:
        return DeliveryError(f"{what}: rate limited (HTTP 429)", retry_after=retry_after, rate_limited=True)
    if status == 408 or status >= 500:
        return DeliveryError(f"{what}: server error (HTTP {status})", retry_after=retry_after, maybe_delivered=True)
    return DeliveryError(f"{what}: rejected (HTTP {status})", permanent=True)
