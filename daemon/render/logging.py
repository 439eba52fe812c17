"""``spec.logging`` becomes a log agent on every node: a Fluent Bit DaemonSet with its
configuration, its ServiceAccount and the read access to pods and namespaces its ``kubernetes``
filter needs, in a platform namespace of its own (pure).

The namespace runs at Pod Security ``privileged``: the agent reads the nodes' log files through
a hostPath volume, which ``baseline`` forbids. The agent tolerates every taint, so control-plane
and tainted nodes ship their logs too, and runs as root (the log files are root's) with no
capability and a read-only root file system. A change of its configuration changes the pod
template (a hash of it), so the agents roll.
"""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from daemon.model.kinds import Platform
from daemon.model.refs import Metadata
from daemon.render.fluentbit import CONFIG_DIR, CONFIG_FILE, HTTP_PORT, LOG_PATH, STATE_DIR, AgentConfig, agent_config
from daemon.render.meta import object_meta

AGENT = "dockyard-log-agent"
CONFIG_HASH_ANNOTATION = "dockyard.dev/config-hash"


def _meta(platform: Platform, name: str, revision: str, namespace: str | None, **kwargs: Any) -> dict[str, Any]:
    return object_meta(
        name,
        source=platform.source,
        revision=revision,
        namespace=namespace,
        extra_labels={"app.kubernetes.io/name": AGENT, "app.kubernetes.io/component": "logging"},
        **kwargs,
    )


def render_logging(platform: Platform, revision: str) -> list[dict[str, Any]]:
    logging = platform.logging
    if logging is None:
        return []
    ns = logging.namespace
    agent = agent_config(logging, platform.metadata.name)
    text = yaml.safe_dump(agent.config, sort_keys=False)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _meta(
            platform,
            ns,
            revision,
            None,
            user=Metadata(
                ns,
                labels={
                    "pod-security.kubernetes.io/enforce": "privileged",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            ),
        ),
    }
    subject = {"kind": "ServiceAccount", "name": AGENT, "namespace": ns}
    return [
        namespace,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(platform, AGENT, revision, ns)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(platform, AGENT, revision, None),
            "rules": [{"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get", "list", "watch"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(platform, AGENT, revision, None),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": AGENT},
            "subjects": [subject],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(platform, AGENT, revision, ns),
            "data": {CONFIG_FILE: text},
        },
        _daemon_set(platform, revision, ns, logging.image, agent, digest),
        _network_policy(platform, revision, ns),
    ]


def _network_policy(platform: Platform, revision: str, ns: str) -> dict[str, Any]:
    """The agent takes no traffic but its metrics port and may send anywhere (its outputs are
    the platform's to choose, and the API server's address is the cluster's)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(platform, AGENT, revision, ns),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": AGENT}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": HTTP_PORT}]}],
            "egress": [{}],
        },
    }


def _env(agent: AgentConfig) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    env += [{"name": s.name, "valueFrom": {"secretKeyRef": {"name": s.secret, "key": s.key}}} for s in agent.secrets]
    return env


def _daemon_set(
    platform: Platform, revision: str, ns: str, image: str, agent: AgentConfig, digest: str
) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": AGENT}
    probe = {"httpGet": {"path": "/api/v1/health", "port": "http"}, "periodSeconds": 30}
    container = {
        "name": "fluent-bit",
        "image": image,
        "args": [f"--config={CONFIG_DIR}/{CONFIG_FILE}"],
        "env": _env(agent),
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "livenessProbe": {**probe, "initialDelaySeconds": 30},
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
        "imagePullPolicy": "Always",
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi", "ephemeral-storage": "16Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi", "ephemeral-storage": "256Mi"},
        },
        "securityContext": {
            "runAsUser": 0,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "containers", "mountPath": LOG_PATH, "readOnly": True},
            # /var/log/containers holds links into /var/log/pods.
            {"name": "pods", "mountPath": "/var/log/pods", "readOnly": True},
            {"name": "state", "mountPath": STATE_DIR},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(platform, AGENT, revision, ns),
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {
                    "labels": {**labels, "app.kubernetes.io/managed-by": "dockyard"},
                    "annotations": {CONFIG_HASH_ANNOTATION: digest},
                },
                "spec": {
                    "serviceAccountName": AGENT,
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": AGENT}},
                        {"name": "containers", "hostPath": {"path": LOG_PATH}},
                        {"name": "pods", "hostPath": {"path": "/var/log/pods"}},
                        {"name": "state", "hostPath": {"path": STATE_DIR, "type": "DirectoryOrCreate"}},
                    ],
                },
            },
        },
    }
