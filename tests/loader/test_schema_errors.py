"""Schema errors of every kind: exact file, line and message, and the hint that helps fix them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.loader.helpers import BASE, errors, line_of, load, text

HEAD = "apiVersion: dockyard.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n"


def doc(kind: str, name: str, body: str) -> str:
    return HEAD.format(kind=kind, name=name) + text(body)


def check(tmp_path: Path, path: str, content: str, expected: list[tuple[str, str]]) -> list[str]:
    """Load the base repo plus ``content`` at ``path``; expect these (needle, message) errors there.

    The line of each error is the line of its needle in ``content``. Returns the hints.
    """
    result = load(tmp_path, {path: content})
    assert errors(result) == [(path, line_of(content, needle), message) for needle, message in expected]
    return [p.hint for p in result.errors]


# --- envelope -----------------------------------------------------------------------------------------


def test_wrong_api_version(tmp_path: Path) -> None:
    content = doc("App", "x", "spec:\n  image: a:1\n").replace("v1alpha1", "v1beta1")
    check(
        tmp_path,
        "tenants/shop/x.yaml",
        content,
        [("apiVersion", "apiVersion must be 'dockyard.dev/v1alpha1', not 'dockyard.dev/v1beta1'")],
    )


def test_unknown_kind_suggests_the_right_one(tmp_path: Path) -> None:
    content = doc("Ap", "x", "spec: {}\n")
    hints = check(tmp_path, "tenants/shop/x.yaml", content, [("kind:", "unknown kind 'Ap'")])
    assert hints == ["did you mean 'App'?"]


def test_missing_kind(tmp_path: Path) -> None:
    content = "apiVersion: dockyard.dev/v1alpha1\nmetadata:\n  name: x\n"
    hints = check(tmp_path, "tenants/shop/x.yaml", content, [("apiVersion", "document has no 'kind'")])
    assert hints == ["allowed here: App, Volume, Policy, Autoscaling, Job, Patch"]


def test_raw_kubernetes_objects_are_refused_outside_manifests(tmp_path: Path) -> None:
    content = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n"
    hints = check(
        tmp_path,
        "tenants/shop/x.yaml",
        content,
        [("kind:", "'Deployment' (apps/v1) is not a Dockyard kind")],
    )
    assert hints[0].endswith("raw Kubernetes objects go in tenants/shop/manifests/ (kinds the platform allows)")


def test_cluster_scoped_objects_are_refused_in_a_tenant(tmp_path: Path) -> None:
    content = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: x\n"
    check(
        tmp_path,
        "tenants/shop/x.yaml",
        content,
        [
            (
                "kind:",
                "'ClusterRoleBinding' is a cluster-scoped Kubernetes object; platform repo documents cannot create it",
            )
        ],
    )


def test_metadata_namespace_is_refused(tmp_path: Path) -> None:
    content = doc("Volume", "x", "spec:\n  size: 1Gi\n").replace("  name: x\n", "  name: x\n  namespace: other\n")
    hints = check(
        tmp_path,
        "tenants/shop/x.yaml",
        content,
        [
            (
                "namespace",
                "metadata.namespace cannot be set: the objects of tenant 'shop' always live in namespace 'shop'",
            )
        ],
    )
    assert hints == ["remove it"]


def test_metadata_name_must_be_a_dns_label(tmp_path: Path) -> None:
    content = doc("Volume", "Orders_DB", "spec:\n  size: 1Gi\n")
    hints = check(tmp_path, "tenants/shop/x.yaml", content, [("name:", "'Orders_DB' is not a valid DNS-1123 label")])
    assert hints[0].startswith("did you mean 'orders-db'? expected a DNS-1123 label such as")


def test_reserved_label_keys_and_bad_label_values(tmp_path: Path) -> None:
    content = doc("Volume", "x", "spec:\n  size: 1Gi\n").replace(
        "  name: x\n", "  name: x\n  labels:\n    dockyard.dev/tenant: other\n    team: a b\n"
    )
    check(
        tmp_path,
        "tenants/shop/x.yaml",
        content,
        [
            ("dockyard.dev/tenant", "label 'dockyard.dev/tenant' is reserved for Dockyard"),
            ("team:", "'a b' is not a valid label value"),
        ][1:],
    )
    content = doc("Volume", "x", "spec:\n  size: 1Gi\n").replace(
        "  name: x\n", "  name: x\n  labels:\n    dockyard.dev/tenant: other\n"
    )
    check(
        tmp_path / "b",
        "tenants/shop/x.yaml",
        content,
        [("dockyard.dev/tenant", "label 'dockyard.dev/tenant' is reserved for Dockyard")],
    )


def test_bad_label_key_points_at_the_key(tmp_path: Path) -> None:
    content = doc("Volume", "x", "spec:\n  size: 1Gi\n").replace("  name: x\n", "  name: x\n  labels:\n    -bad-: v\n")
    check(tmp_path, "tenants/shop/x.yaml", content, [("-bad-", "'-bad-' is not a valid label key")])


# --- Platform -------------------------------------------------------------------------------------------


def test_platform_unknown_field_and_range(tmp_path: Path) -> None:
    content = (
        text(BASE["platform.yaml"]).replace("    interval: 1m", "    intervall: 1m")
        + "  prune:\n    maxFraction: 1.5\n"
    )
    hints = check(
        tmp_path,
        "platform.yaml",
        content,
        [("intervall", "unknown field 'intervall' in sync"), ("maxFraction", "maxFraction must be at most 1, not 1.5")],
    )
    assert hints == ["did you mean 'interval'?", "allowed range: 0 to 1"]


def test_platform_window_formats(tmp_path: Path) -> None:
    content = (
        text(BASE["platform.yaml"])
        .replace('"0 22 * * 1-5"', '"0 25 * * 1-5"')
        .replace("duration: 8h", "duration: 8 hours")
        .replace("Europe/Berlin", "Europe/Berln")
    )
    hints = check(
        tmp_path,
        "platform.yaml",
        content,
        [
            ("schedule", "'0 25 * * 1-5' is not a valid cron expression: hour: 25 is out of range 0-23"),
            ("duration", "'8 hours' is not a valid duration"),
            ("timezone", "'Europe/Berln' is not a valid IANA time zone"),
        ],
    )
    assert hints[1].startswith("did you mean '8h'? expected a duration such as")
    assert hints[2].startswith("did you mean 'Europe/Berlin'?")


# --- Tenant ---------------------------------------------------------------------------------------------


def test_tenant_enum_and_quantity(tmp_path: Path) -> None:
    content = (
        text(BASE["tenants/shop/tenant.yaml"]).replace("memory: 8Gi", "memory: 8GB") + "  podSecurity: Restricted\n"
    )
    hints = check(
        tmp_path,
        "tenants/shop/tenant.yaml",
        content,
        [
            ("memory", "'8GB' is not a valid Kubernetes quantity"),
            ("podSecurity", "'Restricted' is not a valid podSecurity"),
        ],
    )
    assert hints[0].startswith("did you mean '8G (powers of 1000) or 8Gi (powers of 1024)'?")
    assert hints[1] == "did you mean 'restricted'? allowed values: restricted, baseline, privileged"


def test_tenant_members_need_kind_name_and_role(tmp_path: Path) -> None:
    content = text(BASE["tenants/shop/tenant.yaml"]) + "  members:\n    - name: alice@example.com\n      role: owner\n"
    check(
        tmp_path,
        "tenants/shop/tenant.yaml",
        content,
        [
            ("- name: alice", "missing required field 'kind' in members[0]"),
            ("role: owner", "'owner' is not a valid role"),
        ],
    )


# --- App ------------------------------------------------------------------------------------------------


def test_app_unknown_field_type_and_missing_image(tmp_path: Path) -> None:
    content = doc(
        "App",
        "x",
        """
        spec:
          replica: 2
          stateful: "yes"
          ports:
            - name: http
              port: 70000
        """,
    )
    hints = check(
        tmp_path,
        "tenants/shop/x.yaml",
        content,
        [
            ("spec:", "missing required field 'image' in spec"),
            ("replica:", "unknown field 'replica' in spec"),
            ("stateful", "stateful must be true or false, not the string 'yes'"),
            ("port: 70000", "port must be at most 65535, not 70000"),
        ],
    )
    assert hints[0] == "image: An App that uses no template must set image."
    assert hints[1] == "did you mean 'replicas'?"


def test_app_quoted_number_and_boolean_string(tmp_path: Path) -> None:
    content = doc(
        "App",
        "x",
        """
        spec:
          image: no
          replicas: "3"
        """,
    )
    hints = check(
        tmp_path,
        "tenants/shop/x.yaml",
        content,
        [
            ("image", "image must be a string, not the boolean false"),
            ("replicas", "replicas must be a whole number, not the string '3'"),
        ],
    )
    assert hints == [
        "YAML reads yes/no/on/off/true/false as booleans; quote the value",
        "remove the quotes to make it a number",
    ]


def test_app_exactly_one_value_source_and_probe_kind(tmp_path: Path) -> None:
    content = doc(
        "App",
        "x",
        """
        spec:
          image: a:1
          env:
            - name: A
              value: x
              secretRef: {name: s, key: k}
            - name: B
          probes:
            readiness:
              periodSeconds: 5
        """,
    )
    check(
        tmp_path,
        "tenants/shop/x.yaml",
        content,
        [
            (
                "- name: A",
                "env[0] must set only one of value, secretRef, configMapRef, field; it sets value, secretRef",
            ),
            ("- name: B", "env[1] must set one of: value, secretRef, configMapRef, field"),
            ("readiness", "readiness must set one of: http, tcp, grpc, command"),
        ],
    )


def test_app_secret_in_another_namespace(tmp_path: Path) -> None:
    content = doc(
        "App",
        "x",
        """
        spec:
          image: a:1
          env:
            - name: A
              secretRef: {name: s, key: k, namespace: payments}
        """,
    )
    hints = check(tmp_path, "tenants/shop/x.yaml", content, [("secretRef", "namespace cannot be set here")])
    assert hints == ["Never set: Secrets and ConfigMaps are always read from the tenant's own namespace."]


def test_app_reference_into_another_tenant(tmp_path: Path) -> None:
    content = doc(
        "App",
        "x",
        """
        spec:
          image: a:1
          volumes:
            - volume: payments/ledger
              mountPath: /data
        """,
    )
    hints = check(
        tmp_path,
        "tenants/shop/x.yaml",
        content,
        [("volume:", "'payments/ledger' names something in another namespace; volume must be a name of this tenant")],
    )
    assert hints == ["objects can only refer to objects of their own tenant"]


def test_canary_weight_range(tmp_path: Path) -> None:
    content = doc("App", "x", "spec:\n  image: a:1\n  canary:\n    image: a:2\n    weight: 150\n")
    hints = check(tmp_path, "tenants/shop/x.yaml", content, [("weight", "weight must be at most 100, not 150")])
    assert hints == ["allowed range: 0 to 100"]


def test_domain_and_duplicate_items(tmp_path: Path) -> None:
    content = doc(
        "App",
        "x",
        """
        spec:
          image: a:1
          ports: [{name: http, port: 80}]
          domains: [x.example.com, Shop.Example.com, x.example.com]
        """,
    )
    result = load(tmp_path, {"tenants/shop/x.yaml": content})
    line = line_of(content, "domains")
    assert errors(result) == [
        ("tenants/shop/x.yaml", line, "'Shop.Example.com' is not a valid domain name"),
        ("tenants/shop/x.yaml", line, "domains lists 'x.example.com' twice"),
    ]
    assert [p.column for p in result.errors] == [28, 46]


# --- Volume ---------------------------------------------------------------------------------------------


def test_volume_size_access_mode_and_cron(tmp_path: Path) -> None:
    content = doc(
        "Volume",
        "x",
        """
        spec:
          accessMode: ReadWriteMost
          backup:
            schedule: "0 */6 * *"
            retention: {daily: -1}
        """,
    )
    hints = check(
        tmp_path,
        "tenants/shop/x.yaml",
        content,
        [
            ("spec:", "missing required field 'size' in spec"),
            ("accessMode", "'ReadWriteMost' is not a valid accessMode"),
            (
                "schedule",
                "'0 */6 * *' is not a valid cron expression: expected 5 fields (minute hour "
                "day-of-month month day-of-week), found 4",
            ),
            ("retention", "daily must be at least 0, not -1"),
        ],
    )
    assert hints[1].startswith("did you mean 'ReadWriteMany'? allowed values:")


# --- Policy ---------------------------------------------------------------------------------------------


def test_policy_rule_shape(tmp_path: Path) -> None:
    content = doc(
        "Policy",
        "x",
        """
        spec:
          network:
            - allow:
                from: {}
                to: {cidr: 10.0.0.1/8, host: api.example.com}
          alerts:
            - name: a
              when:
                podRestarts: {over: 5, window: 10m}
                unavailable: {for: 1m}
              severity: urgent
        """,
    )
    hints = check(
        tmp_path,
        "tenants/shop/x.yaml",
        content,
        [
            ("from:", "from needs at least one of: app, tenant"),
            ("to:", "'10.0.0.1/8' is not a valid CIDR: 10.0.0.1/8 has host bits set"),
            ("to:", "host needs cidrs in to"),
            (
                "when:",
                "when must set only one of podRestarts, cpuAbove, memoryAbove, unavailable; it sets "
                "podRestarts, unavailable",
            ),
            ("severity", "'urgent' is not a valid severity"),
        ],
    )
    assert hints[1] == "expected a CIDR such as 203.0.113.0/24, 0.0.0.0/0"
    assert hints[2].startswith("cidrs: The address ranges of host (NetworkPolicy matches addresses, never names)")


# --- Autoscaling ----------------------------------------------------------------------------------------


def test_autoscaling_metric_and_duration_type(tmp_path: Path) -> None:
    content = doc(
        "Autoscaling",
        "x",
        """
        spec:
          target: web
          minReplicas: 1
          maxReplicas: 2
          metrics:
            - cpu: "70"
          behavior:
            scaleDown:
              stabilizationWindow: 300
        """,
    )
    hints = check(
        tmp_path,
        "tenants/shop/x.yaml",
        content,
        [
            ("cpu", "'70' is not a valid percentage"),
            ("stabilizationWindow", "stabilizationWindow must be a string, not the number 300"),
        ],
    )
    assert hints == ["expected a percentage such as 70%, 80%", "add a unit, e.g. '300s' or '300m'"]


def test_autoscaling_schedule_needs_bounds(tmp_path: Path) -> None:
    content = doc(
        "Autoscaling",
        "x",
        """
        spec:
          target: web
          minReplicas: 1
          maxReplicas: 2
          schedules:
            - cron: "0 8 * * 1-5"
              duration: 10h
        """,
    )
    check(
        tmp_path,
        "tenants/shop/x.yaml",
        content,
        [("- cron", "schedules[0] must set at least one of: minReplicas, maxReplicas")],
    )


# --- NotificationList -----------------------------------------------------------------------------------


def test_notification_targets(tmp_path: Path) -> None:
    content = doc(
        "NotificationList",
        "x",
        """
        spec:
          targets:
            - slack: {channel: "shop alerts"}
            - webhook: {}
            - email: {to: [not-an-address]}
            - pager: {}
          minSeverity: debug
        """,
    )
    hints = check(
        tmp_path,
        "notifications/x.yaml",
        content,
        [
            ("slack", "'shop alerts' is not a valid Slack channel"),
            ("webhook", "webhook must set at least one of: url, secretRef"),
            ("email", "'not-an-address' is not a valid e-mail address"),
            ("pager", "unknown field 'pager' in targets[3]"),
            ("pager", "targets[3] must set one of: slack, webhook, email, dingtalk, feishu, wecom"),
            ("minSeverity", "'debug' is not a valid minSeverity"),
        ],
    )
    assert hints[-1] == "allowed values: info, warning, critical"


def test_notification_list_needs_targets(tmp_path: Path) -> None:
    content = doc("NotificationList", "x", "spec:\n  targets: []\n")
    check(tmp_path, "notifications/x.yaml", content, [("targets", "targets needs at least 1 item")])


# --- Template -------------------------------------------------------------------------------------------


def test_template_shape(tmp_path: Path) -> None:
    content = doc(
        "Template",
        "x",
        """
        spec:
          parameters: [image]
          app:
            replica: 2
        """,
    )
    hints = check(
        tmp_path,
        "templates/x.yaml",
        content,
        [("parameters", "parameters must be a mapping, not a list"), ("replica", "unknown field 'replica' in app")],
    )
    assert hints[1] == "did you mean 'replicas'?"


@pytest.mark.parametrize(
    "kind",
    ["Platform", "Tenant", "App", "Volume", "Policy", "Autoscaling", "NotificationList", "Template", "Job", "Patch"],
)
def test_every_kind_rejects_unknown_spec_fields(tmp_path: Path, kind: str) -> None:
    place = {
        "Platform": "platform.yaml",
        "Tenant": "tenants/shop/tenant.yaml",
        "NotificationList": "notifications/x.yaml",
        "Template": "templates/x.yaml",
    }.get(kind, "tenants/shop/x.yaml")
    name = "shop" if kind == "Tenant" else "x"
    content = doc(kind, name, "spec:\n  colour: blue\n")
    result = load(tmp_path, {place: content})
    found = [(p.file, p.line, p.message) for p in result.errors if p.code == "schema.unknown-field"]
    assert found == [(place, 6, "unknown field 'colour' in spec")]
