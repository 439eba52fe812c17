"""Small builders for platform models and events used across the notifier tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from daemon.model.events import CommitInfo, Event
from daemon.model.kinds import NotificationList, NotificationTarget, Platform, PlatformModel, Tenant
from daemon.model.refs import Metadata, SourceRef


def slack(channel: str) -> NotificationTarget:
    return NotificationTarget(kind="slack", channel=channel)


def webhook(url: str | None = None, secret_ref: str | None = None, kind: str = "webhook") -> NotificationTarget:
    return NotificationTarget(kind=kind, url=url, secret_ref=secret_ref)  # type: ignore[arg-type]


def email(*to: str) -> NotificationTarget:
    return NotificationTarget(kind="email", to=tuple(to))


def nlist(
    name: str, *targets: NotificationTarget, events: Sequence[str] = ("*",), min_severity: str = "info"
) -> NotificationList:
    return NotificationList(
        metadata=Metadata(name),
        source=SourceRef(f"notifications/{name}.yaml"),
        targets=tuple(targets),
        events=tuple(events),
        min_severity=min_severity,  # type: ignore[arg-type]
    )


def model(
    *lists: NotificationList, tenants: Mapping[str, Sequence[str]] | None = None, default: str | None = None
) -> PlatformModel:
    return PlatformModel(
        platform=Platform(
            metadata=Metadata("platform"), source=SourceRef("platform.yaml"), default_notifications=default
        ),
        tenants=tuple(
            Tenant(metadata=Metadata(name), source=SourceRef(f"tenants/{name}/tenant.yaml"), notifications=tuple(ls))
            for name, ls in (tenants or {}).items()
        ),
        notification_lists=lists,
    )


COMMIT = CommitInfo(sha="0123456789abcdef0123456789abcdef01234567", author="alice", message="Scale web\n\nbody")


def event(name: str, summary: str = "something happened", **kwargs: Any) -> Event:
    return Event.make(name, summary, **kwargs)
