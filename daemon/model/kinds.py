"""The platform model: frozen dataclasses for every kind of the platform repo (v1alpha1).

The loader builds these from validated YAML; render turns them into Kubernetes objects. Values
are already checked and normalised here: durations are seconds, names are DNS-1123, references
resolve, quantities are kept as the Kubernetes strings the user wrote (render passes them on), and
every object remembers where it came from (:class:`SourceRef`) so later errors can point at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from daemon import API_VERSION
from daemon.model.clusters import Cluster, Placement
from daemon.model.manifests import Manifest, Patch
from daemon.model.refs import Metadata, SourceRef
from daemon.model.secrets import SealedSecret
from daemon.model.tenancy import Guardrails, Isolation, PodSecurity
from daemon.model.workload import Expose, FileMount, PreStop, Scheduling, SecurityContext

KINDS: tuple[str, ...] = (
    "Platform",
    "Tenant",
    "App",
    "Volume",
    "Policy",
    "Autoscaling",
    "NotificationList",
    "Template",
    "Job",
    "Patch",
)


TENANT_KINDS: tuple[str, ...] = ("App", "Volume", "Policy", "Autoscaling", "Job", "Patch")


Role = Literal["admin", "edit", "view"]


ChatRole = Literal["admin", "operator", "viewer"]


AccessMode = Literal["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod"]


DeletionPolicy = Literal["Retain", "Delete"]


Severity = Literal["info", "warning", "critical"]


WindowAction = Literal["allow", "deny"]


@dataclass(frozen=True)
class SyncWindow:
    schedule: str  # five-field cron
    duration_seconds: int
    timezone: str = "UTC"
    action: WindowAction = "allow"
    tenants: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class SyncSettings:
    interval_seconds: int = 60
    drift_check_interval_seconds: int = 300
    windows: tuple[SyncWindow, ...] = ()
    #: field managers whose changes are edits by hand, taken back (daemon.policy.ownership)
    imperative_managers: tuple[str, ...] | None = None  # None: the default list


@dataclass(frozen=True)
class StorageClassDef:
    name: str
    provisioner: str
    snapshot_class: str | None = None
    default: bool = False
    parameters: Mapping[str, str] = field(default_factory=dict)
    reclaim_policy: Literal["Retain", "Delete"] = "Retain"
    allow_volume_expansion: bool = True


@dataclass(frozen=True)
class IngressSettings:
    class_name: str = "nginx"
    tls: bool = False
    #: the ingress controller's namespace: reserved, and let into strict tenants' apps with domains
    namespace: str = "ingress-nginx"


@dataclass(frozen=True)
class SlackRoleBinding:
    role: ChatRole
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class ChatSettings:
    slack_roles: tuple[SlackRoleBinding, ...] = ()
    #: how chat commands that change desired state reach Git: straight to the branch or as a branch
    commit_mode: Literal["direct", "branch"] = "direct"


@dataclass(frozen=True)
class ConsoleRoleBinding:
    """A console role for people as the console's sign-in names them: users (the proxy's
    ``X-Forwarded-User``/``-Email`` or a token's user) and groups (``X-Forwarded-Groups``)."""

    role: ChatRole
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class ConsoleSettings:
    roles: tuple[ConsoleRoleBinding, ...] = ()


@dataclass(frozen=True)
class PruneSettings:
    max_fraction: float = 0.3


LogOutputKind = Literal["http", "elasticsearch", "loki", "forward"]


@dataclass(frozen=True)
class LogOutput:
    """One log endpoint (``spec.logging.output``), its URL already taken apart."""

    kind: LogOutputKind
    host: str
    port: int
    tls: bool = False
    path: str = ""  # the URL's path ("" for none); forward has none
    #: http: the body format; elasticsearch: the index prefix
    format: str = "json_lines"
    index: str = "logs"
    #: a Secret in the logging namespace with the credentials (username/password, or sharedKey)
    secret: str | None = None


@dataclass(frozen=True)
class LogRoute:
    """A tenant whose logs go to an endpoint of their own instead of the platform's."""

    tenant: str
    output: LogOutput


@dataclass(frozen=True)
class LoggingSettings:
    output: LogOutput
    namespace: str = "dockyard-logging"
    image: str = "cr.fluentbit.io/fluent/fluent-bit:5.1.1"
    routes: tuple[LogRoute, ...] = ()


@dataclass(frozen=True)
class AuditSettings:
    retention_days: int = 90
    retention_records: int = 100_000


@dataclass(frozen=True)
class VerifySettings:
    #: refuse revisions whose commit is not signed by a key the daemon trusts
    required: bool = False
    #: when not empty, only these signers (principals / e-mails) among the trusted keys
    signers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prices:
    """Monthly prices of requested resources (``spec.prices``), for cost figures."""

    currency: str
    cpu_core_month: float = 0.0
    memory_gib_month: float = 0.0
    #: by storage class; ``default`` for the classes not named
    storage_gib_month: Mapping[str, float] = field(default_factory=dict)
    load_balancer_month: float = 0.0
    snapshot_gib_month: float | None = None  # None: snapshots are counted, not priced

    def storage(self, storage_class: str) -> float:
        return self.storage_gib_month.get(storage_class, self.storage_gib_month.get("default", 0.0))


@dataclass(frozen=True)
class Platform:
    metadata: Metadata
    source: SourceRef
    sync: SyncSettings = field(default_factory=SyncSettings)
    storage_classes: tuple[StorageClassDef, ...] = ()
    ingress: IngressSettings = field(default_factory=IngressSettings)
    default_notifications: str | None = None
    chat: ChatSettings = field(default_factory=ChatSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    prune: PruneSettings = field(default_factory=PruneSettings)
    #: log collection; None: no log agent
    logging: LoggingSettings | None = None
    audit: AuditSettings = field(default_factory=AuditSettings)
    verify: VerifySettings = field(default_factory=VerifySettings)
    tenancy: Guardrails = field(default_factory=Guardrails)
    prices: Prices | None = None
    clusters: tuple[Cluster, ...] = ()  # (): one cluster, the one the daemon is pointed at

    def storage_class(self, name: str) -> StorageClassDef | None:
        return next((c for c in self.storage_classes if c.name == name), None)

    def cluster(self, name: str) -> Cluster | None:
        return next((c for c in self.clusters if c.name == name), None)

    @property
    def default_storage_class(self) -> StorageClassDef | None:
        return next((c for c in self.storage_classes if c.default), None)


@dataclass(frozen=True)
class Member:
    kind: Literal["User", "Group"]
    name: str
    role: Role


@dataclass(frozen=True)
class Quota:
    cpu: str | None = None
    memory: str | None = None
    storage: str | None = None
    pods: int | None = None


@dataclass(frozen=True)
class Limits:
    default_cpu: str | None = None
    default_memory: str | None = None
    default_ephemeral_storage: str | None = None


@dataclass(frozen=True)
class TenantNetwork:
    isolation: Isolation = "strict"
    allow_from: tuple[str, ...] = ()  # tenant names whose pods may reach every app of this tenant
    allow_to: tuple[str, ...] = ()  # tenant names whose apps the pods of this tenant may reach


@dataclass(frozen=True)
class Tenant:
    metadata: Metadata
    source: SourceRef
    display_name: str = ""
    members: tuple[Member, ...] = ()
    quota: Quota | None = None
    limits: Limits | None = None
    pod_security: PodSecurity = "baseline"
    network: TenantNetwork = field(default_factory=TenantNetwork)
    storage_classes: tuple[str, ...] | None = None  # None: every platform class
    notifications: tuple[str, ...] = ()
    deletion_policy: DeletionPolicy = "Retain"  # Retain: the namespace is never pruned
    placement: Placement | None = None  # None: the default cluster (see model.clusters)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.name


@dataclass(frozen=True)
class KeyRef:
    name: str
    key: str


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None = None
    secret_ref: KeyRef | None = None
    config_map_ref: KeyRef | None = None
    field_path: str | None = None  # the downward API: metadata.name, status.podIP, ...


@dataclass(frozen=True)
class Port:
    name: str
    port: int  # the container's
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    service_port: int | None = None  # what callers of the Service use; None: the container's
    node_port: int | None = None  # with a NodePort or LoadBalancer exposure; None: the cluster picks

    @property
    def exposed(self) -> int:
        """The port of the Service."""
        return self.port if self.service_port is None else self.service_port


@dataclass(frozen=True)
class Probe:
    http: str | None = None  # path of an HTTP GET
    tcp: str | int | None = None  # port name or number for a TCP check
    command: tuple[str, ...] = ()  # exec probe
    grpc: str | int | None = None  # port name or number of a gRPC health server
    grpc_service: str | None = None
    port: str | int | None = None  # for http
    scheme: Literal["HTTP", "HTTPS"] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    initial_delay_seconds: int | None = None
    period_seconds: int | None = None
    failure_threshold: int | None = None
    timeout_seconds: int | None = None
    success_threshold: int | None = None


@dataclass(frozen=True)
class Probes:
    readiness: Probe | None = None
    liveness: Probe | None = None
    startup: Probe | None = None


@dataclass(frozen=True)
class Resources:
    cpu: str | None = None
    memory: str | None = None
    limit_cpu: str | None = None
    limit_memory: str | None = None
    ephemeral_storage: str | None = None
    limit_ephemeral_storage: str | None = None


@dataclass(frozen=True)
class Scratch:
    """An emptyDir: empty when the pod starts, gone with it."""

    size_limit: str | None = None
    medium: Literal["Memory"] | None = None


@dataclass(frozen=True)
class VolumeMount:
    volume: str  # a Volume's name, or a scratch volume's name when ``scratch`` is set
    mount_path: str
    read_only: bool = False
    sub_path: str | None = None
    scratch: Scratch | None = None


@dataclass(frozen=True)
class Strategy:
    max_surge: str | int = "25%"
    max_unavailable: str | int = 0
    type: Literal["RollingUpdate", "Recreate", "OnDelete"] = "RollingUpdate"
    partition: int | None = None  # stateful apps: only ordinals at or above it are updated


@dataclass(frozen=True)
class Container:
    """An init container or a sidecar of an App (the App's own container is the App itself)."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    working_dir: str | None = None
    env: tuple[EnvVar, ...] = ()
    resources: Resources | None = None
    volumes: tuple[VolumeMount, ...] = ()
    files: tuple[FileMount, ...] = ()
    security: SecurityContext | None = None
    ports: tuple[Port, ...] = ()
    probes: Probes = field(default_factory=Probes)


@dataclass(frozen=True)
class Canary:
    image: str
    weight: int  # percent of the traffic of the App's domains sent to the canary track, 0-100
    replicas: int = 1  # pods of the canary track (its floor when the App is autoscaled)


@dataclass(frozen=True)
class App:
    metadata: Metadata
    source: SourceRef
    tenant: str
    image: str
    replicas: int = 1
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[EnvVar, ...] = ()
    ports: tuple[Port, ...] = ()
    domains: tuple[str, ...] = ()
    resources: Resources | None = None
    probes: Probes = field(default_factory=Probes)
    volumes: tuple[VolumeMount, ...] = ()
    stateful: bool = False
    strategy: Strategy | None = None
    canary: Canary | None = None
    working_dir: str | None = None
    files: tuple[FileMount, ...] = ()
    init_containers: tuple[Container, ...] = ()
    sidecars: tuple[Container, ...] = ()
    security: SecurityContext | None = None
    service_account: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    scheduling: Scheduling = field(default_factory=Scheduling)
    termination_grace_seconds: int | None = None
    pre_stop: PreStop | None = None
    expose: Expose | None = None
    #: the Template it was instantiated from, if any (fields above are already filled in)
    template: str | None = None
    parameters: Mapping[str, object] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.metadata.name


@dataclass(frozen=True)
class Job:
    """Batch work: runs once (a Kubernetes Job) or on ``schedule`` (a CronJob), to completion.

    Its pod has the shape of an App's (the fields with an App's names mean the same) without what
    serves traffic: no ports, probes, domains or replicas.
    """

    metadata: Metadata
    source: SourceRef
    tenant: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    working_dir: str | None = None
    env: tuple[EnvVar, ...] = ()
    resources: Resources | None = None
    volumes: tuple[VolumeMount, ...] = ()
    files: tuple[FileMount, ...] = ()
    init_containers: tuple[Container, ...] = ()
    sidecars: tuple[Container, ...] = ()
    security: SecurityContext | None = None
    service_account: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    scheduling: Scheduling = field(default_factory=lambda: Scheduling(spread="none"))
    termination_grace_seconds: int | None = None
    schedule: str | None = None  # five-field cron; None: run once
    timezone: str = "UTC"
    concurrency: Literal["Forbid", "Allow", "Replace"] = "Forbid"
    starting_deadline_seconds: int = 3600
    keep_succeeded: int = 3
    keep_failed: int = 3
    suspend: bool = False
    retries: int = 3
    active_deadline_seconds: int | None = None
    completions: int | None = None
    parallelism: int | None = None
    restart_policy: Literal["Never", "OnFailure"] = "Never"
    # What a pod template has in common with an App's: a Job serves nothing.
    ports: tuple[Port, ...] = ()
    probes: Probes = field(default_factory=Probes)
    pre_stop: PreStop | None = None

    @property
    def name(self) -> str:
        return self.metadata.name


@dataclass(frozen=True)
class Retention:
    last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0


@dataclass(frozen=True)
class Backup:
    schedule: str
    retention: Retention = field(default_factory=Retention)


@dataclass(frozen=True)
class Volume:
    metadata: Metadata
    source: SourceRef
    tenant: str
    size: str
    storage_class: str  # resolved: the platform default when the document names none
    access_mode: AccessMode = "ReadWriteOnce"
    deletion_policy: DeletionPolicy = "Retain"
    backup: Backup | None = None
    restore_snapshot: str | None = None
    #: one claim per replica of the stateful App that mounts it (volumeClaimTemplates)
    per_replica: bool = False
    #: the tenant and Volume whose backup ``restore_snapshot`` is (a clone's data); None: this one's
    restore_tenant: str | None = None
    restore_volume: str | None = None
    #: tenants that may start volumes from this one's backups (the owner's consent)
    share_with: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.metadata.name


@dataclass(frozen=True)
class NetworkRule:
    """One allowed flow of a Policy: to ``to_app`` of ``to_tenant`` from ``from_app`` of ``from_tenant``.

    One side is always the policy's own tenant (the default of both ``*_tenant``): a rule into it
    is the ingress half, a rule out of it (to another tenant, or to the address ranges ``cidrs``
    minus ``except_cidrs``, which stand for ``host`` when the rule names one) the egress half. An
    app ``None`` means every app of that tenant. ``ports`` empty means every port of the target.
    """

    to_app: str | None
    from_tenant: str
    from_app: str | None = None
    ports: tuple[int, ...] = ()
    to_tenant: str = ""  # "" : the policy's own tenant
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    cidrs: tuple[str, ...] = ()
    except_cidrs: tuple[str, ...] = ()
    host: str | None = None

    def target_tenant(self, policy_tenant: str) -> str:
        return self.to_tenant or policy_tenant

    def is_egress(self, policy_tenant: str) -> bool:
        """Whether the rule lets the policy's tenant out (to another tenant or to addresses)."""
        return bool(self.cidrs) or self.target_tenant(policy_tenant) != policy_tenant


@dataclass(frozen=True)
class AlertRule:
    name: str
    #: condition kind, e.g. ``podRestarts``, ``cpuAbove``, ``memoryAbove``, ``unavailable``
    condition: str
    params: Mapping[str, object] = field(default_factory=dict)
    severity: Severity = "warning"
    notify: tuple[str, ...] = ()
    app: str | None = None  # None: every app of the tenant


@dataclass(frozen=True)
class Policy:
    metadata: Metadata
    source: SourceRef
    tenant: str
    network: tuple[NetworkRule, ...] = ()
    alerts: tuple[AlertRule, ...] = ()
    #: apps of the tenant that accept only what a rule allows (not the rest of the tenant)
    closed: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.metadata.name


@dataclass(frozen=True)
class ScalingMetric:
    resource: Literal["cpu", "memory"]
    utilization: int  # target average utilisation in percent


@dataclass(frozen=True)
class ScalingRules:
    stabilization_window_seconds: int | None = None
    max_percent_per_minute: int | None = None
    max_pods_per_minute: int | None = None


@dataclass(frozen=True)
class ScaleSchedule:
    cron: str
    duration_seconds: int
    min_replicas: int | None = None
    max_replicas: int | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class Autoscaling:
    metadata: Metadata
    source: SourceRef
    tenant: str
    target: str
    min_replicas: int
    max_replicas: int
    metrics: tuple[ScalingMetric, ...] = ()
    scale_up: ScalingRules | None = None
    scale_down: ScalingRules | None = None
    schedules: tuple[ScaleSchedule, ...] = ()

    @property
    def name(self) -> str:
        return self.metadata.name


@dataclass(frozen=True)
class NotificationTarget:
    """One destination. Secrets are never in the repo: ``secret_ref`` names an entry the daemon
    resolves from its environment or secrets directory (a webhook URL, an HMAC key, a token)."""

    kind: Literal["slack", "webhook", "email", "dingtalk", "feishu", "wecom"]
    channel: str | None = None  # slack
    url: str | None = None  # webhook endpoint when it is not secret
    secret_ref: str | None = None
    to: tuple[str, ...] = ()  # email


@dataclass(frozen=True)
class NotificationList:
    metadata: Metadata
    source: SourceRef
    targets: tuple[NotificationTarget, ...]
    events: tuple[str, ...] = ("*",)
    min_severity: Severity = "info"

    @property
    def name(self) -> str:
        return self.metadata.name


@dataclass(frozen=True)
class Template:
    metadata: Metadata
    source: SourceRef
    extends: str | None = None
    parameters_schema: Mapping[str, object] = field(default_factory=dict)
    app: Mapping[str, object] = field(default_factory=dict)  # an App spec with ${name} holes
    job: Mapping[str, object] | None = None  # or a Job spec with ${name} holes (batch work)

    @property
    def name(self) -> str:
        return self.metadata.name


@dataclass(frozen=True)
class PlatformModel:
    """A validated platform repo at one revision."""

    platform: Platform
    tenants: tuple[Tenant, ...] = ()
    apps: tuple[App, ...] = ()
    volumes: tuple[Volume, ...] = ()
    policies: tuple[Policy, ...] = ()
    autoscalings: tuple[Autoscaling, ...] = ()
    notification_lists: tuple[NotificationList, ...] = ()
    templates: tuple[Template, ...] = ()
    jobs: tuple[Job, ...] = ()
    #: tenants' Secrets, encrypted (decrypted only when rendering)
    secrets: tuple[SealedSecret, ...] = ()
    #: the escape hatch: tenants' raw manifests, and patches to what is rendered
    manifests: tuple[Manifest, ...] = ()
    patches: tuple[Patch, ...] = ()
    api_version: str = API_VERSION

    def tenant(self, name: str) -> Tenant | None:
        return next((t for t in self.tenants if t.name == name), None)

    def apps_of(self, tenant: str) -> tuple[App, ...]:
        return tuple(a for a in self.apps if a.tenant == tenant)

    def jobs_of(self, tenant: str) -> tuple[Job, ...]:
        return tuple(j for j in self.jobs if j.tenant == tenant)

    def volumes_of(self, tenant: str) -> tuple[Volume, ...]:
        return tuple(v for v in self.volumes if v.tenant == tenant)

    def policies_of(self, tenant: str) -> tuple[Policy, ...]:
        return tuple(p for p in self.policies if p.tenant == tenant)

    def autoscaling_for(self, tenant: str, app: str) -> Autoscaling | None:
        return next((a for a in self.autoscalings if a.tenant == tenant and a.target == app), None)

    def notification_list(self, name: str) -> NotificationList | None:
        return next((n for n in self.notification_lists if n.name == name), None)
