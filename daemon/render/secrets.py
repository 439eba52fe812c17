"""Tenants' encrypted Secrets become Secrets in their own namespace (the folder decides it,
whatever the file says), with the values the caller decrypted.

Values go to ``data`` only, base64-encoded: the API server folds ``stringData`` into ``data``, so
a Secret rendered with ``stringData`` would differ from the live one on every comparison.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from daemon.errors import Problem, ValidationFailed
from daemon.model.refs import Metadata
from daemon.model.secrets import SealedSecret, SecretData
from daemon.render.meta import object_meta


def render_secrets(
    sealed: Iterable[SealedSecret], opened: Mapping[tuple[str, str], SecretData], revision: str
) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    missing: list[Problem] = []
    for secret in sealed:
        values = opened.get((secret.tenant, secret.name))
        if values is None:
            # The caller decrypts every Secret or fails; a Secret is never left out quietly.
            missing.append(
                Problem(
                    secret.source.file,
                    secret.source.line,
                    1,
                    f"Secret '{secret.name}' was not decrypted",
                    code="secret.missing",
                )
            )
            continue
        meta = object_meta(
            secret.name,
            source=secret.source,
            revision=revision,
            namespace=secret.tenant,
            tenant=secret.tenant,
            user=Metadata(secret.name, secret.labels, secret.annotations),
        )
        obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": secret.type}
        if secret.immutable:
            obj["immutable"] = True
        obj["data"] = dict(values.data)
        objects.append(obj)
    if missing:
        raise ValidationFailed(missing)
    return objects
