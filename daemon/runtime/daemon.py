"""The long-running daemon: wires the parts together from its settings; ``start`` starts them.

:func:`open_edges` opens the daemon's connections to the world (the kubeconfig, the notification
outbox, the platform repo); :class:`Daemon` only wires parts together and does nothing until
``start``, which brings up, in order: the HTTP server, the notification delivery, the cycle
runner, leader election, the periodic jobs, Slack's Socket Mode and (for a local directory) the
file watcher, then asks for a first cycle. ``stop`` reverses it: the running cycle stops between
objects, the lease is released so a standby takes over at once, and the server closes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.console.ports import RecentEvents
from daemon.edges.eventlog import LogSink
from daemon.edges.http import HttpServer
from daemon.edges.kube import KubeClient
from daemon.edges.metrics import DaemonMetrics
from daemon.edges.source import GitSource, LocalSource
from daemon.edges.watch import LiveCache
from daemon.edges.watcher import ChangeWatcher
from daemon.engine.alerts import INTERVAL_SECONDS as ALERT_INTERVAL_SECONDS
from daemon.engine.alerts import AlertEvaluator
from daemon.engine.apply import ResourceManager, slim_live
from daemon.engine.backups import BackupManager
from daemon.engine.clusterhealth import INTERVAL_SECONDS as HEALTH_INTERVAL_SECONDS
from daemon.engine.clusterhealth import ClusterWatcher
from daemon.engine.fleet import ClusterEvents, ClusterHistory, CycleSource, Fleet, MoveGates, Target
from daemon.engine.jobs import INTERVAL_SECONDS as JOB_CHECK_SECONDS
from daemon.engine.jobs import JobMonitor
from daemon.engine.mr_review import MergeRequestReviewer
from daemon.engine.reconcile import Reconciler, ReconcileSettings, Source
from daemon.engine.scaling import INTERVAL_SECONDS as SCALING_INTERVAL_SECONDS
from daemon.engine.scaling import ScalingWatcher
from daemon.engine.scheduler import CycleRunner, DaemonScheduler, Debounced
from daemon.engine.secrets import SecretOpener
from daemon.errors import ConfigError, DockyardError
from daemon.model.clusters import Cluster, remote_clusters, target
from daemon.model.events import EventSink
from daemon.model.forge import MergeRequest
from daemon.model.kinds import PlatformModel
from daemon.model.refs import ObjRef, Revision
from daemon.policy.clusterhealth import DockyardSignals
from daemon.policy.review import Comparison
from daemon.policy.scaling import ScheduledScaling
from daemon.render.clusters import for_cluster
from daemon.runtime.bus import EventBus
from daemon.runtime.connect import ClusterConnector
from daemon.runtime.endpoints import Endpoints
from daemon.runtime.settings import DaemonSettings
from daemon.state.history import HistoryStore, Retention
from daemon.state.inbox import Inbox, InboxRequest
from daemon.state.inventory import InventoryStore
from daemon.state.lease import LeaderElector
from daemon.state.pauses import PauseStore
from daemon.state.shards import ShardKeeper
from daemon.views import cycle as say_cycle
from daemon.views.audit import audit_pruned, audit_pruned_record
from notifiers.service import NotificationService

if TYPE_CHECKING:  # importing it at run time would load slack-bolt
    from daemon.chat.gitops import GitOps
    from daemon.chat.slack_app import SlackChat
    from daemon.console.app import Console

log = logging.getLogger(__name__)

#: How often the leader looks for Volume backups that are due.
BACKUP_INTERVAL_SECONDS = 60
#: How often the leader takes the requests standbys received (webhooks, Slack commands).
INBOX_INTERVAL_SECONDS = 1
#: How often the leader applies the audit trail's retention.
AUDIT_PRUNE_INTERVAL_SECONDS = 3600

#: A change to a managed object asks for a drift cycle this long after the first of a burst.
DRIFT_DEBOUNCE_SECONDS = 0.5


@dataclass(frozen=True)
class Edges:
    """The daemon's connections to the world; :func:`open_edges` opens them from settings."""

    kube: KubeClient
    notifications: NotificationService
    source: Source
    #: the other clusters the daemon drives, by name (settings.cluster.targets)
    targets: tuple[tuple[str, KubeClient], ...] = ()


def open_edges(settings: DaemonSettings, metrics: DaemonMetrics) -> Edges:
    settings.workdir.mkdir(parents=True, exist_ok=True)
    cluster = settings.cluster
    kube = KubeClient(cluster.kubeconfig, context=cluster.context, max_connections=cluster.concurrency + 4)
    metrics.watch_api_requests(lambda: dict(kube.requests))
    notifications = NotificationService(
        outbox_path=settings.workdir / "notifications.sqlite",
        registry=metrics.registry,
        settings=settings.notifications,
    )
    source: Source
    trusted = settings.source.trusted_keys
    if settings.source.remote is not None:
        source = GitSource(settings.source.remote, workdir=settings.workdir / "git", trusted=trusted)
    else:
        assert settings.source.local_path is not None
        source = LocalSource(settings.source.local_path, trusted=trusted, workdir=settings.workdir / "local")
    targets = tuple(
        (t.name, KubeClient(t.kubeconfig, context=t.context, max_connections=cluster.concurrency + 4))
        for t in cluster.targets
    )
    return Edges(kube, notifications, source, targets)


@dataclass(frozen=True)
class _ReconcilerPorts:
    """What one cluster's reconciler is given besides what every cluster shares."""

    manager: ResourceManager
    on_scheduled_scaling: Callable[[ScheduledScaling], None] = lambda _: None
    on_model: Callable[[PlatformModel], None] = lambda _: None


@dataclass(frozen=True)
class _RemoteWatchers:
    """What the leader watches between cycles on a cluster other than its home one: each sees
    only the tenants placed there (``render.clusters.for_cluster``)."""

    scaling: ScalingWatcher
    health: ClusterWatcher
    backups: BackupManager
    alerts: AlertEvaluator


def _inventory_in(kube: KubeClient, live: LiveCache, namespace: str) -> InventoryStore:
    """The inventory kept in ``kube``'s cluster, its pieces read from ``live``'s watches."""

    def pieces() -> list[Mapping[str, Any]]:
        return list(live.objects([kube.resource_type("v1", "ConfigMap")], inventory.selector).values())

    inventory = InventoryStore(kube, namespace=namespace, list_pieces=pieces, on_written=live.observe)
    return inventory


class Daemon:
    def __init__(
        self,
        settings: DaemonSettings,
        edges: Edges,
        metrics: DaemonMetrics,
        *,
        extra_sinks: tuple[EventSink, ...] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        #: the one clock of the daemon (windows, schedules, backups, alerts); tests inject it
        self.clock = clock
        self.metrics = metrics
        self.kube = edges.kube
        self.notifications = edges.notifications
        self.source = edges.source
        namespace = settings.cluster.namespace
        self.history = HistoryStore(self.kube, namespace=namespace)
        self.pauses = PauseStore(self.kube, namespace=namespace)
        self.inbox = Inbox(self.kube, namespace=namespace)
        self.recent_events = RecentEvents()
        # Events are counted, persisted in the outbox before delivery, and logged for operators.
        self.events = EventBus(
            metrics,
            (LogSink(logging.getLogger("dockyard.events")), self.notifications, self.recent_events, *extra_sinks),
        )
        leader = settings.leader
        self.elector: LeaderElector | None = None
        if leader.enabled:
            self.elector = LeaderElector(
                self.kube,
                namespace=namespace,
                name="dockyard-leader",
                identity=leader.identity,
                lease_seconds=leader.lease_seconds,
                renew_every=leader.renew_seconds,
            )
        # A sharded platform: this replica applies the tenants of the shards it holds.
        self.shard_keeper: ShardKeeper | None = None
        if leader.enabled and leader.shards > 1:
            self.shard_keeper = ShardKeeper(
                self.kube,
                namespace=namespace,
                identity=leader.identity,
                count=leader.shards,
                lease_seconds=leader.lease_seconds,
                renew_every=leader.renew_seconds,
                # A shard gained is applied now, not at the next poll.
                on_change=lambda _held: self.runner.request("poll"),
            )
        cluster = settings.cluster
        # What the watchers of the home cluster tell names it once the daemon drives several.
        home_events = ClusterEvents(self.events, self._home_name)
        self.scaling = ScalingWatcher(self.kube, home_events, clock)
        self.alerts = AlertEvaluator(self.kube, home_events, clock)
        self.cluster_health = ClusterWatcher(self.kube, home_events, clock, dockyard=self._dockyard_signals)
        # Live state from watches: a cycle with nothing new costs no list requests, and a change
        # to a managed object (drift) asks for a cycle within seconds.
        self.live = LiveCache(self.kube, slim=slim_live, on_change=self._changed_live)
        inventory = InventoryStore(
            self.kube, namespace=namespace, list_pieces=self._inventory_pieces, on_written=self.live.observe
        )
        home = _ReconcilerPorts(
            ResourceManager(
                self.kube,
                concurrency=cluster.concurrency,
                inventory=inventory,
                live_cache=self.live,
                wall_clock=clock,
            ),
            on_scheduled_scaling=self.scaling.expect,
            on_model=self._on_model,
        )
        self._connector = ClusterConnector(cluster, self.kube)
        # The autoscaling and cluster-health watchers of the other clusters, by name.
        self._remote_watchers: dict[str, _RemoteWatchers] = {}
        self._source = CycleSource(self.source)
        self._gates = MoveGates()
        home_target = Target(cluster.name or "", self._reconciler_for(cluster.name, home, home=True))
        pinned = [self._target(name, kube, pinned=True) for name, kube in edges.targets]
        if pinned and cluster.name is None:
            raise ConfigError("--target needs --cluster: the name in spec.clusters of the cluster --kubeconfig reaches")
        # The home cluster first, then every other cluster this daemon drives; more join when the
        # platform file names them with a connection (see Fleet, and Daemon.wanted/join below).
        self.fleet = Fleet([home_target, *pinned], source=self._source, joiner=self, gates=self._gates)
        self.reconciler = self.fleet.home
        self.runner = CycleRunner(self.fleet)
        self._drift_soon = Debounced(lambda: self.runner.request("change"), DRIFT_DEBOUNCE_SECONDS)
        self._inventory_selector = inventory.selector
        self.scheduler = DaemonScheduler(
            self.runner,
            poll_seconds=settings.schedule.interval_seconds or 60.0,
            drift_seconds=settings.schedule.drift_interval_seconds or 300.0,
        )
        self.reviews = self._wire_reviews()
        self.endpoints = Endpoints(
            identity=leader.identity,
            source=self.source.describe(),
            snapshot=self.reconciler.snapshot,
            is_leader=self.is_leader,
            paused=self.pauses.paused,
            request_cycle=self.runner.request,
            webhook_secret=settings.http.webhook_secret,
            monitoring=self.alerts.monitoring_status,
            problems=self._open_problems,
            clusters=self.fleet.states,
            shards=self._shard_status,
            hand_to_leader=self.inbox.put,
            reviews=self.reviews,
        )
        self.server: HttpServer | None = None
        if settings.http.listen is not None:
            self.server = HttpServer(*settings.http.listen, registry=metrics.registry)
            self.endpoints.add_to(self.server)
        self._watcher: ChangeWatcher | None = None
        self._stopped = threading.Event()
        self.model_listeners: list[Callable[[PlatformModel], None]] = []
        # The reconciler holds the clock the daemon was given: an injected clock moves them all.
        self.backups = BackupManager(self.kube, home_events, clock)
        self.jobs = JobMonitor(self.kube, home_events)
        self._shared_gitops: GitOps | None = None
        self.chat = self._wire_chat()
        self.console = self._wire_console()

    def _reconciler_for(
        self, name: str | None, ports: _ReconcilerPorts, *, home: bool = False, named_by_platform: bool = False
    ) -> Reconciler:
        """The reconciler of one cluster. Its events and audit records name the cluster once the
        daemon drives more than one; the home cluster's name, without --cluster, is the platform's
        default cluster."""
        settings = self.settings
        cluster = settings.cluster
        named = self._home_name if home else lambda: name
        return Reconciler(
            self._source,
            ports.manager,
            ClusterEvents(self.events, named),
            metrics=self.metrics,
            history=ClusterHistory(self.history, named),
            pauses=self.pauses,
            settings=ReconcileSettings(
                health_timeout=cluster.health_timeout,
                backoff_base=settings.schedule.backoff_base,
                backoff_cap=settings.schedule.backoff_cap,
                force_conflicts=cluster.force_conflicts,
                require_signed_commits=settings.source.require_signed_commits,
                reserved_namespaces=(cluster.namespace,),
                cluster=name,
                named_by_platform=named_by_platform,
            ),
            is_leader=self.is_leader,
            on_model=ports.on_model,
            on_scheduled_scaling=ports.on_scheduled_scaling,
            clock=self.clock,
            secrets=SecretOpener(settings.secrets.age_keys),
            moves=self._gates.gate(name),
            shards=self.shard_keeper,
        )

    def _shard_status(self) -> dict[str, Any] | None:
        keeper = self.shard_keeper
        if keeper is None:
            return None
        return {"count": keeper.count, "held": sorted(keeper.held), "replicas": list(keeper.members)}

    def _home_name(self) -> str | None:
        """The home cluster's name in events and records: None while it is the only one driven."""
        fleet = getattr(self, "fleet", None)
        if fleet is None or len(fleet.targets) == 1:
            return None
        model = fleet.home.snapshot().model
        return target(model.platform.clusters, self.settings.cluster.name) if model is not None else None

    def _target(self, name: str, kube: KubeClient, *, pinned: bool = False) -> Target:
        """A cluster driven from afar: its own live cache, inventory (kept in that cluster), health
        and back-off. The platform's model, scheduled scaling, backups and alerts are followed on
        the home cluster."""
        live = LiveCache(kube, slim=slim_live, on_change=self._changed_live)
        manager = ResourceManager(
            kube,
            concurrency=self.settings.cluster.concurrency,
            inventory=_inventory_in(kube, live, self.settings.cluster.namespace),
            live_cache=live,
            wall_clock=self.clock,
        )

        events = ClusterEvents(self.events, lambda: name)
        self._remote_watchers[name] = _RemoteWatchers(
            ScalingWatcher(kube, events, self.clock),
            # Dockyard's own signals are the home watcher's to tell: only this cluster's health here.
            ClusterWatcher(kube, events, self.clock),
            BackupManager(kube, events, self.clock),
            AlertEvaluator(kube, events, self.clock),
        )

        def close() -> None:
            self._remote_watchers.pop(name, None)
            live.stop()
            kube.close()

        reconciler = self._reconciler_for(name, _ReconcilerPorts(manager), named_by_platform=not pinned)
        return Target(name, reconciler, close=close, pinned=pinned)

    # --- the fleet follows the platform file (engine.fleet.Joiner) ------------------------------

    def wanted(self, model: PlatformModel) -> Sequence[Cluster]:
        pinned = [t.name for t in self.settings.cluster.targets]
        return remote_clusters(model.platform.clusters, self.settings.cluster.name, pinned)

    def join(self, cluster: Cluster) -> Target:
        return self._target(cluster.name, self._connector.client(cluster))

    def unreachable(self, cluster: str, message: str) -> None:
        log.warning("cannot connect to cluster %s: %s", cluster, message)
        if self.is_leader():
            self.events.emit(say_cycle.cluster_unreachable(cluster, message))

    @classmethod
    def from_settings(
        cls,
        settings: DaemonSettings,
        *,
        extra_sinks: tuple[EventSink, ...] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> Daemon:
        metrics = DaemonMetrics()
        return cls(settings, open_edges(settings, metrics), metrics, extra_sinks=extra_sinks, clock=clock)

    def _pending_review(self, applied: str, current: Revision) -> Comparison | str:
        """``/dockyard diff``: the current revision against the applied one, from the source's git."""
        from daemon.edges.revisions import RevisionReader
        from daemon.engine.review import pending_comparison

        remote, local = self.settings.source.remote, self.settings.source.local_path
        reader: RevisionReader | None = None
        why = ""
        if remote is not None:
            reader = RevisionReader(self.settings.workdir / "git" / "cache.git", prefix=remote.subdir)
        else:
            assert local is not None
            try:
                reader = RevisionReader.at(local)
            except DockyardError as e:
                why = str(e)
        return pending_comparison(reader, applied, current, now=self.clock(), why_no_reader=why)

    def _wire_reviews(self) -> MergeRequestReviewer | None:
        """Merge-request reviews, when a forge token is configured and the repo is a Git remote."""
        forges = self.settings.forges
        remote = self.settings.source.remote
        if not forges.enabled:
            return None
        if remote is None:
            log.warning("merge-request reviews need the platform repo as a Git remote (--repo URL); they are off")
            return None
        from daemon.edges.forges import Forge, GitHubForge, GitLabForge
        from daemon.edges.git import GitRepo

        clients: dict[str, Forge] = {}
        if forges.github_token:
            clients["github"] = GitHubForge(forges.github_api_url, forges.github_token)
        if forges.gitlab_token:
            clients["gitlab"] = GitLabForge(forges.gitlab_api_url, forges.gitlab_token)
        # A cache of its own: fetching merge-request refs never disturbs the source's checkouts.
        repo = GitRepo(remote, self.settings.workdir / "review-git")
        log.info("merge-request reviews on %s for %s", ", ".join(sorted(clients)), repo.describe())
        return MergeRequestReviewer(repo, clients, subdir=remote.subdir, is_leader=self.is_leader, clock=self.clock)

    def _wire_chat(self) -> SlackChat | None:
        """Slack slash commands, when Slack credentials are configured (see daemon.chat)."""
        config = self.settings.slack
        if not config.enabled:
            return None
        # Imported here: without Slack settings the daemon never loads slack-bolt.
        from daemon.chat.ports import ChatPorts
        from daemon.chat.slack_app import build_chat

        gitops = self._gitops()
        runner = self.runner
        ports = ChatPorts(
            snapshot=self.reconciler.snapshot,
            request_cycle=runner.request,
            cycles_run=lambda: runner.cycles_run,
            is_leader=self.is_leader,
            pauses=self.pauses,
            history=self.history,
            emit=self.events.emit,
            kube=self.kube,
            source=self.source.describe(),
            hand_to_leader=lambda body: self.inbox.put(
                InboxRequest("slack-command", body, received_by=self.settings.leader.identity)
            ),
            pending_review=self._pending_review,
            clusters=self.fleet.states,
        )
        chat = build_chat(ports, gitops, config)
        self.model_listeners.append(chat.service.update_model)
        if config.signing_secret and self.server is not None:
            from daemon.chat.config import EVENTS_PATH

            self.server.route("POST", EVENTS_PATH, chat.handle_http)
        # Daemon.stop sets _stopped: then follow-ups stop waiting and Socket Mode disconnects.
        chat.close_when(self._stopped)
        log.info("Slack commands enabled over %s; their commits go to %s", chat.transports, gitops.describe())
        return chat

    def _gitops(self) -> GitOps:
        """One commit maker for chat and console: its lock keeps their commits from racing."""
        if self._shared_gitops is None:
            from daemon.chat.gitops import GitOps

            remote = self.settings.source.remote
            if remote is None:
                assert self.settings.source.local_path is not None
                self._shared_gitops = GitOps.for_local(self.settings.source.local_path)
            else:
                # The daemon's own URL and credentials, in a cache of its own next to the daemon's.
                self._shared_gitops = GitOps.for_remote(remote, workdir=self.settings.workdir / "chat-git")
        return self._shared_gitops

    def _wire_console(self) -> Console | None:
        """The web console at / (see daemon.console), unless turned off or nothing is served."""
        config = self.settings.console
        if not config.enabled or self.server is None:
            return None
        from daemon.console.app import Console, ConsoleConfig
        from daemon.console.live import LiveReader
        from daemon.console.ports import ActiveAlert, ConsolePorts

        def alerts() -> list[ActiveAlert]:
            return [ActiveAlert(k.tenant, k.app, k.rule, p, since, sev) for k, p, since, sev in self.alerts.active()]

        ports = ConsolePorts(
            snapshot=self.reconciler.snapshot,
            is_leader=self.is_leader,
            identity=self.settings.leader.identity,
            source=self.source.describe(),
            pauses=self.pauses,
            history=self.history,
            live=LiveReader(self.kube),
            request_cycle=self.runner.request,
            emit=self.events.emit,
            events=self.recent_events,
            alerts=alerts,
            outbox_backlog=self.notifications.backlog,
            clock=self.clock,
            gitops=self._gitops(),
            hand_to_leader=lambda body: self.inbox.put(
                InboxRequest("console-action", body, received_by=self.settings.leader.identity)
            ),
            clusters=self.fleet.states,
        )
        console = Console(
            ports,
            ConsoleConfig(
                proxy=config.proxy,
                tokens=config.tokens,
                session_key=config.session_key,
                session_seconds=config.session_seconds,
                public_origin=config.public_origin,
            ),
        )
        console.add_to(self.server)
        self.model_listeners.append(console.update_model)
        if not (config.proxy or config.tokens):
            log.warning(
                "the console at / lets nobody in: pass --console-trusted-proxy (behind an OIDC proxy) "
                "or --console-tokens"
            )
        if self.settings.leader.enabled and not config.session_key_shared and config.tokens:
            log.info(
                "console sessions are valid on this replica only; set DOCKYARD_CONSOLE_SESSION_KEY on every replica"
            )
        return console

    # --- lifecycle ----------------------------------------------------------------------------

    def is_leader(self) -> bool:
        return self.elector is None or self.elector.is_leader

    def start(self) -> None:
        if self.server is not None:
            self.server.start()
            log.info("listening on http://%s:%d", *self.server.address)
        self.notifications.start()
        self.runner.start()
        if self.reviews is not None:
            self.reviews.start()
        if self.elector is not None:
            self.elector.run_in_background(self._became_leader, self._lost_leadership)
        if self.shard_keeper is not None:
            self.shard_keeper.run_in_background()
        self.scheduler.add_job(self.run_backups, seconds=BACKUP_INTERVAL_SECONDS, job_id="backups")
        self.scheduler.add_job(self.run_remote_backups, seconds=BACKUP_INTERVAL_SECONDS, job_id="remote-backups")
        self.scheduler.add_job(self._evaluate_alerts, seconds=ALERT_INTERVAL_SECONDS, job_id="alerts")
        self.scheduler.add_job(self._evaluate_remote_alerts, seconds=ALERT_INTERVAL_SECONDS, job_id="remote-alerts")
        self.scheduler.add_job(self._follow_scaling, seconds=SCALING_INTERVAL_SECONDS, job_id="scaling")
        self.scheduler.add_job(self._watch_health, seconds=HEALTH_INTERVAL_SECONDS, job_id="cluster-health")
        self.scheduler.add_job(self._follow_remote_scaling, seconds=SCALING_INTERVAL_SECONDS, job_id="remote-scaling")
        self.scheduler.add_job(self._watch_remote_health, seconds=HEALTH_INTERVAL_SECONDS, job_id="remote-health")
        self.scheduler.add_job(self._check_jobs, seconds=JOB_CHECK_SECONDS, job_id="jobs")
        self.scheduler.add_job(self._take_inbox, seconds=INBOX_INTERVAL_SECONDS, job_id="inbox")
        self.scheduler.add_job(self._prune_audit, seconds=AUDIT_PRUNE_INTERVAL_SECONDS, job_id="audit")
        self.scheduler.start()
        if self.chat is not None and self.settings.slack.app_token:
            self.chat.start_socket_mode()
        local = self.settings.source.local_path
        if local is not None and self.settings.source.watch_files:
            self._watcher = ChangeWatcher(Path(local), lambda: self.runner.request("watch"))
            self._watcher.start()
        self.runner.request("poll")
        log.info("dockyard is running against %s", self.source.describe())
        if self.settings.ready_note:
            threading.Thread(target=self._log_ready_note, name="ready-note", daemon=True).start()

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        log.info("stopping: finishing the current object, then exiting")
        if self._watcher is not None:
            self._watcher.stop()
        self.scheduler.shutdown()
        self._drift_soon.cancel()
        self.runner.stop()
        if self.reviews is not None:
            self.reviews.stop()
        if self.elector is not None:
            self.elector.stop(release=True)
        if self.shard_keeper is not None:
            self.shard_keeper.stop(release=True)
        if self.server is not None:
            self.server.stop()
        self.notifications.stop(timeout=10)
        self.live.stop()
        self.kube.close()
        self.fleet.close()

    def wait(self) -> None:
        self._stopped.wait()

    # --- what runs on the way -----------------------------------------------------------------

    def model_on(self, cluster: str | None = None) -> PlatformModel | None:
        """The last good model narrowed to what runs on ``cluster`` (None: the home cluster), for
        the watchers between cycles; the whole model on a platform without clusters."""
        model = self.reconciler.snapshot().model
        if model is None:
            return None
        name = target(model.platform.clusters, cluster if cluster is not None else self.settings.cluster.name)
        if name is None:
            return model
        try:
            return for_cluster(model, name)
        except ConfigError:  # a cluster the revision no longer names: nothing of it to watch
            return None

    def run_backups(self) -> None:
        """The home cluster's backup run (the scheduler's job; also for tests)."""
        # Only the leader snapshots (inside scheduled_run); nothing starts once stopping.
        if not self._stopped.is_set():
            self.backups.scheduled_run(self.is_leader, self.model_on)

    def run_remote_backups(self) -> None:
        """Every other cluster's backup run, each with the tenants placed there."""
        for name, remote in list(self._remote_watchers.items()):
            if not self._stopped.is_set():
                remote.backups.scheduled_run(self.is_leader, partial(self.model_on, name))

    def _check_jobs(self) -> None:
        # Only the leader announces failed runs (inside scheduled_run); nothing once stopping.
        if not self._stopped.is_set():
            self.jobs.scheduled_run(self.is_leader, self.model_on)

    def _evaluate_alerts(self) -> None:
        model = self.model_on()
        # Only the leader announces alerts, or every replica would; none before a model loads,
        # and none once stopping (the client is about to close).
        if model is not None and self.is_leader() and not self._stopped.is_set():
            self.alerts.run(model)

    def _evaluate_remote_alerts(self) -> None:
        for name, remote in list(self._remote_watchers.items()):
            model = self.model_on(name)
            if model is not None and self.is_leader() and not self._stopped.is_set():
                remote.alerts.run(model)

    def _follow_scaling(self) -> None:
        # Only the leader announces what the autoscalers did, on every cluster it drives.
        model = self.model_on()
        if model is not None and self.is_leader() and not self._stopped.is_set():
            self.scaling.run(tenants={t.name for t in model.tenants})

    def _follow_remote_scaling(self) -> None:
        # A job of its own: a remote API server that hangs must not hold the home cluster's news.
        for name, remote in list(self._remote_watchers.items()):
            model = self.model_on(name)
            if model is not None and self.is_leader() and not self._stopped.is_set():
                remote.scaling.run(tenants={t.name for t in model.tenants})

    def _watch_health(self) -> None:
        # Only the leader tells what is wrong with the clusters and with Dockyard.
        if self.is_leader() and not self._stopped.is_set():
            self.cluster_health.run()

    def _watch_remote_health(self) -> None:
        for remote in list(self._remote_watchers.values()):
            if self.is_leader() and not self._stopped.is_set():
                remote.health.run()

    def _open_problems(self) -> list[dict[str, Any]]:
        """The home cluster's and Dockyard's open problems, then each other cluster's, named."""
        problems = self.cluster_health.open_problems()
        for name, remote in list(self._remote_watchers.items()):
            problems += [{**p, "cluster": name} for p in remote.health.open_problems()]
        return problems

    def _dockyard_signals(self) -> DockyardSignals:
        state = self.reconciler.snapshot()
        undelivered, oldest = self.notifications.undelivered()
        return DockyardSignals(
            failures=state.failures,
            last_error=state.last_error,
            fetch_error=state.fetch_error,
            undelivered=undelivered,
            oldest_undelivered_seconds=oldest,
        )

    def _take_inbox(self) -> None:
        """The leader carries out what standbys received: syncs and Slack commands, once each."""
        if self._stopped.is_set() or not self.is_leader():
            return
        try:
            requests = self.inbox.take()
        except DockyardError as e:
            log.warning("cannot read the request inbox: %s", e)
            return
        for request in requests:
            log.info("carrying out a %s request %s received by %s", request.kind, request.id, request.received_by)
            if request.kind == "sync":
                self.runner.request("webhook")
            elif request.kind == "console-action":
                if self.console is not None:
                    self.console.actions.run_handed_over(request.payload)
                else:
                    log.warning("a handed-over console action arrived, but the console is off here")
            elif request.kind == "merge-request":
                self._review_handed_over(request.payload)
            elif self.chat is not None:
                self.chat.run_handed_over(request.payload)
            else:
                log.warning("a handed-over Slack command arrived, but Slack is not configured here")

    def _review_handed_over(self, payload: Mapping[str, Any]) -> None:
        if self.reviews is None:
            log.warning("a handed-over merge-request review arrived, but reviews are not configured here")
            return
        try:
            self.reviews.submit(MergeRequest.from_json(payload))
        except ValueError as e:
            log.warning("dropping an unreadable merge-request request: %s", e)

    def _prune_audit(self) -> None:
        """The leader keeps the audit trail within the platform's retention, and says what went."""
        model = self.reconciler.snapshot().model
        if model is None or self._stopped.is_set() or not self.is_leader():
            return
        audit = model.platform.audit
        try:
            report = self.history.prune(self.clock(), Retention(audit.retention_days, audit.retention_records))
        except DockyardError as e:
            log.warning("cannot prune the audit trail: %s", e)
            return
        if not report.empty:
            self.events.emit(audit_pruned(report.records, report.days, audit))
            try:
                self.history.append(audit_pruned_record(report.records, report.days, self.clock()))
            except DockyardError as e:
                log.warning("cannot record the audit trail's pruning: %s", e)

    def _log_ready_note(self) -> None:
        while not self._stopped.wait(0.5):
            if self.reconciler.snapshot().ready:
                for line in self.settings.ready_note.strip("\n").splitlines():
                    log.info("%s", line)
                return

    def _changed_live(self, ref: ObjRef) -> None:
        # Only the leader corrects drift; nothing is asked for once stopping.
        if self.is_leader() and not self._stopped.is_set():
            log.debug("%s changed in the cluster: drift cycle soon", ref)
            self._drift_soon()

    def _inventory_pieces(self) -> list[Mapping[str, Any]]:
        configmaps = self.kube.resource_type("v1", "ConfigMap")
        return list(self.live.objects([configmaps], self._inventory_selector).values())

    def _became_leader(self) -> None:
        log.info("%s is now the leader", self.settings.leader.identity)
        self.metrics.leader.set(1)
        self.runner.request("poll")

    def _lost_leadership(self) -> None:
        log.warning("%s lost leadership; standing by", self.settings.leader.identity)
        self.metrics.leader.set(0)
        # What happens while another replica leads is that replica's news: start over.
        self.scaling.forget()
        self.cluster_health.forget()
        self.alerts.forget()
        for remote in list(self._remote_watchers.values()):
            remote.scaling.forget()
            remote.health.forget()
            remote.alerts.forget()

    def _on_model(self, model: PlatformModel) -> None:
        sync, schedule = model.platform.sync, self.settings.schedule
        self.scheduler.reschedule(
            poll_seconds=schedule.interval_seconds or sync.interval_seconds,
            drift_seconds=schedule.drift_interval_seconds or sync.drift_check_interval_seconds,
        )
        self.notifications.reconfigure(model)
        for listener in self.model_listeners:
            listener(model)
