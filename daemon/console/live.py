"""What the cluster says now about the apps and the backups, read a few lists at a time.

A page of the console must not cost one request per object: every read here is one list per
kind, cluster-wide, with Dockyard's label selector, and the answer is kept for ``ttl`` seconds so
that a dozen people (or one page polling) share it. Reads fail softly: a console whose API server
is away still shows what the daemon knows, and says that live state is missing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from daemon.errors import DockyardError
from daemon.model.labels import APP_LABEL, MANAGED_BY, MANAGER_NAME, TRACK_LABEL
from daemon.render.storage import SNAPSHOT_API

__all__ = ["AppLive", "Live", "LiveReader", "WorkloadTrack"]

_log = logging.getLogger(__name__)

_SELECTOR = f"{MANAGED_BY}={MANAGER_NAME}"
_KINDS = (
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("v1", "PersistentVolumeClaim"),
    (f"{SNAPSHOT_API}/v1", "VolumeSnapshot"),
)


class ListingKube(Protocol):
    """What this module needs of :class:`daemon.edges.kube.KubeClient`."""

    def resource_type(self, api_version: str, kind: str) -> Any: ...

    def list_objects(
        self, rtype: Any, *, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class WorkloadTrack:
    """One Deployment or StatefulSet of an app: its stable or its canary track."""

    name: str
    track: str
    desired: int
    ready: int
    updated: int
    rolling: bool  # a rollout is in progress


@dataclass(frozen=True)
class AppLive:
    tracks: tuple[WorkloadTrack, ...] = ()
    hpa_current: int | None = None
    hpa_desired: int | None = None

    @property
    def ready(self) -> int:
        return sum(t.ready for t in self.tracks)

    @property
    def desired(self) -> int:
        return sum(t.desired for t in self.tracks)

    @property
    def rolling(self) -> bool:
        return any(t.rolling for t in self.tracks)

    @property
    def canary(self) -> WorkloadTrack | None:
        return next((t for t in self.tracks if t.track == "canary"), None)


@dataclass(frozen=True)
class Live:
    """The cluster's answer at one moment; ``error`` says why parts are missing."""

    apps: Mapping[tuple[str, str], AppLive] = field(default_factory=dict)
    claims: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    snapshots: tuple[Mapping[str, Any], ...] = ()
    error: str = ""
    read_at: float = 0.0


def _track(obj: Mapping[str, Any]) -> WorkloadTrack:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    desired = int(spec.get("replicas", 1) or 0)
    updated = int(status.get("updatedReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    behind = int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0)
    rolling = behind or updated < desired or int(status.get("replicas") or 0) > desired
    labels = meta.get("labels") or {}
    return WorkloadTrack(
        str(meta.get("name", "")), str(labels.get(TRACK_LABEL, "stable")), desired, ready, updated, rolling
    )


def summarise(lists: Mapping[str, list[dict[str, Any]]], error: str, now: float) -> Live:
    """The lists of each kind, grouped by app and claim (pure)."""
    tracks: dict[tuple[str, str], list[WorkloadTrack]] = {}
    for kind in ("Deployment", "StatefulSet"):
        for obj in lists.get(kind, ()):
            meta = obj.get("metadata") or {}
            template = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
            app = (template.get("labels") or {}).get(APP_LABEL) or (meta.get("labels") or {}).get(APP_LABEL)
            if app:
                tracks.setdefault((str(meta.get("namespace", "")), str(app)), []).append(_track(obj))
    hpas = {
        (str(o["metadata"].get("namespace", "")), str(o["metadata"]["name"])): o.get("status") or {}
        for o in lists.get("HorizontalPodAutoscaler", ())
    }
    apps = {}
    for key in set(tracks) | set(hpas):
        hpa = hpas.get(key)
        apps[key] = AppLive(
            tuple(sorted(tracks.get(key, ()), key=lambda t: (t.track != "stable", t.name))),
            None if hpa is None else hpa.get("currentReplicas"),
            None if hpa is None else hpa.get("desiredReplicas"),
        )
    claims = {
        (str(o["metadata"].get("namespace", "")), str(o["metadata"]["name"])): o
        for o in lists.get("PersistentVolumeClaim", ())
    }
    return Live(apps, claims, tuple(lists.get("VolumeSnapshot", ())), error, now)


class LiveReader:
    """Reads :class:`Live` through ``kube`` at most once per ``ttl`` seconds (thread-safe)."""

    def __init__(
        self, kube: ListingKube | None, *, ttl: float = 5.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._kube = kube
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cached: Live | None = None

    def read(self) -> Live:
        with self._lock:
            now = self._monotonic()
            if self._cached is not None and now - self._cached.read_at < self._ttl:
                return self._cached
            self._cached = self._fetch(now)
            return self._cached

    def _fetch(self, now: float) -> Live:
        if self._kube is None:
            return Live(error="live state is not available here", read_at=now)
        lists: dict[str, list[dict[str, Any]]] = {}
        errors = []
        for api_version, kind in _KINDS:
            try:
                rtype = self._kube.resource_type(api_version, kind)
                lists[kind] = self._kube.list_objects(rtype, label_selector=_SELECTOR)
            except DockyardError as e:
                # VolumeSnapshots need the snapshot CRDs: a cluster without them still shows apps.
                _log.debug("console: cannot list %s: %s", kind, e)
                errors.append(kind)
        return summarise(lists, f"cannot read {', '.join(errors)} from the cluster" if errors else "", now)
