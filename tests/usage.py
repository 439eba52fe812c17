"""Simulated resource usage of pods on kwok nodes, and what the metrics API reports for them.

kwok reports a pod's usage from two annotations (see ``devcluster.kwok_metrics``); metrics-server
scrapes kwok every ``RESOLUTION_SECONDS``, so a change shows in the metrics API within about one
resolution, and a new pod needs two scrapes before it shows at all.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from daemon.edges.kube import KubeClient
from daemon.errors import ClusterError
from daemon.model.quantity import parse_quantity
from devcluster.kwok_metrics import USAGE_CPU_ANNOTATION, USAGE_MEMORY_ANNOTATION
from devcluster.metrics import RESOLUTION_SECONDS
from tests.fixtures_cluster import wait_for

#: a new pod: two scrapes, plus the HPA's or kwok's own delays, on a busy machine
FIRST_METRICS_TIMEOUT = 8 * RESOLUTION_SECONDS


def set_usage(kube: KubeClient, namespace: str, pod: str, *, cpu: str | None, memory: str | None) -> None:
    """Sets (a quantity) or clears (``None``) the pod's simulated CPU and memory usage."""
    annotations = {USAGE_CPU_ANNOTATION: cpu, USAGE_MEMORY_ANNOTATION: memory}
    kube.merge_patch(kube.resource_type("v1", "Pod"), namespace, pod, {"metadata": {"annotations": annotations}})


def pod_usage(kube: KubeClient, namespace: str, pod: str) -> tuple[Decimal, Decimal] | None:
    """(CPU cores, memory bytes) of a pod, summed over its containers; None until it has metrics."""
    try:
        item = kube.raw_get(f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{pod}")
    except ClusterError:
        return None
    containers: list[dict[str, Any]] = item.get("containers") or []
    if not containers:
        return None
    cpu = sum((parse_quantity(c["usage"]["cpu"]) for c in containers), Decimal(0))
    memory = sum((parse_quantity(c["usage"]["memory"]) for c in containers), Decimal(0))
    return cpu, memory


def close(measured: Decimal, wanted: str, tolerance: float = 0.02) -> bool:
    """CPU is a rate computed from kwok's counter, so it comes back within a fraction of a
    percent of what was set (249.99m for 250m)."""
    target = parse_quantity(wanted)
    return abs(measured - target) <= target * Decimal(str(tolerance))


def wait_usage(
    kube: KubeClient, namespace: str, pod: str, *, cpu: str, memory: str, timeout: float = FIRST_METRICS_TIMEOUT
) -> tuple[Decimal, Decimal]:
    """Waits until the metrics API reports (about) this usage for the pod."""

    def matches(usage: tuple[Decimal, Decimal] | None) -> bool:
        return usage is not None and close(usage[0], cpu) and close(usage[1], memory)

    found = wait_for(
        lambda: pod_usage(kube, namespace, pod),
        timeout=timeout,
        message=f"metrics of {namespace}/{pod} at cpu {cpu}, memory {memory}",
        until=matches,
        interval=1.0,
    )
    assert found is not None
    return found
