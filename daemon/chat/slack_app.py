"""The Slack side of chat commands: a slack-bolt ``App`` with one ``/dockyard`` handler.

Served at ``POST /slack/events`` of the daemon's HTTP server (:meth:`SlackChat.handle_http` hands
the raw body to ``App.dispatch``), and over Socket Mode when ``SLACK_APP_TOKEN`` is set.

Environment::

    SLACK_SIGNING_SECRET   verifies requests over HTTP (enables /slack/events)
    SLACK_APP_TOKEN        xapp-... : Socket Mode instead of (or besides) HTTP
    SLACK_BOT_TOKEN        xoxb-... : required with either; scopes: commands, usergroups:read
    SLACK_API_URL          Web API base URL (default https://slack.com/api/)

Security, in the order a request meets it:

1. the HTTP server caps bodies at 1 MiB before reading them;
2. :meth:`SlackChat.handle_http` checks ``X-Slack-Signature`` (HMAC-SHA256 of the raw body,
   compared in constant time; timestamps more than 5 minutes off are refused) before anything
   parses the body (401), and Bolt's ``RequestVerification`` checks it again;
3. :class:`ReplayGuard` acknowledges Slack retries (``X-Slack-Retry-Num``) without running them,
   and runs each ``trigger_id`` once, so neither a retry nor a replayed signed request runs a
   command twice;
4. the command handler acknowledges at once (Slack wants an answer within 3 seconds) and does
   the work in Bolt's listener thread, answering through ``response_url``.

No token, signing secret or ``response_url`` is ever logged: the loggers Bolt and slack_sdk use
here carry :class:`SecretFilter`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse, Respond
from slack_bolt.middleware import Middleware

from daemon.chat.authz import GroupDirectory
from daemon.chat.config import EVENTS_PATH, SlackConfig
from daemon.chat.gitops import GitOps
from daemon.chat.ports import ChatPorts
from daemon.chat.service import ChatService, Invocation
from daemon.chat.views import Reply, escape, notice_view
from daemon.edges.http import Request, Response
from daemon.errors import ConfigError, DockyardError

_log = logging.getLogger(__name__)

#: How far a request's timestamp may be from now (Slack's own rule): older ones are replays.
_SIGNATURE_WINDOW_SECONDS = 300


#: The loggers slack_sdk uses without letting us pass our own (``respond()`` builds its client).
_SDK_LOGGERS = ("slack_sdk.webhook.client", "slack_sdk.web.base_client", "slack_sdk.web.client")


# --- log hygiene -----------------------------------------------------------------------------------

_TOKEN = re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+")
_RESPONSE_URL = re.compile(r"(response_url['\"]?\s*[:=]\s*['\"]?)[^'\"&\s,}]+")
_SIGNATURE = re.compile(r"\bv0=[0-9a-f]{64}\b")
_HOOKS = re.compile(r"https?://hooks\.slack\.com/\S+")
_ANY_URL = re.compile(r"https?://\S+")


class SecretFilter(logging.Filter):
    """Rewrites log records so tokens, signatures, secrets and response URLs never reach a handler.

    ``all_urls`` blanks every URL: for the webhook client, whose only URL is a response_url.
    """

    def __init__(self, secrets: Iterable[str] = (), *, all_urls: bool = False) -> None:
        super().__init__()
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        self.all_urls = all_urls

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        text = _TOKEN.sub("xox*-***", text)
        text = _RESPONSE_URL.sub(r"\1***", text)
        text = _SIGNATURE.sub("v0=***", text)
        text = _HOOKS.sub("<response_url>", text)
        if self.all_urls:
            text = _ANY_URL.sub("<url>", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logging module's problem, not ours
            return True
        clean = self.redact(message)
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def _install_filter(logger: logging.Logger, secrets: Iterable[str], *, all_urls: bool = False) -> None:
    for existing in logger.filters:
        if isinstance(existing, SecretFilter):
            existing.secrets = tuple(sorted({*existing.secrets, *secrets}, key=len, reverse=True))
            existing.all_urls = existing.all_urls or all_urls
            return
    logger.addFilter(SecretFilter(secrets, all_urls=all_urls))


# --- replays -----------------------------------------------------------------------------------------


class ReplayGuard(Middleware):
    """Runs after signature verification: acknowledges retries and repeated trigger ids unrun."""

    def __init__(self, *, ttl: float = 900.0, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            while self._seen and (next(iter(self._seen.values())) <= now or len(self._seen) >= self._max):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now + self._ttl
            return True

    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,
        next: Callable[[], BoltResponse],  # Bolt's keyword
    ) -> BoltResponse | None:
        retry = req.headers.get("x-slack-retry-num")
        if retry:
            reason = (req.headers.get("x-slack-retry-reason") or ["unknown"])[0]
            _log.info("acknowledged Slack retry %s (%s) without running it again", retry[0], reason)
            return BoltResponse(status=200, body="")
        body = req.body if isinstance(req.body, dict) else {}
        trigger = body.get("trigger_id")
        if isinstance(trigger, str) and trigger and not self.first_time(trigger):
            _log.warning("acknowledged a repeated delivery of trigger %s without running it again", trigger[:24])
            return BoltResponse(status=200, body="")
        return next()


def _answerer(respond: Respond) -> Callable[[Reply], None]:
    def answer(reply: Reply) -> None:
        result = respond(**reply.payload())
        status = getattr(result, "status_code", 200)
        if status >= 300:
            _log.warning("Slack refused an answer through response_url (HTTP %s)", status)

    return answer


#: What a command payload carries that the leader needs to run and answer it (nothing else).
_FORWARDED_FIELDS = (
    "command",
    "text",
    "user_id",
    "user_name",
    "channel_id",
    "channel_name",
    "team_id",
    "trigger_id",
    "response_url",
)


def _forwardable(body: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(body[k]) for k in _FORWARDED_FIELDS if isinstance(body.get(k), str)}


# --- the app -----------------------------------------------------------------------------------------


class SlackChat:
    """The Bolt app, its HTTP adapter and (optionally) its Socket Mode connection."""

    def __init__(
        self, ports: ChatPorts, gitops: GitOps, config: SlackConfig, *, workers: int = 16, **service_options: Any
    ) -> None:
        if not config.bot_token:
            raise ConfigError(
                "Slack commands are configured (SLACK_SIGNING_SECRET or SLACK_APP_TOKEN) but SLACK_BOT_TOKEN is "
                "not set; give the app's bot token (xoxb-...) with the commands and usergroups:read scopes"
            )
        # Group lookups go through this app's Web API client, and only when a command needs them.
        groups = GroupDirectory(self.list_group_members)
        self.service = ChatService(ports, gitops, groups=groups, **service_options)
        self._ports = ports
        self.config = config
        self.logger = logging.getLogger("dockyard.chat.bolt")
        _install_filter(self.logger, config.secrets)
        for name in _SDK_LOGGERS:
            _install_filter(logging.getLogger(name), config.secrets, all_urls=name.endswith("webhook.client"))
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dockyard-chat")
        self.app = App(
            name="dockyard",
            logger=self.logger,
            token=config.bot_token,
            signing_secret=config.signing_secret or "",
            token_verification_enabled=False,  # no network at startup
            listener_executor=self._executor,
        )
        # Bolt builds its Web API client from the token; point it at SLACK_API_URL (tests, proxies).
        self.app.client.base_url = config.api_url
        self.app.client.timeout = 10
        self.guard = ReplayGuard()
        self.app.use(self.guard)
        self.app.command(config.command)(self._on_command)
        self._socket: Any = None
        self._closed = threading.Event()

    def list_group_members(self, group: str) -> list[str]:
        """``usergroups.users.list``: the user ids in a Slack user group."""
        response = self.app.client.usergroups_users_list(usergroup=group)
        users = response.get("users") or []
        return [u for u in users if isinstance(u, str)]

    # --- the command handler (runs in Bolt's listener executor) -----------------------------

    def _on_command(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        prepared = self.service.prepare(Invocation.from_payload(body))
        ports = self._ports
        if ports.hand_to_leader is not None and not ports.is_leader() and prepared.command is not None:
            # Only the leader runs commands: this replica acknowledges and hands it over.
            try:
                ports.hand_to_leader(_forwardable(body))
            except DockyardError as e:
                _log.warning("cannot hand a chat command to the leader: %s", e)
                ack(**notice_view("⏳", "Dockyard is changing leaders", ["Try again in a few seconds."]).payload())
                return
            ack(**(prepared.ack or notice_view("⏳", f"Working on `{escape(prepared.command.text())}`…")).payload())
            return
        if prepared.ack is None:
            ack()
        else:
            ack(**prepared.ack.payload())
        # Still in the listener thread: the HTTP response has gone out with the ack above.
        self.service.run(prepared, _answerer(respond))

    def run_handed_over(self, body: Mapping[str, Any]) -> None:
        """Runs a command a standby received (the leader, from its inbox); answers through the
        command's response_url as if it had arrived here."""
        prepared = self.service.prepare(Invocation.from_payload(body))
        url = body.get("response_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            _log.warning("a handed-over chat command has no response_url; it was not run")
            return
        self._executor.submit(self.service.run, prepared, _answerer(Respond(response_url=url)))

    # --- transports ---------------------------------------------------------------------------

    def handle_http(self, request: Request) -> Response:
        """The route handler of ``POST /slack/events``.

        The signature is checked on the raw bytes before anything parses them: Bolt's request
        object parses the body as it is built, and unsigned junk must not reach a parser.
        """
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not self._signed(request.body, timestamp, signature):
            return Response.json({"error": "invalid request"}, 401)
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            return Response.json({"error": "the body is not UTF-8"}, 400)
        bolt_request = BoltRequest(body=body, headers=dict(request.headers), mode="http")
        result = self.app.dispatch(bolt_request)
        headers = result.first_headers_without_set_cookie()
        content_type = headers.pop("content-type", "text/plain; charset=utf-8")
        headers.pop("content-length", None)
        return Response(result.status, (result.body or "").encode(), content_type, headers)

    def _signed(self, body: bytes, timestamp: str, signature: str) -> bool:
        """Slack's v0 signature of the raw bytes, within 5 minutes (slack_sdk's verifier decodes
        the body first, so bytes that are not UTF-8 would raise instead of being refused)."""
        secret = self.config.signing_secret
        if not secret or not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return False
        if abs(time.time() - int(timestamp)) > _SIGNATURE_WINDOW_SECONDS:
            return False
        base = b"v0:" + timestamp.encode() + b":" + body
        expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), signature.encode(errors="replace"))

    def start_socket_mode(self) -> None:
        """Connects over Socket Mode in the background (only with SLACK_APP_TOKEN)."""
        if not self.config.app_token or self._socket is not None:
            return
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        self._socket = SocketModeHandler(self.app, self.config.app_token, logger=self.logger)

        def connect() -> None:
            try:
                self._socket.connect()
                _log.info("connected to Slack over Socket Mode")
            except Exception as e:
                _log.error("cannot connect to Slack over Socket Mode: %s", type(e).__name__)

        threading.Thread(target=connect, name="dockyard-slack-socket", daemon=True).start()

    @property
    def transports(self) -> str:
        """How Slack reaches us, for the log."""
        modes = [f"HTTP {EVENTS_PATH}"] if self.config.signing_secret else []
        return " and ".join([*modes, *(["Socket Mode"] if self.config.app_token else [])])

    def close_when(self, stopped: threading.Event) -> None:
        """Closes once ``stopped`` is set (the daemon's stop), from a small waiting thread."""

        def wait() -> None:
            stopped.wait()
            self.close()

        threading.Thread(target=wait, name="dockyard-chat-stop", daemon=True).start()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self.service.close()
        if self._socket is not None:
            try:
                self._socket.close()
            except Exception as e:
                _log.warning("closing the Socket Mode connection failed: %s", type(e).__name__)
        self._executor.shutdown(wait=False, cancel_futures=True)


def build_chat(ports: ChatPorts, gitops: GitOps, config: SlackConfig, **service_options: Any) -> SlackChat:
    """The chat service and its Bolt app (raises ConfigError without a bot token)."""
    return SlackChat(ports, gitops, config, **service_options)
