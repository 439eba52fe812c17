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
        for direction, rule_list in (("ingress", ingress), ("egress", egress)):
            for index, rule in enumerate(rule_list):
                _rule(policy, f"spec.{direction}[{index}]", direction, rule, targets, apps, namespace, report, add)
    return rules


#: What a rule with no peers lets through, and what to write instead.
_EVERY: Final = {
    "ingress": "it lets in every source; expose the app (spec.expose) or give it a domain",
    "egress": "it lets out to every destination; name the ranges (to.cidr) or tenants",
}


def _rule(
    policy: Mapping[str, Any],
    where: str,
    direction: str,
    rule: Mapping[str, Any],
    targets: list[str],
    apps: Mapping[str, Mapping[str, Any]],
    namespace: str,
    report: Report,
    add: Callable[[dict[str, Any]], None],
) -> None:
    """The Policy rules of one ingress or egress rule about the pods of ``targets``."""
    ports = _ports(rule)
    if ports is None:
        report(policy, f"{where}.ports: named ports, port ranges or mixed protocols cannot be expressed")
        return
    key = "from" if direction == "ingress" else "to"
    peers = rule.get(key) or []
    if not peers:
        report(policy, f"{where}: {_EVERY[direction]}")
        return
    for peer in peers:
        if direction == "ingress":
            for source in _sources(policy, f"{where}.from", peer, apps, namespace, report):
                for target in targets:
                    add({"allow": {"from": source, "to": {"app": target}, **ports}})
        else:
            destination = _destination(policy, f"{where}.to", peer, ports, namespace, report)
            for target in targets if destination is not None else ():
                add({"allow": {"from": {"app": target}, "to": destination, **ports}})


def _sources(
    policy: Mapping[str, Any],
    where: str,
    peer: Mapping[str, Any],
    apps: Mapping[str, Mapping[str, Any]],
    namespace: str,
    report: Report,
) -> list[dict[str, Any]]:
    """The ``from`` of each rule an ingress peer becomes (none: reported, or needs no rule)."""
    if "ipBlock" in peer:
        report(policy, f"{where}: ingress from address ranges cannot be expressed; expose the app instead")
        return []
    if "namespaceSelector" in peer:
        other = _namespace(peer["namespaceSelector"])
        if other is None or "podSelector" in peer:
            report(policy, f"{where}: only a whole namespace named by {NAMESPACE_NAME_LABEL} can be said")
            return []
        if other == namespace:
            report(policy, f"{where}: the whole namespace lets in its own pods: that is the tenant's default")
            return []
        return [{"tenant": other}]
    selector = peer.get("podSelector") or {}
    found = _selected(selector, apps) if selector.get("matchLabels") else None
    if not found:
        report(policy, f"{where}: its podSelector selects no single extracted workload")
        return []
    return [{"app": name} for name in found]


def _destination(
    policy: Mapping[str, Any],
    where: str,
    peer: Mapping[str, Any],
    ports: Mapping[str, Any],
    namespace: str,
    report: Report,
) -> dict[str, Any] | None:
    """The ``to`` of the rule an egress peer becomes; None when it needs none or is reported."""
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        return {"cidr": block["cidr"], **({"except": list(block["except"])} if block.get("except") else {})}
    if "namespaceSelector" not in peer:
        return None  # pods of this namespace: traffic inside the tenant is allowed
    other = _namespace(peer["namespaceSelector"])
    if _dns(ports) and (other is None or other == "kube-system"):
        return None  # DNS: strict isolation always lets it out
    if other is None or "podSelector" in peer:
        report(policy, f"{where}: only a whole namespace named by {NAMESPACE_NAME_LABEL} can be said")
        return None
    return None if other == namespace else {"tenant": other}
