"""Block Kit answers stay within Slack's limits and never let user text become markup."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from daemon.chat.views import (
    AppStatus,
    ClusterSummary,
    HpaStatus,
    PlatformStatus,
    Reply,
    TenantStatus,
    TenantSummary,
    help_view,
    history_view,
    pending_diff_view,
    platform_status_view,
    tenant_status_view,
)
from daemon.model.audit import HistoryRecord

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def within_limits(reply: Reply) -> None:
    assert 0 < len(reply.blocks) <= 50
    for block in reply.blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
    assert json.dumps(reply.payload())  # serialisable as it is sent


def texts(reply: Reply) -> str:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(list(reply.blocks))
    return "\n".join(out)


def test_a_big_tenant_is_clipped_with_a_count_of_what_was_left_out() -> None:
    apps = tuple(
        AppStatus(
            f"app-{i:04d}-{'x' * 40}",
            "Deployment",
            "degraded" if i % 7 == 0 else "healthy",
            "rollout stuck: " + "y" * 300,
            image=f"registry.example.com/team/app-{i}:1.0.{i}",
            replicas_in_git=None if i % 3 else 3,
            ready=2,
            wanted=3,
            revision="0123456789abcdef",
            hpa=HpaStatus(2, 10, 3, 4) if i % 3 else None,
        )
        for i in range(2000)
    )
    reply = tenant_status_view(TenantStatus("shop", apps, revision="abc", applied="abc"))
    within_limits(reply)
    assert "more apps" in texts(reply)
    assert "autoscaled 2 to 10, now 3" in texts(reply)


def test_platform_status_with_many_tenants_and_problems() -> None:
    status = PlatformStatus(
        source="https://git.example.com/platform.git",
        revision="0123456789abcdef0123",
        author="Alice <alice@example.com>",
        subject="Scale <!channel> web",
        applied="fedcba9876543210",
        ready=True,
        last_result="succeeded",
        last_sync=NOW,
        leader=True,
        fetch_error="could not read",
        deferred={f"t{i}": "outside its allow windows" for i in range(30)},
        degraded={f"Deployment.apps/t{i}/web": "stuck" for i in range(30)},
        pending=12,
        tenants=tuple(TenantSummary(f"tenant-{i}", i, i % 2, i % 5 == 0) for i in range(3000)),
    )
    reply = platform_status_view(status)
    within_limits(reply)
    shown = texts(reply)
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown  # no broadcast from a commit subject
    assert "by Alice" in shown and "alice@example.com" not in shown
    assert "… and 2960 more tenants" in shown and "… and 20 more degraded objects" in shown
    assert "`tenant-1`" in shown and "`tenant-2`" not in shown  # those that need attention come first
    assert "<!date^" in shown  # times in the reader's own time zone


def test_diff_without_a_comparison_says_why() -> None:
    nothing = pending_diff_view(revision="a" * 40, applied="a" * 40, comparison=None, deferred={})
    assert "Nothing pending" in texts(nothing)
    first = pending_diff_view(
        revision="a" * 40, applied="", comparison=None, deferred={}, invalid=("c" * 40, "x.yaml:1:1: error: <!channel>")
    )
    assert "Nothing is applied yet" in texts(first) and "&lt;!channel&gt;" in texts(first)
    unknown = pending_diff_view(revision="b" * 40, applied="a" * 40, comparison="it is gone", deferred={})
    assert "is not applied yet" in texts(unknown) and "it is gone" in texts(unknown)


def test_history_is_a_compact_list_with_mentions_for_commands() -> None:
    records = [
        HistoryRecord(
            id=str(i),
            kind="command" if i % 2 else "sync",
            started=NOW.isoformat(),
            finished=NOW.isoformat(),
            revision="c" * 40,
            author="",
            message="Scale web\n\nbody",
            trigger="slack",
            result="denied" if i % 2 else "succeeded",
            errors=["`scale` needs *operator* for tenant `shop`"] if i % 2 else [],
            counts={"created": 1, "updated": 2},
            user="alice (U0ALICE1)",
            channel="#shop (C0SHOP01)",
            command="/dockyard scale shop/web 3",
        )
        for i in range(50)
    ]
    reply = history_view(records)
    within_limits(reply)
    shown = texts(reply)
    assert "<@U0ALICE1> in <#C0SHOP01>: `/dockyard scale shop/web 3` denied" in shown
    assert "sync `cccccccc` succeeded — Scale web (3 changes)" in shown


def test_help_names_every_command_and_the_callers_roles() -> None:
    shown = texts(help_view({"*": "viewer", "shop": "operator"}))
    for verb in ("status", "diff", "sync", "history", "pause", "resume", "scale", "rollback"):
        assert f"`/dockyard {verb}" in shown
    assert "*viewer* for every tenant, *operator* for `shop`" in shown
    assert "no Dockyard role yet" in texts(help_view({}))


def test_platform_status_names_each_cluster_and_what_fails_there() -> None:
    status = PlatformStatus(
        source="https://git.example.com/platform.git",
        revision="0123456789abcdef0123",
        author="",
        subject="",
        applied="0123456789abcdef0123",
        ready=True,
        last_result="succeeded",
        last_sync=NOW,
        leader=True,
        clusters=(
            ClusterSummary("eu-central", "eu-central-1", "0123456789abcdef0123", "succeeded", 0),
            ClusterSummary("us-east", "", "fedcba9876543210", "failed", 4, "API server unreachable <!here>"),
        ),
    )
    shown = texts(platform_status_view(status))
    assert "cluster `eu-central` (eu-central-1) — ✅ in sync" in shown
    assert "cluster `us-east` — ❗ failing (4 cycles)" in shown and "API server unreachable &lt;!here&gt;" in shown
    single = replace(status, clusters=())
    assert "cluster `" not in texts(platform_status_view(single))
