"""The forge clients against a local server speaking GitHub's and GitLab's REST APIs: one comment
per merge request found by its marker (on any page, by Dockyard's own user), updated in place,
created again when deleted; statuses in each forge's words and limits; rate limits honoured;
tokens never in a message."""

from __future__ import annotations

import logging
import time

import pytest

from daemon.edges.forges import GitHubForge, GitLabForge
from daemon.errors import ForgeError
from daemon.model.forge import MergeRequest
from daemon.views.review import COMMENT_MARKER
from tests.forges.fakes import BOT, GITHUB_TOKEN, GITLAB_TOKEN, FakeForge

SHA = "a" * 40
PR = MergeRequest("github", "acme/platform", 7, SHA, "main", "feature")
MR = MergeRequest(
    "gitlab",
    "acme/infra/platform",
    3,
    SHA,
    "main",
    "feature",
    url="https://gitlab.example/acme/infra/platform/-/merge_requests/3",
)


def github(forge: FakeForge, **kwargs: object) -> GitHubForge:
    return GitHubForge(forge.github_url, GITHUB_TOKEN, **kwargs)  # type: ignore[arg-type]


def gitlab(forge: FakeForge, **kwargs: object) -> GitLabForge:
    return GitLabForge(forge.gitlab_url, GITLAB_TOKEN, **kwargs)  # type: ignore[arg-type]


def test_github_one_comment_updated_in_place_even_on_page_two(forge: FakeForge) -> None:
    comments = forge.github_pr("acme/platform", 7)
    for i in range(120):  # more than one page of 100
        forge.github_comment("acme/platform", 7, f"chatter {i}")
    forge.github_comment("acme/platform", 7, f"a human quoting {COMMENT_MARKER}", user="mallory")
    client = github(forge)
    client.post_review(PR, "first review")
    assert len(comments) == 122
    ours = comments[-1]
    assert ours["user"]["login"] == BOT and ours["body"].endswith(f"{COMMENT_MARKER}\n")
    url = client.post_review(PR, "second review")
    assert len(comments) == 122, "updated, not a new comment"
    assert ours["body"].startswith("second review") and url == ours["html_url"]
    # Dockyard's comment is now on page 2: a new client still finds it.
    patches = len(forge.requests("PATCH"))
    github(forge).post_review(PR, "third review")
    assert len(comments) == 122 and ours["body"].startswith("third review")
    assert len(forge.requests("PATCH")) == patches + 1
    assert any("page=2" in r.path for r in forge.requests("GET", "/comments"))
    assert forge.comments["acme/platform"][7][120]["body"].startswith("a human"), (
        "a marker by someone else is left alone"
    )
    github(forge).post_review(PR, "third review")
    assert len(forge.requests("PATCH")) == patches + 1, "the same body is not written again"


def test_github_comment_deleted_meanwhile_is_created_again(forge: FakeForge) -> None:
    comments = forge.github_pr("acme/platform", 7)
    client = github(forge)
    client.post_review(PR, "one")
    forge.fault("PATCH", r"/issues/comments/\d+$", 404, body={"message": "Not Found"})
    client.post_review(PR, "two")
    assert [c["body"].split("\n")[0] for c in comments] == ["one", "two"]


def test_github_without_user_access_finds_the_marker(forge: FakeForge) -> None:
    forge.github_user_readable = False
    comments = forge.github_pr("acme/platform", 7)
    client = github(forge)
    client.post_review(PR, "one")
    client.post_review(PR, "two")
    assert len(comments) == 1 and comments[0]["body"].startswith("two")


def test_github_long_comments_are_cut_and_keep_the_marker(forge: FakeForge) -> None:
    forge.github_pr("acme/platform", 7)
    huge = "<details><summary>all</summary>\n\n" + "\n".join(f"| ~ | `object {i}` | `a → b` |" for i in range(5000))
    github(forge).post_review(PR, huge)
    body = forge.comments["acme/platform"][7][0]["body"]
    assert len(body) <= 65536 and body.endswith(f"{COMMENT_MARKER}\n")
    assert "cut to fit the forge's comment limit" in body and body.count("</details>") == 1


def test_github_statuses_in_its_words(forge: FakeForge) -> None:
    client = github(forge)
    client.set_status(PR, "pending", "Dockyard is reviewing")
    client.set_status(PR, "failure", "3 errors; first: " + "x" * 300)
    statuses = forge.statuses["acme/platform"][SHA]
    assert [(s["state"], s["context"]) for s in statuses] == [
        ("pending", "dockyard/validate"),
        ("failure", "dockyard/validate"),
    ]
    assert len(statuses[1]["description"]) == 140 and statuses[1]["description"].endswith("…")


def test_github_rate_limits_are_waited_out(forge: FakeForge) -> None:
    forge.github_pr("acme/platform", 7)
    slept: list[float] = []
    client = github(forge, sleep=slept.append, clock=lambda: 1000.0)
    forge.fault(
        "GET",
        r"/comments$",
        403,
        headers={"Retry-After": "1"},
        body={"message": "You have exceeded a secondary rate limit."},
    )
    forge.fault("POST", r"/comments$", 429, headers={"Retry-After": "2"})
    forge.fault(
        "POST",
        r"/statuses/",
        403,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1030"},
        body={"message": "API rate limit exceeded for user ID 1."},
    )
    forge.fault("POST", r"/statuses/", 502)
    client.post_review(PR, "review")
    client.set_status(PR, "success", "valid")
    assert slept == [1.0, 2.0, 30.0, 1.0], "the backoff of a 502 grows with the attempts of that call"
    assert (
        len(forge.comments["acme/platform"][7]) == 1 and forge.statuses["acme/platform"][SHA][0]["state"] == "success"
    )


def test_github_refusals_are_not_retried_and_name_no_token(forge: FakeForge, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    forge.github_pr("acme/platform", 7)
    forge.fault(
        "POST", r"/statuses/", 403, body={"message": f"Resource not accessible by personal access token {GITHUB_TOKEN}"}
    )
    with pytest.raises(ForgeError) as refused:
        github(forge, sleep=lambda s: pytest.fail("a refusal must not be retried")).set_status(PR, "success", "ok")
    assert refused.value.status == 403 and "not allowed (HTTP 403)" in str(refused.value)
    assert GITHUB_TOKEN not in str(refused.value) and "***" in str(refused.value)
    with pytest.raises(ForgeError, match="the token was refused"):
        GitHubForge(forge.github_url, "ghp_wrong").post_review(PR, "x")
    with pytest.raises(ForgeError, match="not found"):
        github(forge).post_review(MergeRequest("github", "acme/other", 1, SHA, "main"), "x")
    assert GITHUB_TOKEN not in caplog.text


def test_a_rate_limit_longer_than_we_wait_is_an_error(forge: FakeForge) -> None:
    forge.github_pr("acme/platform", 7)
    forge.fault("GET", r"/comments$", 429, headers={"Retry-After": "3600"})
    started = time.monotonic()
    with pytest.raises(ForgeError, match="asks to wait 3600s") as e:
        github(forge, max_wait=10).post_review(PR, "x")
    assert e.value.retry_after == 3600 and time.monotonic() - started < 5


def test_api_urls_with_credentials_or_links_elsewhere_are_refused(forge: FakeForge) -> None:
    with pytest.raises(ForgeError, match="must not carry credentials"):
        GitHubForge("https://user:pw@api.github.com", GITHUB_TOKEN)
    with pytest.raises(ForgeError, match="not an http"):
        GitHubForge("file:///etc", GITHUB_TOKEN)
    forge.github_pr("acme/platform", 7)
    forge.github_comment("acme/platform", 7, "hello")
    forge.fault("GET", r"/comments$", 200, headers={"Link": '<http://127.0.0.2:1/steal?page=2>; rel="next"'}, body=[])
    with pytest.raises(ForgeError, match="pointed outside its API URL"):
        github(forge).post_review(PR, "x")


def test_gitlab_one_note_found_by_path_on_page_two_system_notes_skipped(forge: FakeForge) -> None:
    forge.gitlab_project("acme/infra/platform", 42)
    notes = forge.gitlab_mr(42, 3)
    for i in range(105):
        forge.gitlab_note(42, 3, f"added {i} commit {COMMENT_MARKER if i == 3 else ''}", system=True)
    client = gitlab(forge)
    url = client.post_review(MR, "first")
    assert len(notes) == 106 and notes[-1]["author"]["username"] == BOT and not notes[-1]["body"].endswith("\n")
    assert url == f"{MR.url}#note_{notes[-1]['id']}"
    gitlab(forge).post_review(MR, "second")
    assert len(notes) == 106 and notes[-1]["body"].startswith("second")
    assert forge.requests("PUT")[0].path.startswith(
        "/gitlab/api/v4/projects/acme%2Finfra%2Fplatform/merge_requests/3/notes/"
    )
    assert all(r.headers.get("private-token") == GITLAB_TOKEN for r in forge.requests())
    assert all(r.body is None or isinstance(r.body, dict) for r in forge.requests()), "JSON bodies"
    same = len(forge.requests("PUT"))
    gitlab(forge).post_review(MR, "second")
    assert len(forge.requests("PUT")) == same, "GitLab drops the trailing newline; still the same body"


def test_gitlab_statuses_transitions_and_forks(forge: FakeForge) -> None:
    forge.gitlab_project("acme/infra/platform", 42)
    client = gitlab(forge)
    fork = MergeRequest("gitlab", "42", 3, SHA, "main", "contributor-branch", fork=True)
    client.set_status(fork, "pending", "reviewing")
    client.set_status(fork, "pending", "reviewing again")  # GitLab answers 400 "Cannot transition"
    client.set_status(fork, "error", "x" * 400)
    (status,) = forge.gl_statuses[42][SHA]
    assert (
        status["status"] == "failed" and status["name"] == "dockyard/validate" and status["ref"] == "contributor-branch"
    )
    assert len(status["description"]) == 255
    forge.fault("POST", r"/statuses/", 429, headers={"Retry-After": "1"})
    slept: list[float] = []
    gitlab(forge, sleep=slept.append).set_status(fork, "success", "valid")
    assert slept == [1.0] and forge.gl_statuses[42][SHA][-1]["status"] == "success"
