"""The connection of a cluster, followed from what platform.yaml says: a Secret's kubeconfig, a
file in --cluster-kubeconfigs, a context; every failure is a clear error that never quotes the
Secret's content."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.edges.kube import ResourceType
from daemon.errors import ConfigError
from daemon.model.clusters import Cluster
from daemon.runtime.connect import ClusterConnector
from daemon.runtime.settings import ClusterSettings, ClusterTarget

TOKEN = "eyJhbGciOiJSUzI1NiJ9.secret-token-value"


def kubeconfig(server: str = "https://10.0.0.1:6443", context: str = "away") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
        "current-context": context,
    }


class Secrets:
    """The home cluster's Secrets, as the connector reads them."""

    def __init__(self, secrets: dict[str, dict[str, Any]]) -> None:
        self.secrets = secrets

    def resource_type(self, api_version: str, kind: str) -> ResourceType:
        return ResourceType("", "v1", "Secret", "secrets", True)

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.secrets.get(f"{namespace}/{name}")


def secret(data: dict[str, str]) -> dict[str, Any]:
    return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def connector(secrets: dict[str, dict[str, Any]], **settings: Any) -> ClusterConnector:
    return ClusterConnector(ClusterSettings(namespace="dockyard-system", **settings), Secrets(secrets))


def test_a_secret_s_kubeconfig_reaches_its_server() -> None:
    good = secret({"kubeconfig": yaml.safe_dump(kubeconfig())})
    client = connector({"dockyard-system/cluster-away": good}).client(Cluster("away", secret="cluster-away"))
    assert client.server == "https://10.0.0.1:6443"
    client.close()


@pytest.mark.parametrize(
    ("secrets", "said"),
    [
        ({}, "Secret dockyard-system/cluster-away does not exist"),
        ({"dockyard-system/cluster-away": secret({"config": "x"})}, "has no key 'kubeconfig'"),
        ({"dockyard-system/cluster-away": secret({"kubeconfig": f"token: {TOKEN}"})}, "cannot load kubeconfig"),
        ({"dockyard-system/cluster-away": secret({"kubeconfig": f"[{TOKEN}"})}, "is not a kubeconfig"),
        ({"dockyard-system/cluster-away": {"data": {"kubeconfig": "%%%"}}}, "is not a kubeconfig"),
    ],
)
def test_a_secret_that_holds_no_kubeconfig_is_a_clear_error_that_quotes_nothing(
    secrets: dict[str, dict[str, Any]], said: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        connector(secrets).client(Cluster("away", secret="cluster-away"))
    assert said in str(caught.value) and "cluster away" in str(caught.value)
    assert TOKEN not in str(caught.value) and "secret-token" not in str(caught.value)


def test_a_file_needs_the_directory_and_a_flag_overrides_the_platform_file(tmp_path: Path) -> None:
    away = Cluster("away", kubeconfig="away.kubeconfig")
    with pytest.raises(ConfigError, match="--cluster-kubeconfigs DIR"):
        connector({}).client(away)
    with pytest.raises(ConfigError, match="no kubeconfig file"):
        connector({}, kubeconfigs_dir=tmp_path).client(away)
    (tmp_path / "away.kubeconfig").write_text(yaml.safe_dump(kubeconfig("https://10.0.0.2:6443")))
    assert connector({}, kubeconfigs_dir=tmp_path).client(away).server == "https://10.0.0.2:6443"
    flagged = tmp_path / "flag.kubeconfig"
    flagged.write_text(yaml.safe_dump(kubeconfig("https://10.0.0.3:6443")))
    pinned = connector({}, kubeconfigs_dir=tmp_path, targets=(ClusterTarget("away", str(flagged)),))
    assert pinned.client(away).server == "https://10.0.0.3:6443"
    # A context of the daemon's own kubeconfig.
    home = tmp_path / "home.kubeconfig"
    both = kubeconfig("https://10.0.0.4:6443", context="us")
    home.write_text(yaml.safe_dump(both))
    assert connector({}, kubeconfig=str(home)).client(Cluster("us", context="us")).server == "https://10.0.0.4:6443"
