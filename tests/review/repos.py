"""Real git repositories holding a platform repo, and the change the review tests make to it: a new
app with a domain, a cross-tenant flow to it, and a volume (deletionPolicy Delete) removed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"

RECOMMENDER = """apiVersion: dockyard.dev/v1alpha1
kind: App
metadata:
  name: recommender
spec:
  image: registry.example.com/analytics/recommender:1.0.0
  replicas: 2
  ports:
    - name: http
      port: 8080
  domains:
    - recommender.analytics.example.com
  resources:
    cpu: 500m
    memory: 1Gi
"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Rita Reviewer", "-c", "user.email=rita@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def example_repo(root: Path, *, subdir: str = "") -> Path:
    """A git work tree with the example platform repo committed on main; returns the platform dir."""
    root.mkdir(parents=True, exist_ok=True)
    platform = root / subdir if subdir else root
    shutil.copytree(EXAMPLE, platform, dirs_exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the example platform")
    return platform


def make_change(platform: Path) -> None:
    """Adds analytics/recommender (with a domain), lets shop/web reach it on 8080 (both tenants
    declare their half), and drops
    monitoring's prometheus-data volume."""
    (platform / "tenants/analytics/recommender.yaml").write_text(RECOMMENDER)
    policy = platform / "tenants/analytics/policy.yaml"
    text = policy.read_text()
    rule = "        ports: [80]\n"
    assert rule in text
    new_rule = (
        "    - allow:\n        from: {tenant: shop, app: web}\n        to: {app: recommender}\n        ports: [8080]\n"
    )
    policy.write_text(text.replace(rule, rule + new_rule, 1))
    # The shop's half: traffic between tenants flows only when both declare it.
    shop = platform / "tenants/shop/policy.yaml"
    egress = (
        "    - allow:\n        from: {app: api}\n        to: {tenant: payments, app: payments-api}\n"
        "        ports: [8080]\n"
    )
    assert egress in shop.read_text()
    shop_rule = (
        "    - allow:\n        from: {app: web}\n        to: {tenant: analytics, app: recommender}\n"
        "        ports: [8080]\n"
    )
    shop.write_text(shop.read_text().replace(egress, egress + shop_rule, 1))
    prometheus = platform / "tenants/monitoring/prometheus.yaml"
    mount = "  volumes:\n    - volume: prometheus-data\n      mountPath: /prometheus\n"
    assert mount in prometheus.read_text()
    prometheus.write_text(prometheus.read_text().replace(mount, ""))
    (platform / "tenants/monitoring/volumes.yaml").unlink()


def commit_change(root: Path, platform: Path, branch: str = "feature", message: str = "recommender") -> str:
    git(root, "checkout", "-q", "-b", branch)
    make_change(platform)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")
