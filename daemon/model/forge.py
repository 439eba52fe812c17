"""Merge requests of the forges Dockyard reviews on (GitHub pull requests, GitLab merge requests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

Provider = Literal["github", "gitlab"]
PROVIDERS: tuple[Provider, ...] = ("github", "gitlab")
#: What a commit status can say (each forge has its own words for them).
StatusState = Literal["pending", "success", "failure", "error"]
#: The name of Dockyard's commit status on both forges (a required check in branch protection).
STATUS_CONTEXT = "dockyard/validate"


@dataclass(frozen=True)
class MergeRequest:
    """One merge request at one head commit: where to comment and what to review.

    ``repository`` is ``owner/name`` on GitHub and the project's id (or full path) on GitLab: the
    *target* repository, where comments and statuses are written. ``fork``: the head comes from
    another repository, so its content is validated only.
    """

    provider: Provider
    repository: str
    number: int  # the pull request's number, the merge request's iid
    head_sha: str
    base_ref: str  # the target branch
    head_ref: str = ""  # the source branch (GitLab statuses name it)
    fork: bool = False
    url: str = ""
    delivery: str = ""
    #: ``owner/name`` / ``group/project``: which repository, to tell it is the platform repo's
    repository_path: str = ""

    @property
    def key(self) -> str:
        """One merge request, whatever its head: ``github:acme/platform#7``."""
        return f"{self.provider}:{self.repository}#{self.number}"

    @property
    def fetch_ref(self) -> str:
        """The ref of the head in the target repository (forks' heads included)."""
        if self.provider == "github":
            return f"refs/pull/{self.number}/head"
        return f"refs/merge-requests/{self.number}/head"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MergeRequest:
        provider = data.get("provider")
        number = data.get("number")
        if provider not in PROVIDERS or not isinstance(number, int) or isinstance(number, bool):
            raise ValueError("not a merge request")
        text = {
            k: str(data.get(k) or "") for k in ("repository", "head_sha", "base_ref", "head_ref", "url", "delivery")
        }
        if not text["repository"] or not text["head_sha"] or not text["base_ref"]:
            raise ValueError("a merge request needs repository, head_sha and base_ref")
        return cls(provider, number=number, fork=bool(data.get("fork")), **text)
