"""Email over SMTP with STARTTLS and AUTH, against a local aiosmtpd server."""

from __future__ import annotations

from dataclasses import replace
from email import message_from_bytes, policy

from notifiers.service import NotificationService
from notifiers.settings import SmtpSettings
from tests.clock import FakeClock
from tests.notifiers.conftest import ServiceFactory, base_settings
from tests.notifiers.fakes import FakeSmtp
from tests.notifiers.helpers import COMMIT, email, event, model, nlist

OPS = model(nlist("ops", email("ops@example.com", "dev@example.com")), default="ops")


def run_until_idle(service: NotificationService, clock: FakeClock) -> None:
    for _ in range(200):
        delay = service.run_once()
        if delay is None:
            return
        clock.advance(max(delay, 0.001))
    raise AssertionError("the outbox did not settle")


def test_mail_goes_over_starttls_with_auth(
    smtp_server: FakeSmtp, smtp_settings: SmtpSettings, make_service: ServiceFactory, clock: FakeClock
) -> None:
    service = make_service(base_settings(smtp=smtp_settings, commit_url="https://git.example.com/c/{sha}"), OPS)
    service.emit(event("sync.failed", "cannot apply 01234567", commit=COMMIT, errors=("a.yaml:3:1: error: bad",)))
    run_until_idle(service, clock)
    (mail,) = smtp_server.mails
    assert mail.tls
    assert mail.authenticated
    assert mail.rcpt_tos == ["ops@example.com", "dev@example.com"]
    parsed = message_from_bytes(mail.content, policy=policy.default)
    assert parsed["Subject"] == "[Dockyard] CRITICAL sync.failed: cannot apply 01234567"
    assert parsed["X-Dockyard-Delivery"] == service.outbox.rows()[0]["key"]
    assert parsed["Message-ID"].endswith(".dockyard@example.com>")
    body = parsed.get_body().get_content()  # type: ignore[union-attr]
    assert "a.yaml:3:1: error: bad" in body
    assert f"https://git.example.com/c/{COMMIT.sha}" in body


def test_one_mail_per_cycle(
    smtp_server: FakeSmtp, smtp_settings: SmtpSettings, make_service: ServiceFactory, clock: FakeClock
) -> None:
    service = make_service(base_settings(smtp=smtp_settings, group_wait=5.0), OPS)
    for name in ("sync.succeeded", "drift.corrected", "scaling.succeeded"):
        service.emit(event(name, f"{name} happened", commit=COMMIT, group="rev-1"))
    service.emit(event("backup.created", "not part of the cycle"))
    service.run_once()
    assert len(smtp_server.mails) == 1  # only the ungrouped one
    clock.advance(5.0)
    run_until_idle(service, clock)
    assert len(smtp_server.mails) == 2
    parsed = message_from_bytes(smtp_server.mails[1].content, policy=policy.default)
    assert parsed["Subject"].startswith("[Dockyard] 3 events for 01234567")
    assert parsed["In-Reply-To"] == parsed["References"]
    body = parsed.get_body().get_content()  # type: ignore[union-attr]
    assert all(f"{n} happened" in body for n in ("sync.succeeded", "drift.corrected", "scaling.succeeded"))
    assert {r["status"] for r in service.outbox.rows()} == {"delivered"}


def test_auth_failure_is_retried_then_dead_lettered(
    smtp_server: FakeSmtp, smtp_settings: SmtpSettings, make_service: ServiceFactory, clock: FakeClock
) -> None:
    bad = replace(smtp_settings, password="definitely-wrong-password")
    service = make_service(base_settings(smtp=bad, max_attempts=2), OPS)
    service.emit(event("backup.failed", "snapshot failed"))
    run_until_idle(service, clock)
    assert smtp_server.mails == []
    rows = service.outbox.rows()
    assert rows[0]["status"] == "dead"
    assert rows[0]["attempts"] == 2
    assert rows[0]["last_error"] == "email: SMTP authentication failed (535)"
    # The announcement goes to the same (broken) default list and is not announced again.
    assert [r["status"] for r in rows] == ["dead", "dead"]
