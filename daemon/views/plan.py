"""Plans and apply results as text, JSON or Markdown (pure formatting)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.model.refs import ObjRef, SourceRef
from daemon.policy.diff import Change
from daemon.policy.plan import ApplyResult, Plan
from daemon.policy.reach import Reach, outside_tenants
from daemon.views.paint import Painter

_SYMBOL = {"create": "+", "update": "~", "prune": "-", "retain": "=", "blocked": "!", "unchanged": " ", "deferred": "…"}
_COLOUR = {
    "create": "green",
    "update": "yellow",
    "prune": "red",
    "retain": "cyan",
    "blocked": "magenta",
    "unchanged": "dim",
    "deferred": "blue",
}
MAX_FIELDS_SHOWN = 20


def summary_line(counts: Mapping[str, int]) -> str:
    parts = [
        f"{counts.get(a, 0)} to {verb}" for a, verb in (("create", "create"), ("update", "update"), ("prune", "prune"))
    ]
    extra = []
    if counts.get("retain"):
        extra.append(f"{counts['retain']} retained")
    if counts.get("deferred"):
        extra.append(f"{counts['deferred']} deferred to the sync window")
    if counts.get("blocked"):
        extra.append(f"{counts['blocked']} held by the prune guard")
    extra.append(f"{counts.get('unchanged', 0)} unchanged")
    return "Plan: " + ", ".join(parts) + "; " + ", ".join(extra) + "."


def plan_text(
    plan: Plan, paint: Painter, *, verbose: bool = False, sources: Mapping[ObjRef, SourceRef] | None = None
) -> str:
    """The plan for a terminal; ``sources`` (from :func:`daemon.render.provenance.sources`) adds
    where each changed object is written in the repo."""
    lines: list[str] = []
    for change in plan.changeset.changes:
        if change.action == "unchanged" and not verbose:
            continue
        lines.append(paint(f"{_SYMBOL[change.action]} {change.action:8} {change.ref}", _COLOUR[change.action]))
        source = (sources or {}).get(change.ref)
        if source is not None and change.action != "unchanged":
            lines.append(paint(f"      from {source.file}:{source.line} ({source.document})", "dim"))
        if change.reason:
            lines.append(f"      {change.reason}")
        lines.extend(_field_lines(change))
    if plan.prune.blocked:
        lines.append(paint(f"! prune held: {plan.prune.reason}", "magenta"))
    reach = outside_tenants(plan, sources)
    if reach:
        lines.append(paint("Outside the tenants' namespaces (review these):", "bold"))
        lines.extend(f"  {r.action:8} {r.ref}{_from(r)}: {r.why}" for r in reach)
    lines.append(paint(summary_line(plan.changeset.counts), "bold"))
    lines.append(f"({plan.requests} API requests)")
    return "\n".join(lines)


def _field_lines(change: Change) -> list[str]:
    shown = change.fields[:MAX_FIELDS_SHOWN]
    lines = [f"      {f.describe()}" for f in shown]
    if len(change.fields) > len(shown):
        lines.append(f"      … and {len(change.fields) - len(shown)} more field(s)")
    return lines


def plan_markdown(plan: Plan, *, revision: str = "", sources: Mapping[ObjRef, SourceRef] | None = None) -> str:
    counts = plan.changeset.counts
    title = f"### Dockyard plan{f' for `{revision[:8]}`' if revision else ''}"
    lines = [title, "", summary_line(counts), ""]
    changed = [c for c in plan.changeset.changes if c.action != "unchanged"]
    if not changed:
        lines.append("No changes. The cluster matches this revision.")
        return "\n".join(lines) + "\n"
    lines += ["| | Action | Object | Details |", "|---|---|---|---|"]
    for change in changed:
        details = "<br>".join(f"`{f.describe()}`".replace("|", "\\|") for f in change.fields[:8])
        if len(change.fields) > 8:
            details += f"<br>… and {len(change.fields) - 8} more"
        if change.reason:
            details = (details + "<br>" if details else "") + change.reason.replace("|", "\\|")
        lines.append(f"| {_SYMBOL[change.action].strip() or ' '} | {change.action} | `{change.ref}` | {details} |")
    if plan.prune.blocked:
        lines += ["", f"> **Prune held:** {plan.prune.reason}"]
    reach = outside_tenants(plan, sources)
    if reach:
        lines += ["", "**Outside the tenants' namespaces** (review these):", ""]
        lines += [f"- {r.action} `{r.ref}`{_from(r)}: {r.why}" for r in reach]
    return "\n".join(lines) + "\n"


def _from(reach: Reach) -> str:
    return f" (from {reach.source})" if reach.source else ""


def plan_json(plan: Plan, sources: Mapping[ObjRef, SourceRef] | None = None) -> dict[str, Any]:
    data = plan.changeset.to_json()
    data["prune"] = {"blocked": plan.prune.blocked, "reason": plan.prune.reason}
    data["apiRequests"] = plan.requests
    data["outsideTenants"] = [
        {"object": str(r.ref), "action": r.action, "source": r.source, "why": r.why}
        for r in outside_tenants(plan, sources)
    ]
    return data


def apply_text(result: ApplyResult, paint: Painter) -> str:
    lines: list[str] = []
    for failed in result.failed:
        lines.append(paint(f"✗ {failed.action} {failed.ref}: {failed.error}", "red"))
    for health in result.health:
        colour = {"healthy": "green", "progressing": "yellow", "degraded": "red"}[health.state]
        lines.append(paint(f"{health.state:11} {health.ref}: {health.message}", colour))
    applied = sum(1 for r in result.results if r.ok and r.action in ("create", "update"))
    status = "succeeded" if result.ok else "finished with problems"
    lines.append(
        paint(
            f"Apply {status}: {applied} applied, {len(result.pruned)} pruned, {len(result.failed)} failed, "
            f"{len(result.unhealthy)} not healthy; {result.writes} writes, {result.requests} API requests, "
            f"{result.duration_seconds:.1f}s.",
            "bold",
        )
    )
    return "\n".join(lines)


def apply_json(result: ApplyResult, sources: Mapping[ObjRef, SourceRef] | None = None) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "plan": plan_json(result.plan, sources),
        "results": [
            {
                "object": str(r.ref),
                "action": r.action,
                "ok": r.ok,
                "error": r.error,
                "conflictManagers": list(r.conflict_managers),
            }
            for r in result.results
        ],
        "pruned": [str(r) for r in result.pruned],
        "health": [{"object": str(h.ref), "state": h.state, "message": h.message} for h in result.health],
        "writes": result.writes,
        "apiRequests": result.requests,
        "durationSeconds": round(result.duration_seconds, 3),
    }
