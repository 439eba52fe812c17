"""The Slack side of the chat tests: the local Slack Web API server of the notifier tests, taught
what slash commands need (``auth.test``, ``usergroups.users.list`` and ``response_url``), and a
client that sends slash commands signed the way Slack signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.notifiers.fakes import SLACK_TOKEN, FakeSlack, _QuietHandler

SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543-signing"
BOT_TOKEN = SLACK_TOKEN


class ChatSlack(FakeSlack):
    """FakeSlack plus auth.test, user groups and the response_url endpoint of slash commands."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, list[str]] = {}
        self.responses: list[dict[str, Any]] = []
        self.responded = threading.Condition(self.lock)

    def response_url(self, key: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/commands/T0TEAM/{key}"

    def answers(self, key: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.responses if r["key"] == key]

    def _handle(self, request: _QuietHandler) -> None:
        path = urlsplit(request.path).path
        if not path.startswith("/commands/"):
            super()._handle(request)
            return
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        if not (request.headers.get("Content-Type") or "").startswith("application/json"):
            request._answer(400, b"invalid_payload", "text/plain")
            return
        payload = json.loads(raw)
        blocks = payload.get("blocks")
        if not self._blocks_valid(blocks):
            request._answer(400, b"invalid_blocks", "text/plain")
            return
        with self.lock:
            self.responses.append({"key": path.rsplit("/", 1)[1], **payload})
            self.responded.notify_all()
        request._answer(200, b"ok", "text/plain")

    @staticmethod
    def _blocks_valid(blocks: list[dict[str, Any]] | None) -> bool:
        """Slack's limits, including sections made of fields (the notifier fake knows only text)."""
        if blocks is None:
            return True
        if len(blocks) > 50:
            return False
        for block in blocks:
            kind = block["type"]
            if kind == "header" and len(block["text"]["text"]) > 150:
                return False
            if kind == "section":
                fields = block.get("fields") or []
                if "text" not in block and not fields:
                    return False
                if "text" in block and len(block["text"]["text"]) > 3000:
                    return False
                if len(fields) > 10 or any(len(f["text"]) > 2000 for f in fields):
                    return False
            if kind == "context" and len(block["elements"]) > 10:
                return False
        return True

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "team": "Dockyard",
            "team_id": "T0TEAM",
            "user": "dockyard",
            "user_id": "U0BOT",
            "bot_id": "B0BOT",
        }

    def _m_usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = str(params.get("usergroup", ""))
        if group not in self.groups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.groups[group])}


@dataclass
class Sent:
    status: int
    body: str
    key: str  # the response_url's last segment
    trigger: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class SlashClient:
    """Sends ``/dockyard`` commands to a daemon's /slack/events as Slack would."""

    url: str
    slack: ChatSlack
    secret: str = SIGNING_SECRET
    sent: list[Sent] = field(default_factory=list)

    def form(self, text: str, *, user: str, user_name: str, channel: str, key: str, trigger: str) -> bytes:
        return urlencode(
            {
                "token": "legacy-verification-token",
                "team_id": "T0TEAM",
                "team_domain": "dockyard-test",
                "channel_id": channel,
                "channel_name": "ops",
                "user_id": user,
                "user_name": user_name,
                "command": "/dockyard",
                "text": text,
                "api_app_id": "A0APP",
                "is_enterprise_install": "false",
                "response_url": self.slack.response_url(key),
                "trigger_id": trigger,
            }
        ).encode()

    def sign(self, body: bytes, timestamp: str, secret: str | None = None) -> str:
        base = b"v0:" + timestamp.encode() + b":" + body
        return "v0=" + hmac.new((secret or self.secret).encode(), base, hashlib.sha256).hexdigest()

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        request = urllib.request.Request(
            self.url,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.read().decode()

    def command(
        self,
        text: str,
        *,
        user: str = "U0ALICE1",
        user_name: str = "alice",
        channel: str = "C0RANDOM1",
        age: float = 0.0,
        secret: str | None = None,
    ) -> Sent:
        key, trigger = uuid.uuid4().hex, f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"
        body = self.form(text, user=user, user_name=user_name, channel=channel, key=key, trigger=trigger)
        timestamp = str(int(time.time() - age))
        status, answer = self.post(
            body, {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": self.sign(body, timestamp, secret)}
        )
        sent = Sent(status, answer, key, trigger)
        self.sent.append(sent)
        return sent

    def wait_answers(self, sent: Sent, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.slack.responded:
            while len(answers := [r for r in self.slack.responses if r["key"] == sent.key]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {count} answer(s) to {sent.key}; got {answers}")
                self.slack.responded.wait(left)
            return answers


def block_text(message: dict[str, Any]) -> str:
    """Every text in a message's blocks, joined: what a reader sees."""
    out: list[str] = [str(message.get("text", ""))]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks") or [])
    return "\n".join(out)
