"""The long-running daemon: builds every part from settings and wires them together.

``Daemon.start`` brings up, in order: the HTTP server, leader election, the cycle runner, the
periodic jobs and (for a local directory) the file watcher, then asks for a first cycle.
``Daemon.stop`` reverses it: the running cycle stops between objects, the lease is released so a
standby takes over at once, and the server closes.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daemon.edges.eventlog import LogSink
from daemon.edges.http import HttpServer, Request, Response
from daemon.edges.kube import KubeClient
from daemon.edges.metrics import DaemonMetrics
from daemon.edges.push_webhooks import DeliveryDeduper, parse_push, verify_github, verify_gitlab
from daemon.edges.source import GitSource, LocalSource
from daemon.edges.watcher import ChangeWatcher
from daemon.engine.apply import ResourceManager
from daemon.engine.reconcile import Reconciler, ReconcileSettings, Source
from daemon.engine.scheduler import CycleRunner, DaemonScheduler
from daemon.errors import SourceError, WebhookError
from daemon.model.events import Event, EventSink, FanOutSink
from daemon.model.kinds import PlatformModel
from daemon.model.refs import Revision
from daemon.runtime.settings import DaemonSettings
from daemon.state.history import HistoryStore
from daemon.state.inventory import InventoryStore
from daemon.state.lease import LeaderElector
from daemon.state.pauses import PauseStore
from notifiers.service import NotificationService, NotifierSettings

log = logging.getLogger(__name__)


class SubdirSource:
    """A source whose platform repo lives in a subdirectory of the git repository."""

    def __init__(self, inner: Source, subdir: str) -> None:
        self._inner = inner
        self._subdir = subdir

    def fetch(self) -> Revision:
        revision = self._inner.fetch()
        path = Path(revision.path) / self._subdir
        if not path.is_dir():
            raise SourceError(f"revision {revision.sha[:8]} has no directory {self._subdir!r}")
        return Revision(revision.sha, str(path), revision.author, revision.message)

    def describe(self) -> str:
        return f"{self._inner.describe()}//{self._subdir}"


def build_source(settings: DaemonSettings) -> tuple[Source, Path | None]:
    """The source for ``--repo``, and the directory to watch for changes in local mode."""
    repo = settings.repo
    local = Path(repo)
    if "://" not in repo and local.is_dir() and not _is_bare_repo(local):
        return LocalSource(local), local
    source: Source = GitSource(
        repo,
        workdir=settings.workdir / "git",
        branch=settings.branch,
        tag=settings.tag,
        commit=settings.commit,
        token=settings.git_token,
        ssh_key=settings.ssh_key,
    )
    if settings.subdir:
        source = SubdirSource(source, settings.subdir)
    return source, None


def _is_bare_repo(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and not (path / ".git").exists()


class Daemon:
    def __init__(
        self,
        settings: DaemonSettings,
        *,
        extra_sinks: tuple[EventSink, ...] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        #: the one clock of the daemon (windows, schedules, backups, alerts); tests inject it
        self.clock = clock
        settings.workdir.mkdir(parents=True, exist_ok=True)
        self.kube = KubeClient(settings.kubeconfig, context=settings.context, max_connections=settings.concurrency + 4)
        self.metrics = DaemonMetrics()
        self.metrics.watch_api_requests(lambda: dict(self.kube.requests))
        self.source, self._watch_dir = build_source(settings)
        self.history = HistoryStore(self.kube, namespace=settings.namespace)
        self.pauses = PauseStore(self.kube, namespace=settings.namespace)
        manager = ResourceManager(
            self.kube,
            concurrency=settings.concurrency,
            inventory=InventoryStore(self.kube, namespace=settings.namespace),
        )
        # Events are persisted in the outbox before delivery; the JSON log line is for operators.
        self.notifications = NotificationService(
            outbox_path=settings.workdir / "notifications.sqlite",
            registry=self.metrics.registry,
            settings=NotifierSettings.from_env(os.environ),
        )
        self.sink: EventSink = FanOutSink(
            LogSink(logging.getLogger("dockyard.events")), self.notifications, *extra_sinks
        )
        self.elector: LeaderElector | None = None
        if settings.leader_elect:
            self.elector = LeaderElector(
                self.kube,
                namespace=settings.namespace,
                name="dockyard-leader",
                identity=settings.identity,
                lease_seconds=settings.lease_seconds,
                renew_every=settings.renew_seconds,
            )
        self.reconciler = Reconciler(
            self.source,
            manager,
            self.sink,
            metrics=self.metrics,
            history=self.history,
            pauses=self.pauses,
            settings=ReconcileSettings(
                health_timeout=settings.health_timeout,
                backoff_base=settings.backoff_base,
                backoff_cap=settings.backoff_cap,
                force_conflicts=settings.force_conflicts,
            ),
            is_leader=self.is_leader,
            on_model=self._on_model,
            clock=clock,
        )
        self.runner = CycleRunner(self.reconciler)
        self.scheduler = DaemonScheduler(
            self.runner,
            poll_seconds=settings.interval_seconds or 60.0,
            drift_seconds=settings.drift_interval_seconds or 300.0,
        )
        self.server: HttpServer | None = None
        if settings.listen is not None:
            self.server = HttpServer(*settings.listen, registry=self.metrics.registry)
            self._add_routes(self.server)
        self._watcher: ChangeWatcher | None = None
        self._deduper = DeliveryDeduper()
        self._stopped = threading.Event()
        self.model_listeners: list[Callable[[PlatformModel], None]] = []
        self._attach_chat()
        self._attach_backups()
        self._attach_alerts()

    def _attach_chat(self) -> None:
        """Slack slash commands, when Slack credentials are configured (see daemon.chat)."""
        # Imported here: without Slack settings the daemon never loads slack-bolt.
        from daemon.chat.gitops import GitOps
        from daemon.chat.ports import ChatPorts
        from daemon.chat.slack_app import EVENTS_PATH, SlackConfig, build_chat

        config = SlackConfig.from_env(os.environ)
        if not config.enabled:
            return
        settings = self.settings
        if isinstance(self.source, LocalSource):
            gitops = GitOps.for_local(Path(settings.repo))
        else:
            # The daemon's own URL and credentials, in a cache of its own next to the daemon's.
            gitops = GitOps.for_remote(
                settings.repo,
                workdir=settings.workdir / "chat-git",
                branch=settings.branch,
                tag=settings.tag,
                commit=settings.commit,
                token=settings.git_token,
                ssh_key=settings.ssh_key,
                subdir=settings.subdir,
            )
        runner = self.runner
        ports = ChatPorts(
            snapshot=self.reconciler.snapshot,
            request_cycle=runner.request,
            cycles_run=lambda: runner.cycles_run,
            is_leader=self.is_leader,
            pauses=self.pauses,
            history=self.history,
            emit=self.emit,
            kube=self.kube,
            source=self.source.describe(),
        )
        chat = build_chat(ports, gitops, config)
        self.chat = chat
        self.model_listeners.append(chat.service.update_model)
        if config.signing_secret and self.server is not None:
            self.server.route("POST", EVENTS_PATH, chat.handle_http)
        if config.app_token:
            chat.start_socket_mode()
        # Daemon.stop sets _stopped: then follow-ups stop waiting and Socket Mode disconnects.
        chat.close_when(self._stopped)
        log.info("Slack commands enabled over %s; their commits go to %s", chat.transports, gitops.describe())

    def _attach_backups(self) -> None:
        """Scheduled Volume snapshots, their retention and restore announcements (daemon.backups)."""
        from daemon.engine.backups import BackupManager

        # Through Daemon.emit, so backup events are counted in the daemon's metrics too. The
        # reconciler holds the clock the daemon was given: an injected clock moves both.
        self.backups = BackupManager(self.kube, self, self.clock)

        def run() -> None:
            # Only the leader snapshots (inside scheduled_run); nothing starts once stopping.
            if not self._stopped.is_set():
                self.backups.scheduled_run(self.is_leader, lambda: self.reconciler.snapshot().model)

        self.scheduler.add_job(run, seconds=60, job_id="backups")

    def _attach_alerts(self) -> None:
        """Alert rules of Policies, evaluated every 30 s (see daemon.alerts)."""
        from daemon.engine.alerts import INTERVAL_SECONDS, AlertEvaluator

        # Through Daemon.emit, so alert events are counted in the daemon's metrics too.
        self.alerts = AlertEvaluator(self.kube, self, self.clock)

        def evaluate() -> None:
            model = self.reconciler.snapshot().model
            # Only the leader announces alerts, or every replica would; none before a model
            # loads, and none once stopping (the client is about to close).
            if model is not None and self.is_leader() and not self._stopped.is_set():
                self.alerts.run(model)

        self.scheduler.add_job(evaluate, seconds=INTERVAL_SECONDS, job_id="alerts")

    # --- lifecycle ----------------------------------------------------------------------------

    def is_leader(self) -> bool:
        return self.elector is None or self.elector.is_leader

    def start(self) -> None:
        if self.server is not None:
            self.server.start()
            log.info("listening on http://%s:%d", *self.server.address)
        self.notifications.start()
        self.runner.start()
        if self.elector is not None:
            self.elector.run_in_background(self._became_leader, self._lost_leadership)
        self.scheduler.start()
        if self._watch_dir is not None and self.settings.watch_files:
            self._watcher = ChangeWatcher(self._watch_dir, lambda: self.runner.request("watch"))
            self._watcher.start()
        self.runner.request("poll")
        log.info("dockyard is running against %s", self.source.describe())
        if self.settings.ready_note:
            threading.Thread(target=self._print_ready_note, name="ready-note", daemon=True).start()

    def _print_ready_note(self) -> None:
        while not self._stopped.wait(0.5):
            if self.reconciler.snapshot().ready:
                for line in self.settings.ready_note.strip("\n").splitlines():
                    log.info("%s", line)
                return

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        log.info("stopping: finishing the current object, then exiting")
        if self._watcher is not None:
            self._watcher.stop()
        self.scheduler.shutdown()
        self.runner.stop()
        if self.elector is not None:
            self.elector.stop(release=True)
        if self.server is not None:
            self.server.stop()
        self.notifications.stop(timeout=10)
        self.kube.close()

    def wait(self) -> None:
        self._stopped.wait()

    def _became_leader(self) -> None:
        log.info("%s is now the leader", self.settings.identity)
        self.metrics.leader.set(1)
        self.runner.request("poll")

    def _lost_leadership(self) -> None:
        log.warning("%s lost leadership; standing by", self.settings.identity)
        self.metrics.leader.set(0)

    def _on_model(self, model: PlatformModel) -> None:
        sync = model.platform.sync
        self.scheduler.reschedule(
            poll_seconds=self.settings.interval_seconds or sync.interval_seconds,
            drift_seconds=self.settings.drift_interval_seconds or sync.drift_check_interval_seconds,
        )
        self.notifications.reconfigure(model)
        for listener in self.model_listeners:
            listener(model)

    def emit(self, event: Event) -> None:
        self.metrics.count_event(event)
        self.sink.emit(event)

    # --- HTTP -----------------------------------------------------------------------------------

    def _add_routes(self, server: HttpServer) -> None:
        server.route("GET", "/healthz", lambda _: Response.text("ok\n"))
        server.route("GET", "/readyz", self._readyz)
        server.route("GET", "/status", self._status)
        server.route("POST", "/webhook/github", lambda r: self._webhook("github", r))
        server.route("POST", "/webhook/gitlab", lambda r: self._webhook("gitlab", r))

    def _readyz(self, _: Request) -> Response:
        state = self.reconciler.snapshot()
        if state.ready:
            return Response.text("ready\n")
        return Response.text(f"not ready: no successful sync yet (last result: {state.last_result})\n", 503)

    def _status(self, _: Request) -> Response:
        return Response.json(status_document(self))

    def _webhook(self, provider: str, request: Request) -> Response:
        secret = self.settings.webhook_secret
        if not secret:
            return Response.text("webhooks are disabled: no secret configured\n", 404)
        if provider == "github":
            valid = verify_github(request.headers, request.body, secret)
        else:
            valid = verify_gitlab(request.headers, secret)
        if not valid:
            return Response.text("invalid signature\n", 401)
        try:
            push = parse_push("github" if provider == "github" else "gitlab", request.headers, request.body)
        except WebhookError as e:
            return Response.text(f"bad payload: {e}\n", 400)
        if push is None:
            return Response.text("ignored: not a push\n", 202)
        if push.delivery_id and self._deduper.seen(push.delivery_id):
            return Response.text("duplicate delivery ignored\n", 202)
        self.runner.request("webhook")
        return Response.text("sync requested\n", 202)


def status_document(daemon: Daemon) -> dict[str, Any]:
    state = daemon.reconciler.snapshot()
    revision = state.revision
    return {
        "identity": daemon.settings.identity,
        "leader": daemon.is_leader(),
        "ready": state.ready,
        "source": daemon.source.describe(),
        "revision": {"sha": revision.sha, "author": revision.author, "message": revision.message} if revision else None,
        "appliedRevision": state.applied_sha,
        "lastResult": state.last_result,
        "lastSync": state.last_sync_time.isoformat() if state.last_sync_time else None,
        "plan": state.last_plan_counts,
        "pending": list(state.pending_changes),
        "deferred": state.deferred,
        "degraded": state.degraded,
        "fetchError": state.fetch_error or None,
        "paused": sorted(daemon.pauses.paused()) if daemon.is_leader() else [],
        "pid": os.getpid(),
    }
