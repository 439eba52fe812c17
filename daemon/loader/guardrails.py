"""The guardrails of ``spec.tenancy`` as a typed value, from a schema-valid Platform spec (pure).

Shared by the model builder and the checks of tenant documents (``checks/guardrails.py``), which
need the rules before the model exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from daemon.loader import formats
from daemon.model.tenancy import AnnotationRule, Guardrails, Isolation, MemberRule, PodSecurity, QuotaRules
from daemon.model.workload import ServiceType

_DEFAULTS = Guardrails()


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = data.get(key)
    return tuple(str(v) for v in value) if isinstance(value, list) else None


def guardrails(spec: Mapping[str, Any]) -> Guardrails:
    """``spec.tenancy`` of a schema-valid Platform spec, with the schema's defaults."""
    tenancy = spec.get("tenancy")
    if not isinstance(tenancy, Mapping):
        return _DEFAULTS
    quota = _mapping(tenancy, "quota")
    maxima = _mapping(quota, "max")
    members = tenancy.get("members")
    annotations = tenancy.get("annotations")
    return Guardrails(
        reserved_namespaces=_strings(tenancy, "reservedNamespaces") or (),
        allowed_pod_security=cast(
            tuple[PodSecurity, ...], _strings(tenancy, "allowedPodSecurity") or _DEFAULTS.allowed_pod_security
        ),
        allowed_isolation=cast(
            tuple[Isolation, ...], _strings(tenancy, "allowedIsolation") or _DEFAULTS.allowed_isolation
        ),
        members=tuple(MemberRule(m["kind"], tuple(m["names"])) for m in members)
        if isinstance(members, list)
        else _DEFAULTS.members,
        quota=QuotaRules(
            required=bool(quota.get("required", True)),
            max_cpu=_quantity(maxima.get("cpu")),
            max_memory=_quantity(maxima.get("memory")),
            max_storage=_quantity(maxima.get("storage")),
            max_pods=maxima.get("pods"),
        ),
        annotations=tuple(AnnotationRule(tuple(a["kinds"]), tuple(a["prefixes"])) for a in annotations)
        if isinstance(annotations, list)
        else (),
        allowed_service_types=cast(tuple[ServiceType, ...], _strings(tenancy, "allowedServiceTypes") or ()),
        allowed_manifest_kinds=_strings(tenancy, "allowedManifestKinds") or (),
    )


def _quantity(value: object) -> str | None:
    return None if value is None or isinstance(value, bool) else formats.quantity_text(value)  # type: ignore[arg-type]
