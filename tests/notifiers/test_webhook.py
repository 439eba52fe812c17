"""Generic webhooks (signed JSON) and chat robots against a local receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qs, unquote_plus, urlsplit

from notifiers.service import NotificationService
from tests.clock import FakeClock
from tests.notifiers.conftest import WEBHOOK_KEY, ServiceFactory, base_settings
from tests.notifiers.fakes import WebhookReceiver
from tests.notifiers.helpers import COMMIT, event, model, nlist, webhook


def run_until_idle(service: NotificationService, clock: FakeClock) -> None:
    for _ in range(200):
        delay = service.run_once()
        if delay is None:
            return
        clock.advance(max(delay, 0.001))
    raise AssertionError("the outbox did not settle")


def test_signed_json_delivery(webhook_server: WebhookReceiver, make_service: ServiceFactory, clock: FakeClock) -> None:
    target = webhook(url=webhook_server.base + "/hook/a", secret_ref="hook-key")
    settings = base_settings(secret_env={"DOCKYARD_SECRET_HOOK_KEY": WEBHOOK_KEY})
    service = make_service(settings, model(nlist("p", target), default="p"))
    e = event("sync.failed", "boom", commit=COMMIT, errors=("a.yaml:1:1: error: x",))
    service.emit(e)
    run_until_idle(service, clock)
    (received,) = webhook_server.received
    assert received.signature_ok is True
    assert received.headers["X-Dockyard-Event"] == "sync.failed"
    assert received.headers["X-Dockyard-Delivery"] == received.json["delivery"] == service.outbox.rows()[0]["key"]
    assert received.json["event"]["id"] == e.id
    assert received.json["event"]["commit"]["sha"] == COMMIT.sha
    assert service.outbox.rows()[0]["status"] == "delivered"


def test_a_wrong_key_is_rejected_and_dead_lettered(
    webhook_server: WebhookReceiver, make_service: ServiceFactory, clock: FakeClock
) -> None:
    target = webhook(url=webhook_server.base + "/hook/a", secret_ref="hook-key")
    settings = base_settings(secret_env={"DOCKYARD_SECRET_HOOK_KEY": "not-the-key-at-all"})
    service = make_service(settings, model(nlist("p", target), nlist("t", target), tenants={"x": ["t"]}))
    service.emit(event("sync.failed", "boom", tenant="x"))
    run_until_idle(service, clock)
    (row,) = service.outbox.rows()
    assert row["status"] == "dead"
    assert row["attempts"] == 1
    assert "rejected (HTTP 401)" in row["last_error"]


def test_url_and_key_from_a_secret_file_and_retries_after_5xx(
    webhook_server: WebhookReceiver, make_service: ServiceFactory, clock: FakeClock, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "hook").write_text(json.dumps({"url": webhook_server.base + "/hook/secret-path", "key": WEBHOOK_KEY}))
    webhook_server.fail(500, times=2)
    service = make_service(
        base_settings(secrets_dir=secrets), model(nlist("p", webhook(secret_ref="hook")), default="p")
    )
    service.emit(event("backup.failed", "snapshot failed"))
    run_until_idle(service, clock)
    (received,) = webhook_server.received
    assert received.path == "/hook/secret-path"
    assert received.signature_ok is True
    (row,) = service.outbox.rows()
    assert row["status"] == "delivered"
    assert row["attempts"] == 3


def test_a_missing_secret_is_retried_until_it_appears(
    webhook_server: WebhookReceiver, make_service: ServiceFactory, clock: FakeClock, tmp_path: Path
) -> None:
    service = make_service(
        base_settings(secrets_dir=tmp_path, max_attempts=5), model(nlist("p", webhook(secret_ref="late")), default="p")
    )
    service.emit(event("backup.failed", "snapshot failed"))
    delay = service.run_once()
    assert delay is not None
    assert "secret 'late' is not set" in service.outbox.rows()[0]["last_error"]
    (tmp_path / "late").write_text(webhook_server.base + "/hook/late\n")
    run_until_idle(service, clock)
    assert [r.path for r in webhook_server.received] == ["/hook/late"]
    assert webhook_server.received[0].signature_ok is None  # the secret was the URL: no key to sign with


def test_429_retry_after_on_webhooks(
    webhook_server: WebhookReceiver, make_service: ServiceFactory, clock: FakeClock
) -> None:
    webhook_server.fail(429, headers={"Retry-After": "12"})
    service = make_service(base_settings(), model(nlist("p", webhook(url=webhook_server.base + "/h")), default="p"))
    service.emit(event("backup.failed", "x"))
    delay = service.run_once()
    assert delay is not None
    assert abs(delay - 12) < 0.01
    run_until_idle(service, clock)
    assert len(webhook_server.received) == 1


def test_robots_sign_and_shape_their_messages(
    webhook_server: WebhookReceiver, make_service: ServiceFactory, clock: FakeClock
) -> None:
    base = webhook_server.base
    secrets = {
        "DOCKYARD_SECRET_DING": json.dumps(
            {"url": base + "/dingtalk/robot/send?access_token=ding-token-123", "key": "SECding"}
        ),
        "DOCKYARD_SECRET_LARK": json.dumps({"url": base + "/feishu/hook/lark-token-456", "key": "lark-sign-key"}),
        "DOCKYARD_SECRET_WECOM": base + "/wecom/send?key=wecom-key-789",
    }
    targets = [
        webhook(secret_ref="ding", kind="dingtalk"),
        webhook(secret_ref="lark", kind="feishu"),
        webhook(secret_ref="wecom", kind="wecom"),
    ]
    service = make_service(base_settings(secret_env=secrets, group_wait=2.0), model(nlist("p", *targets), default="p"))
    service.emit(event("sync.succeeded", "applied 3 changes", commit=COMMIT, group="rev1"))
    service.emit(event("health.degraded", "web not ready", group="rev1"))
    service.run_once()
    assert webhook_server.received == []  # waiting for the rest of the cycle
    clock.advance(2.0)
    run_until_idle(service, clock)
    by_kind = {r.path.split("/")[1].split("?")[0]: r for r in webhook_server.received}
    assert sorted(by_kind) == ["dingtalk", "feishu", "wecom"]
    assert len(webhook_server.received) == 3  # one message per robot for the whole cycle

    ding = by_kind["dingtalk"]
    query = parse_qs(urlsplit(ding.path).query)
    assert query["access_token"] == ["ding-token-123"]
    ms = query["timestamp"][0]
    expected = base64.b64encode(hmac.new(b"SECding", f"{ms}\nSECding".encode(), hashlib.sha256).digest()).decode()
    assert unquote_plus(query["sign"][0]) == expected or query["sign"][0] == expected
    assert ding.json["msgtype"] == "markdown"
    assert "applied 3 changes" in ding.json["markdown"]["text"]
    assert "web not ready" in ding.json["markdown"]["text"]

    lark = by_kind["feishu"].json
    mac = hmac.new(f"{lark['timestamp']}\nlark-sign-key".encode(), b"", hashlib.sha256).digest()
    assert lark["sign"] == base64.b64encode(mac).decode()
    assert "web not ready" in lark["content"]["text"]

    wecom = by_kind["wecom"].json
    assert wecom["msgtype"] == "markdown"
    assert "applied 3 changes" in wecom["markdown"]["content"]
    assert all(r["status"] == "delivered" for r in service.outbox.rows())


def test_a_robot_error_code_is_a_failure(
    webhook_server: WebhookReceiver, make_service: ServiceFactory, clock: FakeClock
) -> None:
    webhook_server.robot_error = 310000  # DingTalk: keyword/sign check failed
    target = webhook(url=webhook_server.base + "/dingtalk/robot/send?access_token=x", kind="dingtalk")
    service = make_service(base_settings(), model(nlist("p", target), nlist("t", target), tenants={"x": ["t"]}))
    service.emit(event("sync.failed", "boom", tenant="x"))
    run_until_idle(service, clock)
    (row,) = service.outbox.rows()
    assert row["status"] == "dead"
    assert "code 310000" in row["last_error"]
