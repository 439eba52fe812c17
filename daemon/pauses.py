"""Per-tenant pause and resume, kept in the cluster so every replica and restart sees it."""

from __future__ import annotations

import time
from collections.abc import Callable

from daemon.kube import FIELD_MANAGER, KubeClient


class PauseStore:
    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str = "dockyard-system",
        name: str = "dockyard-pauses",
        cache_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._namespace = namespace
        self._name = name
        self._configmaps = kube.resource_type("v1", "ConfigMap")
        self._cache: tuple[float, frozenset[str]] | None = None
        self._cache_seconds = cache_seconds
        self._clock = clock

    def paused(self) -> frozenset[str]:
        if self._cache is not None and self._clock() - self._cache[0] < self._cache_seconds:
            return self._cache[1]
        obj = self._kube.get(self._configmaps, self._namespace, self._name)
        tenants = frozenset(t for t in ((obj or {}).get("data") or {}).get("paused", "").split() if t)
        self._cache = (self._clock(), tenants)
        return tenants

    def pause(self, tenant: str) -> None:
        self._write(self._read() | {tenant})

    def resume(self, tenant: str) -> None:
        self._write(self._read() - {tenant})

    def _read(self) -> frozenset[str]:
        self._cache = None
        return self.paused()

    def _write(self, tenants: frozenset[str]) -> None:
        try:
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
        finally:
            self._cache = None
