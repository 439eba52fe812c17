"""A local forge: the subset of GitHub's REST API v3 and GitLab's v4 that Dockyard calls, as the
vendors document them (payload shapes, status codes, pagination headers, limits, error bodies),
in memory, plus fault injection and a request log for the tests.

GitHub lives under ``/github`` (Dockyard's GitHub API URL is ``<base>/github``), GitLab under
``/gitlab/api/v4``. Unknown routes answer 404 as the forges do.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GITHUB_TOKEN = "ghp_fakeGitHubToken0123456789abcdef"
GITLAB_TOKEN = "glpat-fakeGitLabToken-0123456789"
BOT = "dockyard-bot"
SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    count: int = 1


@dataclass
class Logged:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeForge:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next_id = 1000
        # GitHub: repo -> number -> comments; repo -> sha -> statuses
        self.comments: dict[str, dict[int, list[dict[str, Any]]]] = {}
        self.statuses: dict[str, dict[str, list[dict[str, Any]]]] = {}
        # GitLab: project id -> iid -> notes; project id -> sha -> statuses; path -> id
        self.projects: dict[str, int] = {}
        self.notes: dict[int, dict[int, list[dict[str, Any]]]] = {}
        self.gl_statuses: dict[int, dict[str, list[dict[str, Any]]]] = {}
        self.faults: list[Fault] = []
        self.log: list[Logged] = []
        self.github_user_readable = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self, "GET")

            def do_POST(self) -> None:
                server.handle(self, "POST")

            def do_PATCH(self) -> None:
                server.handle(self, "PATCH")

            def do_PUT(self) -> None:
                server.handle(self, "PUT")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # --- setup --------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def github_url(self) -> str:
        return self.base + "/github"

    @property
    def gitlab_url(self) -> str:
        return self.base + "/gitlab/api/v4"

    def start(self) -> FakeForge:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def github_pr(self, repo: str, number: int) -> list[dict[str, Any]]:
        return self.comments.setdefault(repo, {}).setdefault(number, [])

    def gitlab_project(self, path: str, project_id: int) -> None:
        self.projects[path] = project_id

    def gitlab_mr(self, project_id: int, iid: int) -> list[dict[str, Any]]:
        return self.notes.setdefault(project_id, {}).setdefault(iid, [])

    def github_comment(self, repo: str, number: int, body: str, user: str = "someone") -> dict[str, Any]:
        comment = self._gh_comment(repo, number, body, user)
        self.github_pr(repo, number).append(comment)
        return comment

    def gitlab_note(
        self, project_id: int, iid: int, body: str, user: str = "someone", system: bool = False
    ) -> dict[str, Any]:
        note = self._gl_note(project_id, iid, body, user, system)
        self.gitlab_mr(project_id, iid).append(note)
        return note

    def fault(
        self,
        method: str,
        path: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        count: int = 1,
    ) -> None:
        with self.lock:
            self.faults.append(Fault(method, re.compile(path), status, headers or {}, body, count))

    def requests(self, method: str | None = None, contains: str = "") -> list[Logged]:
        return [r for r in self.log if (method is None or r.method == method) and contains in r.path]

    # --- objects ------------------------------------------------------------------------------

    def _now(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def _gh_comment(self, repo: str, number: int, body: str, user: str) -> dict[str, Any]:
        cid = self.new_id()
        return {
            "id": cid,
            "node_id": f"IC_{cid}",
            "url": f"{self.github_url}/repos/{repo}/issues/comments/{cid}",
            "html_url": f"https://github.example/{repo}/pull/{number}#issuecomment-{cid}",
            "issue_url": f"{self.github_url}/repos/{repo}/issues/{number}",
            "body": body,
            "user": {"login": user, "id": 1, "type": "User"},
            "author_association": "CONTRIBUTOR",
            "created_at": self._now(),
            "updated_at": self._now(),
        }

    def _gl_note(self, project_id: int, iid: int, body: str, user: str, system: bool) -> dict[str, Any]:
        return {
            "id": self.new_id(),
            "type": None,
            "body": body,
            "author": {"id": 7, "username": user, "name": user, "state": "active"},
            "created_at": self._now(),
            "updated_at": self._now(),
            "system": system,
            "noteable_type": "MergeRequest",
            "noteable_iid": iid,
            "project_id": project_id,
        }

    # --- HTTP ---------------------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "<not json>"
        raw_path, _, query = h.path.partition("?")
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self.lock:
            self.log.append(Logged(method, h.path, headers, body))
            fault = next((f for f in self.faults if f.method == method and f.path.search(raw_path)), None)
            if fault is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
        if fault is not None:
            self.answer(
                h, fault.status, fault.body if fault.body is not None else {"message": "injected"}, fault.headers
            )
            return
        try:
            if raw_path.startswith("/github/"):
                status, data, extra = self.github(method, raw_path.removeprefix("/github"), params, headers, body)
            elif raw_path.startswith("/gitlab/api/v4/"):
                status, data, extra = self.gitlab(
                    method, raw_path.removeprefix("/gitlab/api/v4"), params, headers, body
                )
            else:
                status, data, extra = 404, {"message": "Not Found"}, {}
        except KeyError:
            status, data, extra = 404, {"message": "Not Found"}, {}
        self.answer(h, status, data, extra)

    @staticmethod
    def answer(h: BaseHTTPRequestHandler, status: int, data: Any, headers: dict[str, str]) -> None:
        payload = json.dumps(data).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(payload)

    # --- GitHub ------------------------------------------------------------------------------

    def github(
        self, method: str, path: str, params: dict[str, str], headers: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        limits = {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
        }
        auth = headers.get("authorization", "")
        if auth not in (f"Bearer {GITHUB_TOKEN}", f"token {GITHUB_TOKEN}"):
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, limits
        if headers.get("x-github-api-version", "2022-11-28") != "2022-11-28":
            return 400, {"message": "Unsupported API version"}, limits
        if path == "/user" and method == "GET":
            if not self.github_user_readable:
                return 403, {"message": "Resource not accessible by integration"}, limits
            return 200, {"login": BOT, "id": 1, "type": "User"}, limits
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", path)
        if m:
            repo, number = m.group(1), int(m.group(2))
            if repo not in self.comments or number not in self.comments[repo]:
                return 404, {"message": "Not Found"}, limits
            comments = self.comments[repo][number]
            if method == "GET":
                per_page = min(int(params.get("per_page", 30)), 100)
                page = int(params.get("page", 1))
                last = max((len(comments) + per_page - 1) // per_page, 1)
                items = sorted(comments, key=lambda c: c["id"])[(page - 1) * per_page : page * per_page]
                extra = dict(limits)
                if page < last:
                    # GitHub rewrites next links to /repositories/{id}/...: follow them verbatim.
                    url = f"{self.github_url}/repos/{repo}/issues/{number}/comments?per_page={per_page}&page="
                    extra["Link"] = f'<{url}{page + 1}>; rel="next", <{url}{last}>; rel="last"'
                return 200, items, extra
            if method == "POST":
                error = self._github_body(body)
                if error:
                    return 422, error, limits
                comment = self._gh_comment(repo, number, body["body"], BOT)
                with self.lock:
                    comments.append(comment)
                return 201, comment, {**limits, "Location": comment["url"]}
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)", path)
        if m and method == "PATCH":
            repo, cid = m.group(1), int(m.group(2))
            for comment in (c for prs in self.comments.get(repo, {}).values() for c in prs):
                if comment["id"] == cid:
                    error = self._github_body(body)
                    if error:
                        return 422, error, limits
                    if comment["user"]["login"] != BOT:
                        return 403, {"message": "Must have admin rights to Repository."}, limits
                    comment["body"], comment["updated_at"] = body["body"], self._now()
                    return 200, comment, limits
            return 404, {"message": "Not Found"}, limits
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)/statuses/([^/]+)", path)
        if m and method == "POST":
            repo, sha = m.group(1), m.group(2)
            if not SHA.match(sha):
                return 422, {"message": "No commit found for SHA: " + sha}, limits
            if not isinstance(body, dict) or body.get("state") not in ("error", "failure", "pending", "success"):
                return (
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [{"resource": "Status", "field": "state", "code": "invalid"}],
                    },
                    limits,
                )
            if len(body.get("description") or "") > 140:
                return (
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {
                                "resource": "Status",
                                "code": "custom",
                                "field": "description",
                                "message": "description is too long (maximum is 140 characters)",
                            }
                        ],
                    },
                    limits,
                )
            status = {
                "id": self.new_id(),
                "state": body["state"],
                "description": body.get("description"),
                "context": body.get("context", "default"),
                "target_url": body.get("target_url"),
                "created_at": self._now(),
            }
            with self.lock:
                self.statuses.setdefault(repo, {}).setdefault(sha, []).append(status)
            return 201, status, limits
        return 404, {"message": "Not Found"}, limits

    @staticmethod
    def _github_body(body: Any) -> dict[str, Any] | None:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
            return {
                "message": "Validation Failed",
                "errors": [{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
            }
        if len(body["body"]) > 65536:
            return {
                "message": "Validation Failed",
                "errors": [
                    {
                        "resource": "IssueComment",
                        "code": "unprocessable",
                        "field": "data",
                        "message": "Body is too long (maximum is 65536 characters)",
                    }
                ],
            }
        return None

    # --- GitLab ------------------------------------------------------------------------------

    def _project_id(self, raw: str) -> int:
        if raw.isdigit() and int(raw) in self.projects.values():
            return int(raw)
        path = urllib.parse.unquote(raw)
        if "/" in raw or path not in self.projects:
            raise KeyError(raw)  # an un-encoded slash, or no such project
        return self.projects[path]

    def gitlab(
        self, method: str, path: str, params: dict[str, str], headers: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        token = headers.get("private-token") or headers.get("authorization", "").removeprefix("Bearer ")
        if token != GITLAB_TOKEN:
            return 401, {"message": "401 Unauthorized"}, {}
        if path == "/user" and method == "GET":
            return 200, {"id": 1, "username": BOT, "bot": True}, {}
        m = re.fullmatch(r"/projects/([^/]+)/merge_requests/(\d+)/notes", path)
        if m:
            try:
                project = self._project_id(m.group(1))
            except KeyError:
                return 404, {"message": "404 Project Not Found"}, {}
            iid = int(m.group(2))
            if iid not in self.notes.get(project, {}):
                return 404, {"message": "404 Not found"}, {}
            notes = self.notes[project][iid]
            if method == "GET":
                ordered = sorted(notes, key=lambda n: n["id"], reverse=params.get("sort", "desc") == "desc")
                per_page = min(int(params.get("per_page", 20)), 100)
                page = int(params.get("page", 1))
                last = max((len(ordered) + per_page - 1) // per_page, 1)
                extra = {
                    "x-page": str(page),
                    "x-per-page": str(per_page),
                    "x-total": str(len(ordered)),
                    "x-total-pages": str(last),
                    "x-next-page": str(page + 1) if page < last else "",
                    "x-prev-page": str(page - 1) if page > 1 else "",
                }
                return 200, ordered[(page - 1) * per_page : page * per_page], extra
            if method == "POST":
                error = self._gitlab_body(body)
                if error:
                    return 400, error, {}
                note = self._gl_note(project, iid, body["body"].rstrip("\n"), BOT, False)
                with self.lock:
                    notes.append(note)
                return 201, note, {}
        m = re.fullmatch(r"/projects/([^/]+)/merge_requests/(\d+)/notes/(\d+)", path)
        if m and method == "PUT":
            try:
                project = self._project_id(m.group(1))
            except KeyError:
                return 404, {"message": "404 Project Not Found"}, {}
            for note in self.notes.get(project, {}).get(int(m.group(2)), []):
                if note["id"] == int(m.group(3)):
                    error = self._gitlab_body(body)
                    if error:
                        return 400, error, {}
                    note["body"], note["updated_at"] = body["body"].rstrip("\n"), self._now()
                    return 200, note, {}
            return 404, {"message": "404 Not found"}, {}
        m = re.fullmatch(r"/projects/([^/]+)/statuses/([^/]+)", path)
        if m and method == "POST":
            try:
                project = self._project_id(m.group(1))
            except KeyError:
                return 404, {"message": "404 Project Not Found"}, {}
            sha = m.group(2)
            if not SHA.match(sha):
                return 404, {"message": "404 Commit Not Found"}, {}
            if not isinstance(body, dict) or body.get("state") not in (
                "pending",
                "running",
                "success",
                "failed",
                "canceled",
                "skipped",
            ):
                return 400, {"error": "state does not have a valid value"}, {}
            for name in ("description", "ref", "target_url"):
                if len(body.get(name) or "") > 255:
                    return 400, {"message": {name: ["is too long (maximum is 255 characters)"]}}, {}
            statuses = self.gl_statuses.setdefault(project, {}).setdefault(sha, [])
            key = (body.get("name", "default"), body.get("ref"))
            with self.lock:
                current = next(
                    (s for s in statuses if (s["name"], s["ref"]) == key and s["status"] in ("pending", "running")),
                    None,
                )
                if current is not None and current["status"] == body["state"]:
                    verb = "enqueue" if body["state"] == "pending" else "run"
                    reason = f'(Reason(s): Status cannot transition via "{verb}")'
                    message = f"Cannot transition status via :{verb} from :{body['state']} {reason}"
                    return 400, {"message": message}, {}
                if current is not None:
                    current["status"], current["description"] = body["state"], body.get("description")
                    return 201, current, {}
                status = {
                    "id": self.new_id(),
                    "sha": sha,
                    "ref": body.get("ref"),
                    "status": body["state"],
                    "name": key[0],
                    "description": body.get("description"),
                    "target_url": body.get("target_url"),
                }
                statuses.append(status)
            return 201, status, {}
        return 404, {"message": "404 Not found"}, {}

    @staticmethod
    def _gitlab_body(body: Any) -> dict[str, Any] | None:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"].strip():
            return {"message": '400 (Bad request) "body" not given'}
        if len(body["body"].encode()) > 1_048_576 or len(body["body"]) > 1_000_000:
            return {"message": '400 Bad request - Note {:note=>["is too long (1 MiB). The maximum size is 1 MiB."]}'}
        return None


def running_forge() -> Iterator[FakeForge]:
    forge = FakeForge().start()
    try:
        yield forge
    finally:
        forge.stop()
