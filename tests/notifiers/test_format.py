"""Messages carry their context and respect Block Kit limits, whatever the event holds."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.model.events import CommitInfo, Event
from notifiers import format as fmt
from tests.notifiers.helpers import COMMIT, event

COMMIT_URL = "https://git.example.com/platform/commit/{sha}"


def all_text(message: fmt.SlackMessage) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def mrkdwn_texts(message: fmt.SlackMessage) -> list[str]:
    texts = []
    for block in message.blocks:
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts.extend(e["text"] for e in block["elements"])
    return texts


def check_limits(message: fmt.SlackMessage) -> None:
    assert len(message.blocks) <= fmt.MAX_BLOCKS
    assert len(message.text) <= fmt.MAX_FALLBACK_TEXT
    for block in message.blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= fmt.MAX_HEADER_TEXT
        elif block["type"] == "section":
            assert len(block["text"]["text"]) <= fmt.MAX_SECTION_TEXT
        elif block["type"] == "context":
            assert len(block["elements"]) <= fmt.MAX_CONTEXT_ELEMENTS
            assert all(len(e["text"]) <= fmt.MAX_SECTION_TEXT for e in block["elements"])


def test_sync_message_has_commit_tenant_changes_errors_health_and_links() -> None:
    e = event(
        "sync.failed",
        "Sync of 01234567 failed",
        tenant="shop",
        app="web",
        commit=COMMIT,
        details={
            "changes": {"created": 2, "updated": 1, "pruned": 1, "unchanged": 40},
            "objects": [
                {"action": "updated", "kind": "Deployment", "namespace": "shop", "name": "web"},
                "created Service/shop/web",
                {"action": "pruned", "ref": "ConfigMap/shop/old"},
            ],
            "health": {"Deployment/shop/web": "Progressing"},
            "links": {"run": "https://ci.example.com/1"},
            "duration": "3.2s",
        },
        errors=("tenants/shop/web.yaml:12:3: error: spec.image is required",),
    )
    message = fmt.slack_message(e, commit_url=COMMIT_URL)
    text = all_text(message)
    for expected in (
        f"<{COMMIT_URL.format(sha=COMMIT.sha)}|01234567> by alice: Scale web",
        "tenant shop",
        "app web",
        "pruned 1",
        "created 2",
        "tenants/shop/web.yaml:12:3",
        "Progressing",
        "https://ci.example.com/1",
        "duration",
    ):
        assert expected in text, expected
    objects = next(b["text"]["text"] for b in message.blocks if "ConfigMap/shop/old" in json.dumps(b))
    # The most important change comes first: a prune before a creation before an update.
    assert objects.index("pruned") < objects.index("created") < objects.index("updated")
    assert "body" not in text  # only the first line of the commit message
    assert message.text.startswith("sync.failed: ")
    check_limits(message)


def test_user_text_is_escaped_for_mrkdwn() -> None:
    message = fmt.slack_message(event("sync.failed", "a <b> & <!channel>"))
    text = "\n".join(mrkdwn_texts(message))
    assert "<!channel>" not in text
    assert "a &lt;b&gt; &amp; &lt;!channel&gt;" in text


def test_long_errors_are_cut_with_a_note_of_what_was_left_out() -> None:
    errors = tuple(f"tenants/shop/app{i}.yaml:{i}:1: error: {'x' * 80}" for i in range(400))
    message = fmt.slack_message(event("validation.failed", "400 errors", errors=errors))
    check_limits(message)
    section = next(b["text"]["text"] for b in message.blocks if "Errors" in b.get("text", {}).get("text", ""))
    match = re.search(r"… (\d+) more errors left out", section)
    assert match is not None
    shown = section.count(".yaml:")
    assert shown + int(match.group(1)) == 400
    assert section.count("```") == 2  # the code block is closed before the note


def test_many_objects_are_cut_to_the_most_important_with_a_count() -> None:
    objects = [f"updated Deployment/shop/app{i}" for i in range(200)] + ["pruned PersistentVolumeClaim/shop/data"]
    message = fmt.slack_message(event("sync.succeeded", "big", details={"objects": objects}))
    text = all_text(message)
    assert "pruned PersistentVolumeClaim/shop/data" in text
    match = re.search(r"… (\d+) more objects left out", text)
    assert match is not None
    assert text.count("• ") + int(match.group(1)) == 201


def test_clip_says_how_much_was_cut() -> None:
    text = "a" * 5000
    cut = fmt.clip(text, 3000)
    assert len(cut) <= 3000
    match = re.search(r"… (\d+) more characters left out", cut)
    assert match is not None
    assert cut.split("\n…")[0].count("a") + int(match.group(1)) == 5000
    assert fmt.clip("short", 10) == "short"


def test_clip_never_breaks_an_entity_or_a_link() -> None:
    text = "x" * 2990 + "&amp;&amp;<https://example.com|label>" + "y" * 100
    cut = fmt.clip(text, 3000)
    body = cut.split("\n…")[0]
    assert not re.search(r"&[a-z]*$", body)
    assert "<https" not in body


def test_head_message_shows_the_latest_status_and_the_thread() -> None:
    head = event("sync.succeeded", "applied 3 changes", commit=COMMIT, group="sync:0123")
    statuses = [fmt.StatusLine.of(head), fmt.StatusLine("health.degraded", "warning", "web is not ready")]
    message = fmt.slack_head(head, statuses, commit_url=COMMIT_URL)
    assert message.blocks[0]["text"]["text"].endswith("01234567: health.degraded")
    assert "1 update in the thread" in all_text(message)
    assert message.text == "health.degraded: web is not ready"
    many = [fmt.StatusLine("drift.corrected", "info", f"drift {i}") for i in range(300)]
    long_head = fmt.slack_head(head, many)
    check_limits(long_head)
    assert "earlier updates left out" in all_text(long_head)
    assert "drift 299" in all_text(long_head)


def test_email_text_and_subject() -> None:
    first = event(
        "sync.succeeded", "applied", tenant="shop", commit=COMMIT, group="g", details={"changes": {"created": 1}}
    )
    second = event("health.degraded", "web not ready", tenant="shop", app="web", commit=COMMIT, group="g")
    subject, body = fmt.text_message([first, second], commit_url=COMMIT_URL)
    assert subject == "[Dockyard] 2 events for 01234567: WARNING health.degraded: web not ready"
    assert "Commit: 01234567 by alice: Scale web" in body
    assert COMMIT_URL.format(sha=COMMIT.sha) in body
    assert "1 created" in body
    assert "web not ready" in body


def test_robot_markdown_fits_its_byte_limit() -> None:
    e = event("sync.failed", "失败" * 3000, errors=("错误" * 50,) * 50)
    title, text = fmt.markdown_message([e], limit_bytes=4000)
    assert len(text.encode()) <= 4000
    assert "left out" in text
    assert title.startswith("CRITICAL sync.failed")


def test_webhook_payload_carries_the_event_and_the_delivery_key() -> None:
    e = event("backup.ready", "snapshot ready", tenant="shop", commit=CommitInfo("abc"))
    payload = fmt.webhook_payload(e, key="k1")
    assert payload["delivery"] == "k1"
    assert Event.from_json(payload["event"]) == e


texts = st.text(min_size=0, max_size=4000)
lines = st.lists(st.text(min_size=0, max_size=600), max_size=120)


@settings(max_examples=60, deadline=None)
@given(
    summary=texts,
    errors=lines,
    objects=lines,
    health=st.dictionaries(st.text(max_size=50), st.text(max_size=300), max_size=40),
    fields=st.dictionaries(st.text(min_size=1, max_size=40), st.text(max_size=3500), max_size=30),
    author=st.text(max_size=500),
    message=st.text(max_size=5000),
)
def test_any_event_fits_block_kit(
    summary: str,
    errors: list[str],
    objects: list[str],
    health: dict[str, str],
    fields: dict[str, Any],
    author: str,
    message: str,
) -> None:
    details: dict[str, Any] = {"objects": objects, "health": health, **fields}
    e = event(
        "sync.failed", summary, errors=tuple(errors), commit=CommitInfo("f" * 40, author, message), details=details
    )
    check_limits(fmt.slack_message(e, commit_url=COMMIT_URL))
    check_limits(fmt.slack_head(e, [fmt.StatusLine.of(e)] * 3))


@given(text=st.text(max_size=6000), limit=st.integers(min_value=60, max_value=3000))
def test_clip_respects_any_limit(text: str, limit: int) -> None:
    cut = fmt.clip(text, limit)
    assert len(cut) <= limit
    if len(text) > limit:
        assert "left out" in cut
    else:
        assert cut == text


@given(lines=lines, limit=st.integers(min_value=80, max_value=3000))
def test_clip_lines_respects_any_limit(lines: list[str], limit: int) -> None:
    assert len(fmt.clip_lines(lines, limit, prefix="```", suffix="```")) <= limit
