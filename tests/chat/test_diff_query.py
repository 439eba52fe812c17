"""``/dockyard diff``: the current revision against the applied one, computed from Git when asked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from daemon.chat.ports import ChatContext, ChatPorts
from daemon.chat.queries import Queries
from daemon.edges.revisions import RevisionReader
from daemon.engine.reconcile import DaemonState
from daemon.engine.review import pending_comparison
from daemon.model.events import MemorySink
from daemon.model.refs import Revision
from tests.chat.test_slack_app import NoHistory, NoPauses
from tests.chat.test_views import texts, within_limits
from tests.review.repos import commit_change, example_repo, git


def queries(state: DaemonState, reader: RevisionReader | None) -> Queries:
    ports = ChatPorts(
        snapshot=lambda: state,
        request_cycle=lambda _: None,
        cycles_run=lambda: 0,
        is_leader=lambda: True,
        pauses=NoPauses(),
        history=NoHistory(),
        emit=MemorySink().emit,
        kube=None,
        source="test",
        pending_review=lambda applied, current: pending_comparison(reader, applied, current, now=datetime.now(UTC)),
    )
    return Queries(ChatContext(ports))


def test_the_pending_change_is_computed_from_git(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    platform = example_repo(root)
    applied = git(root, "rev-parse", "main")
    head = commit_change(root, platform)
    current = Revision(head, str(platform), message="recommender")
    state = DaemonState(revision=current, applied_sha=applied, deferred={"analytics": "outside its allow windows"})
    outcome = queries(state, RevisionReader.at(platform)).diff()
    within_limits(outcome.reply)
    shown = texts(outcome.reply)
    assert outcome.summary == "10 pending change(s)"
    assert "Pending changes (10)" in shown and "6 to create, 3 to update, 1 to delete" in shown
    assert "`shop/web -&gt; analytics/recommender: new: TCP 8080 (cross-tenant)`" in shown
    assert "⚠️ Deleted: `PersistentVolumeClaim/monitoring/prometheus-data: deleted with its data" in shown
    assert "`- PersistentVolumeClaim/monitoring/prometheus-data`" in shown
    assert "⏸️ `analytics` waits: outside its allow windows" in shown
    assert f"dockyard diff --base {applied[:12]} --head {head[:12]}" in shown
    json.dumps(outcome.reply.payload())


def test_an_applied_revision_git_no_longer_has_is_explained(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    platform = example_repo(root)
    current = Revision(git(root, "rev-parse", "HEAD"), str(platform))
    gone = "d" * 40
    outcome = queries(DaemonState(revision=current, applied_sha=gone), RevisionReader.at(platform)).diff()
    assert "is not in the daemon's git cache any more" in texts(outcome.reply)
    dirty = f"{current.sha}-dirty-0123456789ab"
    outcome = queries(DaemonState(revision=current, applied_sha=dirty), RevisionReader.at(platform)).diff()
    assert "had uncommitted changes, which Git does not keep" in texts(outcome.reply)
    same = queries(DaemonState(revision=current, applied_sha=current.sha), None).diff()
    assert "Nothing pending" in texts(same.reply) and same.summary == "0 pending change(s)"
