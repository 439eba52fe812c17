"""Generic webhooks and the DingTalk, Feishu and WeCom group robots.

Where the URL and key come from (``url`` and ``secretRef`` of the target):

* ``url`` set: the URL is not secret; ``secretRef``, if any, is the signing key.
* ``url`` unset: ``secretRef`` holds the URL (robot URLs carry their access token), or a JSON
  object ``{"url": ..., "key": ...}`` holding the URL and the signing key.

Generic webhooks get the event as JSON (:func:`notifiers.format.webhook_payload`) with headers
``X-Dockyard-Timestamp`` (Unix seconds), ``X-Dockyard-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>.<body>" with the key>`` when a key is set, ``X-Dockyard-Event`` and
``X-Dockyard-Delivery`` (the idempotency key; delivery is at least once, receivers drop repeats).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daemon.model.kinds import NotificationTarget
from notifiers import format as fmt
from notifiers.routing import target_label
from notifiers.secrets import SecretResolver
from notifiers.targets.base import DeliveryError, Job, SendResult
from notifiers.targets.http import post_json


@dataclass(frozen=True)
class Endpoint:
    url: str
    key: str | None


def resolve_endpoint(target: NotificationTarget, secrets: SecretResolver) -> Endpoint:
    url, key = target.url, None
    if target.url:
        secrets.redactor.add(target.url)
    if target.secret_ref:
        value = secrets.resolve(target.secret_ref)
        if value.startswith("{"):
            try:
                data = json.loads(value)
            except ValueError:
                raise DeliveryError(f"secret {target.secret_ref!r} is not valid JSON", permanent=True) from None
            url = url or str(data.get("url") or "") or None
            key = str(data["key"]) if data.get("key") else None
            secrets.redactor.add(url, key)
        elif value.startswith(("https://", "http://")) and not target.url:
            url = value
        else:
            key = value
    if not url:
        raise DeliveryError(f"{target_label(target)}: no URL (set url or a secretRef holding it)", permanent=True)
    return Endpoint(url, key)


def sign(key: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookSender:
    batches = False

    def __init__(self, secrets: SecretResolver, *, timeout: float, clock: Callable[[], float] = time.time) -> None:
        self._secrets = secrets
        self._timeout = timeout
        self._clock = clock

    def send(self, job: Job) -> SendResult:
        delivery = job.first
        endpoint = resolve_endpoint(delivery.target, self._secrets)
        payload = fmt.webhook_payload(delivery.event, key=delivery.key, repeat=delivery.repeat)
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        timestamp = str(int(self._clock()))
        headers = {
            "X-Dockyard-Event": delivery.event.name,
            "X-Dockyard-Delivery": delivery.key,
            "X-Dockyard-Timestamp": timestamp,
        }
        if endpoint.key:
            headers["X-Dockyard-Signature"] = sign(endpoint.key, timestamp, body)
        response = post_json(endpoint.url, body, headers, timeout=self._timeout, what=target_label(delivery.target))
        return SendResult({"status": response.status})


class RobotSender:
    """DingTalk, Feishu (Lark) and WeCom group robots: markdown text, their own signing schemes,
    and an HTTP 200 whose JSON ``errcode``/``code`` says whether it worked."""

    batches = True

    def __init__(
        self,
        kind: str,
        secrets: SecretResolver,
        *,
        timeout: float,
        commit_url: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if kind not in ("dingtalk", "feishu", "wecom"):
            raise ValueError(f"not a robot kind: {kind}")
        self.kind = kind
        self._secrets = secrets
        self._timeout = timeout
        self._commit_url = commit_url
        self._clock = clock

    def send(self, job: Job) -> SendResult:
        target = job.first.target
        endpoint = resolve_endpoint(target, self._secrets)
        events = [d.event for d in job.deliveries]
        limit = 4000 if self.kind == "wecom" else 18000
        title, text = fmt.markdown_message(events, commit_url=self._commit_url, limit_bytes=limit)
        url, payload = self._request(endpoint, title, text)
        what = target_label(target)
        response = post_json(url, json.dumps(payload).encode(), {}, timeout=self._timeout, what=what)
        try:
            answer: Any = json.loads(response.body or b"{}")
        except ValueError:
            raise DeliveryError(f"{what}: the answer is not JSON", maybe_delivered=True) from None
        code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0))) if isinstance(answer, dict) else 0
        if code not in (0, None):
            # 130101 (DingTalk) and 45009 (WeCom) and 11232 (Feishu) are their rate limits.
            limited = code in (130101, 45009, 11232, 9499)
            raise DeliveryError(
                f"{what}: robot refused the message (code {code})",
                retry_after=60.0 if limited else None,
                rate_limited=limited,
                permanent=not limited and code in (300001, 310000, 19021, 19024, 93000),
            )
        return SendResult({"status": response.status})

    def _request(self, endpoint: Endpoint, title: str, text: str) -> tuple[str, dict[str, Any]]:
        if self.kind == "dingtalk":
            url = endpoint.url
            if endpoint.key:
                ms = str(int(self._clock() * 1000))
                mac = hmac.new(endpoint.key.encode(), f"{ms}\n{endpoint.key}".encode(), hashlib.sha256)
                signature = urllib.parse.quote_plus(base64.b64encode(mac.digest()).decode())
                url += ("&" if "?" in url else "?") + f"timestamp={ms}&sign={signature}"
            return url, {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        if self.kind == "feishu":
            payload: dict[str, Any] = {"msg_type": "text", "content": {"text": f"{title}\n\n{text}"}}
            if endpoint.key:
                seconds = str(int(self._clock()))
                mac = hmac.new(f"{seconds}\n{endpoint.key}".encode(), b"", hashlib.sha256)
                payload |= {"timestamp": seconds, "sign": base64.b64encode(mac.digest()).decode()}
            return endpoint.url, payload
        return endpoint.url, {"msgtype": "markdown", "markdown": {"content": text}}
