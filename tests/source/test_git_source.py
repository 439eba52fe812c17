"""The Git and local sources against real repositories, `git daemon` and `git http-backend`."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.edges.git import GitRemote
from daemon.edges.source import KEEP_CHECKOUTS, GitSource, LocalSource, Source
from daemon.edges.watcher import ChangeWatcher
from daemon.errors import SourceError
from tests.fixtures_cluster import wait_for
from tests.source.gitservers import AUTHOR, GitDaemon, GitHttpServer, Upstream, free_port, git

TOKEN = "ghp_S3cretT0kenThatMustNeverLeak0123"


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path / "served")


@pytest.fixture
def git_daemon(upstream: Upstream) -> Iterator[GitDaemon]:
    daemon = GitDaemon(upstream.base)
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def http_server(upstream: Upstream) -> Iterator[GitHttpServer]:
    server = GitHttpServer(upstream.base, user="x-access-token", token=TOKEN)
    try:
        yield server
    finally:
        server.stop()


def read(revision_path: str, name: str) -> str:
    return (Path(revision_path) / name).read_text()


# --- remotes ----------------------------------------------------------------------------------


def test_file_remote_follows_the_default_branch_commit_by_commit(upstream: Upstream, tmp_path: Path) -> None:
    first = upstream.commit({"platform.yaml": "v: 1\n"}, "first commit\n\nwith a body")
    upstream.push("main")
    source = GitSource(GitRemote(upstream.file_url), workdir=tmp_path / "wd")

    revision = source.fetch()

    assert revision.sha == first
    assert revision.author == f"{AUTHOR[0]} <{AUTHOR[1]}>"
    assert revision.message == "first commit\n\nwith a body"
    assert Path(revision.path) == tmp_path / "wd" / "checkouts" / first
    assert read(revision.path, "platform.yaml") == "v: 1\n"
    assert not (Path(revision.path) / ".git").exists()

    second = upstream.commit({"platform.yaml": "v: 2\n", "tenants/a.yaml": "a\n"}, "second", author=("Bo", "bo@x.io"))
    upstream.push("main")
    newer = source.fetch()

    assert newer.sha == second
    assert newer.author == "Bo <bo@x.io>"
    assert read(newer.path, "platform.yaml") == "v: 2\n"
    assert read(newer.path, "tenants/a.yaml") == "a\n"
    assert read(revision.path, "platform.yaml") == "v: 1\n", "the previous checkout stays intact"
    assert source.fetch() == newer, "nothing new: the same revision and directory"


def test_git_daemon_remote_and_a_plain_path(upstream: Upstream, git_daemon: GitDaemon, tmp_path: Path) -> None:
    first = upstream.commit({"a.yaml": "1\n"}, "one")
    upstream.push("main")
    over_network = GitSource(GitRemote(git_daemon.url("remote.git")), workdir=tmp_path / "net")
    from_path = GitSource(GitRemote(str(upstream.bare)), workdir=tmp_path / "path")
    assert isinstance(over_network, Source)

    assert over_network.fetch().sha == first
    assert from_path.fetch().sha == first

    second = upstream.commit({"a.yaml": "2\n"}, "two")
    upstream.push("main")
    revision = over_network.fetch()
    assert revision.sha == second
    assert read(revision.path, "a.yaml") == "2\n"
    assert over_network.describe() == git_daemon.url("remote.git")


def test_branch_tag_and_pinned_commit(upstream: Upstream, tmp_path: Path) -> None:
    first = upstream.commit({"app.yaml": "main-1\n"}, "main one")
    upstream.push("main")
    git("tag", "v1", cwd=upstream.work)
    upstream.push("v1")
    upstream.checkout("release", create=True)
    release = upstream.commit({"app.yaml": "release\n"}, "release only")
    upstream.push("release")
    upstream.checkout("main")
    main2 = upstream.commit({"app.yaml": "main-2\n"}, "main two")
    upstream.push("main")
    url = upstream.file_url

    on_branch = GitSource(GitRemote(url, branch="release"), workdir=tmp_path / "b").fetch()
    on_tag = GitSource(GitRemote(url, tag="v1"), workdir=tmp_path / "t").fetch()
    pinned = GitSource(GitRemote(url, commit=first[:10]), workdir=tmp_path / "c").fetch()
    default = GitSource(GitRemote(url), workdir=tmp_path / "d").fetch()

    assert (on_branch.sha, read(on_branch.path, "app.yaml")) == (release, "release\n")
    assert (on_tag.sha, read(on_tag.path, "app.yaml")) == (first, "main-1\n")
    assert (pinned.sha, read(pinned.path, "app.yaml")) == (first, "main-1\n")
    assert (default.sha, read(default.path, "app.yaml")) == (main2, "main-2\n")

    # A tag moved by force is followed as well.
    tagged = GitSource(GitRemote(url), workdir=tmp_path / "t")
    git("tag", "--force", "v1", main2, cwd=upstream.work)
    upstream.push("v1", force=True)
    assert tagged.fetch().sha == main2


def test_missing_branch_or_commit_is_a_source_error(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"a": "1"}, "one")
    upstream.push("main")

    with pytest.raises(SourceError, match="nope"):
        GitSource(GitRemote(upstream.file_url, branch="nope"), workdir=tmp_path / "b").fetch()
    with pytest.raises(SourceError, match="not found"):
        GitSource(GitRemote(upstream.file_url, commit="deadbeef" * 5), workdir=tmp_path / "c").fetch()
    with pytest.raises(SourceError, match="at most one"):
        GitSource(GitRemote(upstream.file_url, branch="main", tag="v1"), workdir=tmp_path / "x")


def test_force_push_rewriting_history_is_followed(upstream: Upstream, git_daemon: GitDaemon, tmp_path: Path) -> None:
    base = upstream.commit({"app.yaml": "base\n"}, "base")
    upstream.commit({"app.yaml": "bad\n"}, "bad change")
    upstream.push("main")
    source = GitSource(GitRemote(git_daemon.url("remote.git")), workdir=tmp_path / "wd")
    assert read(source.fetch().path, "app.yaml") == "bad\n"

    git("reset", "--quiet", "--hard", base, cwd=upstream.work)
    rewritten = upstream.commit({"app.yaml": "rewritten\n"}, "rewritten history")
    upstream.push("main", force=True)
    revision = source.fetch()

    assert revision.sha == rewritten
    assert revision.message == "rewritten history"
    assert read(revision.path, "app.yaml") == "rewritten\n"


def test_default_branch_follows_the_remote_head(upstream: Upstream, tmp_path: Path) -> None:
    upstream.commit({"a": "main"}, "on main")
    upstream.push("main")
    upstream.checkout("trunk", create=True)
    trunk = upstream.commit({"a": "trunk"}, "on trunk")
    upstream.push("trunk")
    source = GitSource(GitRemote(upstream.file_url), workdir=tmp_path / "wd")
    assert source.fetch().sha != trunk

    git("symbolic-ref", "HEAD", "refs/heads/trunk", cwd=upstream.bare)

    assert source.fetch().sha == trunk


def test_checkouts_are_pruned_to_the_newest_three(upstream: Upstream, tmp_path: Path) -> None:
    source = GitSource(GitRemote(upstream.file_url), workdir=tmp_path / "wd")
    shas = []
    for n in range(5):
        shas.append(upstream.commit({"n.yaml": f"{n}\n"}, f"commit {n}"))
        upstream.push("main")
        source.fetch()

    left = sorted(p.name for p in (tmp_path / "wd" / "checkouts").iterdir())
    assert left == sorted(shas[-KEEP_CHECKOUTS:])


def test_a_restarted_source_reuses_its_cache_and_repairs_a_damaged_one(upstream: Upstream, tmp_path: Path) -> None:
    sha = upstream.commit({"a": "1"}, "one")
    upstream.push("main")
    GitSource(GitRemote(upstream.file_url), workdir=tmp_path / "wd").fetch()
    leftover = tmp_path / "wd" / "checkouts" / ".tmp-crashed-checkout"
    leftover.mkdir()

    assert GitSource(GitRemote(upstream.file_url), workdir=tmp_path / "wd").fetch().sha == sha
    assert not leftover.exists(), "half-written checkouts of a crashed run are removed"

    for path in (tmp_path / "wd" / "cache.git" / "objects").iterdir():
        if path.is_dir():
            for file in path.iterdir():
                file.unlink()
    (tmp_path / "wd" / "cache.git" / "HEAD").unlink()
    assert GitSource(GitRemote(upstream.file_url), workdir=tmp_path / "wd").fetch().sha == sha


# --- credentials ------------------------------------------------------------------------------


def _basic(user: str, token: str) -> str:
    return base64.b64encode(f"{user}:{token}".encode()).decode()


def test_token_is_sent_as_a_header_and_never_stored(
    upstream: Upstream, http_server: GitHttpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sha = upstream.commit({"a": "1"}, "one")
    upstream.push("main")

    with_token = GitSource(GitRemote(http_server.url("remote.git"), token=TOKEN), workdir=tmp_path / "token")
    assert with_token.fetch().sha == sha

    in_url = GitSource(GitRemote(http_server.url("remote.git", f"x-access-token:{TOKEN}")), workdir=tmp_path / "url")
    assert in_url.fetch().sha == sha
    assert in_url.describe() == http_server.url("remote.git")

    assert set(http_server.authorizations) == {f"Basic {_basic('x-access-token', TOKEN)}"}
    for workdir in (tmp_path / "token", tmp_path / "url"):
        config = (workdir / "cache.git" / "config").read_text()
        assert TOKEN not in config
        assert _basic("x-access-token", TOKEN) not in config
    assert TOKEN not in caplog.text
    assert _basic("x-access-token", TOKEN) not in caplog.text


def test_rejected_token_is_a_source_error_without_the_token(
    upstream: Upstream, http_server: GitHttpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    upstream.commit({"a": "1"}, "one")
    upstream.push("main")
    wrong = "glpat-WrongTokenAlsoSecret987"

    with pytest.raises(SourceError) as raised:
        GitSource(GitRemote(http_server.url("remote.git", f"oauth2:{wrong}")), workdir=tmp_path / "wd").fetch()

    assert http_server.authorizations == [f"Basic {_basic('oauth2', wrong)}"]
    text = _everything_about(raised.value)
    assert "credentials" in text, "the message says what is wrong"
    for secret in (wrong, _basic("oauth2", wrong)):
        assert secret not in text
        assert secret not in caplog.text


@pytest.mark.parametrize("how", ["userinfo", "token"])
def test_unreachable_remote_is_a_source_error_without_credentials(
    how: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()  # closed again: nothing listens there
    if how == "userinfo":
        source = GitSource(
            GitRemote(f"https://deploy:{TOKEN}@127.0.0.1:{port}/org/platform.git", timeout=20), workdir=tmp_path
        )
    else:
        source = GitSource(
            GitRemote(f"https://127.0.0.1:{port}/org/platform.git", token=TOKEN, timeout=20), workdir=tmp_path
        )

    with pytest.raises(SourceError) as raised:
        source.fetch()

    text = _everything_about(raised.value)
    assert f"127.0.0.1:{port}/org/platform.git" in text, "the message says which remote failed"
    assert source.describe() == f"https://127.0.0.1:{port}/org/platform.git"
    for secret in (TOKEN, _basic("deploy", TOKEN), _basic("x-access-token", TOKEN)):
        assert secret not in text
        assert secret not in caplog.text
        assert secret not in (tmp_path / "cache.git" / "config").read_text()


def test_ssh_remote_uses_the_key_and_fails_cleanly_when_unreachable(tmp_path: Path) -> None:
    key = tmp_path / "deploy_key"
    key.write_text("not a real key\n")
    key.chmod(0o644)  # how Kubernetes mounts a Secret by default; ssh would ignore the key
    port = free_port()
    source = GitSource(
        GitRemote(f"ssh://git@127.0.0.1:{port}/org/platform.git", ssh_key=key, timeout=10), workdir=tmp_path / "wd"
    )

    with pytest.raises(SourceError, match=f"port {port}: Connection refused") as raised:
        source.fetch()
    assert "not a real key" not in str(raised.value)
    assert source.describe() == f"ssh://git@127.0.0.1:{port}/org/platform.git"
    private_copy = tmp_path / "wd" / "ssh-key"
    assert private_copy.read_text() == "not a real key\n"
    assert private_copy.stat().st_mode & 0o777 == 0o600


def _everything_about(error: BaseException) -> str:
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        parts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# --- local directory --------------------------------------------------------------------------


def test_local_source_outside_git_hashes_the_content(tmp_path: Path) -> None:
    (tmp_path / "platform.yaml").write_text("a: 1\n")
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "t.yaml").write_text("t\n")
    source = LocalSource(tmp_path)

    first = source.fetch()
    assert first.sha.startswith("local-")
    assert first.path == str(tmp_path)
    assert source.fetch().sha == first.sha, "unchanged content, same revision"

    # Same size, same second: only the content tells the two apart.
    (tmp_path / "platform.yaml").write_text("a: 2\n")
    second = source.fetch()
    assert second.sha != first.sha
    (tmp_path / "platform.yaml").write_text("a: 3\n")
    third = source.fetch()
    assert third.sha not in (first.sha, second.sha)

    (tmp_path / "tenants" / "t.yaml").rename(tmp_path / "tenants" / "u.yaml")
    assert source.fetch().sha != third.sha, "a rename is a change"


def test_local_source_in_git_reports_head_and_dirty_state(tmp_path: Path) -> None:
    repo = Upstream(tmp_path / "r")
    head = repo.commit({"platform/p.yaml": "1\n", "other.txt": "x"}, "a commit")
    source = LocalSource(repo.work / "platform")

    clean = source.fetch()
    assert (clean.sha, clean.author, clean.message) == (head, f"{AUTHOR[0]} <{AUTHOR[1]}>", "a commit")

    (repo.work / "other.txt").write_text("changes outside the directory do not count")
    assert source.fetch().sha == head

    (repo.work / "platform" / "p.yaml").write_text("2\n")
    dirty = source.fetch()
    assert dirty.sha.startswith(f"{head}-dirty-")
    assert "a commit" in dirty.message
    (repo.work / "platform" / "new.yaml").write_text("new\n")
    assert source.fetch().sha not in (dirty.sha, head)

    committed = repo.commit({}, "second")
    assert source.fetch().sha == committed


# --- watching ---------------------------------------------------------------------------------


class Calls:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            self.count += 1


def test_change_watcher_fires_once_per_burst_and_ignores_git_internals(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "platform.yaml").write_text("0\n")
    local = LocalSource(tmp_path)
    calls = Calls()

    def on_change() -> None:
        calls()
        # Reading every file (as a cycle does) must not count as a change.
        local.fetch()

    watcher = ChangeWatcher(tmp_path, on_change, debounce=0.3)
    watcher.start()
    try:
        for n in range(10):
            (tmp_path / "platform.yaml").write_text(f"{n}\n")
            (tmp_path / f"new-{n}.yaml").write_text("x\n")
            time.sleep(0.03)
        wait_for(lambda: calls.count, timeout=5, message="the watcher to fire", until=lambda n: n >= 1)
        time.sleep(1.0)
        assert calls.count == 1

        (tmp_path / ".git" / "index.lock").write_text("git's own business")
        (tmp_path / ".git" / "index.lock").unlink()
        time.sleep(1.0)
        assert calls.count == 1

        (tmp_path / "platform.yaml").unlink()
        wait_for(lambda: calls.count, timeout=5, message="the watcher to fire again", until=lambda n: n == 2)
    finally:
        watcher.stop()
