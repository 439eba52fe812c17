"""A Policy from a namespace's NetworkPolicies (pure): the ``network`` rules ``dockyard extract`` writes.

Dockyard's strict isolation already denies what no rule allows, allows traffic inside the tenant
and DNS; so a default-deny NetworkPolicy needs no rule, and egress to pods of the same namespace
or to DNS in kube-system needs none either. What maps onto a rule:

- ingress into the pods of an extracted workload from the pods of another one (``podSelector``),
  or from every pod of a namespace (``namespaceSelector`` on ``kubernetes.io/metadata.name``):
  ``allow: {from: {app | tenant}, to: {app}, ports}``;
- egress of an extracted workload to address ranges (``ipBlock``) or to another namespace:
  ``allow: {from: {app}, to: {cidr, except} | {tenant}, ports}``.

Everything else is reported and left out: selectors with ``matchExpressions``, a policy for every
pod of the namespace with rules (the tenant's ``allowFrom``/``allowTo`` say that), ingress from
any source or from addresses, named ports and port ranges, mixed protocols, peers that select
pods of another namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

NAMESPACE_NAME_LABEL: Final = "kubernetes.io/metadata.name"
_DNS_PORTS: Final = frozenset({53})

Report = Callable[[Mapping[str, Any], str], None]


def _selected(selector: Mapping[str, Any], apps: Mapping[str, Mapping[str, Any]]) -> list[str] | None:
    """The apps whose pod labels a selector matches; None when it uses what cannot be matched here."""
    if selector.get("matchExpressions"):
        return None
    labels = selector.get("matchLabels") or {}
    return sorted(name for name, pod in apps.items() if all(pod.get(k) == v for k, v in labels.items()))


def _namespace(selector: Mapping[str, Any]) -> str | None:
    labels = selector.get("matchLabels") or {}
    if selector.get("matchExpressions") or set(labels) != {NAMESPACE_NAME_LABEL}:
        return None
    return str(labels[NAMESPACE_NAME_LABEL])


def _ports(rule: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{ports, protocol}`` of a rule (empty: every port), or None when it cannot be said."""
    ports = rule.get("ports") or []
    numbers: list[int] = []
    protocols = set()
    for port in ports:
        if "endPort" in port or not isinstance(port.get("port"), int):
            return None
        numbers.append(port["port"])
        protocols.add(port.get("protocol", "TCP"))
    if len(protocols) > 1:
        return None
    out: dict[str, Any] = {"ports": sorted(set(numbers))} if numbers else {}
    if protocols and protocols != {"TCP"}:
        out["protocol"] = protocols.pop()
    return out


def _dns(ports: Mapping[str, Any]) -> bool:
    return bool(ports.get("ports")) and set(ports["ports"]) <= _DNS_PORTS


def network_rules(
    policies: Sequence[Mapping[str, Any]],
    apps: Mapping[str, Mapping[str, Any]],
    namespace: str,
    report: Report,
    *,
    only: str | None = None,
) -> list[dict[str, Any]]:
    """The Policy rules of ``policies``; ``apps`` maps each workload to its pods' labels; with
    ``only``, just the rules about that App's pods."""
    rules: list[dict[str, Any]] = []

    def add(rule: dict[str, Any]) -> None:
        if rule not in rules:
            rules.append(rule)

    for policy in policies:
        spec = policy.get("spec") or {}
        targets = _selected(spec.get("podSelector") or {}, apps)
        if targets is not None and only is not None:
            targets = [t for t in targets if t == only]
        types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])
        ingress = spec.get("ingress") or [] if "Ingress" in types else []
        egress = spec.get("egress") or [] if "Egress" in types else []
        if targets is None:
            report(policy, "spec.podSelector uses matchExpressions, which cannot be matched to an app")
            continue
        if not (spec.get("podSelector") or {}).get("matchLabels"):
            if ingress or egress:
                report(
                    policy,
                    "it applies to every pod of the namespace: say it with the tenant's spec.network.allowFrom "
                    "and allowTo",
                )
            continue  # a default deny: strict isolation denies what nothing allows
        if not targets:
            report(policy, "spec.podSelector selects no extracted workload")
            continue
        for index, rule in enumerate(ingress):
            _ingress(policy, f"spec.ingress[{index}]", rule, targets, apps, namespace, report, add)
        for index, rule in enumerate(egress):
            _egress(policy, f"spec.egress[{index}]", rule, targets, apps, namespace, report, add)
    return rules


def _ingress(
    policy: Mapping[str, Any],
    where: str,
    rule: Mapping[str, Any],
    targets: list[str],
    apps: Mapping[str, Mapping[str, Any]],
    namespace: str,
    report: Report,
    add: Callable[[dict[str, Any]], None],
) -> None:
    ports = _ports(rule)
    if ports is None:
        report(policy, f"{where}.ports: named ports, port ranges or mixed protocols cannot be expressed")
        return
    peers = rule.get("from") or []
    if not peers:
        report(policy, f"{where}: it lets in every source; expose the app (spec.expose) or give it a domain")
        return
    for peer in peers:
        sources: list[dict[str, Any]] = []
        if "ipBlock" in peer:
            report(policy, f"{where}.from: ingress from address ranges cannot be expressed; expose the app instead")
            continue
        if "namespaceSelector" in peer:
            other = _namespace(peer["namespaceSelector"])
            if other is None or "podSelector" in peer:
                report(policy, f"{where}.from: only a whole namespace named by {NAMESPACE_NAME_LABEL} can be said")
                continue
            sources = [{"tenant": other}] if other != namespace else []
            if not sources:
                report(policy, f"{where}.from: the whole namespace lets in its own pods: that is the tenant's default")
                continue
        else:
            found = _selected(peer.get("podSelector") or {}, apps)
            if not found or not (peer.get("podSelector") or {}).get("matchLabels"):
                report(policy, f"{where}.from: its podSelector selects no single extracted workload")
                continue
            sources = [{"app": name} for name in found]
        for source in sources:
            for target in targets:
                add({"allow": {"from": source, "to": {"app": target}, **ports}})


def _egress(
    policy: Mapping[str, Any],
    where: str,
    rule: Mapping[str, Any],
    targets: list[str],
    apps: Mapping[str, Mapping[str, Any]],
    namespace: str,
    report: Report,
    add: Callable[[dict[str, Any]], None],
) -> None:
    ports = _ports(rule)
    if ports is None:
        report(policy, f"{where}.ports: named ports, port ranges or mixed protocols cannot be expressed")
        return
    peers = rule.get("to") or []
    if not peers:
        report(policy, f"{where}: it lets out to every destination; name the ranges (to.cidr) or tenants")
        return
    for peer in peers:
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            to: dict[str, Any] = {"cidr": block["cidr"]}
            if block.get("except"):
                to["except"] = list(block["except"])
        elif "namespaceSelector" in peer:
            other = _namespace(peer["namespaceSelector"])
            if other is None or "podSelector" in peer:
                if _dns(ports):
                    continue  # DNS: strict isolation always lets it out
                report(policy, f"{where}.to: only a whole namespace named by {NAMESPACE_NAME_LABEL} can be said")
                continue
            if other == namespace:
                continue  # traffic inside the tenant is allowed
            if other == "kube-system" and _dns(ports):
                continue  # DNS
            to = {"tenant": other}
        else:
            continue  # pods of this namespace: traffic inside the tenant is allowed
        for target in targets:
            add({"allow": {"from": {"app": target}, "to": to, **ports}})
