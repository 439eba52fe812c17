"""GitHub: pull-request comments (they are issue comments) and commit statuses, REST API v3."""

from __future__ import annotations

import logging
from typing import Any

from daemon.edges.forges.http import ForgeHttp
from daemon.errors import ForgeError
from daemon.model.forge import STATUS_CONTEXT, MergeRequest, StatusState
from daemon.views.review import COMMENT_MARKER, comment_body

_log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
MAX_COMMENT_CHARS = 65_536
MAX_COMMENT_BYTES = 262_144
MAX_DESCRIPTION = 140


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GitHubForge:
    provider = "github"

    def __init__(self, api_url: str, token: str, **http: Any) -> None:
        if not token:
            raise ForgeError("no GitHub token: set DOCKYARD_GITHUB_TOKEN (or DOCKYARD_FORGE_TOKEN)")
        self._http = ForgeHttp(
            api_url,
            {"Authorization": f"Bearer {token}"},
            secrets=(token,),
            extra_headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION},
            **http,
        )
        self._login: str | bool | None = False  # False: not asked yet; None: the forge would not say

    def _me(self) -> str | None:
        if self._login is False:
            try:
                data = self._http.request("GET", "/user").data
                self._login = str(data.get("login")) if isinstance(data, dict) and data.get("login") else None
            except ForgeError as e:
                # An Actions or App installation token may not read /user: the marker alone decides then.
                _log.info("cannot tell which GitHub user Dockyard is (%s); finding its comment by the marker", e)
                self._login = None
        return self._login if isinstance(self._login, str) else None

    def _find(self, mr: MergeRequest) -> dict[str, Any] | None:
        me = self._me()
        path = f"/repos/{mr.repository}/issues/{mr.number}/comments"
        for comment in self._http.pages(path, {"per_page": 100}):
            if not isinstance(comment, dict) or COMMENT_MARKER not in str(comment.get("body") or ""):
                continue
            author = (comment.get("user") or {}).get("login")
            if me is None or str(author).lower() == me.lower():
                return comment
        return None

    def post_review(self, mr: MergeRequest, markdown: str) -> str:
        body = comment_body(markdown, max_chars=MAX_COMMENT_CHARS, max_bytes=MAX_COMMENT_BYTES)
        found = self._find(mr)
        if found is not None:
            if found.get("body") == body:
                return str(found.get("html_url") or "")
            try:
                answer = self._http.request(
                    "PATCH", f"/repos/{mr.repository}/issues/comments/{found['id']}", {"body": body}
                )
                return str((answer.data or {}).get("html_url") or "")
            except ForgeError as e:
                if e.status != 404:
                    raise
                _log.info("Dockyard's comment on %s was deleted meanwhile; writing a new one", mr.key)
        answer = self._http.request("POST", f"/repos/{mr.repository}/issues/{mr.number}/comments", {"body": body})
        return str((answer.data or {}).get("html_url") or "")

    def set_status(self, mr: MergeRequest, state: StatusState, description: str) -> None:
        self._http.request(
            "POST",
            f"/repos/{mr.repository}/statuses/{mr.head_sha}",
            {"state": state, "context": STATUS_CONTEXT, "description": _clip(description, MAX_DESCRIPTION)},
        )
