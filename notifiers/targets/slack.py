"""Slack through ``slack_sdk.WebClient``: Block Kit messages, one thread per group.

The first delivery of a group posts the head message; later ones reply in its thread and then
update the head (``chat.update``) so it shows the group's latest status.

Exactly once, as far as Slack allows: every message carries message metadata
``{"event_type": "dockyard_notification", "event_payload": {"key": <delivery key>, ...}}``.
When an earlier attempt may have reached Slack (the process died mid-request, a timeout, a 5xx),
the next attempt first looks for a message with that key (``conversations.history`` for top-level
messages, ``conversations.replies`` in a thread) and adopts it instead of posting again. This needs
the ``channels:history``/``groups:history`` scopes (and ``channels:read`` when a target names a
channel as ``#name``); without them the lookup is skipped with a warning and the delivery is at
least once. The SDK's own retries are off: a blind retry is exactly what makes duplicates.
"""

from __future__ import annotations

import logging
import re
import socket
import time
import urllib.error
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from notifiers import format as fmt
from notifiers.secrets import Redactor
from notifiers.targets.base import Delivery, DeliveryError, Job, SendResult, ThreadState
from notifiers.targets.http import parse_retry_after

log = logging.getLogger(__name__)

METADATA_TYPE = "dockyard_notification"
#: looking back this far before the first attempt covers clock skew between us and Slack
LOOKBACK_SECONDS = 600.0
MAX_LOOKUP_PAGES = 10
_CHANNEL_ID_RE = re.compile(r"^[CGD][A-Z0-9]{8,}$")
_ERROR_CODE_RE = re.compile(r"^[a-z0-9_]{1,64}$")
#: errors that retrying cannot fix (the channel, the payload or the app's membership is wrong)
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "invalid_arguments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "restricted_action",
        "cannot_reply_to_message",
    }
)
#: errors of a lookup that mean "cannot look", not "try again later"
_CANNOT_LOOK = frozenset({"missing_scope", "not_in_channel", "channel_not_found", "not_allowed_token_type"})
#: a head message that can no longer be edited is not worth failing its reply for
_HEAD_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed", "channel_not_found"})


class _RedactingFilter(logging.Filter):
    """Scrubs known secrets from the SDK's own log records (it logs request and response bodies
    at debug level, and a proxy's error page could echo anything)."""

    def __init__(self) -> None:
        super().__init__()
        self.redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for redactor in list(self.redactors):
            message = redactor.redact(message)
        record.msg, record.args = message, None
        return True


_SDK_LOG = log.getChild("sdk")
_SDK_FILTER = _RedactingFilter()
_SDK_LOG.addFilter(_SDK_FILTER)


class SlackSender:
    batches = False

    def __init__(
        self,
        *,
        token: str | None,
        base_url: str,
        timeout: int,
        commit_url: str | None = None,
        clock: Callable[[], float] = time.time,
        redactor: Redactor | None = None,
    ) -> None:
        self._token = token
        self._redactor = redactor if redactor is not None else Redactor()
        self._redactor.add(token)
        _SDK_FILTER.redactors.add(self._redactor)
        self._client = WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[], logger=_SDK_LOG)
        self._commit_url = commit_url
        self._clock = clock
        self._channel_ids: dict[str, str] = {}

    def send(self, job: Job) -> SendResult:
        if not self._token:
            raise DeliveryError("slack: no bot token configured (SLACK_BOT_TOKEN)", permanent=True)
        delivery = job.first
        channel = delivery.target.channel
        if not channel:
            raise DeliveryError("slack: the target names no channel", permanent=True)
        group = delivery.event.group
        message = fmt.slack_message(delivery.event, commit_url=self._commit_url, repeat=delivery.repeat)
        thread = job.thread if group else None
        if thread is None:
            channel_id, ts = self._post_once(delivery, message, channel, None)
            head = None
            if group:
                head = ThreadState(channel_id, ts, delivery.event, delivery.key, (fmt.StatusLine.of(delivery.event),))
            return SendResult({"channel": channel_id, "ts": ts}, head)
        if "ts" in delivery.progress:
            channel_id, ts = str(delivery.progress["channel"]), str(delivery.progress["ts"])
        else:
            channel_id, ts = self._post_once(delivery, message, thread.channel, thread.ts)
            # Once the reply exists, a failing head update must not make us post it again.
            job.checkpoint(delivery.key, {"channel": channel_id, "ts": ts})
        statuses = (*thread.statuses, fmt.StatusLine.of(delivery.event))
        self._update_head(thread, statuses, delivery)
        return SendResult({"channel": channel_id, "ts": ts}, replace(thread, statuses=statuses))

    # --- steps ----------------------------------------------------------------------------

    def _post_once(
        self, delivery: Delivery, message: fmt.SlackMessage, channel: str, thread_ts: str | None
    ) -> tuple[str, str]:
        what = f"slack {delivery.target.channel}"
        if delivery.uncertain:
            found = self._find_posted(delivery, channel, thread_ts)
            if found is not None:
                log.info("delivery %s was already posted to %s; not posting again", delivery.key, what)
                return found
        metadata = {
            "event_type": METADATA_TYPE,
            "event_payload": {"key": delivery.key, "event": delivery.event.name, "event_id": delivery.event.id},
        }
        try:
            response = self._client.chat_postMessage(
                channel=channel,
                text=message.text,
                blocks=list(message.blocks),
                thread_ts=thread_ts,
                metadata=metadata,
                unfurl_links=False,
                unfurl_media=False,
            )
        except Exception as e:
            raise _error(e, what, "chat.postMessage", posting=True) from e
        channel_id, ts = str(response["channel"]), str(response["ts"])
        self._channel_ids[channel] = channel_id
        return channel_id, ts

    def _update_head(self, thread: ThreadState, statuses: tuple[fmt.StatusLine, ...], delivery: Delivery) -> None:
        head = fmt.slack_head(thread.head, statuses, commit_url=self._commit_url)
        try:
            self._client.chat_update(channel=thread.channel, ts=thread.ts, text=head.text, blocks=list(head.blocks))
        except SlackApiError as e:
            if _code(e) in _HEAD_GONE:
                log.warning("head message of group %r can no longer be updated (%s)", thread.head.group, _code(e))
                return
            raise _error(e, f"slack {delivery.target.channel}", "chat.update", posting=False) from e
        except Exception as e:
            raise _error(e, f"slack {delivery.target.channel}", "chat.update", posting=False) from e

    def _find_posted(self, delivery: Delivery, channel: str, thread_ts: str | None) -> tuple[str, str] | None:
        what = f"slack {delivery.target.channel}"
        channel_id = self._channel_id(channel, what)
        if channel_id is None:
            return None
        since = (delivery.first_attempt_at or self._clock()) - LOOKBACK_SECONDS
        try:
            for message in self._messages(channel_id, thread_ts, since):
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == METADATA_TYPE and payload.get("key") == delivery.key:
                    return channel_id, str(message["ts"])
        except SlackApiError as e:
            if _code(e) in _CANNOT_LOOK:
                log.warning(
                    "cannot check %s for an earlier copy of %s (%s); posting, which may duplicate it",
                    what,
                    delivery.key,
                    _code(e),
                )
                return None
            raise _error(e, what, "lookup", posting=False) from e
        except Exception as e:
            raise _error(e, what, "lookup", posting=False) from e
        return None

    def _messages(self, channel_id: str, thread_ts: str | None, since: float) -> Iterator[Mapping[str, Any]]:
        cursor: str | None = None
        for _ in range(MAX_LOOKUP_PAGES):
            if thread_ts is None:
                response = self._client.conversations_history(
                    channel=channel_id, oldest=f"{since:.6f}", include_all_metadata=True, limit=200, cursor=cursor
                )
            else:
                response = self._client.conversations_replies(
                    channel=channel_id,
                    ts=thread_ts,
                    oldest=f"{since:.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            yield from response.get("messages") or []
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return

    def _channel_id(self, channel: str, what: str) -> str | None:
        if _CHANNEL_ID_RE.match(channel):
            return channel
        if channel in self._channel_ids:
            return self._channel_ids[channel]
        name = channel.lstrip("#")
        cursor: str | None = None
        try:
            for _ in range(MAX_LOOKUP_PAGES):
                response = self._client.conversations_list(
                    types="public_channel,private_channel", exclude_archived=True, limit=200, cursor=cursor
                )
                for item in response.get("channels") or []:
                    if item.get("name") == name:
                        self._channel_ids[channel] = str(item["id"])
                        return self._channel_ids[channel]
                cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    break
        except SlackApiError as e:
            if _code(e) not in _CANNOT_LOOK:
                raise _error(e, what, "conversations.list", posting=False) from e
        except Exception as e:
            raise _error(e, what, "conversations.list", posting=False) from e
        log.warning("cannot resolve %s to a channel id; posting without checking for an earlier copy", what)
        return None


def _code(e: SlackApiError) -> str:
    data = e.response.data if e.response is not None else None
    raw = data.get("error") if isinstance(data, dict) else None
    # Only Slack's own error codes are quoted: a proxy's error page could hold anything.
    return raw if isinstance(raw, str) and _ERROR_CODE_RE.match(raw) else "unexpected_answer"


def _error(e: Exception, what: str, method: str, *, posting: bool) -> DeliveryError:
    if isinstance(e, SlackApiError):
        status = e.response.status_code
        code = _code(e)
        if status == 429 or code == "ratelimited":
            retry_after = parse_retry_after(
                e.response.headers.get("Retry-After") or e.response.headers.get("retry-after")
            )
            return DeliveryError(f"{what}: rate limited by {method}", retry_after=retry_after, rate_limited=True)
        if status >= 500:
            return DeliveryError(f"{what}: {method} failed with HTTP {status}", maybe_delivered=posting)
        return DeliveryError(f"{what}: {method} failed: {code}", permanent=code in PERMANENT_ERRORS)
    if isinstance(e, urllib.error.URLError) and isinstance(e.reason, ConnectionRefusedError):
        return DeliveryError(f"{what}: {method} failed: connection refused")
    if isinstance(e, TimeoutError | socket.timeout):
        return DeliveryError(f"{what}: {method} timed out", maybe_delivered=posting)
    if isinstance(e, urllib.error.URLError | SlackClientError | OSError | ValueError):
        return DeliveryError(f"{what}: {method} failed ({type(e).__name__})", maybe_delivered=posting)
    return DeliveryError(f"{what}: {method} failed unexpectedly ({type(e).__name__})", maybe_delivered=posting)
