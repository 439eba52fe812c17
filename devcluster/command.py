"""``dockyard dev-cluster up|down|status|kubeconfig``: a local control plane for development."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from daemon.errors import DevClusterError
from devcluster.handle import RunningCluster
from devcluster.layout import DEFAULT_NAME, DEFAULT_NODES, DEFAULT_TIMEOUT, validate_name
from devcluster.local import LocalCluster

DESCRIPTION = (
    "Run a throwaway Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, "
    "kube-controller-manager, kube-scheduler, kwok (fake nodes whose pods become Running and "
    "Ready) and metrics-server (kubectl top and HPAs; annotate a pod with "
    "kwok.x-k8s.io/usage-cpu=250m or kwok.x-k8s.io/usage-memory=300Mi to set its usage). "
    "The binaries are built once from the Go module proxy by hack/localcluster/build.sh. "
    "State lives in $DOCKYARD_STATE_DIR/clusters/NAME (default ~/.local/state/dockyard)."
)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("dev-cluster", help="run a local Kubernetes control plane", description=DESCRIPTION)
    actions = parser.add_subparsers(dest="dev_cluster_command", metavar="ACTION", required=True)

    up = _add(actions, "up", "start the cluster (a no-op when it runs) and print its kubeconfig path", run_up)
    up.add_argument(
        "--nodes", type=_positive, default=DEFAULT_NODES, help="number of fake nodes (default: %(default)s)"
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds to wait for the cluster once the binaries are built (default: %(default)s)",
    )
    _add(actions, "down", "stop the cluster and delete its directory", run_down)
    _add(
        actions,
        "status",
        "show each component, the API URL and the nodes; exit 1 unless all is up",
        run_status,
    )
    _add(actions, "kubeconfig", "print the admin kubeconfig path", run_kubeconfig)
    _add(
        actions,
        "env",
        'print shell exports (KUBECONFIG, PATH with its kubectl); use: eval "$(dockyard dev-cluster env)"',
        run_env,
    )


def _name(text: str) -> str:
    try:
        return validate_name(text)
    except DevClusterError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _add(actions: argparse._SubParsersAction[Any], name: str, text: str, func: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
    parser.add_argument(
        "--name", type=_name, default=DEFAULT_NAME, help="cluster name, so several can coexist (default: %(default)s)"
    )
    parser.set_defaults(func=func)
    return parser


def run_up(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.name).up(args.nodes, timeout=args.timeout)
    print(cluster.kubeconfig)
    return 0


def run_down(args: argparse.Namespace) -> int:
    found = LocalCluster(args.name).down()
    print(f"cluster {args.name!r} {'stopped and removed' if found else 'was not running'}", file=sys.stderr)
    return 0


def run_status(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.name).attach()
    if cluster is None:
        print(f"cluster {args.name!r}: not created (run: dockyard dev-cluster up --name {args.name})")
        return 1
    components = cluster.components()
    for component, running in components.items():
        print(f"{component:<24} {'running' if running else 'NOT RUNNING'}")
    ready = cluster.readyz()
    print(f"{'api':<24} {cluster.server} ({'ready' if ready else 'NOT READY'})")
    nodes_ok = metrics_ok = False
    if ready:
        try:
            nodes = cluster.nodes()
        except DevClusterError as e:
            print(f"{'nodes':<24} cannot list: {e}")
        else:
            for node, status in sorted(nodes.items()):
                print(f"{'node ' + node:<24} {'Ready' if status == 'True' else 'NOT READY'}")
            nodes_ok = len(nodes) >= cluster.state.nodes and all(s == "True" for s in nodes.values())
        metrics_ok, said = cluster.metrics_api()
        print(f"{'metrics API':<24} {'available' if metrics_ok else 'NOT AVAILABLE: ' + said} (kubectl top)")
    print(f"{'kubeconfig':<24} {cluster.kubeconfig}")
    return 0 if all(components.values()) and ready and nodes_ok and metrics_ok else 1


def _running(name: str) -> RunningCluster | None:
    cluster = LocalCluster(name).attach()
    if cluster is None or not cluster.is_running("kube-apiserver"):
        print(f"dockyard: cluster {name!r} is not up (run: dockyard dev-cluster up --name {name})", file=sys.stderr)
        return None
    return cluster


def run_kubeconfig(args: argparse.Namespace) -> int:
    cluster = _running(args.name)
    if cluster is None:
        return 1
    print(cluster.kubeconfig)
    return 0


def run_env(args: argparse.Namespace) -> int:
    cluster = _running(args.name)
    if cluster is None:
        return 1
    bin_dir = cluster.state.toolchain / "bin"
    print(f"export KUBECONFIG={shlex.quote(str(cluster.kubeconfig))}")
    print(f'export PATH={shlex.quote(str(bin_dir))}:"$PATH"')
    return 0
