"""Small builders for alert tests: models with Policies, observations at fixed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from daemon.model.kinds import (
    AlertRule,
    App,
    NotificationList,
    NotificationTarget,
    Platform,
    PlatformModel,
    Policy,
    Severity,
    Tenant,
)
from daemon.model.refs import Metadata, SourceRef
from daemon.policy.alerting import AlertKey, Observation, PodSample, PodUsage, WorkloadSample

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SRC = SourceRef("tenants/shop/policy.yaml")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rule(
    name: str,
    condition: str,
    *,
    app: str | None = None,
    severity: Severity = "warning",
    notify: tuple[str, ...] = (),
    **params: int,
) -> AlertRule:
    # The loader turns `for` and `window` into seconds; `for` is a keyword, hence `hold`.
    if "hold" in params:
        params["for"] = params.pop("hold")
    return AlertRule(name=name, condition=condition, params=params, severity=severity, notify=notify, app=app)


def model(
    *rules: AlertRule, apps: tuple[str, ...] = ("web", "api"), tenant: str = "shop", policy: str = "shop"
) -> PlatformModel:
    return PlatformModel(
        platform=Platform(Metadata("test"), SourceRef("platform.yaml"), default_notifications="ops"),
        tenants=(Tenant(Metadata(tenant), SourceRef(f"tenants/{tenant}/tenant.yaml"), notifications=("team",)),),
        apps=tuple(App(Metadata(a), SRC, tenant=tenant, image="busybox:1.36") for a in apps),
        policies=(Policy(Metadata(policy), SRC, tenant=tenant, alerts=rules),) if rules else (),
        notification_lists=tuple(
            NotificationList(Metadata(name), SRC, targets=(NotificationTarget("slack", channel=f"#{name}"),))
            for name in ("ops", "team", "oncall")
        ),
    )


def key(rule_name: str, app: str = "web", *, tenant: str = "shop", policy: str = "shop") -> AlertKey:
    return AlertKey(tenant, policy, rule_name, app)


def pod(
    app: str,
    name: str,
    restarts: int,
    *,
    created: datetime | None = None,
    tenant: str = "shop",
) -> PodSample:
    return PodSample(tenant, app, name, uid=f"uid-{tenant}-{name}", restarts=restarts, created=created)


def workload(
    app: str, desired: int, available: int, *, name: str | None = None, tenant: str = "shop"
) -> WorkloadSample:
    return WorkloadSample(tenant, app, "Deployment", name or app, desired, available)


def usage(app: str, pod_name: str, *, cpu: float | None = None, memory: float | None = None) -> PodUsage:
    return PodUsage("shop", app, pod_name, cpu_percent=cpu, memory_percent=memory)


def observe(
    seconds: float,
    *,
    pods: tuple[PodSample, ...] = (),
    workloads: tuple[WorkloadSample, ...] = (),
    usages: tuple[PodUsage, ...] | None = None,
) -> Observation:
    return Observation(at(seconds), pods=pods, workloads=workloads, usage=usages)
