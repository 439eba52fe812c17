"""Reachability rules (pure), each case one the analysis could get wrong."""

from __future__ import annotations

from typing import Any

from daemon.policy.reachability import (
    ANY_ADDRESS,
    ANY_POD,
    Addresses,
    AppId,
    ClusterPods,
    Ports,
    Workload,
    reachability,
)


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def deployment(ns: str, name: str, labels: dict[str, str], ports: list[tuple[str, int, str]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    container = {
        "name": "c",
        "image": "i",
        "ports": [{"name": n, "containerPort": p, "protocol": proto} for n, p, proto in ports],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"dockyard.dev/tenant": ns}},
        "spec": {"template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}},
    }


def policy(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


A = Workload("a", "web", "Deployment")
B = Workload("b", "api", "Deployment")


def base() -> list[dict[str, Any]]:
    return [
        namespace("a", team="red"),
        namespace("b", team="blue"),
        deployment("a", "web", {"dockyard.dev/app": "web", "canary": "yes"}),
        deployment("b", "api", {"dockyard.dev/app": "api"}, [("http", 8080, "TCP"), ("dns", 5353, "UDP")]),
    ]


def test_ports_algebra_and_wording() -> None:
    tcp = Ports.of("TCP", 8000, 8100)
    assert (tcp | Ports.of("TCP", 8101)).describe() == "TCP 8000-8101"
    assert (tcp & Ports.of("TCP", 8050, 9000)).describe() == "TCP 8050-8100"
    assert (Ports.all() - Ports.of("TCP", 22)).describe() == "every protocol and port but TCP 22"
    assert (Ports.all() & tcp) == tcp and (tcp - tcp) == Ports.none() and not Ports.none()
    assert Ports.of("ICMP") == Ports.none(), "ICMP has no ports: only a rule without ports allows it"
    assert Ports.all().contains("ICMP") and not (Ports.all() - Ports.of("UDP")).contains("UDP", 53)
    assert Ports.of("TCP", 0) == Ports.none() and Ports.of("TCP", 70000) == Ports.none()


def test_no_policy_means_everything_everywhere() -> None:
    result = reachability(base())
    assert result.allows(A, B, "TCP", 1) and result.allows(B, A, "SCTP", 7) and result.allows(A, B, "ICMP")
    assert result.allows(A, ANY_ADDRESS, "TCP", 443) and result.allows(ANY_POD, B, "UDP", 53)
    assert result.between_apps() == {
        (AppId("a", "web"), AppId("b", "api")): Ports.all(),
        (AppId("b", "api"), AppId("a", "web")): Ports.all(),
    }


def test_both_ends_must_allow_and_named_ports_resolve_at_the_target() -> None:
    objects = [
        *base(),
        policy(
            "a",
            "out",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"port": "http"}, {"protocol": "UDP", "port": "dns"}]}],
            },
        ),
        policy(
            "b",
            "in",
            {
                "podSelector": {},
                "ingress": [
                    {"from": [{"namespaceSelector": {"matchLabels": {"team": "red"}}}], "ports": [{"port": 8080}]}
                ],
            },
        ),
    ]
    result = reachability(objects)
    assert result.between_apps()[(AppId("a", "web"), AppId("b", "api"))] == Ports.of("TCP", 8080)
    assert not result.allows(A, B, "UDP", 5353), "b's ingress allows TCP 8080 only"
    assert not result.allows(A, ANY_ADDRESS, "TCP", 8080), "a named port means nothing for an address"
    assert not result.allows(ANY_POD, B, "TCP", 8080), "only namespaces labelled team=red"
    assert result.allows(ClusterPods("team=red"), B, "TCP", 8080), "other namespaces with team=red may exist"


def test_exists_in_a_pod_selector_matches_in_every_selected_namespace() -> None:
    # nca 2.1.0 evaluates this within the policy's own namespace only; Kubernetes does not.
    objects = [
        *base(),
        policy(
            "b",
            "deny",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {},
                                "podSelector": {"matchExpressions": [{"key": "canary", "operator": "Exists"}]},
                            }
                        ]
                    }
                ],
            },
        ),
    ]
    result = reachability(objects)
    assert result.allows(B, A, "TCP", 80)
    assert result.allows(B, ClusterPods("any namespace", "canary"), "TCP", 80)
    assert not result.allows(B, ANY_ADDRESS, "TCP", 80)


def test_ip_blocks_with_exceptions_and_isolation_without_rules() -> None:
    objects = [
        *base(),
        policy(
            "a",
            "out",
            {
                "podSelector": {"matchLabels": {"dockyard.dev/app": "web"}},
                "policyTypes": ["Egress", "Ingress"],
                "egress": [
                    {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}], "ports": [{"port": 443}]}
                ],
            },
        ),
    ]
    result = reachability(objects)
    outside = [f for f in result.flows if f.source == A]
    assert [(f.target, f.ports.describe()) for f in outside] == [
        (
            Addresses(
                (
                    "10.0.0.0/16",
                    "10.2.0.0/15",
                    "10.4.0.0/14",
                    "10.8.0.0/13",
                    "10.16.0.0/12",
                    "10.32.0.0/11",
                    "10.64.0.0/10",
                    "10.128.0.0/9",
                )
            ),
            "TCP 443",
        )
    ]
    assert not any(f.target == A for f in result.flows), "isolated for ingress with no rule: nothing comes in"
