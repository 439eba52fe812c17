"""Fixtures of the notifier tests: local Slack, webhook and SMTP servers, a fake clock, services."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from daemon.model.kinds import PlatformModel
from notifiers.pacing import PacingPolicy
from notifiers.service import NotificationService
from notifiers.settings import NotifierSettings, SmtpSettings
from tests.clock import FakeClock
from tests.notifiers.fakes import (
    SLACK_TOKEN,
    SMTP_PASSWORD,
    SMTP_USER,
    FakeSlack,
    FakeSmtp,
    TlsFiles,
    WebhookReceiver,
    make_self_signed,
)

WEBHOOK_KEY = "whsec-hmac-key-0123456789"


@pytest.fixture
def clock() -> FakeClock:
    # From the real time: the events the tests emit are stamped with it (Event.time), and the
    # service measures delivery latency against it.
    return FakeClock(time.time())


@pytest.fixture
def slack_server(clock: FakeClock) -> Iterator[FakeSlack]:
    server = FakeSlack(clock=clock.unix).start()
    yield server
    server.stop()


@pytest.fixture
def real_slack_server() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def webhook_server(clock: FakeClock) -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(WEBHOOK_KEY, clock=clock.unix).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_server(tls_files: TlsFiles) -> Iterator[FakeSmtp]:
    server = FakeSmtp(tls_files).start()
    yield server
    server.stop()


@pytest.fixture
def smtp_settings(smtp_server: FakeSmtp, tls_files: TlsFiles) -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1",
        port=smtp_server.port,
        user=SMTP_USER,
        password=SMTP_PASSWORD,
        from_addr="dockyard@example.com",
        starttls=True,
        ca_file=str(tls_files.cert),
        timeout=5.0,
    )


def base_settings(slack_url: str = "http://127.0.0.1:9/api/", **overrides: Any) -> NotifierSettings:
    settings = NotifierSettings(
        slack_api_url=slack_url,
        slack_token=SLACK_TOKEN,
        http_timeout=5.0,
        slack_timeout=5,
        max_attempts=4,
        backoff_base=1.0,
        backoff_max=60.0,
        pacing=PacingPolicy(dedup_window=300.0, repeat_interval=3600.0, min_interval=0.0),
        group_wait=0.0,
    )
    return replace(settings, **overrides)


ServiceFactory = Callable[..., NotificationService]


@pytest.fixture
def make_service(tmp_path: Path, clock: FakeClock) -> Iterator[ServiceFactory]:
    """Builds services on one outbox file (a second call is a restart) with a fake clock."""
    made: list[NotificationService] = []

    def factory(
        settings: NotifierSettings,
        model: PlatformModel | None = None,
        *,
        registry: CollectorRegistry | None = None,
        path: Path | None = None,
        **kwargs: Any,
    ) -> NotificationService:
        service = NotificationService(
            outbox_path=path or tmp_path / "outbox.sqlite",
            registry=registry or CollectorRegistry(),
            settings=settings,
            model=model,
            clock=kwargs.pop("clock", clock.unix),
            rng=random.Random(7),
            **kwargs,
        )
        made.append(service)
        return service

    yield factory
    for service in made:
        service.close(timeout=5)
