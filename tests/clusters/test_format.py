"""Clusters in the format: the model the loader builds, and every check with its file and line."""

from __future__ import annotations

from pathlib import Path

from daemon.model.clusters import (
    AppOverride,
    Cluster,
    Placement,
    VolumeOverride,
    placed_on,
    remote_clusters,
    windows_on,
)
from tests.loader.helpers import BASE, errors, line_of, load, text

CLUSTERS = """
  clusters:
    - name: eu
      region: eu-central-1
      labels: {zone: eu, env: prod}
      default: true
      connection: {context: kind-eu}
    - name: us
      region: us-east-1
      labels: {zone: us, env: prod}
      connection: {kubeconfig: us.kubeconfig}
"""


def platform(clusters: str = CLUSTERS) -> str:
    return text(BASE["platform.yaml"]) + "  " + text(clusters).replace("\n", "\n  ").rstrip() + "\n"


def tenant(placement: str) -> str:
    return text(BASE["tenants/shop/tenant.yaml"]) + "  " + placement + "\n"


def test_clusters_and_placements_build_the_model(tmp_path: Path) -> None:
    clusters = (
        CLUSTERS
        + """
      overrides:
        apps: [{tenant: shop, app: api, replicas: 5, domains: [shop.us.example.com]}]
        volumes: [{tenant: shop, volume: data, storageClass: cephfs}]
"""
    )
    result = load(
        tmp_path,
        {"platform.yaml": platform(clusters), "tenants/shop/tenant.yaml": tenant("placement: {clusters: [eu, us]}")},
    )
    assert errors(result) == []
    assert result.model is not None
    eu, us = result.model.platform.clusters
    assert (eu.name, eu.region, dict(eu.labels), eu.default, eu.context, eu.kubeconfig) == (
        "eu",
        "eu-central-1",
        {"zone": "eu", "env": "prod"},
        True,
        "kind-eu",
        None,
    )
    assert (us.kubeconfig, us.context, us.default) == ("us.kubeconfig", None, False)
    assert us.apps == (AppOverride("shop", "api", 5, ("shop.us.example.com",)),)
    assert us.volumes == (VolumeOverride("shop", "data", "cephfs"),)
    shop, other = (result.model.tenant("shop"), result.model.tenant("other"))
    assert shop is not None and other is not None
    assert shop.placement == Placement(clusters=("eu", "us"))
    assert other.placement is None
    assert placed_on(result.model.platform.clusters, "shop", shop.placement) == ("eu", "us")
    assert placed_on(result.model.platform.clusters, "other", other.placement) == ("eu",)  # the default


def test_a_selector_places_by_labels_and_without_a_default_the_first_cluster_is(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        {
            "platform.yaml": platform(CLUSTERS.replace("      default: true\n", "")),
            "tenants/shop/tenant.yaml": tenant("placement: {clusterSelector: {matchLabels: {env: prod}}}"),
        },
    )
    assert errors(result) == [] and result.model is not None
    clusters = result.model.platform.clusters
    assert placed_on(clusters, "shop", Placement(match_labels={"env": "prod"})) == ("eu", "us")
    assert placed_on(clusters, "shop", Placement(match_labels={"zone": "us"})) == ("us",)
    assert placed_on(clusters, "shop", None) == ("eu",)


def test_an_unknown_cluster_is_named_with_a_guess(tmp_path: Path) -> None:
    shop = tenant("placement: {clusters: [eu, uss]}")
    result = load(tmp_path, {"platform.yaml": platform(), "tenants/shop/tenant.yaml": shop})
    assert errors(result) == [("tenants/shop/tenant.yaml", line_of(shop, "placement"), "cluster 'uss' does not exist")]
    assert result.errors[0].hint == "did you mean 'us'?"


def test_a_selector_that_matches_no_cluster_is_an_empty_placement(tmp_path: Path) -> None:
    shop = tenant("placement: {clusterSelector: {matchLabels: {zone: ap}}}")
    result = load(tmp_path, {"platform.yaml": platform(), "tenants/shop/tenant.yaml": shop})
    assert errors(result) == [
        (
            "tenants/shop/tenant.yaml",
            line_of(shop, "placement"),
            "no cluster has the labels zone=ap: the tenant would run nowhere",
        )
    ]
    assert result.errors[0].hint == "labels of spec.clusters: eu: env=prod, zone=eu; us: env=prod, zone=us"


def test_an_empty_cluster_list_is_refused_by_the_schema(tmp_path: Path) -> None:
    shop = tenant("placement: {clusters: []}")
    result = load(tmp_path, {"platform.yaml": platform(), "tenants/shop/tenant.yaml": shop})
    assert [(f, line) for f, line, _ in errors(result)] == [("tenants/shop/tenant.yaml", line_of(shop, "placement"))]


def test_a_placement_without_clusters_in_the_platform(tmp_path: Path) -> None:
    shop = tenant("placement: {clusters: [eu]}")
    result = load(tmp_path, {"tenants/shop/tenant.yaml": shop})
    assert errors(result) == [
        ("tenants/shop/tenant.yaml", line_of(shop, "placement"), "platform.yaml names no clusters (spec.clusters)")
    ]


def test_duplicate_clusters_two_defaults_and_one_cluster_twice(tmp_path: Path) -> None:
    clusters = (
        CLUSTERS
        + """
    - name: eu
      default: true
      connection: {context: kind-eu}
"""
    )
    text_ = platform(clusters)
    result = load(tmp_path, {"platform.yaml": text_})
    assert errors(result) == [
        ("platform.yaml", line_of(text_, "- name: eu", 2), "cluster 'eu' is already named (spec.clusters[0])"),
        ("platform.yaml", line_of(text_, "default: true", 3), "spec.clusters[0] is already the default cluster"),
        (
            "platform.yaml",
            line_of(text_, "connection: {context: kind-eu}", 2),
            "cluster 'eu' is reached like spec.clusters[0]",
        ),
    ]


def test_overrides_of_what_does_not_exist_or_does_not_run_there(tmp_path: Path) -> None:
    clusters = (
        CLUSTERS
        + """
      overrides:
        apps:
          - {tenant: shop, app: webb, replicas: 2}
          - {tenant: other, app: front, replicas: 2}
          - {tenant: nobody, app: web, replicas: 2}
          - {tenant: shop, app: web, replicas: 3}
        volumes:
          - {tenant: shop, volume: data, storageClass: fast}
"""
    )
    text_ = platform(clusters)
    shop = tenant("placement: {clusters: [eu, us]}")  # other runs on the default (eu) only
    result = load(tmp_path, {"platform.yaml": text_, "tenants/shop/tenant.yaml": shop})
    assert errors(result) == [
        ("platform.yaml", line_of(text_, "app: webb"), "App 'webb' does not exist in tenant 'shop'"),
        ("platform.yaml", line_of(text_, "tenant: other"), "tenant 'other' does not run on cluster 'us'"),
        ("platform.yaml", line_of(text_, "tenant: nobody"), "Tenant 'nobody' does not exist"),
        (
            "platform.yaml",
            line_of(text_, "app: web, replicas: 3"),
            "the replicas of App 'web' are its Autoscaling's (tenants/shop/autoscaling.yaml)",
        ),
        ("platform.yaml", line_of(text_, "storageClass: fast"), "storage class 'fast' is not in spec.storageClasses"),
    ]


def test_an_override_that_changes_nothing_and_a_token_are_refused_by_the_schema(tmp_path: Path) -> None:
    clusters = (
        CLUSTERS
        + """
      overrides:
        apps: [{tenant: shop, app: web}]
"""
    )
    text_ = platform(clusters)
    result = load(tmp_path, {"platform.yaml": text_})
    assert [(f, line) for f, line, _ in errors(result)] == [("platform.yaml", line_of(text_, "app: web"))]
    token = platform(CLUSTERS.replace("{context: kind-eu}", "{context: kind-eu, token: abc}"))
    result = load(tmp_path / "token", {"platform.yaml": token})
    assert [(f, line) for f, line, _ in errors(result)] == [("platform.yaml", line_of(token, "token: abc"))]
    assert "abc" not in result.errors[0].format()


GUARDED = CLUSTERS.replace(
    "      connection: {kubeconfig: us.kubeconfig}\n",
    "      connection: {kubeconfig: us.kubeconfig}\n      tenants: [other]\n",
)


def test_a_tenant_cannot_place_itself_on_a_cluster_that_does_not_take_it(tmp_path: Path) -> None:
    text_ = platform(GUARDED)
    shop = tenant("placement: {clusters: [eu, us]}")
    result = load(tmp_path, {"platform.yaml": text_, "tenants/shop/tenant.yaml": shop})
    assert errors(result) == [
        ("tenants/shop/tenant.yaml", line_of(shop, "placement"), "cluster 'us' does not take tenant 'shop'")
    ]
    assert result.errors[0].hint == "spec.clusters[1].tenants of platform.yaml takes: other"
    # A selector picks among the clusters that take the tenant; none left is an error.
    by_labels = tenant("placement: {clusterSelector: {matchLabels: {env: prod}}}")
    assert errors(load(tmp_path / "2", {"platform.yaml": text_, "tenants/shop/tenant.yaml": by_labels})) == []
    us_only = tenant("placement: {clusterSelector: {matchLabels: {zone: us}}}")
    assert errors(load(tmp_path / "3", {"platform.yaml": text_, "tenants/shop/tenant.yaml": us_only})) == [
        (
            "tenants/shop/tenant.yaml",
            line_of(us_only, "placement"),
            "no cluster with these labels takes tenant 'shop': the tenant would run nowhere",
        )
    ]


def test_a_default_cluster_that_does_not_take_a_tenant_without_placement(tmp_path: Path) -> None:
    text_ = platform(CLUSTERS.replace("      default: true\n", "      default: true\n      tenants: [shop]\n"))
    result = load(tmp_path, {"platform.yaml": text_})
    other = text(BASE["tenants/other/tenant.yaml"])
    assert errors(result) == [
        (
            "tenants/other/tenant.yaml",
            line_of(other, "name: other"),
            "tenant 'other' has no placement and the default cluster 'eu' does not take it",
        )
    ]


def test_render_never_follows_a_placement_the_cluster_does_not_take() -> None:
    clusters = (Cluster("eu", default=True, tenants=("other",)), Cluster("us", tenants=("shop", "pay-*")))
    assert placed_on(clusters, "shop", Placement(clusters=("eu", "us"))) == ("us",)
    assert placed_on(clusters, "shop", None) == ()
    assert placed_on(clusters, "pay-eu", Placement(clusters=("us",))) == ("us",)


def test_a_connection_through_a_secret_and_the_clusters_a_daemon_drives_from_afar(tmp_path: Path) -> None:
    clusters = CLUSTERS + "    - name: ap\n      connection: {secret: cluster-ap, context: ap}\n    - name: lab\n"
    result = load(tmp_path, {"platform.yaml": platform(clusters)})
    assert errors(result) == []
    assert result.model is not None
    eu, us, ap, lab = result.model.platform.clusters
    assert (ap.secret, ap.context, ap.kubeconfig, ap.connected) == ("cluster-ap", "ap", None, True)
    assert (lab.connected, us.connected, eu.connected) == (False, True, True)
    everyone = result.model.platform.clusters
    # A daemon on the default cluster (eu) drives the others that have a connection, not lab.
    assert [c.name for c in remote_clusters(everyone, None)] == ["us", "ap"]
    # On us: eu and ap; a --target given on the command line is driven anyway, not joined again.
    assert [c.name for c in remote_clusters(everyone, "us", pinned=("ap",))] == ["eu"]


def test_a_connection_with_both_a_file_and_a_secret_is_refused_at_its_line(tmp_path: Path) -> None:
    text_ = platform(CLUSTERS.replace("{kubeconfig: us.kubeconfig}", "{kubeconfig: us.kubeconfig, secret: us}"))
    result = load(tmp_path, {"platform.yaml": text_})
    assert errors(result) == [
        (
            "platform.yaml",
            line_of(text_, "secret: us"),
            "cluster 'us' names both a kubeconfig file and a Secret",
        )
    ]
    bad = platform(CLUSTERS.replace("{kubeconfig: us.kubeconfig}", "{secret: ../../etc/passwd}"))
    result = load(tmp_path / "bad", {"platform.yaml": bad})
    assert [(f, line) for f, line, _ in errors(result)] == [("platform.yaml", line_of(bad, "secret: ../../etc"))]


def test_a_cluster_s_own_windows_load_on_top_of_the_platform_s_and_are_checked_alike(tmp_path: Path) -> None:
    windows = (
        CLUSTERS
        + """
      windows:
        - {schedule: "0 9 * * 1-5", duration: 8h, action: deny, tenants: [shop]}
"""
    )
    result = load(tmp_path, {"platform.yaml": platform(windows)})
    assert errors(result) == [] and result.model is not None
    eu, us = result.model.platform.clusters
    assert eu.windows == () and [(w.schedule, w.action, w.tenants) for w in us.windows] == [
        ("0 9 * * mon-fri", "deny", ("shop",))
    ]
    assert windows_on(result.model.platform.sync.windows, result.model.platform.clusters, "us") == (
        *result.model.platform.sync.windows,
        *us.windows,
    )
    assert windows_on(result.model.platform.sync.windows, result.model.platform.clusters, None) == (
        result.model.platform.sync.windows
    )
    bad = windows.replace("duration: 8h", "duration: 0s").replace("tenants: [shop]", "tenants: [shopp]")
    text_ = platform(bad)
    result = load(tmp_path / "bad", {"platform.yaml": text_})
    line = line_of(text_, 'schedule: "0 9 * * 1-5"')
    assert sorted(errors(result)) == [
        ("platform.yaml", line, "a sync window must last longer than 0s"),
        ("platform.yaml", line, "tenant 'shopp' does not exist"),
    ]
