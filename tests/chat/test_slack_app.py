"""The Slack wiring without a cluster: settings, secrets kept out of logs, Socket Mode only on demand."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from daemon.chat.config import SlackConfig
from daemon.chat.gitops import GitOps
from daemon.chat.ports import ChatPorts
from daemon.chat.slack_app import ReplayGuard, SecretFilter, SlackChat, build_chat
from daemon.engine.reconcile import DaemonState
from daemon.errors import ConfigError
from daemon.model.audit import HistoryRecord
from daemon.model.events import MemorySink
from tests.chat.slackhttp import BOT_TOKEN, SIGNING_SECRET, ChatSlack
from tests.clock import FakeClock
from tests.fixtures_cluster import wait_for

APP_TOKEN = "xapp-1-A0APP-1234-0123456789abcdef"


class NoPauses:
    def paused(self) -> frozenset[str]:
        return frozenset()

    def pause(self, tenant: str) -> None:
        raise AssertionError("not in these tests")

    def resume(self, tenant: str) -> None:
        raise AssertionError("not in these tests")


class NoHistory:
    def append(self, record: HistoryRecord) -> None:
        raise AssertionError("not in these tests")

    def list(self, limit: int | None = None) -> list[HistoryRecord]:
        return []


def ports() -> ChatPorts:
    return ChatPorts(
        snapshot=DaemonState,
        request_cycle=lambda _: None,
        cycles_run=lambda: 0,
        is_leader=lambda: True,
        pauses=NoPauses(),
        history=NoHistory(),
        emit=MemorySink().emit,
        kube=None,
        source="test",
    )


@pytest.fixture
def slack() -> Iterator[ChatSlack]:
    server = ChatSlack().start()
    yield server
    server.stop()


def test_settings_come_from_the_environment_and_never_show_in_repr() -> None:
    config = SlackConfig.from_env(
        {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": "http://x/api/"}
    )
    assert config.enabled and config.api_url == "http://x/api/" and config.app_token is None
    assert SIGNING_SECRET not in repr(config) and BOT_TOKEN not in repr(config)
    assert not SlackConfig.from_env({"SLACK_BOT_TOKEN": BOT_TOKEN}).enabled  # no way to receive commands
    assert SlackConfig.from_env({"SLACK_APP_TOKEN": APP_TOKEN}).enabled


def test_a_missing_bot_token_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN is not set"):
        build_chat(ports(), GitOps(None, refusal="test"), SlackConfig(signing_secret=SIGNING_SECRET))


def test_socket_mode_is_only_started_with_an_app_token(slack: ChatSlack) -> None:
    http_only = build_chat(
        ports(), GitOps(None, refusal="t"), SlackConfig(SIGNING_SECRET, BOT_TOKEN, api_url=slack.url)
    )
    http_only.start_socket_mode()
    assert http_only.transports == "HTTP /slack/events"
    http_only.close()

    chat: SlackChat = build_chat(
        ports(), GitOps(None, refusal="t"), SlackConfig(None, BOT_TOKEN, APP_TOKEN, api_url=slack.url)
    )
    assert chat.transports == "Socket Mode"
    chat.start_socket_mode()
    # It asks Slack (here: the local server, which does not speak Socket Mode) for a connection URL,
    # authenticated with the app-level token, not the bot token.
    calls = wait_for(lambda: slack.calls_of("apps.connections.open"), timeout=10, message="apps.connections.open")
    assert calls and slack.calls_of("auth.test") == []
    time.sleep(0.2)
    chat.close()
    chat.close()  # idempotent


def test_the_secret_filter_blanks_tokens_response_urls_signatures_and_given_secrets() -> None:
    flt = SecretFilter([SIGNING_SECRET])
    text = (
        f"token={BOT_TOKEN} app={APP_TOKEN} secret={SIGNING_SECRET} sig=v0={'a' * 64} "
        "body: team_id=T1&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1%2F123%2Fabc&text=status "
        '{"response_url": "https://hooks.slack.com/commands/T1/456/def"} https://hooks.slack.com/commands/T/1/x'
    )
    clean = flt.redact(text)
    for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, "a" * 64, "123%2Fabc", "456/def", "/1/x"):
        assert secret not in clean
    assert "text=status" in clean and "team_id=T1" in clean

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sent %s to %s", (BOT_TOKEN, "somewhere"), None)
    assert flt.filter(record) and record.getMessage() == "sent xox*-*** to somewhere"
    everything = SecretFilter(all_urls=True)
    assert everything.redact("Sending a request - url: http://127.0.0.1:9/commands/T/1/k") == (
        "Sending a request - url: <url>"
    )


def test_the_replay_guard_remembers_triggers_for_a_while() -> None:
    clock = FakeClock()
    guard = ReplayGuard(ttl=60, max_entries=3, clock=clock.monotonic)
    assert guard.first_time("a") and not guard.first_time("a")
    clock.advance(61)
    assert guard.first_time("a")  # long gone: Slack never repeats a trigger that late
    for key in ("b", "c", "d"):
        assert guard.first_time(key)
    assert guard.first_time("a")  # bounded memory: the oldest was dropped
