"""Decrypting SOPS files encrypted with age: the daemon's one way to read secrets from the repo.

A SOPS file is YAML whose selected values are ``ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]``
(AES-256-GCM with a 32-byte nonce; the additional data is the value's path of mapping keys, each
followed by ``:``); its ``sops`` block holds the file's data key encrypted to age recipients and a
MAC: SHA-512 over every value in document order (the plaintext of encrypted ones), encrypted
with the data key and ``lastmodified`` as additional data. Values are hashed as sops' Go code
types them (go-yaml v3: ``yes`` is a string, ``0755`` an octal integer), so this module reads YAML
with that typing, not PyYAML's. It mirrors getsops/sops v3.13 (``aes/cipher.go``, ``sops.go``,
``age/keysource.go``) and was checked against ``sops -d`` value for value.

The MAC binds values, not keys or types, and concatenates values without separators: so nothing
unencrypted in a SOPS file can be trusted for authorisation (callers take the namespace from an
*encrypted* value, see ``daemon.engine.secrets``). Every failure is a :class:`SecretError` whose
message names what is wrong and never carries a value, encrypted or not.

Hostile input is bounded: the caller's file size limit, a budget of nodes and depth, no YAML
aliases (sops never writes them), a handful of age stanzas of bounded size, and every failure of
the parser or the ciphers is caught.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import hashlib
import hmac
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import pyrage
import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from daemon.errors import SecretError

ENC_RE: Final = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]\Z", re.DOTALL)
#: What sops hashes first when only encrypted values are covered (``mac_only_encrypted``).
_MAC_ONLY_ENCRYPTED_INIT: Final = bytes.fromhex("8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69")
MAX_NODES: Final = 20_000
MAX_DEPTH: Final = 32
MAX_STANZAS: Final = 16
MAX_STANZA_BYTES: Final = 16 * 1024
_FLOAT_RE: Final = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_TIMESTAMP_RE: Final = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?"
    r"(Z|[+-]\d{2}:\d{2}))|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?))?$"
)
_SPECIAL: Final[dict[str, object]] = {
    "true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
    **{p + s: (-math.inf if p == "-" else math.inf) for p in ("", "+", "-") for s in (".inf", ".Inf", ".INF")},
}  # fmt: skip
_RESOLVABLE: Final = frozenset(f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "float", "null", "timestamp"))
_PLAIN: Final = "!plain"


class GoTime(str):
    """A YAML timestamp as Go's ``time.Time`` prints it (RFC 3339, nanoseconds)."""


class Comment(str):
    """A decrypted ``type:comment`` value: never part of the MAC."""


class Pairs(list[tuple[str, Any]]):
    """A YAML mapping as sops keeps it: its (key, value) pairs in order."""

    def get(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in self if k == key), default)


@dataclass(frozen=True)
class AgeKeys:
    """The daemon's age identities; parsed once, never shown (``repr`` hides them)."""

    identities: tuple[Any, ...] = field(repr=False)

    @classmethod
    def parse(cls, text: str, *, origin: str) -> AgeKeys:
        """Identities from keys.txt-style text (``AGE-SECRET-KEY-1...`` lines; comments ignored)."""
        found = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line.startswith("AGE-SECRET-KEY-"):
                continue
            try:
                found.append(pyrage.x25519.Identity.from_str(line))
            except Exception as e:  # pyrage's IdentityError; its message is not repeated here
                raise SecretError(f"{origin} holds a line that is not a valid age identity") from e
        if not found:
            raise SecretError(f"{origin} holds no age identity (a line AGE-SECRET-KEY-1...)")
        return cls(tuple(found))


@dataclass(frozen=True)
class Decrypted:
    """A SOPS file's first document, decrypted, as plain values (mappings as dicts, in order)."""

    document: dict[str, Any] = field(repr=False)
    encrypted_paths: frozenset[tuple[str, ...]] = frozenset()

    def was_encrypted(self, *path: str) -> bool:
        return tuple(path) in self.encrypted_paths


# libyaml parses ~10x faster and caps nesting itself; the pure-Python parser is the fallback.
_Base: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    def resolve(self, kind: type[Node], value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and implicit[0]:
            return _PLAIN  # untagged plain scalars are typed below, the way go-yaml v3 types them
        return str(super().resolve(kind, value, implicit))


def _go_time(match: re.Match[str]) -> GoTime:
    y, mo, d, h, mi, s, frac, tz, h2, mi2, s2, frac2 = match.groups()
    if not h:
        h, mi, s, frac = h2 or "0", mi2 or "0", s2 or "0", frac2
    text = f"{int(y):04d}-{int(mo):02d}-{int(d):02d}T{int(h):02d}:{int(mi):02d}:{int(s):02d}"
    frac = (frac or "").rstrip("0")
    zone = "Z" if tz in (None, "Z", "+00:00", "-00:00") else tz
    return GoTime(text + (f".{frac}" if frac else "") + zone)


def _go_int(text: str) -> int | None:
    """``strconv.ParseInt(text, 0, 64)``, then as unsigned; None when neither parses."""
    negative = text[:1] == "-"
    digits = text[1:] if text[:1] in "+-" else text
    base = 10
    if len(digits) > 1 and digits[0] == "0":
        base, digits = {"x": (16, digits[2:]), "o": (8, digits[2:]), "b": (2, digits[2:])}.get(
            digits[1].lower(), (8, digits[1:])
        )
    if not (digits and digits.isascii() and digits.isalnum()) or len(digits) > 64:
        return None
    try:
        value = int(digits, base)
    except ValueError:
        return None
    value = -value if negative else value
    return value if -(2**63) <= value < 2**64 else None


def _plain(value: str) -> object:
    """An untagged plain scalar typed as go-yaml v3 decodes it into ``interface{}``."""
    if value in _SPECIAL:
        return _SPECIAL[value]
    if not value or value[0] in "yYnNtTfFoO~":
        return value
    if value[0] == ".":
        return float(value) if _FLOAT_RE.match(value) else value
    if value[0] in "+-0123456789":
        match = _TIMESTAMP_RE.match(value)
        if match:
            return _go_time(match)
        compact = value.replace("_", "")
        number = _go_int(compact)
        if number is not None:
            return number
        if _FLOAT_RE.match(compact) and len(compact) <= 64:
            return float(compact)
    return value


class _Builder:
    def __init__(self) -> None:
        self.budget = MAX_NODES
        self.seen: set[int] = set()

    def build(self, node: Node, depth: int = 0) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise SecretError(f"the file has more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise SecretError(f"values are nested more than {MAX_DEPTH} levels deep")
        if id(node) in self.seen:
            raise SecretError("the file uses YAML aliases, which sops never writes")
        self.seen.add(id(node))
        if isinstance(node, MappingNode):
            pairs = Pairs()
            for key_node, value_node in node.value:
                key = self.build(key_node, depth + 1)
                if not isinstance(key, str) or isinstance(key, GoTime):
                    raise SecretError("the file has a key that is not a string")
                pairs.append((key, self.build(value_node, depth + 1)))
            return pairs
        if isinstance(node, SequenceNode):
            return [self.build(item, depth + 1) for item in node.value]
        assert isinstance(node, ScalarNode)
        if node.tag == "tag:yaml.org,2002:binary":
            try:
                return base64.b64decode(node.value, validate=False).decode("utf-8", "surrogateescape")
            except (binascii.Error, ValueError) as e:
                raise SecretError("the file has an invalid !!binary value") from e
        if node.tag == _PLAIN or node.tag in _RESOLVABLE:
            return _plain(str(node.value))
        return str(node.value)


def _to_bytes(value: object) -> bytes:
    """The bytes sops hashes (and encrypts) for one value (``sops.ToBytes``)."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise SecretError("the file has an integer sops cannot hold")
        return str(value).encode()
    if isinstance(value, float):  # strconv.FormatFloat(v, 'f', -1, 64)
        if math.isnan(value):
            return b"NaN"
        if math.isinf(value):
            return b"+Inf" if value > 0 else b"-Inf"
        text = format(decimal.Decimal(repr(value)), "f")
        return (text.rstrip("0").rstrip(".") if "." in text else text).encode()
    assert isinstance(value, str)
    return value.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class _Rules:
    """Which values sops encrypted (``shouldBeEncrypted``: each later rule overrides the earlier)."""

    unencrypted_suffix: str = ""
    encrypted_suffix: str = ""
    unencrypted_regex: re.Pattern[str] | None = None
    encrypted_regex: re.Pattern[str] | None = None

    def encrypted(self, path: list[str]) -> bool:
        result = True
        if self.unencrypted_suffix and any(p.endswith(self.unencrypted_suffix) for p in path):
            result = False
        if self.encrypted_suffix:
            result = any(p.endswith(self.encrypted_suffix) for p in path)
        if self.unencrypted_regex is not None and any(self.unencrypted_regex.search(p) for p in path):
            result = False
        if self.encrypted_regex is not None:
            result = any(self.encrypted_regex.search(p) for p in path)
        return result


def _regex(meta: Pairs, key: str) -> re.Pattern[str] | None:
    value = meta.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 512:
        raise SecretError(f"sops.{key} is not a regular expression")
    try:
        return re.compile(value)
    except re.error as e:
        raise SecretError(f"sops.{key} is not a valid regular expression") from e


def _aes_decrypt(value: object, key: bytes, aad: str, where: str) -> object:
    if value == "":
        return ""  # sops never encrypts an empty value
    match = ENC_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise SecretError(f"{where} is not encrypted by sops (expected ENC[AES256_GCM,...])")
    try:
        data, iv, tag = (base64.b64decode(part, validate=True) for part in match.group(1, 2, 3))
        plain = AESGCM(key).decrypt(iv, data + tag, aad.encode())
    except Exception as e:  # a tampered value, a moved value or another file's key: all look alike
        raise SecretError(f"{where} cannot be decrypted: it was changed, moved or encrypted with another key") from e
    kind = match.group(4)
    text = plain.decode("utf-8", "surrogateescape")
    if kind in ("str", "bytes"):
        return text
    if kind == "comment":
        return Comment(text)
    if kind == "time":
        return GoTime(text)
    if kind == "bool":
        return text.lower() in ("1", "t", "true")
    try:
        if kind in ("int", "int64"):
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError as e:
        raise SecretError(f"{where} holds a value that is not of its type {kind}") from e
    raise SecretError(f"{where} has the unknown sops type {kind!r}")


def _data_key(meta: Pairs, keys: AgeKeys) -> bytes:
    if meta.get("key_groups"):
        raise SecretError("the file uses sops key groups (Shamir secret sharing), which the daemon does not read")
    stanzas = meta.get("age") or []
    if not isinstance(stanzas, list) or not stanzas:
        raise SecretError("the file is not encrypted for any age recipient (sops.age is empty)")
    if len(stanzas) > MAX_STANZAS:
        raise SecretError(f"the file lists more than {MAX_STANZAS} age recipients")
    for stanza in stanzas:
        enc = stanza.get("enc") if isinstance(stanza, Pairs) else None
        if not isinstance(enc, str) or len(enc) > MAX_STANZA_BYTES:
            raise SecretError("an age recipient of the file has no valid encrypted data key")
        key = _age_decrypt(enc, keys)
        if key is None:
            continue  # encrypted for someone else: try the next recipient
        if len(key) == 32:
            return key
        raise SecretError("the file's data key is not 32 bytes")
    raise SecretError("none of the file's age recipients is a key of the daemon; re-encrypt it for the daemon's key")


def _age_decrypt(armored: str, keys: AgeKeys) -> bytes | None:
    """The data key from one recipient's stanza; None when no identity of the daemon opens it."""
    try:
        key = pyrage.decrypt(armored.encode(), list(keys.identities))
    except Exception:  # pyrage's DecryptError: not for these identities, or not age at all
        return None
    return key if isinstance(key, bytes) else None


def _lastmodified_aad(value: object) -> str:
    """``lastmodified`` as Go formats it (RFC 3339, no fraction): the MAC's additional data."""
    text = str(value or "")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise SecretError("sops.lastmodified is not a time") from e
    offset = moment.utcoffset()
    if not offset:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    zone = moment.strftime("%z")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + zone[:3] + ":" + zone[3:]


def _documents(text: str) -> list[Pairs]:
    loader = _Loader(text)
    builder = _Builder()
    documents: list[Pairs] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            value = builder.build(node)
            if not isinstance(value, Pairs):
                raise SecretError("a document of the file is not a mapping")
            documents.append(value)
    except yaml.YAMLError as e:
        raise SecretError("the file is not valid YAML") from e
    except RecursionError as e:
        raise SecretError("values are nested too deeply") from e
    finally:
        loader.dispose()
    return documents


def decrypt(text: str, keys: AgeKeys) -> Decrypted:
    """The first document of a SOPS file, decrypted and its MAC verified (over every document)."""
    documents = _documents(text)
    if not documents or not isinstance(documents[0].get("sops"), Pairs):
        raise SecretError("the file has no sops block: it is not encrypted with sops")
    meta = documents[0].get("sops")
    assert isinstance(meta, Pairs)
    if meta.get("unencrypted_comment_regex") or meta.get("encrypted_comment_regex"):
        raise SecretError("the file selects values by comments, which the daemon does not read")
    rules = _Rules(
        unencrypted_suffix=str(meta.get("unencrypted_suffix") or ""),
        encrypted_suffix=str(meta.get("encrypted_suffix") or ""),
        unencrypted_regex=_regex(meta, "unencrypted_regex"),
        encrypted_regex=_regex(meta, "encrypted_regex"),
    )
    key = _data_key(meta, keys)
    only_encrypted = meta.get("mac_only_encrypted") is True
    digest = hashlib.sha512(_MAC_ONLY_ENCRYPTED_INIT if only_encrypted else b"")
    encrypted: set[tuple[str, ...]] = set()
    # Every document carries a copy of the sops block; only the first one's counts, none is data.
    trees = [Pairs((k, v) for k, v in d if k != "sops") for d in documents]
    decrypted = [_walk(tree, [], rules, key, digest, only_encrypted, encrypted) for tree in trees]
    aad = _lastmodified_aad(meta.get("lastmodified"))
    try:
        stored = _aes_decrypt(meta.get("mac") or "", key, aad, "sops.mac")
    except SecretError as e:
        raise SecretError("the file's MAC cannot be decrypted: it was changed or damaged") from e
    if not isinstance(stored, str) or not hmac.compare_digest(stored, digest.hexdigest().upper()):
        raise SecretError("the file's MAC does not match its values: it was changed without sops, or damaged")
    return Decrypted(_plain_values(decrypted[0]), frozenset(encrypted))


def _walk(
    value: Any,
    path: list[str],
    rules: _Rules,
    key: bytes,
    digest: Any,
    only_encrypted: bool,
    encrypted: set[tuple[str, ...]],
) -> Any:
    if isinstance(value, Pairs):
        return Pairs((k, _walk(v, [*path, k], rules, key, digest, only_encrypted, encrypted)) for k, v in value)
    if isinstance(value, list):  # the items of a list share the list's path
        return [_walk(v, path, rules, key, digest, only_encrypted, encrypted) for v in value]
    if value is None:
        return None  # sops neither encrypts nor hashes null
    secret = rules.encrypted(path)
    if secret:
        where = ".".join(path) or "a value"
        value = _aes_decrypt(value, key, ":".join(path) + ":", where)
        encrypted.add(tuple(path))
    if (secret or not only_encrypted) and not isinstance(value, Comment):
        digest.update(_to_bytes(value))
    return value


def _plain_values(value: Any) -> Any:
    if isinstance(value, Pairs):
        return {k: _plain_values(v) for k, v in value if not isinstance(v, Comment)}
    if isinstance(value, list):
        return [_plain_values(v) for v in value if not isinstance(v, Comment)]
    return str(value) if isinstance(value, GoTime) else value
