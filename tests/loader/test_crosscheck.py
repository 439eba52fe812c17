"""Checks across documents: one failing input per check, with the exact file, line and message."""

from __future__ import annotations

from pathlib import Path

from tests.loader.helpers import BASE, errors, line_of, load, text, warnings

HEAD = "apiVersion: dockyard.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n"


def doc(kind: str, name: str, body: str) -> str:
    return HEAD.format(kind=kind, name=name) + text(body)


def base(path: str) -> str:
    return text(BASE[path])


# --- names ----------------------------------------------------------------------------------------------


def test_duplicate_names_per_kind_and_tenant(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        {
            "tenants/shop/more.yaml": doc("Volume", "data", "spec:\n  size: 1Gi\n"),
            # The same name in another tenant, or for another kind, is fine.
            "tenants/other/data.yaml": doc("Volume", "data", "spec:\n  size: 1Gi\n"),
            "tenants/shop/api-scaling.yaml": doc(
                "Autoscaling", "api", "spec:\n  target: api\n  minReplicas: 1\n  maxReplicas: 1\n"
            ),
        },
    )
    assert errors(result) == [("tenants/shop/volume.yaml", 4, "duplicate Volume 'data' in tenant 'shop'")]
    assert result.errors[0].hint == "the first is at tenants/shop/more.yaml:4; names are unique per kind and tenant"


def test_duplicate_cluster_wide_names(tmp_path: Path) -> None:
    result = load(tmp_path, {"notifications/zz.yaml": base("notifications/ops.yaml")})
    assert errors(result) == [("notifications/zz.yaml", 4, "duplicate NotificationList 'ops'")]


def test_tenant_folder_must_match_the_name(tmp_path: Path) -> None:
    content = base("tenants/other/tenant.yaml").replace("name: other", "name: others")
    result = load(tmp_path, {"tenants/other/tenant.yaml": content})
    assert errors(result) == [
        (
            "tenants/other/tenant.yaml",
            4,
            "Tenant 'others' is in folder tenants/other/; the folder must be named after the tenant",
        )
    ]
    assert result.errors[0].hint == "rename the folder to tenants/others/ or set metadata.name: other"


def test_exactly_one_platform_and_one_tenant_per_tenant_file(tmp_path: Path) -> None:
    platform = base("platform.yaml")
    tenant = base("tenants/other/tenant.yaml")
    result = load(
        tmp_path,
        {"platform.yaml": platform + "---\n" + platform, "tenants/other/tenant.yaml": tenant + "---\n" + tenant},
    )
    second_platform = len(platform.splitlines()) + 3
    second_tenant = len(tenant.splitlines()) + 3
    assert errors(result) == [
        ("platform.yaml", second_platform, "there must be exactly one Platform document"),
        ("tenants/other/tenant.yaml", second_tenant, "tenant.yaml must hold exactly one Tenant document"),
    ]


# --- placement ------------------------------------------------------------------------------------------


def test_kinds_outside_their_place(tmp_path: Path) -> None:
    app = base("tenants/other/front.yaml")
    result = load(
        tmp_path,
        {
            "templates/front.yaml": app,
            "tenants/shop/platform.yaml": base("platform.yaml").replace("name: test", "name: t2"),
            "tenants/shop/tenant2.yaml": base("tenants/shop/tenant.yaml"),
            "notifications/front.yaml": app,
        },
    )
    assert errors(result) == [
        (
            "notifications/front.yaml",
            2,
            "a App document cannot be in notifications/front.yaml; App documents belong in tenants/<tenant>/",
        ),
        (
            "templates/front.yaml",
            2,
            "a App document cannot be in templates/front.yaml; App documents belong in tenants/<tenant>/",
        ),
        (
            "tenants/shop/platform.yaml",
            2,
            "a Platform document cannot be in tenants/shop/platform.yaml; Platform documents belong in platform.yaml",
        ),
        (
            "tenants/shop/tenant2.yaml",
            2,
            "a Tenant document cannot be in tenants/shop/tenant2.yaml; Tenant "
            "documents belong in tenants/<tenant>/tenant.yaml",
        ),
    ]


def test_non_tenant_kinds_in_tenant_yaml(tmp_path: Path) -> None:
    content = base("tenants/other/tenant.yaml") + "---\n" + base("tenants/other/front.yaml").replace("front", "f2")
    result = load(tmp_path, {"tenants/other/tenant.yaml": content})
    assert errors(result) == [
        (
            "tenants/other/tenant.yaml",
            line_of(content, "kind: App"),
            "a App document cannot be in tenants/other/tenant.yaml; App documents belong in tenants/<tenant>/",
        )
    ]


def test_tenant_folder_without_tenant_yaml_and_stray_files(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        {
            "tenants/ghost/app.yaml": base("tenants/other/front.yaml").replace("other.", "ghost."),
            "tenants/stray.yaml": "a: 1\n",
        },
    )
    assert errors(result) == [
        ("tenants/ghost/tenant.yaml", 0, "tenant folder 'ghost' has no tenant.yaml"),
        ("tenants/stray.yaml", 0, "files directly in tenants/ are not read"),
    ]


# --- references -----------------------------------------------------------------------------------------


def test_dangling_volume_and_autoscaling_target(tmp_path: Path) -> None:
    api = base("tenants/shop/api.yaml").replace("volume: data", "volume: dta")
    scaling = base("tenants/shop/autoscaling.yaml").replace("target: web", "target: wbe")
    result = load(tmp_path, {"tenants/shop/api.yaml": api, "tenants/shop/autoscaling.yaml": scaling})
    assert errors(result) == [
        ("tenants/shop/api.yaml", line_of(api, "volume: dta"), "volume 'dta' does not exist in tenant 'shop'"),
        ("tenants/shop/autoscaling.yaml", line_of(scaling, "target"), "App 'wbe' does not exist in tenant 'shop'"),
    ]
    assert [p.hint for p in result.errors] == ["did you mean 'data'?", "did you mean 'web'?"]


def test_a_volume_of_another_tenant_is_not_found(tmp_path: Path) -> None:
    front = base("tenants/other/front.yaml") + "  volumes:\n    - volume: data\n      mountPath: /data\n"
    result = load(tmp_path, {"tenants/other/front.yaml": front})
    assert errors(result) == [
        ("tenants/other/front.yaml", line_of(front, "volume: data"), "volume 'data' does not exist in tenant 'other'")
    ]
    assert result.errors[0].hint == "there is no volume in tenant 'other' yet"


def test_dangling_template(tmp_path: Path) -> None:
    web = base("tenants/shop/web.yaml").replace("template: web", "template: wbe")
    result = load(tmp_path, {"tenants/shop/web.yaml": web})
    assert errors(result) == [("tenants/shop/web.yaml", line_of(web, "template"), "unknown template 'wbe'")]
    assert result.errors[0].hint == "did you mean 'web'?"


def test_dangling_notification_lists(tmp_path: Path) -> None:
    platform = base("platform.yaml").replace("default: ops", "default: platform-ops")
    tenant = base("tenants/shop/tenant.yaml").replace("notifications: [ops]", "notifications: [ops, shop]")
    policy = base("tenants/shop/policy.yaml").replace("notify: [ops]", "notify: [oncall]")
    result = load(
        tmp_path, {"platform.yaml": platform, "tenants/shop/tenant.yaml": tenant, "tenants/shop/policy.yaml": policy}
    )
    assert errors(result) == [
        (
            "platform.yaml",
            line_of(platform, "default: platform-ops"),
            "notification list 'platform-ops' does not exist",
        ),
        ("tenants/shop/policy.yaml", line_of(policy, "notify"), "notification list 'oncall' does not exist"),
        ("tenants/shop/tenant.yaml", line_of(tenant, "notifications"), "notification list 'shop' does not exist"),
    ]


def test_storage_class_undefined_or_not_allowed(tmp_path: Path) -> None:
    tenant = base("tenants/shop/tenant.yaml").replace("[ceph-rbd]", "[ceph-rbd, gold]")
    cephfs = doc("Volume", "shared", "spec:\n  size: 1Gi\n  storageClass: cephfs\n  accessMode: ReadWriteMany\n")
    silver = doc("Volume", "fast", "spec:\n  size: 1Gi\n  storageClass: ceph-rdb\n")
    result = load(
        tmp_path,
        {"tenants/shop/tenant.yaml": tenant, "tenants/shop/shared.yaml": cephfs, "tenants/shop/fast.yaml": silver},
    )
    assert errors(result) == [
        ("tenants/shop/fast.yaml", 7, "storage class 'ceph-rdb' is not defined in platform.yaml"),
        ("tenants/shop/shared.yaml", 7, "tenant 'shop' may not use storage class 'cephfs'"),
        (
            "tenants/shop/tenant.yaml",
            line_of(tenant, "storageClasses"),
            "storage class 'gold' is not defined in platform.yaml",
        ),
    ]
    assert result.errors[0].hint == "did you mean 'ceph-rbd'?"
    assert result.errors[1].hint == "allowed: ceph-rbd, gold (spec.storageClasses of the Tenant)"


def test_default_storage_class(tmp_path: Path) -> None:
    """A Volume without a class gets the platform default; without a default it is an error."""
    result = load(tmp_path)
    assert result.model is not None
    assert result.model.volumes[0].storage_class == "ceph-rbd"
    platform = base("platform.yaml").replace("      default: true\n", "")
    result = load(tmp_path / "b", {"platform.yaml": platform})
    assert errors(result) == [
        ("tenants/shop/volume.yaml", 5, "no storageClass, and the platform has no default storage class")
    ]


def test_two_default_storage_classes(tmp_path: Path) -> None:
    platform = base("platform.yaml").replace(
        "      provisioner: rook-ceph.cephfs.csi.ceph.com\n",
        "      provisioner: rook-ceph.cephfs.csi.ceph.com\n      default: true\n",
    )
    result = load(tmp_path, {"platform.yaml": platform})
    assert errors(result) == [
        (
            "platform.yaml",
            line_of(platform, "default: true", 2),
            "more than one default storage class ('ceph-rbd' and 'cephfs')",
        )
    ]


def test_backup_needs_a_snapshot_class(tmp_path: Path) -> None:
    tenant = base("tenants/shop/tenant.yaml").replace("[ceph-rbd]", "[ceph-rbd, cephfs]")
    volume = base("tenants/shop/volume.yaml").replace("size: 1Gi", "size: 1Gi\n  storageClass: cephfs")
    result = load(tmp_path, {"tenants/shop/tenant.yaml": tenant, "tenants/shop/volume.yaml": volume})
    assert errors(result) == [
        (
            "tenants/shop/volume.yaml",
            line_of(volume, "backup"),
            "backups are snapshots, and storage class 'cephfs' has no snapshotClass",
        )
    ]


def test_network_rule_references(tmp_path: Path) -> None:
    policy = doc(
        "Policy",
        "net",
        """
        spec:
          network:
            - allow:
                from: {app: wbe}
                to: {app: api}
            - allow:
                from: {tenant: nobody}
                to: {app: apii}
            - allow:
                from: {tenant: other, app: back}
                to: {app: api}
        """,
    )
    result = load(tmp_path, {"tenants/shop/net.yaml": policy})
    assert errors(result) == [
        ("tenants/shop/net.yaml", line_of(policy, "wbe"), "App 'wbe' does not exist in tenant 'shop'"),
        ("tenants/shop/net.yaml", line_of(policy, "nobody"), "tenant 'nobody' does not exist"),
        ("tenants/shop/net.yaml", line_of(policy, "apii"), "App 'apii' does not exist in tenant 'shop'"),
        ("tenants/shop/net.yaml", line_of(policy, "back"), "App 'back' does not exist in tenant 'other'"),
    ]


def test_tenant_references(tmp_path: Path) -> None:
    tenant = base("tenants/shop/tenant.yaml") + "  network:\n    allowFrom:\n      - tenant: monitoring\n"
    platform = base("platform.yaml").replace("tenants: [shop]", "tenants: [shop, payments]")
    result = load(tmp_path, {"tenants/shop/tenant.yaml": tenant, "platform.yaml": platform})
    assert errors(result) == [
        ("platform.yaml", line_of(platform, "payments"), "tenant 'payments' does not exist"),
        ("tenants/shop/tenant.yaml", line_of(tenant, "monitoring"), "tenant 'monitoring' does not exist"),
    ]


def test_alert_app_reference(tmp_path: Path) -> None:
    policy = (
        base("tenants/shop/policy.yaml") + "    - name: down\n      app: ap\n      when:\n"
        "        unavailable: {for: 1m}\n"
    )
    result = load(tmp_path, {"tenants/shop/policy.yaml": policy})
    assert errors(result) == [
        ("tenants/shop/policy.yaml", line_of(policy, "- name: down") + 1, "App 'ap' does not exist in tenant 'shop'")
    ]


def test_domain_claimed_by_two_apps_in_different_tenants(tmp_path: Path) -> None:
    front = base("tenants/other/front.yaml").replace("other.example.com", "shop.example.com")
    result = load(tmp_path, {"tenants/other/front.yaml": front})
    # tenants/other is read before tenants/shop, so the shop's web is the second claim.
    assert errors(result) == [
        (
            "tenants/shop/web.yaml",
            line_of(BASE["tenants/shop/web.yaml"], "domains"),
            "domain 'shop.example.com' is already claimed by App 'other/front'",
        )
    ]
    assert result.errors[0].hint == "see tenants/other/front.yaml:10; a domain routes to one App"


def test_two_autoscalings_for_one_app(tmp_path: Path) -> None:
    second = base("tenants/shop/autoscaling.yaml").replace("name: web", "name: web-2")
    result = load(tmp_path, {"tenants/shop/z-scaling.yaml": second})
    assert errors(result) == [("tenants/shop/z-scaling.yaml", 6, "App 'web' already has an Autoscaling ('web')")]


def test_replica_bounds(tmp_path: Path) -> None:
    scaling = doc(
        "Autoscaling",
        "web",
        """
        spec:
          target: web
          minReplicas: 5
          maxReplicas: 4
          schedules:
            - cron: "0 8 * * 1-5"
              duration: 0s
              minReplicas: 6
        """,
    )
    result = load(tmp_path, {"tenants/shop/autoscaling.yaml": scaling})
    assert errors(result) == [
        ("tenants/shop/autoscaling.yaml", 7, "minReplicas 5 is above maxReplicas 4"),
        (
            "tenants/shop/autoscaling.yaml",
            10,
            "while this schedule is active the replicas would be at least 6 and at most 4",
        ),
        ("tenants/shop/autoscaling.yaml", 11, "a schedule must last longer than 0s"),
    ]


def test_zero_intervals(tmp_path: Path) -> None:
    platform = base("platform.yaml").replace("interval: 1m", "interval: 0m")
    result = load(tmp_path, {"platform.yaml": platform})
    assert errors(result) == [("platform.yaml", 7, "interval must be longer than 0s")]


# --- inside an App --------------------------------------------------------------------------------------


def test_app_internal_consistency(tmp_path: Path) -> None:
    app = doc(
        "App",
        "x",
        """
        spec:
          image: a:1
          env:
            - {name: A, value: "1"}
            - {name: A, value: "2"}
          ports:
            - {name: http, port: 80}
            - {name: http, port: 80}
          resources:
            cpu: "2"
            limits: {cpu: 500m}
          probes:
            readiness: {http: /, port: htp}
            liveness: {tcp: grpc}
        """,
    )
    result = load(tmp_path, {"tenants/shop/x.yaml": app})
    assert errors(result) == [
        ("tenants/shop/x.yaml", 9, "environment variable 'A' is used twice"),
        ("tenants/shop/x.yaml", 12, "port name 'http' is used twice"),
        ("tenants/shop/x.yaml", 12, "port 80 is listed twice"),
        ("tenants/shop/x.yaml", 14, "cpu request 2 is above its limit 500m"),
        ("tenants/shop/x.yaml", 17, "probe port 'htp' is not a port of this App"),
        ("tenants/shop/x.yaml", 18, "probe port 'grpc' is not a port of this App"),
    ]
    assert result.errors[4].hint == "did you mean 'http'?"


def test_domains_need_a_port(tmp_path: Path) -> None:
    front = base("tenants/other/front.yaml").replace("  ports:\n    - name: http\n      port: 80\n", "")
    result = load(tmp_path, {"tenants/other/front.yaml": front})
    assert errors(result) == [("tenants/other/front.yaml", 7, "domains need a port to route to")]


def test_event_patterns_must_match_events(tmp_path: Path) -> None:
    ops = base("notifications/ops.yaml").replace("[sync.failed, alert.*]", "[sync.failed, alerts.*, sync.fail]")
    result = load(tmp_path, {"notifications/ops.yaml": ops})
    line = line_of(ops, "events")
    assert errors(result) == [
        ("notifications/ops.yaml", line, "'alerts.*' matches no event"),
        ("notifications/ops.yaml", line, "'sync.fail' matches no event"),
    ]
    assert [p.hint for p in result.errors] == ["did you mean 'alert.*'?", "did you mean 'sync.failed'?"]


# --- warnings -------------------------------------------------------------------------------------------


def test_warnings_do_not_invalidate(tmp_path: Path) -> None:
    front = base("tenants/other/front.yaml").replace("nginx:1.27", "nginx")
    tenant = base("tenants/shop/tenant.yaml").replace('cpu: "4"', "cpu: 50m").replace("pods: 20", "pods: 3")
    worker = doc(
        "App", "worker", "spec:\n  image: busybox:1.36\n  volumes:\n    - volume: data\n      mountPath: /data\n"
    )
    policy = base("tenants/shop/policy.yaml").replace("ports: [8080]", "ports: [8081]")
    result = load(
        tmp_path,
        {
            "tenants/other/front.yaml": front,
            "tenants/shop/tenant.yaml": tenant,
            "tenants/shop/worker.yaml": worker,
            "tenants/shop/policy.yaml": policy,
        },
    )
    assert errors(result) == []
    assert result.model is not None
    assert warnings(result) == [
        ("tenants/other/front.yaml", 6, "image 'nginx' has no tag, so it means ':latest'"),
        ("tenants/shop/policy.yaml", 10, "port 8081 is not a port of App 'api'"),
        (
            "tenants/shop/tenant.yaml",
            7,
            "the apps of tenant 'shop' request 0.1 cpu at their most replicas, more than the quota of 50m",
        ),
        ("tenants/shop/tenant.yaml", 10, "the apps of tenant 'shop' run up to 6 pods, more than the quota of 3"),
        ("tenants/shop/worker.yaml", 8, "volume 'data' is ReadWriteOnce and already mounted by App 'api'"),
    ]
