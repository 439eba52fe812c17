"""Guardrails: what tenant documents may ask for, by the rules of ``spec.tenancy`` in platform.yaml.

Every problem names the rule that forbids it: where platform.yaml writes it (file:line and its
path), or that it is the rule's default, or that it is built in and cannot be configured away.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from daemon.loader.checks.context import CheckContext, DocPath, items, mapping
from daemon.loader.documents import Entry
from daemon.loader.guardrails import guardrails
from daemon.loader.hints import json_path
from daemon.model.quantity import parse_quantity
from daemon.model.tenancy import (
    BUILT_IN_RESERVED_NAMESPACES,
    RESERVED_ANNOTATION_PREFIX,
    SYSTEM_SUBJECT_PREFIX,
    TENANT_DOCUMENT_KINDS,
    Guardrails,
)

_TENANCY: Final = ("spec", "tenancy")
_QUOTA_FIELDS: Final = ("cpu", "memory", "storage", "pods")


def check(ctx: CheckContext) -> None:
    rules = guardrails(ctx.platform.spec()) if ctx.platform is not None else Guardrails()
    _reserved_names(ctx, rules)
    for tenant in ctx.valid["Tenant"]:
        _pod_security(ctx, rules, tenant)
        _isolation(ctx, rules, tenant)
        _members(ctx, rules, tenant)
        _quota(ctx, rules, tenant)
    _annotations(ctx, rules)


def rule_ref(ctx: CheckContext, path: DocPath) -> str:
    """``platform.yaml:73 (spec.tenancy.allowedPodSecurity)``, or that it is that rule's default."""
    shown = json_path(path).removeprefix("$.")
    entry = ctx.platform
    if entry is not None and _written(entry, path):
        where = entry.doc.locate(path, key=True)
        return f"{where.file}:{where.line} ({shown})"
    return f"the default of {shown} in platform.yaml"


def _written(entry: Entry, path: DocPath) -> bool:
    value: object = entry.data
    for step in path:
        if not isinstance(value, dict) or step not in value:
            return False
        value = value[step]
    return True


def _reserved_names(ctx: CheckContext, rules: Guardrails) -> None:
    ingress = str(mapping(ctx.platform.spec().get("ingress")).get("namespace", "ingress-nginx")) if ctx.platform else ""
    extra = (*ctx.reserved_namespaces, ingress or "ingress-nginx")
    for entry in ctx.entries:
        if entry.kind != "Tenant" or entry.name is None:
            continue
        pattern = rules.reserving(entry.name, extra)
        if pattern is None:
            continue
        if pattern in BUILT_IN_RESERVED_NAMESPACES:
            why = f"built in ({pattern}): the namespaces of Kubernetes and of Dockyard itself are never tenants"
        elif pattern in ctx.reserved_namespaces:
            why = f"the namespace the Dockyard daemon runs in ({pattern}) is never a tenant"
        elif pattern == ingress:
            why = f"it is the ingress controller's namespace, {rule_ref(ctx, ('spec', 'ingress', 'namespace'))}"
        else:
            why = f"reserved by {rule_ref(ctx, (*_TENANCY, 'reservedNamespaces'))}: {pattern}"
        ctx.report(
            entry,
            ("metadata", "name"),
            f"namespace '{entry.name}' is reserved; no tenant may take it",
            f"{why}; choose another tenant name",
            code="guardrail.reserved-namespace",
        )


def _pod_security(ctx: CheckContext, rules: Guardrails, tenant: Entry) -> None:
    spec = tenant.spec()
    level = spec.get("podSecurity", "baseline")
    if level in rules.allowed_pod_security:
        return
    written = "podSecurity" in spec
    allowed = ", ".join(rules.allowed_pod_security)
    ctx.report(
        tenant,
        ("spec", "podSecurity") if written else ("spec",),
        f"podSecurity '{level}' is not allowed for tenants"
        + ("" if written else " (it is the default when a Tenant sets none)"),
        f"{rule_ref(ctx, (*_TENANCY, 'allowedPodSecurity'))} allows: {allowed}",
        code="guardrail.pod-security",
        key=not written,
    )


def _isolation(ctx: CheckContext, rules: Guardrails, tenant: Entry) -> None:
    network = mapping(tenant.spec().get("network"))
    mode = network.get("isolation", "strict")
    if mode in rules.allowed_isolation:
        return
    written = "isolation" in network
    ctx.report(
        tenant,
        ("spec", "network", "isolation") if written else ("spec",),
        f"network isolation '{mode}' is not allowed for tenants"
        + ("" if written else " (it is the default when a Tenant sets none)"),
        f"{rule_ref(ctx, (*_TENANCY, 'allowedIsolation'))} allows: {', '.join(rules.allowed_isolation)}",
        code="guardrail.isolation",
        key=not written,
    )


def _members(ctx: CheckContext, rules: Guardrails, tenant: Entry) -> None:
    for i, member in enumerate(items(tenant.spec().get("members"))):
        kind, name = member["kind"], member["name"]
        if rules.member_allowed(kind, name):
            continue
        patterns = [p for r in rules.members if r.kind == kind for p in r.names]
        allowed = f"{kind}: " + ", ".join(patterns) if patterns else f"no {kind} members"
        hint = f"{rule_ref(ctx, (*_TENANCY, 'members'))} allows {allowed}"
        if name.startswith(SYSTEM_SUBJECT_PREFIX):
            hint = (
                f"names starting with {SYSTEM_SUBJECT_PREFIX} are Kubernetes' own users and groups, allowed only by "
                f"a pattern that starts with {SYSTEM_SUBJECT_PREFIX} itself; {hint}"
            )
        ctx.report(
            tenant,
            ("spec", "members", i, "name"),
            f"member {kind} '{name}' is not allowed in a tenant",
            hint,
            code="guardrail.member",
        )


def _quota(ctx: CheckContext, rules: Guardrails, tenant: Entry) -> None:
    spec = tenant.spec()
    quota = spec.get("quota")
    maxima = {
        "cpu": rules.quota.max_cpu,
        "memory": rules.quota.max_memory,
        "storage": rules.quota.max_storage,
        "pods": rules.quota.max_pods,
    }
    capped = {k: v for k, v in maxima.items() if v is not None}
    if not isinstance(quota, dict):
        if rules.quota.required or capped:
            needs = f" with at least {', '.join(capped)}" if capped else ""
            ctx.report(
                tenant,
                ("spec",),
                f"tenant '{tenant.name}' sets no quota, and the platform requires one",
                f"add spec.quota{needs}; required by {rule_ref(ctx, (*_TENANCY, 'quota'))}",
                code="guardrail.quota",
                key=True,
            )
        return
    for field in _QUOTA_FIELDS:
        limit = capped.get(field)
        if limit is None:
            continue
        where = rule_ref(ctx, (*_TENANCY, "quota", "max", field))
        if field not in quota:
            ctx.report(
                tenant,
                ("spec", "quota"),
                f"quota.{field} must be set: the platform caps it at {limit}",
                f"without it the tenant's {field} is unlimited; {where}",
                code="guardrail.quota",
                key=True,
            )
        elif _amount(quota[field]) > _amount(limit):
            ctx.report(
                tenant,
                ("spec", "quota", field),
                f"quota.{field} {quota[field]} is more than the platform allows ({limit})",
                f"{where}; ask the platform team for more",
                code="guardrail.quota",
            )


def _amount(value: object) -> Decimal:
    return parse_quantity(value) if isinstance(value, str | int | float) else Decimal(0)


def _annotations(ctx: CheckContext, rules: Guardrails) -> None:
    for entry in ctx.entries:
        if not entry.valid:
            continue
        # An App's podAnnotations reach its pods as its own annotations reach its objects.
        written: list[DocPath] = [
            ("metadata", "annotations", key) for key in mapping(mapping(entry.data.get("metadata")).get("annotations"))
        ]
        if entry.kind == "App":
            written += [("spec", "podAnnotations", key) for key in mapping(entry.spec().get("podAnnotations"))]
        for path in written:
            key = str(path[-1])
            if key.startswith(RESERVED_ANNOTATION_PREFIX):
                ctx.report(
                    entry,
                    path,
                    f"annotation '{key}' is reserved for Dockyard",
                    f"annotations under {RESERVED_ANNOTATION_PREFIX} are set by Dockyard itself (as labels are)",
                    code="guardrail.annotation",
                    key=True,
                )
            elif entry.kind in TENANT_DOCUMENT_KINDS and not rules.annotation_allowed(entry.kind, key):
                prefixes = sorted(
                    {p for r in rules.annotations if entry.kind in r.kinds or "*" in r.kinds for p in r.prefixes}
                )
                allowed = "allows: " + ", ".join(prefixes) if prefixes else "allows none"
                ctx.report(
                    entry,
                    path,
                    f"annotation '{key}' is not allowed on {entry.kind} documents",
                    f"{rule_ref(ctx, (*_TENANCY, 'annotations'))} {allowed} for {entry.kind}",
                    code="guardrail.annotation",
                    key=True,
                )
