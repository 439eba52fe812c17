"""The topology and its flows, computed from what render makes of the example (and of small
hand-written NetworkPolicies where a rule of NetworkPolicy semantics is the point), and the
backup chain: retention classes, the next prune, failed and pending snapshots."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.gen_platform import generate
from daemon.console import pages
from daemon.console.backups import chain_of, chains
from daemon.console.live import AppLive, WorkloadTrack, summarise
from daemon.console.reads import FlowCache
from daemon.console.svg import graph_svg
from daemon.console.topology import AppFlow, Focus, app_flows, build
from daemon.loader.load import load_or_raise
from daemon.model.kinds import Backup, Retention
from daemon.policy.reachability import ANY_ADDRESS, AppEnd, AppId, ClusterPods, Ports, reachability
from daemon.render.core import render
from tests.console.helpers import NOW, example_model

TENANTS = ["analytics", "monitoring", "payments", "shop"]


def app(tenant: str, name: str) -> AppId:
    return AppId(tenant, name)


def flows(objects: list[dict[str, Any]]) -> list[AppFlow]:
    return app_flows(reachability(objects))


@pytest.fixture(scope="module")
def example_flows() -> list[AppFlow]:
    return flows(render(example_model(), "r"))


def ports(found: list[AppFlow], source: AppEnd, target: AppEnd) -> Ports | None:
    return next((f.ports for f in found if f.source == source and f.target == target), None)


def namespace(found: list[AppFlow], name: str) -> ClusterPods:
    """The outside end of ``found`` in namespace ``name`` (with whatever pods its rule selects)."""
    return next(e for f in found for e in (f.source, f.target) if isinstance(e, ClusterPods) and e.namespaces == name)


TCP_53_UDP_53 = Ports.of("TCP", 53) | Ports.of("UDP", 53)


def test_the_examples_flows_are_what_its_network_rules_allow(example_flows: list[AppFlow]) -> None:
    # shop/api may call the payments API on its port, and postgres on 5432 (tenants/shop/policy.yaml)
    assert ports(example_flows, app("shop", "api"), app("payments", "payments-api")) == Ports.of("TCP", 8080)
    assert ports(example_flows, app("shop", "api"), app("shop", "postgres")) == Ports.of("TCP", 5432)
    # monitoring scrapes every shop app (allowTo + the shop's allowFrom), on any port
    assert ports(example_flows, app("monitoring", "prometheus"), app("shop", "api")) == Ports.all()
    # nothing of payments may call back into the shop, and analytics reaches no other tenant's app
    assert ports(example_flows, app("payments", "payments-api"), app("shop", "api")) is None
    assert not [
        f
        for f in example_flows
        if isinstance(f.source, AppId)
        and f.source.tenant == "analytics"
        and isinstance(f.target, AppId)
        and f.target.tenant != "analytics"
    ]
    # the web app cannot reach the database directly
    assert ports(example_flows, app("shop", "web"), app("shop", "postgres")) is None
    # DNS, and the ingress controller in
    assert ports(example_flows, app("shop", "web"), namespace(example_flows, "kube-system")) == TCP_53_UDP_53
    assert ports(example_flows, namespace(example_flows, "ingress-nginx"), app("shop", "web")) == Ports.all()


def _deployment(namespace: str, name: str, port: int = 8080) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": {
                "metadata": {"labels": {"dockyard.dev/app": name}},
                "spec": {"containers": [{"name": name, "ports": [{"name": "http", "containerPort": port}]}]},
            }
        },
    }


def _policy(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def test_networkpolicy_semantics_both_sides_must_allow_and_named_ports_resolve() -> None:
    objects = [
        _deployment("a", "client"),
        _deployment("a", "other"),
        _deployment("b", "server", port=9000),
        # b: only a's client may come in, on the named port "http" (9000 on the server)
        _policy(
            "b",
            "in",
            {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "a"}},
                                "podSelector": {"matchLabels": {"dockyard.dev/app": "client"}},
                            }
                        ],
                        "ports": [{"port": "http"}],
                    }
                ],
            },
        ),
        # a: egress only to b (and nowhere else)
        _policy(
            "a",
            "out",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}]}],
            },
        ),
    ]
    found = flows(objects)
    assert ports(found, app("a", "client"), app("b", "server")) == Ports.of("TCP", 9000)
    assert ports(found, app("a", "other"), app("b", "server")) is None  # b's side refuses
    assert ports(found, app("a", "client"), app("a", "other")) is None  # a's egress refuses
    # nothing restricts the server's egress nor a's ingress: it may send anything anywhere
    assert ports(found, app("b", "server"), app("a", "other")) == Ports.all()
    assert ports(found, app("b", "server"), ANY_ADDRESS) == Ports.all()


def test_address_ranges_and_other_namespaces_are_drawn_but_dns_and_anything_are_not() -> None:
    model = example_model()
    egress = {
        "podSelector": {"matchLabels": {"dockyard.dev/app": "web"}},
        "policyTypes": ["Egress"],
        "egress": [
            {"to": [{"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.128/25"]}}], "ports": [{"port": 443}]},
            {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "metrics"}}}]},
        ],
    }
    found = flows([*render(model, "r"), _policy("shop", "web-out", egress)])
    graph = build(model, found, {}, visible=TENANTS, focus=Focus("shop", "web"))
    externals = {n.id: n for n in graph.nodes if n.kind == "external"}
    assert set(externals) == {"ext:cidr:203.0.113.0/25", "ext:ns:metrics", "ext:ns:ingress-nginx"}
    assert externals["ext:ns:ingress-nginx"].label == "ingress controller"
    edges = {(e.source, e.target): e.label for e in graph.edges if e.kind == "flow"}
    assert edges[("app:shop/web", "ext:cidr:203.0.113.0/25")] == "443"
    assert edges[("app:shop/web", "ext:ns:metrics")] == "any port"
    assert edges[("ext:ns:ingress-nginx", "app:shop/web")] == "any port"


def test_the_topology_shows_tenants_apps_parts_and_live_status(example_flows: list[AppFlow]) -> None:
    model = example_model()
    live = {("shop", "web"): AppLive((WorkloadTrack("web", "stable", 3, 2, 3, True),))}
    graph = build(model, example_flows, live, visible=TENANTS)
    assert graph.level == "parts"
    labels = {n.label for n in graph.nodes}
    assert {"web", "api", "postgres", "payments-api", "grafana"} <= labels
    web = next(n for n in graph.nodes if n.id == "app:shop/web")
    assert web.health == "progressing" and "2/3 ready" in web.sub and "rolling out" in web.sub
    api = next(n for n in graph.nodes if n.id == "app:shop/api")
    assert api.health == "missing"
    kinds = {n.kind for n in graph.nodes}
    assert {"tenant", "app"} <= kinds
    assert any("shop.example.com" in n.label for n in graph.nodes)  # an Ingress domain
    cross = [e for e in graph.edges if e.kind == "flow" and e.cross]
    assert any(
        e.source == "app:shop/api" and e.target == "app:payments/payments-api" and "8080" in e.label for e in cross
    )
    svg = str(graph_svg(graph))
    assert svg.startswith("<svg") and "payments-api" in svg


def test_a_tenants_view_never_names_another_tenants_apps(example_flows: list[AppFlow]) -> None:
    graph = build(example_flows and example_model(), example_flows, {}, visible=["shop"])
    text = " ".join(f"{n.id} {n.label} {n.sub} {n.detail} {n.tenant}" for n in graph.nodes)
    text += " ".join(f"{e.source} {e.target} {e.label}" for e in graph.edges)
    for secret_name in ("payments-api", "grafana", "prometheus", "etl-worker", "reports-web"):
        assert secret_name not in text
    assert "another tenant" in text  # shop/api -> payments is shown, but not whose app it is


def test_focus_on_one_app_shows_its_neighbours_only(example_flows: list[AppFlow]) -> None:
    graph = build(example_model(), example_flows, {}, visible=TENANTS, focus=Focus("shop", "api"))
    apps = {n.id for n in graph.nodes if n.kind == "app"}
    assert "app:shop/api" in apps and "app:payments/payments-api" in apps and "app:shop/postgres" in apps
    assert "app:shop/web" in apps  # web calls the api
    assert "app:analytics/etl-worker" not in apps  # no flow between them


@pytest.fixture(scope="module")
def thousand_apps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("large")
    generate(root, tenants=100, apps_per_tenant=10)
    return root


def test_a_thousand_apps_stay_within_the_node_budget(thousand_apps: Path) -> None:
    model = load_or_raise(thousand_apps)
    assert len(model.apps) == 1000
    found = flows(render(model, "r"))
    tenants = [t.name for t in model.tenants]
    graph = build(model, found, {}, visible=tenants, budget=300)
    assert graph.level in ("tenants", "groups") and len(graph.nodes) <= 300
    assert graph.total_apps == 1000 and "1000 apps" in graph.notes[0]
    small = build(model, found, {}, visible=tenants, budget=40)
    assert small.level == "groups" and len(small.nodes) <= 40
    one = build(model, found, {}, visible=tenants, focus=Focus(tenants[0]), budget=300)
    assert len(one.nodes) <= 300 and any(n.kind == "app" for n in one.nodes)


def _snapshot(
    name: str, hours_ago: float, *, ready: bool = True, error: str = "", volume: str = "orders-data", size: str = "20Gi"
) -> dict[str, Any]:
    taken = (NOW - timedelta(hours=hours_ago)).isoformat()
    status: dict[str, Any] = {"readyToUse": ready, "restoreSize": size if ready else None}
    if error:
        status["error"] = {"message": error}
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"dockyard.dev/volume": volume},
            "annotations": {"dockyard.dev/backup-time": taken},
        },
        "status": status,
    }


def test_the_backup_chain_says_why_each_snapshot_stays_and_what_the_next_prune_removes() -> None:
    model = example_model()
    volume = next(v for v in model.volumes_of("shop") if v.name == "orders-data")
    volume = replace(volume, backup=Backup("0 */6 * * *", Retention(last=2, daily=1)))
    objects = [
        _snapshot("orders-data-a", 0.5),
        _snapshot("orders-data-b", 6.5),
        _snapshot("orders-data-c", 12.5),
        _snapshot("orders-data-d", 1.0, ready=False, error="csi: quota exceeded"),
        _snapshot("orders-data-e", 0.2, ready=False),
        _snapshot("other-x", 1, volume="other"),
    ]
    chain = chain_of(model, volume, objects, {}, NOW)
    by_name = {s.name: s for s in chain.snapshots}
    assert set(by_name) == {"orders-data-a", "orders-data-b", "orders-data-c", "orders-data-d", "orders-data-e"}
    assert [s.name for s in chain.snapshots][:2] == ["orders-data-e", "orders-data-a"]  # newest first
    assert by_name["orders-data-a"].classes == ("last", "daily")
    assert by_name["orders-data-b"].classes == ("last",)
    assert by_name["orders-data-d"].state == "failed" and by_name["orders-data-d"].error == "csi: quota exceeded"
    assert by_name["orders-data-e"].state == "pending" and by_name["orders-data-e"].kept_by == ("not ready",)
    assert by_name["orders-data-a"].size == "20Gi" and by_name["orders-data-a"].restorable
    assert chain.prunable_now == ("orders-data-c",)
    assert chain.next_backup == NOW.replace(hour=12, minute=0)
    # after the 12:00 backup, the last two are it and a: b goes
    assert chain.next_prune == ("orders-data-b",)


def test_a_restore_source_is_protected_and_named() -> None:
    model = example_model()
    volume = next(v for v in model.volumes_of("shop") if v.name == "orders-data")
    volume = replace(volume, backup=Backup("0 */6 * * *", Retention(last=1)), restore_snapshot="orders-data-c")
    model = replace(
        model,
        volumes=tuple(
            volume if v is not None and v.name == "orders-data" and v.tenant == "shop" else v for v in model.volumes
        ),
    )
    objects = [_snapshot("orders-data-a", 0.5), _snapshot("orders-data-c", 30)]
    chain = chain_of(model, volume, objects, {}, NOW)
    kept = {s.name: s for s in chain.snapshots}
    assert kept["orders-data-c"].restore_source and "restore source" in kept["orders-data-c"].kept_by
    assert chain.prunable_now == () and chain.restoring_from == "orders-data-c"


def test_live_state_groups_tracks_by_app_and_sees_rollouts() -> None:
    deployments = [
        {
            "metadata": {"name": "web", "namespace": "shop", "generation": 2, "labels": {}},
            "spec": {"replicas": 3, "template": {"metadata": {"labels": {"dockyard.dev/app": "web"}}}},
            "status": {"observedGeneration": 2, "readyReplicas": 3, "updatedReplicas": 3, "replicas": 3},
        },
        {
            "metadata": {
                "name": "web-canary",
                "namespace": "shop",
                "generation": 1,
                "labels": {"dockyard.dev/track": "canary"},
            },
            "spec": {"replicas": 1, "template": {"metadata": {"labels": {"dockyard.dev/app": "web"}}}},
            "status": {"observedGeneration": 0, "readyReplicas": 0, "updatedReplicas": 0, "replicas": 1},
        },
    ]
    live = summarise({"Deployment": deployments}, "", 0.0)
    web = live.apps[("shop", "web")]
    assert (web.ready, web.desired, web.rolling) == (3, 4, True)
    assert web.canary is not None and web.canary.name == "web-canary"


def test_a_thousand_volumes_are_listed_one_line_each_and_flows_are_worked_out_once(thousand_apps: Path) -> None:
    model = load_or_raise(thousand_apps)
    tenants = [t.name for t in model.tenants]
    all_chains = chains(model, tenants, [], {}, NOW)
    assert len(all_chains) == len(model.volumes) > pages.MAX_CHAIN_CARDS
    html = pages.backups_page(all_chains, pages.Chrome(), NOW, tenants, None, tenants)
    assert f"{len(all_chains)} volumes" in html and "<svg" not in html and len(html) < 400_000
    one = [c for c in all_chains if c.tenant == tenants[0]]
    assert "<svg" in pages.backups_page(one, pages.Chrome(), NOW, tenants, tenants[0], tenants)
    cache = FlowCache()
    desired = tuple(render(model, "r"))
    first = cache.of(desired)
    assert cache.of(desired) is first and cache.of(tuple(desired)) is first  # the same tuple
    assert cache.of(desired[:10]) is not first
