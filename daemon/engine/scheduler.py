"""Periodic jobs (APScheduler) and the single worker that runs reconcile cycles.

Every trigger (the poll interval, the drift check, a webhook, a file change, a chat command) is
a request to the :class:`CycleRunner`; it runs one cycle at a time on its own thread and folds
requests that arrive meanwhile into the next cycle, so a slow cycle never overlaps itself and a
burst of webhooks costs one extra cycle, not one each.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from daemon.engine.fleet import Fleet
from daemon.engine.reconcile import Reconciler
from daemon.model.cycle import CycleOutcome, Trigger

log = logging.getLogger(__name__)

#: When several triggers wait, the cycle runs under the most specific one.
_PRIORITY: tuple[Trigger, ...] = ("manual-override", "manual", "webhook", "watch", "change", "drift", "poll")


class CycleRunner:
    def __init__(
        self, reconciler: Reconciler | Fleet, on_cycle: Callable[[CycleOutcome], None] = lambda _: None
    ) -> None:
        self._reconciler = reconciler
        self._on_cycle = on_cycle
        self._pending: set[Trigger] = set()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="dockyard-cycles", daemon=True)
        self.cycles_run = 0

    def start(self) -> None:
        self._thread.start()

    def request(self, trigger: Trigger) -> None:
        with self._wake:
            self._pending.add(trigger)
            self._wake.notify()

    def stop(self, timeout: float = 30.0) -> None:
        """Asks the running cycle to stop between objects and waits for the worker to end."""
        self._reconciler.stopping.set()
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout)

    def idle(self) -> bool:
        with self._wake:
            return not self._pending

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopped:
                    self._wake.wait()
                if self._stopped:
                    return
                triggers, self._pending = self._pending, set()
            trigger = next(t for t in _PRIORITY if t in triggers)
            if trigger in ("poll", "drift") and not self._reconciler.retry_due():
                continue  # backing off after a failure; explicit triggers (and changes seen) still go through
            outcome = self._reconciler.cycle(
                "manual" if trigger == "manual-override" else trigger,
                ignore_windows=trigger == "manual-override",
            )
            self.cycles_run += 1
            log.info("cycle (%s): %s %s %s", trigger, outcome.result, outcome.revision[:8], outcome.summary)
            self._on_cycle(outcome)


class Debounced:
    """Calls ``action`` once, ``delay`` seconds after the first call of a burst: a kubectl edit
    that touches five objects, or a rollout's stream of changes, asks for one cycle."""

    def __init__(self, action: Callable[[], None], delay: float) -> None:
        self._action = action
        self._delay = delay
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._cancelled = False

    def __call__(self) -> None:
        with self._lock:
            if self._timer is not None or self._cancelled:
                return
            self._timer = threading.Timer(self._delay, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
        self._action()


class DaemonScheduler:
    """APScheduler wiring only: interval jobs that ask the runner for a cycle."""

    def __init__(self, runner: CycleRunner, *, poll_seconds: float, drift_seconds: float) -> None:
        self._runner = runner
        self._scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
        self.poll_seconds = poll_seconds
        self.drift_seconds = drift_seconds

    def start(self) -> None:
        self._scheduler.add_job(self._runner.request, "interval", seconds=self.poll_seconds, args=["poll"], id="poll")
        self._scheduler.add_job(
            self._runner.request, "interval", seconds=self.drift_seconds, args=["drift"], id="drift"
        )
        self._scheduler.start()

    def reschedule(self, *, poll_seconds: float | None = None, drift_seconds: float | None = None) -> None:
        if poll_seconds is not None and poll_seconds != self.poll_seconds:
            self.poll_seconds = poll_seconds
            self._scheduler.reschedule_job("poll", trigger="interval", seconds=poll_seconds)
            log.info("poll interval is now %ss", poll_seconds)
        if drift_seconds is not None and drift_seconds != self.drift_seconds:
            self.drift_seconds = drift_seconds
            self._scheduler.reschedule_job("drift", trigger="interval", seconds=drift_seconds)
            log.info("drift check interval is now %ss", drift_seconds)

    def add_job(self, func: Callable[[], None], *, seconds: float, job_id: str) -> None:
        self._scheduler.add_job(func, "interval", seconds=seconds, id=job_id, replace_existing=True)

    def shutdown(self) -> None:
        self._scheduler.shutdown(wait=False)
