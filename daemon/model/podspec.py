"""What no tenant may put in a Kubernetes object, whatever path it came by (raw manifests, patches):
host-level pod settings, capabilities beyond the Pod Security baseline, external IPs.

Pure functions over plain objects; loader and render both apply them (the loader to manifests as
written, render to objects after patches).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

#: The capabilities the Pod Security baseline level lets a container add.
BASELINE_CAPABILITIES: Final = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
#: Where the pod spec is in each kind that makes pods.
POD_SPEC_PATHS: Final[Mapping[str, tuple[str, ...]]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_HOST_FIELDS: Final = ("hostNetwork", "hostPID", "hostIPC")

Path = tuple[str | int, ...]


def pod_spec(obj: Mapping[str, Any]) -> tuple[Path, Mapping[str, Any]] | None:
    """The pod spec of an object that makes pods, and where it is."""
    path = POD_SPEC_PATHS.get(str(obj.get("kind")))
    if path is None:
        return None
    node: Any = obj
    for step in path:
        node = node.get(step) if isinstance(node, Mapping) else None
    return (path, node) if isinstance(node, Mapping) else None


def violations(obj: Mapping[str, Any]) -> Iterator[tuple[Path, str]]:
    """(path, what is wrong) for everything in ``obj`` that reaches past its namespace's pods."""
    if obj.get("kind") == "Service":
        spec = obj.get("spec") or {}
        if isinstance(spec, Mapping) and spec.get("externalIPs"):
            yield ("spec", "externalIPs"), "externalIPs would capture traffic to addresses the platform owns"
    found = pod_spec(obj)
    if found is None:
        return
    base, spec = found
    for field in _HOST_FIELDS:
        if spec.get(field) is True:
            yield (*base, field), f"{field} is a host-level setting; tenants can never set it"
    if spec.get("hostUsers") is False:
        yield (*base, "hostUsers"), "hostUsers is a host-level setting; tenants can never set it"
    for i, volume in enumerate(spec.get("volumes") or ()):
        if isinstance(volume, Mapping) and "hostPath" in volume:
            yield (*base, "volumes", i, "hostPath"), "hostPath volumes reach into the node; tenants can never use them"
    sec = spec.get("securityContext") or {}
    if isinstance(sec, Mapping):
        yield from _seccomp(sec, (*base, "securityContext"))
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(spec.get(field) or ()):
            if isinstance(container, Mapping):
                yield from _container((*base, field, i), container)


def _seccomp(sec: Mapping[str, Any], path: Path) -> Iterator[tuple[Path, str]]:
    profile = sec.get("seccompProfile") or {}
    if isinstance(profile, Mapping) and profile.get("type") == "Unconfined":
        yield (*path, "seccompProfile"), "an Unconfined seccomp profile is a host-level setting"
    windows = sec.get("windowsOptions") or {}
    if isinstance(windows, Mapping) and windows.get("hostProcess") is True:
        yield (*path, "windowsOptions", "hostProcess"), "hostProcess is a host-level setting; tenants can never set it"


def _container(path: Path, container: Mapping[str, Any]) -> Iterator[tuple[Path, str]]:
    for j, port in enumerate(container.get("ports") or ()):
        if isinstance(port, Mapping) and port.get("hostPort"):
            yield (*path, "ports", j, "hostPort"), "hostPort binds a port of the node; tenants can never use it"
    sec = container.get("securityContext") or {}
    if not isinstance(sec, Mapping):
        return
    base = (*path, "securityContext")
    if sec.get("privileged") is True:
        yield (*base, "privileged"), "privileged is a host-level setting; tenants can never set it"
    if sec.get("procMount") not in (None, "Default"):
        yield (*base, "procMount"), "procMount is a host-level setting; tenants can never set it"
    yield from _seccomp(sec, base)
    capabilities = sec.get("capabilities") or {}
    for k, capability in enumerate((capabilities.get("add") or ()) if isinstance(capabilities, Mapping) else ()):
        if str(capability).upper().removeprefix("CAP_") not in BASELINE_CAPABILITIES:
            yield (*base, "capabilities", "add", k), f"capability {capability} is beyond what the platform allows"
