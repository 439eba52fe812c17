"""Live state kept by watches: one informer per kind, so planning costs no list requests.

An :class:`Informer` lists its kind once (cluster-wide, label-selected), then watches from the
list's resourceVersion with bookmarks, resuming from the last version it saw whenever a watch
ends; a ``410 Gone`` (the version was compacted away) makes it list again, and so does the
periodic resync, the safety net for anything a watch could miss. Each object is kept slimmed
(what the caller's ``slim`` leaves: no status where health does not need it, no managedFields
of controllers) and encoded as compact JSON, decoded only when someone reads it, which keeps
tens of thousands of objects in tens of megabytes.

A change that a person or a controller makes to an object's labels, annotations or spec (its
``digest``) is announced through ``on_change``, and the daemon answers with a drift cycle within
seconds. What Dockyard writes itself is fed in through :meth:`LiveCache.observe` as soon as the
API server answers, so the watch event of our own write finds nothing new to announce.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from daemon.edges.kube import KubeClient, ResourceType, WatchStream
from daemon.errors import ClusterError
from daemon.model.refs import ObjRef

log = logging.getLogger(__name__)

Slim = Callable[[dict[str, Any]], dict[str, Any]]
OnChange = Callable[[ObjRef], None]

#: The longest wait between two attempts of a failing watch.
_MAX_RETRY_SECONDS = 30.0

#: Top-level fields that are not what anyone asks for (the digest of drift ignores them).
_NOT_DESIRED = frozenset({"status", "metadata", "apiVersion", "kind"})


def ref_of(obj: Mapping[str, Any]) -> ObjRef:
    meta = obj.get("metadata", {})
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return ObjRef(group, str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))


def drift_digest(obj: Mapping[str, Any]) -> bytes:
    """What a change must touch to be possible drift: labels, annotations and everything but
    status (controllers' status updates, resourceVersions and managedFields alone never are)."""
    meta = obj.get("metadata", {})
    relevant = {k: v for k, v in obj.items() if k not in _NOT_DESIRED}
    relevant["labels"] = meta.get("labels")
    relevant["annotations"] = meta.get("annotations")
    text = json.dumps(relevant, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=12).digest()


def _newer(candidate: str, current: str) -> bool:
    """Whether a resourceVersion is newer (etcd's are integers; anything else counts as newer)."""
    try:
        return int(candidate) > int(current)
    except ValueError:
        return candidate != current


@dataclass(frozen=True, slots=True)
class CachedObject:
    version: str
    digest: bytes
    blob: bytes

    def decode(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.blob)
        return decoded


class LiveObjects(Mapping[ObjRef, Mapping[str, Any]]):
    """A read-only view of live objects that decodes an object only when it is read; its
    resourceVersion is known without decoding."""

    def __init__(self, entries: Mapping[ObjRef, CachedObject]) -> None:
        self._entries = entries

    def __getitem__(self, ref: ObjRef) -> dict[str, Any]:
        return self._entries[ref].decode()

    def __iter__(self) -> Iterator[ObjRef]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, ref: object) -> bool:
        return ref in self._entries

    def version(self, ref: ObjRef) -> str | None:
        entry = self._entries.get(ref)
        return None if entry is None else entry.version


class Informer:
    """List once, then watch: one kind's objects under one label selector, kept current."""

    def __init__(
        self,
        kube: KubeClient,
        rtype: ResourceType,
        selector: str,
        *,
        slim: Slim,
        on_change: OnChange,
        resync_seconds: float,
        watch_seconds: int = 300,
        retry_seconds: float = 1.0,
    ) -> None:
        self._kube = kube
        self.rtype = rtype
        self.selector = selector
        self._slim = slim
        self._on_change = on_change
        self._resync_seconds = resync_seconds
        self._watch_seconds = watch_seconds
        self._retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._objects: dict[ObjRef, CachedObject] = {}
        self._version = ""
        self._synced = threading.Event()
        self._stopped = threading.Event()
        self._stream: WatchStream | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{rtype.plural}", daemon=True)
        self.relists = 0
        #: why the first list failed, while it has not succeeded (a kind not served, no RBAC)
        self.error: ClusterError | None = None

    # --- reading ------------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def snapshot(self) -> dict[ObjRef, CachedObject]:
        with self._lock:
            return dict(self._objects)

    def observe(self, obj: Mapping[str, Any]) -> None:
        """An object as the API server returned it to one of our writes (newer versions win)."""
        self._store(dict(obj), announce=False)

    def forget(self, ref: ObjRef) -> None:
        with self._lock:
            self._objects.pop(ref, None)

    # --- running ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            # The watch thread may be closing it too (its watch just ended): the socket is then
            # gone already, which is what stopping wants.
            with contextlib.suppress(OSError):
                stream.close()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        next_resync = 0.0
        delay = self._retry_seconds
        while not self._stopped.is_set():
            try:
                if not self._version or time.monotonic() >= next_resync:
                    self._relist()
                    next_resync = time.monotonic() + self._resync_seconds
                delay = self._retry_seconds
                self._watch()
            except ClusterError as e:
                if e.status == 410:
                    log.info("watch of %s: version %s is gone, listing again", self.rtype.plural, self._version)
                    self._version = ""
                    continue
                if self._stopped.is_set():
                    return
                if not self._synced.is_set():
                    self.error = e
                log.warning("watch of %s failed, retrying in %.0fs: %s", self.rtype.plural, delay, e)
                self._stopped.wait(delay)
                delay = min(delay * 2, _MAX_RETRY_SECONDS)
            except Exception:  # a bug must not end the watch for good; it is logged and retried
                if self._stopped.is_set():
                    return
                log.exception("watch of %s crashed, retrying", self.rtype.plural)
                self._version = ""
                self._stopped.wait(delay)
                delay = min(delay * 2, _MAX_RETRY_SECONDS)

    def _relist(self) -> None:
        fresh: dict[ObjRef, CachedObject] = {}
        version = ""
        for items, page_version in self._kube.list_pages(self.rtype, label_selector=self.selector):
            version = page_version  # the last page's is the list's
            for item in items:
                fresh[ref_of(item)] = self._encode(item)
        with self._lock:
            old, self._objects = self._objects, fresh
            self._version = version
        self.relists += 1
        self.error = None
        if self._synced.is_set():
            # Anything that changed while nobody watched (a resync, a relist after 410).
            for ref in set(old) | set(fresh):
                before, after = old.get(ref), fresh.get(ref)
                if before is None or after is None or before.digest != after.digest:
                    self._on_change(ref)
        self._synced.set()

    def _watch(self) -> None:
        stream = self._kube.watch(
            self.rtype,
            resource_version=self._version,
            label_selector=self.selector,
            timeout_seconds=self._watch_seconds,
        )
        self._stream = stream
        try:
            for kind, obj in stream:
                if self._stopped.is_set():
                    return
                if kind == "BOOKMARK":
                    self._version = str(obj.get("metadata", {}).get("resourceVersion", self._version))
                elif kind == "ERROR":
                    code = int(obj.get("code", 0) or 0)
                    raise ClusterError(f"watch of {self.rtype.plural}: {obj.get('message', '')}", status=code)
                elif kind == "DELETED":
                    self._delete(obj)
                else:
                    self._store(obj, announce=True)
        finally:
            self._stream = None

    def _encode(self, obj: dict[str, Any]) -> CachedObject:
        slim = self._slim(obj)
        blob = json.dumps(slim, separators=(",", ":")).encode()
        return CachedObject(str(obj.get("metadata", {}).get("resourceVersion", "")), drift_digest(slim), blob)

    def _store(self, obj: dict[str, Any], *, announce: bool) -> None:
        ref = ref_of(obj)
        entry = self._encode(obj)
        with self._lock:
            before = self._objects.get(ref)
            if before is not None and not _newer(entry.version, before.version):
                return  # our own write got here first: nothing new
            self._objects[ref] = entry
            if announce and entry.version:
                self._version = entry.version
        if announce and (before is None or before.digest != entry.digest):
            self._on_change(ref)

    def _delete(self, obj: dict[str, Any]) -> None:
        ref = ref_of(obj)
        version = str(obj.get("metadata", {}).get("resourceVersion", ""))
        with self._lock:
            known = self._objects.pop(ref, None)
            if version:
                self._version = version
        if known is not None:
            self._on_change(ref)


class LiveCache:
    """The informers of the kinds Dockyard plans, started on first use."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        slim: Slim,
        on_change: OnChange = lambda _: None,
        resync_seconds: float = 1800.0,
        sync_timeout: float = 120.0,
    ) -> None:
        self._kube = kube
        self._slim = slim
        self._on_change = on_change
        self._resync_seconds = resync_seconds
        self._sync_timeout = sync_timeout
        self._informers: dict[tuple[str, str, str], Informer] = {}
        self._lock = threading.Lock()
        self._stopped = False

    def informer(self, rtype: ResourceType, selector: str) -> Informer:
        key = (rtype.group, rtype.kind, selector)
        with self._lock:
            found = self._informers.get(key)
            if found is None:
                if self._stopped:
                    raise ClusterError("the live cache is stopped")
                found = Informer(
                    self._kube,
                    rtype,
                    selector,
                    slim=self._slim,
                    on_change=self._on_change,
                    resync_seconds=self._resync_seconds,
                )
                self._informers[key] = found
                found.start()
        return found

    def objects(self, rtypes: Iterable[ResourceType], selector: str) -> LiveObjects:
        """Every object of these kinds under ``selector``, once each informer has listed."""
        informers = [self.informer(rtype, selector) for rtype in rtypes]
        entries: dict[ObjRef, CachedObject] = {}
        deadline = time.monotonic() + self._sync_timeout
        for informer in informers:
            while not informer.wait_synced(min(0.1, max(deadline - time.monotonic(), 0))):
                error = informer.error
                status = (error.status or 0) if error is not None else 0
                if error is not None and 400 <= status < 500 and status != 429:
                    raise error  # not served, not allowed: waiting will not help
                if time.monotonic() >= deadline:
                    raise ClusterError(f"the watch of {informer.rtype.plural} did not sync in {self._sync_timeout:g}s")
            entries.update(informer.snapshot())
        return LiveObjects(entries)

    def observe(self, obj: Mapping[str, Any]) -> None:
        """Feeds an object returned by one of our writes to the informers that hold its kind."""
        for informer in self._matching(ref_of(obj)):
            if _selected(obj, informer.selector):
                informer.observe(obj)

    def forget(self, ref: ObjRef) -> None:
        for informer in self._matching(ref):
            informer.forget(ref)

    def relists(self) -> int:
        with self._lock:
            return sum(i.relists for i in self._informers.values())

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            informers = list(self._informers.values())
        for informer in informers:
            informer.stop()

    def _matching(self, ref: ObjRef) -> list[Informer]:
        with self._lock:
            return [i for (g, k, _), i in self._informers.items() if (g, k) == (ref.group, ref.kind)]


def _selected(obj: Mapping[str, Any], selector: str) -> bool:
    """Whether an object matches an equality selector (``key=value``, comma-separated)."""
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True
