"""Small platform repos written on the fly, each with its own tenant names, so tests that share
the session's cluster never touch each other's namespaces."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

API = "dockyard.dev/v1alpha1"


def doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec}


def app_spec(image: str = "busybox:1.36", replicas: int = 2, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "image": image,
        "replicas": replicas,
        "ports": [{"name": "http", "port": 8080}],
        "resources": {"cpu": "50m", "memory": "32Mi"},
    }
    spec.update(extra)
    return spec


class PlatformRepo:
    """A platform repo on disk with one tenant named ``prefix``; edit ``docs`` and ``write()``."""

    def __init__(self, root: Path, prefix: str, *, apps: int = 3, windows: list[dict[str, Any]] | None = None):
        self.root = root
        self.tenant = prefix
        self.platform: dict[str, Any] = doc(
            "Platform",
            "test",
            {
                "sync": {"interval": "1m", "driftCheckInterval": "5m", "windows": windows or []},
                # Classes are cluster-scoped: each test platform has its own, named after it.
                "storageClasses": [
                    {
                        "name": f"rbd-{prefix}",
                        "provisioner": "rook-ceph.rbd.csi.ceph.com",
                        "snapshotClass": f"snap-{prefix}",
                        "default": True,
                    }
                ],
                "prune": {"maxFraction": 0.5},
            },
        )
        self.tenant_doc: dict[str, Any] = doc(
            "Tenant",
            prefix,
            {
                "quota": {"cpu": "8", "memory": "8Gi", "pods": 50},
                "limits": {"defaultCpu": "100m", "defaultMemory": "64Mi"},
            },
        )
        self.apps: dict[str, dict[str, Any]] = {f"app{i}": doc("App", f"app{i}", app_spec()) for i in range(apps)}
        self.volumes: dict[str, dict[str, Any]] = {"data": doc("Volume", "data", {"size": "1Gi"})}
        self.apps["app0"]["spec"]["volumes"] = [{"volume": "data", "mountPath": "/data"}]
        self.apps["app0"]["spec"]["replicas"] = 1  # ReadWriteOnce: one pod
        self.autoscalings: dict[str, dict[str, Any]] = {}
        self.notification_lists: dict[str, dict[str, Any]] = {}
        #: more files of the tenant, by path inside its folder: documents (Jobs, Policies, ...) or
        #: text written as it is (encrypted Secrets)
        self.extra: dict[str, dict[str, Any] | str] = {}

    @property
    def tenant_dir(self) -> Path:
        return self.root / "tenants" / self.tenant

    def write(self) -> Path:
        if self.root.exists():
            for path in sorted(self.root.rglob("*.yaml"), reverse=True):
                path.unlink()
        self.tenant_dir.mkdir(parents=True, exist_ok=True)
        _dump(self.root / "platform.yaml", self.platform)
        _dump(self.tenant_dir / "tenant.yaml", self.tenant_doc)
        for name, app in self.apps.items():
            _dump(self.tenant_dir / f"app-{name}.yaml", app)
        for name, volume in self.volumes.items():
            _dump(self.tenant_dir / f"volume-{name}.yaml", volume)
        for name, scaling in self.autoscalings.items():
            _dump(self.tenant_dir / f"autoscaling-{name}.yaml", scaling)
        for rel, document in self.extra.items():
            (self.tenant_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            if isinstance(document, str):
                (self.tenant_dir / rel).write_text(document)
            else:
                _dump(self.tenant_dir / rel, document)
        if self.notification_lists:
            (self.root / "notifications").mkdir(exist_ok=True)
        for name, nlist in self.notification_lists.items():
            _dump(self.root / "notifications" / f"{name}.yaml", nlist)
        return self.root


def _dump(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Test Author", "-c", "user.email=author@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()
