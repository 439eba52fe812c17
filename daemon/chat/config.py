"""Slack settings of the chat front end, read at the edge; importing this never loads slack-bolt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_API_URL = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
COMMAND = "/dockyard"


@dataclass(frozen=True)
class SlackConfig:
    """Slack credentials from the environment; ``repr`` never shows them."""

    signing_secret: str | None = field(default=None, repr=False)
    bot_token: str | None = field(default=None, repr=False)
    app_token: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    command: str = COMMAND

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SlackConfig:
        return cls(
            signing_secret=environ.get("SLACK_SIGNING_SECRET") or None,
            bot_token=environ.get("SLACK_BOT_TOKEN") or None,
            app_token=environ.get("SLACK_APP_TOKEN") or None,
            api_url=environ.get("SLACK_API_URL") or DEFAULT_API_URL,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.signing_secret or self.app_token)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.signing_secret, self.bot_token, self.app_token) if s)
