"""Settings from the environment, and the service's promises as an EventSink."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from daemon.errors import ConfigError
from daemon.model.events import EventSink
from notifiers.settings import DEFAULT_SLACK_API_URL, NotifierSettings
from tests.notifiers.conftest import ServiceFactory, base_settings
from tests.notifiers.helpers import event, model, nlist, slack


def test_from_env_reads_every_setting() -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_API_URL": "http://127.0.0.1:1/api/",
        "DOCKYARD_SMTP_HOST": "mail.example.com",
        "DOCKYARD_SMTP_PORT": "2525",
        "DOCKYARD_SMTP_USER": "u",
        "DOCKYARD_SMTP_PASSWORD": "p",
        "DOCKYARD_SMTP_FROM": "dockyard@example.com",
        "DOCKYARD_SMTP_STARTTLS": "false",
        "DOCKYARD_SECRETS_DIR": "/run/secrets/dockyard",
        "DOCKYARD_SECRET_SHOP_HOOK": "k",
        "DOCKYARD_COMMIT_URL": "https://git.example.com/c/{sha}",
        "DOCKYARD_NOTIFY_MAX_ATTEMPTS": "5",
        "HOME": "/root",
    }
    s = NotifierSettings.from_env(env)
    assert (s.slack_token, s.slack_api_url, s.max_attempts) == ("xoxb-1", "http://127.0.0.1:1/api/", 5)
    assert s.smtp is not None
    assert (s.smtp.host, s.smtp.port, s.smtp.user, s.smtp.password, s.smtp.starttls) == (
        "mail.example.com",
        2525,
        "u",
        "p",
        False,
    )
    assert s.smtp.sender == "dockyard@example.com"
    assert s.secrets_dir == Path("/run/secrets/dockyard")
    assert dict(s.secret_env) == {"DOCKYARD_SECRET_SHOP_HOOK": "k"}
    assert s.commit_url == "https://git.example.com/c/{sha}"


def test_from_env_defaults_and_errors() -> None:
    s = NotifierSettings.from_env({})
    assert s.slack_api_url == DEFAULT_SLACK_API_URL
    assert s.slack_token is None
    assert s.smtp is None
    with pytest.raises(ConfigError, match="DOCKYARD_SMTP_PORT"):
        NotifierSettings.from_env({"DOCKYARD_SMTP_HOST": "h", "DOCKYARD_SMTP_PORT": "x"})
    with pytest.raises(ConfigError, match="DOCKYARD_SMTP_STARTTLS"):
        NotifierSettings.from_env({"DOCKYARD_SMTP_HOST": "h", "DOCKYARD_SMTP_STARTTLS": "maybe"})
    with pytest.raises(ConfigError):
        NotifierSettings(max_attempts=0)


def test_the_service_is_an_event_sink_that_never_raises(
    make_service: ServiceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    service = make_service(base_settings(), model(nlist("p", slack("#p")), default="p"))
    sink: EventSink = service
    service.outbox.close()  # the outbox becomes unusable
    with caplog.at_level(logging.ERROR):
        sink.emit(event("sync.failed", "boom"))
    assert "could not be written to the notification outbox" in caplog.text


def test_start_and_stop(make_service: ServiceFactory) -> None:
    service = make_service(base_settings(), model(nlist("p", slack("#p")), default="p"))
    service.start()
    service.start()  # idempotent
    assert service.stop(timeout=5)


def test_kinds_without_credentials_are_not_queued_and_are_announced_once(
    make_service: ServiceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    lists = model(nlist("ops", slack("#ops"), events=("*",)), default="ops")
    service = make_service(base_settings(slack_token=None), lists, registry=registry)
    with caplog.at_level(logging.WARNING, logger="notifiers.service"):
        service.emit(event("sync.succeeded"))
        service.emit(event("sync.failed"))
    assert service.backlog() == 0
    assert registry.get_sample_value("dockyard_notifications_unconfigured_total", {"kind": "slack"}) == 2
    warnings = [r.getMessage() for r in caplog.records if "notifications are off" in r.getMessage()]
    assert warnings == ["slack notifications are off: SLACK_BOT_TOKEN is not set"]
