"""A small hand-built platform model, independent of the loader, for render and diff tests."""

from __future__ import annotations

from daemon.model.kinds import (
    App,
    Autoscaling,
    Backup,
    Canary,
    EnvVar,
    IngressSettings,
    KeyRef,
    Limits,
    Member,
    NetworkRule,
    Platform,
    PlatformModel,
    Policy,
    Port,
    Probe,
    Probes,
    Quota,
    Resources,
    Retention,
    ScalingMetric,
    ScalingRules,
    StorageClassDef,
    Tenant,
    TenantNetwork,
    Volume,
    VolumeMount,
)
from daemon.model.refs import Metadata, SourceRef


def src(path: str, document: str) -> SourceRef:
    return SourceRef(path, 3, document)


def sample_model() -> PlatformModel:
    platform = Platform(
        metadata=Metadata("acme"),
        source=src("platform.yaml", "Platform/acme"),
        storage_classes=(
            StorageClassDef("ceph-rbd", "rook-ceph.rbd.csi.ceph.com", "csi-rbdplugin-snapclass", default=True),
            StorageClassDef("cephfs", "rook-ceph.cephfs.csi.ceph.com"),
        ),
        ingress=IngressSettings("nginx", tls=True),
    )
    shop = Tenant(
        metadata=Metadata("shop", labels={"cost-center": "cc-42"}),
        source=src("tenants/shop/tenant.yaml", "Tenant/shop"),
        members=(Member("User", "alice@example.com", "admin"), Member("Group", "shop-devs", "edit")),
        quota=Quota(cpu="20", memory="64Gi", storage="500Gi", pods=200),
        limits=Limits(default_cpu="500m", default_memory="512Mi"),
        pod_security="restricted",
        network=TenantNetwork("strict", allow_from=("monitoring",)),
    )
    monitoring = Tenant(
        metadata=Metadata("monitoring"),
        source=src("tenants/monitoring/tenant.yaml", "Tenant/monitoring"),
        network=TenantNetwork("strict"),
    )
    analytics = Tenant(
        metadata=Metadata("analytics"),
        source=src("tenants/analytics/tenant.yaml", "Tenant/analytics"),
        network=TenantNetwork("open"),
    )
    web = App(
        metadata=Metadata("web"),
        source=src("tenants/shop/web.yaml", "App/web"),
        tenant="shop",
        image="nginx:1.27",
        replicas=4,
        ports=(Port("http", 8080),),
        domains=("shop.example.com",),
        resources=Resources(cpu="250m", memory="256Mi", limit_cpu="1", limit_memory="512Mi"),
        probes=Probes(readiness=Probe(http="/healthz", port="http"), liveness=Probe(tcp="http")),
        canary=Canary("nginx:1.27.1", 25),
        env=(EnvVar("MODE", "prod"), EnvVar("DB_PASSWORD", secret_ref=KeyRef("db", "password"))),
    )
    api = App(
        metadata=Metadata("api"),
        source=src("tenants/shop/api.yaml", "App/api"),
        tenant="shop",
        image="busybox:1.36",
        replicas=2,
        command=("sh", "-c"),
        args=("httpd -f -p 9090",),
        ports=(Port("http", 9090),),
    )
    postgres = App(
        metadata=Metadata("postgres"),
        source=src("tenants/shop/postgres.yaml", "App/postgres"),
        tenant="shop",
        image="postgres:16",
        stateful=True,
        ports=(Port("pg", 5432),),
        volumes=(VolumeMount("orders-data", "/var/lib/postgresql/data"),),
    )
    etl = App(
        metadata=Metadata("etl"),
        source=src("tenants/analytics/etl.yaml", "App/etl"),
        tenant="analytics",
        image="busybox:1.36",
    )
    data = Volume(
        metadata=Metadata("orders-data"),
        source=src("tenants/shop/volumes.yaml", "Volume/orders-data"),
        tenant="shop",
        size="20Gi",
        storage_class="ceph-rbd",
        backup=Backup("0 */6 * * *", Retention(last=4, daily=7)),
    )
    hpa = Autoscaling(
        metadata=Metadata("web"),
        source=src("tenants/shop/autoscaling.yaml", "Autoscaling/web"),
        tenant="shop",
        target="web",
        min_replicas=4,
        max_replicas=12,
        metrics=(ScalingMetric("cpu", 70),),
        scale_down=ScalingRules(stabilization_window_seconds=300),
    )
    policy = Policy(
        metadata=Metadata("shop-net"),
        source=src("tenants/shop/policy.yaml", "Policy/shop-net"),
        tenant="shop",
        network=(
            NetworkRule(to_app="api", from_tenant="shop", from_app="web", ports=(9090,)),
            NetworkRule(to_app="api", from_tenant="monitoring", from_app=None, ports=(9090,)),
            NetworkRule(to_app="postgres", from_tenant="analytics", from_app="etl", ports=(5432,)),
        ),
    )
    return PlatformModel(
        platform=platform,
        tenants=(shop, monitoring, analytics),
        apps=(web, api, postgres, etl),
        volumes=(data,),
        policies=(policy,),
        autoscalings=(hpa,),
    )
