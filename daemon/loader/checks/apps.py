"""App: domains (each routes to one App, and needs a port), and the canary's image tag.

The App's containers (its own, init containers and sidecars) are checked in ``containers``.
"""

from __future__ import annotations

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
