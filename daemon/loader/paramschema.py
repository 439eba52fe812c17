"""A Template's parameter schema is data: what it may contain before anything evaluates it.

A parameter schema is a JSON Schema written in a YAML file of the repo. Evaluating one the way
jsonschema would by default lets whoever writes it make the loader (and so the daemon) open
files (``$ref: file:///etc/passwd``, ``file:///dev/zero``), send requests (``$ref:
http://127.0.0.1/...``), hang on a server that never answers, or backtrack for hours on a
``pattern``. So, before it is used, a parameter schema must:

* refer only inside itself (``$ref: "#/..."`` and ``#name``), with no ``$id``, ``$schema`` other
  than draft 2020-12, or dynamic references, which change where references point;
* stay small: at most :data:`MAX_NODES` values, nested at most :data:`MAX_DEPTH` deep, patterns
  at most :data:`MAX_PATTERN_LENGTH` characters;
* have patterns RE2 can run (no back references or look-arounds): validation runs them on RE2
  (:mod:`daemon.loader.safeschema`), whose time is linear in the input.

Every problem points at the value in the Template's file. The schema is then evaluated with
:func:`~daemon.loader.safeschema.safe_validator`, which could not fetch anything anyway.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from jsonschema import Draft202012Validator

from daemon.errors import Problem
from daemon.loader.documents import Entry
from daemon.loader.safeschema import UnsafePattern, compile_pattern, safe_validator

MAX_NODES: Final = 2000
MAX_DEPTH: Final = 32
MAX_PATTERN_LENGTH: Final = 1000
DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"

#: Keywords that move the base URI or resolve at run time: with them a "#" reference can leave
#: the document.
_FORBIDDEN: Final = {
    "$id": "it moves where references point",
    "$dynamicRef": "dynamic references resolve outside the schema",
    "$dynamicAnchor": "dynamic references resolve outside the schema",
    "$recursiveRef": "dynamic references resolve outside the schema",
    "$recursiveAnchor": "dynamic references resolve outside the schema",
    "$vocabulary": "vocabularies are fixed (draft 2020-12)",
}
#: Keywords whose value is a mapping of names to schemas, a schema, or a list of schemas.
_SCHEMA_MAPS: Final = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SCHEMA_VALUES: Final = frozenset(
    {
        "items",
        "contains",
        "additionalProperties",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)
_SCHEMA_LISTS: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})

Path = tuple[str | int, ...]
_BASE: Final[Path] = ("spec", "parameters")


def problems(entry: Entry) -> list[Problem]:
    """What keeps the parameter schema of the Template ``entry`` from being evaluated, located."""
    schema = entry.spec().get("parameters")
    if schema is None:
        return []
    found: list[Problem] = []
    size = _size(schema, 0)
    if size is None:
        return [
            entry.problem(
                _BASE,
                f"spec.parameters is nested more than {MAX_DEPTH} levels deep",
                "a parameter schema describes parameters; keep it shallow",
                code="template.parameters-size",
                key=True,
            )
        ]
    if size > MAX_NODES:
        return [
            entry.problem(
                _BASE,
                f"spec.parameters has more than {MAX_NODES:,} values",
                "a parameter schema describes parameters; keep it small",
                code="template.parameters-size",
                key=True,
            )
        ]
    for path, message, hint in _walk(schema, _BASE):
        found.append(entry.problem(path, message, hint, code="template.parameters"))
    return found


def meta_problems(entry: Entry, schema: dict[str, Any]) -> list[Problem]:
    """Where ``schema`` (the merged parameters of ``entry``'s chain) is not a valid JSON Schema.

    Checked against the draft 2020-12 metaschema without its ``format: regex`` check (which would
    compile patterns with Python's ``re``); patterns were compiled with RE2 by :func:`problems`.
    """
    checker = safe_validator(Draft202012Validator.META_SCHEMA)
    found = []
    for error in checker.iter_errors(schema):
        path = (*_BASE, *(p for p in error.absolute_path))
        found.append(
            entry.problem(
                path,
                f"spec.parameters is not a valid JSON Schema: {error.message[:200]}",
                "see https://json-schema.org/understanding-json-schema/",
                code="template.parameters",
            )
        )
        if len(found) >= 20:
            break
    for path, ref in _refs(schema, _BASE):
        if not _resolves(schema, ref):
            found.append(
                entry.problem(
                    path,
                    f"reference '{ref[:100]}' points at nothing in the parameter schema",
                    "refer to a definition of this schema, e.g. #/$defs/<name>",
                    code="template.parameters",
                )
            )
    return found


def _size(value: Any, depth: int) -> int | None:
    """How many values ``value`` holds; None when it nests deeper than :data:`MAX_DEPTH`."""
    if depth > MAX_DEPTH:
        return None
    total = 1
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        size = _size(child, depth + 1)
        if size is None:
            return None
        total += size
        if total > MAX_NODES:
            return total
    return total


def _walk(schema: Any, path: Path) -> Iterator[tuple[Path, str, str]]:
    if isinstance(schema, list):
        return  # not a schema; the metaschema reports it
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        here = (*path, key)
        if key in _FORBIDDEN:
            yield here, f"'{key}' is not allowed in a parameter schema: {_FORBIDDEN[key]}", "remove it"
        elif key == "$schema" and value != DRAFT:
            yield here, f"'$schema' must be {DRAFT} (or left out)", "parameter schemas are draft 2020-12"
        elif key == "$ref" and not (isinstance(value, str) and value.startswith("#")):
            shown = str(value)[:100]
            yield (
                here,
                f"'$ref: {shown}' refers outside the parameter schema; it is never fetched",
                "only references inside the schema are allowed, e.g. #/$defs/<name>",
            )
        elif key == "pattern" and isinstance(value, str):
            yield from _pattern(here, value)
        elif key == "patternProperties" and isinstance(value, dict):
            for name in value:
                yield from _pattern((*here, name), name)
        elif key == "unevaluatedProperties" and "patternProperties" in schema:
            yield (
                here,
                "unevaluatedProperties next to patternProperties cannot be checked with RE2",
                "use additionalProperties",
            )
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                yield from _walk(sub, (*here, name))
        elif key in _SCHEMA_VALUES:
            yield from _walk(value, here)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            for index, sub in enumerate(value):
                yield from _walk(sub, (*here, index))


def _pattern(path: Path, pattern: str) -> Iterator[tuple[Path, str, str]]:
    if len(pattern) > MAX_PATTERN_LENGTH:
        yield path, f"pattern is {len(pattern):,} characters long; the limit is {MAX_PATTERN_LENGTH:,}", ""
        return
    try:
        compile_pattern(pattern)
    except UnsafePattern as e:
        yield (
            path,
            f"pattern {pattern[:80]!r} cannot run on RE2 ({e})",
            "patterns are evaluated in linear time with RE2: no back references (\\1) or look-arounds "
            "((?=...), (?!...), (?<=...))",
        )


def _refs(schema: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                yield (*path, key), value
            elif key not in ("enum", "const", "default", "examples"):
                yield from _refs(value, (*path, key))
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from _refs(item, (*path, index))


def _resolves(schema: dict[str, Any], ref: str) -> bool:
    """Whether the local reference ``ref`` (``#``, ``#/a/b`` or ``#anchor``) names a value of ``schema``."""
    fragment = ref[1:]
    if not fragment:
        return True
    if not fragment.startswith("/"):
        return any(isinstance(d, dict) and d.get("$anchor") == fragment for d in _dicts(schema))
    node: Any = schema
    for raw in fragment[1:].split("/"):
        step = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return False
    return True


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _dicts(child)
    elif isinstance(value, list):
        for child in value:
            yield from _dicts(child)
