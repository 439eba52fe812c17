"""A revision comparison for people (pure): the summary that matters first, then the object diff
grouped by tenant, as text, Markdown (the merge-request comment) or JSON.

Human forms are bounded: at most ``max_objects`` objects and ``max_fields`` fields each, and at
most ``max_items`` lines per summary section, each cut saying how much was left out ("… and N
more"); :func:`full_diff` and JSON are complete. Text that came from the repo (names, images,
domains) goes into Markdown only inside code spans with backticks and pipes neutralised, so a
hostile value cannot mention people, link somewhere or break the table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.errors import Problem
from daemon.policy.cost import Span
from daemon.policy.diff import FieldChange
from daemon.policy.reachability import AppId, Peer
from daemon.policy.revdiff import ObjectChange
from daemon.policy.review import Comparison, CostChange, FlowChange, Review
from daemon.views.paint import Painter

#: Hidden in the rendered comment; how Dockyard finds its own comment on a merge request again.
COMMENT_MARKER = "<!-- dockyard:review -->"
_SYMBOL = {"create": "+", "update": "~", "delete": "-"}
_COLOUR = {"create": "green", "update": "yellow", "delete": "red"}
_VERB = {"create": "to create", "update": "to update", "delete": "to delete"}


@dataclass(frozen=True)
class SummaryItem:
    section: str
    text: str
    warn: bool = False


# --- wording of the facts -----------------------------------------------------------------------


def _peer(peer: AppId | Peer) -> str:
    return str(peer) if isinstance(peer, AppId) else peer.describe()


def flow_text(change: FlowChange) -> str:
    arrow = f"{_peer(change.source)} -> {_peer(change.target)}"
    scope = " (cross-tenant)" if change.cross_tenant else ""
    if not change.removed:
        what = "new" if change.now == change.added else "more"
        return f"{arrow}: {what}: {change.added.describe()}{scope}"
    if not change.now:
        return f"{arrow}: no longer: {change.removed.describe()}{scope}"
    parts = []
    if change.added:
        parts.append(f"now also {change.added.describe()}")
    parts.append(f"no longer {change.removed.describe()}")
    return f"{arrow}: {', '.join(parts)}{scope}"


def _gib(value: Span) -> str:
    return value.describe(1, "GiB")


def cost_text(change: CostChange, currency: str) -> str:
    before, after = change.before, change.after
    parts = []
    if before.cpu != after.cpu:
        parts.append(f"CPU {before.cpu.describe(2)} -> {after.cpu.describe(2)} cores")
    if before.memory_gib != after.memory_gib:
        parts.append(f"memory {_gib(before.memory_gib)} -> {_gib(after.memory_gib)}")
    for storage_class in sorted(before.storage_gib.keys() | after.storage_gib.keys()):
        old, new = before.storage_gib.get(storage_class, Span()), after.storage_gib.get(storage_class, Span())
        if old != new:
            parts.append(f"storage {storage_class} {_gib(old)} -> {_gib(new)}")
    if before.load_balancers != after.load_balancers:
        parts.append(f"LoadBalancers {before.load_balancers} -> {after.load_balancers}")
    text = f"{change.tenant}: " + (", ".join(parts) or "no request changes")
    if change.cost_before is not None and change.cost_after is not None:
        delta = change.cost_after - change.cost_before
        sign = "+" if delta.high >= 0 and delta.low >= 0 else ""
        text += (
            f"; {currency} {change.cost_before.describe()} -> {change.cost_after.describe()} a month"
            f" ({sign}{delta.describe()})"
        )
    return text


def summary_items(review: Review) -> list[SummaryItem]:
    """The facts a reviewer should read first, most dangerous first, in plain text."""
    items: list[SummaryItem] = []
    for deletion in review.deletions:
        ref = deletion.change.ref
        if deletion.policy:
            why = (
                "stays in the cluster with its data, no longer managed (deletionPolicy Retain)"
                if deletion.kept
                else "deleted with its data (deletionPolicy Delete)"
            )
            items.append(SummaryItem("Deleted", f"{ref}: {why}", warn=not deletion.kept))
        else:
            items.append(SummaryItem("Deleted", str(ref)))
    guard = review.guard
    if guard.blocked:
        items.append(SummaryItem("Mass-deletion guard", guard_text(review), True))
    elif guard.delete:
        items.append(
            SummaryItem(
                "Mass-deletion guard",
                f"deletes {len(guard.delete)} of {review.inventory_size} managed objects: within "
                f"prune.maxFraction={review.head.model.platform.prune.max_fraction:g}, not held",
            )
        )
    for name in review.tenants_added:
        items.append(SummaryItem("Tenant boundaries", f"new tenant {name}", True))
    for name in review.tenants_removed:
        items.append(SummaryItem("Tenant boundaries", f"tenant {name} removed", True))
    for setting in review.settings:
        where = f"{setting.tenant}: " if setting.tenant else "platform: "
        label = " (guardrail)" if setting.guardrail and not setting.tenant else ""
        text = f"{where}{setting.setting}{label}: {setting.before} -> {setting.after}"
        section = "Tenant boundaries" if setting.guardrail else "Platform settings"
        items.append(SummaryItem(section, text, setting.guardrail))
    for member in review.members:
        items.append(SummaryItem("Tenant boundaries", f"{member.tenant}: members: {member.after or member.before}"))
    for flow in review.flows:
        opens = bool(flow.added)
        items.append(
            SummaryItem(
                "Network reachability", flow_text(flow), warn=opens and (flow.cross_tenant or flow.leaves_the_platform)
            )
        )
    for exposure in review.exposure:
        verb = "new" if exposure.added else "removed"
        items.append(
            SummaryItem(
                "Exposure",
                f"{verb} {exposure.what} {exposure.name} ({exposure.tenant}/{exposure.app})",
                warn=exposure.added,
            )
        )
    currency = review.prices.currency if review.prices else ""
    for change in review.costs:
        items.append(SummaryItem("Requests and cost", cost_text(change, currency)))
    if review.costs and review.prices is None:
        items.append(SummaryItem("Requests and cost", "no spec.prices in platform.yaml: requests only, no cost"))
    for tenant, decision in review.windows.items():
        when = f"; next window opens {decision.next_open.isoformat(timespec='minutes')}" if decision.next_open else ""
        items.append(SummaryItem("Sync windows", f"{tenant or 'platform objects'} wait: {decision.reason}{when}", True))
    return items


def guard_text(review: Review) -> str:
    """Why the mass-deletion guard would hold a merge, and what lets it through."""
    deleted, managed = len(review.guard.delete), max(review.inventory_size, 1)
    fraction = review.head.model.platform.prune.max_fraction
    return (
        f"the daemon would hold this change: it deletes {deleted} of {review.inventory_size} managed objects "
        f"({deleted / managed:.0%}), more than prune.maxFraction={fraction:g}. If that is intended, raise "
        "spec.prune.maxFraction in platform.yaml, or merge with a commit message carrying "
        "'dockyard-allow-mass-prune: true'"
    )


def counts_line(review: Review) -> str:
    counts = review.diff.counts
    parts = [f"{counts[a]} {_VERB[a]}" for a in ("create", "update", "delete")]
    return ", ".join(parts) + f", {counts['unchanged']} unchanged"


def status_line(comparison: Comparison) -> str:
    """One line for a commit status: what the verdict is and why."""
    errors = comparison.head_errors
    if errors:
        first = errors[0]
        return f"{len(errors)} error(s); first: {first.file}:{first.line}: {first.message}"
    review = comparison.review
    if comparison.fork:
        return "valid (fork: validated only)"
    if review is None:
        return "valid; the base is invalid, so nothing was compared"
    if review.held:
        return f"valid, but the mass-deletion guard would hold it ({len(review.guard.delete)} deletions)"
    if not review.diff.has_changes:
        return "valid; no change to the rendered objects"
    return f"valid: {counts_line(review)}"


# --- text -----------------------------------------------------------------------------------------


def _problem_lines(problems: Sequence[Problem]) -> list[str]:
    return [p.format() for p in problems]


def _limited(lines: list[str], limit: int, what: str) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"… and {len(lines) - limit} more {what}"]


def _field_text(change: FieldChange) -> str:
    return change.describe()


def _object_lines(
    change: ObjectChange, max_fields: int, line: Callable[[str, str], str], field_line: Callable[[str], str]
) -> list[str]:
    where = f"  ({change.source})" if change.source else ""
    policy = (
        f" [deletionPolicy {change.deletion_policy}]" if change.action == "delete" and change.deletion_policy else ""
    )
    lines = [line(f"{_SYMBOL[change.action]} {change.action:6} {change.ref}{policy}{where}", _COLOUR[change.action])]
    fields = [field_line(_field_text(f)) for f in change.fields]
    return lines + _limited(fields, max_fields, "field(s)")


def _header(comparison: Comparison) -> str:
    head = f"{comparison.head_label} ({comparison.head_sha[:8]})" if comparison.head_sha else comparison.head_label
    return f"Dockyard diff: {comparison.base_label} ({comparison.base_sha[:8]}) -> {head}"


def review_text(
    comparison: Comparison, paint: Painter, *, max_objects: int = 200, max_fields: int = 20, max_items: int = 50
) -> str:
    lines = [paint(_header(comparison), "bold")]
    if comparison.note:
        lines.append(comparison.note)
    if comparison.head_problems:
        lines.append(
            paint(
                "The head is invalid:" if comparison.head_errors else "Warnings of the head:",
                "red" if comparison.head_errors else "yellow",
            )
        )
        lines += [f"  {line}" for line in _problem_lines(comparison.head_problems)]
    if comparison.base_errors:
        lines.append(paint("The base is not a valid platform repo, so there is nothing to compare with:", "red"))
        lines += [f"  {line}" for line in _limited(_problem_lines(comparison.base_errors), 10, "error(s)")]
    review = comparison.review
    if review is None:
        return "\n".join(lines)
    items = summary_items(review)
    if items:
        lines.append(paint("Summary", "bold"))
        section = ""
        shown: dict[str, list[str]] = {}
        for item in items:
            shown.setdefault(item.section, []).append(("! " if item.warn else "  ") + item.text)
        for section, texts in shown.items():
            lines.append(f"  {section}:")
            lines += [f"    {t}" for t in _limited(texts, max_items, "line(s)")]
    if not review.diff.has_changes:
        lines.append("No change to the rendered objects.")
        return "\n".join(lines)
    lines.append(paint(f"Changes: {counts_line(review)}", "bold"))
    budget = max_objects
    hidden = 0
    for tenant, changes in review.diff.by_tenant().items():
        if budget <= 0:
            hidden += len(changes)
            continue
        lines.append(f"  tenant {tenant}" if tenant else "  platform")
        for change in changes[:budget]:
            lines += [f"    {line}" for line in _object_lines(change, max_fields, paint, lambda text: f"    {text}")]
        hidden += max(len(changes) - budget, 0)
        budget -= min(len(changes), budget)
    if hidden:
        lines.append(f"… and {hidden} more object(s): --full-diff-file PATH or --output json has every change")
    return "\n".join(lines)


def full_diff(comparison: Comparison) -> str:
    """Every change with every field, for an artifact file (no limits, no colour)."""
    text = review_text(comparison, Painter(False), max_objects=10**9, max_fields=10**9, max_items=10**9)
    return text + "\n"


# --- Markdown -------------------------------------------------------------------------------------


def code(text: str) -> str:
    """Text from the repo as a Markdown code span that cannot break out of itself or a table."""
    cleaned = text.replace("`", "'").replace("|", "\\|").replace("\n", " ").replace("\r", " ")
    return f"`{cleaned}`"


def _md_problems(problems: Sequence[Problem], limit: int) -> list[str]:
    lines = [f"- {code(p.format())}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"- … and {len(problems) - limit} more")
    return lines


_ICON = {"valid": "✅", "held": "⚠️", "invalid": "❌"}


def review_markdown(
    comparison: Comparison,
    *,
    max_objects: int = 100,
    max_fields: int = 8,
    max_items: int = 30,
    reproduce: str = "",
    full_diff_note: str = "",
) -> str:
    """The merge-request comment (without the marker; the poster adds it)."""
    verdict = comparison.verdict
    head = code(comparison.head_sha[:8]) if comparison.head_sha else comparison.head_label
    lines = [f"### {_ICON[verdict]} Dockyard review: {code(comparison.base_sha[:8])} → {head}", ""]
    if comparison.fork:
        lines += [
            "> This merge request comes from a fork: Dockyard **validated it only**. No secrets were used on",
            "> its code, and nothing of it was rendered or compared; the full review runs once its commits",
            "> are on a branch of this repository.",
            "",
        ]
    if comparison.note:
        lines += [f"_{comparison.note}_", ""]
    errors = comparison.head_errors
    if errors:
        lines += [f"**The head is invalid ({len(errors)} error(s)); the daemon would refuse it whole:**", ""]
        lines += _md_problems(errors, 50)
        lines.append("")
    warnings = [p for p in comparison.head_problems if p.severity == "warning"]
    if warnings:
        lines += [f"<details><summary>{len(warnings)} warning(s)</summary>", ""]
        lines += _md_problems(warnings, 50)
        lines += ["", "</details>", ""]
    if comparison.base_errors:
        lines += ["**The base is not a valid platform repo, so there is nothing to compare with.**", ""]
        lines += _md_problems(comparison.base_errors, 10)
        lines.append("")
    review = comparison.review
    if review is None:
        if not errors and not comparison.base_errors:
            lines.append("The head is a valid platform repo.")
        return _with_footer(lines, reproduce, full_diff_note)
    if review.held:
        lines += [f"> ⚠️ **The mass-deletion guard would hold this merge:** {guard_text(review).split(': ', 1)[1]}", ""]
    items = summary_items(review)
    if items:
        sections: dict[str, list[SummaryItem]] = {}
        for item in items:
            sections.setdefault(item.section, []).append(item)
        for section, entries in sections.items():
            lines.append(f"**{section}**")
            for item in entries[:max_items]:
                lines.append(f"- {'⚠️ ' if item.warn else ''}{code(item.text)}")
            if len(entries) > max_items:
                lines.append(f"- … and {len(entries) - max_items} more")
            lines.append("")
    if not review.diff.has_changes:
        lines.append("No change to the rendered objects.")
        return _with_footer(lines, reproduce, full_diff_note)
    lines += [f"<details><summary>Changes: {counts_line(review)}</summary>", ""]
    budget, hidden = max_objects, 0
    for tenant, changes in review.diff.by_tenant().items():
        if budget <= 0:
            hidden += len(changes)
            continue
        shown = changes[:budget]
        lines += [
            f"#### {'Tenant ' + code(tenant) if tenant else 'Platform'}",
            "",
            "| | Object | Details |",
            "|---|---|---|",
        ]
        for change in shown:
            details = [code(f.describe()) for f in change.fields[:max_fields]]
            if len(change.fields) > max_fields:
                details.append(f"… and {len(change.fields) - max_fields} more field(s)")
            if change.action == "delete" and change.deletion_policy:
                details.append(f"deletionPolicy {code(change.deletion_policy)}")
            if change.source and change.action != "delete":
                details.append(f"from {code(change.source)}")
            lines.append(f"| {_SYMBOL[change.action]} | {code(str(change.ref))} | {'<br>'.join(details)} |")
        lines.append("")
        hidden += len(changes) - len(shown)
        budget -= len(shown)
    if hidden:
        lines += [f"… and {hidden} more object(s).", ""]
    lines += ["</details>", ""]
    return _with_footer(lines, reproduce, full_diff_note)


def _with_footer(lines: list[str], reproduce: str, full_diff_note: str) -> str:
    notes = []
    if full_diff_note:
        notes.append(full_diff_note)
    if reproduce:
        notes.append(f"Reproduce: {code(reproduce)}")
    if notes:
        lines += ["", "<sub>" + " · ".join(notes) + "</sub>"]
    return "\n".join(lines).rstrip("\n") + "\n"


# --- JSON -----------------------------------------------------------------------------------------


def _problem_json(p: Problem) -> dict[str, Any]:
    return {
        "file": p.file,
        "line": p.line,
        "column": p.column,
        "severity": p.severity,
        "message": p.message,
        "path": p.path,
        "hint": p.hint,
        "code": p.code,
    }


def _span(value: Span) -> dict[str, float]:
    return {"min": float(value.low), "max": float(value.high)}


def review_json(comparison: Comparison) -> dict[str, Any]:
    """Everything, for machines (complete: no limits)."""
    data: dict[str, Any] = {
        "base": {
            "ref": comparison.base_label,
            "sha": comparison.base_sha,
            "errors": [_problem_json(p) for p in comparison.base_errors],
        },
        "head": {
            "ref": comparison.head_label,
            "sha": comparison.head_sha,
            "problems": [_problem_json(p) for p in comparison.head_problems],
        },
        "verdict": comparison.verdict,
        "fork": comparison.fork,
        "note": comparison.note,
    }
    review = comparison.review
    if review is None:
        return data
    data["summary"] = [{"section": i.section, "text": i.text, "warning": i.warn} for i in summary_items(review)]
    data["counts"] = review.diff.counts
    data["guard"] = {
        "held": review.guard.blocked,
        "reason": review.guard.reason,
        "delete": [str(r) for r in review.guard.delete],
        "inventory": review.inventory_size,
    }
    data["flows"] = [
        {
            "from": _peer(f.source),
            "to": _peer(f.target),
            "added": f.added.describe() if f.added else "",
            "removed": f.removed.describe() if f.removed else "",
            "now": f.now.describe(),
            "crossTenant": f.cross_tenant,
        }
        for f in review.flows
    ]
    data["costs"] = [
        {
            "tenant": c.tenant,
            "cpuCores": {"before": _span(c.before.cpu), "after": _span(c.after.cpu)},
            "memoryGiB": {"before": _span(c.before.memory_gib), "after": _span(c.after.memory_gib)},
            "storageGiB": {
                "before": {k: _span(v) for k, v in c.before.storage_gib.items()},
                "after": {k: _span(v) for k, v in c.after.storage_gib.items()},
            },
            "loadBalancers": {"before": c.before.load_balancers, "after": c.after.load_balancers},
            "monthly": None
            if c.cost_before is None or c.cost_after is None
            else {
                "before": _span(c.cost_before),
                "after": _span(c.cost_after),
                "currency": review.prices.currency if review.prices else "",
            },
        }
        for c in review.costs
    ]
    data["changes"] = [
        {
            "action": c.action,
            "object": str(c.ref),
            "id": c.ref.id,
            "tenant": c.tenant,
            "source": c.source,
            "fields": [{"path": f.path, "before": f.before, "after": f.after} for f in c.fields],
            **({"deletionPolicy": c.deletion_policy} if c.action == "delete" and c.deletion_policy else {}),
        }
        for c in review.diff.changes
    ]
    return data


def review_json_text(comparison: Comparison) -> str:
    return json.dumps(review_json(comparison), indent=2, default=str) + "\n"


def comment_body(markdown: str, *, max_chars: int, max_bytes: int) -> str:
    """The comment as posted: ``markdown`` and the marker, cut on a line boundary to fit the
    forge's limits (open ``<details>`` closed again), saying that it was cut."""
    suffix = f"\n\n{COMMENT_MARKER}\n"
    body = markdown.rstrip("\n") + suffix
    if len(body) <= max_chars and len(body.encode()) <= max_bytes:
        return body
    note = (
        "\n\n_… cut to fit the forge's comment limit: `dockyard diff` (or the CI job's full-diff artifact) has it all._"
    )
    lines = markdown.splitlines()
    kept: list[str] = []
    size_chars = size_bytes = 0
    reserve_chars = len(note) + len(suffix) + 40
    for line in lines:
        if (
            size_chars + len(line) + 1 + reserve_chars > max_chars
            or size_bytes + len(line.encode()) + 1 + reserve_chars * 4 > max_bytes
        ):
            break
        kept.append(line)
        size_chars += len(line) + 1
        size_bytes += len(line.encode()) + 1
    text = "\n".join(kept)
    opened = text.count("<details>") - text.count("</details>")
    closing = "\n\n</details>" * max(opened, 0)
    return text + closing + note + suffix


def failure_markdown(message: str, *, reproduce: str = "") -> str:
    """The comment when Dockyard could not review the change at all (git or the forge failed)."""
    lines = [
        "### ⛔ Dockyard could not review this change",
        "",
        f"{code(message)}",
        "",
        "It tries again on the next push.",
    ]
    return _with_footer(lines, reproduce, "")
