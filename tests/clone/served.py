"""Objects as the API server returns them: what a manifest says, with the defaults it fills in
(the SetDefaults_* functions of k8s.io/kubernetes/pkg/apis/*/v1) and the fields it allocates.

``extract`` reads objects in this form; tests build manifests and pass them through
:func:`served`, so a default that ``extract`` reported, or took for a choice, shows.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

_PROBE = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
_node_ports = itertools.count(30100)


def served(manifest: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``manifest`` with the server's defaults and allocated fields filled in."""
    obj = copy.deepcopy(manifest)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("namespace", "legacy")
    meta.setdefault("uid", f"uid-{meta.get('name')}")
    meta.setdefault("resourceVersion", "4711")
    meta.setdefault("creationTimestamp", "2025-01-01T00:00:00Z")
    spec = obj.setdefault("spec", {})
    kind = obj.get("kind")
    if kind == "Deployment":
        _deployment(spec)
    elif kind == "StatefulSet":
        _stateful_set(spec)
    elif kind == "Job":
        _job(spec, meta)
    elif kind == "CronJob":
        _cron_job(spec)
    elif kind == "Service":
        _service(spec)
    elif kind == "PersistentVolumeClaim":
        spec.setdefault("volumeMode", "Filesystem")
        obj.setdefault("status", {"phase": "Bound"})
    return obj


def _deployment(spec: dict[str, Any]) -> None:
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxSurge", "25%")
        rolling.setdefault("maxUnavailable", "25%")
    _template(spec["template"], restart="Always")


def _stateful_set(spec: dict[str, Any]) -> None:
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    update = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if update["type"] == "RollingUpdate":
        update.setdefault("rollingUpdate", {"partition": 0})
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    for claim in spec.get("volumeClaimTemplates") or ():
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        claim["metadata"].setdefault("creationTimestamp", None)
        claim["spec"].setdefault("volumeMode", "Filesystem")
        claim.setdefault("status", {"phase": "Pending"})
    _template(spec["template"], restart="Always")


def _job(spec: dict[str, Any], meta: dict[str, Any]) -> None:
    _job_spec(spec)
    uid = meta["uid"]
    spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    labels = spec["template"].setdefault("metadata", {}).setdefault("labels", {})
    labels.update(
        {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": meta["name"],
            "controller-uid": uid,
            "job-name": meta["name"],
        }
    )


def _job_spec(spec: dict[str, Any]) -> None:
    if "completions" not in spec and "parallelism" not in spec:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    spec.setdefault("manualSelector", False)
    _template(spec["template"], restart=None)


def _cron_job(spec: dict[str, Any]) -> None:
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    template = spec["jobTemplate"]
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    # Only the pod template inside gets defaults: those of a Job apply when a run is made.
    _template(template["spec"]["template"], restart=None)


def _template(template: dict[str, Any], restart: str | None) -> None:
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    pod = template["spec"]
    if restart is not None:
        pod.setdefault("restartPolicy", restart)
    pod.setdefault("dnsPolicy", "ClusterFirst")
    pod.setdefault("schedulerName", "default-scheduler")
    pod.setdefault("securityContext", {})
    pod.setdefault("terminationGracePeriodSeconds", 30)
    for container in (*pod.get("initContainers", ()), *pod["containers"]):
        _container(container)
    for volume in pod.get("volumes") or ():
        for kind in ("configMap", "secret"):
            if kind in volume:
                volume[kind].setdefault("defaultMode", 420)


def _container(container: dict[str, Any]) -> None:
    image = str(container.get("image"))
    latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or ():
        port.setdefault("protocol", "TCP")
    for var in container.get("env") or ():
        field = (var.get("valueFrom") or {}).get("fieldRef")
        if field is not None:
            field.setdefault("apiVersion", "v1")
    for name in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = container.get(name)
        if probe is None:
            continue
        for key, value in _PROBE.items():
            probe.setdefault(key, value)
        _handler(probe)
    for hook in (container.get("lifecycle") or {}).values():
        _handler(hook)


def _handler(handler: dict[str, Any]) -> None:
    if "httpGet" in handler:
        handler["httpGet"].setdefault("path", "/")
        handler["httpGet"].setdefault("scheme", "HTTP")
    if "grpc" in handler:
        handler["grpc"].setdefault("service", "")


def _service(spec: dict[str, Any]) -> None:
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec.get("clusterIP") != "None":
        spec.setdefault("clusterIP", "10.96.0.17")
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("LoadBalancer", "NodePort"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    for port in spec.get("ports") or ():
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port["port"])
        if kind in ("LoadBalancer", "NodePort"):
            port.setdefault("nodePort", next(_node_ports))
