"""``dockyard diff``: offline, from real git repositories, in all three output forms, and every bad
input answered clearly (never a traceback)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.edges.revisions import RevisionReader
from daemon.engine.review import compare_trees, revision_trees
from daemon.views.paint import Painter
from daemon.views.review import full_diff, review_markdown, review_text
from tests.review.repos import commit_change, example_repo, git, make_change


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["diff", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_change_in_text_with_the_summary_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    platform = example_repo(tmp_path / "repo")
    commit_change(tmp_path / "repo", platform)
    code, out, _ = run(capsys, "--repo", str(platform), "--base", "main", "--head", "feature", "--detailed-exitcode")
    assert code == 2
    summary, _, changes = out.partition("Changes: ")
    assert "PersistentVolumeClaim/monitoring/prometheus-data: deleted with its data (deletionPolicy Delete)" in summary
    assert "shop/web -> analytics/recommender: new: TCP 8080 (cross-tenant)" in summary
    assert "new domain recommender.analytics.example.com (analytics/recommender)" in summary
    assert "analytics: CPU" in summary and "EUR" in summary
    assert changes.startswith("6 to create, 3 to update, 1 to delete")
    # Grouped by tenant, in a stable order: analytics, monitoring, shop.
    assert changes.index("tenant analytics") < changes.index("tenant monitoring") < changes.index("tenant shop")
    assert "+ create Deployment.apps/analytics/recommender  (tenants/analytics/recommender.yaml:1)" in changes
    assert "- delete PersistentVolumeClaim/monitoring/prometheus-data [deletionPolicy Delete]" in changes
    again = run(capsys, "--repo", str(platform), "--base", "main", "--head", "feature")
    assert again == (0, out, ""), "the same answer twice, and exit 0 without --detailed-exitcode"


def test_json_and_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    platform = example_repo(tmp_path / "repo")
    commit_change(tmp_path / "repo", platform)
    code, out, _ = run(capsys, "--repo", str(platform), "--base", "main", "--head", "feature", "-o", "json")
    data = json.loads(out)
    assert code == 0 and data["verdict"] == "valid"
    assert data["counts"] == {"create": 6, "update": 3, "delete": 1, "unchanged": 82}
    assert {
        "from": "shop/web",
        "to": "analytics/recommender",
        "added": "TCP 8080",
        "removed": "",
        "now": "TCP 8080",
        "crossTenant": True,
    } in data["flows"]
    deleted = [c for c in data["changes"] if c["action"] == "delete"]
    assert deleted == [
        {
            "action": "delete",
            "object": "PersistentVolumeClaim/monitoring/prometheus-data",
            "id": "monitoring_prometheus-data__PersistentVolumeClaim",
            "tenant": "monitoring",
            "source": "tenants/monitoring/volumes.yaml:2",
            "fields": [],
            "deletionPolicy": "Delete",
        }
    ]
    code, out, _ = run(capsys, "--repo", str(platform), "--base", "main", "--head", "feature", "-o", "markdown")
    assert out.startswith("### ✅ Dockyard review:")
    assert "**Deleted**\n- ⚠️ `PersistentVolumeClaim/monitoring/prometheus-data: deleted with its data" in out
    assert "| + | `Deployment.apps/analytics/recommender` |" in out


def test_the_work_tree_is_the_default_head_and_a_subdirectory_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    platform = example_repo(tmp_path / "repo", subdir="platform")
    make_change(platform)  # uncommitted
    code, out, _ = run(capsys, "--repo", str(platform), "--base", "HEAD", "--detailed-exitcode")
    assert code == 2
    assert out.startswith("Dockyard diff: HEAD (")
    assert "-> the work tree" in out.splitlines()[0]
    assert "6 to create, 3 to update, 1 to delete" in out


def test_no_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    platform = example_repo(tmp_path / "repo")
    (platform / "README.md").write_text("only words\n")
    code, out, _ = run(capsys, "--repo", str(platform), "--base", "main", "--detailed-exitcode")
    assert code == 0
    assert "No change to the rendered objects." in out


def test_an_invalid_head_prints_its_errors_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    platform = example_repo(tmp_path / "repo")
    app = platform / "tenants/shop/apps/api.yaml"
    app.write_text(app.read_text().replace("replicas: 3", "replicas: lots"))
    for output in ("text", "markdown"):
        code, out, err = run(capsys, "--repo", str(platform), "--base", "main", "-o", output, "--detailed-exitcode")
        assert code == 1 and err == ""
        assert "tenants/shop/apps/api.yaml:12:" in out and "$.spec.replicas" in out
    code, out, _ = run(capsys, "--repo", str(platform), "--base", "main", "-o", "json")
    data = json.loads(out)
    assert code == 1 and data["verdict"] == "invalid" and "summary" not in data
    assert [(p["file"], p["line"], p["path"]) for p in data["head"]["problems"]] == [
        ("tenants/shop/apps/api.yaml", 12, "$.spec.replicas")
    ]


def test_a_base_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    platform = example_repo(tmp_path / "repo")
    code, out, err = run(capsys, "--repo", str(platform), "--base", "origin/nope")
    assert code == 1 and out == ""
    assert "there is no revision 'origin/nope'" in err and "Traceback" not in err
    code, _, err = run(capsys, "--repo", str(platform), "--base=--all")
    assert code == 1 and "'--all' is not a revision" in err
    code, _, err = run(capsys, "--repo", str(tmp_path / "missing"), "--base", "main")
    assert code == 2 and "no such directory" in err
    outside = tmp_path / "plain"
    outside.mkdir()
    code, _, err = run(capsys, "--repo", str(outside), "--base", "main")
    assert code == 1 and "is not inside a git repository" in err


def test_a_base_that_is_not_a_platform_repo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "notes.md").write_text("nothing here yet\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "empty")
    example_repo(tmp_path / "other")
    for item in (tmp_path / "other").iterdir():
        if item.name != ".git":
            item.rename(root / item.name)
    code, out, _ = run(capsys, "--repo", str(root), "--base", "main")
    assert code == 1
    assert "The base is not a valid platform repo" in out and "platform.yaml" in out


def test_a_bare_repository_needs_a_head(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    platform = example_repo(tmp_path / "repo")
    commit_change(tmp_path / "repo", platform)
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(platform), str(bare))
    code, _, err = run(capsys, "--repo", str(bare), "--base", "main")
    assert code == 1 and "pass --head REF" in err
    code, out, _ = run(capsys, "--repo", str(bare), "--base", "main", "--head", "feature")
    assert code == 0 and "6 to create" in out


def test_hundreds_of_changes_are_summarised_and_the_full_diff_is_complete(tmp_path: Path) -> None:
    from bench.gen_platform import generate

    root = tmp_path / "repo"
    generate(root, 110, 3)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "110 tenants")
    for path in root.glob("tenants/*/apps/app[12].yaml"):
        path.write_text(path.read_text().replace("busybox:1.36", "busybox:1.37"))
    reader = RevisionReader.at(root)
    with revision_trees(reader, "main", None, work_tree=reader.work_tree) as (base, head, note):
        comparison = compare_trees(base, head, now=datetime.now(UTC), note=note)
    text = review_text(comparison, Painter(False))
    assert text.count("~ update") == 200
    assert "… and 20 more object(s): --full-diff-file PATH or --output json has every change" in text
    markdown = review_markdown(comparison)
    assert markdown.count("| ~ |") == 100 and "… and 120 more object(s)." in markdown
    full = full_diff(comparison)
    assert full.count("~ update StatefulSet.apps/") == 220
    assert full.count("busybox:1.36 → busybox:1.37") == 220


def test_the_full_diff_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    platform = example_repo(tmp_path / "repo")
    commit_change(tmp_path / "repo", platform)
    target = tmp_path / "artifacts" / "full-diff.txt"
    code, _, err = run(
        capsys, "--repo", str(platform), "--base", "main", "--head", "feature", "--full-diff-file", str(target)
    )
    assert code == 2 and "cannot write it" in err, "a folder that does not exist is a usage error"
    target.parent.mkdir()
    code, out, _ = run(
        capsys, "--repo", str(platform), "--base", "main", "--head", "feature", "--full-diff-file", str(target)
    )
    assert code == 0 and target.read_text() == out


def test_a_mass_deletion_is_held_and_says_how_to_let_it_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.gen_platform import generate

    root = tmp_path / "repo"
    generate(root, 10, 3)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "10 tenants")
    for number in range(5, 10):
        git(root, "rm", "-rq", f"tenants/t{number:04d}")
    neighbour = root / "tenants/t0004/tenant.yaml"
    neighbour.write_text(neighbour.read_text().replace("tenant: t0005", "tenant: t0000"))
    # The ring of tenants closes again: t0000 now lets its traffic out to t0004 instead of t0009.
    first = root / "tenants/t0000/tenant.yaml"
    first.write_text(first.read_text().replace("tenant: t0009", "tenant: t0004"))
    code, out, _ = run(capsys, "--repo", str(root), "--base", "main", "-o", "markdown")
    assert code == 0, out
    assert out.startswith("### ⚠️ Dockyard review:")
    assert "> ⚠️ **The mass-deletion guard would hold this merge:** it deletes" in out
    assert "more than prune.maxFraction=0.3" in out
    assert "merge with a commit message carrying 'dockyard-allow-mass-prune: true'" in out
    assert "`PersistentVolumeClaim/t0005/app1-data: stays in the cluster with its data, no longer managed" in out
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "five tenants go\n\ndockyard-allow-mass-prune: true")
    code, out, _ = run(capsys, "--repo", str(root), "--base", "main", "--head", "HEAD", "-o", "markdown")
    assert out.startswith("### ✅ Dockyard review:") and "would hold" not in out, "the trailer lets it through"
