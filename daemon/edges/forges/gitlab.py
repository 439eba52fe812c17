"""GitLab: merge-request notes and commit statuses, REST API v4."""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from daemon.edges.forges.http import ForgeHttp
from daemon.errors import ForgeError
from daemon.model.forge import STATUS_CONTEXT, MergeRequest, StatusState
from daemon.views.review import COMMENT_MARKER, comment_body

_log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 1_000_000
MAX_NOTE_BYTES = 1_000_000
MAX_FIELD = 255
#: GitLab's words: no "failure"/"error"; "running" is the unfinished state a job shows.
_STATES: dict[StatusState, str] = {"pending": "running", "success": "success", "failure": "failed", "error": "failed"}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GitLabForge:
    provider = "gitlab"

    def __init__(self, api_url: str, token: str, **http: Any) -> None:
        if not token:
            raise ForgeError("no GitLab token: set DOCKYARD_GITLAB_TOKEN (or DOCKYARD_FORGE_TOKEN)")
        self._http = ForgeHttp(api_url, {"PRIVATE-TOKEN": token}, secrets=(token,), **http)
        self._username: str | bool | None = False

    @staticmethod
    def _project(mr: MergeRequest) -> str:
        # A numeric id as it is; a full path URL-encoded, slashes included (GitLab's rule).
        return urllib.parse.quote(mr.repository, safe="")

    def _me(self) -> str | None:
        if self._username is False:
            try:
                data = self._http.request("GET", "/user").data
                self._username = str(data.get("username")) if isinstance(data, dict) and data.get("username") else None
            except ForgeError as e:
                _log.info("cannot tell which GitLab user Dockyard is (%s); finding its note by the marker", e)
                self._username = None
        return self._username if isinstance(self._username, str) else None

    def _notes(self, mr: MergeRequest) -> str:
        return f"/projects/{self._project(mr)}/merge_requests/{mr.number}/notes"

    def _find(self, mr: MergeRequest) -> dict[str, Any] | None:
        me = self._me()
        params: dict[str, str | int] = {"sort": "asc", "order_by": "created_at", "per_page": 100}
        for note in self._http.pages(self._notes(mr), params):
            if not isinstance(note, dict) or note.get("system") or COMMENT_MARKER not in str(note.get("body") or ""):
                continue
            author = (note.get("author") or {}).get("username")
            if me is None or str(author).lower() == me.lower():
                return note
        return None

    def post_review(self, mr: MergeRequest, markdown: str) -> str:
        body = comment_body(markdown, max_chars=MAX_NOTE_CHARS, max_bytes=MAX_NOTE_BYTES)
        found = self._find(mr)
        if found is not None:
            # GitLab drops a trailing newline when it stores a note.
            if str(found.get("body") or "").rstrip("\n") == body.rstrip("\n"):
                return f"{mr.url}#note_{found.get('id')}" if mr.url else ""
            try:
                answer = self._http.request("PUT", f"{self._notes(mr)}/{found['id']}", {"body": body})
                return f"{mr.url}#note_{(answer.data or {}).get('id')}" if mr.url else ""
            except ForgeError as e:
                if e.status != 404:
                    raise
                _log.info("Dockyard's note on %s was deleted meanwhile; writing a new one", mr.key)
        answer = self._http.request("POST", self._notes(mr), {"body": body})
        return f"{mr.url}#note_{(answer.data or {}).get('id')}" if mr.url else ""

    def set_status(self, mr: MergeRequest, state: StatusState, description: str) -> None:
        body: dict[str, Any] = {
            "state": _STATES[state],
            "name": STATUS_CONTEXT,
            "description": _clip(description, MAX_FIELD),
        }
        if mr.head_ref:
            # Without a ref GitLab looks for a branch of the target holding the commit: a fork's has none.
            body["ref"] = _clip(mr.head_ref, MAX_FIELD)
        try:
            self._http.request("POST", f"/projects/{self._project(mr)}/statuses/{mr.head_sha}", body)
        except ForgeError as e:
            if e.status == 400 and "Cannot transition status" in str(e):
                return  # the status already is in that state (GitLab refuses to set it again)
            raise
