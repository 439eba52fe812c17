"""``extract`` of NetworkPolicies: a Policy whose rules the loader takes and renders into the same
reachability; what strict isolation already says needs no rule, and the rest is reported."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

from daemon.model.labels import APP_LABEL
from daemon.policy.extract import extract
from daemon.render import render
from tests.clone.served import served
from tests.loader.helpers import BASE, load


def _deployment(name: str, port: int) -> dict[str, Any]:
    container = {"name": name, "image": "busybox:1.36", "ports": [{"containerPort": port}]}
    labels = {"app": name, "tier": "shop"}
    spec = {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
    }
    return served(
        {"kind": "Deployment", "metadata": {"name": name, "namespace": "legacy"}, "spec": {"replicas": 1, **spec}}
    )


def _policy(name: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": "legacy"}, "spec": spec}


def _pods(app: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {"app": app}}}


def _namespace(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


OBJECTS = [
    _deployment("web", 8080),
    _deployment("api", 8080),
    _deployment("db", 5432),
    _policy("default-deny", podSelector={}, policyTypes=["Ingress", "Egress"]),
    _policy(
        "db", podSelector={"matchLabels": {"app": "db"}}, ingress=[{"from": [_pods("api")], "ports": [{"port": 5432}]}]
    ),
    _policy(
        "api",
        podSelector={"matchLabels": {"app": "api"}},
        policyTypes=["Ingress", "Egress"],
        ingress=[
            {"from": [_pods("web")], "ports": [{"port": 8080, "protocol": "TCP"}]},
            {"from": [_namespace("other")], "ports": [{"port": 9090}]},
        ],
        egress=[
            {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}], "ports": [{"port": 443}]},
            {"to": [_namespace("kube-system")], "ports": [{"port": 53, "protocol": "UDP"}]},  # DNS
            {"to": [_pods("db")]},  # inside the tenant
        ],
    ),
    _policy("web-open", podSelector={"matchLabels": {"app": "web"}}, ingress=[{}]),
    _policy("expr", podSelector={"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}),
    _policy(
        "ranges",
        podSelector={"matchLabels": {"app": "db"}},
        ingress=[{"from": [_pods("api")], "ports": [{"port": 1, "endPort": 9}]}],
    ),
    _policy("ns-wide", podSelector={}, ingress=[{"from": [_namespace("other")]}]),
]


def test_network_policies_become_policy_rules_and_the_rest_is_reported() -> None:
    out = extract(OBJECTS, namespace="legacy")
    assert out.documents["policies/network.yaml"]["spec"]["network"] == [
        {"allow": {"from": {"app": "web"}, "to": {"app": "api"}, "ports": [8080]}},
        {"allow": {"from": {"tenant": "other"}, "to": {"app": "api"}, "ports": [9090]}},
        {"allow": {"from": {"app": "api"}, "to": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}, "ports": [443]}},
        {"allow": {"from": {"app": "api"}, "to": {"app": "db"}, "ports": [5432]}},
    ]
    reported = [line for line in out.unsupported if line.startswith("NetworkPolicy")]
    assert reported == [
        "NetworkPolicy expr: spec.podSelector uses matchExpressions, which cannot be matched to an app",
        "NetworkPolicy ns-wide: it applies to every pod of the namespace: say it with the tenant's "
        "spec.network.allowFrom and allowTo",
        "NetworkPolicy ranges: spec.ingress[0].ports: named ports, port ranges or mixed protocols cannot be expressed",
        "NetworkPolicy web-open: spec.ingress[0]: it lets in every source; expose the app (spec.expose) or give it a "
        "domain",
    ]
    # --app: only the policies of that app's pods.
    only = extract(OBJECTS, app="db", namespace="legacy")
    assert only.documents["policies/db.yaml"]["spec"]["network"] == [
        {"allow": {"from": {"app": "api"}, "to": {"app": "db"}, "ports": [5432]}}
    ]


def test_the_extracted_policy_loads_and_renders_the_same_reachability(tmp_path: Path) -> None:
    out = extract(OBJECTS, namespace="legacy")
    files = {
        f"tenants/legacy/{rel}": textwrap.indent(yaml.safe_dump(doc, sort_keys=False), "        ")
        for rel, doc in out.documents.items()
    }
    files["tenants/legacy/tenant.yaml"] = """
        apiVersion: dockyard.dev/v1alpha1
        kind: Tenant
        metadata:
          name: legacy
        spec:
          quota: {cpu: "4", memory: 4Gi}
        """
    # other's half: it lets its pods out to legacy's api.
    files["tenants/other/out.yaml"] = """
        apiVersion: dockyard.dev/v1alpha1
        kind: Policy
        metadata:
          name: out
        spec:
          network:
            - allow: {to: {tenant: legacy, app: api}, ports: [9090]}
        """
    result = load(tmp_path, {**BASE, **files})
    assert result.model is not None, [p.format() for p in result.errors]
    rendered = [
        o for o in render(result.model) if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == "legacy"
    ]
    # The namespace's own reachability as Dockyard renders it: default deny, the tenant inside
    # (but not into api and db, which their rules now close), DNS, and each rule.
    closed = next(p for p in rendered if p["metadata"]["name"] == "allow-same-tenant")
    assert closed["spec"]["podSelector"]["matchExpressions"][0]["values"] == ["api", "db"]
    rules = sorted(
        (
            p["spec"]["podSelector"]["matchLabels"][APP_LABEL],
            direction,
            yaml.safe_dump(peer, sort_keys=True).strip(),
            tuple(port["port"] for port in rule["ports"]),
        )
        for p in rendered
        if p["metadata"]["annotations"]["dockyard.dev/source"] == "Policy/network"
        for direction in ("ingress", "egress")
        for rule in p["spec"].get(direction, ())
        for peer in rule.get("from", rule.get("to", []))
    )

    def peer(value: dict[str, Any]) -> str:
        return yaml.safe_dump(value, sort_keys=True).strip()

    app = {name: peer({"podSelector": {"matchLabels": {APP_LABEL: name}}}) for name in ("web", "api")}
    other = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}}, "podSelector": {}}
    cidr = {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}
    assert rules == sorted(
        [
            ("api", "ingress", app["web"], (8080,)),
            ("api", "ingress", peer(other), (9090,)),
            ("api", "egress", peer(cidr), (443,)),
            ("db", "ingress", app["api"], (5432,)),
        ]
    )
