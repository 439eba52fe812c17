"""Messages with context, for every kind of target (pure).

An event becomes a :class:`Content` (commit, tenant/app, change counts and the most important
changed objects, errors with ``file:line``, health, links), which is then rendered as Slack Block
Kit, plain-text email, robot markdown, or a webhook JSON body.

Keys of ``event.details`` understood here:

``changes``   ``{created, updated, pruned, unchanged, ...: int}``
``objects``   list of strings or ``{action, kind, namespace, name}``/``{action, ref}`` mappings
``health``    a string, a list of strings, or ``{name: status}``
``links``     ``{label: https-url}``
``alert``     the alert rule's name; ``notify``, ``firingSeverity`` are routing hints (not shown)
anything else that is a scalar is shown as a field.

Block Kit limits are enforced here: at most 50 blocks, 3,000 characters per section text, 150
per header, 10 elements per context block. Whatever does not fit is cut, and the message says
how much was left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from daemon.model.events import SEVERITY_RANK, CommitInfo, Event

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK_TEXT = 3000
#: objects and statuses shown before the rest is summarised; the most important come first
MAX_LIST_ITEMS = 25

Block = dict[str, Any]

_GOOD_SUFFIXES = (".succeeded", ".recovered", ".resolved", ".ready", ".created", ".restored", ".corrected", ".bound")
_ACTION_RANK = {"failed": 0, "pruned": 1, "deleted": 1, "blocked": 2, "created": 3, "updated": 4, "configured": 4}
_COUNT_ORDER = ("failed", "pruned", "deleted", "created", "updated", "unchanged")
_HIDDEN_DETAILS = {"changes", "objects", "health", "links", "notify", "firingSeverity", "alert"}
_SEVERITY_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}


# --- cutting to size ------------------------------------------------------------------------


def clip(text: str, limit: int, *, measure: Callable[[str], int] = len) -> str:
    """``text`` cut to ``limit`` (as counted by ``measure``), ending with a note of what was cut."""
    if measure(text) <= limit:
        return text
    total = measure(text)
    lo, hi = 0, len(text)
    best = ""
    # The note's own length depends on the number in it, hence the search over the prefix length.
    while lo <= hi:
        mid = (lo + hi) // 2
        prefix = _safe_prefix(text[:mid])
        candidate = prefix + _cut_note(total - measure(prefix), "characters")
        if measure(candidate) <= limit:
            best = candidate
            lo = mid + 1
        else:
            hi = mid - 1
    return best or _cut_note(total, "characters").strip()[: max(limit, 0)]


def _safe_prefix(prefix: str) -> str:
    """Never end inside a Slack entity (``&amp;``) or a ``<link|label>``, which would break it."""
    amp = prefix.rfind("&")
    if amp != -1 and ";" not in prefix[amp:]:
        prefix = prefix[:amp]
    lt = prefix.rfind("<")
    if lt != -1 and ">" not in prefix[lt:]:
        prefix = prefix[:lt]
    return prefix


def _cut_note(count: int, noun: str) -> str:
    return f"\n… {count} more {noun} left out"


def clip_lines(
    lines: Sequence[str],
    limit: int,
    noun: str = "lines",
    *,
    prefix: str = "",
    suffix: str = "",
    total: int | None = None,
) -> str:
    """Whole lines joined and framed by ``prefix``/``suffix``, as many as fit in ``limit``; a note
    after the frame counts the rest (of ``total`` when ``lines`` is already a shortened list)."""
    total = len(lines) if total is None else total
    kept: list[str] = []
    for line in lines:
        rest = total - len(kept) - 1
        note = _cut_note(rest, noun) if rest else ""
        if len(prefix + "\n".join([*kept, line]) + suffix) + len(note) <= limit:
            kept.append(line)
            continue
        if not kept:
            # A single line longer than the whole budget: cut inside it.
            budget = limit - len(prefix) - len(suffix) - len(_cut_note(total - 1, noun))
            kept.append(clip(line, max(budget, 0)))
        break
    left = total - len(kept)
    return prefix + "\n".join(kept) + suffix + (_cut_note(left, noun) if left else "")


def escape(text: str) -> str:
    """Slack mrkdwn needs these three escaped; everything else is shown as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- content ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusLine:
    """One event of a group, as the head message of its thread lists it."""

    name: str
    severity: str
    summary: str

    @classmethod
    def of(cls, event: Event) -> StatusLine:
        return cls(event.name, event.severity, event.summary)

    def to_json(self) -> list[str]:
        return [self.name, self.severity, self.summary]

    @classmethod
    def from_json(cls, data: Sequence[str]) -> StatusLine:
        return cls(str(data[0]), str(data[1]), str(data[2]))


@dataclass(frozen=True)
class Content:
    event: Event
    commit_url: str | None = None
    counts: tuple[tuple[str, int], ...] = ()
    objects: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    health: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    repeat: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


def is_good(name: str) -> bool:
    return name.endswith(_GOOD_SUFFIXES)


def status_emoji(name: str, severity: str) -> str:
    if is_good(name):
        return ":white_check_mark:"
    if name.endswith(".failed") or severity == "critical":
        return ":x:" if name.endswith(".failed") else ":rotating_light:"
    return _SEVERITY_EMOJI.get(severity, ":information_source:")


def commit_url_for(commit: CommitInfo | None, template: str | None) -> str | None:
    if commit is None or not template:
        return None
    return template.replace("{sha}", commit.sha).replace("{short_sha}", commit.short_sha)


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def content_of(event: Event, *, commit_url: str | None = None, repeat: bool = False) -> Content:
    details = event.details
    counts: list[tuple[str, int]] = []
    changes = details.get("changes")
    if isinstance(changes, Mapping):
        items = [(str(k), v) for k, v in changes.items() if isinstance(v, int) and not isinstance(v, bool)]
        rank = {name: i for i, name in enumerate(_COUNT_ORDER)}
        counts = sorted(items, key=lambda kv: rank.get(kv[0], len(rank) - 1))
    objects = _object_lines(details.get("objects"))
    health = _health_lines(details.get("health"))
    links: list[tuple[str, str]] = []
    url = commit_url_for(event.commit, commit_url)
    if url and event.commit is not None:
        links.append((f"commit {event.commit.short_sha}", url))
    raw_links = details.get("links")
    if isinstance(raw_links, Mapping):
        links.extend(
            (str(label), str(href))
            for label, href in raw_links.items()
            if isinstance(href, str) and href.startswith(("https://", "http://"))
        )
    fields = [
        (str(k), _scalar(v))
        for k, v in details.items()
        if k not in _HIDDEN_DETAILS and (v is None or isinstance(v, str | int | float | bool))
    ]
    if details.get("alert"):
        fields.insert(0, ("alert", str(details["alert"])))
    return Content(
        event=event,
        commit_url=url,
        counts=tuple(counts),
        objects=tuple(objects),
        errors=tuple(str(e) for e in event.errors),
        health=tuple(health),
        links=tuple(links),
        fields=tuple(fields),
        repeat=repeat,
    )


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _object_lines(raw: object) -> list[str]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return []
    ranked: list[tuple[int, int, str]] = []
    for i, item in enumerate(raw):
        if isinstance(item, Mapping):
            action = str(item.get("action", "") or "")
            ref = item.get("ref")
            if not ref:
                kind, ns, name = item.get("kind", ""), item.get("namespace", ""), item.get("name", "")
                ref = "/".join(str(p) for p in (kind, ns, name) if p)
            line = f"{action} {ref}".strip()
        else:
            line = str(item)
            action = line.split(" ", 1)[0]
        ranked.append((_ACTION_RANK.get(action.lower(), 5), i, line))
    return [line for _, _, line in sorted(ranked)]


def _health_lines(raw: object) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, Mapping):
        return [f"{k}: {v}" for k, v in raw.items()]
    if isinstance(raw, Sequence):
        return [str(v) for v in raw]
    return []


def _context_line(event: Event) -> list[str]:
    parts = [f"*{event.name}*", event.severity]
    if event.tenant:
        parts.append(f"tenant {event.tenant}")
    if event.app:
        parts.append(f"app {event.app}")
    parts.append(event.time.strftime("%Y-%m-%d %H:%M:%S %Z").strip())
    return parts


def _commit_line(commit: CommitInfo) -> str:
    line = commit.short_sha
    if commit.author:
        line += f" by {commit.author}"
    message = first_line(commit.message)
    if message:
        line += f": {message}"
    return line


# --- Slack Block Kit --------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackMessage:
    text: str
    blocks: tuple[Block, ...]


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": True}}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT)}}


def _context(elements: Iterable[str]) -> Block:
    items = [clip(e, MAX_SECTION_TEXT) for e in elements if e]
    if len(items) > MAX_CONTEXT_ELEMENTS:
        left = len(items) - (MAX_CONTEXT_ELEMENTS - 1)
        items = [*items[: MAX_CONTEXT_ELEMENTS - 1], f"… {left} more left out"]
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": e} for e in items]}


def fit_blocks(blocks: Sequence[Block]) -> tuple[Block, ...]:
    """At most :data:`MAX_BLOCKS` blocks; the last one says how many were left out."""
    if len(blocks) <= MAX_BLOCKS:
        return tuple(blocks)
    kept = list(blocks[: MAX_BLOCKS - 1])
    kept.append(_context([f"… {len(blocks) - len(kept)} more blocks left out"]))
    return tuple(kept)


def _body_blocks(content: Content) -> list[Block]:
    event = content.event
    blocks: list[Block] = []
    top = escape(event.summary)
    if content.repeat:
        top = "_Still firing (reminder)._\n" + top
    blocks.append(_section(top))
    blocks.append(_context(escape(p) if i else p for i, p in enumerate(_context_line(event))))
    if event.commit is not None:
        commit = escape(_commit_line(event.commit))
        if content.commit_url:
            link = f"<{escape(content.commit_url)}|{escape(event.commit.short_sha)}>"
            commit = link + commit[len(event.commit.short_sha) :]
        blocks.append(_section(f"*Commit* {commit}"))
    if content.counts:
        counts = " · ".join(f"{name} {n}" for name, n in content.counts)
        blocks.append(_section(f"*Changes* {escape(counts)}"))
    if content.objects:
        lines = [f"• {escape(line)}" for line in content.objects[:MAX_LIST_ITEMS]]
        blocks.append(_section(clip_lines(lines, MAX_SECTION_TEXT, "objects", total=len(content.objects))))
    if content.errors:
        lines = [escape(e) for e in content.errors]
        blocks.append(_section(clip_lines(lines, MAX_SECTION_TEXT, "errors", prefix="*Errors*\n```", suffix="```")))
    if content.health:
        lines = [f"• {escape(h)}" for h in content.health]
        blocks.append(_section(clip_lines(lines, MAX_SECTION_TEXT, "health entries", prefix="*Health*\n")))
    if content.fields:
        blocks.append(_context(f"*{escape(k)}* {escape(v)}" for k, v in content.fields))
    if content.links:
        blocks.append(_context(f"<{escape(url)}|{escape(label)}>" for label, url in content.links))
    return blocks


def _fallback(event: Event, prefix: str = "") -> str:
    return clip(f"{prefix}{event.name}: {event.summary}", MAX_FALLBACK_TEXT)


def slack_message(event: Event, *, commit_url: str | None = None, repeat: bool = False) -> SlackMessage:
    content = content_of(event, commit_url=commit_url, repeat=repeat)
    title = f"{status_emoji(event.name, event.severity)} {first_line(event.summary) or event.name}"
    blocks = [_header(title), *_body_blocks(content)]
    return SlackMessage(_fallback(event, "[reminder] " if repeat else ""), fit_blocks(blocks))


def slack_head(head: Event, statuses: Sequence[StatusLine], *, commit_url: str | None = None) -> SlackMessage:
    """The first message of a group's thread, showing the latest status of the whole group."""
    latest = statuses[-1] if statuses else StatusLine.of(head)
    worst = max(statuses or [latest], key=lambda s: SEVERITY_RANK.get(s.severity, 0))
    what = f"{head.commit.short_sha}" if head.commit else first_line(head.summary) or head.name
    title = f"{status_emoji(latest.name, latest.severity)} {what}: {latest.name}"
    content = content_of(head, commit_url=commit_url)
    lines = [f"{status_emoji(s.name, s.severity)} *{escape(s.name)}* {escape(s.summary)}" for s in statuses]
    if len(lines) > MAX_LIST_ITEMS:
        # The newest statuses matter most: the earliest ones are the ones left out.
        left = len(lines) - MAX_LIST_ITEMS
        lines = [f"… {left} earlier updates left out", *lines[-MAX_LIST_ITEMS:]]
    status = clip_lines(lines, MAX_SECTION_TEXT, "updates", prefix="*Status*\n")
    blocks = [_header(title), *_body_blocks(content), {"type": "divider"}, _section(status)]
    if SEVERITY_RANK.get(worst.severity, 0) > SEVERITY_RANK.get(latest.severity, 0):
        blocks.append(_context([f"worst in this thread: {escape(worst.name)} ({worst.severity})"]))
    replies = max(len(statuses) - 1, 0)
    if replies:
        blocks.append(_context([f"{replies} update{'s' if replies != 1 else ''} in the thread"]))
    return SlackMessage(clip(f"{latest.name}: {latest.summary}", MAX_FALLBACK_TEXT), fit_blocks(blocks))


# --- plain text (email) and markdown (robots) ---------------------------------------------------


def _plain_lines(content: Content) -> list[str]:
    event = content.event
    head = f"{event.name} ({event.severity}): {event.summary}"
    lines = [("[reminder: still firing] " if content.repeat else "") + head]
    meta = [f"tenant {event.tenant}" if event.tenant else "", f"app {event.app}" if event.app else ""]
    meta.append(event.time.isoformat(timespec="seconds"))
    lines.append("  " + " · ".join(m for m in meta if m))
    if event.commit is not None:
        lines.append(f"  Commit: {_commit_line(event.commit)}")
    for label, url in content.links:
        lines.append(f"  {label}: {url}")
    if content.counts:
        lines.append("  Changes: " + ", ".join(f"{n} {name}" for name, n in content.counts))
    for obj in content.objects[:MAX_LIST_ITEMS]:
        lines.append(f"    - {obj}")
    if len(content.objects) > MAX_LIST_ITEMS:
        lines.append(f"    … {len(content.objects) - MAX_LIST_ITEMS} more objects left out")
    if content.errors:
        lines.append("  Errors:")
        lines.extend(f"    {e}" for e in content.errors[:100])
        if len(content.errors) > 100:
            lines.append(f"    … {len(content.errors) - 100} more errors left out")
    if content.health:
        lines.append("  Health: " + "; ".join(content.health))
    lines.extend(f"  {k}: {v}" for k, v in content.fields)
    return lines


def _subject(events: Sequence[Event]) -> str:
    last = events[-1]
    if len(events) == 1:
        text = f"[Dockyard] {last.severity.upper()} {last.name}: {first_line(last.summary)}"
    else:
        worst = max(events, key=lambda e: SEVERITY_RANK.get(e.severity, 0))
        about = f" for {last.commit.short_sha}" if last.commit else ""
        text = (
            f"[Dockyard] {len(events)} events{about}: {worst.severity.upper()} {last.name}: {first_line(last.summary)}"
        )
    return clip(" ".join(text.split()), 200)


def text_message(
    events: Sequence[Event], *, commit_url: str | None = None, repeats: Sequence[bool] = ()
) -> tuple[str, str]:
    """Subject and body of one email carrying ``events`` (one cycle's events, in order)."""
    blocks = []
    for i, event in enumerate(events):
        repeat = repeats[i] if i < len(repeats) else False
        blocks.append("\n".join(_plain_lines(content_of(event, commit_url=commit_url, repeat=repeat))))
    body = "\n\n".join(blocks) + "\n\n-- \nSent by Dockyard.\n"
    return _subject(events), body


def markdown_message(
    events: Sequence[Event], *, commit_url: str | None = None, limit_bytes: int = 4000
) -> tuple[str, str]:
    """Title and markdown text for chat robots (DingTalk, Feishu, WeCom), cut to ``limit_bytes``
    of UTF-8 since their limits count bytes."""
    parts = []
    for event in events:
        content = content_of(event, commit_url=commit_url)
        lines = _plain_lines(content)
        parts.append(f"**{lines[0]}**\n" + "\n".join(f"> {line.strip()}" for line in lines[1:]))
    title = _subject(events).removeprefix("[Dockyard] ")
    text = clip("\n\n".join(parts), limit_bytes, measure=lambda s: len(s.encode()))
    return title, text


# --- webhook ------------------------------------------------------------------------------------


def webhook_payload(event: Event, *, key: str, repeat: bool = False) -> dict[str, Any]:
    """The JSON body of a generic webhook delivery: the event itself plus the delivery key, which
    receivers should use to drop the rare duplicate (delivery to webhooks is at least once)."""
    data = json.loads(json.dumps(event.to_json(), default=str))
    return {"type": "dockyard.notification", "delivery": key, "repeat": repeat, "event": data}
