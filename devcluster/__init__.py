"""A throwaway Kubernetes control plane on loopback, for development and the test suite.

It runs real etcd, kube-apiserver, kube-controller-manager and kube-scheduler binaries plus kwok,
which fakes the nodes and moves pods through their phases, so the API behaves like a real cluster
(admission, RBAC, server-side apply, controllers) without a container runtime.
"""

from __future__ import annotations

from devcluster.handle import RunningCluster
from devcluster.layout import cluster_root
from devcluster.local import LocalCluster

__all__ = ["LocalCluster", "RunningCluster", "cluster_root"]
