"""Push webhooks: GitHub and GitLab verification, parsing of pushes and pings, de-duplication."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.edges.push_webhooks import (
    MAX_BODY_BYTES,
    DeliveryDeduper,
    PushEvent,
    parse_push,
    verify_github,
    verify_gitlab,
)
from daemon.errors import DockyardError, WebhookError

SECRET = "webhook-shared-secret"
AFTER = "9f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"


def github_push(ref: str = "refs/heads/main") -> bytes:
    return json.dumps(
        {
            "ref": ref,
            "before": "0" * 40,
            "after": AFTER,
            "pusher": {"name": "octocat", "email": "octo@example.com"},
            "sender": {"login": "octocat"},
            "head_commit": {"id": AFTER, "message": "change"},
        }
    ).encode()


def gitlab_push(ref: str = "refs/heads/main") -> bytes:
    return json.dumps(
        {"object_kind": "push", "ref": ref, "before": "0" * 40, "after": AFTER, "user_username": "tanuki"}
    ).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(body: bytes, event: str = "push", **extra: str) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": sign(body),
        "Content-Type": "application/json",
        **extra,
    }


# --- GitHub -----------------------------------------------------------------------------------


def test_github_signature_valid_invalid_and_missing() -> None:
    body = github_push()
    headers = github_headers(body)

    assert verify_github(headers, body, SECRET)
    assert not verify_github(headers, body + b" ", SECRET), "a changed body"
    assert not verify_github(headers, body, "another-secret"), "another secret"
    assert not verify_github({**headers, "X-Hub-Signature-256": sign(body)[:-1] + "0"}, body, SECRET)
    assert not verify_github({**headers, "X-Hub-Signature-256": sign(body).removeprefix("sha256=")}, body, SECRET)
    assert not verify_github({k: v for k, v in headers.items() if k != "X-Hub-Signature-256"}, body, SECRET)
    assert not verify_github({"X-Hub-Signature": "sha1=" + "0" * 40}, body, SECRET), "sha1 is not accepted"
    assert not verify_github(headers, body, ""), "an empty secret verifies nothing"
    assert not verify_github({"X-Hub-Signature-256": "sha256=é\udcff"}, body, SECRET), "junk is False, not an error"


def test_github_headers_are_case_insensitive() -> None:
    body = github_push()
    lower = {k.lower(): v for k, v in github_headers(body).items()}
    upper = {k.upper(): v for k, v in github_headers(body).items()}

    assert verify_github(lower, body, SECRET)
    assert verify_github(upper, body, SECRET)
    assert parse_push("github", lower, body) == parse_push("github", upper, body)
    assert parse_push("github", lower, body) is not None


def test_github_push_and_ping() -> None:
    body = github_push("refs/heads/release")

    event = parse_push("github", github_headers(body), body)

    assert event == PushEvent(
        provider="github",
        ref="refs/heads/release",
        after=AFTER,
        delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958",
        pusher="octocat",
    )
    ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    assert parse_push("github", github_headers(ping, event="ping"), ping) is None
    assert parse_push("github", github_headers(ping, event="issues"), ping) is None


def test_github_form_encoded_payload() -> None:
    body = urlencode({"payload": github_push().decode()}).encode()
    headers = github_headers(body, **{"Content-Type": "application/x-www-form-urlencoded"})

    event = parse_push("github", headers, body)

    assert event is not None
    assert event.after == AFTER


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b"\xff\xfe", json.dumps({"ref": "refs/heads/main"}).encode(), b""],
    ids=["bad-json", "not-an-object", "not-utf8", "no-after", "empty"],
)
def test_malformed_push_is_a_webhook_error(body: bytes) -> None:
    with pytest.raises(WebhookError):
        parse_push("github", github_headers(body), body)
    with pytest.raises(WebhookError):
        parse_push("gitlab", {"X-Gitlab-Event": "Push Hook"}, body)
    assert issubclass(WebhookError, DockyardError)


def test_body_over_the_limit_is_refused() -> None:
    body = b" " * (MAX_BODY_BYTES + 1)
    assert MAX_BODY_BYTES == 1024 * 1024
    with pytest.raises(WebhookError, match="exceeds"):
        parse_push("github", github_headers(body), body)


# --- GitLab -----------------------------------------------------------------------------------


def test_gitlab_token_valid_invalid_missing_and_any_case() -> None:
    assert verify_gitlab({"X-Gitlab-Token": SECRET}, SECRET)
    assert verify_gitlab({"x-gitlab-token": SECRET}, SECRET)
    assert not verify_gitlab({"X-Gitlab-Token": SECRET + "x"}, SECRET)
    assert not verify_gitlab({"X-Gitlab-Token": ""}, SECRET)
    assert not verify_gitlab({}, SECRET)
    assert not verify_gitlab({"X-Gitlab-Token": ""}, ""), "an empty secret verifies nothing"
    assert not verify_gitlab({"X-Gitlab-Token": "ünïcode"}, SECRET)


def test_gitlab_push_tag_push_and_other_events() -> None:
    body = gitlab_push()
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET, "X-Gitlab-Event-UUID": "uuid-1"}

    assert parse_push("gitlab", headers, body) == PushEvent("gitlab", "refs/heads/main", AFTER, "uuid-1", "tanuki")
    retried = parse_push("gitlab", {**headers, "Idempotency-Key": "idem-1"}, body)
    assert retried is not None
    assert retried.delivery_id == "idem-1", "the retry-stable key wins"

    tag = gitlab_push("refs/tags/v1.2.0")
    tag_event = parse_push("gitlab", {**headers, "X-Gitlab-Event": "Tag Push Hook"}, tag)
    assert tag_event is not None
    assert tag_event.ref == "refs/tags/v1.2.0"

    merge = json.dumps({"object_kind": "merge_request"}).encode()
    assert parse_push("gitlab", {**headers, "X-Gitlab-Event": "Merge Request Hook"}, merge) is None
    assert parse_push("gitlab", {"X-Gitlab-Event": "System Hook"}, merge) is None


def test_delivery_without_an_id_is_recognised_by_its_body() -> None:
    body = gitlab_push()
    other = json.dumps({**json.loads(body), "before": AFTER, "after": "1" * 40}).encode()

    first = parse_push("gitlab", {"X-Gitlab-Event": "Push Hook"}, body)
    again = parse_push("gitlab", {"X-Gitlab-Event": "Push Hook"}, body)
    different = parse_push("gitlab", {"X-Gitlab-Event": "Push Hook"}, other)

    assert first is not None
    assert again is not None
    assert different is not None
    assert first.delivery_id == again.delivery_id
    assert first.delivery_id != different.delivery_id


# --- de-duplication ---------------------------------------------------------------------------


def test_deduper_ignores_repeats_and_forgets_the_oldest() -> None:
    dedupe = DeliveryDeduper(capacity=3)

    assert [dedupe.seen(i) for i in ["a", "b", "a", "c", "d"]] == [False, False, True, False, False]
    # "a" was refreshed by its repeat, so "b" was the oldest when "d" arrived.
    assert dedupe.seen("a")
    assert not dedupe.seen("b")
    assert len(dedupe) == 3
    assert not dedupe.seen("")
    assert not dedupe.seen(""), "no id: nothing to recognise a repeat by"


def test_deduper_is_thread_safe() -> None:
    dedupe = DeliveryDeduper(capacity=10_000)
    firsts: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for n in range(500):
            if not dedupe.seen(f"delivery-{n}"):
                with lock:
                    firsts.append(f"delivery-{n}")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(firsts) == sorted(f"delivery-{n}" for n in range(500)), "each delivery accepted exactly once"


@given(st.binary(max_size=2048), st.text(min_size=1, max_size=64))
def test_github_signature_round_trip(body: bytes, secret: str) -> None:
    headers: dict[str, Any] = {
        "x-hub-signature-256": "sha256="
        + hmac.new(secret.encode("utf-8", "surrogateescape"), body, hashlib.sha256).hexdigest()
    }
    assert verify_github(headers, body, secret)
    assert not verify_github(headers, body + b"x", secret)
