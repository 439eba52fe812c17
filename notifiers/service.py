"""The public entry of the notifiers: :class:`NotificationService`, an ``EventSink``.

Wiring (the daemon's CLI does this once)::

    from prometheus_client import CollectorRegistry
    from notifiers.service import NotificationService, NotifierSettings

    service = NotificationService(
        outbox_path=state_dir / "notifications.sqlite",
        registry=registry,                               # the daemon's own CollectorRegistry
        settings=NotifierSettings.from_env(os.environ),  # Slack, SMTP, secrets, commit links
    )
    service.reconfigure(model)   # each time a new platform revision is loaded
    service.start()              # the delivery thread
    sink.emit(event)             # from anywhere, any thread: routes and persists, returns fast
    ...
    service.stop(timeout=10)     # at shutdown; undelivered rows wait in the outbox for the next start

What ``emit`` does: route the event with the current NotificationLists (:mod:`notifiers.routing`),
apply deduplication (:mod:`notifiers.pacing`) and write one row per target to the outbox
(:mod:`notifiers.outbox`) in one transaction. It never raises for delivery problems and never
waits on a network. Events emitted before the first ``reconfigure`` are kept and routed by it.

The delivery guarantee:

* **No loss**: a delivery is committed (``synchronous=FULL``) before ``emit`` returns, and stays
  until it is delivered or becomes a dead letter, which is itself announced
  (``notification.deadlettered`` to the Platform's default list) and counted
  (``dockyard_notifications_deadlettered_total``). A restart resumes every pending row.
* **Slack: exactly once** when the bot may read the channel's history: each message carries its
  idempotency key ``<event id>:<target key>`` in message metadata, and an attempt whose outcome
  is unknown (the process died mid-request, a timeout, a 5xx) is followed by a lookup of that key
  before anything is posted again. Without the history scopes it degrades to at least once, and a
  duplicate is possible only for such an unknown outcome.
* **Webhooks, robots and email: at least once**, with the key in ``X-Dockyard-Delivery`` (and the
  email ``Message-ID``) so receivers can drop the duplicate an unknown outcome may cause.
* Order: the events of one group reach a target in order; nothing else is ordered.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry

from daemon.model.events import Event
from daemon.model.kinds import PlatformModel
from notifiers.dispatcher import Dispatcher, count_enqueued
from notifiers.metrics import NotifierMetrics
from notifiers.outbox import EnqueueOptions, Outbox
from notifiers.routing import Route, Router
from notifiers.secrets import Redactor, SecretResolver
from notifiers.settings import NotifierSettings, SmtpSettings
from notifiers.targets.base import Sender
from notifiers.targets.email import EmailSender
from notifiers.targets.slack import SlackSender
from notifiers.targets.webhook import RobotSender, WebhookSender

__all__ = ["NotificationService", "NotifierSettings", "SmtpSettings"]

log = logging.getLogger(__name__)

#: longest the thread sleeps with nothing due (it also wakes on every emit)
IDLE_WAIT = 5.0
PURGE_EVERY = 3600.0


def default_senders(
    settings: NotifierSettings, redactor: Redactor, clock: Callable[[], float] = time.time
) -> dict[str, Sender]:
    secrets = SecretResolver(settings.secret_env, settings.secrets_dir, redactor)
    robots = {
        kind: RobotSender(kind, secrets, timeout=settings.http_timeout, commit_url=settings.commit_url, clock=clock)
        for kind in ("dingtalk", "feishu", "wecom")
    }
    return {
        "slack": SlackSender(
            token=settings.slack_token,
            base_url=settings.slack_api_url,
            timeout=settings.slack_timeout,
            commit_url=settings.commit_url,
            clock=clock,
            redactor=redactor,
        ),
        "webhook": WebhookSender(secrets, timeout=settings.http_timeout, clock=clock),
        "email": EmailSender(settings.smtp, redactor, commit_url=settings.commit_url),
        **robots,
    }


class NotificationService:
    """Routes, persists and delivers events. See the module docstring for wiring and guarantees.

    ``clock`` gives Unix time (it is stored in the outbox and compared with event times); tests
    pass a fake one and call :meth:`run_once` instead of :meth:`start`. ``senders`` replaces the
    default sender of a kind (for a new kind of target, or a test double at the boundary).
    """

    def __init__(
        self,
        *,
        outbox_path: str | Path,
        registry: CollectorRegistry,
        settings: NotifierSettings,
        model: PlatformModel | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        senders: Mapping[str, Sender] | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.redactor = Redactor(
            [settings.slack_token, settings.smtp.password if settings.smtp else None, *settings.secret_env.values()]
        )
        self.metrics = NotifierMetrics(registry)
        self.outbox = Outbox(outbox_path)
        self.router = Router()
        all_senders = default_senders(settings, self.redactor, clock)
        all_senders.update(senders or {})
        self._options = EnqueueOptions(
            pacing=settings.pacing,
            batching_kinds=frozenset(kind for kind, s in all_senders.items() if s.batches),
            group_wait=settings.group_wait,
        )
        self._dispatcher = Dispatcher(
            outbox=self.outbox,
            router=self.router,
            senders=all_senders,
            metrics=self.metrics,
            settings=settings,
            options=self._options,
            redactor=self.redactor,
            clock=clock,
            rng=rng if rng is not None else random.Random(),  # noqa: S311 - jitter, not crypto
        )
        self._warned_unconfigured: set[str] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_purge = 0.0
        self.metrics.backlog.set(self.outbox.backlog())
        if model is not None:
            self.reconfigure(model)

    # --- EventSink ----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Route and persist ``event``. Never raises: a failure is logged and counted as lost."""
        try:
            now = self._clock()
            if not self.router.configured:
                self.outbox.hold_unrouted(event, now)
            else:
                routes = self._deliverable(self.router.route(event))
                count_enqueued(self.metrics, self.outbox.enqueue(event, routes, now, self._options))
            self.metrics.backlog.set(self.outbox.backlog())
        except Exception as e:
            log.error(  # noqa: TRY400 - a traceback may quote secrets
                "event %s (%s) could not be written to the notification outbox: %s: %s",
                event.id,
                event.name,
                type(e).__name__,
                self.redactor.redact(str(e)),
            )
            return
        self._wake.set()

    def _deliverable(self, routes: tuple[Route, ...]) -> tuple[Route, ...]:
        """Routes to kinds this daemon can deliver to at all.

        A kind with no credentials configured (no ``SLACK_BOT_TOKEN``, no SMTP host) cannot ever
        be delivered, so queueing it would only fill the dead-letter queue with noise; it is
        counted and announced once per kind instead.
        """
        kept = []
        for route in routes:
            missing = self._missing_configuration(route.target.kind)
            if missing is None:
                kept.append(route)
                continue
            self.metrics.unconfigured.labels(kind=route.target.kind).inc()
            if route.target.kind not in self._warned_unconfigured:
                self._warned_unconfigured.add(route.target.kind)
                log.warning("%s notifications are off: %s is not set", route.target.kind, missing)
        return tuple(kept)

    def _missing_configuration(self, kind: str) -> str | None:
        if kind == "slack" and not self.settings.slack_token:
            return "SLACK_BOT_TOKEN"
        if kind == "email" and self.settings.smtp is None:
            return "DOCKYARD_SMTP_HOST"
        return None

    def reconfigure(self, model: PlatformModel) -> None:
        """Switch to the NotificationLists of a new platform revision (atomically) and route any
        events that were waiting for a configuration."""
        self.router.reconfigure(model)
        try:
            released = self.outbox.release_unrouted(
                lambda event: self._deliverable(self.router.route(event)), self._clock(), self._options
            )
        except Exception as e:
            log.error("held events could not be routed: %s: %s", type(e).__name__, self.redactor.redact(str(e)))  # noqa: TRY400
            return
        for _, results in released:
            count_enqueued(self.metrics, results)
        if released:
            self._wake.set()

    # --- delivery -----------------------------------------------------------------------------

    def run_once(self) -> float | None:
        """Deliver everything due now; seconds until the next delivery is due (``None``: none)."""
        return self._dispatcher.run_once(self._stop)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dockyard-notifier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the delivery thread; ``False`` when it did not finish within ``timeout`` (it is
        in a request; what it sends then is recorded or retried at the next start)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def close(self, timeout: float = 10.0) -> None:
        if self.stop(timeout):
            self.outbox.close()

    def backlog(self) -> int:
        return self.outbox.backlog()

    def undelivered(self) -> tuple[int, float]:
        """Deliveries still pending, and how long the oldest has waited, in seconds."""
        count, oldest = self.outbox.undelivered()
        return count, 0.0 if oldest is None else max(self._clock() - oldest, 0.0)

    def drain(self, timeout: float) -> bool:
        """Wait until the outbox holds nothing pending; ``False`` on timeout. Without a running
        thread it delivers itself."""
        deadline = time.monotonic() + timeout
        while self.outbox.backlog():
            if time.monotonic() >= deadline:
                return False
            if self._thread is None or not self._thread.is_alive():
                delay = self.run_once()
                if self.outbox.backlog():
                    pause = 0.05 if delay is None else max(delay, 0.001)
                    time.sleep(min(pause, max(deadline - time.monotonic(), 0.0), 0.5))
            else:
                self._wake.set()
                time.sleep(0.02)
        return True

    def __enter__(self) -> NotificationService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                delay = self.run_once()
                now = self._clock()
                if now - self._last_purge >= PURGE_EVERY:
                    self._last_purge = now
                    self.outbox.purge(now, self.settings.retention, self.settings.pacing)
            except Exception as e:
                # The outbox being briefly unusable (disk full, locked) must not end delivery.
                log.error("notification dispatch failed: %s: %s", type(e).__name__, self.redactor.redact(str(e)))  # noqa: TRY400
                delay = IDLE_WAIT
            self._wake.wait(IDLE_WAIT if delay is None else min(delay, IDLE_WAIT))
