"""Which apps may reach which, on which ports, computed from the rendered NetworkPolicies (pure).

This is the console's reading of Kubernetes NetworkPolicy semantics over the objects Dockyard
renders, so the topology shows what the cluster will enforce, not what the YAML meant to say:

* a pod is *isolated* for ingress (egress) when some policy of its namespace selects it and
  lists ``Ingress`` (``Egress``) in its ``policyTypes`` (the default is ``Ingress``, plus
  ``Egress`` when the policy has egress rules); a pod no policy isolates accepts (sends) anything;
* traffic from S to D on a port flows when D's side allows it (D not isolated for ingress, or a
  rule of a policy selecting D lets S in on that port) *and* S's side allows it (the same for
  egress): the union of the rules of each side, intersected between the sides;
* peers: ``podSelector`` alone is the policy's own namespace, ``namespaceSelector`` alone every
  pod of the matching namespaces, both together the matching pods there, ``ipBlock`` an address
  range outside the cluster's pods; a rule without peers matches everything, without ports every
  port; named ports are looked up in the target's containers.

The pods are the apps' workloads (a canary track is the same app: same ``dockyard.dev/app``
label); namespaces a policy names that Dockyard does not render (the ingress controller's, DNS in
``kube-system``) are endpoints of their own, as are address ranges.

:func:`flows` is the console's interface to reachability. ``daemon/policy/reachability.py``
(being written on another branch) answers the same question for the plan; once it is merged, this
module should be replaced by a call to it, keeping :class:`Endpoint` and :class:`Flow` (or
mapping onto its types) so :mod:`daemon.console.topology` does not change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from daemon.model.labels import APP_LABEL

__all__ = ["ALL_PORTS", "Endpoint", "Flow", "flows"]

_NAMESPACE_NAME = "kubernetes.io/metadata.name"
_WORKLOADS = ("Deployment", "StatefulSet")

EndpointKind = Literal["app", "namespace", "cidr", "any"]

#: The ports of a flow that any port may take.
ALL_PORTS: tuple[str, ...] = ()


@dataclass(frozen=True, order=True)
class Endpoint:
    """One side of a flow: an app, every pod of a namespace Dockyard does not render, an address
    range outside the cluster, or anything at all (a side no policy restricts)."""

    kind: EndpointKind
    namespace: str = ""
    app: str = ""
    cidr: str = ""

    def describe(self) -> str:
        if self.kind == "app":
            return f"{self.namespace}/{self.app}"
        if self.kind == "namespace":
            return f"namespace {self.namespace}"
        if self.kind == "cidr":
            return self.cidr
        return "anything"


@dataclass(frozen=True)
class Flow:
    """Traffic ``source`` may send to ``target``: on ``ports`` (``"TCP/8080"``), or on any port."""

    source: Endpoint
    target: Endpoint
    ports: tuple[str, ...] = ALL_PORTS

    @property
    def any_port(self) -> bool:
        return not self.ports


# --- what the rendered objects say ----------------------------------------------------------


@dataclass(frozen=True)
class _Pod:
    namespace: str
    app: str
    labels: Mapping[str, str]
    #: container port name -> "PROTOCOL/number"
    named_ports: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Peer:
    pods: Mapping[str, Any] | None  # a podSelector, or None when the peer has none
    namespaces: Mapping[str, Any] | None  # a namespaceSelector, or None when the peer has none
    cidr: str = ""


@dataclass(frozen=True)
class _Rule:
    peers: tuple[_Peer, ...]  # empty: every peer
    ports: tuple[tuple[str, str | int], ...]  # (protocol, number or name); empty: every port


@dataclass(frozen=True)
class _Policy:
    namespace: str
    selector: Mapping[str, Any]
    ingress: tuple[_Rule, ...] | None  # None: the policy does not isolate for ingress
    egress: tuple[_Rule, ...] | None


def _labels_match(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector; ``{}`` matches everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or ():
        key, operator = expression.get("key"), expression.get("operator")
        values = set(expression.get("values") or ())
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False  # an operator we cannot read selects nothing rather than everything
    return True


def _rules(raw: Iterable[Mapping[str, Any]], direction: str) -> tuple[_Rule, ...]:
    key = "from" if direction == "ingress" else "to"
    rules = []
    for rule in raw:
        peers = []
        for peer in rule.get(key) or ():
            block = peer.get("ipBlock") or {}
            peers.append(
                _Peer(
                    pods=peer.get("podSelector"),
                    namespaces=peer.get("namespaceSelector"),
                    cidr=str(block.get("cidr", "")),
                )
            )
        ports = tuple((str(p.get("protocol", "TCP")), p["port"]) for p in rule.get("ports") or () if "port" in p)
        rules.append(_Rule(tuple(peers), ports))
    return tuple(rules)


def _policy(obj: Mapping[str, Any]) -> _Policy:
    spec = obj.get("spec") or {}
    types = spec.get("policyTypes") or (["Ingress", "Egress"] if spec.get("egress") else ["Ingress"])
    return _Policy(
        namespace=str(obj["metadata"].get("namespace", "")),
        selector=spec.get("podSelector") or {},
        ingress=_rules(spec.get("ingress") or (), "ingress") if "Ingress" in types else None,
        egress=_rules(spec.get("egress") or (), "egress") if "Egress" in types else None,
    )


def _pods(objects: Iterable[Mapping[str, Any]]) -> list[_Pod]:
    """One pod identity per app (the canary track shares its app's labels and policies)."""
    found: dict[tuple[str, str], _Pod] = {}
    for obj in objects:
        if obj.get("kind") not in _WORKLOADS:
            continue
        template = (obj.get("spec") or {}).get("template") or {}
        labels = {str(k): str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()}
        app = labels.get(APP_LABEL)
        namespace = str(obj["metadata"].get("namespace", ""))
        if not app or (namespace, app) in found:
            continue
        named = {}
        for container in (template.get("spec") or {}).get("containers") or ():
            for port in container.get("ports") or ():
                if port.get("name"):
                    named[str(port["name"])] = f"{port.get('protocol', 'TCP')}/{port['containerPort']}"
        found[(namespace, app)] = _Pod(namespace, app, labels, named)
    return list(found.values())


# --- the evaluation --------------------------------------------------------------------------

#: None: every port; else the "PROTOCOL/number" ports allowed
_Ports = frozenset[str] | None


def _union(a: _Ports, b: _Ports) -> _Ports:
    return None if a is None or b is None else a | b


def _intersect(a: _Ports, b: _Ports) -> _Ports:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _rule_ports(rule: _Rule, target: _Pod | None) -> _Ports:
    if not rule.ports:
        return None
    found = set()
    for protocol, port in rule.ports:
        if isinstance(port, int):
            found.add(f"{protocol}/{port}")
        elif target is not None and port in target.named_ports:
            found.add(target.named_ports[port])
    return frozenset(found)


class _Cluster:
    """The pods, namespaces and policies of the rendered objects, indexed for the evaluation."""

    def __init__(self, objects: Sequence[Mapping[str, Any]]) -> None:
        self.pods = _pods(objects)
        self.namespace_labels: dict[str, dict[str, str]] = {}
        for obj in objects:
            if obj.get("kind") == "Namespace":
                name = str(obj["metadata"]["name"])
                labels = {str(k): str(v) for k, v in (obj["metadata"].get("labels") or {}).items()}
                self.namespace_labels[name] = {**labels, _NAMESPACE_NAME: name}
        for pod in self.pods:
            self.namespace_labels.setdefault(pod.namespace, {_NAMESPACE_NAME: pod.namespace})
        self.policies: dict[str, list[_Policy]] = defaultdict(list)
        for obj in objects:
            if obj.get("kind") == "NetworkPolicy":
                policy = _policy(obj)
                self.policies[policy.namespace].append(policy)
        self.pods_by_namespace: dict[str, list[_Pod]] = defaultdict(list)
        for pod in self.pods:
            self.pods_by_namespace[pod.namespace].append(pod)
        # Every peer is asked about again for each pod pair: its namespaces are worked out once
        # (keyed by the peer object, which the policies hold for the cluster's lifetime).
        self._covered: dict[tuple[int, str], frozenset[str] | None] = {}
        self._selecting: dict[tuple[int, str], list[tuple[_Rule, ...]]] = {}

    def selecting(self, pod: _Pod, direction: str) -> list[tuple[_Rule, ...]]:
        """The rules of each policy that isolates ``pod`` in ``direction``; [] when none does."""
        key = (id(pod), direction)
        if key not in self._selecting:
            self._selecting[key] = self._select(pod, direction)
        return self._selecting[key]

    def _select(self, pod: _Pod, direction: str) -> list[tuple[_Rule, ...]]:
        found = []
        for policy in self.policies.get(pod.namespace, ()):
            rules = policy.ingress if direction == "ingress" else policy.egress
            if rules is not None and _labels_match(policy.selector, pod.labels):
                found.append(rules)
        return found

    def peer_namespaces(self, peer: _Peer, own: str) -> list[str] | None:
        """The namespaces a peer covers; None: every namespace (``namespaceSelector: {}``)."""
        if peer.namespaces is None:
            return [own]
        if not peer.namespaces:
            return None
        named = (peer.namespaces.get("matchLabels") or {}).get(_NAMESPACE_NAME)
        known = [ns for ns, labels in self.namespace_labels.items() if _labels_match(peer.namespaces, labels)]
        if named and named not in self.namespace_labels:
            return [named]  # a namespace Dockyard does not render, named by the policy
        return known

    def covered(self, peer: _Peer, own: str) -> frozenset[str] | None:
        """:meth:`peer_namespaces` as a set, remembered."""
        key = (id(peer), own)
        if key not in self._covered:
            namespaces = self.peer_namespaces(peer, own)
            self._covered[key] = None if namespaces is None else frozenset(namespaces)
        return self._covered[key]

    def matches(self, peer: _Peer, own: str, pod: _Pod) -> bool:
        if peer.cidr:
            return False  # address ranges are for traffic leaving or entering the cluster's pods
        namespaces = self.covered(peer, own)
        if namespaces is not None and pod.namespace not in namespaces:
            return False
        return _labels_match(peer.pods, pod.labels)

    def allowed(self, side: _Pod, other: _Pod, direction: str, target: _Pod) -> _Ports | Literal[False]:
        """What ``side``'s policies allow between it and ``other`` (False: nothing)."""
        policies = self.selecting(side, direction)
        if not policies:
            return None
        result: _Ports | Literal[False] = False
        for rules in policies:
            for rule in rules:
                if rule.peers and not any(self.matches(p, side.namespace, other) for p in rule.peers):
                    continue
                ports = _rule_ports(rule, target)
                result = ports if result is False else _union(result, ports)
        return result


def _ports_of(ports: _Ports) -> tuple[str, ...]:
    return ALL_PORTS if ports is None else tuple(sorted(ports, key=_port_order))


def _port_order(port: str) -> tuple[str, int]:
    protocol, _, number = port.partition("/")
    return protocol, int(number) if number.isdigit() else 0


def _app(pod: _Pod) -> Endpoint:
    return Endpoint("app", pod.namespace, pod.app)


def flows(objects: Sequence[Mapping[str, Any]]) -> list[Flow]:
    """Every allowed flow between the apps of ``objects`` (and to or from what lies outside them),
    in a stable order. Flows that allow no port are left out."""
    cluster = _Cluster(objects)
    found: dict[tuple[Endpoint, Endpoint], _Ports] = {}

    def add(source: Endpoint, target: Endpoint, ports: _Ports) -> None:
        if ports is not None and not ports:
            return
        key = (source, target)
        found[key] = _union(found[key], ports) if key in found else ports

    for target in cluster.pods:
        ingress = cluster.selecting(target, "ingress")
        if not ingress:
            add(Endpoint("any"), _app(target), None)
        candidates: dict[tuple[str, str], _Pod] = {}
        for rules in ingress:
            for rule in rules:
                if not rule.peers:
                    add(Endpoint("any"), _app(target), _rule_ports(rule, target))
                for peer in rule.peers:
                    if peer.cidr:
                        add(Endpoint("cidr", cidr=peer.cidr), _app(target), _rule_ports(rule, target))
                        continue
                    namespaces = cluster.covered(peer, target.namespace)
                    if namespaces is None:
                        add(Endpoint("any"), _app(target), _rule_ports(rule, target))
                        continue
                    for namespace in sorted(namespaces):
                        pods = cluster.pods_by_namespace.get(namespace)
                        if not pods:
                            add(Endpoint("namespace", namespace), _app(target), _rule_ports(rule, target))
                        for pod in pods or ():
                            if _labels_match(peer.pods, pod.labels):
                                candidates[(pod.namespace, pod.app)] = pod
        for source in candidates.values():
            if source is target:
                continue
            inbound = cluster.allowed(target, source, "ingress", target)
            outbound = cluster.allowed(source, target, "egress", target)
            if inbound is False or outbound is False:
                continue
            add(_app(source), _app(target), _intersect(inbound, outbound))
    # Traffic out of the apps to what is not one of them: other namespaces' pods, address ranges.
    for source in cluster.pods:
        for rules in cluster.selecting(source, "egress"):
            for rule in rules:
                for peer in rule.peers:
                    ports = _rule_ports(rule, None)
                    if peer.cidr:
                        add(_app(source), Endpoint("cidr", cidr=peer.cidr), ports)
                        continue
                    namespaces = cluster.covered(peer, source.namespace)
                    for namespace in sorted(namespaces or ()):
                        if not cluster.pods_by_namespace.get(namespace):
                            add(_app(source), Endpoint("namespace", namespace), ports)
        if not cluster.selecting(source, "egress"):
            add(_app(source), Endpoint("any"), None)
    return [Flow(s, t, _ports_of(p)) for (s, t), p in sorted(found.items())]
