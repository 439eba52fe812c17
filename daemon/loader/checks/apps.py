"""App: domains (each routes to one App, and needs a port), the canary, and rollout settings that
fit the workload (Deployment or StatefulSet).

The App's containers (its own, init containers and sidecars) are checked in ``containers``.
"""

from __future__ import annotations

from typing import Any

from daemon.loader.checks.containers import image_tag
from daemon.loader.checks.context import CheckContext, items, mapping, where
from daemon.loader.documents import Entry


def check(ctx: CheckContext) -> None:
    domains: dict[str, tuple[Entry, int]] = {}
    for entry in ctx.valid["App"]:
        spec = entry.spec()
        for i, domain in enumerate(items(spec.get("domains"))):
            if domain in domains:
                other, index = domains[domain]
                ctx.report(
                    entry,
                    ("spec", "domains", i),
                    f"domain '{domain}' is already claimed by App '{other.tenant}/{other.name}'",
                    f"see {where(other, ('spec', 'domains', index))}; a domain routes to one App",
                    code="ref.domain",
                )
            else:
                domains[domain] = (entry, i)
        if spec.get("domains") and not spec.get("ports"):
            ctx.report(
                entry,
                ("spec", "domains"),
                "domains need a port to route to",
                "add spec.ports; the Ingress sends traffic to the first port",
                code="value.domains",
                key=True,
            )
        canary = mapping(spec.get("canary"))
        if canary:
            image_tag(ctx, entry, ("spec", "canary", "image"), canary.get("image"))
            if not spec.get("domains") and not spec.get("stateful"):
                ctx.report(
                    entry,
                    ("spec", "canary"),
                    "a canary splits the traffic of the App's domains at the Ingress, and this App has none",
                    "add spec.domains, or roll out with strategy (maxSurge, maxUnavailable) instead",
                    code="value.canary",
                    key=True,
                )
            if spec.get("stateful"):
                ctx.report(
                    entry,
                    ("spec", "canary"),
                    "a canary needs a Deployment: a stateful App's pods keep their identity and roll out in order",
                    "use strategy.partition for a staged rollout of some replicas",
                    code="value.canary",
                    key=True,
                )
        _strategy(ctx, entry, spec)


#: Rollout settings and the workloads they apply to.
_DEPLOYMENT_ONLY = {
    "maxSurge": "StatefulSets replace one pod at a time",
    "maxUnavailable": "StatefulSets replace one pod at a time",
}
_STATEFUL_ONLY = {"partition": "a Deployment has no ordinals to partition"}


def _strategy(ctx: CheckContext, entry: Entry, spec: dict[str, Any]) -> None:
    strategy = mapping(spec.get("strategy"))
    stateful = bool(spec.get("stateful"))
    kind = strategy.get("type", "RollingUpdate")
    for field, why in (_DEPLOYMENT_ONLY if stateful else _STATEFUL_ONLY).items():
        if field in strategy:
            hint = "use partition for a staged rollout" if stateful else "use maxSurge and maxUnavailable"
            ctx.report(
                entry,
                ("spec", "strategy", field),
                f"{field} does not apply here: {why}",
                hint,
                code="value.strategy",
                key=True,
            )
    if (kind == "Recreate" and stateful) or (kind == "OnDelete" and not stateful):
        workload = "stateful Apps" if stateful else "Deployments"
        ctx.report(
            entry,
            ("spec", "strategy", "type"),
            f"strategy type {kind} is not for {workload}",
            "stateful Apps: RollingUpdate or OnDelete; Deployments: RollingUpdate or Recreate",
            code="value.strategy",
        )
    elif kind in ("Recreate", "OnDelete"):
        for field in ("maxSurge", "maxUnavailable", "partition"):
            if field in strategy and field not in (_DEPLOYMENT_ONLY if stateful else _STATEFUL_ONLY):
                ctx.report(
                    entry,
                    ("spec", "strategy", field),
                    f"{field} does not apply to strategy type {kind}",
                    code="value.strategy",
                    key=True,
                )
