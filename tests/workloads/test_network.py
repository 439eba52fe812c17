"""Network rules out of a tenant (to other tenants with their consent, to address ranges, to hosts
by their ranges) and apps closed to all but their rules; each tenant renders only its own half."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon.loader import load_or_raise
from daemon.render import render
from tests.loader.helpers import BASE, errors, line_of, load, text, warnings
from tests.render.test_render import by

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"
HEAD = "apiVersion: dockyard.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n"


def doc(kind: str, name: str, body: str) -> str:
    return HEAD.format(kind=kind, name=name) + text(body)


SHOP_OUT = doc(
    "Policy",
    "out",
    """
    spec:
      network:
        - allow:
            from: {app: api}
            to: {tenant: other, app: front}
            ports: [80]
        - allow:
            from: {app: api}
            to: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}
            protocol: UDP
            ports: [123]
        - allow:
            to: {host: api.stripe.com, cidrs: [203.0.113.0/24]}
            ports: [443]
        - close: {app: web}
        - allow:
            from: {app: api}
            to: {app: web}
            ports: [80]
    """,
)
OTHER_IN = doc(
    "Policy",
    "in",
    """
    spec:
      network:
        - allow:
            from: {tenant: shop, app: api}
            to: {app: front}
            ports: [80]
    """,
)


def test_a_flow_between_tenants_needs_both_halves(tmp_path: Path) -> None:
    result = load(tmp_path, {"tenants/shop/out.yaml": SHOP_OUT})
    assert errors(result) == []
    assert warnings(result) == [
        (
            "tenants/shop/out.yaml",
            line_of(SHOP_OUT, "to: {tenant: other"),
            "traffic out to tenant 'other' is allowed here, but 'other' does not let it in yet",
        ),
    ]
    assert result.warnings[0].hint == (
        "each tenant declares its own half; it takes effect once tenant 'other' adds allowFrom: "
        "[{tenant: shop}] in its tenant.yaml, or a Policy rule allow: {from: {tenant: shop, app: api}, "
        "to: {app: front}}"
    )
    # The other way round: the receiving tenant asks for traffic the sender does not let out.
    only_in = load(tmp_path / "2", {"tenants/other/in.yaml": OTHER_IN})
    assert warnings(only_in) == [
        (
            "tenants/other/in.yaml",
            line_of(OTHER_IN, "from: {tenant"),
            "traffic in from tenant 'shop' is allowed here, but 'shop' does not let it out yet",
        ),
    ]
    both = load(tmp_path / "3", {"tenants/shop/out.yaml": SHOP_OUT, "tenants/other/in.yaml": OTHER_IN})
    assert errors(both) == [] and warnings(both) == []


def test_rules_out_of_a_tenant_are_checked(tmp_path: Path) -> None:
    bad = doc(
        "Policy",
        "bad",
        """
        spec:
          network:
            - allow:
                from: {tenant: other, app: front}
                to: {cidr: 10.0.0.0/8}
            - allow:
                to: {app: api, cidr: 10.0.0.0/8}
            - allow:
                from: {app: api}
                to: {tenant: other, app: frnt}
            - allow:
                to: {app: api}
            - close: {app: wbe}
            - allow:
                from: {app: web}
                to: {app: api}
                ports: [80]
        """,
    )
    api = text(BASE["tenants/shop/api.yaml"]).replace("port: 8080", "port: 8080\n      servicePort: 80")
    result = load(tmp_path, {"tenants/shop/bad.yaml": bad, "tenants/shop/api.yaml": api})
    path = "tenants/shop/bad.yaml"
    assert errors(result) == [
        (path, line_of(bad, "from: {tenant: other"), "a rule out of this tenant sends from its own apps"),
        (path, line_of(bad, "to: {app: api, cidr"), "to names app and cidr; a rule goes to one kind of destination"),
        (path, line_of(bad, "frnt"), "App 'frnt' does not exist in tenant 'other'"),
        (
            path,
            line_of(bad, "to: {app: api}"),
            "a rule into an app needs from: the app or tenant the traffic comes from",
        ),
        (path, line_of(bad, "wbe"), "App 'wbe' does not exist in tenant 'shop'"),
    ]
    assert [w for w in warnings(result) if w[0] == path] == [
        (
            path,
            line_of(bad, "to: {tenant: other, app: frnt}"),
            "traffic out to tenant 'other' is allowed here, but 'other' does not let it in yet",
        ),
        (path, line_of(bad, "ports: [80]"), "port 80 is not a port of App 'api'"),
    ]
    assert result.warnings[-1].hint == "80 is its Service port; NetworkPolicy sees the container port 8080"


def test_an_open_tenant_is_told_that_rules_out_change_nothing(tmp_path: Path) -> None:
    tenant = text(BASE["tenants/shop/tenant.yaml"]) + "  network:\n    isolation: open\n"
    platform = text(BASE["platform.yaml"]) + "  tenancy:\n    allowedIsolation: [strict, open]\n"
    files = {"platform.yaml": platform, "tenants/shop/tenant.yaml": tenant, "tenants/shop/out.yaml": SHOP_OUT}
    result = load(tmp_path, files)
    assert (
        "tenants/shop/out.yaml",
        line_of(SHOP_OUT, "to: {cidr"),
        "tenant 'shop' is open: its traffic out is not restricted, so this rule changes nothing",
    ) in warnings(result)
    assert result.model is not None
    objects = render(result.model, "r")
    names = {
        o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == "shop"
    }
    # No egress policy in an open tenant (it would restrict those pods); the closed app is closed.
    assert names == {"close-web", "allow-ingress-controller", "allow-out-3"}
    close = by(objects, "NetworkPolicy", "close-web", "shop")
    assert close["spec"] == {"podSelector": {"matchLabels": {"dockyard.dev/app": "web"}}, "policyTypes": ["Ingress"]}
    # Its domain still routes to it, and so do the rules into it; rules into apps that are not
    # closed render nothing (an open tenant's apps accept everyone).
    assert by(objects, "NetworkPolicy", "allow-out-3", "shop")["spec"]["podSelector"] == {
        "matchLabels": {"dockyard.dev/app": "web"}
    }
    controller = by(objects, "NetworkPolicy", "allow-ingress-controller", "shop")
    assert controller["spec"]["podSelector"]["matchExpressions"][0]["values"] == ["web"]


def _objects(tmp_path: Path) -> list[dict[str, Any]]:
    result = load(tmp_path, {"tenants/shop/out.yaml": SHOP_OUT, "tenants/other/in.yaml": OTHER_IN})
    assert result.model is not None
    return render(result.model, "r")


def test_each_half_renders_in_its_own_namespace(tmp_path: Path) -> None:
    objects = _objects(tmp_path)
    out = by(objects, "NetworkPolicy", "allow-out-0", "shop")
    assert out["spec"] == {
        "podSelector": {"matchLabels": {"dockyard.dev/app": "api"}},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}},
                        "podSelector": {"matchLabels": {"dockyard.dev/app": "front"}},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 80}],
            }
        ],
    }
    into = by(objects, "NetworkPolicy", "allow-in-0", "other")
    assert into["spec"]["ingress"][0]["from"] == [
        {
            "podSelector": {"matchLabels": {"dockyard.dev/app": "api"}},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}},
        }
    ]
    for obj in objects:
        source = obj["metadata"]["annotations"]["dockyard.dev/source"]
        if obj["kind"] == "NetworkPolicy" and source.startswith("tenants/"):
            assert obj["metadata"]["namespace"] == source.split("/")[1]


def test_egress_to_ranges_and_hosts_by_their_ranges(tmp_path: Path) -> None:
    objects = _objects(tmp_path)
    ntp = by(objects, "NetworkPolicy", "allow-out-1", "shop")["spec"]["egress"]
    assert ntp == [
        {
            "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}],
            "ports": [{"protocol": "UDP", "port": 123}],
        }
    ]
    stripe = by(objects, "NetworkPolicy", "allow-out-2", "shop")
    assert stripe["metadata"]["annotations"]["dockyard.dev/egress-host"] == "api.stripe.com"
    assert stripe["spec"]["podSelector"] == {}  # every app of the tenant
    assert stripe["spec"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    ]


def test_a_closed_app_is_not_reachable_from_its_tenant_or_allowed_tenants(tmp_path: Path) -> None:
    tenant = text(BASE["tenants/shop/tenant.yaml"]) + "  network:\n    allowFrom:\n      - tenant: other\n"
    result = load(tmp_path, {"tenants/shop/out.yaml": SHOP_OUT, "tenants/shop/tenant.yaml": tenant})
    assert result.model is not None
    objects = render(result.model, "r")
    # Both apps of the tenant accept only their rules (api is targeted, web closed): no policy
    # lets the rest of the tenant in, rather than one that selects no pod.
    assert not [
        o for o in objects if o["metadata"]["name"] == "allow-same-tenant" and o["metadata"]["namespace"] == "shop"
    ]
    allowed = by(objects, "NetworkPolicy", "allow-from-tenant-other", "shop")
    assert allowed["spec"]["podSelector"]["matchExpressions"] == [
        {"key": "dockyard.dev/app", "operator": "NotIn", "values": ["web"]}
    ]


def test_the_example_declares_both_halves_of_every_flow() -> None:
    model = load_or_raise(EXAMPLE)
    objects = render(model, "r")
    assert by(objects, "NetworkPolicy", "allow-shop-4", "shop")["spec"]["egress"][0]["to"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "payments"}
    }
    card = by(objects, "NetworkPolicy", "allow-payments-1", "payments")
    assert card["metadata"]["annotations"]["dockyard.dev/egress-host"] == "api.card-processor.example"
    same = by(objects, "NetworkPolicy", "allow-same-tenant", "analytics")
    assert "etl-worker" in same["spec"]["podSelector"]["matchExpressions"][0]["values"]
