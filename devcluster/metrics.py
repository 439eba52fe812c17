"""The resource metrics API of a local cluster: metrics-server on loopback, registered with the
aggregator, with only the permissions it needs.

metrics-server runs as a process next to the API server (like every other component here) and
scrapes kwok's per-node endpoints (:mod:`devcluster.kwok_metrics`). The aggregator reaches it
through an ExternalName Service pointing at ``127.0.0.1``: with the default (service) routing,
such a Service resolves to ``https://<externalName>:<port>``, which needs no kube-proxy and no
endpoints; ``--enable-aggregator-routing`` must stay off, as it accepts ClusterIP Services only.
The aggregator verifies metrics-server's serving certificate against the cluster CA in the
APIService's ``caBundle`` and the name ``metrics-server.kube-system.svc``.

metrics-server's identity is a client certificate of a user in no group; what it may do is the
upstream RBAC (read pods and nodes, read the kubelet's metrics, delegate authentication and
authorization of its own callers to the API server).
"""

from __future__ import annotations

import base64
from typing import Any

from devcluster.certs import METRICS_SERVER_USER

API_SERVICE = "v1beta1.metrics.k8s.io"
#: metrics-server's minimum; the kubelet request timeout must stay under 90% of it.
RESOLUTION_SECONDS = 10


def _user() -> list[dict[str, str]]:
    return [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": METRICS_SERVER_USER}]


def manifests(port: int, ca_pem: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(API path, object) of everything that registers metrics-server, in apply order."""
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    role: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "dockyard:metrics-server"},
        "rules": [
            {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]},
        ],
    }
    bindings = [
        ("dockyard:metrics-server", "dockyard:metrics-server"),
        # TokenReviews and SubjectAccessReviews for the callers of the metrics API.
        ("dockyard:metrics-server:auth-delegator", "system:auth-delegator"),
    ]
    objects: list[tuple[str, dict[str, Any]]] = [(f"{rbac}/clusterroles/{role['metadata']['name']}", role)]
    for name, cluster_role in bindings:
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
            "subjects": _user(),
        }
        objects.append((f"{rbac}/clusterrolebindings/{name}", binding))
    # The requestheader CA and names the aggregator's proxied requests are checked against.
    reader: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "dockyard:metrics-server:auth-reader", "namespace": "kube-system"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "extension-apiserver-authentication-reader",
        },
        "subjects": _user(),
    }
    objects.append((f"{rbac}/namespaces/kube-system/rolebindings/{reader['metadata']['name']}", reader))
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "metrics-server", "namespace": "kube-system"},
        "spec": {"type": "ExternalName", "externalName": "127.0.0.1"},
    }
    objects.append(("/api/v1/namespaces/kube-system/services/metrics-server", service))
    api_service = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": API_SERVICE},
        "spec": {
            "service": {"name": "metrics-server", "namespace": "kube-system", "port": port},
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
            "caBundle": base64.b64encode(ca_pem).decode(),
        },
    }
    objects.append((f"/apis/apiregistration.k8s.io/v1/apiservices/{API_SERVICE}", api_service))
    return objects


def server_argv(*, kubeconfig: str, port: int, kwok_port: int, cert: str, key: str) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={cert}",
        f"--tls-private-key-file={key}",
        # kwok serves its fake kubelet endpoint with a throwaway self-signed certificate.
        "--kubelet-insecure-tls",
        "--kubelet-preferred-address-types=InternalIP",
        # kwok writes its port into each node's daemonEndpoints; --kubelet-port is the fallback.
        "--kubelet-use-node-status-port",
        f"--kubelet-port={kwok_port}",
        f"--metric-resolution={RESOLUTION_SECONDS}s",
        # As long as metrics-server allows (under 90% of the resolution): on a loaded 2-core machine
        # kwok evaluates its CEL usage expressions for every pod of a node per scrape, and a
        # scrape that times out leaves every pod of that node without metrics until the next.
        f"--kubelet-request-timeout={RESOLUTION_SECONDS * 8 // 10}s",
    ]
