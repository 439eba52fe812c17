"""Reviews on merge requests: compute the comparison, post one comment and the commit status.

:func:`publish` is the whole of one review for a forge (``dockyard review`` in CI calls it once);
:class:`MergeRequestReviewer` is the daemon's: it takes merge-request events from the webhook
endpoints (or from the inbox a standby filled), keeps only the newest head of each merge request,
and reviews them one at a time on a thread of its own, so a webhook is answered at once. It fetches
the target branch and the merge request's head ref (``refs/pull/N/head``, ``refs/merge-requests/N/head``:
a fork's head too) from the platform repo's own remote with the daemon's credentials, then reads
and compares them without any (:class:`~daemon.edges.revisions.RevisionReader`). A merge request
from a fork is validated only: nothing of it is rendered or compared.

Status on the head commit (``dockyard/validate``): ``pending`` while reviewing; ``failure`` for an
invalid head; ``success`` for a valid one, also when the mass-deletion guard would hold it (the
comment says so in its first lines): a commit status has no neutral state on GitHub, ``pending``
would never finish and block a required check for good, and ``failure`` would claim the change
invalid when it is only large; ``error`` when Dockyard could not review at all.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from daemon.edges.forges import Forge
from daemon.edges.git import GitRepo
from daemon.edges.revisions import RevisionReader
from daemon.engine.review import Tree, compare_trees
from daemon.errors import DockyardError, SourceError
from daemon.model.forge import MergeRequest, StatusState
from daemon.policy.review import Comparison
from daemon.views.review import failure_markdown, review_markdown, status_line

log = logging.getLogger(__name__)

_SCP_LIKE = re.compile(r"^[^/:@\s]+@[^/:\s]+:(?!//)")
_STATE: dict[str, StatusState] = {"invalid": "failure", "held": "success", "valid": "success"}


def status_state(comparison: Comparison) -> StatusState:
    return _STATE[comparison.verdict]


def publish(
    forge: Forge,
    mr: MergeRequest,
    compute: Callable[[], Comparison],
    *,
    reproduce: str = "",
    full_diff_note: str = "",
) -> Comparison:
    """Sets ``pending``, computes, posts (or updates) the one comment, sets the final status."""
    forge.set_status(mr, "pending", "Dockyard is reviewing this change")
    try:
        comparison = compute()
    except DockyardError as e:
        message = f"{type(e).__name__}: {e}"
        forge.post_review(mr, failure_markdown(message, reproduce=reproduce))
        forge.set_status(mr, "error", f"Dockyard could not review it: {e}")
        raise
    forge.post_review(mr, review_markdown(comparison, reproduce=reproduce, full_diff_note=full_diff_note))
    forge.set_status(mr, status_state(comparison), status_line(comparison))
    return comparison


def reproduce_command(base: str, head: str) -> str:
    return f"dockyard diff --base {base} --head {head}"


class MergeRequestReviewer:
    """The daemon's reviews: one worker, the newest head of each merge request, leader only."""

    def __init__(
        self,
        repo: GitRepo,
        forges: dict[str, Forge],
        *,
        subdir: str = "",
        is_leader: Callable[[], bool] = lambda: True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._repo = repo
        self._forges = forges
        self._subdir = subdir.strip("/")
        self._is_leader = is_leader
        self._clock = clock
        self._waiting: OrderedDict[str, MergeRequest] = OrderedDict()
        self._wake = threading.Condition()
        self._stopped = False
        self._busy = False
        self._thread: threading.Thread | None = None
        #: (merge request, verdict or error) of the last 100 reviews, newest last
        self._reviewed: list[tuple[MergeRequest, str]] = []

    def accepts(self, provider: str) -> bool:
        return provider in self._forges

    def ignores(self, mr: MergeRequest) -> str:
        """Why a merge request is none of this daemon's business ("" when it is): a webhook of
        another repository must not have that repository's refs fetched from the platform repo."""
        wanted = mr.repository_path.strip("/").lower()
        if not wanted:
            return ""
        remote = re.sub(r"\.git/?$", "", self._repo.url.rstrip("/")).lower()
        remote = remote.split(":", 1)[1] if _SCP_LIKE.match(remote) else remote
        if remote == wanted or remote.endswith("/" + wanted):
            return ""
        return f"{mr.repository_path} is not the platform repo ({self._repo.describe()})"

    def submit(self, mr: MergeRequest) -> None:
        """Queues a review; a newer head of the same merge request replaces one still waiting."""
        with self._wake:
            self._waiting.pop(mr.key, None)
            self._waiting[mr.key] = mr
            self._wake.notify()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dockyard-reviews", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def idle(self) -> bool:
        with self._wake:
            return not self._waiting and not self._busy

    def reviewed(self) -> list[tuple[MergeRequest, str]]:
        with self._wake:
            return list(self._reviewed)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._stopped:
                    self._wake.wait()
                if self._stopped:
                    return
                _, mr = self._waiting.popitem(last=False)
                self._busy = True
            try:
                self.review(mr)
            finally:
                with self._wake:
                    self._busy = False

    def review(self, mr: MergeRequest) -> None:
        """One review, start to end; never raises (a failure is logged and put on the merge request)."""
        if not self._is_leader():
            log.info("not the leader any more; the review of %s is left to the new leader's next event", mr.key)
            return
        forge = self._forges.get(mr.provider)
        if forge is None:
            log.warning("a %s merge request arrived, but no %s token is configured", mr.provider, mr.provider)
            return
        try:
            comparison = publish(
                forge,
                mr,
                lambda: self._compare(mr),
                reproduce=reproduce_command(f"origin/{mr.base_ref}", mr.head_sha[:12]),
            )
            verdict: str = comparison.verdict
            log.info("reviewed %s at %s: %s", mr.key, mr.head_sha[:8], verdict)
        except DockyardError as e:
            verdict = f"error: {e}"
            log.warning("cannot review %s at %s: %s", mr.key, mr.head_sha[:8], e)
        except Exception as e:  # a bug must not kill the worker
            verdict = f"error: {type(e).__name__}"
            log.exception("the review of %s crashed", mr.key)
        with self._wake:
            self._reviewed.append((mr, verdict))
            del self._reviewed[:-100]

    def _compare(self, mr: MergeRequest) -> Comparison:
        base_ref = f"refs/dockyard/review/base/{mr.base_ref}"
        head_ref = f"refs/dockyard/review/{mr.provider}/{mr.number}"
        self._repo.ensure_cache()
        self._repo.install_key()
        self._repo.run(
            "fetch", "--quiet", "--force", "--no-tags", "origin",
            f"+refs/heads/{mr.base_ref}:{base_ref}", f"+{mr.fetch_ref}:{head_ref}",
            network=True,
        )  # fmt: skip
        reader = RevisionReader(self._repo.cache, prefix=self._subdir)
        if not reader.has(mr.head_sha):
            raise SourceError(
                f"the head commit {mr.head_sha[:12]} is not in {mr.fetch_ref} of {self._repo.describe()} "
                "(pushed over again meanwhile? the next event reviews the new head)"
            )
        base_sha = reader.resolve(base_ref)
        scratch = Path(self._repo.workdir) / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        label = f"{mr.base_ref}"
        if mr.fork:
            with reader.exported(mr.head_sha, scratch) as head_dir:
                head = Tree(head_dir, mr.head_ref or "the fork's head", mr.head_sha, "")
                return compare_trees(Tree(head_dir, label, base_sha), head, now=self._clock(), validate_only=True)
        merged = reader.merge_tree(base_sha, mr.head_sha)
        note = (
            f"The head is {mr.head_sha[:8]} merged into {mr.base_ref} ({base_sha[:8]}), as the merge will leave it."
            if merged is not None
            else f"The head does not merge cleanly into {mr.base_ref}; compared with the head as it is."
        )
        with (
            reader.exported(base_sha, scratch) as base_dir,
            reader.exported(merged or mr.head_sha, scratch) as head_dir,
        ):
            base = Tree(base_dir, label, base_sha, reader.message(base_sha))
            head = Tree(head_dir, mr.head_ref or "head", mr.head_sha, reader.message(mr.head_sha))
            return compare_trees(base, head, now=self._clock(), note=note)
