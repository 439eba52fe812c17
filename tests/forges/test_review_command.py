"""``dockyard review`` from CI against the local forge: the real command, a real git repo."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.cli import main
from daemon.views.review import COMMENT_MARKER
from tests.forges.fakes import GITHUB_TOKEN, GITLAB_TOKEN, FakeForge
from tests.review.repos import commit_change, example_repo, git


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    platform = example_repo(tmp_path / "repo")
    head = commit_change(tmp_path / "repo", platform)
    return platform, head


def test_github_actions_one_comment_and_the_status(
    repo: tuple[Path, str], forge: FakeForge, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    platform, head = repo
    monkeypatch.setenv("DOCKYARD_FORGE_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/platform")
    monkeypatch.setenv("GITHUB_REF", "refs/pull/7/merge")
    monkeypatch.setenv("DOCKYARD_GITHUB_API_URL", forge.github_url)
    comments = forge.github_pr("acme/platform", 7)
    args = ["review", "--provider", "github", "--repo", str(platform), "--base", "main", "--head", "feature"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("### ✅ Dockyard review:") and GITHUB_TOKEN not in out
    (comment,) = comments
    assert comment["body"].startswith(out.rstrip("\n").split("\n<sub>")[0])
    assert "`shop/web -> analytics/recommender: new: TCP 8080 (cross-tenant)`" in comment["body"]
    assert "merged into main" in comment["body"]
    assert f"Reproduce: `dockyard diff --base main --head {head[:12]}`" in comment["body"]
    assert [(s["state"], s["description"]) for s in forge.statuses["acme/platform"][head]] == [
        ("pending", "Dockyard is reviewing this change"),
        ("success", "valid: 6 to create, 3 to update, 1 to delete, 82 unchanged"),
    ]
    # A new push: the same comment, updated.
    app = platform / "tenants/analytics/recommender.yaml"
    app.write_text(app.read_text().replace("replicas: 2", "replicas: four"))
    git(platform, "commit", "-qam", "broken")
    broken = git(platform, "rev-parse", "HEAD")
    assert main(args) == 1
    assert len(comments) == 1 and COMMENT_MARKER in comments[0]["body"]
    assert "The head is invalid (1 error(s))" in comments[0]["body"]
    assert "tenants/analytics/recommender.yaml:7:" in comments[0]["body"]
    (pending, failure) = forge.statuses["acme/platform"][broken]
    assert pending["state"] == "pending"
    assert failure["state"] == "failure" and failure["description"].startswith(
        "1 error(s); first: tenants/analytics/recommender.yaml:7"
    )


def test_gitlab_ci_fork_is_validated_only(
    repo: tuple[Path, str], forge: FakeForge, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    platform, head = repo
    forge.gitlab_project("acme/platform", 42)
    notes = forge.gitlab_mr(42, 3)
    for name, value in {
        "DOCKYARD_GITLAB_TOKEN": GITLAB_TOKEN,
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "3",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature",
        "CI_MERGE_REQUEST_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "99",
        "CI_API_V4_URL": forge.gitlab_url,
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["review", "--provider", "gitlab", "--repo", str(platform), "--base", "main", "--head", head]) == 0
    (note,) = notes
    assert "comes from a fork: Dockyard **validated it only**. No secrets were used on" in note["body"]
    assert "Network reachability" not in note["body"] and "| + |" not in note["body"]
    (status,) = forge.gl_statuses[42][head]
    assert (status["status"], status["ref"], status["description"]) == (
        "success",
        "feature",
        "valid (fork: validated only)",
    )
    capsys.readouterr()


def test_missing_token_and_merge_request(
    repo: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    platform, _ = repo
    for name in ("DOCKYARD_FORGE_TOKEN", "DOCKYARD_GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_REF"):
        monkeypatch.delenv(name, raising=False)
    args = ["review", "--provider", "github", "--repo", str(platform), "--base", "main"]
    assert main(args) == 2
    assert "no token: set DOCKYARD_FORGE_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("DOCKYARD_FORGE_TOKEN", "t")
    assert main(args) == 2
    assert "--repository is needed" in capsys.readouterr().err
    assert main([*args, "--repository", "a/b"]) == 2
    assert "--number is needed" in capsys.readouterr().err
