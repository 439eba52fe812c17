"""Per-tenant pause and resume, kept in the cluster so every replica and restart sees it.

Read on every cycle (one GET): a pause must hold from the very next cycle, on every replica.
"""

from __future__ import annotations

from daemon.edges.kube import FIELD_MANAGER, KubeClient, ResourceType


class PauseStore:
    def __init__(self, kube: KubeClient, *, namespace: str = "dockyard-system", name: str = "dockyard-pauses") -> None:
        self._kube = kube
        self._namespace = namespace
        self._name = name

    @property
    def _configmaps(self) -> ResourceType:
        # Resolved on first use (the client caches it): constructing this does no I/O.
        return self._kube.resource_type("v1", "ConfigMap")

    def paused(self) -> frozenset[str]:
        obj = self._kube.get(self._configmaps, self._namespace, self._name)
        return frozenset(t for t in ((obj or {}).get("data") or {}).get("paused", "").split() if t)

    def pause(self, tenant: str) -> None:
        self._write(self.paused() | {tenant})

    def resume(self, tenant: str) -> None:
        self._write(self.paused() - {tenant})

    def _write(self, tenants: frozenset[str]) -> None:
        self._kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self._namespace}},
            field_manager=FIELD_MANAGER,
        )
        self._kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": self._name, "namespace": self._namespace},
                "data": {"paused": "\n".join(sorted(tenants))},
            },
            field_manager=FIELD_MANAGER,
            force=True,
        )
