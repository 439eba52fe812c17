"""Reachability against an independent analyser: network-config-analyzer on the same objects.

Each case writes the objects to files, runs ``nca --connectivity`` in its own venv, and compares
both answers in one canonical form: the connections of every workload pair, and per workload the
connections to and from address ranges outside the cluster. Cases: Dockyard's own rendering of the
example repo and of a generated one, and randomly generated policy sets (a fixed seed each) that
use what the Kubernetes API allows: pod and namespace selectors with every operator, ipBlocks with
exceptions, named ports, port ranges, TCP/UDP/SCTP, and policies of one or both types.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from bench.gen_platform import generate
from daemon.loader import load_or_raise
from daemon.policy.reachability import reachability
from daemon.render import render
from tests.review.nca import ours, run_nca

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"


def assert_same(objects: list[dict[str, Any]], work: Path) -> None:
    theirs_pairs, theirs_external = run_nca(objects, work)
    our_pairs, our_external = ours(reachability(objects))
    missing = {k: str(v) for k, v in theirs_pairs.items() if our_pairs.get(k) != v}
    extra = {k: str(v) for k, v in our_pairs.items() if k not in theirs_pairs}
    assert not missing and not extra, f"nca has {missing}; we also have {extra}"
    assert our_external == theirs_external
    assert theirs_pairs, "a case in which nothing may talk compares nothing"


def test_the_example_repo_as_dockyard_renders_it(tmp_path: Path) -> None:
    assert_same(render(load_or_raise(EXAMPLE)), tmp_path)


def test_a_generated_repo_with_cross_tenant_rules(tmp_path: Path) -> None:
    generate(tmp_path / "repo", 4, 3)
    assert_same(render(load_or_raise(tmp_path / "repo")), tmp_path / "nca")


# --- random policy sets -------------------------------------------------------------------------

TIERS = ("web", "api", "db")


def _selector(rng: random.Random, keys: dict[str, tuple[str, ...]], *, exists: bool = True) -> dict[str, Any]:
    """A random label selector. ``exists=False`` leaves out Exists/DoesNotExist: nca 2.1.0 evaluates
    those in a peer's podSelector within the policy's own namespace even when the peer has a
    namespaceSelector (``get_peers_with_key(self.namespace, ...)`` in K8sPolicyYamlParser), which is
    not what Kubernetes does; test_reachability.py covers that case on its own."""
    key = rng.choice(sorted(keys))
    values = keys[key]
    shape = rng.randrange(6 if exists else 4)
    if shape == 0:
        return {}
    if shape == 1:
        return {"matchLabels": {key: rng.choice(values)}}
    if shape == 2:
        return {"matchExpressions": [{"key": key, "operator": "In", "values": rng.sample(values, 2)}]}
    if shape == 3:
        return {"matchExpressions": [{"key": key, "operator": "NotIn", "values": [rng.choice(values)]}]}
    if shape == 4:
        return {"matchExpressions": [{"key": "canary", "operator": rng.choice(["Exists", "DoesNotExist"])}]}
    return {"matchLabels": {key: rng.choice(values)}, "matchExpressions": [{"key": "canary", "operator": "Exists"}]}


def _ports(rng: random.Random) -> list[dict[str, Any]] | None:
    if rng.random() < 0.3:
        return None
    choices: list[dict[str, Any]] = [
        {"port": 8080},
        {"protocol": "TCP", "port": "http"},
        {"protocol": "UDP", "port": 53},
        {"protocol": "UDP", "port": "dns"},
        {"port": 9000, "endPort": 9100},
        {"protocol": "SCTP"},
        {"protocol": "TCP", "port": 443},
    ]
    return rng.sample(choices, rng.randint(1, 3))


def _peers(rng: random.Random, direction: str) -> list[dict[str, Any]] | None:
    if rng.random() < 0.15:
        return None
    peers: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(5)
        if kind == 0:
            peers.append({"podSelector": _selector(rng, {"tier": TIERS, "app": ("a0", "a1", "a2")})})
        elif kind == 1:
            peers.append({"namespaceSelector": _selector(rng, {"team": ("red", "blue", "green")})})
        elif kind == 2:
            peers.append(
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": rng.choice(["n0", "n1", "n2"])}
                    },
                    "podSelector": _selector(rng, {"tier": TIERS}, exists=False),
                }
            )
        elif kind == 3:
            block: dict[str, Any] = rng.choice(
                [
                    {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.2.3.0/24"]},
                    {"cidr": "192.168.0.0/16"},
                    {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]},
                    {"cidr": "172.16.4.7/32"},
                ]
            )
            peers.append({"ipBlock": block})
        else:
            peers.append({"namespaceSelector": {}, "podSelector": _selector(rng, {"tier": TIERS}, exists=False)})
    return peers


def random_objects(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    objects: list[dict[str, Any]] = []
    for n in range(3):
        namespace = f"n{n}"
        labels = {"team": rng.choice(["red", "blue", "green"])}
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}})
        for w in range(rng.randint(2, 3)):
            pod_labels = {"app": f"a{w}", "tier": rng.choice(TIERS)}
            if rng.random() < 0.3:
                pod_labels["canary"] = "true"
            ports = [{"name": "http", "containerPort": rng.choice([8080, 8081]), "protocol": "TCP"}]
            if rng.random() < 0.5:
                ports.append({"name": "dns", "containerPort": 5353, "protocol": "UDP"})
            objects.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": rng.choice(["Deployment", "StatefulSet"]),
                    "metadata": {"name": f"w{w}", "namespace": namespace},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": {"app": f"a{w}"}},
                        "template": {
                            "metadata": {"labels": pod_labels},
                            "spec": {"containers": [{"name": "c", "image": "busybox", "ports": ports}]},
                        },
                    },
                }
            )
        for p in range(rng.randint(0, 3)):
            spec: dict[str, Any] = {"podSelector": _selector(rng, {"tier": TIERS, "app": ("a0", "a1", "a2")})}
            types = rng.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"], None])
            if types is not None:
                spec["policyTypes"] = types
            for direction, key, peer_key in (("Ingress", "ingress", "from"), ("Egress", "egress", "to")):
                if (types is None and direction == "Egress" and rng.random() < 0.5) or (
                    types is not None and direction not in types
                ):
                    continue
                rules = []
                for _ in range(rng.randint(0, 2)):
                    rule: dict[str, Any] = {}
                    peers, ports = _peers(rng, direction), _ports(rng)
                    if peers is not None:
                        rule[peer_key] = peers
                    if ports is not None:
                        rule["ports"] = ports
                    rules.append(rule)
                spec[key] = rules
            objects.append(
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": {"name": f"p{p}", "namespace": namespace},
                    "spec": spec,
                }
            )
    return objects


@pytest.mark.parametrize("seed", [1, 2, 3, 5, 8, 13, 21, 34])
def test_random_policy_sets(seed: int, tmp_path: Path) -> None:
    assert_same(random_objects(seed), tmp_path)
