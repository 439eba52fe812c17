"""Which commits may be applied, by their signature (pure).

The trusted keys are the daemon's configuration, never the repo's: a commit cannot vouch for
itself. The repo can only tighten the rules: ``spec.verify.required`` of a new revision applies to
that revision at once, while a revision that relaxes them is judged by the rules in force before
it (so turning verification off takes a signed commit).
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.model.kinds import VerifySettings
from daemon.model.refs import Revision

_WHY = {
    "none": "is not signed",
    "bad": "has a signature that does not verify",
    "untrusted": "is signed by a key the daemon does not trust",
    "expired": "is signed by an expired key",
    "revoked": "is signed by a revoked key",
    "unchecked": "could not be checked for a signature",
}


@dataclass(frozen=True)
class VerifyPolicy:
    required: bool = False
    #: when not empty, only these signers are accepted among the trusted keys
    signers: tuple[str, ...] = ()
    #: who asked for it, for the refusal message
    why: str = ""

    @classmethod
    def combine(cls, daemon: bool, before: VerifySettings | None, new: VerifySettings) -> VerifyPolicy:
        if before is not None and before.required:
            # The rules in force judge a revision that changes them.
            return cls(True, before.signers, "spec.verify.required of the applied revision")
        if new.required:
            return cls(True, new.signers, "spec.verify.required of platform.yaml")
        if daemon:
            return cls(True, (), "the daemon's --require-signed-commits")
        return cls()


def signature_refusal(revision: Revision, policy: VerifyPolicy) -> str:
    """Why ``revision`` may not be applied under ``policy``; ``""`` when it may."""
    if not policy.required:
        return ""
    signature = revision.signature
    short = revision.sha[:12]
    if signature.status != "good":
        detail = f" ({signature.detail})" if signature.detail else ""
        return f"commit {short} {_WHY[signature.status]}{detail}; signatures are required by {policy.why}"
    if policy.signers and signature.signer not in policy.signers:
        allowed = ", ".join(policy.signers)
        return (
            f"commit {short} is signed by {signature.signer or 'an unnamed key'}, who is not among the allowed "
            f"signers ({allowed}) of {policy.why}"
        )
    return ""
