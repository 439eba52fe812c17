"""Block Kit answers for chat commands (pure): data in, a :class:`Reply` out.

Every view keeps within Slack's limits (50 blocks, 150 characters in a header, 3,000 in a section,
10 fields, 10 context elements) by clipping and saying how much was left out, and escapes text
that came from users (commit messages, names) so it cannot mention ``@channel`` or fake links.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from daemon.chat.commands import USAGE
from daemon.policy.review import Comparison
from daemon.views.review import counts_line, summary_items

__all__ = [
    "AppStatus",
    "HpaStatus",
    "PlatformStatus",
    "RecordLike",
    "Reply",
    "TenantStatus",
    "TenantSummary",
    "denied_view",
    "error_view",
    "help_view",
    "history_view",
    "notice_view",
    "pending_diff_view",
    "platform_status_view",
    "tenant_status_view",
]

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_CONTEXT = 10
MAX_TENANT_LINES = 40
_HEALTH_ICON = {"healthy": "🟢", "progressing": "🟡", "degraded": "🔴", "missing": "⚪"}
_RESULT_ICON = {
    "succeeded": "✅",
    "allowed": "✅",
    "failed": "❌",
    "invalid": "⛔",
    "denied": "🚫",
    "skipped": "⏸️",
    "noop": "▫️",
}


class RecordLike(Protocol):
    """What the history view reads of a ``daemon.history.HistoryRecord`` (kept pure: no import)."""

    @property
    def kind(self) -> str: ...
    @property
    def started(self) -> str: ...
    @property
    def result(self) -> str: ...
    @property
    def revision(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def counts(self) -> Mapping[str, int]: ...
    @property
    def errors(self) -> Sequence[str]: ...
    @property
    def user(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def command(self) -> str: ...


@dataclass(frozen=True)
class Reply:
    """One answer: ``text`` is the notification fallback, ``blocks`` what Slack shows."""

    text: str
    blocks: tuple[dict[str, Any], ...] = ()
    in_channel: bool = False

    def payload(self) -> dict[str, Any]:
        """Arguments for Bolt's ``ack``/``respond``."""
        return {
            "text": self.text,
            "blocks": list(self.blocks),
            "response_type": "in_channel" if self.in_channel else "ephemeral",
        }


# --- building blocks ------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Plain text made safe for mrkdwn: no mentions, links or broadcasts sneak in."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": _clip(text, MAX_HEADER), "emoji": True}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, MAX_SECTION)}}


def _fields(items: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": _clip(i, MAX_FIELD)} for i in items[:MAX_FIELDS]],
    }


def _context(items: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _clip(i, MAX_SECTION)} for i in items[:MAX_CONTEXT]],
    }


def _divider() -> dict[str, Any]:
    return {"type": "divider"}


def _sections(lines: Iterable[str], *, limit: int, what: str) -> list[dict[str, Any]]:
    """Lines packed into as few sections as fit, at most ``limit`` sections."""
    blocks: list[dict[str, Any]] = []
    current: list[str] = []
    size = 0
    all_lines = list(lines)
    shown = 0
    for raw in all_lines:
        line = _clip(raw, MAX_SECTION - 100)
        if size + len(line) + 1 > MAX_SECTION - 100 and current:
            if len(blocks) + 1 >= limit:
                break
            blocks.append(_section("\n".join(current)))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
        shown += 1
    if current:
        blocks.append(_section("\n".join(current)))
    if shown < len(all_lines):
        blocks.append(_context([f"… and {len(all_lines) - shown} more {what}"]))
    return blocks


def _reply(text: str, blocks: list[dict[str, Any]], *, in_channel: bool = False) -> Reply:
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], _context(["… cut short: Slack shows at most 50 blocks"])]
    return Reply(_clip(text, 3000), tuple(blocks), in_channel)


def when(moment: datetime | None) -> str:
    """A time Slack shows in the reader's own time zone."""
    if moment is None:
        return "never"
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{moment.isoformat(timespec='seconds')}>"


def _sha(sha: str) -> str:
    return f"`{sha[:8]}`" if sha else "—"


def _user(value: str) -> str:
    """Audit records keep ``name (U123)``; in Slack the id becomes a mention."""
    name, _, rest = value.rpartition(" (")
    user_id = rest.rstrip(")")
    if name and user_id[:1] in ("U", "W") and user_id.isalnum():
        return f"<@{user_id}>"
    return escape(value) if value else "someone"


def _channel(value: str) -> str:
    name, _, rest = value.rpartition(" (")
    channel_id = rest.rstrip(")")
    if name and channel_id[:1] in ("C", "G") and channel_id.isalnum():
        return f"<#{channel_id}>"
    return escape(value)


# --- help, errors, notices -------------------------------------------------------------------------


def help_view(grants: Mapping[str, str], *, command: str = "/dockyard", roles_known: bool = True) -> Reply:
    lines = [f"• `{command} {USAGE[verb].split('`')[1]}`{USAGE[verb].split('`', 2)[2]}" for verb in USAGE]
    if grants:
        mine = ", ".join(f"*{role}* for {'every tenant' if t == '*' else f'`{t}`'}" for t, role in grants.items())
        roles = f"Your roles: {mine}."
    elif roles_known:
        roles = (
            "You have no Dockyard role yet, so only `help` works for you. Ask a platform admin to add you "
            "(or a user group or channel you are in) to `spec.chat.slack.roles` in `platform.yaml`."
        )
    else:
        roles = "Dockyard has not loaded the platform repo yet, so no roles are known; try again in a minute."
    blocks = [
        _header("Dockyard commands"),
        _section("\n".join(lines)),
        _context([roles, "Changes to desired state (`scale`, `rollback`) become commits in the platform repo."]),
    ]
    return _reply(f"Dockyard commands: {', '.join(USAGE)}", blocks)


def error_view(message: str, hint: str = "", *, title: str = "That did not work") -> Reply:
    text = f":warning: *{escape(title)}*\n{message}"
    blocks = [_section(text)]
    if hint:
        blocks.append(_context([hint]))
    return _reply(f"{title}: {message}", blocks)


def denied_view(reason: str, grants: Mapping[str, str]) -> Reply:
    if grants:
        have = "Your roles: " + ", ".join(
            f"*{role}* for {'every tenant' if t == '*' else f'`{t}`'}" for t, role in grants.items()
        )
    else:
        have = "You have no Dockyard role."
    blocks = [
        _section(f":no_entry: *Not allowed.* {reason}."),
        _context([have, "Ask a platform admin to change `spec.chat.slack.roles` in `platform.yaml` if you need more."]),
    ]
    return _reply(f"Not allowed: {reason}", blocks)


def notice_view(
    icon: str, title: str, lines: Sequence[str] = (), context: Sequence[str] = (), *, in_channel: bool = False
) -> Reply:
    blocks = [_section(f"{icon} *{title}*" + ("\n" + "\n".join(lines) if lines else ""))]
    if context:
        blocks.append(_context(context))
    return _reply(f"{title}", blocks, in_channel=in_channel)


# --- status -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HpaStatus:
    min_replicas: int
    max_replicas: int
    current: int | None = None
    desired: int | None = None


@dataclass(frozen=True)
class AppStatus:
    name: str
    workload: str  # Deployment | StatefulSet
    health: str  # healthy | progressing | degraded | missing
    message: str
    image: str = ""
    replicas_in_git: int | None = None  # None: an Autoscaling owns the count
    ready: int | None = None
    wanted: int | None = None  # spec.replicas of the live workload
    revision: str = ""  # the revision the live workload was applied from
    hpa: HpaStatus | None = None
    canary: str = ""  # "image, weight%" when a canary track runs


@dataclass(frozen=True)
class TenantStatus:
    name: str
    apps: tuple[AppStatus, ...]
    paused: bool = False
    waiting: str = ""  # why its changes wait (sync window, pause), if they do
    revision: str = ""
    applied: str = ""
    only_app: str | None = None
    error: str = ""  # the live state could not be read


@dataclass(frozen=True)
class TenantSummary:
    name: str
    apps: int
    degraded: int = 0
    paused: bool = False
    waiting: str = ""


@dataclass(frozen=True)
class PlatformStatus:
    source: str
    revision: str
    author: str
    subject: str
    applied: str
    ready: bool
    last_result: str
    last_sync: datetime | None
    leader: bool
    fetch_error: str = ""
    deferred: Mapping[str, str] = field(default_factory=dict)
    degraded: Mapping[str, str] = field(default_factory=dict)
    paused: tuple[str, ...] = ()
    pending: int = 0
    tenants: tuple[TenantSummary, ...] = ()
    clusters: tuple[ClusterSummary, ...] = ()


@dataclass(frozen=True)
class ClusterSummary:
    """One cluster of a daemon that drives several."""

    name: str
    region: str
    applied: str
    last_result: str
    failures: int
    last_error: str = ""


def _sync_state(revision: str, applied: str, last_result: str, waiting: bool) -> str:
    if not revision:
        return "⏳ no revision loaded yet"
    if waiting:
        return "⏸️ changes wait (window or pause)"
    if applied == revision:
        return "✅ in sync"
    if last_result == "failed":
        return "❌ last sync failed"
    return "🔄 syncing"


def _cluster_line(c: ClusterSummary, revision: str) -> str:
    where = f" ({escape(c.region)})" if c.region else ""
    if c.failures:
        said = f": {escape(_clip(c.last_error, 200))}" if c.last_error else ""
        state = f"❗ failing ({c.failures} cycles), {_sha(c.applied) if c.applied else 'nothing'} applied{said}"
    elif c.applied and c.applied == revision:
        state = f"✅ in sync at {_sha(c.applied)}"
    else:
        state = f"⏳ {_sha(c.applied) if c.applied else 'nothing'} applied"
    return f"• cluster `{escape(c.name)}`{where} — {state}"


def platform_status_view(s: PlatformStatus) -> Reply:
    state = _sync_state(s.revision, s.applied, s.last_result, bool(s.deferred))
    health = "🟢 all healthy" if not s.degraded else f"🔴 {len(s.degraded)} degraded"
    subject = f" {escape(_clip(s.subject, 80))}" if s.subject else ""
    author = f" by {escape(s.author.split(' <', 1)[0])}" if s.author else ""
    blocks: list[dict[str, Any]] = [
        _header("Dockyard status"),
        _fields(
            [
                f"*Revision*\n{_sha(s.revision)}{subject}{author}",
                f"*Sync*\n{state}",
                f"*Applied*\n{_sha(s.applied) if s.applied else 'not yet'} · last sync {when(s.last_sync)}",
                f"*Health*\n{health}",
            ]
        ),
    ]
    problems: list[str] = []
    if s.fetch_error:
        problems.append(f"❗ Cannot fetch the platform repo: {escape(_clip(s.fetch_error, 300))}")
    for tenant, reason in list(s.deferred.items())[:10]:
        problems.append(f"⏸️ `{tenant or 'platform'}` waits: {escape(reason)}")
    for ref, message in list(s.degraded.items())[:10]:
        problems.append(f"🔴 `{escape(ref)}`: {escape(_clip(message, 200))}")
    if len(s.degraded) > 10:
        problems.append(f"… and {len(s.degraded) - 10} more degraded objects")
    if problems:
        blocks.append(_section("\n".join(problems)))
    if s.clusters:
        blocks.append(_section("\n".join(_cluster_line(c, s.revision) for c in s.clusters)))
    if s.tenants:
        # Tenants that need attention first; a long tail of healthy ones is only counted.
        ordered = sorted(s.tenants, key=lambda t: (not (t.degraded or t.paused or t.waiting), t.name))
        lines = []
        for t in ordered[:MAX_TENANT_LINES]:
            notes = [f"{t.apps} app{'s' if t.apps != 1 else ''}"]
            if t.degraded:
                notes.append(f"🔴 {t.degraded} degraded")
            if t.paused:
                notes.append("⏸️ paused")
            elif t.waiting:
                notes.append(f"⏸️ {escape(t.waiting)}")
            lines.append(f"• `{t.name}` — {', '.join(notes)}")
        if len(ordered) > MAX_TENANT_LINES:
            lines.append(f"… and {len(ordered) - MAX_TENANT_LINES} more tenants; `/dockyard status <tenant>` for one")
        blocks.append(_divider())
        blocks.extend(_sections(lines, limit=MAX_BLOCKS - len(blocks) - 2, what="tenants"))
    footer = [f"Source: {escape(s.source)}", "leader" if s.leader else "standby replica (does not apply)"]
    if s.pending:
        footer.append(f"{s.pending} change(s) pending: `/dockyard diff`")
    blocks.append(_context(footer))
    return _reply(f"Dockyard: {state}, {health}, revision {s.revision[:8] or 'none'}", blocks)


def _app_line(app: AppStatus) -> str:
    icon = _HEALTH_ICON.get(app.health, "⚪")
    parts = [f"{icon} *{app.name}*"]
    if app.health == "missing":
        parts.append("not in the cluster yet")
    else:
        ready = f"{app.ready if app.ready is not None else 0}/{app.wanted if app.wanted is not None else '?'} ready"
        parts.append(ready)
    if app.hpa is not None:
        now = f", now {app.hpa.current}" if app.hpa.current is not None else ""
        parts.append(f"autoscaled {app.hpa.min_replicas} to {app.hpa.max_replicas}{now}")
    elif app.replicas_in_git is not None and app.wanted is not None and app.replicas_in_git != app.wanted:
        parts.append(f"{app.replicas_in_git} in Git")
    if app.image:
        parts.append(f"`{escape(app.image)}`")
    if app.canary:
        parts.append(f"canary `{escape(app.canary)}`")
    if app.revision:
        parts.append(f"at {_sha(app.revision)}")
    line = " · ".join(parts)
    if app.health in ("degraded", "progressing") and app.message:
        line += f"\n      _{escape(_clip(app.message, 200))}_"
    return line


def tenant_status_view(t: TenantStatus) -> Reply:
    title = f"{t.name}/{t.only_app}" if t.only_app else t.name
    if t.paused:
        state = "⏸️ paused (`/dockyard resume` to apply changes again)"
    elif t.waiting:
        state = f"⏸️ waiting: {escape(t.waiting)}"
    elif t.revision and t.applied == t.revision:
        state = "✅ in sync"
    elif t.revision:
        state = "🔄 syncing"
    else:
        state = "⏳ no revision loaded yet"
    degraded = sum(1 for a in t.apps if a.health == "degraded")
    health = "🟢 healthy" if not degraded else f"🔴 {degraded} degraded"
    if any(a.health in ("progressing", "missing") for a in t.apps) and not degraded:
        health = "🟡 progressing"
    blocks: list[dict[str, Any]] = [
        _header(f"Status of {title}"),
        _fields([f"*Revision*\n{_sha(t.revision)}", f"*Sync*\n{state}", f"*Health*\n{health}"]),
    ]
    if t.error:
        blocks.append(_section(f"❗ Could not read the live state: {escape(_clip(t.error, 300))}"))
    if t.apps:
        blocks.extend(_sections((_app_line(a) for a in t.apps), limit=MAX_BLOCKS - len(blocks) - 1, what="apps"))
    else:
        blocks.append(_section("_No apps._"))
    return _reply(f"{title}: {state}, {health}", blocks)


# --- diff -------------------------------------------------------------------------------------------

_MAX_SUMMARY = 15
_MAX_OBJECTS = 20


def pending_diff_view(
    *,
    revision: str,
    applied: str,
    comparison: Comparison | str | None,
    deferred: Mapping[str, str],
    invalid: tuple[str, str] = ("", ""),
) -> Reply:
    """What waits to be applied: ``comparison`` of the current revision against the applied one
    (computed now), a sentence saying why it could not be computed, or None when nothing is pending."""
    if not revision:
        return notice_view("⏳", "No revision loaded yet", ["The daemon has not fetched the platform repo yet."])
    refused: list[dict[str, Any]] = []
    if invalid[0]:
        refused.append(
            _context([f"⛔ The newer revision {_sha(invalid[0])} was refused: {escape(_clip(invalid[1], 300))}"])
        )
    if not applied:
        blocks = [_section(f"⏳ Nothing is applied yet: the first sync applies all of {_sha(revision)}."), *refused]
        return _reply(f"Nothing applied yet; {revision[:8]} is next", blocks)
    if comparison is None:
        blocks = [_section(f"✅ *Nothing pending.* The cluster has {_sha(revision)}."), *refused]
        return _reply(f"Nothing pending; the cluster has {revision[:8]}", blocks)
    if isinstance(comparison, str):
        blocks = [
            _header("Pending changes"),
            _section(
                f"Revision {_sha(revision)} is not applied yet (applied: {_sha(applied)}), but {escape(comparison)}."
            ),
            *refused,
        ]
        return _reply(f"{revision[:8]} is pending; it cannot be compared", blocks)
    review = comparison.review
    if review is None:  # the applied revision no longer loads (rules changed since?)
        first = comparison.base_errors[0].format() if comparison.base_errors else "it has errors"
        blocks = [
            _header("Pending changes"),
            _section(f"The applied revision {_sha(applied)} no longer validates, so I cannot compare it:"),
            _section(f"`{escape(_clip(first, 300))}`"),
        ]
        return _reply(f"{revision[:8]} is pending; the applied revision does not validate", blocks)
    changes = review.diff.changes
    blocks = [
        _header(f"Pending changes ({len(changes)})"),
        _section(f"Revision {_sha(revision)} against the applied {_sha(applied)}: {escape(counts_line(review))}"),
    ]
    if deferred:
        blocks.append(
            _section("\n".join(f"⏸️ `{t or 'platform'}` waits: {escape(r)}" for t, r in list(deferred.items())[:15]))
        )
    items = summary_items(review)
    if items:
        lines = [
            f"{'⚠️' if i.warn else '•'} {escape(i.section)}: `{escape(_clip(i.text, 250))}`"
            for i in items[:_MAX_SUMMARY]
        ]
        if len(items) > _MAX_SUMMARY:
            lines.append(f"… and {len(items) - _MAX_SUMMARY} more")
        blocks.append(_section("*What matters*\n" + "\n".join(lines)))
    if changes:
        symbol = {"create": "+", "update": "~", "delete": "-"}
        top = [f"• `{symbol[c.action]} {escape(_clip(str(c.ref), 180))}`" for c in changes[:_MAX_OBJECTS]]
        blocks.append(_section("*Objects*\n" + "\n".join(top)))
        if len(changes) > _MAX_OBJECTS:
            blocks.append(_context([f"… and {len(changes) - _MAX_OBJECTS} more"]))
    blocks += refused
    blocks.append(
        _context(
            [
                "Computed now from Git. "
                f"`dockyard diff --base {applied[:12]} --head {revision[:12]}` shows every field; "
                "`/dockyard sync` applies what may be applied."
            ]
        )
    )
    return _reply(f"{len(changes)} pending change(s) at {revision[:8]}: {counts_line(review)}", blocks)


# --- history ------------------------------------------------------------------------------------------


def _record_line(r: RecordLike) -> str:
    try:
        started: datetime | None = datetime.fromisoformat(r.started.replace("Z", "+00:00"))
    except ValueError:
        started = None
    icon = _RESULT_ICON.get(r.result, "•")
    if r.kind == "command":
        where = f" in {_channel(r.channel)}" if r.channel else ""
        what = f"{_user(r.user)}{where}: `{escape(_clip(r.command, 100))}` {r.result}"
        if r.errors and r.result in ("failed", "denied"):
            what += f" — {escape(_clip(r.errors[0], 120))}"
        elif r.revision:
            what += f" → {_sha(r.revision)}"
    else:
        what = f"{r.kind} {_sha(r.revision)} {r.result}"
        subject = r.message.splitlines()[0] if r.message else ""
        if subject:
            what += f" — {escape(_clip(subject, 80))}"
        changed = sum(v for k, v in r.counts.items() if k in ("created", "updated", "pruned"))
        if changed:
            what += f" ({changed} change{'s' if changed != 1 else ''})"
        if r.errors and r.result in ("failed", "invalid"):
            what += f"\n      _{escape(_clip(r.errors[0], 160))}_"
    return f"{icon} {when(started)} {what}"


def history_view(records: Sequence[RecordLike]) -> Reply:
    if not records:
        return notice_view("🕘", "No history yet", ["Nothing has been synced or asked for so far."])
    blocks = [_header(f"Last {len(records)} entries"), *_sections(map(_record_line, records), limit=45, what="entries")]
    return _reply(f"Dockyard history: {len(records)} entries", blocks)
