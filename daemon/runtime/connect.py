"""A client for a cluster of spec.clusters, from the connection the platform file gives it.

The platform file only names where the credentials are, never the credentials: a context of the
daemon's own kubeconfig, a kubeconfig file in the directory given with ``--cluster-kubeconfigs``
(a mounted Secret), or a Secret in the daemon's namespace on its home cluster whose key
``kubeconfig`` holds the kubeconfig (as Flux's ``kubeConfig.secretRef`` and Argo CD's cluster
Secrets do; a ServiceAccount token of the other cluster is the usual content). ``--target``
flags override the file for the clusters they name.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Protocol

import yaml

from daemon.edges.kube import KubeClient, ResourceType
from daemon.errors import ConfigError
from daemon.model.clusters import Cluster
from daemon.runtime.settings import ClusterSettings

#: the key of a connection Secret that holds the kubeconfig
SECRET_KEY = "kubeconfig"  # noqa: S105 (a key name, not a credential)


class SecretReader(Protocol):
    """What the connector reads the connection Secrets with (the home cluster's client)."""

    def resource_type(self, api_version: str, kind: str) -> ResourceType: ...

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None: ...


class ClusterConnector:
    def __init__(self, settings: ClusterSettings, home: SecretReader) -> None:
        self._settings = settings
        self._home = home

    def client(self, cluster: Cluster) -> KubeClient:
        """A client for ``cluster``; ConfigError (which never quotes a credential) when the
        connection cannot be followed."""
        settings = self._settings
        connections = settings.concurrency + 4
        pinned = next((t for t in settings.targets if t.name == cluster.name), None)
        if pinned is not None:
            return KubeClient(pinned.kubeconfig, context=pinned.context, max_connections=connections)
        if cluster.secret is not None:
            data = self._secret_kubeconfig(cluster)
            try:
                return KubeClient(context=cluster.context, max_connections=connections, kubeconfig_data=data)
            except ConfigError as e:
                where = f"cluster {cluster.name}: Secret {settings.namespace}/{cluster.secret}"
                raise ConfigError(f"{where}: {e}") from None
        if cluster.kubeconfig is not None:
            if settings.kubeconfigs_dir is None:
                raise ConfigError(
                    f"cluster {cluster.name} is reached with the kubeconfig file '{cluster.kubeconfig}': "
                    "give the directory that holds it with --cluster-kubeconfigs DIR"
                )
            path = settings.kubeconfigs_dir / cluster.kubeconfig
            if not path.is_file():
                raise ConfigError(f"cluster {cluster.name}: no kubeconfig file {path}")
            return KubeClient(str(path), context=cluster.context, max_connections=connections)
        if cluster.context is not None:
            return KubeClient(settings.kubeconfig, context=cluster.context, max_connections=connections)
        raise ConfigError(f"cluster {cluster.name} has no connection: it is the daemon's own cluster")

    def _secret_kubeconfig(self, cluster: Cluster) -> dict[str, Any]:
        namespace, name = self._settings.namespace, cluster.secret
        where = f"cluster {cluster.name}: Secret {namespace}/{name}"
        secret = self._home.get(self._home.resource_type("v1", "Secret"), namespace, str(name))
        if secret is None:
            raise ConfigError(f"{where} does not exist: create it with the cluster's kubeconfig under '{SECRET_KEY}'")
        encoded = (secret.get("data") or {}).get(SECRET_KEY)
        if not isinstance(encoded, str):
            raise ConfigError(f"{where} has no key '{SECRET_KEY}' (the cluster's kubeconfig)")
        try:
            loaded = yaml.safe_load(base64.b64decode(encoded, validate=True))
        except (binascii.Error, yaml.YAMLError, UnicodeDecodeError):
            loaded = None  # never quote the content: it holds the credentials
        if not isinstance(loaded, dict):
            raise ConfigError(f"{where}: key '{SECRET_KEY}' is not a kubeconfig")
        return loaded
