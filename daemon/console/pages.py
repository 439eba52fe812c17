"""The console's HTML pages (pure): the data of :mod:`daemon.console.reads`, rendered on the server.

Lists are plain HTML tables and forms (they work without JavaScript); the topology is inline SVG
drawn here. No page has an inline script or style (the Content-Security-Policy forbids them): the
only script and style sheet are the package's own files under ``/static/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from daemon.console.backups import VolumeChain, timeline_span
from daemon.console.html import Markup, el, join, text

__all__ = [
    "Chrome",
    "backups_page",
    "error_page",
    "login_page",
    "operations_page",
    "overview_page",
    "record_page",
    "result_page",
    "topology_page",
]

NAV = (("/", "Overview"), ("/topology", "Topology"), ("/backups", "Backups"), ("/operations", "Operations"))


@dataclass(frozen=True)
class Chrome:
    """What every page carries: who is signed in, the CSRF token for its forms, asset URLs."""

    user: str = ""
    roles: str = ""  # e.g. "admin for *" or "operator for shop"
    csrf: str = ""
    css: str = "/static/console.css"
    js: str = "/static/console.js"
    can_sign_out: bool = False


def _page(title: str, chrome: Chrome, active: str, *body: object) -> str:
    nav = [el("a", "Dockyard", href="/", class_="brand")]
    for href, label in NAV if chrome.user else ():
        nav.append(el("a", label, href=href, class_="active" if href == active else None))
    who: list[object] = []
    if chrome.user:
        who.append(el("span", chrome.user, class_="user", title=chrome.roles))
        who.append(el("span", chrome.roles, class_="roles"))
        if chrome.can_sign_out:
            who.append(
                _form("/logout", chrome, el("button", "Sign out", type="submit", class_="link"), class_="inline")
            )
    head = el(
        "head",
        el("meta", charset="utf-8"),
        el("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("meta", name="csrf-token", content=chrome.csrf or None),
        el("title", f"{title} · Dockyard"),
        el("link", rel="stylesheet", href=chrome.css),
        el("link", rel="icon", href="/static/favicon.svg", type="image/svg+xml"),
        el("script", src=chrome.js, defer=True),
    )
    page = el(
        "html",
        head,
        el(
            "body",
            el("header", el("nav", *nav), el("div", *who, class_="who")),
            el("main", el("div", id="flash", role="status", aria_live="polite"), *body),
        ),
        lang="en",
    )
    return "<!doctype html>\n" + page


def _form(action: str, chrome: Chrome, *fields: object, class_: str = "action", method: str = "post") -> Markup:
    return el(
        "form",
        el("input", type="hidden", name="csrf", value=chrome.csrf) if method == "post" else None,
        *fields,
        method=method,
        action=action,
        class_=class_,
    )


def _hidden(**values: object) -> Markup:
    return join(el("input", type="hidden", name=k, value=v) for k, v in values.items() if v not in (None, ""))


def _short(sha: str | None) -> str:
    return sha[:8] if sha else "—"


def _time(value: str | None) -> Markup:
    if not value:
        return text("—")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return text(value)
    return el("time", moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip(), datetime=value)


def _badge(state: str, label: str | None = None) -> Markup:
    return el("span", label or state, class_=f"badge {state}")


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, empty: str, class_: str = "") -> Markup:
    body = [el("tr", *(el("td", c) for c in row)) for row in rows]
    if not body:
        return el("p", empty, class_="empty")
    return el(
        "table", el("thead", el("tr", *(el("th", h) for h in headers))), el("tbody", *body), class_=class_ or None
    )


# --- pages ---------------------------------------------------------------------------------------


def overview_page(data: Mapping[str, Any], chrome: Chrome, can: Mapping[str, Any]) -> str:
    revision = data.get("revision") or {}
    in_sync = revision and data.get("applied") == revision.get("sha")
    summary = el(
        "section",
        el("h1", "Overview"),
        el(
            "dl",
            el("dt", "Revision"),
            el(
                "dd",
                el("code", _short(revision.get("sha"))),
                " ",
                revision.get("subject", ""),
                " ",
                el("span", revision.get("author", ""), class_="muted"),
            ),
            el("dt", "Applied"),
            el(
                "dd",
                el("code", _short(data.get("applied"))),
                " ",
                _badge("ok", "in sync") if in_sync else _badge("progressing", "changes pending"),
            ),
            el("dt", "Last result"),
            el(
                "dd",
                _badge(_result_class(str(data.get("lastResult", ""))), str(data.get("lastResult", ""))),
                " at ",
                _time(data.get("lastSync")),
            ),
            el("dt", "This replica"),
            el(
                "dd",
                data.get("replica", ""),
                " ",
                _badge("ok", "leader")
                if data.get("leader")
                else _badge("unknown", "standby: reads only, actions go to the leader"),
            ),
            el("dt", "Source") if "source" in data else None,
            el("dd", el("code", data["source"])) if "source" in data else None,
            el("dt", "Notification backlog") if "outboxBacklog" in data else None,
            el("dd", str(data["outboxBacklog"]), " waiting in the outbox") if "outboxBacklog" in data else None,
            class_="facts",
        ),
        _sync_buttons(chrome, can),
        class_="card",
    )
    problems = []
    if data.get("fetchError"):
        problems.append(el("p", "Cannot fetch the platform repo: ", data["fetchError"], class_="alert"))
    if data.get("invalid"):
        invalid = data["invalid"]
        problems.append(
            el(
                "div",
                el("p", "Revision ", el("code", _short(invalid["sha"])), " is invalid and was not applied:"),
                el("ul", *(el("li", el("code", e)) for e in invalid["errors"])),
                el("p", f"and {invalid['more']} more", class_="muted") if invalid["more"] else None,
                class_="alert",
            )
        )
    if data.get("liveError"):
        problems.append(el("p", "Live state: ", data["liveError"], class_="warn"))
    tenants = _table(
        ("Tenant", "Health", "Apps", "Ready", "State", ""),
        (
            (
                el("a", t["name"], href=f"/topology?tenant={t['name']}"),
                _badge(t["health"]),
                str(t["apps"]),
                f"{t['ready']}/{t['desired']}" + (f" · {t['rollingOut']} rolling out" if t["rollingOut"] else ""),
                join(
                    [
                        _badge("paused") if t["paused"] else None,
                        el("span", "waits: ", t["waiting"], class_="muted") if t["waiting"] else None,
                    ],
                    " ",
                ),
                _tenant_buttons(chrome, can, t),
            )
            for t in data.get("tenants", ())
        ),
        empty="No tenant to show.",
        class_="tenants",
    )
    windows = _table(
        ("Window", "Duration", "Action", "Tenants", "Now", "Next opening"),
        (
            (
                el("span", el("code", w["schedule"]), f" on {w['cluster']}" if w.get("cluster") else ""),
                w["duration"],
                w["action"],
                ", ".join(w["tenants"]),
                _badge("ok", "open") if w["open"] else _badge("unknown", "closed"),
                _time(w["nextOpen"]),
            )
            for w in data.get("windows", ())
        ),
        empty="No sync window: changes apply at any time.",
    )
    clusters = _table(
        ("Cluster", "Region", "Applied", "Last result", "Tenants here"),
        (
            (
                el("code", c["name"]),
                c["region"],
                join([el("code", _short(c["applied"])), _badge("ok", "in sync") if c["inSync"] else None], " "),
                join(
                    [
                        _badge(_result_class(str(c["lastResult"])), str(c["lastResult"]) or "not yet"),
                        el("span", f"failing ({c['failures']} cycles)", class_="warn") if c["failures"] else None,
                        el("span", c["lastError"], class_="muted") if c["lastError"] else None,
                    ],
                    " ",
                ),
                ", ".join(c["tenants"]),
            )
            for c in data.get("clusters", ())
        ),
        empty="",
        class_="clusters",
    )
    waiting = data.get("waiting") or {}
    pending = data.get("pending") or []
    pending_block = el(
        "section",
        el("h2", f"Waiting to be applied ({data.get('pendingCount', 0)})"),
        el("ul", *(el("li", t, ": ", r) for t, r in waiting.items())) if waiting else None,
        el("ul", *(el("li", el("code", p)) for p in pending), class_="changes")
        if pending
        else el("p", "Nothing waits.", class_="empty"),
        class_="card",
    )
    alerts = _table(
        ("Alert", "Tenant", "App", "State", "Since"),
        (
            (
                a["rule"],
                a["tenant"],
                a["app"],
                _badge("degraded" if a["phase"] == "firing" else "progressing", a["phase"]),
                _time(a["since"]),
            )
            for a in data.get("alerts", ())
        ),
        empty="No alert is pending or firing.",
    )
    events = _table(
        ("Time", "Event", "Tenant", "Summary"),
        (
            (_time(e["time"]), _badge(_severity(e["severity"]), e["name"]), e["tenant"] or "platform", e["summary"])
            for e in data.get("events", ())
        ),
        empty="No event yet on this replica."
        if data.get("leader")
        else "Only the leader emits events: open the leader's console for them.",
    )
    paused = data.get("paused") or []
    return _page(
        "Overview",
        chrome,
        "/",
        summary,
        *problems,
        el(
            "section",
            el("h2", "Tenants"),
            el("p", "Paused: ", ", ".join("everything" if p == "*" else p for p in paused), class_="warn")
            if paused
            else None,
            tenants,
            class_="card",
        ),
        el("section", el("h2", "Clusters"), clusters, class_="card") if data.get("clusters") else None,
        pending_block,
        el("section", el("h2", "Sync windows"), windows, class_="card"),
        el("section", el("h2", "Alerts"), alerts, class_="card"),
        el("section", el("h2", "Recent events"), events, class_="card"),
    )


def _result_class(result: str) -> str:
    return {"succeeded": "ok", "failed": "degraded", "invalid": "degraded", "skipped": "progressing"}.get(
        result, "unknown"
    )


def _severity(severity: str) -> str:
    return {"critical": "degraded", "warning": "progressing"}.get(severity, "ok")


def _sync_buttons(chrome: Chrome, can: Mapping[str, Any]) -> Markup | None:
    buttons = []
    if can.get("sync"):
        buttons.append(_form("/api/actions/sync", chrome, el("button", "Sync now", type="submit")))
    if can.get("sync_force"):
        buttons.append(
            _form(
                "/api/actions/sync",
                chrome,
                _hidden(force="true"),
                el("button", "Sync ignoring windows", type="submit", class_="danger"),
            )
        )
    if can.get("pause_all"):
        buttons.append(
            _form("/api/actions/pause", chrome, el("button", "Pause everything", type="submit", class_="danger"))
        )
    return el("div", *buttons, class_="actions") if buttons else None


def _tenant_buttons(chrome: Chrome, can: Mapping[str, Any], tenant: Mapping[str, Any]) -> Markup:
    name = tenant["name"]
    if name not in can.get("operate", ()):
        return text("")
    verb = "resume" if tenant["paused"] else "pause"
    return join(
        [
            _form(
                f"/api/actions/{verb}",
                chrome,
                _hidden(tenant=name),
                el("button", verb.capitalize(), type="submit", class_="small"),
            ),
            _form(
                "/api/actions/sync", chrome, _hidden(tenant=name), el("button", "Sync", type="submit", class_="small")
            ),
        ]
    )


def topology_page(
    data: Mapping[str, Any], svg: str, chrome: Chrome, tenants: Sequence[str], scale: Mapping[str, Any] | None
) -> str:
    focus = data.get("focus") or {}
    crumbs: list[object] = [el("a", "All tenants", href="/topology")]
    if focus.get("tenant"):
        crumbs += [" / ", el("a", focus["tenant"], href=f"/topology?tenant={focus['tenant']}")]
    if focus.get("app"):
        crumbs += [" / ", el("strong", focus["app"])]
    picker = _form(
        "/topology",
        chrome,
        el(
            "label",
            "Focus on ",
            el(
                "select",
                el("option", "every tenant", value=""),
                *(el("option", t, value=t, selected=t == focus.get("tenant")) for t in tenants),
                name="tenant",
            ),
        ),
        el("button", "Show", type="submit", class_="small"),
        method="get",
        class_="inline",
    )
    legend = el(
        "p",
        _badge("ok", "ready"),
        " ",
        _badge("progressing", "rolling out"),
        " ",
        _badge("degraded", "not ready"),
        " ",
        _badge("missing", "not in the cluster"),
        " · arrows: allowed flows with their ports (blue: across tenants)"
        " · S Service, D domain, V volume, A autoscaler",
        class_="legend muted",
    )
    notes = [el("p", n, class_="warn") for n in data.get("notes", ())]
    if data.get("liveError"):
        notes.append(el("p", "Live state: ", data["liveError"], class_="warn"))
    scale_form = None
    if scale is not None:
        scale_form = el(
            "section",
            el("h2", f"Scale {scale['tenant']}/{scale['app']}"),
            _form(
                "/api/actions/scale",
                chrome,
                _hidden(tenant=scale["tenant"], app=scale["app"]),
                el(
                    "label",
                    "Replicas ",
                    el(
                        "input",
                        type="number",
                        name="replicas",
                        min="0",
                        max="1000",
                        value=str(scale["replicas"]),
                        required=True,
                    ),
                ),
                el("button", "Commit", type="submit"),
                el("span", f"a commit to the platform repo ({scale['mode']})", class_="muted"),
            ),
            class_="card",
        )
    return _page(
        "Topology",
        chrome,
        "/topology",
        el("section", el("h1", "Topology"), el("p", *crumbs, class_="crumbs"), picker, legend, *notes, class_="card"),
        scale_form,
        el(
            "section",
            Markup(svg),
            class_="graph",
            data_pan="",
            tabindex="0",
            aria_label="topology graph: drag to pan, wheel to zoom",
        ),
    )


def backups_page(
    chains: Sequence[VolumeChain],
    chrome: Chrome,
    now: datetime,
    can_restore: Iterable[str],
    tenant: str | None,
    tenants: Sequence[str],
) -> str:
    allowed = set(can_restore)
    picker = _form(
        "/backups",
        chrome,
        el(
            "label",
            "Tenant ",
            el(
                "select",
                el("option", "every tenant", value=""),
                *(el("option", t, value=t, selected=t == tenant) for t in tenants),
                name="tenant",
            ),
        ),
        el("button", "Show", type="submit", class_="small"),
        method="get",
        class_="inline",
    )
    if len(chains) > MAX_CHAIN_CARDS:
        # A card per volume is some 800 bytes of timeline each: past a few dozen, one line each.
        cards = [_chain_summary(chains)]
    else:
        cards = [_chain_card(c, chrome, now, c.tenant in allowed) for c in chains]
    return _page(
        "Backups",
        chrome,
        "/backups",
        el("section", el("h1", "Backup chains"), picker, class_="card"),
        *(cards or [el("p", "No volume to show.", class_="empty")]),
    )


#: More volumes than this on one page are listed one line each, their chains a tenant at a time.
MAX_CHAIN_CARDS = 40


def _chain_summary(chains: Sequence[VolumeChain]) -> Markup:
    rows = []
    for c in chains:
        ready = [s for s in c.snapshots if s.state == "ready"]
        failed = sum(s.state == "failed" for s in c.snapshots)
        newest = ready[0].taken.isoformat() if ready and ready[0].taken else None
        rows.append(
            (
                el("a", c.tenant, href=f"/backups?tenant={c.tenant}"),
                el("a", c.volume, href=f"/backups?tenant={c.tenant}#vol-{c.volume}"),
                c.schedule or "—",
                f"{len(ready)} ready" + (f", {failed} failed" if failed else ""),
                _time(newest),
                ", ".join(c.next_prune) or "nothing",
            )
        )
    return el(
        "section",
        el("h2", f"{len(chains)} volumes"),
        el("p", "Pick a tenant to see each chain on its timeline and restore from it.", class_="muted"),
        _table(
            ("Tenant", "Volume", "Schedule", "Snapshots", "Newest ready", "Next prune removes"),
            rows,
            empty="No volume.",
        ),
        class_="card",
    )


def _chain_card(chain: VolumeChain, chrome: Chrome, now: datetime, can_restore: bool) -> Markup:
    facts = el(
        "dl",
        el("dt", "Claim"),
        el(
            "dd",
            el("code", chain.claim),
            " ",
            _badge("ok" if chain.claim_phase == "Bound" else "unknown", chain.claim_phase or "not created"),
        ),
        el("dt", "Schedule"),
        el(
            "dd",
            el("code", chain.schedule) if chain.schedule else "no backups scheduled",
            " (UTC)" if chain.schedule else "",
        ),
        el("dt", "Retention"),
        el("dd", chain.retention or "—"),
        el("dt", "Next backup"),
        el("dd", _time(chain.next_backup.isoformat() if chain.next_backup else None)),
        el("dt", "Next prune removes"),
        el(
            "dd",
            ", ".join(chain.next_prune) or "nothing",
            el("span", " (now: " + ", ".join(chain.prunable_now) + ")", class_="warn") if chain.prunable_now else None,
        ),
        el("dt", "Restored from") if chain.restoring_from else None,
        el("dd", el("code", chain.restoring_from)) if chain.restoring_from else None,
        class_="facts",
    )
    rows = []
    for s in chain.snapshots:
        action: object = ""
        if can_restore and s.restorable and chain.restoring_from != s.name:
            action = _form(
                "/api/actions/restore",
                chrome,
                _hidden(tenant=chain.tenant, volume=chain.volume, snapshot=s.name),
                el(
                    "label",
                    el("input", type="checkbox", name="confirm", value="true", required=True),
                    " the apps mount a copy of this backup",
                    class_="confirm",
                ),
                el("button", "Restore", type="submit", class_="small danger"),
            )
        elif chain.restoring_from == s.name:
            action = _badge("progressing", "in use")
        state = s.state if s.state != "ready" else "ok"
        rows.append(
            (
                el("code", s.name),
                _time(s.taken.isoformat() if s.taken else None),
                join(
                    [
                        _badge(state if state != "failed" else "degraded", s.state),
                        el("span", " " + s.error, class_="muted") if s.error else None,
                    ]
                ),
                s.size or "—",
                ", ".join(s.classes)
                or ("kept: " + ", ".join(s.kept_by) if s.kept_by else el("span", "pruned next", class_="warn")),
                action,
            )
        )
    return el(
        "section",
        el("h2", f"{chain.tenant}/{chain.volume}", id=f"vol-{chain.volume}"),
        facts,
        _timeline(chain, now),
        _table(("Snapshot", "Taken", "State", "Size", "Retention", ""), rows, empty="No snapshot yet."),
        class_="card chain",
        data_tenant=chain.tenant,
        data_volume=chain.volume,
    )


def _timeline(chain: VolumeChain, now: datetime) -> Markup:
    """Snapshots as dots on a time axis, the next backup as a hollow one (inline SVG)."""
    width, height, left, right = 900, 70, 20, 20
    start, end = timeline_span(chain, now)
    span = (end - start).total_seconds() or 1.0

    def x(moment: datetime) -> float:
        return left + (width - left - right) * (moment - start).total_seconds() / span

    marks: list[Markup] = [
        el("line", x1=str(left), y1="35", x2=str(width - right), y2="35", class_="axis"),
        el("text", start.strftime("%Y-%m-%d %H:%M"), x=str(left), y="62", class_="tick"),
        el("text", end.strftime("%Y-%m-%d %H:%M"), x=str(width - right), y="62", class_="tick end"),
    ]
    for s in chain.snapshots:
        if s.taken is None:
            continue
        cls = {"ready": "ok", "failed": "degraded", "pending": "progressing", "deleting": "unknown"}[s.state]
        doomed = s.name in chain.next_prune or s.name in chain.prunable_now
        marks.append(
            el(
                "g",
                el(
                    "title",
                    f"{s.name}: {s.state}"
                    + (f", {s.size}" if s.size else "")
                    + (f"; kept by {', '.join(s.kept_by)}" if s.kept_by else "")
                    + ("; removed by the next prune" if doomed else ""),
                ),
                el("circle", cx=f"{x(s.taken):.1f}", cy="35", r="7"),
                el("text", "/".join(c[0].upper() for c in s.classes), x=f"{x(s.taken):.1f}", y="20", class_="cls"),
                class_=f"snap {cls}" + (" doomed" if doomed else ""),
            )
        )
    if chain.next_backup is not None:
        marks.append(
            el(
                "g",
                el("title", f"next backup {chain.next_backup:%Y-%m-%d %H:%M} UTC"),
                el("circle", cx=f"{x(chain.next_backup):.1f}", cy="35", r="7"),
                class_="snap next",
            )
        )
    return el(
        "svg",
        *marks,
        viewBox=f"0 0 {width} {height}",
        class_="timeline",
        role="img",
        aria_label=f"timeline of {len(chain.snapshots)} snapshots",
    )


def operations_page(data: Mapping[str, Any], chrome: Chrome, tenants: Sequence[str]) -> str:
    f = data["filters"]
    kinds = ("", "sync", "drift", "command", "validation", "audit")
    form = _form(
        "/operations",
        chrome,
        el(
            "label",
            "Tenant ",
            el(
                "select",
                el("option", "any", value=""),
                *(el("option", t, value=t, selected=t == f["tenant"]) for t in tenants),
                name="tenant",
            ),
        ),
        el(
            "label",
            "Kind ",
            el("select", *(el("option", k or "any", value=k, selected=k == f["kind"]) for k in kinds), name="kind"),
        ),
        el(
            "label",
            "Action ",
            el("input", type="text", name="action", value=f["action"], placeholder="scale, pause, sync…", size="10"),
        ),
        el("label", "User ", el("input", type="text", name="user", value=f["user"], size="14")),
        el(
            "label",
            "Since ",
            el("input", type="text", name="since", value=f["since"], placeholder="24h or 2024-05-01", size="12"),
        ),
        el("label", "Until ", el("input", type="text", name="until", value=f["until"], size="12")),
        el("button", "Filter", type="submit", class_="small"),
        method="get",
        class_="filters",
    )
    rows = []
    for r in data["records"]:
        revision: object = "—"
        if r["revision"]:
            revision = join(
                [
                    el("a", _short(r["revision"]), href=r["commitUrl"], rel="noreferrer")
                    if r["commitUrl"]
                    else el("code", _short(r["revision"])),
                    " · ",
                    el("a", "plan", href="/operations/record?" + urlencode({"id": r["id"]})),
                ]
            )
        else:
            revision = el("a", "details", href="/operations/record?" + urlencode({"id": r["id"]}))
        rows.append(
            (
                _time(r["started"]),
                join([r["kind"], el("span", " " + r["action"], class_="muted") if r["action"] != r["kind"] else None]),
                _badge(
                    _result_class(r["result"])
                    if r["result"] not in ("allowed", "denied")
                    else ("ok" if r["result"] == "allowed" else "degraded"),
                    r["result"],
                ),
                ", ".join(r["tenants"]) or "platform",
                r["user"] or r["trigger"],
                r["subject"],
                revision,
            )
        )
    return _page(
        "Operations",
        chrome,
        "/operations",
        el(
            "section",
            el("h1", "Operations"),
            form,
            *(el("p", p, class_="warn") for p in data["problems"]),
            class_="card",
        ),
        el(
            "section",
            _table(
                ("Started", "Kind", "Result", "Tenants", "By", "Summary", "Commit"),
                rows,
                empty="No record matches.",
                class_="records",
            ),
            el("p", f"Showing the newest {len(data['records'])}; narrow the filters to see older ones.", class_="muted")
            if data["more"]
            else None,
            class_="card",
        ),
    )


def record_page(data: Mapping[str, Any], chrome: Chrome) -> str:
    counts = data.get("counts") or {}
    return _page(
        "Record",
        chrome,
        "/operations",
        el(
            "section",
            el("h1", f"{data['kind']} {data['result']}"),
            el(
                "dl",
                el("dt", "Started"),
                el("dd", _time(data["started"]), f" ({data['durationSeconds']:.1f} s)"),
                el("dt", "Trigger"),
                el("dd", data["trigger"], " ", data["via"]),
                el("dt", "By"),
                el("dd", data["user"] or "—"),
                el("dt", "Command") if data["command"] else None,
                el("dd", el("code", data["command"])) if data["command"] else None,
                el("dt", "Commit"),
                el(
                    "dd",
                    el("a", data["revision"], href=data["commitUrl"], rel="noreferrer")
                    if data["commitUrl"]
                    else el("code", data["revision"] or "—"),
                    el("div", data["message"], class_="muted"),
                    el("div", "signed by ", data["signer"], class_="muted") if data["signer"] else None,
                ),
                el("dt", "Tenants"),
                el("dd", ", ".join(data["tenants"]) or "platform"),
                el("dt", "Counts") if counts else None,
                el("dd", ", ".join(f"{k} {v}" for k, v in counts.items() if v)) if counts else None,
                class_="facts",
            ),
            class_="card",
        ),
        el(
            "section",
            el("h2", f"The plan as applied ({len(data['changes'])} change(s))"),
            el("ul", *(el("li", el("code", c)) for c in data["changes"]), class_="changes")
            if data["changes"]
            else el("p", "No change.", class_="empty"),
            class_="card",
        ),
        el("section", el("h2", "Errors"), el("ul", *(el("li", el("code", e)) for e in data["errors"])))
        if data["errors"]
        else None,
        el(
            "section",
            el("h2", "Still waiting from this revision"),
            el("ul", *(el("li", el("code", c)) for c in data["pendingNow"])),
        )
        if data.get("pendingNow")
        else None,
        el("p", f"{data['hidden']} line(s) about other tenants are not shown.", class_="muted")
        if data["hidden"]
        else None,
        el("p", el("a", "← Operations", href="/operations")),
    )


def result_page(
    title: str, message: str, hint: str, chrome: Chrome, status: int, links: Sequence[tuple[str, str]] = ()
) -> str:
    state = "ok" if status < 300 else ("progressing" if status < 400 else "degraded")
    return _page(
        title,
        chrome,
        "",
        el(
            "section",
            el("h1", title),
            el(
                "p",
                _badge(state, "done" if status == 200 else ("handed to the leader" if status == 202 else "not done")),
                " ",
                message,
                class_="result",
            ),
            el("p", hint, class_="muted") if hint else None,
            el("p", join([el("a", label, href=href) for href, label in links], " · ")) if links else None,
            class_="card",
        ),
    )


def error_page(status: int, message: str, chrome: Chrome, *, hint: str = "") -> str:
    return result_page(
        {401: "Sign in", 403: "Not allowed", 404: "Not found"}.get(status, "Error"),
        message,
        hint,
        chrome,
        status,
        [("/", "Overview")] if chrome.user else [("/login", "Sign in")],
    )


def login_page(chrome: Chrome, *, tokens: bool, proxy: bool, message: str = "") -> str:
    body: list[object] = [el("h1", "Sign in to Dockyard")]
    if message:
        body.append(el("p", message, class_="alert"))
    if proxy:
        body.append(
            el(
                "p",
                "This console is meant to be opened through the company's sign-in proxy, which signs you in.",
                class_="muted",
            )
        )
    if tokens:
        body.append(
            el(
                "form",
                el("input", type="hidden", name="csrf", value=chrome.csrf) if chrome.csrf else None,
                el(
                    "label",
                    "Access token ",
                    el(
                        "input",
                        type="password",
                        name="token",
                        autocomplete="current-password",
                        required=True,
                        size="48",
                    ),
                ),
                el("button", "Sign in", type="submit"),
                method="post",
                action="/login",
                class_="login",
            )
        )
    if not tokens and not proxy:
        body.append(
            el(
                "p",
                "No sign-in is configured: start the daemon with --console-trusted-proxy (behind an OIDC proxy) "
                "or --console-tokens FILE.",
                class_="warn",
            )
        )
    return _page("Sign in", chrome, "", el("section", *body, class_="card narrow"))
