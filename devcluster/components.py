"""The control-plane components: their configuration files and command lines."""

from __future__ import annotations

import base64
import ipaddress
import os
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from devcluster import certs, metrics
from devcluster.build import Toolchain
from devcluster.kwok_metrics import METRICS_YAML
from devcluster.kwok_stages import STAGES_YAML
from devcluster.layout import KWOK_NODE_ANNOTATION, POD_CIDR, SERVICE_ACCOUNT_ISSUER, SERVICE_CIDR, ClusterState


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig_yaml(cluster: str, server: str, ca_pem: bytes, client: certs.CertKey, user: str) -> str:
    """A self-contained kubeconfig (certs inline) so it keeps working when copied elsewhere."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(client.cert_pem),
                    "client-key-data": _b64(client.key_pem),
                },
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    }
    return yaml.safe_dump(config, sort_keys=False)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def write_config(state: ClusterState) -> None:
    """Generates the PKI and writes every kubeconfig and kwok's configuration."""
    layout = state.layout
    pki = certs.generate_pki(ipaddress.IPv4Address(SERVICE_CIDR.network_address + 1))
    certs.write_pki(pki, layout.pki.directory)
    context = f"dockyard-{state.name}"
    _write_private(
        layout.kubeconfig,
        kubeconfig_yaml(context, state.server, pki.ca.cert_pem, pki.clients["admin"], "admin"),
    )
    for component in ("kube-controller-manager", "kube-scheduler", "kwok", "metrics-server"):
        text = kubeconfig_yaml(context, state.server, pki.ca.cert_pem, pki.clients[component], component)
        _write_private(layout.component_kubeconfig(component), text)
    layout.kwok_config.parent.mkdir(parents=True, exist_ok=True)
    layout.kwok_config.write_text(STAGES_YAML)
    layout.kwok_metrics_config.write_text(METRICS_YAML)


def _etcd_argv(state: ClusterState) -> list[str]:
    client = f"http://127.0.0.1:{state.ports.etcd_client}"
    peer = f"http://127.0.0.1:{state.ports.etcd_peer}"
    return [
        "--name=dockyard",
        f"--data-dir={state.layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=dockyard={peer}",
        "--initial-cluster-state=new",
        # Throwaway data: durability is not worth the fsync latency on slow CI disks.
        "--unsafe-no-fsync=true",
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=5m",
        "--quota-backend-bytes=4294967296",
        "--log-level=warn",
    ]


def _apiserver_argv(state: ClusterState) -> list[str]:
    pki = state.layout.pki
    return [
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={state.ports.apiserver}",
        f"--etcd-servers=http://127.0.0.1:{state.ports.etcd_client}",
        f"--cert-dir={pki.directory}",
        f"--tls-cert-file={pki.cert('apiserver')}",
        f"--tls-private-key-file={pki.key('apiserver')}",
        f"--client-ca-file={pki.cert('ca')}",
        "--authorization-mode=Node,RBAC",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        # The aggregation layer's identity, so aggregated APIs (metrics-server) can be added.
        f"--requestheader-client-ca-file={pki.cert('front-proxy-ca')}",
        f"--requestheader-allowed-names={certs.FRONT_PROXY_CLIENT_CN}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki.cert('front-proxy-client')}",
        f"--proxy-client-key-file={pki.key('front-proxy-client')}",
        "--allow-privileged=true",
        "--profiling=false",
        # The `kubernetes` Service cannot have a loopback endpoint (validation rejects it) and
        # nothing in the cluster dials it: kwok pods run nowhere.
        "--endpoint-reconciler-type=none",
        # Without this the server waits the full 60s request timeout on SIGTERM for the clients'
        # watches to end; with it, it closes them, so restarts and `down` take a second or two.
        "--shutdown-watch-termination-grace-period=2s",
    ]


def _controller_manager_argv(state: ClusterState) -> list[str]:
    pki = state.layout.pki
    kubeconfig = state.layout.component_kubeconfig("kube-controller-manager")
    return [
        f"--kubeconfig={kubeconfig}",
        # Delegated authn/authz for its own /healthz and /metrics endpoint.
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={state.ports.controller_manager}",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.sa_key}",
        f"--root-ca-file={pki.cert('ca')}",
        f"--cluster-signing-cert-file={pki.cert('ca')}",
        f"--cluster-signing-key-file={pki.key('ca')}",
        f"--cluster-name={state.name}",
        # Tests create and delete many objects; the default 20 QPS makes controllers lag.
        "--kube-api-qps=100",
        "--kube-api-burst=200",
        # HPAs react within seconds of a usage change (the default looks every 15s).
        "--horizontal-pod-autoscaler-sync-period=5s",
        "--profiling=false",
    ]


def _scheduler_argv(state: ClusterState) -> list[str]:
    kubeconfig = state.layout.component_kubeconfig("kube-scheduler")
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={state.ports.scheduler}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def _kwok_argv(state: ClusterState) -> list[str]:
    key, value = KWOK_NODE_ANNOTATION
    return [
        f"--kubeconfig={state.layout.component_kubeconfig('kwok')}",
        f"--config={state.layout.kwok_config}",
        f"--config={state.layout.kwok_metrics_config}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={key}={value}",
        # The heartbeat stage renews only the node lease; without a lease the node controller
        # would mark the nodes NotReady after its grace period.
        "--node-lease-duration-seconds=40",
        "--node-ip=127.0.0.1",
        f"--cidr={POD_CIDR}",
        f"--server-address=127.0.0.1:{state.ports.kwok}",
        # The node-initialize stage writes it into each node's daemonEndpoints, where
        # metrics-server looks for the (fake) kubelet's port.
        f"--node-port={state.ports.kwok}",
    ]


def _metrics_server_argv(state: ClusterState) -> list[str]:
    pki = state.layout.pki
    return metrics.server_argv(
        kubeconfig=str(state.layout.component_kubeconfig("metrics-server")),
        port=state.ports.metrics_server,
        kwok_port=state.ports.kwok,
        cert=str(pki.cert("metrics-server-serving")),
        key=str(pki.key("metrics-server-serving")),
    )


_ARGV: dict[str, Callable[[ClusterState], list[str]]] = {
    "etcd": _etcd_argv,
    "kube-apiserver": _apiserver_argv,
    "kube-controller-manager": _controller_manager_argv,
    "kube-scheduler": _scheduler_argv,
    "kwok": _kwok_argv,
    "metrics-server": _metrics_server_argv,
}


def component_argv(state: ClusterState, component: str) -> list[str]:
    if component == "storage":
        # The stand-in for Ceph CSI (daemon.devcluster.storage) runs on this interpreter.
        return [sys.executable, "-m", "devcluster.storage", f"--kubeconfig={state.layout.kubeconfig}"]
    return [str(Toolchain(state.toolchain).binary(component)), *_ARGV[component](state)]


def component_env(state: ClusterState, component: str) -> dict[str, str]:
    # kwok always reads ~/.kwok/kwok.yaml when it exists; a private HOME keeps the user's own
    # kwok setup out of our cluster.
    return {"HOME": str(state.layout.kwok_home)} if component == "kwok" else {}
