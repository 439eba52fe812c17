"""Pacing decisions are pure: dedup window, repeat interval, one resolved message, rate gate."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from daemon.model.events import Event
from notifiers.dispatcher import backoff_delay
from notifiers.pacing import PaceState, PacingPolicy, RateGate, Signal, decide, signal_for
from tests.notifiers.helpers import COMMIT, event

POLICY = PacingPolicy(dedup_window=300, repeat_interval=3600, min_interval=1)


def signal(e: Event) -> Signal:
    s = signal_for(e)
    assert s is not None
    return s


def firing(summary: str = "web restarted 7 times", alert: str = "restarts", app: str = "web") -> Signal:
    return signal(event("alert.firing", summary, tenant="shop", app=app, details={"alert": alert}))


def resolved(alert: str = "restarts", app: str = "web") -> Signal:
    return signal(event("alert.resolved", "stable again", tenant="shop", app=app, details={"alert": alert}))


def test_signals() -> None:
    f, r = firing(), resolved()
    assert f is not None
    assert r is not None
    assert f.kind == "firing"
    assert r.kind == "resolved"
    assert f.ident == r.ident
    assert firing(app="api").ident != f.ident
    assert firing(summary="other").fingerprint != f.fingerprint
    assert signal_for(event("backup.created", "x")) is None  # info: never dropped
    failed = signal_for(event("sync.failed", "x", commit=COMMIT))
    assert failed is not None
    assert failed.kind == "plain"
    health = signal_for(event("health.recovered", "ok", tenant="shop", app="web"))
    assert health is not None
    assert health.kind == "resolved"


def test_firing_then_repeat_then_resolved_once() -> None:
    f, r = firing(), resolved()
    first = decide(f, None, 0, POLICY)
    assert first.send
    assert first.state == PaceState(f.fingerprint, True, 0)
    assert not decide(f, first.state, 3599, POLICY).send
    again = decide(f, first.state, 3600, POLICY)
    assert again.send
    assert again.repeat
    done = decide(r, again.state, 3700, POLICY)
    assert done.send
    assert done.state is not None
    assert not done.state.open
    assert not decide(r, done.state, 3800, POLICY).send
    assert not decide(r, None, 0, POLICY).send


def test_a_changed_summary_is_a_new_alert() -> None:
    first = decide(firing(), None, 0, POLICY)
    assert decide(firing("web restarted 50 times"), first.state, 10, POLICY).send


def test_flapping_is_held_back_within_the_dedup_window() -> None:
    f, r = firing(), resolved()
    s1 = decide(f, None, 0, POLICY).state
    s2 = decide(r, s1, 10, POLICY).state
    flap = decide(f, s2, 20, POLICY)
    assert not flap.send
    assert not decide(r, flap.state, 30, POLICY).send
    assert decide(f, flap.state, 301, POLICY).send


def test_plain_duplicates_only_within_the_window() -> None:
    s = signal(event("sync.failed", "cannot apply", commit=COMMIT))
    first = decide(s, None, 0, POLICY)
    assert not decide(s, first.state, 299, POLICY).send
    assert decide(s, first.state, 300, POLICY).send


def test_rate_gate() -> None:
    gate = RateGate(1.0)
    assert gate.is_free("a", 0)
    gate.sent("a", 10)
    assert not gate.is_free("a", 10.5)
    assert gate.is_free("a", 11)
    assert gate.is_free("b", 10.5)
    gate.hold("a", 40)  # Retry-After
    gate.sent("a", 12)
    assert gate.free_at("a") == 40


@given(attempt=st.integers(min_value=1, max_value=40), seed=st.integers(min_value=0, max_value=2**32))
def test_backoff_is_exponential_with_equal_jitter_and_capped(attempt: int, seed: int) -> None:
    delay = backoff_delay(attempt, 2.0, 600.0, random.Random(seed))
    nominal = min(600.0, 2.0 * 2 ** (attempt - 1))
    assert nominal / 2 <= delay <= nominal
