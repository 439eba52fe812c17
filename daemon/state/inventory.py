"""The inventory of applied objects, kept in the cluster."""

from __future__ import annotations

from daemon.edges.kube import FIELD_MANAGER, KubeClient, ResourceType
from daemon.policy.inventory import Inventory


class InventoryStore:
    """The inventory persisted in a ConfigMap, so it survives restarts and is visible to kubectl."""

    def __init__(self, kube: KubeClient, namespace: str = "dockyard-system", name: str = "dockyard-inventory"):
        self._kube = kube
        self.namespace = namespace
        self.name = name

    @property
    def _configmaps(self) -> ResourceType:
        # Resolved on first use (the client caches it): constructing this does no I/O.
        return self._kube.resource_type("v1", "ConfigMap")

    def load(self) -> Inventory:
        obj = self._kube.get(self._configmaps, self.namespace, self.name)
        return Inventory.parse(obj.get("data") or {}) if obj else Inventory()

    def save(self, inventory: Inventory) -> None:
        self._kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
            field_manager=FIELD_MANAGER,
        )
        self._kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": self.name,
                    "namespace": self.namespace,
                    "labels": {"app.kubernetes.io/part-of": "dockyard"},
                },
                "data": inventory.serialise(),
            },
            field_manager=FIELD_MANAGER,
            force=True,
        )
