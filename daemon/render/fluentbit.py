"""The log agent's configuration: Fluent Bit 5.x, in its YAML format (pure).

Every container log on a node (``/var/log/containers``, CRI or Docker format, multi-line records
joined) is read, enriched by the ``kubernetes`` filter with its pod's and namespace's metadata,
and given two top-level fields: ``tenant``, from the label Dockyard puts on a tenant's namespace
(never from a pod label: a tenant writes its own pods' labels, and could claim another tenant's
name), and ``app``, from the pod's ``dockyard.dev/app`` label; plus ``platform``, the Platform's
name. Records of a tenant with an endpoint of its own are re-tagged ``tenant.<name>`` and go
there; everything else (``kube.*``) goes to the platform's endpoint. The agent's own logs are not
read, so a failing endpoint cannot feed its errors back into itself.

Credentials never appear here: an endpoint's ``secretRef`` becomes ``${...}`` references to
environment variables the DaemonSet fills from that Secret (:attr:`AgentConfig.secrets`).
:mod:`daemon.policy.fluentbit` checks the result strictly, since Fluent Bit's own dry run cannot
run where Dockyard's tests do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from daemon.model.kinds import LoggingSettings, LogOutput
from daemon.model.labels import APP_LABEL, TENANT_LABEL

#: Where the agent keeps its read positions on each node (a hostPath, so restarts resume).
STATE_DIR = "/var/lib/dockyard-logging"
CONFIG_DIR = "/fluent-bit/etc/dockyard"
CONFIG_FILE = "fluent-bit.yaml"
HTTP_PORT = 2020
#: The tail input's tag: ``kube.`` + the file's path with ``/`` as ``.``.
INPUT_TAG = "kube.*"
LOG_PATH = "/var/log/containers"
#: Delivery attempts per chunk before it is dropped; memory is bounded by the input's buffer.
RETRY_LIMIT = 10
DEFAULT_LOKI_PATH = "/loki/api/v1/push"


@dataclass(frozen=True)
class SecretEnv:
    """An environment variable of the agent filled from a key of a Secret."""

    name: str
    secret: str
    key: str


@dataclass(frozen=True)
class AgentConfig:
    config: dict[str, Any]
    secrets: tuple[SecretEnv, ...]

    #: environment variables every agent has (not from Secrets)
    PLAIN_ENV = ("NODE_NAME",)

    @property
    def env_names(self) -> frozenset[str]:
        return frozenset({*self.PLAIN_ENV, *(s.name for s in self.secrets)})


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _credentials(output: LogOutput, prefix: str) -> tuple[dict[str, str], tuple[SecretEnv, ...]]:
    """The properties that carry an output's credentials, and where their variables come from."""
    if output.secret is None:
        return {}, ()
    if output.kind == "forward":
        env = SecretEnv(f"{prefix}_SHARED_KEY", output.secret, "sharedKey")
        return {"shared_key": f"${{{env.name}}}"}, (env,)
    user = SecretEnv(f"{prefix}_USERNAME", output.secret, "username")
    password = SecretEnv(f"{prefix}_PASSWORD", output.secret, "password")
    return {"http_user": f"${{{user.name}}}", "http_passwd": f"${{{password.name}}}"}, (user, password)


def _output(output: LogOutput, match: str, prefix: str, platform: str) -> tuple[dict[str, Any], tuple[SecretEnv, ...]]:
    common: dict[str, Any] = {"match": match, "host": output.host, "port": output.port, "tls": _on(output.tls)}
    if output.tls:
        common["tls.verify"] = "on"
    credentials, env = _credentials(output, prefix)
    if output.kind == "http":
        body = {
            "name": "http",
            **common,
            "uri": output.path or "/",
            "format": output.format,
            "json_date_key": "time",
            "json_date_format": "iso8601",
        }
    elif output.kind == "elasticsearch":
        body = {
            "name": "es",
            **common,
            **({"path": output.path} if output.path else {}),
            "logstash_format": "on",
            "logstash_prefix": output.index,
            "suppress_type_name": "on",
            "replace_dots": "on",
        }
    elif output.kind == "loki":
        body = {
            "name": "loki",
            **common,
            "uri": output.path or DEFAULT_LOKI_PATH,
            "labels": (
                f"job=dockyard-logging, platform={platform}, tenant=$tenant, app=$app, "
                "namespace=$kubernetes['namespace_name']"
            ),
            "line_format": "json",
        }
    else:
        body = {"name": "forward", **common, "self_hostname": "${NODE_NAME}"}
    return {**body, **credentials, "retry_limit": RETRY_LIMIT}, env


def _filters(logging: LoggingSettings, platform: str) -> list[dict[str, Any]]:
    lift = {"name": "nest", "match": INPUT_TAG, "operation": "lift"}
    filters: list[dict[str, Any]] = [
        {
            "name": "kubernetes",
            "match": INPUT_TAG,
            "merge_log": "on",
            "keep_log": "off",
            "labels": "on",
            "annotations": "off",
            # Fluent Bit 5 puts these in a map of their own, kubernetes_namespace.labels.
            "namespace_labels": "on",
            "k8s-logging.exclude": "on",
        },
        # Lift the label maps to the top so modify can reach them, then put kubernetes back.
        {**lift, "nested_under": "kubernetes_namespace", "add_prefix": "k8sns_"},
        {**lift, "nested_under": "k8sns_labels", "add_prefix": "nslabel_"},
        {**lift, "nested_under": "kubernetes", "add_prefix": "k8s_"},
        {**lift, "nested_under": "k8s_labels", "add_prefix": "podlabel_"},
        {
            "name": "modify",
            "match": INPUT_TAG,
            "copy": [f"nslabel_{TENANT_LABEL} tenant", f"podlabel_{APP_LABEL} app"],
            "add": [f"platform {platform}"],
            "remove_wildcard": ["nslabel_", "podlabel_", "k8sns_"],
        },
        {
            "name": "nest",
            "match": INPUT_TAG,
            "operation": "nest",
            "wildcard": ["k8s_*"],
            "nest_under": "kubernetes",
            "remove_prefix": "k8s_",
        },
    ]
    if logging.routes:
        filters.append(
            {
                "name": "rewrite_tag",
                "match": INPUT_TAG,
                "rule": [f"$tenant ^({r.tenant})$ tenant.{r.tenant} false" for r in logging.routes],
                "emitter_name": "dockyard_tenants",
            }
        )
    return filters


def agent_config(logging: LoggingSettings, platform: str) -> AgentConfig:
    """The agent's whole configuration for ``logging`` on the platform named ``platform``."""
    outputs: list[dict[str, Any]] = []
    secrets: list[SecretEnv] = []
    targets = [(logging.output, INPUT_TAG), *((r.output, f"tenant.{r.tenant}") for r in logging.routes)]
    for i, (output, match) in enumerate(targets):
        body, env = _output(output, match, f"LOG_OUTPUT_{i}", platform)
        outputs.append(body)
        secrets.extend(env)
    config = {
        "service": {
            "flush": 1,
            "log_level": "info",
            "http_server": "on",
            # The kubelet's probes reach the pod's own address; nothing else is served.
            "http_listen": "0.0.0.0",  # noqa: S104
            "http_port": HTTP_PORT,
            "health_check": "on",
        },
        "pipeline": {
            "inputs": [
                {
                    "name": "tail",
                    "tag": INPUT_TAG,
                    "path": f"{LOG_PATH}/*.log",
                    "exclude_path": f"{LOG_PATH}/*_{logging.namespace}_*.log",
                    "multiline.parser": "docker, cri",
                    "db": f"{STATE_DIR}/tail.db",
                    "mem_buf_limit": "50MB",
                    "skip_long_lines": "on",
                    "refresh_interval": 10,
                }
            ],
            "filters": _filters(logging, platform),
            "outputs": outputs,
        },
    }
    return AgentConfig(config, tuple(secrets))
