"""Encrypted Secrets of a tenant (``tenants/<tenant>/secrets/*.yaml``): their envelope, checked
without the key.

Each file is a Kubernetes Secret encrypted with SOPS for age recipients, as Flux users keep them.
The loader never sees a value: it checks that the file is one Secret, that every value is
encrypted, and that ``metadata.namespace`` is encrypted too. That last rule is what binds a Secret
to its tenant: a SOPS MAC covers values only, not keys, and joins them without separators, so an
unencrypted namespace proves nothing, while an encrypted one cannot be changed, or the file moved
to another tenant's folder, without the key (the daemon compares it with the folder once
decrypted). The namespace of the rendered Secret is always the folder's.
"""

from __future__ import annotations

from typing import Any, Final

from daemon.errors import Problem
from daemon.loader.hints import json_path
from daemon.loader.repo import SourceFile
from daemon.loader.yamlsource import Document, parse_text, read_text
from daemon.model.refs import SourceRef
from daemon.model.secrets import SECRET_TYPES, SOPS_VALUE_RE, SealedSecret

_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
_TOP_LEVEL: Final = frozenset({"apiVersion", "kind", "metadata", "type", "data", "stringData", "immutable", "sops"})
_METADATA: Final = frozenset({"name", "namespace", "labels", "annotations"})
_RESERVED_PREFIX: Final = "dockyard.dev/"
ENCRYPT_HINT: Final = (
    "encrypt it with sops for the daemon's age key, values and namespace included: "
    "sops --encrypt --age <recipient> --encrypted-regex '^(data|stringData|namespace)$' --in-place FILE"
)


def _encrypted(value: object) -> bool:
    return isinstance(value, str) and bool(SOPS_VALUE_RE.match(value))


def _valid_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name) <= 253
        and set(name) <= _NAME_CHARS
        and name[0].isalnum()
        and name[-1].isalnum()
    )


class _Check:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def report(
        self, path: tuple[str | int, ...], message: str, hint: str = "", *, key: bool = False, code: str
    ) -> None:
        where = self.doc.locate(path, key=key)
        self.problems.append(
            Problem(where.file, where.line, where.column, message, json_path(path), hint, "error", code)
        )


def load_secrets(source: SourceFile) -> tuple[list[SealedSecret], list[Problem]]:
    """The sealed Secret of one file, or every problem of its envelope."""
    text, problems = read_text(source.path, source.rel)
    if text is None:
        return [], problems
    documents, problems = parse_text(text, source.rel)
    if problems:
        return [], problems
    if len(documents) != 1:
        line = documents[1].line if len(documents) > 1 else 0
        return [], [
            Problem(
                source.rel,
                line,
                0,
                f"an encrypted Secret file holds exactly one Secret; this one has {len(documents)} documents",
                hint="sops encrypts a file as a whole: put each Secret in a file of its own",
                code="secret.documents",
            )
        ]
    doc = documents[0]
    check = _Check(doc)
    data = doc.data
    if not isinstance(data, dict):
        check.report((), "the document must be a mapping: a Kubernetes Secret", code="secret.shape")
        return [], check.problems
    sealed = _envelope(check, data, source, text)
    return ([sealed] if sealed is not None and not check.problems else []), check.problems


def _envelope(check: _Check, data: dict[str, Any], source: SourceFile, text: str) -> SealedSecret | None:
    tenant = str(source.tenant)
    if data.get("apiVersion") != "v1" or data.get("kind") != "Secret":
        check.report(
            ("kind",),
            "files in secrets/ hold Kubernetes Secrets (apiVersion: v1, kind: Secret)",
            "Dockyard documents belong next to it, outside secrets/",
            code="secret.kind",
        )
        return None
    for key in data:
        if key not in _TOP_LEVEL:
            check.report(
                (key,),
                f"unknown field '{key}' in a Secret",
                "allowed: " + ", ".join(sorted(_TOP_LEVEL)),
                key=True,
                code="secret.field",
            )
    sops = data.get("sops")
    if not isinstance(sops, dict):
        check.report(
            ("kind",), "this Secret is not encrypted: the file has no sops block", ENCRYPT_HINT, code="secret.plain"
        )
        return None
    _sops_block(check, sops)
    meta = data.get("metadata")
    if not isinstance(meta, dict):
        check.report(
            ("metadata",), "a Secret needs metadata with its name and its encrypted namespace", code="secret.metadata"
        )
        return None
    for key in meta:
        if key not in _METADATA:
            check.report(
                ("metadata", key),
                f"unknown field '{key}' in metadata",
                "allowed: " + ", ".join(sorted(_METADATA)),
                key=True,
                code="secret.field",
            )
    name = meta.get("name")
    if not _valid_name(name):
        check.report(
            ("metadata", "name"),
            f"{name!r} is not a valid Secret name",
            "a DNS-1123 subdomain: lower-case letters, digits, '-' and '.'",
            code="secret.name",
        )
    namespace = meta.get("namespace")
    if namespace is None:
        check.report(
            ("metadata",),
            f"metadata.namespace is missing: it must name tenant '{tenant}', encrypted",
            "the encrypted namespace binds the Secret to its tenant; " + ENCRYPT_HINT,
            key=True,
            code="secret.namespace",
        )
    elif not _encrypted(namespace):
        check.report(
            ("metadata", "namespace"),
            "metadata.namespace is not encrypted, so nothing stops this file being replayed in another tenant",
            ENCRYPT_HINT,
            code="secret.namespace",
        )
    labels, annotations = _string_map(check, meta, "labels"), _string_map(check, meta, "annotations")
    kind = data.get("type", "Opaque")
    if kind not in SECRET_TYPES:
        check.report(
            ("type",),
            f"{kind!r} is not a Secret type tenants may keep",
            "types: " + ", ".join(SECRET_TYPES),
            code="secret.type",
        )
    values = 0
    for field in ("data", "stringData"):
        section = data.get(field)
        if section is None:
            continue
        if not isinstance(section, dict):
            check.report((field,), f"{field} must be a mapping of keys to encrypted values", code="secret.shape")
            continue
        for key, value in section.items():
            values += 1
            if not (isinstance(key, str) and key and len(key) <= 253 and all(c.isalnum() or c in "-._" for c in key)):
                check.report(
                    (field, key),
                    f"{key!r} is not a valid Secret key",
                    "letters, digits, '-', '_' and '.'",
                    key=True,
                    code="secret.key",
                )
            if value != "" and not _encrypted(value):
                check.report(
                    (field, key),
                    f"the value of {field}.{key} is not encrypted: never commit a Secret's value in clear text",
                    ENCRYPT_HINT,
                    code="secret.plain",
                )
    if not values:
        check.report(
            ("kind",), "the Secret holds no data", "add data or stringData, then encrypt the file", code="secret.empty"
        )
    immutable = data.get("immutable", False)
    if not isinstance(immutable, bool):
        check.report(("immutable",), "immutable must be true or false", code="secret.shape")
    return SealedSecret(
        name=str(name),
        tenant=tenant,
        source=SourceRef(source.rel, check.doc.line, f"secrets/{name}"),
        text=text,
        type=str(kind),
        labels=labels,
        annotations=annotations,
        immutable=bool(immutable),
    )


def _sops_block(check: _Check, sops: dict[str, Any]) -> None:
    if sops.get("key_groups"):
        check.report(
            ("sops", "key_groups"),
            "the file uses sops key groups (Shamir secret sharing), which the daemon does not read",
            "encrypt it for the daemon's age recipient without key groups",
            key=True,
            code="secret.sops",
        )
        return
    age = sops.get("age")
    if not isinstance(age, list) or not age:
        others = [k for k in ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms") if sops.get(k)]
        why = f"it is encrypted for {', '.join(others)} only" if others else "sops.age lists no recipient"
        check.report(("sops",), f"the daemon decrypts age, and {why}", ENCRYPT_HINT, key=True, code="secret.sops")
        return
    for i, stanza in enumerate(age):
        if not isinstance(stanza, dict) or not isinstance(stanza.get("enc"), str):
            check.report(
                ("sops", "age", i), "an age recipient without its encrypted data key (enc)", code="secret.sops"
            )
    for field in ("mac", "lastmodified"):
        if not sops.get(field):
            check.report(
                ("sops",),
                f"sops.{field} is missing: the file was not written by sops",
                ENCRYPT_HINT,
                key=True,
                code="secret.sops",
            )


def _string_map(check: _Check, meta: dict[str, Any], field: str) -> dict[str, str]:
    value = meta.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        check.report(("metadata", field), f"metadata.{field} must be a mapping", code="secret.shape")
        return {}
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str) or _encrypted(item):
            check.report(
                ("metadata", field, key), f"metadata.{field}.{key} must be a plain string", code="secret.shape"
            )
        elif str(key).startswith(_RESERVED_PREFIX):
            check.report(
                ("metadata", field, key),
                f"'{key}' is under {_RESERVED_PREFIX}, which Dockyard reserves",
                key=True,
                code="secret.reserved",
            )
        else:
            out[str(key)] = item
    return out


def duplicate_secrets(sealed: list[SealedSecret]) -> list[Problem]:
    """Two files of a tenant that hold the same Secret."""
    first: dict[tuple[str, str], SealedSecret] = {}
    problems = []
    for secret in sealed:
        key = (secret.tenant, secret.name)
        if key in first:
            other = first[key].source
            problems.append(
                Problem(
                    secret.source.file,
                    secret.source.line,
                    1,
                    f"duplicate Secret '{secret.name}' in tenant '{secret.tenant}'",
                    hint=f"the first is in {other.file}",
                    code="ref.duplicate",
                )
            )
        else:
            first[key] = secret
    return problems
