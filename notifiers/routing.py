"""Who hears about an event: NotificationLists, tenants and the Platform's default list (pure).

* A tenant event goes to the lists its Tenant names in ``spec.notifications`` and to the
  Platform's default list (``spec.notifications.default``): the platform team runs every tenant,
  and its list's ``events`` patterns say which of the tenants' events it wants.
* A platform event (``tenant is None``), or an event of a tenant the current model does not know
  (it was just deleted, say), goes to the Platform's default list only.
* An alert event (``alert.*``) may also name lists in ``event.details["notify"]`` (the alert
  rule's ``notify``). Being named is the subscription, so the list's ``events`` patterns are not
  applied to it; its ``minSeverity`` still is.
* A list takes an event when one of its ``events`` patterns (fnmatch globs: ``backup.*``, ``*``)
  matches the name and the severity reaches ``minSeverity``. A resolving event
  (``alert.resolved``) is measured with the severity of what it resolves,
  ``details["firingSeverity"]``, when the emitter gives it; otherwise the list would hear that an
  alert fired but never that it ended.
* A target reached through several lists gets the event once.

The :class:`Router` holds one immutable :class:`RoutingTable`; ``reconfigure`` swaps it whole,
so a route is always computed against one revision of the platform repo.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from daemon.model.events import SEVERITY_RANK, Event
from daemon.model.kinds import NotificationList, NotificationTarget, PlatformModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    list_name: str
    target: NotificationTarget
    target_key: str


@dataclass(frozen=True)
class RoutingTable:
    lists: Mapping[str, NotificationList] = field(default_factory=dict)
    tenant_lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_list: str | None = None

    @classmethod
    def from_model(cls, model: PlatformModel) -> RoutingTable:
        return cls(
            lists={n.name: n for n in model.notification_lists},
            tenant_lists={t.name: tuple(t.notifications) for t in model.tenants},
            default_list=model.platform.default_notifications,
        )


def target_key(target: NotificationTarget) -> str:
    """A stable, secret-free identity of a target: part of every idempotency key.

    Slack channels are readable; anything that may be or contain a secret (webhook URLs) or
    personal data (email addresses) is hashed.
    """
    if target.kind == "slack":
        return f"slack:{target.channel or ''}"
    if target.kind == "email":
        material = ",".join(sorted(a.strip().lower() for a in target.to))
    elif target.secret_ref and not target.url:
        material = "ref:" + target.secret_ref
    else:
        material = f"url:{target.url or ''}|ref:{target.secret_ref or ''}"
    return f"{target.kind}:{hashlib.sha256(material.encode()).hexdigest()[:16]}"


def target_label(target: NotificationTarget) -> str:
    """How logs and messages name a target without revealing a secret."""
    if target.kind == "slack":
        return f"slack {target.channel}"
    if target.kind == "email":
        return f"email ({len(target.to)} recipient{'s' if len(target.to) != 1 else ''})"
    if target.secret_ref:
        return f"{target.kind} (secret {target.secret_ref})"
    return f"{target.kind} {target_key(target).split(':', 1)[1]}"


def effective_severity(event: Event) -> int:
    rank = SEVERITY_RANK.get(event.severity, 0)
    firing = event.details.get("firingSeverity")
    if isinstance(firing, str) and firing in SEVERITY_RANK:
        rank = max(rank, SEVERITY_RANK[firing])
    return rank


def list_accepts(nlist: NotificationList, event: Event, *, named: bool = False) -> bool:
    if effective_severity(event) < SEVERITY_RANK.get(nlist.min_severity, 0):
        return False
    return named or any(fnmatchcase(event.name, pattern) for pattern in nlist.events)


def _named_lists(event: Event) -> tuple[str, ...]:
    if not event.name.startswith("alert."):
        return ()
    notify = event.details.get("notify")
    if isinstance(notify, str):
        return (notify,)
    if isinstance(notify, Sequence):
        return tuple(n for n in notify if isinstance(n, str))
    return ()


def route(table: RoutingTable, event: Event) -> tuple[Route, ...]:
    """Every (list, target) that gets ``event``, each target once, in a stable order."""
    platform = (table.default_list,) if table.default_list else ()
    if event.tenant is not None and event.tenant in table.tenant_lists:
        subscribed = table.tenant_lists[event.tenant] + platform
    else:
        subscribed = platform
    candidates = [(name, False) for name in subscribed] + [(name, True) for name in _named_lists(event)]
    routes: list[Route] = []
    seen: set[str] = set()
    for name, named in candidates:
        nlist = table.lists.get(name)
        if nlist is None:
            log.warning("event %s names unknown notification list %r; skipped", event.name, name)
            continue
        if not list_accepts(nlist, event, named=named):
            continue
        for target in nlist.targets:
            key = target_key(target)
            if key not in seen:
                seen.add(key)
                routes.append(Route(nlist.name, target, key))
    return tuple(routes)


class Router:
    """The current routing table; ``reconfigure`` replaces it atomically (one reference swap)."""

    def __init__(self, model: PlatformModel | None = None) -> None:
        self._table: RoutingTable | None = RoutingTable.from_model(model) if model is not None else None

    @property
    def configured(self) -> bool:
        return self._table is not None

    def reconfigure(self, model: PlatformModel) -> None:
        self._table = RoutingTable.from_model(model)

    def route(self, event: Event) -> tuple[Route, ...]:
        table = self._table
        return route(table, event) if table is not None else ()
