"""deploy/: the manifests are valid, and the RBAC they grant is enough for Dockyard to do its job."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from daemon.cli import main
from daemon.edges.kube import KubeClient
from daemon.state.history import HistoryStore
from daemon.state.inbox import Inbox, InboxRequest
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
    # The log agent: a DaemonSet, and a ClusterRole with its binding the daemon may write by name only.
    repo.platform["spec"]["logging"] = {"output": {"forward": {"host": "aggregator.example.com"}}}
    repo.write()
    args = ["--repo", str(repo.root), "--kubeconfig", str(as_dockyard), "--namespace", "dockyard-system"]
    try:
        assert main(["apply", *args, "--timeout", "60"]) == 0
        del repo.apps["app2"]
        del repo.platform["spec"]["logging"]
        repo.write()
        assert main(["apply", *args, "--timeout", "60"]) == 0  # prunes app2's objects and the agent
        rbac = "rbac.authorization.k8s.io"
        assert "dockyard-log-agent" not in kubectl(kubeconfig, "get", f"clusterroles.{rbac}", "-o", "name")
    finally:
        kubectl(kubeconfig, "delete", "namespace", "dockyard-logging", "--ignore-not-found", "--wait=false")

    kube = KubeClient(str(as_dockyard))
    elector = LeaderElector(
        kube, namespace="dockyard-system", name="rbac-check", identity="a", lease_seconds=5, renew_every=1
    )
    assert elector.try_acquire_or_renew()
    elector.stop(release=True)
    store = HistoryStore(kube, namespace="dockyard-system", name="rbac-check-history")
    assert store.list() == []


SERVICE_ACCOUNT = "system:serviceaccount:dockyard-system:dockyard"


def allowed(kubeconfig: Path, verb: str, group: str, resource: str, name: str = "", namespace: str = "") -> bool:
    """The API server's own answer (a SubjectAccessReview), whether or not the group is served."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": SERVICE_ACCOUNT,
            "groups": ["system:serviceaccounts", "system:serviceaccounts:dockyard-system", "system:authenticated"],
            "resourceAttributes": {
                "verb": verb,
                "group": group,
                "resource": resource,
                "name": name,
                "namespace": namespace,
            },
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
        ("list", "", "nodes", ""),  # cluster health
        ("create", "apps", "daemonsets", ""),  # the log agent
        ("patch", "rbac.authorization.k8s.io", "clusterroles", "dockyard-log-agent"),  # its read access
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
    assert not allowed(kubeconfig, "patch", "rbac.authorization.k8s.io", "clusterroles", "cluster-admin")
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


def test_the_service_account_may_read_the_api_servers_readiness_checks(kubeconfig: Path) -> None:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": SERVICE_ACCOUNT,
            "groups": ["system:serviceaccounts", "system:serviceaccounts:dockyard-system", "system:authenticated"],
            "nonResourceAttributes": {"verb": "get", "path": "/readyz"},
        },
    }
    out = kubectl(kubeconfig, "create", "-o", "json", "-f", "-", stdin=yaml.safe_dump(review))
    assert yaml.safe_load(out)["status"].get("allowed")


def test_the_service_account_reaches_its_inbox(kubeconfig: Path, tmp_path: Path) -> None:
    docs = [d for d in manifests() if d["kind"] != "StatefulSet"]
    kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(docs))
    token = kubectl(kubeconfig, "create", "token", "dockyard", "-n", "dockyard-system").strip()
    kube = KubeClient(str(token_kubeconfig(kubeconfig, token, tmp_path / "dockyard.kubeconfig")))
    inbox = Inbox(kube, namespace="dockyard-system")
    inbox.put(InboxRequest("sync", {"provider": "github"}, received_by="dockyard-1"))
    assert [r.kind for r in inbox.take()] == ["sync"]
    assert allowed(kubeconfig, "update", "", "secrets", "dockyard-inbox", "dockyard-system")


def test_deploy_applies_whole_and_two_replicas_with_its_identity_elect_one_leader(
    kubeconfig: Path, tmp_path: Path
) -> None:
    """The StatefulSet's pods cannot run the image here (no container runtime, kwok nodes), so two
    daemons run in this process with the ServiceAccount's token and the pods' names as identities."""
    docs = manifests()
    assert {d["kind"] for d in docs} >= {"StatefulSet", "PodDisruptionBudget", "NetworkPolicy", "Service"}
    kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(docs))
    statefulset = next(d for d in docs if d["kind"] == "StatefulSet")
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert services[statefulset["spec"]["serviceName"]]["spec"]["clusterIP"] == "None", "a headless Service"
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"] != container["readinessProbe"]
    token = kubectl(kubeconfig, "create", "token", "dockyard", "-n", "dockyard-system").strip()
    as_dockyard = token_kubeconfig(kubeconfig, token, tmp_path / "dockyard.kubeconfig")
    clients = [KubeClient(str(as_dockyard)) for _ in range(2)]
    electors = [
        LeaderElector(
            c,
            namespace="dockyard-system",
            name="deploy-check",
            identity=f"dockyard-{n}",
            lease_seconds=3,
            renew_every=0.5,
        )
        for n, c in enumerate(clients)
    ]
    try:
        for elector in electors:
            elector.run_in_background(lambda: None, lambda: None)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sum(e.is_leader for e in electors) != 1:
            time.sleep(0.2)
        assert sum(e.is_leader for e in electors) == 1, "exactly one leader"
        leader = next(e for e in electors if e.is_leader)
        other = next(e for e in electors if not e.is_leader)
        leader.stop(release=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not other.is_leader:
            time.sleep(0.2)
        assert other.is_leader, "the other replica takes over"
    finally:
        for elector in electors:
            elector.stop(release=True)
        for client in clients:
            client.close()


def test_the_pod_passes_the_restricted_pod_security_level(kubeconfig: Path) -> None:
    docs = manifests()
    statefulset = next(d for d in docs if d["kind"] == "StatefulSet")
    spec = dict(statefulset["spec"]["template"]["spec"])
    # The StatefulSet makes the `state` volume from its claim template; a bare Pod needs it spelled out.
    spec["volumes"] = [*spec.get("volumes", []), {"name": "state", "emptyDir": {}}]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "dockyard-psa-check", "namespace": "dockyard-system"},
        "spec": spec,
    }
    kubectl(
        kubeconfig,
        "apply",
        "--server-side",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(d for d in docs if d["kind"] == "Namespace"),
    )
    # The namespace enforces restricted: the API server's own Pod Security admission is the judge.
    answer = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", "create", "--dry-run=server", "-o", "name", "-f", "-"],
        input=yaml.safe_dump(pod),
        capture_output=True,
        text=True,
        check=False,
    )
    assert (answer.returncode, answer.stdout.strip()) == (0, "pod/dockyard-psa-check"), answer.stderr
