"""Slack delivery through the whole service against a local Slack Web API server."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from notifiers.service import NotificationService
from tests.clock import FakeClock
from tests.notifiers.conftest import ServiceFactory, base_settings
from tests.notifiers.fakes import FakeSlack, SlackFailure
from tests.notifiers.helpers import COMMIT, event, model, nlist, slack

PLATFORM_MODEL = model(nlist("platform", slack("#platform")), default="platform")


def run_until_idle(service: NotificationService, clock: FakeClock, max_rounds: int = 200) -> None:
    for _ in range(max_rounds):
        delay = service.run_once()
        if delay is None:
            return
        clock.advance(max(delay, 0.001))
    raise AssertionError("the outbox did not settle")


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def texts(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def test_one_thread_per_group_and_the_head_shows_the_final_status(
    slack_server: FakeSlack, make_service: ServiceFactory, clock: FakeClock
) -> None:
    registry = CollectorRegistry()
    service = make_service(base_settings(slack_server.url), PLATFORM_MODEL, registry=registry)
    group = f"sync:{COMMIT.sha}"
    service.emit(event("sync.succeeded", "applied 3 changes", commit=COMMIT, group=group))
    service.emit(event("drift.corrected", "reverted a manual edit", group=group))
    service.emit(event("health.degraded", "web is not ready", app="web", group=group))
    service.emit(event("backup.created", "unrelated, no group"))
    run_until_idle(service, clock)

    posts = slack_server.calls_of("chat.postMessage")
    assert len(posts) == 4
    head, *rest = slack_server.posted()
    assert head["thread_ts"] is None
    assert "applied 3 changes" in texts(head)
    replies = [m for m in rest if m["thread_ts"]]
    assert [m["thread_ts"] for m in replies] == [head["ts"], head["ts"]]
    assert "unrelated" in texts(next(m for m in rest if not m["thread_ts"]))
    updates = slack_server.calls_of("chat.update")
    assert [u.params["ts"] for u in updates] == [head["ts"], head["ts"]]
    assert head["updates"] == 2
    assert head["blocks"][0]["text"]["text"].endswith("01234567: health.degraded")
    assert "2 updates in the thread" in texts(head)
    assert metric(registry, "dockyard_notifications_sent_total", kind="slack") == 4
    assert metric(registry, "dockyard_notification_delivery_seconds_count", kind="slack") == 4
    assert metric(registry, "dockyard_notification_outbox_backlog") == 0
    assert b"dockyard_notifications_queued_total" in generate_latest(registry)


def test_429_waits_exactly_the_retry_after_and_uses_no_attempt(
    slack_server: FakeSlack, make_service: ServiceFactory, clock: FakeClock
) -> None:
    slack_server.fail("chat.postMessage", SlackFailure(status=429, retry_after=30))
    service = make_service(base_settings(slack_server.url), PLATFORM_MODEL)
    service.emit(event("sync.failed", "boom"))
    delay = service.run_once()
    assert delay is not None
    assert abs(delay - 30) < 0.01
    assert len(slack_server.calls_of("chat.postMessage")) == 1
    clock.advance(29.9)
    service.run_once()
    assert len(slack_server.calls_of("chat.postMessage")) == 1
    clock.advance(0.1)
    assert service.run_once() is None
    assert len(slack_server.posted()) == 1
    (row,) = service.outbox.rows()
    assert row["status"] == "delivered"
    assert row["attempts"] == 1
    assert row["rate_limited"] == 1


def test_429_with_the_real_clock_and_thread(real_slack_server: FakeSlack, make_service: ServiceFactory) -> None:
    real_slack_server.fail("chat.postMessage", SlackFailure(status=429, retry_after=1))
    service = make_service(base_settings(real_slack_server.url), PLATFORM_MODEL, clock=time.time)
    service.start()
    service.emit(event("sync.failed", "boom"))
    assert service.drain(timeout=10)
    first, second = real_slack_server.calls_of("chat.postMessage")
    assert second.monotonic - first.monotonic >= 1.0
    assert len(real_slack_server.posted()) == 1


def test_a_post_whose_answer_was_lost_is_found_not_posted_again(
    slack_server: FakeSlack, make_service: ServiceFactory, clock: FakeClock
) -> None:
    # Slack posts the message, then the answer is a 500: the outcome is unknown to the client.
    slack_server.fail("chat.postMessage", SlackFailure(status=500, after_effect=True))
    service = make_service(base_settings(slack_server.url), PLATFORM_MODEL)
    e = event("sync.failed", "boom")
    service.emit(e)
    run_until_idle(service, clock)
    assert len(slack_server.calls_of("chat.postMessage")) == 1
    assert len(slack_server.calls_of("conversations.history")) == 1
    (message,) = slack_server.posted()
    (row,) = service.outbox.rows()
    assert row["status"] == "delivered"
    assert json.loads(row["progress_json"])["ts"] == message["ts"]
    assert slack_server.posted_keys() == {f"{e.id}:slack:#platform": 1}


def test_a_thread_reply_whose_answer_was_lost_is_found_in_the_thread(
    slack_server: FakeSlack, make_service: ServiceFactory, clock: FakeClock
) -> None:
    service = make_service(base_settings(slack_server.url), PLATFORM_MODEL)
    service.emit(event("sync.succeeded", "applied", group="g1"))
    run_until_idle(service, clock)
    slack_server.fail("chat.postMessage", SlackFailure(status=500, after_effect=True))
    slack_server.fail("chat.update", SlackFailure(status=500))  # and the head update fails once too
    service.emit(event("health.degraded", "web not ready", group="g1"))
    run_until_idle(service, clock)
    assert len(slack_server.calls_of("conversations.replies")) == 1
    assert all(n == 1 for n in slack_server.posted_keys().values())
    assert len(slack_server.posted()) == 2
    head = slack_server.posted()[0]
    assert head["updates"] == 1
    assert "health.degraded" in head["blocks"][0]["text"]["text"]


def test_channel_not_found_is_a_dead_letter_announced_to_the_default_list(
    slack_server: FakeSlack, make_service: ServiceFactory, clock: FakeClock
) -> None:
    registry = CollectorRegistry()
    m = model(
        nlist("platform", slack("#platform")),
        nlist("shop", slack("#nowhere")),
        tenants={"shop": ["shop"]},
        default="platform",
    )
    service = make_service(base_settings(slack_server.url), m, registry=registry)
    service.emit(event("sync.failed", "shop sync failed", tenant="shop"))
    run_until_idle(service, clock)
    assert len(slack_server.calls_of("chat.postMessage")) == 2  # one refused, one announcement
    (announcement,) = slack_server.posted()
    assert "Notifications to slack #nowhere are failing" in announcement["text"]
    assert "channel_not_found" in texts(announcement)
    assert metric(registry, "dockyard_notifications_deadlettered_total", kind="slack") == 1
    statuses = sorted(r["status"] for r in service.outbox.rows())
    assert statuses == ["dead", "delivered"]


def test_dead_letters_after_bounded_attempts_without_recursion(
    slack_server: FakeSlack, make_service: ServiceFactory, clock: FakeClock
) -> None:
    registry = CollectorRegistry()
    slack_server.fail("chat.postMessage", SlackFailure(status=500), times=100)
    service = make_service(base_settings(slack_server.url, max_attempts=4), PLATFORM_MODEL, registry=registry)
    service.emit(event("sync.failed", "boom"))
    run_until_idle(service, clock)
    rows = service.outbox.rows()
    assert [(r["status"], r["attempts"]) for r in rows] == [("dead", 4), ("dead", 4)]
    assert json.loads(rows[1]["event_json"])["name"] == "notification.deadlettered"
    assert metric(registry, "dockyard_notifications_deadlettered_total", kind="slack") == 2
    assert metric(registry, "dockyard_notifications_failed_total", kind="slack") == 8
    # Every failure after the first checks whether the 500 came after posting.
    assert len(slack_server.calls_of("chat.postMessage")) == 8
    gaps = [
        b.at - a.at
        for a, b in zip(
            slack_server.calls_of("chat.postMessage")[:4], slack_server.calls_of("chat.postMessage")[1:4], strict=False
        )
    ]
    # Exponential backoff with equal jitter: base 1s -> [0.5, 1], [1, 2], [2, 4].
    for gap, nominal in zip(gaps, (1, 2, 4), strict=True):
        assert nominal / 2 <= gap <= nominal + 0.01


def test_per_target_pacing_allows_about_one_message_per_second(
    slack_server: FakeSlack, make_service: ServiceFactory, clock: FakeClock
) -> None:
    from notifiers.pacing import PacingPolicy

    m = model(nlist("platform", slack("#platform"), slack("#alerts")), default="platform")
    service = make_service(base_settings(slack_server.url, pacing=PacingPolicy(min_interval=1.0)), m)
    for i in range(3):
        service.emit(event("backup.created", f"backup {i}"))
    assert service.run_once() == 1.0
    assert len(slack_server.posted()) == 2  # one per channel
    clock.advance(0.5)
    service.run_once()
    assert len(slack_server.posted()) == 2
    clock.advance(0.5)
    service.run_once()
    assert len(slack_server.posted()) == 4
    run_until_idle(service, clock)
    calls = slack_server.calls_of("chat.postMessage")
    for channel in ("#platform", "#alerts"):
        times = [c.at for c in calls if c.params["channel"] == channel]
        assert len(times) == 3
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))


def test_alerts_are_deduplicated_repeated_and_resolved_once(
    slack_server: FakeSlack, make_service: ServiceFactory, clock: FakeClock
) -> None:
    registry = CollectorRegistry()
    service = make_service(base_settings(slack_server.url), PLATFORM_MODEL, registry=registry)
    details = {"alert": "restarts"}

    def fire() -> None:
        service.emit(event("alert.firing", "web restarted 7 times", app="web", details=details))

    def resolve() -> None:
        service.emit(event("alert.resolved", "web is stable", app="web", details=details))

    for _ in range(3):
        fire()
        clock.advance(60)
    run_until_idle(service, clock)
    assert len(slack_server.posted()) == 1
    clock.advance(3600)  # the repeat interval
    fire()
    fire()
    run_until_idle(service, clock)
    assert len(slack_server.posted()) == 2
    assert "Still firing" in texts(slack_server.posted()[1])
    resolve()
    resolve()
    run_until_idle(service, clock)
    posted = slack_server.posted()
    assert [m["text"].split(":")[0] for m in posted] == ["alert.firing", "[reminder] alert.firing", "alert.resolved"]
    # Flapping: the same alert firing again right after it resolved is held back, and so is
    # the resolution that follows it; the next firing after the window gets through.
    fire()
    resolve()
    run_until_idle(service, clock)
    assert len(slack_server.posted()) == 3
    clock.advance(301)
    fire()
    run_until_idle(service, clock)
    assert len(slack_server.posted()) == 4
    assert metric(registry, "dockyard_notifications_suppressed_total", kind="slack") == 6


def test_identical_failures_are_deduplicated_within_the_window(
    slack_server: FakeSlack, make_service: ServiceFactory, clock: FakeClock
) -> None:
    service = make_service(base_settings(slack_server.url), PLATFORM_MODEL)
    for _ in range(5):
        service.emit(event("sync.failed", "cannot apply", commit=COMMIT))
        clock.advance(30)
    service.emit(event("sync.failed", "cannot apply", commit=COMMIT.__class__("ffff" * 10)))  # another commit
    service.emit(event("backup.created", "info events are never dropped"))
    service.emit(event("backup.created", "info events are never dropped"))
    run_until_idle(service, clock)
    assert len(slack_server.posted()) == 4
    clock.advance(300)
    service.emit(event("sync.failed", "cannot apply", commit=COMMIT))
    run_until_idle(service, clock)
    assert len(slack_server.posted()) == 5


def test_a_restart_resumes_and_re_emitting_is_a_no_op(
    slack_server: FakeSlack, make_service: ServiceFactory, clock: FakeClock
) -> None:
    first = make_service(base_settings(slack_server.url), PLATFORM_MODEL)
    events = [event("backup.created", f"backup {i}") for i in range(5)]
    for e in events:
        first.emit(e)
    first.close()
    second = make_service(base_settings(slack_server.url), PLATFORM_MODEL)
    assert second.backlog() == 5
    run_until_idle(second, clock)
    second.emit(events[0])
    run_until_idle(second, clock)
    assert sorted(slack_server.posted_keys().values()) == [1] * 5


def test_events_before_the_first_configuration_are_held_then_routed(
    slack_server: FakeSlack, make_service: ServiceFactory, clock: FakeClock
) -> None:
    service = make_service(base_settings(slack_server.url))
    service.emit(event("validation.failed", "the very first revision is invalid"))
    assert service.backlog() == 1
    assert service.run_once() is None
    assert slack_server.posted() == []
    service.reconfigure(PLATFORM_MODEL)
    run_until_idle(service, clock)
    assert len(slack_server.posted()) == 1
    assert service.backlog() == 0


def test_reconfigure_applies_to_events_emitted_after_it(
    slack_server: FakeSlack, make_service: ServiceFactory, clock: FakeClock
) -> None:
    service = make_service(base_settings(slack_server.url), PLATFORM_MODEL)
    service.emit(event("backup.created", "to platform"))
    service.reconfigure(model(nlist("platform", slack("#alerts")), default="platform"))
    service.emit(event("backup.created", "to alerts"))
    run_until_idle(service, clock)
    by_channel = {m["text"]: c for c, msgs in slack_server.messages.items() for m in msgs}
    assert by_channel == {"backup.created: to platform": "C0PLATFRM1", "backup.created: to alerts": "C0ALERTS01"}
