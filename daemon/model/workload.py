"""What a workload's pods are made of, beyond the App's own container: files, security, scheduling,
extra containers, exposure (frozen dataclasses the App and other workload kinds share)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

ServiceType = Literal["LoadBalancer", "NodePort"]


#: The longest Job name Kubernetes takes (it becomes a label of the Job's pods).
MAX_JOB_NAME: Final = 63


#: A one-off Job is named ``<name>-<digest>``, the digest this long (see ``render.job``).
JOB_DIGEST_LENGTH: Final = 8


Spread = Literal["preferred", "required", "none"]


@dataclass(frozen=True)
class FileSource:
    """A ConfigMap or Secret of the tenant, and one key of it (None: every key, as a directory)."""

    name: str
    key: str | None = None


@dataclass(frozen=True)
class FileMount:
    """A file (or directory) in a container: inline ``content``, or from a ConfigMap or Secret."""

    path: str
    content: str | None = None
    config_map: FileSource | None = None
    secret: FileSource | None = None
    mode: int | None = None


@dataclass(frozen=True)
class SecurityContext:
    """Who a container runs as and what it may do; ``None`` fields keep the platform's default."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    #: None: the default set; () or a list: exactly these, added back after all are dropped
    capabilities_add: tuple[str, ...] | None = None
    fs_group: int | None = None
    supplemental_groups: tuple[int, ...] = ()


@dataclass(frozen=True)
class Toleration:
    key: str = ""
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str = ""
    effect: str = ""
    seconds: int | None = None


@dataclass(frozen=True)
class PreStop:
    """What runs before SIGTERM: exactly one of a sleep, a command or an HTTP GET."""

    sleep: int | None = None
    command: tuple[str, ...] = ()
    http: str | None = None
    port: str | int | None = None


@dataclass(frozen=True)
class Expose:
    """A LoadBalancer or NodePort Service: the App's own (``service`` None) or a separate one."""

    type: ServiceType
    service: str | None = None
    source_ranges: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scheduling:
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    spread: Spread = "preferred"
