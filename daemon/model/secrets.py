"""Secrets of tenants kept in the repo, encrypted with SOPS (age): sealed as loaded, opened at render."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from daemon.model.refs import SourceRef

#: An encrypted value of a SOPS file.
SOPS_VALUE_RE: Final = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]\Z", re.DOTALL)


#: The Secret types tenants may keep (never service-account tokens or bootstrap tokens).
SECRET_TYPES: Final = (
    "Opaque",
    "kubernetes.io/tls",
    "kubernetes.io/dockerconfigjson",
    "kubernetes.io/basic-auth",
    "kubernetes.io/ssh-auth",
)


@dataclass(frozen=True)
class SealedSecret:
    """A Kubernetes Secret of a tenant as the repo holds it: a SOPS file whose values are encrypted.

    The loader checked its envelope (one Secret, values encrypted, the namespace encrypted too);
    the daemon decrypts ``text`` with its key when it renders (``daemon.engine.secrets``).
    """

    name: str
    tenant: str
    source: SourceRef
    text: str = field(repr=False)
    type: str = "Opaque"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    immutable: bool = False


@dataclass(frozen=True)
class SecretData:
    """The decrypted values of a SealedSecret, base64-encoded as a Secret's ``data`` holds them."""

    data: Mapping[str, str] = field(repr=False)
