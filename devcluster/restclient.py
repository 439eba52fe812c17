"""A minimal HTTPS client for bootstrapping the local API server.

Bootstrapping needs a handful of requests (readyz, create nodes, apply CRDs, poll status); the
standard library does that without the import cost of the kubernetes client, which keeps
``dockyard dev-cluster up`` and ``status`` quick.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from daemon.errors import DevClusterError

APPLY_PATCH = "application/apply-patch+yaml"


class ApiUnreachable(DevClusterError):
    """The TCP/TLS connection failed or the server hung up; usually it is still starting."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise DevClusterError(f"HTTP {self.status}: expected JSON, got {self.body[:200]!r}") from e

    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass(frozen=True)
class RestClient:
    """Talks to ``https://host:port`` as the client whose cert and key are given."""

    host: str
    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path
    timeout: float = 10.0

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
    ) -> Response:
        url = f"{path}?{urlencode(query)}" if query else path
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        conn = http.client.HTTPSConnection(self.host, self.port, context=self._context(), timeout=self.timeout)
        try:
            conn.request(method, url, body=body, headers=headers)
            response = conn.getresponse()
            return Response(response.status, response.read())
        except (OSError, http.client.HTTPException) as e:
            raise ApiUnreachable(f"{method} {path}: {e}") from e
        finally:
            conn.close()

    def get(self, path: str, query: dict[str, str] | None = None) -> Response:
        return self.request("GET", path, query=query)

    def create(self, path: str, obj: dict[str, Any]) -> Response:
        return self.request("POST", path, json.dumps(obj).encode())

    def apply(self, path: str, manifest: bytes, field_manager: str) -> Response:
        """Server-side apply: creates or updates, so repeating it is harmless."""
        return self.request(
            "PATCH", path, manifest, APPLY_PATCH, query={"fieldManager": field_manager, "force": "true"}
        )


def probe_etcd(port: int, timeout: float = 2.0) -> bool:
    """True when the etcd serving plain HTTP on loopback ``port`` reports itself healthy."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        return response.status == 200 and json.loads(response.read()).get("health") == "true"
    except (OSError, http.client.HTTPException, ValueError):
        return False
    finally:
        conn.close()


def probe_healthz(port: int, timeout: float = 2.0) -> bool:
    """True when the component serving HTTPS on loopback ``port`` answers /healthz with 200."""
    # The controller manager and scheduler serve a self-signed cert made in memory at start, so
    # there is nothing to verify against; this only asks "are you up", on loopback.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
