"""Who can reach whom (pure): the connections that a set of NetworkPolicies allows.

Given rendered (or live) Kubernetes objects, :func:`reachability` works out which workload may
open a connection to which, on which protocols and ports, and what each workload may reach
outside the objects given: other pods of the cluster and addresses outside it. It reads
NetworkPolicies generically, by the Kubernetes rules, never by how Dockyard names or renders them:

* a pod is isolated for ingress (egress) when a policy of its namespace selects it with that
  policy type; an isolated pod accepts (opens) only what the union of those policies' rules
  allows; a pod no policy selects accepts (opens) everything;
* a connection needs both ends: the source's egress and the target's ingress;
* peers are ``podSelector`` (pods of the policy's namespace), ``namespaceSelector`` (every pod of
  the matching namespaces), both (the matching pods in the matching namespaces) or ``ipBlock``
  (addresses; pods are never matched by address, as network-config-analyzer also reads it);
  a rule without peers matches every source or destination, one without ports every port;
* named ports are resolved against the destination's containers, ``endPort`` gives ranges.

Public API (also for the console's topology)::

    reachability(objects) -> Reachability
    Reachability.flows                       every allowed (source, target, ports), sorted
    Reachability.between_apps()              {(AppId, AppId): Ports} for workloads of apps
    Reachability.outside()                   {(AppEnd, AppEnd): Ports} with one end outside them
    Reachability.allows(source, target, protocol, port) -> bool
    Workload | ClusterPods | Addresses       the three kinds of peers; Ports, a set of ports

Workloads are Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and Pods, with the
tenant and app of Dockyard's labels when they carry them. Traffic between the pods of one workload
is not listed (as network-config-analyzer does not list it).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from daemon.model.labels import APP_LABEL, TENANT_LABEL

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
#: The protocols a NetworkPolicy port names; ``Ports.others`` stands for every other one (ICMP...).
PROTOCOLS: tuple[str, ...] = ("TCP", "UDP", "SCTP")
_FULL = ((1, 65535),)
_WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"})

Ranges = tuple[tuple[int, int], ...]


# --- ports --------------------------------------------------------------------------------------


def _merge(ranges: Iterable[tuple[int, int]]) -> Ranges:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return tuple(merged)


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        first, last = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if first <= last:
            out.append((first, last))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _subtract(a: Ranges, b: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    for first, last in a:
        start = first
        for b_first, b_last in b:
            if b_last < start or b_first > last:
                continue
            if b_first > start:
                out.append((start, b_first - 1))
            start = max(start, b_last + 1)
            if start > last:
                break
        if start <= last:
            out.append((start, last))
    return tuple(out)


def _format_ranges(ranges: Ranges) -> str:
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


@dataclass(frozen=True)
class Ports:
    """A set of connections by protocol and destination port.

    ``ranges`` holds, per protocol of :data:`PROTOCOLS`, its merged port ranges; ``others`` says
    whether every other IP protocol (ICMP and the like, which have no ports) is included too, as
    a rule without ``ports`` allows.
    """

    ranges: tuple[tuple[str, Ranges], ...] = ()
    others: bool = False

    @classmethod
    def all(cls) -> Ports:
        return cls(tuple((p, _FULL) for p in PROTOCOLS), True)

    @classmethod
    def none(cls) -> Ports:
        return cls()

    @classmethod
    def of(cls, protocol: str, first: int | None = None, last: int | None = None) -> Ports:
        """Ports ``first``-``last`` of one protocol (``first`` alone: that port; neither: all)."""
        start = 1 if first is None else first
        end = 65535 if first is None else (first if last is None else last)
        valid = protocol in PROTOCOLS and 1 <= start <= end <= 65535
        return cls(((protocol, ((start, end),)),)) if valid else cls()

    def _by_protocol(self) -> dict[str, Ranges]:
        return dict(self.ranges)

    @staticmethod
    def _build(by_protocol: Mapping[str, Ranges], others: bool) -> Ports:
        return Ports(tuple((p, by_protocol[p]) for p in PROTOCOLS if by_protocol.get(p)), others)

    def __or__(self, other: Ports) -> Ports:
        if not other or self == other:
            return self
        if not self:
            return other
        mine, theirs = self._by_protocol(), other._by_protocol()
        merged = {p: _merge((*mine.get(p, ()), *theirs.get(p, ()))) for p in PROTOCOLS}
        return self._build(merged, self.others or other.others)

    def __and__(self, other: Ports) -> Ports:
        if self == other:
            return self
        if not self or not other:
            return Ports.none()
        mine, theirs = self._by_protocol(), other._by_protocol()
        return self._build(
            {p: _intersect(mine.get(p, ()), theirs.get(p, ())) for p in PROTOCOLS}, self.others and other.others
        )

    def __sub__(self, other: Ports) -> Ports:
        mine, theirs = self._by_protocol(), other._by_protocol()
        return self._build(
            {p: _subtract(mine.get(p, ()), theirs.get(p, ())) for p in PROTOCOLS}, self.others and not other.others
        )

    def __bool__(self) -> bool:
        return bool(self.ranges) or self.others

    @property
    def is_all(self) -> bool:
        return self == Ports.all()

    def contains(self, protocol: str, port: int | None = None) -> bool:
        if protocol not in PROTOCOLS:
            return self.others
        ranges = self._by_protocol().get(protocol, ())
        if port is None:
            return ranges == _FULL
        return any(first <= port <= last for first, last in ranges)

    def describe(self) -> str:
        """``all ports``, ``TCP 8080``, ``TCP 53, 8080; UDP 53``, ``every protocol but TCP 22``..."""
        if self.is_all:
            return "all ports"
        if not self:
            return "nothing"
        if self.others and len(self.ranges) == len(PROTOCOLS):
            missing = Ports.all() - self
            return f"every protocol and port but {missing.describe()}"
        parts = [p if ranges == _FULL else f"{p} {_format_ranges(ranges)}" for p, ranges in self.ranges]
        if self.others:
            parts.append("other protocols (ICMP, ...)")
        return "; ".join(parts)

    def __str__(self) -> str:
        return self.describe()


# --- peers --------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class AppId:
    """An app of a tenant (``tenant/app``); ``app`` is the workload's name when it has no app label."""

    tenant: str
    app: str

    def __str__(self) -> str:
        return f"{self.tenant}/{self.app}"


@dataclass(frozen=True, order=True)
class Workload:
    """The pods of one workload of the objects given."""

    namespace: str
    name: str
    kind: str
    tenant: str = field(default="", compare=False)
    app: str = field(default="", compare=False)

    @property
    def app_id(self) -> AppId:
        return AppId(self.tenant or self.namespace, self.app or self.name)

    def describe(self) -> str:
        return f"{self.namespace}/{self.name} ({self.kind})"


@dataclass(frozen=True, order=True)
class ClusterPods:
    """Pods of the cluster that are not among the objects given (the DNS, an ingress controller,
    other namespaces), as the selectors of a rule name them."""

    namespaces: str  # a namespace's name, a selector's text, or "any namespace"
    pods: str = "any pod"

    def describe(self) -> str:
        where = self.namespaces if self.namespaces == "any namespace" else f"namespace {self.namespaces}"
        return f"{self.pods} in {where}"


ANY_POD = ClusterPods("any namespace", "any pod")


@dataclass(frozen=True, order=True)
class Addresses:
    """Addresses outside the cluster (``ipBlock``), as merged CIDRs."""

    cidrs: tuple[str, ...]

    def describe(self) -> str:
        if set(self.cidrs) >= {"0.0.0.0/0", "::/0"}:
            return "any address outside the cluster"
        return "addresses " + ", ".join(self.cidrs)


ANY_ADDRESS = Addresses(("0.0.0.0/0", "::/0"))

Peer = Workload | ClusterPods | Addresses
#: An end of a flow folded by app: the app of a workload, or a peer outside the objects given.
AppEnd = AppId | ClusterPods | Addresses


def peer_key(peer: Peer) -> tuple[int, tuple[str, ...]]:
    """A sort key across the three kinds of peers: workloads, then pods elsewhere, then addresses."""
    if isinstance(peer, Workload):
        return 0, (peer.namespace, peer.name, peer.kind)
    if isinstance(peer, ClusterPods):
        return 1, (peer.namespaces, peer.pods)
    return 2, peer.cidrs


@dataclass(frozen=True)
class Flow:
    """``source`` may open connections to ``target`` on ``ports``."""

    source: Peer
    target: Peer
    ports: Ports

    def describe(self) -> str:
        return f"{_peer_text(self.source)} -> {_peer_text(self.target)}: {self.ports.describe()}"


def _peer_text(peer: Peer) -> str:
    return str(peer.app_id) if isinstance(peer, Workload) else peer.describe()


@dataclass(frozen=True)
class Reachability:
    """What the policies allow: every flow between the workloads given, and from them to the rest
    of the cluster and the outside (and from there to them)."""

    workloads: tuple[Workload, ...]
    flows: tuple[Flow, ...]

    def between_apps(self) -> dict[tuple[AppId, AppId], Ports]:
        """Flows between workloads folded by app (a canary track joins its app); an app's own
        pods talking among themselves are left out."""
        result: dict[tuple[AppId, AppId], Ports] = {}
        for flow in self.flows:
            if isinstance(flow.source, Workload) and isinstance(flow.target, Workload):
                key = (flow.source.app_id, flow.target.app_id)
                if key[0] != key[1]:
                    result[key] = result.get(key, Ports.none()) | flow.ports
        return dict(sorted(result.items()))

    def outside(self) -> dict[tuple[AppEnd, AppEnd], Ports]:
        """Flows with one end outside the workloads given, folded by app on the workload's end."""
        result: dict[tuple[AppEnd, AppEnd], Ports] = {}
        for flow in self.flows:
            if isinstance(flow.source, Workload) and isinstance(flow.target, Workload):
                continue
            source: AppEnd = flow.source.app_id if isinstance(flow.source, Workload) else flow.source
            target: AppEnd = flow.target.app_id if isinstance(flow.target, Workload) else flow.target
            result[(source, target)] = result.get((source, target), Ports.none()) | flow.ports
        return result

    def allows(self, source: Peer, target: Peer, protocol: str, port: int | None = None) -> bool:
        return any(f.source == source and f.target == target and f.ports.contains(protocol, port) for f in self.flows)


# --- selectors ----------------------------------------------------------------------------------


def _matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes LabelSelector semantics; an empty selector matches everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or ():
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or ()
        if operator == "In":
            ok = key in labels and labels[key] in values
        elif operator == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif operator == "Exists":
            ok = key in labels
        elif operator == "DoesNotExist":
            ok = key not in labels
        else:
            ok = False  # the API server refuses other operators; match nothing rather than guess
        if not ok:
            return False
    return True


def describe_selector(selector: Mapping[str, Any] | None, *, empty: str) -> str:
    """A selector as text: ``app=web, tier in (a, b), !legacy``; ``empty`` when it selects all."""
    if not selector:
        return empty
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or ():
        key, operator = expression.get("key"), expression.get("operator")
        values = ", ".join(sorted(str(v) for v in expression.get("values") or ()))
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": f"{key}"}.get(
                str(operator), f"!{key}"
            )
        )
    return ", ".join(parts) or empty


# --- the objects ------------------------------------------------------------------------------


@dataclass
class _Pods:
    workload: Workload
    labels: Mapping[str, str]
    named_ports: Mapping[str, tuple[str, int]]  # port name -> (protocol, number)


@dataclass(frozen=True)
class _PortSpec:
    protocol: str
    port: int | str | None
    end_port: int | None


@dataclass
class _Rule:
    """One ingress or egress rule, with its peers worked out."""

    workloads: frozenset[int]  # indices of the workloads it matches
    cluster: tuple[ClusterPods, ...]
    addresses: tuple[Addresses, ...]
    ports: tuple[_PortSpec, ...] | None  # None: every port

    def ports_at(self, target: _Pods | None) -> Ports:
        if self.ports is None:
            return Ports.all()
        result = Ports.none()
        for spec in self.ports:
            if isinstance(spec.port, str):
                found = target.named_ports.get(spec.port) if target is not None else None
                if found is not None and found[0] == spec.protocol:
                    result = result | Ports.of(spec.protocol, found[1], found[1])
            elif spec.port is None:
                result = result | Ports.of(spec.protocol)
            else:
                result = result | Ports.of(spec.protocol, spec.port, spec.end_port)
        return result


def _pod_template(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    kind = obj.get("kind")
    if kind == "Pod":
        return obj
    spec = obj.get("spec") or {}
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template")
    return template if isinstance(template, Mapping) else None


def _workload(obj: Mapping[str, Any]) -> _Pods | None:
    template = _pod_template(obj)
    if template is None:
        return None
    meta = obj.get("metadata") or {}
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    named: dict[str, tuple[str, int]] = {}
    for container in (template.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            if port.get("name") and isinstance(port.get("containerPort"), int):
                named.setdefault(str(port["name"]), (str(port.get("protocol") or "TCP"), int(port["containerPort"])))
    namespace = str(meta.get("namespace") or "default")
    owner = meta.get("labels") or {}
    workload = Workload(
        namespace,
        str(meta.get("name", "")),
        str(obj.get("kind")),
        tenant=str(labels.get(TENANT_LABEL) or owner.get(TENANT_LABEL) or ""),
        app=str(labels.get(APP_LABEL) or owner.get(APP_LABEL) or ""),
    )
    return _Pods(workload, labels, named)


def _cidrs(block: Mapping[str, Any]) -> Addresses | None:
    """An ipBlock as merged CIDRs (``cidr`` minus ``except``); None when it is not one."""
    try:
        network = ipaddress.ip_network(str(block.get("cidr", "")), strict=False)
        remaining: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [network]
        for raw in block.get("except") or ():
            hole = ipaddress.ip_network(str(raw), strict=False)
            next_remaining: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
            for part in remaining:
                if part.version == hole.version and hole.subnet_of(part):  # type: ignore[arg-type]
                    next_remaining.extend(part.address_exclude(hole))  # type: ignore[arg-type]
                elif part.version == hole.version and part.subnet_of(hole):  # type: ignore[arg-type]
                    continue
                else:
                    next_remaining.append(part)
            remaining = next_remaining
    except (ValueError, TypeError):
        return None
    collapsed = [str(n) for n in ipaddress.collapse_addresses(n for n in remaining if n.version == 4)]
    collapsed += [str(n) for n in ipaddress.collapse_addresses(n for n in remaining if n.version == 6)]
    return Addresses(tuple(collapsed)) if collapsed else None


class _Analysis:
    def __init__(self, objects: Iterable[Mapping[str, Any]]) -> None:
        self.namespaces: dict[str, dict[str, str]] = {}
        self.pods: list[_Pods] = []
        self.policies: dict[str, list[Mapping[str, Any]]] = {}
        for obj in objects:
            kind = obj.get("kind")
            meta = obj.get("metadata") or {}
            if kind == "Namespace":
                name = str(meta.get("name", ""))
                self.namespaces[name] = {**(meta.get("labels") or {}), NAMESPACE_NAME_LABEL: name}
            elif kind == "NetworkPolicy":
                self.policies.setdefault(str(meta.get("namespace") or "default"), []).append(obj)
            elif kind in _WORKLOAD_KINDS:
                pods = _workload(obj)
                if pods is not None:
                    self.pods.append(pods)
        self.pods.sort(key=lambda p: (p.workload.namespace, p.workload.name, p.workload.kind))
        for pods in self.pods:
            self.namespaces.setdefault(pods.workload.namespace, {NAMESPACE_NAME_LABEL: pods.workload.namespace})
        self.by_namespace: dict[str, list[int]] = {}
        for index, pods in enumerate(self.pods):
            self.by_namespace.setdefault(pods.workload.namespace, []).append(index)
        self._selected: dict[tuple[str, str, str], frozenset[int]] = {}
        self._namespaces_of: dict[str, list[str]] = {}
        self._compiled: dict[tuple[int, str], list[_Rule]] = {}

    def select(self, namespaces: Sequence[str], pod_selector: Mapping[str, Any] | None) -> frozenset[int]:
        key_selector = json.dumps(pod_selector or {}, sort_keys=True)
        found: set[int] = set()
        for namespace in namespaces:
            key = (namespace, key_selector, "")
            cached = self._selected.get(key)
            if cached is None:
                cached = frozenset(
                    i for i in self.by_namespace.get(namespace, ()) if _matches(pod_selector, self.pods[i].labels)
                )
                self._selected[key] = cached
            found |= cached
        return frozenset(found)

    def matching_namespaces(self, selector: Mapping[str, Any]) -> list[str]:
        key = json.dumps(selector, sort_keys=True)
        found = self._namespaces_of.get(key)
        if found is None:
            found = [n for n, labels in self.namespaces.items() if _matches(selector, labels)]
            self._namespaces_of[key] = found
        return found

    def compiled(self, policy: Mapping[str, Any], namespace: str, direction: str) -> list[_Rule]:
        """The rules of one direction of a policy, worked out once however many pods it selects."""
        key = (id(policy), direction)
        rules = self._compiled.get(key)
        if rules is None:
            spec = policy.get("spec") or {}
            peers = "from" if direction == "Ingress" else "to"
            rules = [
                self.rule(namespace, rule.get(peers), rule.get("ports"))
                for rule in spec.get("ingress" if direction == "Ingress" else "egress") or ()
                if isinstance(rule, Mapping)
            ]
            self._compiled[key] = rules
        return rules

    def rule(self, policy_namespace: str, peers: Any, ports: Any) -> _Rule:
        specs: tuple[_PortSpec, ...] | None = None
        if ports:
            specs = tuple(
                _PortSpec(
                    str(p.get("protocol") or "TCP"),
                    p.get("port") if isinstance(p.get("port"), int | str) else None,
                    p.get("endPort") if isinstance(p.get("endPort"), int) else None,
                )
                for p in ports
                if isinstance(p, Mapping)
            )
        if not peers:
            return _Rule(frozenset(range(len(self.pods))), (ANY_POD,), (ANY_ADDRESS,), specs)
        workloads: set[int] = set()
        cluster: list[ClusterPods] = []
        addresses: list[Addresses] = []
        for peer in peers:
            if not isinstance(peer, Mapping):
                continue
            if "ipBlock" in peer:
                block = _cidrs(peer["ipBlock"] or {})
                if block is not None:
                    addresses.append(block)
                continue
            pod_selector = peer.get("podSelector")
            if "namespaceSelector" not in peer:
                workloads |= self.select([policy_namespace], pod_selector)
                continue
            ns_selector = peer.get("namespaceSelector") or {}
            matched = self.matching_namespaces(ns_selector)
            workloads |= self.select(matched, pod_selector)
            named = (ns_selector.get("matchLabels") or {}).get(NAMESPACE_NAME_LABEL)
            if named is None or named not in self.namespaces:
                # The selector can match namespaces that are not among the objects given.
                where = named if named is not None else describe_selector(ns_selector, empty="any namespace")
                cluster.append(ClusterPods(str(where), describe_selector(pod_selector, empty="any pod")))
        return _Rule(frozenset(workloads), tuple(cluster), tuple(addresses), specs)

    def rules_of(self, index: int, direction: str) -> list[_Rule] | None:
        """The ingress or egress rules that apply to a workload; None when it is not isolated."""
        pods = self.pods[index]
        namespace = pods.workload.namespace
        isolated = False
        rules: list[_Rule] = []
        for policy in self.policies.get(namespace, ()):
            spec = policy.get("spec") or {}
            types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])
            if direction not in types or not _matches(spec.get("podSelector"), pods.labels):
                continue
            isolated = True
            rules.extend(self.compiled(policy, namespace, direction))
        return rules if isolated else None


def reachability(objects: Iterable[Mapping[str, Any]]) -> Reachability:
    """Every connection the NetworkPolicies among ``objects`` allow (see the module's doc)."""
    a = _Analysis(objects)
    count = len(a.pods)
    ingress = [a.rules_of(i, "Ingress") for i in range(count)]
    egress = [a.rules_of(i, "Egress") for i in range(count)]
    everyone = frozenset(range(count))
    #: what an unisolated end allows: everything, everywhere
    open_rule = _Rule(everyone, (ANY_POD,), (ANY_ADDRESS,), None)
    flows: dict[tuple[Peer, Peer], Ports] = {}

    def add(source: Peer, target: Peer, ports: Ports) -> None:
        if ports:
            key = (source, target)
            flows[key] = flows.get(key, Ports.none()) | ports

    def ingress_from(target: int, source: int) -> Ports:
        rules = ingress[target]
        if rules is None:
            return Ports.all()
        allowed = Ports.none()
        for rule in rules:
            if source in rule.workloads:
                allowed = allowed | rule.ports_at(a.pods[target])
        return allowed

    for s in range(count):
        source = a.pods[s].workload
        rules = egress[s]
        if rules is None:
            candidates = everyone
        else:
            candidates = frozenset().union(*(r.workloads for r in rules)) if rules else frozenset()
        for t in sorted(candidates):
            if t == s:
                continue
            if rules is None:
                out = Ports.all()
            else:
                out = Ports.none()
                for rule in rules:
                    if t in rule.workloads:
                        out = out | rule.ports_at(a.pods[t])
            if out:
                add(source, a.pods[t].workload, out & ingress_from(t, s))
        # Beyond the objects given: only this end's policies decide.
        for rule in rules if rules is not None else [open_rule]:
            outside: tuple[Peer, ...] = (*rule.cluster, *rule.addresses)
            for peer in outside:
                add(source, peer, rule.ports_at(None))
    for t in range(count):
        target = a.pods[t].workload
        target_rules = ingress[t]
        for rule in target_rules if target_rules is not None else [open_rule]:
            outside = (*rule.cluster, *rule.addresses)
            for peer in outside:
                add(peer, target, rule.ports_at(a.pods[t]))
    ordered = sorted(flows.items(), key=lambda item: (peer_key(item[0][0]), peer_key(item[0][1])))
    return Reachability(tuple(p.workload for p in a.pods), tuple(Flow(s, t, ports) for (s, t), ports in ordered))
