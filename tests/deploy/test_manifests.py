"""deploy/: the manifests are valid, and the RBAC they grant is enough for Dockyard to do its job."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from daemon.cli import main
from daemon.edges.kube import KubeClient
from daemon.state.history import HistoryStore
from daemon.state.lease import LeaderElector
from tests.platforms import PlatformRepo

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for name in yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"]:
        docs.extend(d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d)
    return docs


def test_every_manifest_is_valid_kubernetes() -> None:
    docs = manifests()
    assert {d["kind"] for d in docs} >= {"Namespace", "ServiceAccount", "ClusterRole", "StatefulSet", "Service"}
    for doc in docs:
        kubernetes_validate.validate(doc, "1.34", strict=True)


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args], input=stdin, check=True, capture_output=True, text=True
    ).stdout


def token_kubeconfig(admin: Path, token: str, path: Path) -> Path:
    config = yaml.safe_load(admin.read_text())
    cluster = config["clusters"][0]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "dockyard", "user": {"token": token}}],
                "contexts": [{"name": "dockyard", "context": {"cluster": cluster["name"], "user": "dockyard"}}],
                "current-context": "dockyard",
            }
        )
    )
    return path


def test_the_service_account_can_apply_prune_lead_and_record(kubeconfig: Path, tmp_path: Path) -> None:
    docs = [d for d in manifests() if d["kind"] != "StatefulSet"]  # no image to run here
    kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(docs))
    token = kubectl(kubeconfig, "create", "token", "dockyard", "-n", "dockyard-system").strip()
    as_dockyard = token_kubeconfig(kubeconfig, token, tmp_path / "dockyard.kubeconfig")

    repo = PlatformRepo(tmp_path / "platform", "rbac-check")
    repo.tenant_doc["spec"]["members"] = [{"kind": "User", "name": "alice@example.com", "role": "admin"}]
    repo.write()
    args = ["--repo", str(repo.root), "--kubeconfig", str(as_dockyard), "--namespace", "dockyard-system"]
    assert main(["apply", *args, "--timeout", "60"]) == 0
    del repo.apps["app2"]
    repo.write()
    assert main(["apply", *args, "--timeout", "60"]) == 0  # prunes app2's objects

    kube = KubeClient(str(as_dockyard))
    elector = LeaderElector(
        kube, namespace="dockyard-system", name="rbac-check", identity="a", lease_seconds=5, renew_every=1
    )
    assert elector.try_acquire_or_renew()
    elector.stop(release=True)
    store = HistoryStore(kube, namespace="dockyard-system", name="rbac-check-history")
    assert store.list() == []


SERVICE_ACCOUNT = "system:serviceaccount:dockyard-system:dockyard"


def allowed(kubeconfig: Path, verb: str, group: str, resource: str, name: str = "") -> bool:
    """The API server's own answer (a SubjectAccessReview), whether or not the group is served."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": SERVICE_ACCOUNT,
            "groups": ["system:serviceaccounts", "system:serviceaccounts:dockyard-system", "system:authenticated"],
            "resourceAttributes": {"verb": verb, "group": group, "resource": resource, "name": name},
        },
    }
    out = kubectl(kubeconfig, "create", "-o", "json", "-f", "-", stdin=yaml.safe_dump(review))
    return bool(yaml.safe_load(out)["status"].get("allowed"))


@pytest.mark.parametrize(
    ("verb", "group", "resource", "name"),
    [
        ("patch", "snapshot.storage.k8s.io", "volumesnapshotcontents", ""),  # pruning backups
        ("create", "snapshot.storage.k8s.io", "volumesnapshots", ""),  # taking backups
        ("list", "", "pods", ""),  # alert rules
        ("list", "metrics.k8s.io", "pods", ""),  # cpu/memory alert rules
        ("update", "coordination.k8s.io", "leases", ""),  # leader election
        ("bind", "rbac.authorization.k8s.io", "clusterroles", "admin"),  # tenant members
        ("create", "batch", "cronjobs", ""),  # scheduled Jobs
        ("patch", "batch", "jobs", ""),  # one-off Jobs, and failed runs marked as announced
        ("patch", "", "secrets", ""),  # tenants' Secrets kept encrypted in Git
    ],
)
def test_the_service_account_may_do_what_the_daemon_does(
    kubeconfig: Path, verb: str, group: str, resource: str, name: str
) -> None:
    docs = [d for d in manifests() if d["kind"] != "StatefulSet"]
    kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(docs))
    assert allowed(kubeconfig, verb, group, resource, name)
    assert not allowed(kubeconfig, "create", "rbac.authorization.k8s.io", "clusterrolebindings")


def test_the_service_account_cannot_reach_beyond_what_it_manages(kubeconfig: Path, tmp_path: Path) -> None:
    docs = [d for d in manifests() if d["kind"] != "StatefulSet"]
    kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(docs))
    for verb, resource, scope in (
        ("create", "clusterrolebindings", ""),
        ("impersonate", "users", ""),
        ("delete", "nodes", ""),
    ):
        args = ["kubectl", f"--kubeconfig={kubeconfig}", "auth", "can-i", verb, resource]
        args += ["--as=system:serviceaccount:dockyard-system:dockyard", *([scope] if scope else [])]
        answer = subprocess.run(args, capture_output=True, text=True, check=False)
        assert (answer.returncode, answer.stdout.strip()) == (1, "no"), (verb, resource)
