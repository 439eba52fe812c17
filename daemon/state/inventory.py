"""The inventory of applied objects, kept in the cluster: one piece per namespace, plus one for
cluster-scoped objects (layout and trust rules in :mod:`daemon.policy.inventory`).

Pieces are ConfigMaps labelled ``dockyard.dev/inventory=<Dockyard's namespace>`` (two Dockyards
on one cluster each read their own) and ``dockyard.dev/role=inventory`` (the audit trail's are
``history``, the inbox's ``inbox``; each store selects by its own label, never by role): ``<name>`` in each namespace
that holds Dockyard's objects, ``<name>-cluster`` in Dockyard's own namespace, and ``-2``, ``-3``
... after either when a piece outgrows one ConfigMap. One list request reads them all (or none,
when a watch keeps them: ``list_pieces``); a save writes only the pieces whose entries changed,
so a change to one tenant rewrites that tenant's inventory and nothing else. The single
``<name>`` ConfigMap of earlier versions is read once, split into pieces and deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from daemon.edges.kube import FIELD_MANAGER, KubeClient, ResourceType
from daemon.errors import ClusterError
from daemon.model.refs import ObjRef
from daemon.policy.inventory import CLUSTER_SCOPE, Inventory, by_scope, chunks, is_legacy, parse_chunk, parse_legacy
from daemon.state.history import ROLE_LABEL

log = logging.getLogger(__name__)

INVENTORY_LABEL = "dockyard.dev/inventory"


@dataclass
class _Scope:
    entries: frozenset[ObjRef] = frozenset()
    #: names of the ConfigMaps that hold it now
    pieces: set[str] = field(default_factory=set)


class InventoryStore:
    """The inventory persisted in ConfigMaps, so it survives restarts and is visible to kubectl."""

    def __init__(
        self,
        kube: KubeClient,
        namespace: str = "dockyard-system",
        name: str = "dockyard-inventory",
        *,
        list_pieces: Callable[[], list[Mapping[str, Any]]] | None = None,
        on_written: Callable[[Mapping[str, Any]], None] = lambda _: None,
    ):
        self._kube = kube
        self.namespace = namespace
        self.name = name
        self._list_pieces = list_pieces
        self._on_written = on_written
        #: what the cluster holds, by scope, as of the last load or save
        self._scopes: dict[str, _Scope] = {}
        self._legacy = False

    @property
    def selector(self) -> str:
        return f"{INVENTORY_LABEL}={self.namespace}"

    def _is_piece(self, name: str) -> bool:
        base = self.name
        return any(
            name == b or (name.startswith(f"{b}-") and name[len(b) + 1 :].isdigit()) for b in (base, f"{base}-cluster")
        )

    @property
    def _configmaps(self) -> ResourceType:
        # Resolved on first use (the client caches it): constructing this does no I/O.
        return self._kube.resource_type("v1", "ConfigMap")

    def load(self) -> Inventory:
        pieces = (
            self._list_pieces()
            if self._list_pieces is not None
            else self._kube.list_objects(self._configmaps, label_selector=self.selector)
        )
        scopes: dict[str, _Scope] = {}
        for piece in pieces:
            meta = piece.get("metadata", {})
            if not self._is_piece(str(meta.get("name", ""))):
                continue  # another inventory of the same Dockyard (tests keep several)
            namespace = str(meta.get("namespace", ""))
            scope = CLUSTER_SCOPE if self._is_cluster_piece(namespace, str(meta.get("name", ""))) else namespace
            entries, refused = parse_chunk(scope, piece.get("data") or {})
            if refused:
                log.warning(
                    "inventory %s/%s: ignored %d entries that are malformed or not of namespace %s",
                    namespace,
                    meta.get("name"),
                    refused,
                    namespace,
                )
            found = scopes.setdefault(scope, _Scope())
            found.entries |= entries
            found.pieces.add(str(meta.get("name", "")))
        self._legacy = False
        if CLUSTER_SCOPE not in scopes:
            legacy = self._kube.get(self._configmaps, self.namespace, self.name)
            data = (legacy or {}).get("data") or {}
            if legacy is not None and is_legacy(data):
                # Written by an earlier version: one ConfigMap for everything, split on the next save.
                self._legacy = True
                for scope, entries in by_scope(parse_legacy(data).entries).items():
                    scopes.setdefault(scope, _Scope()).entries |= entries
        self._scopes = scopes
        return Inventory.of(frozenset().union(*(s.entries for s in scopes.values())))

    def save(self, inventory: Inventory, only: frozenset[str] | None = None) -> None:
        """Writes the pieces whose entries changed since the last load (and deletes emptied ones);
        with ``only``, just those scopes' (another replica writes the others)."""
        wanted = by_scope(inventory.entries)
        for scope in sorted(set(wanted) | set(self._scopes)):
            # The one-time split of an earlier version's single inventory writes every scope.
            if only is not None and scope not in only and not self._legacy:
                continue
            entries = wanted.get(scope, frozenset())
            current = self._scopes.get(scope, _Scope())
            if entries == current.entries and not self._legacy:
                continue
            self._scopes[scope] = self._write(scope, entries, inventory.revision, current.pieces)
        if self._legacy:
            self._delete(self.namespace, self.name)
            self._legacy = False

    # --- pieces -----------------------------------------------------------------------------

    def _is_cluster_piece(self, namespace: str, name: str) -> bool:
        # Only pieces in Dockyard's own namespace may speak for cluster-scoped objects.
        base = f"{self.name}-cluster"
        return namespace == self.namespace and (name == base or name.startswith(f"{base}-"))

    def _piece_names(self, scope: str, count: int) -> list[str]:
        base = f"{self.name}-cluster" if scope == CLUSTER_SCOPE else self.name
        return [base if i == 0 else f"{base}-{i + 1}" for i in range(count)]

    def _write(self, scope: str, entries: frozenset[ObjRef], revision: str, existing: set[str]) -> _Scope:
        namespace = self.namespace if scope == CLUSTER_SCOPE else scope
        if not entries:
            for name in sorted(existing):
                self._delete(namespace, name)
            return _Scope()
        data = chunks(entries, revision)
        names = self._piece_names(scope, len(data))
        if scope == CLUSTER_SCOPE:
            self._kube.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
                field_manager=FIELD_MANAGER,
            )
        for name, piece in zip(names, data, strict=True):
            try:
                written = self._kube.apply(
                    self._configmap(namespace, name, piece), field_manager=FIELD_MANAGER, force=True
                )
            except ClusterError as e:
                if e.status in (403, 404) and scope != CLUSTER_SCOPE:
                    # The namespace is gone or being deleted, and every object in it with it.
                    log.warning("cannot keep the inventory of namespace %s: %s", namespace, e)
                    return _Scope()
                raise
            self._on_written(written)
        for stale in sorted(existing - set(names)):
            self._delete(namespace, stale)
        return _Scope(entries, set(names))

    def _configmap(self, namespace: str, name: str, data: Mapping[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {
                    "app.kubernetes.io/part-of": "dockyard",
                    ROLE_LABEL: "inventory",
                    INVENTORY_LABEL: self.namespace,
                },
            },
            "data": dict(data),
        }

    def _delete(self, namespace: str, name: str) -> None:
        self._kube.delete(self._configmaps, namespace, name)
