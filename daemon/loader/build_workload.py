"""Typed workloads (App, and the containers, files and security they share) from schema-valid documents.

Like :mod:`daemon.loader.build`, everything here may assume the document passed its schema and
only converts: quantities to the strings Kubernetes wants, defaults filled in, YAML booleans in
environment values as the text people meant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.loader import formats
from daemon.loader.build import Data, metadata
from daemon.model.kinds import (
    App,
    Canary,
    Container,
    EnvVar,
    Job,
    KeyRef,
    Port,
    Probe,
    Probes,
    Resources,
    Scratch,
    Strategy,
    VolumeMount,
)
from daemon.model.refs import SourceRef
from daemon.model.workload import (
    Expose,
    FileMount,
    FileSource,
    PreStop,
    Scheduling,
    SecurityContext,
    Toleration,
)

_EMPTY: Data = {}


def _map(data: Data, key: str) -> Data:
    value = data.get(key)
    return value if isinstance(value, Mapping) else _EMPTY


def _list(data: Data, key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _strings(data: Data, key: str) -> tuple[str, ...]:
    return tuple(str(v) for v in data[key]) if key in data else ()


def _quantity(data: Data, key: str) -> str | None:
    value = data.get(key)
    return None if value is None else formats.quantity_text(value)


def env(items: list[Any]) -> tuple[EnvVar, ...]:
    out = []
    for item in items:
        value = item.get("value")
        if isinstance(value, bool):
            value = str(value).lower()  # what a person who wrote `true` means, not Python's "True"
        secret = _map(item, "secretRef")
        config = _map(item, "configMapRef")
        out.append(
            EnvVar(
                name=item["name"],
                value=None if value is None else str(value),
                secret_ref=KeyRef(secret["name"], secret["key"]) if secret else None,
                config_map_ref=KeyRef(config["name"], config["key"]) if config else None,
                field_path=item.get("field"),
            )
        )
    return tuple(out)


def ports(items: list[Any]) -> tuple[Port, ...]:
    return tuple(
        Port(p["name"], p["port"], p.get("protocol", "TCP"), p.get("servicePort"), p.get("nodePort")) for p in items
    )


def _probe(data: Data) -> Probe | None:
    if not data:
        return None
    return Probe(
        http=data.get("http"),
        tcp=data.get("tcp"),
        command=_strings(data, "command"),
        grpc=data.get("grpc"),
        grpc_service=data.get("grpcService"),
        port=data.get("port"),
        scheme=data.get("scheme"),
        headers={str(k): str(v) for k, v in _map(data, "headers").items()},
        initial_delay_seconds=data.get("initialDelaySeconds"),
        period_seconds=data.get("periodSeconds"),
        failure_threshold=data.get("failureThreshold"),
        timeout_seconds=data.get("timeoutSeconds"),
        success_threshold=data.get("successThreshold"),
    )


def probes(data: Data) -> Probes:
    return Probes(
        readiness=_probe(_map(data, "readiness")),
        liveness=_probe(_map(data, "liveness")),
        startup=_probe(_map(data, "startup")),
    )


def resources(data: Data) -> Resources | None:
    if not data:
        return None
    limits = _map(data, "limits")
    return Resources(
        cpu=_quantity(data, "cpu"),
        memory=_quantity(data, "memory"),
        limit_cpu=_quantity(limits, "cpu"),
        limit_memory=_quantity(limits, "memory"),
        ephemeral_storage=_quantity(data, "ephemeralStorage"),
        limit_ephemeral_storage=_quantity(limits, "ephemeralStorage"),
    )


def mounts(items: list[Any]) -> tuple[VolumeMount, ...]:
    out = []
    for item in items:
        scratch = None
        if "scratch" in item:
            scratch = Scratch(size_limit=_quantity(item, "sizeLimit"), medium=item.get("medium"))
        out.append(
            VolumeMount(
                volume=item["scratch"] if scratch is not None else item["volume"],
                mount_path=item["mountPath"],
                read_only=bool(item.get("readOnly", False)),
                sub_path=item.get("subPath"),
                scratch=scratch,
            )
        )
    return tuple(out)


def _source(data: Data) -> FileSource | None:
    return FileSource(data["name"], data.get("key")) if data else None


def files(items: list[Any]) -> tuple[FileMount, ...]:
    return tuple(
        FileMount(
            path=item["path"],
            content=item.get("content"),
            config_map=_source(_map(item, "configMap")),
            secret=_source(_map(item, "secret")),
            mode=item.get("mode"),
        )
        for item in items
    )


def security(data: Data) -> SecurityContext | None:
    if not data:
        return None
    capabilities = _map(data, "capabilities")
    return SecurityContext(
        run_as_user=data.get("runAsUser"),
        run_as_group=data.get("runAsGroup"),
        run_as_non_root=data.get("runAsNonRoot"),
        read_only_root_filesystem=data.get("readOnlyRootFilesystem"),
        allow_privilege_escalation=data.get("allowPrivilegeEscalation"),
        capabilities_add=_strings(capabilities, "add") if "add" in capabilities else None,
        fs_group=data.get("fsGroup"),
        supplemental_groups=tuple(int(g) for g in _list(data, "supplementalGroups")),
    )


def container(data: Data) -> Container:
    return Container(
        name=data["name"],
        image=data["image"],
        command=_strings(data, "command"),
        args=_strings(data, "args"),
        working_dir=data.get("workingDir"),
        env=env(_list(data, "env")),
        resources=resources(_map(data, "resources")),
        volumes=mounts(_list(data, "volumes")),
        files=files(_list(data, "files")),
        security=security(_map(data, "securityContext")),
        ports=ports(_list(data, "ports")),
        probes=probes(_map(data, "probes")),
    )


def _strategy(data: Data) -> Strategy | None:
    if not data:
        return None
    return Strategy(
        max_surge=data.get("maxSurge", "25%"),
        max_unavailable=data.get("maxUnavailable", 0),
        type=data.get("type", "RollingUpdate"),
        partition=data.get("partition"),
    )


def _pre_stop(data: Data) -> PreStop | None:
    if not data:
        return None
    return PreStop(
        sleep=data.get("sleep"), command=_strings(data, "command"), http=data.get("http"), port=data.get("port")
    )


def _expose(data: Data) -> Expose | None:
    if not data:
        return None
    return Expose(type=data["type"], service=data.get("service"), source_ranges=_strings(data, "sourceRanges"))


def _scheduling(spec: Data) -> Scheduling:
    return Scheduling(
        node_selector={str(k): str(v) for k, v in _map(spec, "nodeSelector").items()},
        tolerations=tuple(
            Toleration(
                key=t.get("key", ""),
                operator=t.get("operator", "Equal"),
                value=t.get("value", ""),
                effect=t.get("effect", ""),
                seconds=t.get("seconds"),
            )
            for t in _list(spec, "tolerations")
        ),
        spread=spec.get("spread", "preferred"),
    )


def app(data: Data, source: SourceRef, tenant_name: str, parameters: Mapping[str, object]) -> App:
    spec = _map(data, "spec")
    canary = _map(spec, "canary")
    return App(
        metadata=metadata(data),
        source=source,
        tenant=tenant_name,
        image=spec["image"],
        replicas=spec.get("replicas", 1),
        command=_strings(spec, "command"),
        args=_strings(spec, "args"),
        env=env(_list(spec, "env")),
        ports=ports(_list(spec, "ports")),
        domains=_strings(spec, "domains"),
        resources=resources(_map(spec, "resources")),
        probes=probes(_map(spec, "probes")),
        volumes=mounts(_list(spec, "volumes")),
        stateful=bool(spec.get("stateful", False)),
        strategy=_strategy(_map(spec, "strategy")),
        canary=Canary(image=canary["image"], weight=canary["weight"], replicas=canary.get("replicas", 1))
        if canary
        else None,
        working_dir=spec.get("workingDir"),
        files=files(_list(spec, "files")),
        init_containers=tuple(container(c) for c in _list(spec, "initContainers")),
        sidecars=tuple(container(c) for c in _list(spec, "sidecars")),
        security=security(_map(spec, "securityContext")),
        service_account=spec.get("serviceAccount"),
        image_pull_secrets=_strings(spec, "imagePullSecrets"),
        pod_annotations={str(k): str(v) for k, v in _map(spec, "podAnnotations").items()},
        scheduling=_scheduling(spec),
        termination_grace_seconds=spec.get("terminationGracePeriodSeconds"),
        pre_stop=_pre_stop(_map(spec, "preStop")),
        expose=_expose(_map(spec, "expose")),
        template=spec.get("template"),
        parameters=dict(parameters),
    )


def job(data: Data, source: SourceRef, tenant_name: str) -> Job:
    spec = _map(data, "spec")
    history = _map(spec, "history")
    scheduling = _scheduling(spec)
    return Job(
        metadata=metadata(data),
        source=source,
        tenant=tenant_name,
        image=spec["image"],
        command=_strings(spec, "command"),
        args=_strings(spec, "args"),
        working_dir=spec.get("workingDir"),
        env=env(_list(spec, "env")),
        resources=resources(_map(spec, "resources")),
        volumes=mounts(_list(spec, "volumes")),
        files=files(_list(spec, "files")),
        init_containers=tuple(container(c) for c in _list(spec, "initContainers")),
        sidecars=tuple(container(c) for c in _list(spec, "sidecars")),
        security=security(_map(spec, "securityContext")),
        service_account=spec.get("serviceAccount"),
        image_pull_secrets=_strings(spec, "imagePullSecrets"),
        # Batch pods have no replicas to spread.
        scheduling=Scheduling(scheduling.node_selector, scheduling.tolerations, "none"),
        termination_grace_seconds=spec.get("terminationGracePeriodSeconds"),
        schedule=formats.normalize_cron(spec["schedule"]) if "schedule" in spec else None,
        timezone=spec.get("timezone", "UTC"),
        concurrency=spec.get("concurrency", "Forbid"),
        starting_deadline_seconds=formats.parse_duration(spec.get("startingDeadline", "1h")),
        keep_succeeded=history.get("succeeded", 3),
        keep_failed=history.get("failed", 3),
        suspend=bool(spec.get("suspend", False)),
        retries=spec.get("retries", 3),
        active_deadline_seconds=formats.parse_duration(spec["activeDeadline"]) if "activeDeadline" in spec else None,
        completions=spec.get("completions"),
        parallelism=spec.get("parallelism"),
        restart_policy=spec.get("restartPolicy", "Never"),
    )
