"""Multi-tenant network isolation as standard NetworkPolicies (enforced by Calico).

Under ``strict`` isolation a tenant's namespace denies all ingress and egress, then allows:
traffic inside the tenant, DNS, the ingress controller to apps with domains, clients of apps
exposed as LoadBalancer or NodePort Services, the tenants in ``allowFrom``, and every Policy
``network`` rule. An app named as the target of a Policy rule accepts only what its rules allow
(plus the ingress controller and the tenants in ``allowFrom``), not the whole tenant: that is what
a team means when it writes a rule for it; an app a Policy ``close``s accepts only its rules (and
its domains and exposure), in open tenants too.

Traffic between tenants needs both: each tenant's documents render only its own half, into its
own namespace. ``allowFrom`` and Policy rules into the tenant are the ingress half; ``allowTo``
and Policy rules to another tenant (``to.tenant``) the egress half (rendered when the sending
tenant is strict: an open one's traffic out is not restricted). So nothing in one tenant's
folder creates or changes an object in another tenant's namespace. Egress to the world
outside the cluster is by address only (``ipBlock``): NetworkPolicy cannot match DNS names, so a
rule for a host lists the host's address ranges and records the host's name in an annotation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daemon.model.kinds import App, NetworkRule, PlatformModel, Policy, Tenant
from daemon.model.labels import APP_LABEL
from daemon.model.refs import SourceRef
from daemon.render.meta import object_meta

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
EGRESS_HOST_ANNOTATION = "dockyard.dev/egress-host"


def _ns_selector(namespace: str) -> dict[str, Any]:
    return {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}


def _app_selector(app: str | None) -> dict[str, Any]:
    return {"matchLabels": {APP_LABEL: app}} if app else {}


def _except(apps: Iterable[str]) -> dict[str, Any]:
    """Every pod of the namespace but those of ``apps``."""
    names = sorted(set(apps))
    return {"matchExpressions": [{"key": APP_LABEL, "operator": "NotIn", "values": names}]} if names else {}


def _ports(ports: Iterable[int], protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"protocol": protocol, "port": p} for p in ports]


def _policy(
    name: str,
    namespace: str,
    source: SourceRef,
    revision: str,
    tenant: str,
    spec: dict[str, Any],
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(
            name, source=source, revision=revision, namespace=namespace, tenant=tenant, extra_annotations=annotations
        ),
        "spec": spec,
    }


def render_network(model: PlatformModel, revision: str) -> list[dict[str, Any]]:
    tenants = {t.name: t for t in model.tenants}
    ingress_namespace = model.platform.ingress.namespace
    objects: list[dict[str, Any]] = []
    targeted = _apps_with_rules(model.policies)
    closed = _closed_apps(model.policies)
    for tenant in model.tenants:
        shut = closed.get(tenant.name, set())
        if tenant.network.isolation == "strict":
            objects.extend(_baseline(tenant, model, revision, targeted.get(tenant.name, set()) | shut))
            if not _reachable_inside(model, tenant, targeted.get(tenant.name, set()) | shut):
                # Every app accepts only its own rules: a policy selecting none of them would be noise.
                objects = [o for o in objects if not _is(o, tenant, "allow-same-tenant")]
            objects.extend(_entry_points(tenant, model.apps_of(tenant.name), revision, ingress_namespace))
            for other_name in tenant.network.allow_from:
                objects.append(
                    _policy(
                        f"allow-from-tenant-{other_name}",
                        tenant.namespace,
                        tenant.source,
                        revision,
                        tenant.name,
                        {
                            "podSelector": _except(shut),
                            "policyTypes": ["Ingress"],
                            "ingress": [{"from": [{"namespaceSelector": _ns_selector(other_name)}]}],
                        },
                    )
                )
            for other_name in tenant.network.allow_to:
                objects.append(
                    _policy(
                        f"allow-egress-to-tenant-{other_name}",
                        tenant.namespace,
                        tenant.source,
                        revision,
                        tenant.name,
                        {
                            "podSelector": {},
                            "policyTypes": ["Egress"],
                            "egress": [{"to": [{"namespaceSelector": _ns_selector(other_name)}]}],
                        },
                    )
                )
        elif shut:
            objects.extend(_closed_in_open_tenant(tenant, model, shut, revision, ingress_namespace))
    for policy in model.policies:
        owner = tenants.get(policy.tenant)
        if owner is not None:
            objects.extend(_rule_policies(policy, owner, closed.get(policy.tenant, set()), revision))
    return objects


def _reachable_inside(model: PlatformModel, tenant: Tenant, restricted: set[str]) -> bool:
    """True when some workload of the tenant accepts the rest of the tenant."""
    workloads = [a.name for a in model.apps_of(tenant.name)] + [j.name for j in model.jobs_of(tenant.name)]
    return any(name not in restricted for name in workloads)


def _is(obj: dict[str, Any], tenant: Tenant, name: str) -> bool:
    meta = obj["metadata"]
    return bool(meta["name"] == name and meta.get("namespace") == tenant.namespace)


def _apps_with_rules(policies: Iterable[Policy]) -> dict[str, set[str]]:
    """Apps, by tenant, that a rule lets traffic into: only their rules reach them."""
    result: dict[str, set[str]] = {}
    for policy in policies:
        for rule in policy.network:
            if not rule.is_egress(policy.tenant) and rule.to_app is not None:
                result.setdefault(policy.tenant, set()).add(rule.to_app)
    return result


def _closed_apps(policies: Iterable[Policy]) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for policy in policies:
        result.setdefault(policy.tenant, set()).update(policy.closed)
    return {t: apps for t, apps in result.items() if apps}


def _baseline(tenant: Tenant, model: PlatformModel, revision: str, restricted_apps: set[str]) -> list[dict[str, Any]]:
    ns, src, name = tenant.namespace, tenant.source, tenant.name
    return [
        _policy("default-deny", ns, src, revision, name, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _policy(
            "allow-same-tenant",
            ns,
            src,
            revision,
            name,
            {
                "podSelector": _except(restricted_apps),
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


def _entry_points(tenant: Tenant, apps: Iterable[App], revision: str, ingress_namespace: str) -> list[dict[str, Any]]:
    """Ingress from outside the tenant that the apps themselves declare: domains (through the
    ingress controller) and LoadBalancer/NodePort exposure."""
    ns, name = tenant.namespace, tenant.name
    objects = []
    apps = list(apps)
    for app in apps:
        if app.expose is None:
            continue
        # A LoadBalancer or NodePort Service forwards clients (seen as node addresses once
        # kube-proxy translates them) to the pods; the load balancer enforces sourceRanges.
        ports = [
            {"protocol": p.protocol, "port": p.port} for p in (*app.ports, *(q for s in app.sidecars for q in s.ports))
        ]
        anywhere = [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]
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
                    "ingress": [{"from": anywhere, "ports": ports}],
                },
            )
        )
    exposed = sorted(a.name for a in apps if a.domains)
    if exposed:
        objects.append(
            _policy(
                "allow-ingress-controller",
                ns,
                tenant.source,
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


def _closed_in_open_tenant(
    tenant: Tenant, model: PlatformModel, closed: set[str], revision: str, ingress_namespace: str
) -> list[dict[str, Any]]:
    """An open tenant's pods accept everything; a closed app's accept only what a policy allows."""
    objects = [
        _policy(
            f"close-{app}",
            tenant.namespace,
            tenant.source,
            revision,
            tenant.name,
            {"podSelector": _app_selector(app), "policyTypes": ["Ingress"]},
        )
        for app in sorted(closed)
    ]
    apps = [a for a in model.apps_of(tenant.name) if a.name in closed]
    objects.extend(_entry_points(tenant, apps, revision, ingress_namespace))
    return objects


def _rule_policies(policy: Policy, tenant: Tenant, closed: set[str], revision: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    strict = tenant.network.isolation == "strict"
    # The policy's own half of each rule, in its own namespace.
    for index, rule in enumerate(policy.network):
        if rule.is_egress(policy.tenant):
            # An open tenant's egress is not restricted: a policy selecting the pods would
            # restrict them to this one destination instead.
            if strict:
                objects.append(_egress_rule(policy, index, rule, revision))
        elif strict or rule.to_app in closed:
            objects.append(_ingress_rule(policy, index, rule, revision))
    return objects


def _peer(rule: NetworkRule, policy_tenant: str) -> dict[str, Any]:
    peer: dict[str, Any] = {"podSelector": _app_selector(rule.from_app)}
    if rule.from_tenant != policy_tenant:
        peer["namespaceSelector"] = _ns_selector(rule.from_tenant)
    return peer


def _ingress_rule(policy: Policy, index: int, rule: NetworkRule, revision: str) -> dict[str, Any]:
    ingress: dict[str, Any] = {"from": [_peer(rule, policy.tenant)]}
    if rule.ports:
        ingress["ports"] = _ports(rule.ports, rule.protocol)
    return _policy(
        f"allow-{policy.name}-{index}",
        policy.tenant,
        policy.source,
        revision,
        policy.tenant,
        {"podSelector": _app_selector(rule.to_app), "policyTypes": ["Ingress"], "ingress": [ingress]},
    )


def _egress_rule(policy: Policy, index: int, rule: NetworkRule, revision: str) -> dict[str, Any]:
    """Out of the policy's tenant: to an app (or every app) of another tenant, which must let it
    in, or to address ranges outside the cluster."""
    to: list[dict[str, Any]]
    if not rule.cidrs:
        peer = {"namespaceSelector": _ns_selector(rule.target_tenant(policy.tenant))}
        peer["podSelector"] = _app_selector(rule.to_app)
        to = [peer]
    else:
        to = []
        for cidr in rule.cidrs:
            block: dict[str, Any] = {"cidr": cidr}
            if rule.except_cidrs:
                block["except"] = list(rule.except_cidrs)
            to.append({"ipBlock": block})
    egress: dict[str, Any] = {"to": to}
    if rule.ports:
        egress["ports"] = _ports(rule.ports, rule.protocol)
    return _policy(
        f"allow-{policy.name}-{index}",
        policy.tenant,
        policy.source,
        revision,
        policy.tenant,
        {"podSelector": _app_selector(rule.from_app), "policyTypes": ["Egress"], "egress": [egress]},
        annotations={EGRESS_HOST_ANNOTATION: rule.host} if rule.host else None,
    )
