"""JSON over HTTPS to a forge's REST API: the token in a header only, rate limits honoured,
pagination followed, every answer bounded, every failure a :class:`~daemon.errors.ForgeError`
that never holds the token.

Rate limits, as GitHub and GitLab document them: a 429, or a 403 that carries ``Retry-After`` or
``X-RateLimit-Remaining: 0``, waits that long (``Retry-After`` seconds, or until
``X-RateLimit-Reset``) and tries again, as long as the total wait stays under ``max_wait``; a 403
without those signals is a refusal and is not retried. 502/503/504 and connection failures are
tried again a few times with a short backoff. Redirects are not followed: a token must never
travel to a place nobody configured.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

from daemon import __version__
from daemon.errors import ForgeError

_log = logging.getLogger(__name__)

USER_AGENT = f"dockyard/{__version__}"
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: A hostile or broken server must not keep us paging for ever.
MAX_PAGES = 200
_RETRIED_STATUSES = frozenset({502, 503, 504})
_ATTEMPTS = 4
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    data: Any


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _header(headers: Message | Mapping[str, str] | None, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    return str(value) if value is not None else None


def rate_limit_wait(status: int, headers: Message | Mapping[str, str] | None, now: float) -> float | None:
    """Seconds to wait before retrying a rate-limited answer; None when it is not one."""
    if status not in (403, 429):
        return None
    retry_after = _header(headers, "Retry-After")
    if retry_after is not None:
        try:
            return max(float(retry_after.strip()), 0.0)
        except ValueError:
            return None
    remaining = _header(headers, "X-RateLimit-Remaining") or _header(headers, "RateLimit-Remaining")
    if remaining is not None and remaining.strip() == "0":
        reset = _header(headers, "X-RateLimit-Reset") or _header(headers, "RateLimit-Reset")
        try:
            return max(float(reset or "60") - now, 1.0)
        except ValueError:
            return 60.0
    if status == 429:
        return 60.0
    return None


class ForgeHttp:
    """Requests against one API base URL with one set of auth headers."""

    def __init__(
        self,
        base_url: str,
        auth: Mapping[str, str],
        *,
        secrets: tuple[str, ...],
        extra_headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        max_wait: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ForgeError(f"the API URL {base_url!r} is not an http(s) URL")
        if parts.username or parts.password:
            raise ForgeError("the API URL must not carry credentials; the token comes from the environment")
        self.base_url = base_url.rstrip("/")
        self._auth = dict(auth)
        self._extra = dict(extra_headers or {})
        self._secrets = tuple(s for s in secrets if s)
        self._timeout = timeout
        self._max_wait = max_wait
        self._sleep = sleep
        self._clock = clock

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def url(self, path: str, params: Mapping[str, str | int] | None = None) -> str:
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        return url

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Answer:
        """One call; ForgeError for every answer that is not 2xx, after the retries above."""
        url = self.url(path, params)
        if not url.startswith(self.base_url + "/"):
            # A Link header pointing elsewhere must not get our token.
            raise ForgeError(f"{method} {self._where(url)}: the forge pointed outside its API URL; not followed")
        waited = 0.0
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return self._once(method, url, body)
            except ForgeError as e:
                wait = e.retry_after
                if wait is None and e.status in _RETRIED_STATUSES | {0} and attempt < _ATTEMPTS:
                    wait = 0.5 * 2 ** (attempt - 1)
                if wait is None or attempt == _ATTEMPTS:
                    raise
                if waited + wait > self._max_wait:
                    raise ForgeError(
                        f"{e} (the forge asks to wait {wait:.0f}s more; given up after {waited:.0f}s)",
                        status=e.status,
                        retry_after=wait,
                    ) from e
                _log.info("%s %s: %s; trying again in %.1fs", method, self._where(url), e, wait)
                self._sleep(wait)
                waited += wait
        raise AssertionError("unreachable")  # pragma: no cover

    def _where(self, url: str) -> str:
        return urllib.parse.urlsplit(url).path

    def _once(self, method: str, url: str, body: Mapping[str, Any] | None) -> Answer:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - scheme checked at construction
        request.add_header("User-Agent", USER_AGENT)
        request.add_header("Accept", self._extra.get("Accept", "application/json"))
        for name, value in {**self._extra, **self._auth}.items():
            request.add_unredirected_header(name, value)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        where = f"{method} {self._where(url)}"
        try:
            with _OPENER.open(request, timeout=self._timeout) as response:
                raw = response.read(MAX_RESPONSE_BYTES + 1)
                status, headers = int(response.status), {k.lower(): v for k, v in response.headers.items()}
        except urllib.error.HTTPError as e:
            with e:
                detail = self._message(e.read(64 * 1024))
                wait = rate_limit_wait(e.code, e.headers, self._clock())
            kind = "rate limited" if wait is not None else _STATUS_WORDS.get(e.code, "failed")
            raise ForgeError(f"{where}: {kind} (HTTP {e.code}){detail}", status=e.code, retry_after=wait) from None
        except urllib.error.URLError as e:
            reason = (
                e.reason.strerror if isinstance(e.reason, OSError) and e.reason.strerror else type(e.reason).__name__
            )
            raise ForgeError(f"{where}: no answer ({reason})") from None
        except (TimeoutError, OSError) as e:
            raise ForgeError(f"{where}: no answer ({type(e).__name__})") from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ForgeError(f"{where}: the answer is larger than {MAX_RESPONSE_BYTES} bytes", status=status)
        try:
            parsed = json.loads(raw) if raw.strip() else None
        except ValueError as e:
            raise ForgeError(f"{where}: the answer is not JSON", status=status) from e
        return Answer(status, headers, parsed)

    def _message(self, raw: bytes) -> str:
        """The forge's own words for an error (GitHub's and GitLab's message shapes), redacted."""
        try:
            data = json.loads(raw)
        except ValueError:
            return ""
        if not isinstance(data, Mapping):
            return ""
        parts = [str(data.get("message") or data.get("error") or "")]
        for error in data.get("errors") or ():
            if isinstance(error, Mapping) and error.get("message"):
                parts.append(str(error["message"]))
        text = "; ".join(p for p in parts if p and p != "{}")
        return f": {self.redact(text)[:300]}" if text else ""

    def pages(self, path: str, params: Mapping[str, str | int]) -> Iterator[Any]:
        """Every item of a paginated list: GitHub's and GitLab's ``Link: <...>; rel="next"``, or
        GitLab's ``X-Next-Page``."""
        answer = self.request("GET", path, params=params)
        for _ in range(MAX_PAGES):
            if not isinstance(answer.data, list):
                raise ForgeError(f"GET {path}: expected a list, got {type(answer.data).__name__}", status=answer.status)
            yield from answer.data
            link = _NEXT_LINK.search(answer.headers.get("link", ""))
            next_page = (answer.headers.get("x-next-page") or "").strip()
            if link is not None:
                answer = self.request("GET", link.group(1))
            elif next_page.isdigit():
                answer = self.request("GET", path, params={**params, "page": next_page})
            else:
                return
        raise ForgeError(f"GET {path}: more than {MAX_PAGES} pages; stopped")


_STATUS_WORDS = {
    400: "refused as invalid",
    401: "the token was refused",
    403: "not allowed",
    404: "not found (or the token cannot see it)",
    410: "gone",
    422: "refused as invalid",
}
