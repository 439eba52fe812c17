"""Multi-tenant network isolation as standard NetworkPolicies (enforced by Calico).

Under ``strict`` isolation a tenant's namespace denies all ingress and egress, then allows:
traffic inside the tenant, DNS, the ingress controller to apps with domains, clients of apps
exposed as LoadBalancer or NodePort Services, the tenants in ``allowFrom``, and every Policy
``network`` rule. An app named as the target of a Policy rule
accepts only what its rules allow (plus the ingress controller), not the whole tenant: that is
what a team means when it writes a rule for it. Cross-tenant rules are rendered on both sides:
ingress in the target's namespace and egress in the source's namespace when that one is strict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daemon.model.kinds import NetworkRule, PlatformModel, Policy, Tenant
from daemon.model.labels import APP_LABEL
from daemon.model.refs import SourceRef
from daemon.render.meta import object_meta

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
INGRESS_CONTROLLER_NAMESPACE = "ingress-nginx"


def _ns_selector(namespace: str) -> dict[str, Any]:
    return {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}


def _app_selector(app: str | None) -> dict[str, Any]:
    return {"matchLabels": {APP_LABEL: app}} if app else {}


def _ports(ports: Iterable[int]) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def _policy(
    name: str,
    namespace: str,
    source: SourceRef,
    revision: str,
    tenant: str,
    spec: dict[str, Any],
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(name, source=source, revision=revision, namespace=namespace, tenant=tenant),
        "spec": spec,
    }


def render_network(model: PlatformModel, revision: str) -> list[dict[str, Any]]:
    tenants = {t.name: t for t in model.tenants}
    objects: list[dict[str, Any]] = []
    restricted = _apps_with_rules(model.policies)
    for tenant in model.tenants:
        if tenant.network.isolation == "strict":
            objects.extend(_baseline(tenant, model, revision, restricted.get(tenant.name, set())))
        for other_name in tenant.network.allow_from:
            other = tenants.get(other_name)
            if tenant.network.isolation == "strict":
                objects.append(
                    _policy(
                        f"allow-from-tenant-{other_name}",
                        tenant.namespace,
                        tenant.source,
                        revision,
                        tenant.name,
                        {
                            "podSelector": {},
                            "policyTypes": ["Ingress"],
                            "ingress": [{"from": [{"namespaceSelector": _ns_selector(other_name)}]}],
                        },
                    )
                )
            if other is not None and other.network.isolation == "strict":
                objects.append(
                    _policy(
                        f"allow-egress-to-tenant-{tenant.name}",
                        other.namespace,
                        tenant.source,
                        revision,
                        other.name,
                        {
                            "podSelector": {},
                            "policyTypes": ["Egress"],
                            "egress": [{"to": [{"namespaceSelector": _ns_selector(tenant.namespace)}]}],
                        },
                    )
                )
    for policy in model.policies:
        objects.extend(_rule_policies(policy, tenants, revision))
    return objects


def _apps_with_rules(policies: Iterable[Policy]) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for policy in policies:
        for rule in policy.network:
            result.setdefault(policy.tenant, set()).add(rule.to_app)
    return result


def _baseline(tenant: Tenant, model: PlatformModel, revision: str, restricted_apps: set[str]) -> list[dict[str, Any]]:
    ns, src, name = tenant.namespace, tenant.source, tenant.name
    same_tenant_targets: dict[str, Any] = {}
    if restricted_apps:
        same_tenant_targets = {
            "matchExpressions": [{"key": APP_LABEL, "operator": "NotIn", "values": sorted(restricted_apps)}]
        }
    objects = [
        _policy("default-deny", ns, src, revision, name, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _policy(
            "allow-same-tenant",
            ns,
            src,
            revision,
            name,
            {
                "podSelector": same_tenant_targets,
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
            },
        ),
        _policy(
            "allow-egress-same-tenant-and-dns",
            ns,
            src,
            revision,
            name,
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"podSelector": {}}]},
                    {
                        "to": [
                            {
                                "namespaceSelector": _ns_selector("kube-system"),
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    },
                ],
            },
        ),
    ]
    for app in model.apps_of(tenant.name):
        if app.expose is None:
            continue
        # A LoadBalancer or NodePort Service forwards clients (seen as node addresses once
        # kube-proxy translates them) to the pods; the load balancer enforces sourceRanges.
        ports = [
            {"protocol": p.protocol, "port": p.port} for p in (*app.ports, *(q for s in app.sidecars for q in s.ports))
        ]
        objects.append(
            _policy(
                f"allow-exposed-{app.name}",
                ns,
                app.source,
                revision,
                name,
                {
                    "podSelector": _app_selector(app.name),
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}], "ports": ports}
                    ],
                },
            )
        )
    exposed = sorted(a.name for a in model.apps_of(tenant.name) if a.domains)
    if exposed:
        objects.append(
            _policy(
                "allow-ingress-controller",
                ns,
                src,
                revision,
                name,
                {
                    "podSelector": {"matchExpressions": [{"key": APP_LABEL, "operator": "In", "values": exposed}]},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"namespaceSelector": _ns_selector(INGRESS_CONTROLLER_NAMESPACE)}]}],
                },
            )
        )
    return objects


def _rule_policies(policy: Policy, tenants: dict[str, Tenant], revision: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    target = tenants.get(policy.tenant)
    for index, rule in enumerate(policy.network):
        if target is not None and target.network.isolation == "strict":
            objects.append(_ingress_rule(policy, index, rule, revision))
        source_tenant = tenants.get(rule.from_tenant)
        if (
            rule.from_tenant != policy.tenant
            and source_tenant is not None
            and source_tenant.network.isolation == "strict"
        ):
            objects.append(_egress_rule(policy, index, rule, revision))
    return objects


def _peer(rule: NetworkRule, policy_tenant: str) -> dict[str, Any]:
    peer: dict[str, Any] = {"podSelector": _app_selector(rule.from_app)}
    if rule.from_tenant != policy_tenant:
        peer["namespaceSelector"] = _ns_selector(rule.from_tenant)
    return peer


def _ingress_rule(policy: Policy, index: int, rule: NetworkRule, revision: str) -> dict[str, Any]:
    ingress: dict[str, Any] = {"from": [_peer(rule, policy.tenant)]}
    if rule.ports:
        ingress["ports"] = _ports(rule.ports)
    return _policy(
        f"allow-{policy.name}-{index}",
        policy.tenant,
        policy.source,
        revision,
        policy.tenant,
        {"podSelector": _app_selector(rule.to_app), "policyTypes": ["Ingress"], "ingress": [ingress]},
    )


def _egress_rule(policy: Policy, index: int, rule: NetworkRule, revision: str) -> dict[str, Any]:
    egress: dict[str, Any] = {
        "to": [{"namespaceSelector": _ns_selector(policy.tenant), "podSelector": _app_selector(rule.to_app)}]
    }
    if rule.ports:
        egress["ports"] = _ports(rule.ports)
    return _policy(
        f"allow-egress-{policy.tenant}-{policy.name}-{index}",
        rule.from_tenant,
        policy.source,
        revision,
        rule.from_tenant,
        {"podSelector": _app_selector(rule.from_app), "policyTypes": ["Egress"], "egress": [egress]},
    )
