"""What makes kwok serve the kubelet's resource metrics, so metrics-server has something to scrape.

kwok serves ``/metrics/nodes/<node>/metrics/resource`` (the kubelet's ``/metrics/resource`` in
Prometheus format) once a ``Metric`` object is configured; the usage it reports comes from a
``ClusterResourceUsage`` whose CEL expressions read two pod annotations, so a test raises or lowers
a pod's usage by annotating it (``kwok.x-k8s.io/usage-cpu: 250m``,
``kwok.x-k8s.io/usage-memory: 300Mi``); a pod without them uses 1m CPU and 1Mi memory. Both
documents are copied verbatim from kwok v0.8.0 (Apache-2.0):
kustomize/metrics/resource/metrics-resource.yaml and kustomize/metrics/usage/usage-from-annotation.yaml.
"""

from __future__ import annotations

#: The pod annotations the usage expressions read.
USAGE_CPU_ANNOTATION = "kwok.x-k8s.io/usage-cpu"
USAGE_MEMORY_ANNOTATION = "kwok.x-k8s.io/usage-memory"


def metrics_path(node: str) -> str:
    """Where kwok serves a node's resource metrics; nodes name it in
    ``metrics.k8s.io/resource-metrics-path`` for metrics-server (>= 0.7) to find it."""
    return f"/metrics/nodes/{node}/metrics/resource"


METRICS_YAML = """\
kind: Metric
apiVersion: kwok.x-k8s.io/v1alpha1
metadata:
  name: metrics-resource
spec:
  path: "/metrics/nodes/{nodeName}/metrics/resource"
  metrics:
  - name: scrape_error
    dimension: node
    help: |
      [ALPHA] 1 if there was an error while getting metrics from the node, 0 otherwise
    kind: gauge
    value: '0'
  - name: container_start_time_seconds
    dimension: container
    help: |
      [ALPHA] Start time of the container since unix epoch in seconds
    kind: gauge
    labels:
    - name: container
      value: 'container.name'
    - name: namespace
      value: 'pod.metadata.namespace'
    - name: pod
      value: 'pod.metadata.name'
    value: 'pod.SinceSecond()'
  # CPU of the container
  - name: container_cpu_usage_seconds_total
    dimension: container
    help: |
      [ALPHA] Cumulative cpu time consumed by the container in core-seconds
    kind: counter
    labels:
    - name: container
      value: 'container.name'
    - name: namespace
      value: 'pod.metadata.namespace'
    - name: pod
      value: 'pod.metadata.name'
    value: 'pod.CumulativeUsage("cpu", container.name)'
  # Memory of the container
  - name: container_memory_working_set_bytes
    dimension: container
    help: |
      [ALPHA] Current working set of the container in bytes
    kind: gauge
    labels:
    - name: container
      value: 'container.name'
    - name: namespace
      value: 'pod.metadata.namespace'
    - name: pod
      value: 'pod.metadata.name'
    value: 'pod.Usage("memory", container.name)'
  # CPU of the pod
  - name: pod_cpu_usage_seconds_total
    dimension: pod
    help: |
      [ALPHA] Cumulative cpu time consumed by the pod in core-seconds
    kind: counter
    labels:
    - name: namespace
      value: 'pod.metadata.namespace'
    - name: pod
      value: 'pod.metadata.name'
    value: 'pod.CumulativeUsage("cpu")'
  # Memory of the pod
  - name: pod_memory_working_set_bytes
    dimension: pod
    help: |
      [ALPHA] Current working set of the pod in bytes
    kind: gauge
    labels:
    - name: namespace
      value: 'pod.metadata.namespace'
    - name: pod
      value: 'pod.metadata.name'
    value: 'pod.Usage("memory")'
  # CPU of the node
  - name: node_cpu_usage_seconds_total
    dimension: node
    help: |
      [ALPHA] Cumulative cpu time consumed by the node in core-seconds
    kind: counter
    value: 'node.CumulativeUsage("cpu")'
  # Memory of the node
  - name: node_memory_working_set_bytes
    dimension: node
    help: |
      [ALPHA] Current working set of the node in bytes
    kind: gauge
    value: 'node.Usage("memory")'
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterResourceUsage
metadata:
  name: usage-from-annotation
spec:
  usages:
  - usage:
      cpu:
        expression: |
          "kwok.x-k8s.io/usage-cpu" in pod.metadata.annotations
          ? Quantity(pod.metadata.annotations["kwok.x-k8s.io/usage-cpu"])
          : Quantity("1m")
      memory:
        expression: |
          "kwok.x-k8s.io/usage-memory" in pod.metadata.annotations
          ? Quantity(pod.metadata.annotations["kwok.x-k8s.io/usage-memory"])
          : Quantity("1Mi")
"""
