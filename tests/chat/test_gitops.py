"""scale and rollback become commits in real repositories: a bare remote (also behind an HTTP
server that demands a token), and a local work tree."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from daemon.chat.gitops import GitOps, Requester
from daemon.edges.git import GitRemote
from daemon.errors import ChatError
from tests.platforms import PlatformRepo, doc
from tests.source.gitservers import GitHttpServer, Upstream, git

ALICE = Requester("U0ALICE1", "alice")
TRAILER = "Requested-by: <@U0ALICE1> (alice) via Slack"


class Repo:
    """An upstream with a platform repo (optionally in a subdirectory) pushed to main."""

    def __init__(self, base: Path, *, subdir: str = "") -> None:
        self.up = Upstream(base)
        self.subdir = subdir
        self.platform = PlatformRepo(self.up.work / subdir if subdir else self.up.work, "shop")

    def push(self, message: str, extra: dict[str, str] | None = None) -> str:
        self.platform.write()
        sha = self.up.commit(extra or {}, message)
        self.up.push("HEAD:main")
        return sha

    def show(self, rev: str, path: str) -> str:
        return git("--git-dir", str(self.up.bare), "show", f"{rev}:{path}")

    def app(self, rev: str, name: str) -> dict[str, object]:
        prefix = f"{self.subdir}/" if self.subdir else ""
        return dict(yaml.safe_load(self.show(rev, f"{prefix}tenants/shop/app-{name}.yaml"))["spec"])

    def main(self) -> str:
        return git("--git-dir", str(self.up.bare), "rev-parse", "main")

    def ops(self, base: Path) -> GitOps:
        return GitOps.for_remote(
            GitRemote(self.up.file_url, branch="main", subdir=self.subdir), workdir=base / "chat-git"
        )


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path / "upstream")
    r.push("initial platform")
    return r


def test_scale_commits_to_the_branch_authored_by_dockyard_with_the_requester_in_a_trailer(
    repo: Repo, tmp_path: Path
) -> None:
    before = repo.main()
    result = repo.ops(tmp_path).scale("shop", "app1", 3, requester=ALICE, mode="direct")
    assert result.direct and result.branch == "main" and repo.main() == result.sha
    assert git("--git-dir", str(repo.up.bare), "rev-parse", f"{result.sha}^") == before
    author = git("--git-dir", str(repo.up.bare), "show", "-s", "--format=%an <%ae>|%cn <%ce>", result.sha)
    assert author == "Dockyard <dockyard@dockyard.dev>|Dockyard <dockyard@dockyard.dev>"
    message = git("--git-dir", str(repo.up.bare), "show", "-s", "--format=%B", result.sha)
    assert message.startswith("Scale shop/app1 to 3 replicas\n")
    assert message.strip().endswith(TRAILER)
    trailers = git("--git-dir", str(repo.up.bare), "show", "-s", "--format=%(trailers:key=Requested-by)", result.sha)
    assert trailers.strip() == TRAILER
    assert repo.app(result.sha, "app1")["replicas"] == 3
    assert repo.app(result.sha, "app2")["replicas"] == 2
    assert result.files == ("tenants/shop/app-app1.yaml",)
    assert result.summary == "spec.replicas 2 → 3 in tenants/shop/app-app1.yaml:7"


def test_comments_and_formatting_of_the_app_file_are_kept(repo: Repo, tmp_path: Path) -> None:
    text = (
        "# Storefront - owned by the shop team\n"
        "apiVersion: dockyard.dev/v1alpha1\n"
        "kind: App\n"
        "metadata:\n"
        "  name: app1\n"
        "spec:\n"
        "  image: 'busybox:1.36'   # pinned\n"
        "  replicas: 2   # two for HA\n"
        "  ports: [{name: http, port: 8080}]\n"
        "  resources: {cpu: 50m, memory: 32Mi}\n"
    )
    del repo.platform.apps["app1"]
    repo.push("hand-written app1", {"tenants/shop/app-app1.yaml": text})
    result = repo.ops(tmp_path).scale("shop", "app1", 4, requester=ALICE, mode="direct")
    assert repo.show(result.sha, "tenants/shop/app-app1.yaml") == text.replace("replicas: 2 ", "replicas: 4 ").rstrip(
        "\n"
    )


def test_branch_mode_pushes_a_review_branch_and_leaves_main_alone(repo: Repo, tmp_path: Path) -> None:
    main = repo.main()
    result = repo.ops(tmp_path).scale("shop", "app2", 5, requester=ALICE, mode="branch")
    assert not result.direct and result.base_branch == "main"
    assert result.branch.startswith("dockyard/scale-") and len(result.branch) == len("dockyard/scale-") + 8
    assert repo.main() == main
    assert git("--git-dir", str(repo.up.bare), "rev-parse", f"refs/heads/{result.branch}") == result.sha
    assert git("--git-dir", str(repo.up.bare), "rev-parse", f"{result.sha}^") == main
    assert repo.app(result.sha, "app2")["replicas"] == 5
    assert result.merge_request_url is None  # a file:// remote has no web UI


def test_an_app_under_an_autoscaling_is_refused_with_what_to_change_instead(repo: Repo, tmp_path: Path) -> None:
    repo.platform.autoscalings["app1"] = doc(
        "Autoscaling", "app1-hpa", {"target": "app1", "minReplicas": 2, "maxReplicas": 6, "metrics": [{"cpu": "70%"}]}
    )
    main = repo.push("autoscale app1")
    with pytest.raises(ChatError) as caught:
        repo.ops(tmp_path).scale("shop", "app1", 3, requester=ALICE, mode="direct")
    assert "Autoscaling `app1-hpa` (2 to 6 replicas)" in str(caught.value)
    assert "minReplicas/maxReplicas in tenants/shop/autoscaling-app1.yaml" in caught.value.hint
    assert repo.main() == main


@pytest.mark.parametrize(
    ("tenant", "app", "replicas", "message", "hint"),
    [
        ("shap", "app1", 3, "there is no tenant `shap`", "did you mean `shop`?"),
        ("shop", "app9", 3, "tenant `shop` has no app `app9`", "did you mean"),
        ("shop", "app1", 2, "already has 2 replica(s)", ""),
    ],
)
def test_wrong_names_and_no_ops_are_refused_kindly(
    repo: Repo, tmp_path: Path, tenant: str, app: str, replicas: int, message: str, hint: str
) -> None:
    main = repo.main()
    with pytest.raises(ChatError) as caught:
        repo.ops(tmp_path).scale(tenant, app, replicas, requester=ALICE, mode="direct")
    assert message in str(caught.value) and hint in caught.value.hint
    assert repo.main() == main


def test_rollback_commits_the_old_state_on_top_and_keeps_the_history(repo: Repo, tmp_path: Path) -> None:
    good = repo.main()
    repo.platform.apps["app1"]["spec"]["image"] = "busybox:1.37"
    repo.platform.apps["app3"] = doc("App", "app3", {"image": "busybox:1.37"})
    bad = repo.push("app1 1.37 and a new app3")
    result = repo.ops(tmp_path).rollback(good[:10], requester=ALICE, mode="direct")
    assert repo.main() == result.sha
    assert git("--git-dir", str(repo.up.bare), "rev-parse", f"{result.sha}^") == bad  # on top, nothing rewritten
    tree = lambda rev: git("--git-dir", str(repo.up.bare), "rev-parse", f"{rev}^{{tree}}")  # noqa: E731
    assert tree(result.sha) == tree(good)
    assert repo.app(result.sha, "app1")["image"] == "busybox:1.36"
    assert sorted(result.files) == ["tenants/shop/app-app1.yaml", "tenants/shop/app-app3.yaml"]
    message = git("--git-dir", str(repo.up.bare), "show", "-s", "--format=%B", result.sha)
    assert message.startswith(f"Roll back the platform to {good[:8]}\n")
    assert f"as it was at {good} (initial platform)" in message and message.strip().endswith(TRAILER)


def test_rollback_refuses_unknown_current_and_invalid_revisions(repo: Repo, tmp_path: Path) -> None:
    first = repo.main()
    repo.platform.apps["app1"]["spec"]["replicas"] = "many"
    invalid = repo.push("broken")
    repo.platform.apps["app1"]["spec"]["replicas"] = 2
    fixed = repo.push("fixed")
    ops = repo.ops(tmp_path)
    with pytest.raises(ChatError, match="cannot find revision `deadbeef`"):
        ops.rollback("deadbeef", requester=ALICE, mode="direct")
    with pytest.raises(ChatError, match="already at"):
        ops.rollback(fixed, requester=ALICE, mode="direct")
    with pytest.raises(ChatError, match=f"revision {invalid[:8]} is not a valid platform repo"):
        ops.rollback(invalid, requester=ALICE, mode="direct")
    assert repo.main() == fixed
    with pytest.raises(ChatError, match="is the same as now; there is nothing to roll back"):
        ops.rollback(first, requester=ALICE, mode="direct")  # "fixed" restored exactly that state
    repo.platform.apps["app2"]["spec"]["image"] = "busybox:1.37"
    repo.push("app2 1.37")
    assert ops.rollback(first, requester=ALICE, mode="direct").sha == repo.main()


def test_a_subdirectory_platform_rolls_back_alone(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "upstream", subdir="deploy/platform")
    good = repo.push("initial", {"README.md": "v1\n"})
    repo.platform.apps["app1"]["spec"]["image"] = "busybox:1.37"
    repo.push("app1 1.37 and docs", {"README.md": "v2\n"})
    result = repo.ops(tmp_path).rollback(good, requester=ALICE, mode="direct")
    assert repo.app(result.sha, "app1")["image"] == "busybox:1.36"
    assert repo.show(result.sha, "README.md") == "v2"  # outside the platform directory: untouched
    assert result.files == ("deploy/platform/tenants/shop/app-app1.yaml",)
    scaled = repo.ops(tmp_path).scale("shop", "app2", 1, requester=ALICE, mode="direct")
    assert scaled.summary.endswith("in deploy/platform/tenants/shop/app-app2.yaml:7")


def test_a_push_that_loses_a_race_is_redone_on_the_new_tip(repo: Repo, tmp_path: Path) -> None:
    ops = repo.ops(tmp_path)
    raced: list[str] = []
    remote = ops._repo
    assert remote is not None
    real_publish = remote.publish

    def someone_pushes_first(commit: str, base: str, branch: str, *, direct: bool) -> None:
        if not raced:  # a colleague's commit lands between our fetch and our push
            repo.platform.apps["app2"]["spec"]["image"] = "busybox:1.37"
            raced.append(repo.push("colleague's change"))
        real_publish(commit, base, branch, direct=direct)

    remote.publish = someone_pushes_first  # type: ignore[method-assign]
    result = ops.scale("shop", "app1", 3, requester=ALICE, mode="direct")
    assert git("--git-dir", str(repo.up.bare), "rev-parse", f"{result.sha}^") == raced[0]
    assert repo.app(result.sha, "app1")["replicas"] == 3 and repo.app(result.sha, "app2")["image"] == "busybox:1.37"


def test_pushes_use_the_daemons_token_and_never_show_it(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "upstream")
    repo.push("initial platform")
    server = GitHttpServer(repo.up.base, user="x-access-token", token="tok-s3cret-123")
    try:
        ops = GitOps.for_remote(
            GitRemote(server.url("remote.git"), token="tok-s3cret-123"), workdir=tmp_path / "chat-git"
        )
        result = ops.scale("shop", "app1", 3, requester=ALICE, mode="direct")
        assert repo.main() == result.sha  # the default branch, found through the remote's HEAD
        bad = GitOps.for_remote(
            GitRemote(server.url("remote.git"), token="wrong-token-456"), workdir=tmp_path / "other"
        )
        with pytest.raises(ChatError) as caught:
            bad.scale("shop", "app1", 4, requester=ALICE, mode="direct")
        assert "wrong-token-456" not in str(caught.value) and "credentials" in str(caught.value)
    finally:
        server.stop()
    assert "tok-s3cret-123" not in (tmp_path / "chat-git" / "cache.git" / "config").read_text()


def test_a_pinned_daemon_cannot_commit(tmp_path: Path) -> None:
    ops = GitOps.for_remote(GitRemote("https://example.com/p.git", tag="v1"), workdir=tmp_path)
    assert not ops.available
    with pytest.raises(ChatError, match="follows tag v1"):
        ops.scale("shop", "app1", 3, requester=ALICE, mode="direct")


# --- local directory mode ------------------------------------------------------------------------------


def test_local_mode_commits_in_the_work_tree_and_updates_its_files(repo: Repo) -> None:
    work = repo.up.work
    ops = GitOps.for_local(work)
    result = ops.scale("shop", "app1", 3, requester=ALICE, mode="direct")
    assert git("rev-parse", "HEAD", cwd=work) == result.sha
    assert yaml.safe_load((work / "tenants/shop/app-app1.yaml").read_text())["spec"]["replicas"] == 3
    assert git("status", "--porcelain", cwd=work) == ""
    assert git("show", "-s", "--format=%an%n%B", "HEAD", cwd=work).strip().endswith(TRAILER)


def test_local_mode_branch_leaves_the_work_tree_alone(repo: Repo) -> None:
    work = repo.up.work
    head = git("rev-parse", "HEAD", cwd=work)
    result = GitOps.for_local(work).scale("shop", "app1", 3, requester=ALICE, mode="branch")
    assert git("rev-parse", "HEAD", cwd=work) == head
    assert git("rev-parse", result.branch, cwd=work) == result.sha
    assert yaml.safe_load((work / "tenants/shop/app-app1.yaml").read_text())["spec"]["replicas"] == 2


def test_local_mode_never_overwrites_uncommitted_work(repo: Repo) -> None:
    work = repo.up.work
    path = work / "tenants/shop/app-app1.yaml"
    edited = path.read_text() + "# my unsaved thoughts\n"
    path.write_text(edited)
    head = git("rev-parse", "HEAD", cwd=work)
    with pytest.raises(ChatError, match="overwritten"):
        GitOps.for_local(work).scale("shop", "app1", 3, requester=ALICE, mode="direct")
    assert path.read_text() == edited and git("rev-parse", "HEAD", cwd=work) == head


def test_a_local_directory_outside_git_is_refused_clearly(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    PlatformRepo(plain, "shop").write()
    ops = GitOps.for_local(plain)
    assert not ops.available
    with pytest.raises(ChatError) as caught:
        ops.scale("shop", "app1", 3, requester=ALICE, mode="direct")
    assert "not inside a git work tree" in str(caught.value) and "change the repo in Git" in caught.value.hint
