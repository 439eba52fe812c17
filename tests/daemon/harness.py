"""The harness of the daemon tests: a bare remote, a working clone with a platform repo, daemons
started in this process against the session's cluster, and helpers to talk to them."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.edges.kube import KubeClient
from daemon.model.events import Event, MemorySink
from daemon.runtime.daemon import Daemon
from tests.daemon_settings import daemon_settings
from tests.platforms import PlatformRepo, git

WEBHOOK_SECRET = "s3cret-webhook-key"


@dataclass
class Setup:
    """A bare remote, a working clone with a platform repo, and helpers to change it."""

    remote: Path
    work: Path
    platform: PlatformRepo
    kube: KubeClient
    namespace: str  # where the daemon keeps lease, inventory and history
    daemons: list[Daemon] = field(default_factory=list)
    sinks: list[MemorySink] = field(default_factory=list)

    def commit(self, message: str, *, ssh_signing_key: Path | None = None) -> str:
        self.platform.write()
        git(self.work, "add", "-A")
        signing = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={ssh_signing_key}"] if ssh_signing_key else []
        git(self.work, *signing, "commit", "-q", *(["-S"] if ssh_signing_key else []), "-m", message)
        git(self.work, "push", "-q", "origin", "HEAD:main")
        return git(self.work, "rev-parse", "HEAD")

    def start(self, clock: Callable[[], datetime] | None = None, **overrides: Any) -> Daemon:
        settings = daemon_settings(
            repo=self.remote.as_uri(),
            kubeconfig=self.kube_config,
            branch="main",
            workdir=self.remote.parent / f"work-{len(self.daemons)}",
            listen=("127.0.0.1", 0),
            namespace=self.namespace,
            identity=f"replica-{len(self.daemons)}",
            webhook_secret=WEBHOOK_SECRET,
            **overrides,
        )
        sink = MemorySink()
        kwargs: dict[str, Any] = {"extra_sinks": (sink,)}
        if clock is not None:
            kwargs["clock"] = clock
        daemon = Daemon.from_settings(settings, **kwargs)
        daemon.start()
        self.daemons.append(daemon)
        self.sinks.append(sink)
        return daemon

    kube_config: Path = Path()

    def deployment_image(self, app: str) -> str | None:
        obj = self.kube.get(self.kube.resource_type("apps/v1", "Deployment"), self.platform.tenant, app)
        return None if obj is None else str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def names(sink: MemorySink) -> list[str]:
    return [e.name for e in sink.events]


def event(sink: MemorySink, name: str) -> Event:
    return next(e for e in sink.events if e.name == name)


def post_github_push(daemon: Daemon, *, delivery: str, sha: str) -> int:
    assert daemon.server is not None
    host, port = daemon.server.address
    body = json.dumps({"ref": "refs/heads/main", "after": sha, "pusher": {"name": "alice"}}).encode()
    signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://{host}:{port}/webhook/github",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature,
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def http_get(daemon: Daemon, path: str) -> tuple[int, str]:
    assert daemon.server is not None
    host, port = daemon.server.address
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read().decode()
