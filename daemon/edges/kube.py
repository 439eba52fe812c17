"""The Kubernetes edge: the only module that imports ``kubernetes``.

The official client is used for what it does well, reading kubeconfig (contexts, client
certificates, exec plugins and token refresh); requests go through one urllib3 pool with raw
JSON, which is several times faster than the generated models and lets us send server-side
apply patches as they are. Every failure is mapped onto :mod:`daemon.errors`, and every request
is counted by verb so plans and applies can report their API cost.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from daemon.errors import ApplyConflict, ClusterError, ClusterUnavailable, ConfigError, ObjectInvalid

FIELD_MANAGER = "dockyard"
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_CONFLICT_MANAGER = re.compile(r'conflicts? with "([^"]+)"')


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{quote(namespace)}/{self.plural}"
        return f"{base}/{self.plural}"

    def object_path(self, namespace: str | None, name: str) -> str:
        return f"{self.collection_path(namespace)}/{quote(name)}"


#: The kinds Dockyard renders or reads, so the common path needs no discovery round trips.
KNOWN_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", False),
    ResourceType("", "v1", "ConfigMap", "configmaps", True),
    ResourceType("", "v1", "Secret", "secrets", True),
    ResourceType("", "v1", "Service", "services", True),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", True),
    ResourceType("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    ResourceType("", "v1", "PersistentVolume", "persistentvolumes", False),
    ResourceType("", "v1", "ResourceQuota", "resourcequotas", True),
    ResourceType("", "v1", "LimitRange", "limitranges", True),
    ResourceType("", "v1", "Pod", "pods", True),
    ResourceType("", "v1", "Event", "events", True),
    ResourceType("", "v1", "Node", "nodes", False),
    ResourceType("apps", "v1", "Deployment", "deployments", True),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", True),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", True),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", True),
    ResourceType("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True),
    ResourceType("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True),
    ResourceType("networking.k8s.io", "v1", "Ingress", "ingresses", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    ResourceType("storage.k8s.io", "v1", "StorageClass", "storageclasses", False),
    ResourceType("snapshot.storage.k8s.io", "v1", "VolumeSnapshotClass", "volumesnapshotclasses", False),
    ResourceType("snapshot.storage.k8s.io", "v1", "VolumeSnapshot", "volumesnapshots", True),
    ResourceType("snapshot.storage.k8s.io", "v1", "VolumeSnapshotContent", "volumesnapshotcontents", False),
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True),
    ResourceType("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False),
)


class ObjectLister(Protocol):
    """The listing part of :class:`KubeClient`: what the leader's watchers (scaling, alerts,
    cluster health) need, so tests can hand them a cluster of their own."""

    def list_objects(
        self,
        rtype: ResourceType,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> list[dict[str, Any]]: ...


class KubeClient:
    """A small, thread-safe Kubernetes REST client speaking raw JSON."""

    def __init__(
        self,
        kubeconfig: str | None = None,
        *,
        context: str | None = None,
        max_connections: int = 16,
        timeout: float = 30.0,
        kubeconfig_data: Mapping[str, Any] | None = None,
    ) -> None:
        """``kubeconfig_data``: a kubeconfig already read (from a Secret), instead of a file."""
        config: Any = k8s_client.Configuration()
        try:
            if kubeconfig_data is not None:
                k8s_config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
                    dict(kubeconfig_data), context=context, client_configuration=config
                )
            elif kubeconfig is None and _in_cluster():
                k8s_config.load_incluster_config(client_configuration=config)  # type: ignore[no-untyped-call]
            else:
                k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=kubeconfig, context=context, client_configuration=config
                )
        except (k8s_config.ConfigException, OSError, TypeError, KeyError, AttributeError, ValueError) as e:
            # Only the exception's type for a kubeconfig from a Secret: its message may quote the data.
            where = "(from a Secret)" if kubeconfig_data is not None else kubeconfig or "(default)"
            quotes = kubeconfig_data is not None and not isinstance(e, k8s_config.ConfigException)
            said = f"not a kubeconfig ({type(e).__name__})" if quotes else str(e)
            raise ConfigError(f"cannot load kubeconfig {where}: {said}") from None
        self._config: Any = config
        self.server: str = config.host.rstrip("/")
        self._timeout = urllib3.Timeout(connect=min(timeout, 10.0), read=timeout)
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=max_connections,
            block=True,
            cert_reqs="CERT_REQUIRED" if config.verify_ssl else "CERT_NONE",
            ca_certs=config.ssl_ca_cert,
            cert_file=config.cert_file,
            key_file=config.key_file,
            retries=False,
        )
        # Watches hold their connection for minutes each: they get a pool of their own, so that
        # one per kind never starves the requests of a cycle (or the lease's renewals).
        self._watch_pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=64,  # one per watched kind, kept for the next watch
            block=False,
            cert_reqs="CERT_REQUIRED" if config.verify_ssl else "CERT_NONE",
            ca_certs=config.ssl_ca_cert,
            cert_file=config.cert_file,
            key_file=config.key_file,
            retries=False,
        )
        self._types = {(t.api_version, t.kind): t for t in KNOWN_TYPES}
        self._types_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.requests: Counter[str] = Counter()

    # --- bookkeeping ------------------------------------------------------------------------

    def request_count(self) -> int:
        with self._count_lock:
            return sum(self.requests.values())

    def write_count(self) -> int:
        with self._count_lock:
            return sum(n for verb, n in self.requests.items() if verb in {"apply", "create", "patch", "delete"})

    def reset_counts(self) -> None:
        with self._count_lock:
            self.requests.clear()

    def close(self) -> None:
        self._pool.clear()
        self._watch_pool.clear()

    # --- types --------------------------------------------------------------------------------

    def resource_type(self, api_version: str, kind: str) -> ResourceType:
        with self._types_lock:
            found = self._types.get((api_version, kind))
        if found is not None:
            return found
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        listing = self._request("GET", path, verb="discovery")
        for resource in listing.get("resources", []):
            if resource.get("kind") == kind and "/" not in resource.get("name", "/"):
                rtype = ResourceType(group, version, kind, resource["name"], bool(resource.get("namespaced")))
                with self._types_lock:
                    self._types[(api_version, kind)] = rtype
                return rtype
        raise ClusterError(f"the API server does not serve {kind} in {api_version}", status=404, reason="NotFound")

    def type_of(self, obj: Mapping[str, Any]) -> ResourceType:
        return self.resource_type(obj["apiVersion"], obj["kind"])

    def type_for(self, group: str, kind: str) -> ResourceType:
        """The served type of a kind in a group (for references that carry no version, such as
        inventory entries), preferring the versions Dockyard knows; discovered once per group."""
        with self._types_lock:
            for rtype in self._types.values():
                if rtype.group == group and rtype.kind == kind:
                    return rtype
        if not group:
            return self.resource_type("v1", kind)
        listing = self._request("GET", f"/apis/{group}", verb="discovery")
        version = listing.get("preferredVersion", {}).get("version") or "v1"
        return self.resource_type(f"{group}/{version}", kind)

    # --- verbs ------------------------------------------------------------------------------

    def list_objects(
        self,
        rtype: ResourceType,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> list[dict[str, Any]]:
        """Every object of a type (in one namespace or all), following continue tokens."""
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": str(page_size)}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        while True:
            page = self._request("GET", rtype.collection_path(namespace), params=params, verb="list")
            for item in page.get("items", []):
                # Lists omit each item's apiVersion and kind; put them back so items look like GETs.
                item.setdefault("apiVersion", rtype.api_version)
                item.setdefault("kind", rtype.kind)
                items.append(item)
            token = page.get("metadata", {}).get("continue")
            if not token:
                return items
            params["continue"] = token

    def list_pages(
        self, rtype: ResourceType, *, label_selector: str | None = None, page_size: int = 500
    ) -> Iterator[tuple[list[dict[str, Any]], str]]:
        """Every object of a type (all namespaces), a page at a time, each page with the list's
        resourceVersion (a watch continues from the last one without missing a change). A caller
        that keeps less than whole objects never holds more than one page of them."""
        params: dict[str, str] = {"limit": str(page_size)}
        if label_selector:
            params["labelSelector"] = label_selector
        while True:
            page = self._request("GET", rtype.collection_path(), params=params, verb="list")
            items = page.get("items", [])
            for item in items:
                item.setdefault("apiVersion", rtype.api_version)
                item.setdefault("kind", rtype.kind)
            meta = page.get("metadata", {})
            yield items, str(meta.get("resourceVersion", ""))
            token = meta.get("continue")
            if not token:
                return
            params["continue"] = token

    def watch(
        self,
        rtype: ResourceType,
        *,
        resource_version: str,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> WatchStream:
        """Changes to a type (all namespaces) after ``resource_version``, with bookmarks."""
        params = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
        }
        if label_selector:
            params["labelSelector"] = label_selector
        url = f"{self.server}{rtype.collection_path()}?{urlencode(params)}"
        self._count("watch")
        try:
            response = self._watch_pool.request(
                "GET",
                url,
                headers=self._headers(),
                # The server ends the watch after timeout_seconds; silence past that is a dead link.
                timeout=urllib3.Timeout(connect=self._timeout.connect_timeout, read=timeout_seconds + 30),
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as e:
            raise ClusterUnavailable(f"watch {rtype.plural}: API server unreachable ({type(e).__name__})") from e
        if response.status >= 400:
            data = response.read()
            response.release_conn()
            raise _error_from(response.status, data, f"watch {rtype.plural}")
        return WatchStream(response, rtype)

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self._request("GET", rtype.object_path(namespace, name), verb="get")
        except ClusterError as e:
            if e.status == 404:
                return None
            raise

    def apply(
        self,
        obj: Mapping[str, Any],
        *,
        field_manager: str = FIELD_MANAGER,
        force: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply of ``obj``; raises :class:`ApplyConflict` naming the other managers."""
        rtype = self.type_of(obj)
        meta = obj["metadata"]
        params = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            params["dryRun"] = "All"
        return self._request(
            "PATCH",
            rtype.object_path(meta.get("namespace"), meta["name"]),
            params=params,
            body=obj,
            content_type="application/apply-patch+yaml",
            verb="dry-run" if dry_run else "apply",
        )

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        rtype = self.type_of(obj)
        return self._request("POST", rtype.collection_path(obj["metadata"].get("namespace")), body=obj, verb="create")

    def merge_patch(
        self, rtype: ResourceType, namespace: str | None, name: str, patch: Mapping[str, Any], *, subresource: str = ""
    ) -> dict[str, Any]:
        path = rtype.object_path(namespace, name) + (f"/{subresource}" if subresource else "")
        return self._request("PATCH", path, body=patch, content_type="application/merge-patch+json", verb="patch")

    def json_patch(
        self, rtype: ResourceType, namespace: str | None, name: str, operations: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """An RFC 6902 patch (used with a ``test`` of the resourceVersion, so it applies only to
        the version it was computed from)."""
        return self._request(
            "PATCH",
            rtype.object_path(namespace, name),
            params={"fieldManager": FIELD_MANAGER},
            body=list(operations),
            content_type="application/json-patch+json",
            verb="patch",
        )

    def replace(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        rtype = self.type_of(obj)
        meta = obj["metadata"]
        return self._request("PUT", rtype.object_path(meta.get("namespace"), meta["name"]), body=obj, verb="patch")

    def delete(self, rtype: ResourceType, namespace: str | None, name: str, *, propagation: str = "Background") -> bool:
        """Deletes an object; returns False when it was already gone."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        try:
            self._request("DELETE", rtype.object_path(namespace, name), body=body, verb="delete")
        except ClusterError as e:
            if e.status == 404:
                return False
            raise
        return True

    def raw_get(self, path: str) -> dict[str, Any]:
        return self._request("GET", path, verb="get")

    def probe(self, path: str, *, limit: int = 65536) -> tuple[int, str]:
        """GETs a plain-text endpoint (``/readyz?verbose``): its status and (the start of) its
        body, whatever the status; only a server that cannot be reached raises."""
        self._count("get")
        try:
            response = self._pool.request(
                "GET", f"{self.server}{path}", headers=self._headers(), timeout=self._timeout, preload_content=False
            )
            try:
                body = response.read(limit)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as e:
            raise ClusterUnavailable(f"GET {path}: API server unreachable ({type(e).__name__})") from e
        return int(response.status), body.decode(errors="replace")

    # --- transport --------------------------------------------------------------------------

    def _count(self, verb: str) -> None:
        with self._count_lock:
            self.requests[verb] += 1

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "dockyard"}
        if self._config.refresh_api_key_hook is not None:
            self._config.refresh_api_key_hook(self._config)
        token = self._config.get_api_key_with_prefix("authorization") or self._config.get_api_key_with_prefix(
            "BearerToken"
        )
        if token:
            headers["Authorization"] = token
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        verb: str,
    ) -> dict[str, Any]:
        url = f"{self.server}{path}"
        if params:
            url += "?" + urlencode(params)
        payload = json.dumps(body).encode() if body is not None else None
        self._count(verb)
        try:
            response = self._pool.request(
                method,
                url,
                body=payload,
                headers=self._headers(content_type if payload is not None else None),
                timeout=self._timeout,
            )
        except urllib3.exceptions.HTTPError as e:
            # The exception text may carry the URL; the URL never carries credentials here.
            raise ClusterUnavailable(f"{method} {path}: API server unreachable ({type(e).__name__})") from e
        if response.status >= 400:
            raise _error_from(response.status, response.data, f"{method} {path}")
        data: dict[str, Any] = json.loads(response.data) if response.data else {}
        return data


class WatchStream:
    """One watch connection: iterate for ``(type, object)`` events; ``close`` ends it from any thread."""

    def __init__(self, response: Any, rtype: ResourceType) -> None:
        self._response = response
        self._rtype = rtype

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        buffer = b""
        try:
            for chunk in self._response.stream(64 * 1024, decode_content=True):
                buffer += chunk
                while True:
                    line, newline, rest = buffer.partition(b"\n")
                    if not newline:
                        break
                    buffer = rest
                    if line.strip():
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                            obj.setdefault("apiVersion", self._rtype.api_version)
                            obj.setdefault("kind", self._rtype.kind)
                        yield str(event.get("type", "")), obj
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as e:
            raise ClusterUnavailable(f"watch {self._rtype.plural} ended: {type(e).__name__}") from e
        finally:
            with contextlib.suppress(OSError, urllib3.exceptions.HTTPError):
                self._response.release_conn()  # after close() the socket may be gone already

    def close(self) -> None:
        self._response.shutdown()


def _in_cluster() -> bool:
    import os

    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and not os.environ.get("KUBECONFIG")


def _error_from(status: int, raw: bytes, what: str) -> ClusterError:
    try:
        status_obj = json.loads(raw)
        message = str(status_obj.get("message", ""))
        reason = str(status_obj.get("reason", ""))
    except (ValueError, AttributeError):
        message, reason = raw[:300].decode(errors="replace"), ""
    text = f"{what}: {status} {reason}: {message}".strip()
    if status == 409 and "conflict" in message.lower() and "apply" in message.lower():
        return ApplyConflict(text, managers=sorted(set(_CONFLICT_MANAGER.findall(message))))
    if status == 422:
        return ObjectInvalid(text, status=status, reason=reason)
    if status in _RETRYABLE_STATUS:
        return ClusterUnavailable(text, status=status, reason=reason)
    return ClusterError(text, status=status, reason=reason)
