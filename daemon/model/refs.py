"""Identities: where a document came from, a revision of the repo, a Kubernetes object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class SourceRef:
    """Where a document came from: repo-relative file and 1-based line of its first key, and the
    document's ``Kind/name``: the identity that survives comments, reordering and file moves."""

    file: str
    line: int = 1
    document: str = ""


@dataclass(frozen=True)
class Metadata:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


SignatureStatus = Literal["good", "none", "bad", "untrusted", "expired", "revoked", "unchecked"]


@dataclass(frozen=True)
class Signature:
    """What git says of a commit's signature, checked against the daemon's trusted keys."""

    status: SignatureStatus = "unchecked"
    #: the verified principal (SSH allowed-signers) or the key's user id (OpenPGP)
    signer: str = ""
    key: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Revision:
    """A commit of the platform repo, checked out at ``path``."""

    sha: str
    path: str
    author: str = ""
    message: str = ""
    signature: Signature = field(default_factory=Signature)


@dataclass(frozen=True, order=True)
class ObjRef:
    """Identity of a Kubernetes object (Flux inventory style)."""

    group: str
    kind: str
    namespace: str
    name: str

    @property
    def id(self) -> str:
        return f"{self.namespace}_{self.name}_{self.group}_{self.kind}"

    @classmethod
    def from_id(cls, value: str) -> ObjRef:
        namespace, name, group, kind = value.split("_")
        return cls(group=group, kind=kind, namespace=namespace, name=name)

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{kind}/{self.namespace}/{self.name}" if self.namespace else f"{kind}/{self.name}"
