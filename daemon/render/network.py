"""Multi-tenant network isolation as standard NetworkPolicies (enforced by Calico).

Under ``strict`` isolation a tenant's namespace denies all ingress and egress, then allows:
traffic inside the tenant, DNS, the ingress controller to apps with domains, and what the tenant
declares. An app named as the target of a Policy rule accepts only what its rules allow (plus the
ingress controller), not the whole tenant: that is what a team means when it writes a rule for it.

Traffic between tenants needs both: each tenant's documents render only its own half, into its
own namespace. ``allowFrom`` and Policy rules into the tenant are the ingress half; ``allowTo``
and Policy rules to another tenant (``to.tenant``) the egress half. So nothing in one tenant's
folder creates or changes an object in another tenant's namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daemon.model.kinds import NetworkRule, PlatformModel, Policy, Tenant
from daemon.model.labels import APP_LABEL
from daemon.model.refs import SourceRef
from daemon.render.meta import object_meta

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


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
    objects: list[dict[str, Any]] = []
    ingress_namespace = model.platform.ingress.namespace
    for tenant in model.tenants:
        if tenant.network.isolation != "strict":
            continue  # an open namespace has no policies, so it allows everything in and out
        policies = model.policies_of(tenant.name)
        objects.extend(_baseline(tenant, model, revision, _apps_with_rules(tenant.name, policies), ingress_namespace))
        for other in tenant.network.allow_from:
            objects.append(
                _policy(
                    f"allow-from-tenant-{other}",
                    tenant.namespace,
                    tenant.source,
                    revision,
                    tenant.name,
                    {
                        "podSelector": {},
                        "policyTypes": ["Ingress"],
                        "ingress": [{"from": [{"namespaceSelector": _ns_selector(other)}]}],
                    },
                )
            )
        for other in tenant.network.allow_to:
            objects.append(
                _policy(
                    f"allow-egress-to-tenant-{other}",
                    tenant.namespace,
                    tenant.source,
                    revision,
                    tenant.name,
                    {
                        "podSelector": {},
                        "policyTypes": ["Egress"],
                        "egress": [{"to": [{"namespaceSelector": _ns_selector(other)}]}],
                    },
                )
            )
        for policy in policies:
            objects.extend(_rule_policies(policy, revision))
    return objects


def _target_tenant(rule: NetworkRule, policy: Policy) -> str:
    return rule.to_tenant or policy.tenant


def _apps_with_rules(tenant: str, policies: Iterable[Policy]) -> set[str]:
    """Apps of ``tenant`` that a rule lets traffic into: only their rules reach them."""
    return {
        rule.to_app
        for policy in policies
        for rule in policy.network
        if rule.to_app is not None and _target_tenant(rule, policy) == tenant
    }


def _baseline(
    tenant: Tenant, model: PlatformModel, revision: str, restricted_apps: set[str], ingress_namespace: str
) -> list[dict[str, Any]]:
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
                    "ingress": [{"from": [{"namespaceSelector": _ns_selector(ingress_namespace)}]}],
                },
            )
        )
    return objects


def _rule_policies(policy: Policy, revision: str) -> list[dict[str, Any]]:
    """The policy's own half of each rule, in its own namespace (the caller renders strict tenants only)."""
    return [
        _ingress_rule(policy, index, rule, revision)
        if _target_tenant(rule, policy) == policy.tenant
        else _egress_rule(policy, index, rule, revision)
        for index, rule in enumerate(policy.network)
    ]


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
    """Out of the policy's tenant to an app (or every app) of another tenant, which must let it in."""
    target = _target_tenant(rule, policy)
    peer = {"namespaceSelector": _ns_selector(target), "podSelector": _app_selector(rule.to_app)}
    egress: dict[str, Any] = {"to": [peer]}
    if rule.ports:
        egress["ports"] = _ports(rule.ports)
    return _policy(
        f"allow-{policy.name}-{index}",
        policy.tenant,
        policy.source,
        revision,
        policy.tenant,
        {"podSelector": _app_selector(rule.from_app), "policyTypes": ["Egress"], "egress": [egress]},
    )
