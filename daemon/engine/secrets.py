"""Opening the repo's encrypted Secrets with the daemon's age key, for rendering.

Each SealedSecret is decrypted (:mod:`daemon.edges.sops` checks the file's MAC), its encrypted
``metadata.namespace`` must name the tenant whose folder holds it, and its values become the
base64 ``data`` of the Secret to render. Any failure names the file and what is wrong, never a
value; the revision is then rejected like an invalid one (nothing of it is applied).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field

from daemon.edges.sops import AgeKeys, decrypt
from daemon.errors import Problem, SecretError, ValidationFailed
from daemon.model.secrets import SealedSecret, SecretData

NO_KEY_HINT = "give the daemon its age key: DOCKYARD_AGE_KEY, or DOCKYARD_AGE_KEY_FILE naming a keys.txt file"


@dataclass(frozen=True)
class SecretOpener:
    """Decrypts SealedSecrets with the daemon's keys (None: the daemon has none)."""

    keys: AgeKeys | None = field(default=None, repr=False)

    def open(self, sealed: Iterable[SealedSecret]) -> dict[tuple[str, str], SecretData]:
        opened: dict[tuple[str, str], SecretData] = {}
        problems: list[Problem] = []
        for secret in sealed:
            try:
                opened[(secret.tenant, secret.name)] = self._open(secret)
            except SecretError as e:
                hint = NO_KEY_HINT if self.keys is None else ""
                problems.append(
                    Problem(
                        secret.source.file,
                        secret.source.line,
                        1,
                        f"cannot decrypt Secret '{secret.name}': {e}",
                        hint=hint,
                        code="secret.decrypt",
                    )
                )
        if problems:
            raise ValidationFailed(problems)
        return opened

    def _open(self, secret: SealedSecret) -> SecretData:
        if self.keys is None:
            raise SecretError("the daemon has no age key")
        opened = decrypt(secret.text, self.keys)
        document = opened.document
        meta = document.get("metadata") or {}
        if not opened.was_encrypted("metadata", "namespace"):
            raise SecretError("metadata.namespace is not encrypted")
        if meta.get("namespace") != secret.tenant:
            # Copied from another tenant's folder (or made for another tenant): refused whole.
            raise SecretError(
                f"it is encrypted for namespace {str(meta.get('namespace'))[:63]!r}, not for tenant "
                f"'{secret.tenant}' whose folder holds it"
            )
        data: dict[str, str] = {}
        for key, value in (document.get("data") or {}).items():
            text = str(value)
            try:
                base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as e:
                raise SecretError(f"data.{key} is not base64 (use stringData for text)") from e
            data[str(key)] = text
        for key, value in (document.get("stringData") or {}).items():
            data[str(key)] = base64.b64encode(str(value).encode()).decode()
        return SecretData(data)
