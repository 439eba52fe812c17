"""Secrets never leak: every target's failure paths, checked in logs, errors, outbox, metrics
and the messages that announce the failures."""

from __future__ import annotations

import json
import logging
import traceback
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from daemon.errors import NotificationError
from daemon.model.kinds import NotificationTarget
from notifiers.routing import target_key
from notifiers.secrets import Redactor, SecretResolver
from notifiers.service import NotificationService, default_senders
from notifiers.settings import NotifierSettings, SmtpSettings
from notifiers.targets.base import Delivery, DeliveryError, Job
from tests.clock import FakeClock
from tests.notifiers.conftest import ServiceFactory, base_settings
from tests.notifiers.fakes import SLACK_TOKEN, FakeSlack, FakeSmtp, SlackFailure, WebhookReceiver, free_port
from tests.notifiers.helpers import email, event, model, nlist, slack, webhook

HOOK_TOKEN = "T0KEN-in-the-path-4f9a2c"
#: a token inside a URL written in clear in the repo: not a secret by the contract, yet kept out
#: of logs, errors, metrics and messages all the same (the outbox keeps the target as written)
CLEAR_TOKEN = "clear-url-token-5d6e7f"
HOOK_QUERY = "querysecret-77c1d0"
HMAC_KEY = "hmac-signing-key-b3e5a1"
ROBOT_TOKEN = "robot-access-token-91ab"
ROBOT_SIGN = "SEC-robot-sign-secret-3c"
BAD_SLACK_TOKEN = "xoxb-wrong-token-000111222"
SMTP_SECRET = "wrong-smtp-password-x9y8"


def secrets_in(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


@pytest.fixture
def announce(webhook_server: WebhookReceiver) -> NotificationTarget:
    """The default list, where dead letters are announced: a healthy webhook."""
    return webhook(url=webhook_server.base + "/announce")


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def our_log_text(caplog: pytest.LogCaptureFixture) -> str:
    # aiosmtpd (the fake server, "mail.log") logs what it receives; that is not our process's log.
    return "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records if not r.name.startswith("mail.log")
    )


def run_until_idle(service: NotificationService, clock: FakeClock) -> None:
    for _ in range(200):
        delay = service.run_once()
        if delay is None:
            return
        clock.advance(max(delay, 0.001))
    raise AssertionError("the outbox did not settle")


def failure_cases(
    slack_server: FakeSlack, webhook_server: WebhookReceiver, smtp_server: FakeSmtp, smtp_settings: SmtpSettings
) -> list[tuple[str, NotifierSettings, NotificationTarget, object, str]]:
    refused = f"http://127.0.0.1:{free_port()}"
    hook_url = f"{webhook_server.base}/hook/{HOOK_TOKEN}?sig={HOOK_QUERY}"
    refused_hook = f"{refused}/hook/{HOOK_TOKEN}?sig={HOOK_QUERY}"
    robot = json.dumps({"url": f"{webhook_server.base}/dingtalk/send?access_token={ROBOT_TOKEN}", "key": ROBOT_SIGN})
    refused_robot = json.dumps({"url": f"{refused}/wecom/send?key={ROBOT_TOKEN}", "key": ROBOT_SIGN})
    env = {
        "DOCKYARD_SECRET_HOOK": json.dumps({"url": hook_url, "key": HMAC_KEY}),
        "DOCKYARD_SECRET_REFUSED_HOOK": json.dumps({"url": refused_hook, "key": HMAC_KEY}),
        "DOCKYARD_SECRET_ROBOT": robot,
        "DOCKYARD_SECRET_REFUSED_ROBOT": refused_robot,
    }
    base = base_settings(slack_server.url, max_attempts=2, secret_env=env)
    bad_smtp = replace(smtp_settings, password=SMTP_SECRET)

    def fail_slack_500() -> None:
        slack_server.fail("chat.postMessage", SlackFailure(status=500), times=10)

    def fail_hook_500() -> None:
        webhook_server.fail(500, times=2)

    def fail_robot() -> None:
        webhook_server.robot_error = 45009

    untrusted_smtp = replace(smtp_settings, password=SMTP_SECRET, ca_file=None)
    return [
        ("slack bad token", replace(base, slack_token=BAD_SLACK_TOKEN), slack("#shop"), None, "invalid_auth"),
        ("slack 500", replace(base, slack_token=SLACK_TOKEN), slack("#shop"), fail_slack_500, "HTTP 500"),
        (
            "slack refused",
            replace(base, slack_api_url=refused + "/api/", slack_token=BAD_SLACK_TOKEN),
            slack("#shop"),
            None,
            "connection refused",
        ),
        ("webhook 500", base, webhook(secret_ref="hook"), fail_hook_500, "HTTP 500"),
        ("webhook refused", base, webhook(secret_ref="refused-hook"), None, "refused"),
        (
            "webhook url in clear, refused",
            base,
            webhook(url=f"{refused}/hook/{CLEAR_TOKEN}", secret_ref="hook"),
            None,
            "refused",
        ),
        ("robot error", base, webhook(secret_ref="robot", kind="dingtalk"), fail_robot, "code 45009"),
        ("robot refused", base, webhook(secret_ref="refused-robot", kind="wecom"), None, "refused"),
        ("smtp auth", replace(base, smtp=bad_smtp), email("ops@example.com"), None, "authentication failed"),
        (
            "smtp refused",
            replace(base, smtp=replace(bad_smtp, port=free_port())),
            email("ops@example.com"),
            None,
            "refused",
        ),
        (
            "smtp untrusted cert",
            replace(base, smtp=untrusted_smtp),
            email("ops@example.com"),
            None,
            "CERTIFICATE_VERIFY_FAILED",
        ),
    ]


SECRETS = [HOOK_TOKEN, HOOK_QUERY, HMAC_KEY, ROBOT_TOKEN, ROBOT_SIGN, BAD_SLACK_TOKEN, SLACK_TOKEN, SMTP_SECRET]


def test_no_secret_in_logs_errors_outbox_metrics_or_messages(
    slack_server: FakeSlack,
    webhook_server: WebhookReceiver,
    smtp_server: FakeSmtp,
    smtp_settings: SmtpSettings,
    announce: NotificationTarget,
    all_logs: pytest.LogCaptureFixture,
    make_service: ServiceFactory,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    cases = failure_cases(slack_server, webhook_server, smtp_server, smtp_settings)
    for name, settings, target, prepare, expected in cases:
        all_logs.clear()
        webhook_server.received.clear()
        webhook_server.robot_error = None
        # The sender on its own: its exception, with the whole chain of causes.
        redactor = Redactor()
        sender = default_senders(settings, redactor, clock.unix)[target.kind]
        if callable(prepare):
            prepare()
        delivery = Delivery(
            "e1:" + target_key(target), event("sync.failed", "boom"), target, target_key(target), "t", 1
        )
        with pytest.raises(DeliveryError) as info:
            sender.send(Job((delivery,)))
        chain = "".join(traceback.format_exception(info.value))
        assert not secrets_in(chain, [*SECRETS, CLEAR_TOKEN]), (name, chain)
        assert not secrets_in(repr(info.value), [*SECRETS, CLEAR_TOKEN]), name

        # The whole service: logs, outbox rows, metrics and the announcement of the dead letter.
        if callable(prepare):
            prepare()
        registry = CollectorRegistry()
        m = model(nlist("announce", announce), nlist("t", target), tenants={"shop": ["t"]}, default="announce")
        service = make_service(settings, m, registry=registry, path=tmp_path / f"{len(name)}-{name[:5]}.sqlite")
        service.emit(event("sync.failed", f"{name}: boom", tenant="shop"))
        run_until_idle(service, clock)
        rows = service.outbox.rows()
        assert [r["status"] for r in rows] == ["dead", "delivered"], (name, rows)
        assert not secrets_in(json.dumps(rows), SECRETS), name
        assert not secrets_in(generate_latest(registry).decode(), [*SECRETS, CLEAR_TOKEN]), name
        assert not secrets_in(our_log_text(all_logs), [*SECRETS, CLEAR_TOKEN]), (name, our_log_text(all_logs))
        announcements = [r for r in webhook_server.received if r.path == "/announce"]
        assert len(announcements) == 1, name
        body = announcements[0].body.decode()
        assert "are failing" in body
        assert rows[0]["last_error"] in json.loads(body)["event"]["details"]["error"]
        assert not secrets_in(body, [*SECRETS, CLEAR_TOKEN]), (name, body)
        assert expected in rows[0]["last_error"], (name, rows[0]["last_error"])
        service.close()


def test_settings_repr_hides_secrets(smtp_settings: SmtpSettings) -> None:
    settings = replace(
        base_settings(),
        slack_token=BAD_SLACK_TOKEN,
        smtp=replace(smtp_settings, password=SMTP_SECRET),
        secret_env={"DOCKYARD_SECRET_X": HMAC_KEY},
    )
    assert not secrets_in(repr(settings), SECRETS)


def test_redactor_removes_every_registered_form() -> None:
    url = f"https://oapi.example.com/robot/send?access_token={ROBOT_TOKEN}"
    redactor = Redactor([url, HMAC_KEY, "short"])
    text = f"failed {url} and {ROBOT_TOKEN} and /robot/send?access_token={ROBOT_TOKEN} with {HMAC_KEY} short"
    cleaned = redactor.redact(text)
    assert not secrets_in(cleaned, [ROBOT_TOKEN, HMAC_KEY])
    assert "short" in cleaned  # too short to be a credential: redacting it would eat ordinary words


def test_secret_resolution_from_env_then_file(tmp_path: Path) -> None:
    (tmp_path / "shop-hook").write_text("from-file-value\n")
    (tmp_path / "both").write_text("file-loses")
    resolver = SecretResolver({"DOCKYARD_SECRET_BOTH": "env-wins", "OTHER": "ignored"}, tmp_path)
    assert resolver.resolve("shop-hook") == "from-file-value"
    assert resolver.resolve("both") == "env-wins"
    with pytest.raises(NotificationError, match="DOCKYARD_SECRET_MISSING"):
        resolver.resolve("missing")
    with pytest.raises(NotificationError, match="invalid secret reference"):
        resolver.resolve("../etc/passwd")
    assert resolver.redactor.redact("x from-file-value y") == "x *** y"


def test_a_proxy_echoing_the_token_does_not_put_it_in_our_logs(
    slack_server: FakeSlack,
    all_logs: pytest.LogCaptureFixture,
    make_service: ServiceFactory,
    clock: FakeClock,
) -> None:
    echo = f"<html>bad gateway; you sent Authorization: Bearer {SLACK_TOKEN}</html>".encode()
    slack_server.fail("chat.postMessage", SlackFailure(status=502, body=echo))
    service = make_service(base_settings(slack_server.url), model(nlist("p", slack("#platform")), default="p"))
    service.emit(event("sync.failed", "boom"))
    run_until_idle(service, clock)
    assert len(slack_server.posted()) == 1
    assert "Failed to decode Slack API response" in all_logs.text  # the SDK did log the body...
    assert SLACK_TOKEN not in our_log_text(all_logs)  # ...with the token scrubbed
