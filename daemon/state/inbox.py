"""Requests a standby received, kept in the cluster until the leader takes them.

Push and merge-request webhooks, Slack commands and console actions reach whichever replica the
Service picks. Only the leader acts, so a standby acknowledges the request and puts it here; the
leader takes the whole inbox every second and carries each request out once. The inbox is a
Secret (a Slack command carries its ``response_url``, which lets anyone answer in the user's
channel): ``dockyard-inbox`` in the daemon's namespace, one JSON line per request.

Taking is one compare-and-swap write that empties the inbox, so two leaders in a failover can never
both take a request: each request runs at most once; a request that arrives while no replica leads
waits here for the next leader.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from daemon.edges.kube import KubeClient, ResourceType
from daemon.errors import ClusterError

_log = logging.getLogger(__name__)

KEY = "requests.jsonl"
#: A flood of requests while no leader takes them must not grow the Secret past its 1 MiB limit.
MAX_BYTES = 512 * 1024
_ATTEMPTS = 10

RequestKind = Literal["sync", "slack-command", "merge-request", "console-action"]
REQUEST_KINDS: tuple[RequestKind, ...] = ("sync", "slack-command", "merge-request", "console-action")


class InboxFull(ClusterError):
    """The inbox holds as much as it may; the caller answers "try again"."""


@dataclass(frozen=True)
class InboxRequest:
    kind: RequestKind
    payload: Mapping[str, Any] = field(default_factory=dict)
    received_by: str = ""
    received: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: secrets.token_hex(8))

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "kind": self.kind,
                "payload": dict(self.payload),
                "receivedBy": self.received_by,
                "received": self.received,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, line: str) -> InboxRequest:
        data = json.loads(line)
        if data.get("kind") not in REQUEST_KINDS or not isinstance(data.get("payload"), dict):
            raise ValueError("not an inbox request")
        return cls(
            kind=data["kind"],
            payload=data["payload"],
            received_by=str(data.get("receivedBy", "")),
            received=float(data.get("received", 0.0)),
            id=str(data.get("id", "")),
        )


class Inbox:
    def __init__(self, kube: KubeClient, *, namespace: str, name: str = "dockyard-inbox") -> None:
        self._kube = kube
        self._namespace = namespace
        self._name = name

    @property
    def _rtype(self) -> ResourceType:
        return self._kube.resource_type("v1", "Secret")

    def put(self, request: InboxRequest) -> None:
        """Adds a request durably; raises InboxFull (or ClusterError) when it cannot."""
        line = request.to_json()
        for _ in range(_ATTEMPTS):
            current = self._kube.get(self._rtype, self._namespace, self._name)
            try:
                if current is None:
                    self._kube.create(self._body([line]))
                    return
                lines = _lines(current)
                if sum(len(x) + 1 for x in lines) + len(line) > MAX_BYTES:
                    raise InboxFull("the request inbox is full: no leader has taken requests for a while")
                self._kube.replace(self._with(current, [*lines, line]))
                return
            except ClusterError as e:
                if isinstance(e, InboxFull) or e.status not in (409,):
                    raise
        raise ClusterError("the request inbox stayed contended; try again", status=409)

    def take(self) -> list[InboxRequest]:
        """Every waiting request, removed from the inbox in the same write (oldest first)."""
        for _ in range(_ATTEMPTS):
            current = self._kube.get(self._rtype, self._namespace, self._name)
            lines = _lines(current) if current is not None else []
            if not lines:
                return []
            assert current is not None
            try:
                # Carries the resourceVersion read above: another taker or a put makes this 409.
                self._kube.replace(self._with(current, []))
            except ClusterError as e:
                if e.status != 409:
                    raise
                continue
            taken = []
            for line in lines:
                try:
                    taken.append(InboxRequest.from_json(line))
                except ValueError as e:
                    _log.warning("dropping an unreadable inbox entry: %s", e)
            return taken
        return []

    def _body(self, lines: list[str]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": self._name,
                "namespace": self._namespace,
                "labels": {"app.kubernetes.io/managed-by": "dockyard", "dockyard.dev/role": "inbox"},
            },
            "data": {KEY: _encode(lines)},
        }

    @staticmethod
    def _with(current: Mapping[str, Any], lines: list[str]) -> dict[str, Any]:
        updated = dict(current)
        updated["data"] = {KEY: _encode(lines)}
        return updated


def _encode(lines: list[str]) -> str:
    return base64.b64encode("".join(f"{line}\n" for line in lines).encode()).decode()


def _lines(secret: Mapping[str, Any]) -> list[str]:
    raw = (secret.get("data") or {}).get(KEY) or ""
    try:
        text = base64.b64decode(raw).decode()
    except (ValueError, UnicodeDecodeError):
        return []
    return [line for line in text.splitlines() if line.strip()]
