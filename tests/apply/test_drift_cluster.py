"""Imperative edits are drift; controllers' fields are not (issue 15), on the real local cluster.

Each hand edit (kubectl set env / set image / edit / patch / label / annotate / scale) shows in
the plan with the fields it changed and who changed them, and one apply, without
--force-conflicts, takes them back. What controllers own stays untouched: an HPA's replica count
(also after a `kubectl scale` of its Deployment), and a sidecar that a real mutating admission
webhook (an HTTPS server in this process) injects. Provenance does not churn either: comments,
blank lines, reordered documents and moved files give an empty plan.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.edges.kube import KubeClient
from daemon.engine.apply import ResourceManager
from daemon.loader import load_or_raise
from daemon.policy.plan import Plan
from daemon.render import render
from daemon.state.inventory import InventoryStore
from devcluster.certs import Identity, issue, make_ca
from tests.fixtures_cluster import wait_for
from tests.platforms import PlatformRepo


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    client = KubeClient(str(kubeconfig))
    yield client
    client.close()


@pytest.fixture
def repo(tmp_path: Path) -> PlatformRepo:
    platform = PlatformRepo(tmp_path / "platform", f"dr-{secrets.token_hex(3)}")
    platform.write()
    return platform


def manager_for(kube: KubeClient, repo: PlatformRepo) -> ResourceManager:
    return ResourceManager(kube, inventory=InventoryStore(kube, namespace="dockyard-tests", name=f"inv-{repo.tenant}"))


def plan_of(manager: ResourceManager, root: Path) -> Plan:
    model = load_or_raise(root)
    return manager.plan(
        render(model, "r1"),
        max_fraction=model.platform.prune.max_fraction,
        imperative_managers=model.platform.sync.imperative_managers,
    )


def kubectl(kubeconfig: Path, *args: str) -> str:
    return subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args], check=True, capture_output=True, text=True
    ).stdout


def jsonpath(kubeconfig: Path, namespace: str, what: str, path: str) -> str:
    return kubectl(kubeconfig, "-n", namespace, "get", what, "-o", f"jsonpath={path}")


def updates(plan: Plan) -> dict[str, tuple[list[str], str]]:
    return {str(c.ref): ([f.describe() for f in c.fields], c.reason) for c in plan.changeset.of("update")}


def applied(manager: ResourceManager, plan: Plan) -> None:
    result = manager.apply(plan, revision="r1", wait=False)
    assert result.failed == [], result.failed


ENV = "{.spec.template.spec.containers[0].env}"


# (name, kubectl arguments after `-n <tenant>`, the object, the plan's field lines, the manager,
#  the jsonpath that shows the edit, and its value once taken back)
HAND_EDITS: list[tuple[str, list[str], str, list[str], str, str, str]] = [
    (
        "set env",
        ["set", "env", "deploy/app1", "DRIFT=1"],
        "Deployment.apps/{t}/app1",
        ['spec.template.spec.containers[name=app1].env: - [{"name": "DRIFT", "value": "1"}]'],
        "kubectl-set",
        ENV,
        "",
    ),
    (
        "set image",
        ["set", "image", "deploy/app1", "app1=evil:latest"],
        "Deployment.apps/{t}/app1",
        ["spec.template.spec.containers[name=app1].image: evil:latest → busybox:1.36"],
        "kubectl-set",
        "{.spec.template.spec.containers[0].image}",
        "busybox:1.36",
    ),
    (
        "edit",
        # What `kubectl edit` sends, under its field manager (no editor in a test).
        ["patch", "deploy/app1", "--field-manager=kubectl-edit", "-p", '{"spec":{"minReadySeconds":30}}'],
        "Deployment.apps/{t}/app1",
        ["spec.minReadySeconds: - 30"],
        "kubectl-edit",
        "{.spec.minReadySeconds}",
        "",
    ),
    (
        "patch",
        ["patch", "svc/app1", "--type=merge", "-p", '{"spec":{"sessionAffinity":"ClientIP"}}'],
        "Service/{t}/app1",
        # The server defaults the config that comes with ClientIP for kubectl-patch: it goes too.
        ["spec.sessionAffinity: - ClientIP", 'spec.sessionAffinityConfig: - {"clientIP": {"timeoutSeconds": 10800}}'],
        "kubectl-patch",
        "{.spec.sessionAffinity}",
        "None",
    ),
    (
        "label",
        ["label", "svc/app1", "team=someone-else"],
        "Service/{t}/app1",
        ["metadata.labels.team: - someone-else"],
        "kubectl-label",
        "{.metadata.labels.team}",
        "",
    ),
    (
        "annotate",
        ["annotate", "deploy/app2", "note=hotfix"],
        "Deployment.apps/{t}/app2",
        ["metadata.annotations.note: - hotfix"],
        "kubectl-annotate",
        "{.metadata.annotations.note}",
        "",
    ),
    (
        "scale",
        ["scale", "deploy/app1", "--replicas=4"],
        "Deployment.apps/{t}/app1",
        ["spec.replicas: 4 → 2"],
        "kubectl",
        "{.spec.replicas}",
        "2",
    ),
]


@pytest.mark.parametrize(
    ("command", "target", "fields", "manager", "path", "restored"),
    [edit[1:] for edit in HAND_EDITS],
    ids=[edit[0] for edit in HAND_EDITS],
)
def test_a_hand_edit_is_drift_and_one_apply_takes_it_back(
    kube: KubeClient,
    repo: PlatformRepo,
    kubeconfig: Path,
    command: list[str],
    target: str,
    fields: list[str],
    manager: str,
    path: str,
    restored: str,
) -> None:
    manager_ = manager_for(kube, repo)
    applied(manager_, plan_of(manager_, repo.root))
    kubectl(kubeconfig, "-n", repo.tenant, *command)
    what = target.format(t=repo.tenant)
    plan = plan_of(manager_, repo.root)
    assert updates(plan) == {what: (fields, f"changed by hand ({manager}): the apply takes these fields back")}
    applied(manager_, plan)  # no --force-conflicts: the hand edit is not a conflict to resolve
    kind, _, name = what.partition("/")[2].partition("/")
    resource = ("deploy/" if what.startswith("Deployment") else "svc/") + name
    assert jsonpath(kubeconfig, repo.tenant, resource, path) == restored
    assert not plan_of(manager_, repo.root).changeset.has_changes
    assert kind == repo.tenant


def test_a_client_side_apply_by_hand_is_taken_back_with_its_annotation(
    kube: KubeClient, repo: PlatformRepo, kubeconfig: Path, tmp_path: Path
) -> None:
    manager = manager_for(kube, repo)
    applied(manager, plan_of(manager, repo.root))
    live = json.loads(kubectl(kubeconfig, "-n", repo.tenant, "get", "svc", "app1", "-o", "json"))
    live["metadata"]["labels"]["owner"] = "me"
    for noise in ("managedFields", "resourceVersion", "uid", "creationTimestamp"):
        live["metadata"].pop(noise, None)
    (tmp_path / "svc.json").write_text(json.dumps(live))
    kubectl(kubeconfig, "apply", "-f", str(tmp_path / "svc.json"))
    (update,) = plan_of(manager, repo.root).changeset.of("update")
    described = [f.describe() for f in update.fields]
    assert "metadata.labels.owner: - me" in described
    assert any("kubectl.kubernetes.io/last-applied-configuration" in line for line in described)
    applied(manager, plan_of(manager, repo.root))
    annotations = json.loads(jsonpath(kubeconfig, repo.tenant, "svc/app1", "{.metadata.annotations}"))
    assert "kubectl.kubernetes.io/last-applied-configuration" not in annotations
    assert not plan_of(manager, repo.root).changeset.has_changes


def test_an_hpa_keeps_the_replicas_and_a_hand_scale_is_left_to_it(
    kube: KubeClient, repo: PlatformRepo, kubeconfig: Path
) -> None:
    repo.autoscalings["app1"] = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "Autoscaling",
        "metadata": {"name": "app1"},
        "spec": {"target": "app1", "minReplicas": 3, "maxReplicas": 5, "metrics": [{"cpu": "70%"}]},
    }
    repo.write()
    manager = manager_for(kube, repo)
    applied(manager, plan_of(manager, repo.root))
    wait_for(
        lambda: jsonpath(kubeconfig, repo.tenant, "deploy/app1", "{.spec.replicas}"),
        timeout=60,
        message="the HPA to scale app1 to 3",
        until=lambda replicas: replicas == "3",
    )
    kubectl(kubeconfig, "-n", repo.tenant, "scale", "deploy/app1", "--replicas=4")
    assert not plan_of(manager, repo.root).changeset.has_changes  # the HPA's business
    # A hand edit next to it is taken back, and the replicas stay where the HPA and kubectl left them.
    kubectl(kubeconfig, "-n", repo.tenant, "set", "env", "deploy/app1", "DRIFT=1")
    plan = plan_of(manager, repo.root)
    assert list(updates(plan)) == [f"Deployment.apps/{repo.tenant}/app1"]
    replicas_before = jsonpath(kubeconfig, repo.tenant, "deploy/app1", "{.spec.replicas}")
    applied(manager, plan)
    assert jsonpath(kubeconfig, repo.tenant, "deploy/app1", ENV) == ""
    assert jsonpath(kubeconfig, repo.tenant, "deploy/app1", "{.spec.replicas}") == replicas_before != "1"
    assert not plan_of(manager, repo.root).changeset.has_changes


def test_a_controller_s_field_is_a_conflict_never_taken_silently(
    kube: KubeClient, repo: PlatformRepo, kubeconfig: Path
) -> None:
    manager = manager_for(kube, repo)
    applied(manager, plan_of(manager, repo.root))
    kubectl(
        kubeconfig, "-n", repo.tenant, "set", "image", "deploy/app1", "app1=busybox:0.1", "--field-manager=operator"
    )
    (update,) = plan_of(manager, repo.root).changeset.of("update")
    assert "conflict with operator" in update.reason
    result = manager.apply(plan_of(manager, repo.root), revision="r1", wait=False)
    (failed,) = result.failed
    assert failed.conflict_managers == ("operator",)


def test_an_empty_list_of_imperative_managers_leaves_hand_edits_alone(
    kube: KubeClient, repo: PlatformRepo, kubeconfig: Path
) -> None:
    repo.platform["spec"]["sync"]["imperativeManagers"] = []
    repo.write()
    manager = manager_for(kube, repo)
    applied(manager, plan_of(manager, repo.root))
    kubectl(kubeconfig, "-n", repo.tenant, "set", "env", "deploy/app1", "DRIFT=1")
    assert not plan_of(manager, repo.root).changeset.has_changes


def test_comments_reordered_documents_and_moved_files_plan_nothing(kube: KubeClient, repo: PlatformRepo) -> None:
    manager = manager_for(kube, repo)
    applied(manager, plan_of(manager, repo.root))
    tenant_dir = repo.tenant_dir
    tenant = tenant_dir / "tenant.yaml"
    tenant.write_text("# the team's namespace\n\n\n" + tenant.read_text().replace("\n", "\n\n", 2))
    apps = [tenant_dir / f"app-app{i}.yaml" for i in range(3)]
    texts = [p.read_text() for p in apps]
    for path in apps:
        path.unlink()
    (tenant_dir / "apps").mkdir()
    (tenant_dir / "apps" / "all.yaml").write_text("\n---\n# reordered\n".join(reversed(texts)))
    plan = plan_of(manager, repo.root)
    assert not plan.changeset.has_changes, [str(c.ref) for c in plan.changeset.of("create", "update", "prune")]


# --- a real mutating admission webhook --------------------------------------------------------


def _sidecar_patch(review: dict[str, Any]) -> list[dict[str, Any]]:
    containers = review["request"]["object"]["spec"]["template"]["spec"]["containers"]
    if any(c["name"] == "mesh-proxy" for c in containers):
        return []
    return [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/-",
            "value": {"name": "mesh-proxy", "image": "mesh/proxy:1.0", "resources": {}},
        }
    ]


class _Webhook(BaseHTTPRequestHandler):
    patch: Callable[[dict[str, Any]], list[dict[str, Any]]] = staticmethod(_sidecar_patch)
    calls = 0

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ops = self.patch(review)
        type(self).calls += 1
        response: dict[str, Any] = {"uid": review["request"]["uid"], "allowed": True}
        if ops:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def sidecar_webhook(repo: PlatformRepo, kubeconfig: Path, tmp_path: Path) -> Iterator[type[_Webhook]]:
    """A MutatingWebhookConfiguration, for Deployments in the test's tenant only, served over TLS
    by a server in this process that injects a `mesh-proxy` container."""
    ca = make_ca("sidecar-webhook-ca")
    serving = issue(ca, Identity("sidecar-webhook"), server=True, ips=(ipaddress.IPv4Address("127.0.0.1"),))
    (tmp_path / "tls.crt").write_bytes(serving.cert_pem)
    (tmp_path / "tls.key").write_bytes(serving.key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    handler = type("Webhook", (_Webhook,), {"calls": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    name = f"sidecar-{repo.tenant}"
    config = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": "sidecar.dockyard.test",
                "clientConfig": {
                    "url": f"https://127.0.0.1:{server.server_address[1]}/mutate",
                    "caBundle": base64.b64encode(ca.cert_pem).decode(),
                },
                "rules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["deployments"],
                    }
                ],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": repo.tenant}},
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "reinvocationPolicy": "Never",
                "timeoutSeconds": 5,
            }
        ],
    }
    (tmp_path / "webhook.yaml").write_text(yaml.safe_dump(config))
    kubectl(kubeconfig, "apply", "-f", str(tmp_path / "webhook.yaml"))
    try:
        yield handler
    finally:
        kubectl(kubeconfig, "delete", "mutatingwebhookconfiguration", name, "--ignore-not-found")
        server.shutdown()
        server.server_close()


def test_a_sidecar_injected_by_a_mutating_webhook_is_never_drift(
    kube: KubeClient, repo: PlatformRepo, kubeconfig: Path, sidecar_webhook: type[_Webhook]
) -> None:
    manager = manager_for(kube, repo)
    # The webhook configuration takes a moment to reach the API server's admission chain.
    wait_for(
        lambda: (applied(manager, plan_of(manager, repo.root)), sidecar_webhook.calls)[1],
        timeout=30,
        message="the webhook to see the first Deployment",
        until=lambda calls: calls > 0,
    )
    containers = "{.spec.template.spec.containers[*].name}"
    wait_for(
        lambda: jsonpath(kubeconfig, repo.tenant, "deploy/app1", containers),
        timeout=30,
        message="the sidecar in app1",
        until=lambda names: names == "app1 mesh-proxy",
    )
    assert not plan_of(manager, repo.root).changeset.has_changes
    # A hand edit on top of it: only the edit is drift, and taking it back keeps the sidecar.
    kubectl(kubeconfig, "-n", repo.tenant, "set", "env", "deploy/app1", "-c", "app1", "DRIFT=1")
    assert list(updates(plan_of(manager, repo.root))) == [f"Deployment.apps/{repo.tenant}/app1"]
    applied(manager, plan_of(manager, repo.root))
    assert jsonpath(kubeconfig, repo.tenant, "deploy/app1", containers) == "app1 mesh-proxy"
    assert jsonpath(kubeconfig, repo.tenant, "deploy/app1", ENV) == ""
    assert not plan_of(manager, repo.root).changeset.has_changes
