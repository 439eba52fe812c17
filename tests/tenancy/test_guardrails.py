"""What a tenant may ask for is the platform's to say: each way past a guardrail is an error that
names the file, line and field, and the rule of platform.yaml that forbids it."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.loader import load_repo
from tests.loader.helpers import line_of, repo
from tests.tenancy.helpers import document, errors_at, load, platform_with, rendered, tenant

EVIL = "tenants/evil/tenant.yaml"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("kube-system", "built in (kube-*)"),
        ("kube-public", "built in (kube-*)"),
        ("kube-node-lease", "built in (kube-*)"),
        ("default", "built in (default)"),
        ("dockyard-system", "built in (dockyard-system)"),
        ("ingress-nginx", "the ingress controller's namespace, the default of spec.ingress.namespace"),
    ],
)
def test_reserved_namespaces_are_never_tenants(tmp_path: Path, name: str, why: str) -> None:
    # The attack of the issue: every authenticated user made admin of kube-system.
    spec = 'members: [{kind: Group, name: "system:authenticated", role: admin}]\nquota: {cpu: "1", memory: 1Gi}'
    result = load(tmp_path, {f"tenants/{name}/tenant.yaml": tenant(name, spec)})
    problems = errors_at(result, f"tenants/{name}/tenant.yaml")
    reserved = next(p for p in problems if p.code == "guardrail.reserved-namespace")
    assert (reserved.line, reserved.path) == (4, "$.metadata.name")
    assert reserved.message == f"namespace '{name}' is reserved; no tenant may take it"
    assert why in reserved.hint
    assert result.model is None  # nothing is rendered, so no RoleBinding lands in kube-system


def test_the_daemons_namespace_and_the_ingress_namespace_of_the_platform_are_reserved(tmp_path: Path) -> None:
    platform = platform_with("ingress:\n  namespace: edge-proxy\n")
    files = {
        "platform.yaml": platform,
        "tenants/ops-dockyard/tenant.yaml": tenant("ops-dockyard"),
        "tenants/edge-proxy/tenant.yaml": tenant("edge-proxy"),
        "tenants/ingress-nginx/tenant.yaml": tenant("ingress-nginx"),  # no longer the controller's
    }
    result = load_repo(repo(tmp_path, files), reserved_namespaces=("ops-dockyard",))
    reserved = {p.file: p.hint for p in result.errors if p.code == "guardrail.reserved-namespace"}
    assert set(reserved) == {"tenants/ops-dockyard/tenant.yaml", "tenants/edge-proxy/tenant.yaml"}
    assert "the namespace the Dockyard daemon runs in (ops-dockyard)" in reserved["tenants/ops-dockyard/tenant.yaml"]
    line = line_of(platform, "namespace: edge-proxy")
    assert f"platform.yaml:{line} (spec.ingress.namespace)" in reserved["tenants/edge-proxy/tenant.yaml"]


def test_the_platform_reserves_more_names_and_prefixes(tmp_path: Path) -> None:
    platform = platform_with('tenancy:\n  reservedNamespaces: [rook-ceph, "cattle-*"]\n')
    result = load(
        tmp_path,
        {
            "platform.yaml": platform,
            "tenants/rook-ceph/tenant.yaml": tenant("rook-ceph"),
            "tenants/cattle-system/tenant.yaml": tenant("cattle-system"),
            "tenants/cattle/tenant.yaml": tenant("cattle"),  # the prefix is "cattle-"
        },
    )
    hints = {p.file: p.hint for p in result.errors}
    line = line_of(platform, "reservedNamespaces")
    assert hints["tenants/rook-ceph/tenant.yaml"].startswith(
        f"reserved by platform.yaml:{line} (spec.tenancy.reservedNamespaces): rook-ceph"
    )
    assert "cattle-*" in hints["tenants/cattle-system/tenant.yaml"]
    assert "tenants/cattle/tenant.yaml" not in hints


def test_pod_security_levels_are_the_platforms_to_allow(tmp_path: Path) -> None:
    result = load(tmp_path / "a", {EVIL: tenant("evil", 'podSecurity: privileged\nquota: {cpu: "1", memory: 1Gi}')})
    [problem] = errors_at(result, EVIL)
    assert (problem.line, problem.path, problem.code) == (6, "$.spec.podSecurity", "guardrail.pod-security")
    assert problem.message == "podSecurity 'privileged' is not allowed for tenants"
    assert (
        problem.hint == "the default of spec.tenancy.allowedPodSecurity in platform.yaml allows: restricted, baseline"
    )

    # A platform that only allows restricted: the default (baseline) of a Tenant that says nothing
    # is refused too, and the hint points at the line of the rule.
    platform = platform_with("tenancy:\n  allowedPodSecurity: [restricted]\n")
    result = load(tmp_path / "b", {"platform.yaml": platform, EVIL: tenant("evil")})
    [problem] = errors_at(result, EVIL)
    assert (
        problem.message
        == "podSecurity 'baseline' is not allowed for tenants (it is the default when a Tenant sets none)"
    )
    line = line_of(platform, "allowedPodSecurity")
    assert problem.hint == f"platform.yaml:{line} (spec.tenancy.allowedPodSecurity) allows: restricted"

    platform = platform_with("tenancy:\n  allowedPodSecurity: [restricted, baseline, privileged]\n")
    allowed = load(
        tmp_path / "c",
        {"platform.yaml": platform, EVIL: tenant("evil", 'podSecurity: privileged\nquota: {cpu: "1", memory: 1Gi}')},
    )
    assert errors_at(allowed, EVIL) == []


def test_network_isolation_is_the_platforms_to_open(tmp_path: Path) -> None:
    spec = 'network: {isolation: open}\nquota: {cpu: "1", memory: 1Gi}'
    [problem] = errors_at(load(tmp_path / "a", {EVIL: tenant("evil", spec)}), EVIL)
    assert (problem.path, problem.code) == ("$.spec.network.isolation", "guardrail.isolation")
    assert problem.hint == "the default of spec.tenancy.allowedIsolation in platform.yaml allows: strict"
    platform = platform_with("tenancy:\n  allowedIsolation: [strict, open]\n")
    assert errors_at(load(tmp_path / "b", {"platform.yaml": platform, EVIL: tenant("evil", spec)}), EVIL) == []


@pytest.mark.parametrize(
    ("kind", "name", "allowed"),
    [
        ("Group", "system:authenticated", False),
        ("Group", "system:masters", False),
        ("User", "system:serviceaccount:kube-system:default", False),
        ("User", "system:anonymous", False),
        ("User", "mallory@evil.example", False),
        ("User", "alice@example.com", True),
        ("Group", "shop-developers", True),
        ("Group", "system:serviceaccounts:monitoring", True),  # the platform lists this one
    ],
)
def test_member_subjects_follow_the_platforms_patterns(tmp_path: Path, kind: str, name: str, allowed: bool) -> None:
    platform = platform_with(
        """
        tenancy:
          members:
            - kind: User
              names: ["*@example.com"]
            - kind: Group
              names: ["*", "system:serviceaccounts:monitoring"]
        """
    )
    spec = f'members: [{{kind: {kind}, name: "{name}", role: admin}}]\nquota: {{cpu: "1", memory: 1Gi}}'
    problems = errors_at(load(tmp_path, {"platform.yaml": platform, EVIL: tenant("evil", spec)}), EVIL)
    if allowed:
        assert problems == []
        return
    [problem] = problems
    assert (problem.path, problem.code) == ("$.spec.members[0].name", "guardrail.member")
    assert problem.message == f"member {kind} '{name}' is not allowed in a tenant"
    assert f"platform.yaml:{line_of(platform, 'members:')} (spec.tenancy.members)" in problem.hint
    assert ("Kubernetes' own users and groups" in problem.hint) == name.startswith("system:")


def test_by_default_system_subjects_are_refused_and_everything_else_allowed(tmp_path: Path) -> None:
    spec = (
        "members:\n"
        "  - {kind: Group, name: 'system:authenticated', role: view}\n"
        "  - {kind: User, name: anyone@anywhere.example, role: edit}\n"
        'quota: {cpu: "1", memory: 1Gi}'
    )
    [problem] = errors_at(load(tmp_path, {EVIL: tenant("evil", spec)}), EVIL)
    assert problem.path == "$.spec.members[0].name"
    assert "the default of spec.tenancy.members in platform.yaml allows Group: *" in problem.hint


def test_quota_is_required_and_bounded(tmp_path: Path) -> None:
    # No quota at all: the tenant set its own ceiling (none).
    [problem] = errors_at(load(tmp_path / "a", {EVIL: tenant("evil", "displayName: Evil")}), EVIL)
    assert (problem.code, problem.message) == (
        "guardrail.quota",
        "tenant 'evil' sets no quota, and the platform requires one",
    )

    platform = platform_with('tenancy:\n  quota:\n    max: {cpu: "16", memory: 64Gi, pods: 200}\n')
    spec = 'quota: {cpu: "64", memory: 100Gi}'
    problems = errors_at(load(tmp_path / "b", {"platform.yaml": platform, EVIL: tenant("evil", spec)}), EVIL)
    assert [(p.path, p.message) for p in problems] == [
        ("$.spec.quota", "quota.pods must be set: the platform caps it at 200"),
        ("$.spec.quota.cpu", "quota.cpu 64 is more than the platform allows (16)"),
        ("$.spec.quota.memory", "quota.memory 100Gi is more than the platform allows (64Gi)"),
    ]
    assert problems[1].hint.startswith(f"platform.yaml:{line_of(platform, 'max:')} (spec.tenancy.quota.max.cpu)")
    # Units are compared as quantities, not as text: 64000Mi is less than 64Gi.
    spec = "quota: {cpu: 16000m, memory: 64000Mi, pods: 200}"
    assert errors_at(load(tmp_path / "c", {"platform.yaml": platform, EVIL: tenant("evil", spec)}), EVIL) == []
    # A platform may let tenants go without a quota.
    platform = platform_with("tenancy:\n  quota: {required: false}\n")
    assert (
        errors_at(load(tmp_path / "d", {"platform.yaml": platform, EVIL: tenant("evil", "displayName: Evil")}), EVIL)
        == []
    )


APP = "tenants/shop/x.yaml"


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("App", "nginx.ingress.kubernetes.io/server-snippet"),
        ("App", "nginx.ingress.kubernetes.io/configuration-snippet"),
        ("Volume", "volume.kubernetes.io/selected-node"),
        ("Autoscaling", "autoscaling.alpha.kubernetes.io/behavior"),
        ("Policy", "example.com/owner"),  # allowed on Apps only
    ],
)
def test_annotations_need_a_platform_rule_for_their_kind(tmp_path: Path, kind: str, key: str) -> None:
    platform = platform_with("tenancy:\n  annotations:\n    - kinds: [App]\n      prefixes: [example.com/]\n")
    specs = {
        "App": "image: nginx:1.27\nports: [{name: http, port: 80}]\ndomains: [x.example.com]",
        "Volume": "size: 1Gi",
        "Autoscaling": "target: api\nminReplicas: 1\nmaxReplicas: 2",
        "Policy": "alerts: []",
    }
    content = document(kind, "x", specs[kind], metadata=f'annotations: {{"{key}": "x"}}')
    [problem] = errors_at(load(tmp_path, {"platform.yaml": platform, APP: content}), APP)
    assert (problem.line, problem.code) == (5, "guardrail.annotation")
    assert problem.message == f"annotation '{key}' is not allowed on {kind} documents"
    allowed = "allows: example.com/" if kind == "App" else "allows none"
    assert (
        problem.hint
        == f"platform.yaml:{line_of(platform, 'annotations:')} (spec.tenancy.annotations) {allowed} for {kind}"
    )


def test_the_dockyard_prefix_is_reserved_for_annotations_as_for_labels(tmp_path: Path) -> None:
    platform = platform_with(
        'tenancy:\n  annotations:\n    - kinds: ["*"]\n      prefixes: [dockyard.dev/, example.com/]\n'
    )
    content = document("Volume", "x", "size: 1Gi", metadata='annotations: {"dockyard.dev/deletion-policy": Delete}')
    [problem] = errors_at(load(tmp_path, {"platform.yaml": platform, APP: content}), APP)
    assert problem.message == "annotation 'dockyard.dev/deletion-policy' is reserved for Dockyard"
    # Platform-owned documents may not use it either.
    nlist = document(
        "NotificationList", "x", "targets: [{slack: {channel: '#x'}}]", metadata='annotations: {"dockyard.dev/x": y}'
    )
    result = load(tmp_path / "b", {"notifications/x.yaml": nlist})
    assert [p.message for p in errors_at(result, "notifications/x.yaml")] == [
        "annotation 'dockyard.dev/x' is reserved for Dockyard"
    ]


def test_tenant_annotations_do_not_reach_the_namespace_unless_allowed(tmp_path: Path) -> None:
    meta = 'annotations: {"scheduler.alpha.kubernetes.io/node-selector": "pool=gpu"}'
    result = load(tmp_path / "a", {EVIL: tenant("evil", metadata=meta)})
    assert [p.code for p in errors_at(result, EVIL)] == ["guardrail.annotation"]

    platform = platform_with(
        "tenancy:\n  annotations:\n"
        "    - kinds: [Tenant]\n      prefixes: [scheduler.alpha.kubernetes.io/node-selector]\n"
        "    - kinds: [App]\n      prefixes: [prometheus.io/]\n"
    )
    app = document(
        "App",
        "x",
        "image: nginx:1.27\nports: [{name: http, port: 80}]",
        metadata='annotations: {"prometheus.io/scrape": "true"}',
    )
    objects = rendered(
        tmp_path / "b", {"platform.yaml": platform, EVIL: tenant("evil", metadata=meta), "tenants/evil/x.yaml": app}
    )
    namespace = next(o for o in objects if o["kind"] == "Namespace" and o["metadata"]["name"] == "evil")
    assert namespace["metadata"]["annotations"]["scheduler.alpha.kubernetes.io/node-selector"] == "pool=gpu"
    service = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "x")
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
