"""The forges Dockyard reviews merge requests on: one client per forge, one interface.

Public API::

    Forge (protocol)
        post_review(mr, markdown) -> str    creates, or updates in place, Dockyard's one comment on
                                            the merge request (found by its hidden marker, among
                                            every page of comments, written by Dockyard's own user
                                            when the forge says who that is); a comment deleted in
                                            between is created again. Returns the comment's URL.
        set_status(mr, state, description)  the ``dockyard/validate`` commit status on the head
    GitHubForge(api_url, token, ...)        REST API v3 (api.github.com or GHES /api/v3)
    GitLabForge(api_url, token, ...)        REST API v4 (https://host/api/v4)

Tokens come in from the settings and go out in a request header only; messages and logs never
show them (see :mod:`daemon.edges.forges.http`).
"""

from __future__ import annotations

from typing import Protocol

from daemon.edges.forges.github import GitHubForge
from daemon.edges.forges.gitlab import GitLabForge
from daemon.model.forge import STATUS_CONTEXT, MergeRequest, StatusState

__all__ = ["STATUS_CONTEXT", "Forge", "GitHubForge", "GitLabForge"]


class Forge(Protocol):
    def post_review(self, mr: MergeRequest, markdown: str) -> str: ...

    def set_status(self, mr: MergeRequest, state: StatusState, description: str) -> None: ...
