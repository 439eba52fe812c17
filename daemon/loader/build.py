"""Typed model objects from schema-valid documents.

Everything here may assume the document passed its schema: shapes and formats are checked, so
this module only converts (durations to seconds, quantities to the strings Kubernetes wants, cron
weekdays to names - see :func:`formats.normalize_cron` - and defaults filled in) and never
reports problems.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from daemon.loader import formats
from daemon.loader.guardrails import guardrails
from daemon.model.clusters import AppOverride, Cluster, Placement, VolumeOverride
from daemon.model.kinds import (
    AccessMode,
    AlertRule,
    AuditSettings,
    Autoscaling,
    Backup,
    ChatSettings,
    ConsoleRoleBinding,
    ConsoleSettings,
    DeletionPolicy,
    IngressSettings,
    Limits,
    LoggingSettings,
    LogOutput,
    LogOutputKind,
    LogRoute,
    Member,
    NetworkRule,
    NotificationList,
    NotificationTarget,
    Platform,
    Policy,
    Prices,
    PruneSettings,
    Quota,
    Retention,
    ScaleSchedule,
    ScalingMetric,
    ScalingRules,
    SlackRoleBinding,
    StorageClassDef,
    SyncSettings,
    SyncWindow,
    Template,
    Tenant,
    TenantNetwork,
    VerifySettings,
)
from daemon.model.kinds import Volume as VolumeModel
from daemon.model.manifests import Patch
from daemon.model.refs import Metadata, SourceRef

Data = Mapping[str, Any]
_EMPTY: Data = {}


def _map(data: Data, key: str) -> Data:
    value = data.get(key)
    return value if isinstance(value, Mapping) else _EMPTY


def _list(data: Data, key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _strings(data: Data, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(str(v) for v in data[key]) if key in data else default


def _quantity(data: Data, key: str) -> str | None:
    value = data.get(key)
    return None if value is None else formats.quantity_text(value)


def _duration(data: Data, key: str, default: str | None = None) -> int | None:
    value = data.get(key, default)
    return None if value is None else formats.parse_duration(value)


def metadata(data: Data) -> Metadata:
    meta = _map(data, "metadata")
    return Metadata(
        name=str(meta["name"]),
        labels={str(k): str(v) for k, v in _map(meta, "labels").items()},
        annotations={str(k): str(v) for k, v in _map(meta, "annotations").items()},
    )


def _windows(items: list[Any]) -> tuple[SyncWindow, ...]:
    return tuple(
        SyncWindow(
            schedule=formats.normalize_cron(w["schedule"]),
            duration_seconds=formats.parse_duration(w["duration"]),
            timezone=w.get("timezone", "UTC"),
            action=w.get("action", "allow"),
            tenants=_strings(w, "tenants", ("*",)),
        )
        for w in items
    )


def platform(data: Data, source: SourceRef) -> Platform:
    spec = _map(data, "spec")
    sync = _map(spec, "sync")
    windows = _windows(_list(sync, "windows"))
    classes = tuple(
        StorageClassDef(
            name=c["name"],
            provisioner=c["provisioner"],
            snapshot_class=c.get("snapshotClass"),
            default=bool(c.get("default", False)),
            parameters={str(k): str(v) for k, v in _map(c, "parameters").items()},
            reclaim_policy=c.get("reclaimPolicy", "Retain"),
            allow_volume_expansion=bool(c.get("allowVolumeExpansion", True)),
        )
        for c in _list(spec, "storageClasses")
    )
    ingress = _map(spec, "ingress")
    chat = _map(spec, "chat")
    retention = _map(_map(spec, "audit"), "retention")
    verify = _map(spec, "verify")
    roles = tuple(
        SlackRoleBinding(
            role=r["role"],
            users=_strings(r, "users"),
            groups=_strings(r, "groups"),
            channels=_strings(r, "channels"),
            tenants=_strings(r, "tenants", ("*",)),
        )
        for r in _list(_map(chat, "slack"), "roles")
    )
    console_roles = tuple(
        ConsoleRoleBinding(
            role=r["role"],
            users=_strings(r, "users"),
            groups=_strings(r, "groups"),
            tenants=_strings(r, "tenants", ("*",)),
        )
        for r in _list(_map(spec, "console"), "roles")
    )
    return Platform(
        metadata=metadata(data),
        source=source,
        sync=SyncSettings(
            interval_seconds=formats.parse_duration(sync.get("interval", "1m")),
            drift_check_interval_seconds=formats.parse_duration(sync.get("driftCheckInterval", "5m")),
            windows=windows,
            imperative_managers=(
                tuple(sync["imperativeManagers"]) if isinstance(sync.get("imperativeManagers"), list) else None
            ),
        ),
        storage_classes=classes,
        ingress=IngressSettings(
            class_name=ingress.get("className", "nginx"),
            tls=bool(ingress.get("tls", False)),
            namespace=ingress.get("namespace", "ingress-nginx"),
        ),
        default_notifications=_map(spec, "notifications").get("default"),
        chat=ChatSettings(slack_roles=roles, commit_mode=chat.get("commitMode", "direct")),
        console=ConsoleSettings(roles=console_roles),
        prune=PruneSettings(max_fraction=float(_map(spec, "prune").get("maxFraction", 0.3))),
        audit=AuditSettings(
            retention_days=int(retention.get("days", 90)), retention_records=int(retention.get("records", 100_000))
        ),
        verify=VerifySettings(required=bool(verify.get("required", False)), signers=_strings(verify, "signers")),
        tenancy=guardrails(spec),
        prices=_prices(spec.get("prices")),
        logging=_logging(_map(spec, "logging")) if "logging" in spec else None,
        clusters=tuple(_cluster(c) for c in _list(spec, "clusters")),
    )


def _cluster(data: Data) -> Cluster:
    connection = _map(data, "connection")
    overrides = _map(data, "overrides")
    return Cluster(
        name=data["name"],
        region=data.get("region", ""),
        labels={str(k): str(v) for k, v in _map(data, "labels").items()},
        default=bool(data.get("default", False)),
        context=connection.get("context"),
        kubeconfig=connection.get("kubeconfig"),
        secret=connection.get("secret"),
        connected="context" in connection or "kubeconfig" in connection or "secret" in connection,
        apps=tuple(
            AppOverride(
                tenant=o["tenant"],
                app=o["app"],
                replicas=o.get("replicas"),
                domains=_strings(o, "domains") if "domains" in o else None,
            )
            for o in _list(overrides, "apps")
        ),
        volumes=tuple(VolumeOverride(o["tenant"], o["volume"], o["storageClass"]) for o in _list(overrides, "volumes")),
        tenants=_strings(data, "tenants", ("*",)),
        windows=_windows(_list(data, "windows")),
    )


def _placement(spec: Data) -> Placement | None:
    if "placement" not in spec:
        return None
    placement = _map(spec, "placement")
    selector = _map(_map(placement, "clusterSelector"), "matchLabels")
    return Placement(
        clusters=_strings(placement, "clusters"), match_labels={str(k): str(v) for k, v in selector.items()}
    )


def _prices(data: Any) -> Prices | None:
    if not isinstance(data, Mapping):
        return None
    storage = data.get("storageGiBMonth", {})
    by_class = (
        {"default": float(storage)} if isinstance(storage, int | float) else {k: float(v) for k, v in storage.items()}
    )
    return Prices(
        currency=str(data["currency"]),
        cpu_core_month=float(data.get("cpuCoreMonth", 0)),
        memory_gib_month=float(data.get("memoryGiBMonth", 0)),
        storage_gib_month=by_class,
        load_balancer_month=float(data.get("loadBalancerMonth", 0)),
        snapshot_gib_month=float(data["snapshotGiBMonth"]) if "snapshotGiBMonth" in data else None,
    )


def _logging(data: Data) -> LoggingSettings:
    defaults = LoggingSettings(output=LogOutput("forward", "", 0))
    return LoggingSettings(
        output=_log_output(_map(data, "output")),
        namespace=data.get("namespace", defaults.namespace),
        image=data.get("image", defaults.image),
        routes=tuple(LogRoute(r["tenant"], _log_output(_map(r, "output"))) for r in _list(data, "tenants")),
    )


def _log_output(data: Data) -> LogOutput:
    """The one endpoint the schema allows in ``data``, its URL taken apart."""
    kind, body = next(iter(data.items()))
    secret = _map(body, "secretRef").get("name")
    if kind == "forward":
        return LogOutput(
            "forward", body["host"], int(body.get("port", 24224)), bool(body.get("tls", False)), secret=secret
        )
    url = formats.parse_endpoint_url(body["url"])
    return LogOutput(
        cast(LogOutputKind, kind),
        url.host,
        url.port,
        url.tls,
        url.path,
        format=body.get("format", "json_lines"),
        index=body.get("index", "logs"),
        secret=secret,
    )


def tenant(data: Data, source: SourceRef) -> Tenant:
    spec = _map(data, "spec")
    quota = _map(spec, "quota")
    limits = _map(spec, "limits")
    network = _map(spec, "network")
    return Tenant(
        metadata=metadata(data),
        source=source,
        display_name=spec.get("displayName", ""),
        members=tuple(Member(kind=m["kind"], name=m["name"], role=m["role"]) for m in _list(spec, "members")),
        quota=Quota(
            cpu=_quantity(quota, "cpu"),
            memory=_quantity(quota, "memory"),
            storage=_quantity(quota, "storage"),
            pods=quota.get("pods"),
        )
        if "quota" in spec
        else None,
        limits=Limits(
            default_cpu=_quantity(limits, "defaultCpu"),
            default_memory=_quantity(limits, "defaultMemory"),
            default_ephemeral_storage=_quantity(limits, "defaultEphemeralStorage"),
        )
        if "limits" in spec
        else None,
        pod_security=spec.get("podSecurity", "baseline"),
        network=TenantNetwork(
            isolation=network.get("isolation", "strict"),
            allow_from=tuple(str(a["tenant"]) for a in _list(network, "allowFrom")),
            allow_to=tuple(str(a["tenant"]) for a in _list(network, "allowTo")),
        ),
        storage_classes=_strings(spec, "storageClasses") if "storageClasses" in spec else None,
        notifications=_strings(spec, "notifications"),
        deletion_policy=spec.get("deletionPolicy", "Retain"),
        placement=_placement(spec),
    )


def volume(data: Data, source: SourceRef, tenant_name: str, default_class: str | None) -> VolumeModel:
    spec = _map(data, "spec")
    backup = _map(spec, "backup")
    retention = _map(backup, "retention")
    return VolumeModel(
        metadata=metadata(data),
        source=source,
        tenant=tenant_name,
        size=formats.quantity_text(spec["size"]),
        storage_class=spec.get("storageClass") or default_class or "",
        access_mode=cast(AccessMode, spec.get("accessMode", "ReadWriteOnce")),
        deletion_policy=cast(DeletionPolicy, spec.get("deletionPolicy", "Retain")),
        backup=Backup(
            schedule=formats.normalize_cron(backup["schedule"]),
            retention=Retention(
                last=retention.get("last", 0),
                daily=retention.get("daily", 0),
                weekly=retention.get("weekly", 0),
                monthly=retention.get("monthly", 0),
            ),
        )
        if backup
        else None,
        restore_snapshot=_map(spec, "restore").get("snapshot"),
        per_replica=bool(spec.get("perReplica", False)),
        restore_tenant=_map(spec, "restore").get("tenant"),
        restore_volume=_map(spec, "restore").get("volume"),
        share_with=_strings(spec, "shareWith", ()),
    )


#: Alert condition parameters that are durations; the model holds them in seconds.
_DURATION_PARAMS = frozenset({"window", "for"})


def policy(data: Data, source: SourceRef, tenant_name: str) -> Policy:
    spec = _map(data, "spec")
    rules = []
    closed = []
    for item in _list(spec, "network"):
        if "close" in item:
            closed.append(str(_map(item, "close")["app"]))
            continue
        allow = _map(item, "allow")
        source_ref = _map(allow, "from")
        target = _map(allow, "to")
        cidrs = _strings(target, "cidrs") if "cidrs" in target else ((target["cidr"],) if "cidr" in target else ())
        rules.append(
            NetworkRule(
                to_app=target.get("app"),
                from_tenant=source_ref.get("tenant", tenant_name),
                from_app=source_ref.get("app"),
                ports=tuple(int(p) for p in _list(allow, "ports")),
                to_tenant=target.get("tenant", tenant_name),
                protocol=allow.get("protocol", "TCP"),
                cidrs=cidrs,
                except_cidrs=_strings(target, "except"),
                host=target.get("host"),
            )
        )
    alerts = []
    for item in _list(spec, "alerts"):
        condition, params = next(iter(_map(item, "when").items()))
        alerts.append(
            AlertRule(
                name=item["name"],
                condition=condition,
                params={
                    k: formats.parse_duration(v) if k in _DURATION_PARAMS and isinstance(v, str) else v
                    for k, v in params.items()
                },
                severity=item.get("severity", "warning"),
                notify=_strings(item, "notify"),
                app=item.get("app"),
            )
        )
    return Policy(
        metadata=metadata(data),
        source=source,
        tenant=tenant_name,
        network=tuple(rules),
        alerts=tuple(alerts),
        closed=tuple(closed),
    )


def _rules(data: Data) -> ScalingRules | None:
    if not data:
        return None
    return ScalingRules(
        stabilization_window_seconds=_duration(data, "stabilizationWindow"),
        max_percent_per_minute=data.get("maxPercentPerMinute"),
        max_pods_per_minute=data.get("maxPodsPerMinute"),
    )


def autoscaling(data: Data, source: SourceRef, tenant_name: str) -> Autoscaling:
    spec = _map(data, "spec")
    behavior = _map(spec, "behavior")
    metrics = []
    for item in _list(spec, "metrics"):
        resource, target = next(iter(item.items()))
        metrics.append(ScalingMetric(resource=resource, utilization=int(str(target).rstrip("%"))))
    return Autoscaling(
        metadata=metadata(data),
        source=source,
        tenant=tenant_name,
        target=spec["target"],
        min_replicas=spec["minReplicas"],
        max_replicas=spec["maxReplicas"],
        metrics=tuple(metrics),
        scale_up=_rules(_map(behavior, "scaleUp")),
        scale_down=_rules(_map(behavior, "scaleDown")),
        schedules=tuple(
            ScaleSchedule(
                cron=formats.normalize_cron(s["cron"]),
                duration_seconds=formats.parse_duration(s["duration"]),
                min_replicas=s.get("minReplicas"),
                max_replicas=s.get("maxReplicas"),
                timezone=s.get("timezone", "UTC"),
            )
            for s in _list(spec, "schedules")
        ),
    )


def notification_list(data: Data, source: SourceRef) -> NotificationList:
    spec = _map(data, "spec")
    targets = []
    for item in _list(spec, "targets"):
        kind, settings = next(iter(item.items()))
        targets.append(
            NotificationTarget(
                kind=kind,
                channel=settings.get("channel"),
                url=settings.get("url"),
                secret_ref=settings.get("secretRef"),
                to=_strings(settings, "to"),
            )
        )
    return NotificationList(
        metadata=metadata(data),
        source=source,
        targets=tuple(targets),
        events=_strings(spec, "events", ("*",)),
        min_severity=spec.get("minSeverity", "info"),
    )


def template(data: Data, source: SourceRef) -> Template:
    spec = _map(data, "spec")
    return Template(
        metadata=metadata(data),
        source=source,
        extends=spec.get("extends"),
        parameters_schema=dict(_map(spec, "parameters")),
        app=dict(_map(spec, "app")),
        job=dict(_map(spec, "job")) if "job" in spec else None,
    )


def patch(data: Data, source: SourceRef, tenant_name: str) -> Patch:
    spec = _map(data, "spec")
    target = _map(spec, "target")
    return Patch(
        metadata=metadata(data),
        source=source,
        tenant=tenant_name,
        target_kind=target["kind"],
        target_name=target["name"],
        json_patch=tuple(dict(op) for op in _list(spec, "jsonPatch")),
        merge=dict(_map(spec, "merge")) if "merge" in spec else None,
    )
