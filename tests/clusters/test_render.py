"""Render per cluster: only what is placed there, with that cluster's overrides; the CLI's --cluster."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.errors import ConfigError
from daemon.loader import load_or_raise
from daemon.model.labels import TENANT_LABEL
from daemon.render import render

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"

US = """\
    - name: us-east
      region: us-east-1
      labels: {env: prod, zone: us}
      overrides:
        apps:
          - {tenant: shop, app: api, replicas: 7, domains: [api.shop.us.example.com]}
        volumes:
          - {tenant: shop, volume: orders-data, storageClass: cephfs}
"""


def tenants(objects: list[dict[str, Any]]) -> set[str]:
    return {o["metadata"].get("labels", {}).get(TENANT_LABEL, "") for o in objects} - {""}


def two_regions(tmp_path: Path) -> Path:
    """The example with a second cluster: the shop on both, monitoring on us-east only."""
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    platform = repo / "platform.yaml"
    platform.write_text(platform.read_text().replace("  storageClasses:\n", US + "  storageClasses:\n", 1))
    for name, placement in (("shop", "{clusters: [eu-central, us-east]}"), ("monitoring", "{clusters: [us-east]}")):
        path = repo / "tenants" / name / "tenant.yaml"
        path.write_text(path.read_text() + f"  placement: {placement}\n")
    return repo


def by(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def test_the_example_renders_on_its_one_cluster_what_it_renders_without_clusters() -> None:
    model = load_or_raise(EXAMPLE)
    assert [c.name for c in model.platform.clusters] == ["eu-central"]
    assert render(model, "rev", cluster="eu-central") == render(model, "rev")


def test_each_cluster_gets_its_tenants_and_its_overrides(tmp_path: Path) -> None:
    model = load_or_raise(two_regions(tmp_path))
    everything = render(model, "rev")
    eu = render(model, "rev", cluster="eu-central")
    us = render(model, "rev", cluster="us-east")
    assert tenants(everything) == {"shop", "analytics", "payments", "monitoring"}
    assert tenants(eu) == {"shop", "analytics", "payments"}
    assert tenants(us) == {"shop", "monitoring"}
    # Storage classes are the platform's, on every cluster.
    assert {o["metadata"]["name"] for o in us if o["kind"] == "StorageClass"} == {"ceph-rbd", "cephfs"}
    assert by(eu, "Deployment", "api")["spec"]["replicas"] == by(everything, "Deployment", "api")["spec"]["replicas"]
    assert by(us, "Deployment", "api")["spec"]["replicas"] == 7
    assert [r["host"] for r in by(us, "Ingress", "api")["spec"]["rules"]] == ["api.shop.us.example.com"]
    assert by(eu, "Ingress", "api")["spec"]["rules"][0]["host"] != "api.shop.us.example.com"
    assert by(us, "PersistentVolumeClaim", "orders-data")["spec"]["storageClassName"] == "cephfs"
    assert by(eu, "PersistentVolumeClaim", "orders-data")["spec"]["storageClassName"] == "ceph-rbd"


def test_an_unknown_cluster_is_a_config_error(tmp_path: Path) -> None:
    message = "cluster 'mars' is not in platform.yaml spec.clusters; clusters: eu-central"
    with pytest.raises(ConfigError, match=re.escape(message)):
        render(load_or_raise(EXAMPLE), cluster="mars")


def dockyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_render_cli_takes_a_cluster_and_defaults_to_the_default_one(tmp_path: Path) -> None:
    repo = two_regions(tmp_path)
    us = dockyard("render", "--repo", str(repo), "--cluster", "us-east")
    assert us.returncode == 0, us.stderr
    assert tenants(list(yaml.safe_load_all(us.stdout))) == {"shop", "monitoring"}
    default = dockyard("render", "--repo", str(repo))
    assert default.returncode == 0, default.stderr
    assert tenants(list(yaml.safe_load_all(default.stdout))) == {"shop", "analytics", "payments"}
    wrong = dockyard("render", "--repo", str(repo), "--cluster", "mars")
    assert wrong.returncode != 0
    assert "--cluster mars: no such cluster in platform.yaml (clusters: eu-central, us-east)" in wrong.stderr
