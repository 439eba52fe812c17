"""A process that owns a NotificationService, for the crash test (test_crash.py).

``--mode emit`` emits ``--events`` events (ids ``evt0000``..., four per group) and then delivers;
``--mode resume`` only delivers what the outbox holds. Either way it exits 0 once the outbox is
empty. Slack settings come from the environment (``SLACK_API_URL``, ``SLACK_BOT_TOKEN``), as in
the daemon.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from prometheus_client import CollectorRegistry

from daemon.model.events import Event
from daemon.model.kinds import NotificationList, NotificationTarget, Platform, PlatformModel
from daemon.model.refs import Metadata, SourceRef
from notifiers.pacing import PacingPolicy
from notifiers.service import NotificationService, NotifierSettings

GROUP_SIZE = 4
MODEL = PlatformModel(
    platform=Platform(metadata=Metadata("platform"), source=SourceRef("platform.yaml"), default_notifications="burst"),
    notification_lists=(
        NotificationList(
            metadata=Metadata("burst"),
            source=SourceRef("notifications/burst.yaml"),
            targets=(NotificationTarget(kind="slack", channel="#burst"),),
        ),
    ),
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outbox", required=True)
    parser.add_argument("--events", type=int, default=0)
    parser.add_argument("--mode", choices=["emit", "resume"], required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    settings = replace(
        NotifierSettings.from_env(os.environ),
        pacing=PacingPolicy(min_interval=0.0),
        max_attempts=20,
        backoff_base=0.05,
        backoff_max=0.2,
        slack_timeout=10,
    )
    service = NotificationService(outbox_path=args.outbox, registry=CollectorRegistry(), settings=settings, model=MODEL)
    if args.mode == "emit":
        for i in range(args.events):
            service.emit(Event.make("backup.created", f"burst {i}", group=f"rev-{i // GROUP_SIZE}", id=f"evt{i:04d}"))
        print("EMITTED", flush=True)
    service.start()
    drained = service.drain(args.timeout)
    service.close(timeout=5)
    print("DRAINED" if drained else "TIMEOUT", flush=True)
    return 0 if drained else 1


if __name__ == "__main__":
    sys.exit(main())
