"""The delivery loop: take due deliveries from the outbox, send them, record the outcome.

:meth:`Dispatcher.run_once` never sleeps: it sends everything that is due and allowed by pacing,
then returns how long until something is due next. Time comes from an injected clock, so tests
drive retries, Retry-After and pacing by moving a fake clock; the service's thread simply waits
the returned delay.

Retries use exponential backoff with equal jitter (``base * 2**(n-1)`` capped, half of it fixed,
half random), or exactly the server's ``Retry-After`` when it gives one. A 429 does not use up an
attempt (the target is healthy, just busy) but counts towards ``max_rate_limited``. After
``max_attempts`` attempts, or at once for a permanent error, a delivery becomes a dead letter:
``notification.deadlettered`` is enqueued for the Platform's default list in the same
transaction, unless the dead letter is itself such an announcement (no recursion).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence

from daemon.errors import NotificationError
from daemon.model.events import Event
from notifiers.metrics import NotifierMetrics
from notifiers.outbox import Candidate, Enqueued, EnqueueOptions, Outbox
from notifiers.pacing import RateGate
from notifiers.routing import Router, target_label
from notifiers.secrets import Redactor
from notifiers.settings import NotifierSettings
from notifiers.targets.base import Delivery, DeliveryError, Job, Sender

log = logging.getLogger(__name__)

DEADLETTER_EVENT = "notification.deadlettered"
#: a server saying "Retry-After: 0" must not turn the loop into a busy one
MIN_RETRY_DELAY = 0.1


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Delay before attempt ``attempt + 1``. Equal jitter spreads the retries of a burst without
    ever retrying sooner than half the nominal delay."""
    nominal = min(cap, base * 2.0 ** max(attempt - 1, 0))
    return nominal / 2 + rng.uniform(0.0, nominal / 2)


def count_enqueued(metrics: NotifierMetrics, results: Sequence[Enqueued]) -> None:
    for result in results:
        if result.status == "pending":
            metrics.queued.labels(result.kind).inc()
        elif result.status == "suppressed":
            metrics.suppressed.labels(result.kind).inc()


class Dispatcher:
    def __init__(
        self,
        *,
        outbox: Outbox,
        router: Router,
        senders: Mapping[str, Sender],
        metrics: NotifierMetrics,
        settings: NotifierSettings,
        options: EnqueueOptions,
        redactor: Redactor,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._outbox = outbox
        self._router = router
        self._senders = senders
        self._metrics = metrics
        self._settings = settings
        self._options = options
        self._redactor = redactor
        self._clock = clock
        self._rng = rng
        self._gate = RateGate(settings.pacing.min_interval)

    def run_once(self, stop: threading.Event | None = None) -> float | None:
        """Deliver what is due; return seconds until the next delivery is due (``None``: none)."""
        while stop is None or not stop.is_set():
            now = self._clock()
            progressed = False
            for candidate in self._outbox.candidates(now):
                if stop is not None and stop.is_set():
                    break
                if not self._gate.is_free(candidate.target_key, now):
                    continue
                self._attempt(candidate)
                progressed = True
                now = self._clock()
            if not progressed:
                break
        self._metrics.backlog.set(self._outbox.backlog())
        due = self._outbox.next_due()
        if not due:
            return None
        wake = min(max(at, self._gate.free_at(target)) for target, at in due.items())
        return max(0.0, wake - self._clock())

    def _attempt(self, candidate: Candidate) -> None:
        sender = self._senders.get(candidate.kind)
        batch = sender.batches if sender is not None else False
        deliveries = self._outbox.claim(candidate, self._clock(), batch=batch)
        if not deliveries:
            return
        first = deliveries[0]
        job = Job(
            tuple(deliveries),
            thread=self._outbox.thread(first.target_key, first.event.group),
            checkpoint=self._outbox.checkpoint,
        )
        if sender is None:
            self._failed(deliveries, DeliveryError(f"no sender for target kind {candidate.kind!r}", permanent=True))
            self._gate.sent(candidate.target_key, self._clock())
            return
        try:
            result = sender.send(job)
        except DeliveryError as e:
            self._failed(deliveries, e)
        except NotificationError as e:
            self._failed(deliveries, DeliveryError(str(e), permanent=e.permanent, retry_after=e.retry_after))
        except Exception as e:
            # A bug in a sender must not stop the loop. Its text may quote anything: only the
            # redacted text is logged, only the type is stored, and the request may have gone out.
            log.error(  # noqa: TRY400 - a traceback may quote secrets
                "%s sender raised %s: %s", candidate.kind, type(e).__name__, self._redactor.redact(str(e))
            )
            self._failed(
                deliveries, DeliveryError(f"sender failed unexpectedly ({type(e).__name__})", maybe_delivered=True)
            )
        else:
            done = self._clock()
            self._outbox.delivered(deliveries, result.progress, result.thread, done)
            for delivery in deliveries:
                self._metrics.sent.labels(candidate.kind).inc()
                latency = max(0.0, done - delivery.event.time.timestamp())
                self._metrics.delivery_seconds.labels(candidate.kind).observe(latency)
        finally:
            self._gate.sent(candidate.target_key, self._clock())

    def _failed(self, deliveries: Sequence[Delivery], error: DeliveryError) -> None:
        now = self._clock()
        message = self._redactor.redact(str(error))
        settings = self._settings
        for delivery in deliveries:
            kind = delivery.target.kind
            self._metrics.failed.labels(kind).inc()
            exhausted = delivery.attempts >= settings.max_attempts and not error.rate_limited
            if error.rate_limited:
                exhausted = self._outbox.rate_limited_count(delivery.key) + 1 > settings.max_rate_limited
            if error.permanent or exhausted:
                self._bury(delivery, message, now)
                continue
            if error.retry_after is not None:
                delay = error.retry_after
                if not error.rate_limited:
                    delay = max(
                        delay, backoff_delay(delivery.attempts, settings.backoff_base, settings.backoff_max, self._rng)
                    )
            else:
                delay = backoff_delay(delivery.attempts, settings.backoff_base, settings.backoff_max, self._rng)
            delay = max(delay, MIN_RETRY_DELAY)
            self._outbox.reschedule(
                delivery, now + delay, message, maybe_delivered=error.maybe_delivered, rate_limited=error.rate_limited
            )
            log.warning(
                "delivery %s to %s failed (attempt %d of %d): %s; next attempt in %.1fs",
                delivery.key,
                target_label(delivery.target),
                delivery.attempts,
                settings.max_attempts,
                message,
                delay,
            )
        if error.retry_after is not None:
            self._gate.hold(deliveries[0].target_key, now + error.retry_after)

    def _bury(self, delivery: Delivery, message: str, now: float) -> None:
        kind = delivery.target.kind
        label = target_label(delivery.target)
        self._metrics.deadlettered.labels(kind).inc()
        log.error(
            "delivery %s (%s) to %s is a dead letter after %d attempt(s): %s",
            delivery.key,
            delivery.event.name,
            label,
            delivery.attempts,
            message,
        )
        followup = None
        if delivery.event.name != DEADLETTER_EVENT:
            event = Event.make(
                DEADLETTER_EVENT,
                # The summary names only the target, so a failing target announces itself once per
                # dedup window rather than once per lost message; the details say which one this is.
                f"Notifications to {label} are failing and were given up",
                details={
                    "delivery": delivery.key,
                    "event": delivery.event.name,
                    "eventSummary": delivery.event.summary,
                    "eventTenant": delivery.event.tenant or "",
                    "target": label,
                    "list": delivery.list_name,
                    "attempts": delivery.attempts,
                    "error": message,
                },
            )
            followup = (event, self._router.route(event))
        count_enqueued(self._metrics, self._outbox.bury(delivery, message, now, followup, self._options))
