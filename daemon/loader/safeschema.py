"""JSON Schema validation that treats every schema as data: no retrieval, linear-time regexes.

jsonschema, left to its defaults, fetches any ``$ref`` it cannot resolve locally (``http://``,
``file://``: the daemon would read local files or send requests for whoever writes a schema),
runs ``pattern`` and ``patternProperties`` through Python's backtracking ``re`` (``^(a+)+$``
against 40 characters runs for minutes) and checks ``uniqueItems`` of unhashable items in
quadratic time. :data:`SafeValidator` is Draft 2020-12 with those three changed:

* references resolve only inside the schema: the registry's retrieve function refuses every URI;
* ``pattern``, ``patternProperties`` and ``additionalProperties`` (which consults the patterns)
  use RE2, whose matching time is linear in the input; a pattern RE2 cannot compile (back
  references, look-arounds) fails validation instead of falling back to ``re``;
* ``uniqueItems`` compares canonical JSON texts in a set (JSON Schema equality: ``1 == 1.0``,
  ``true != 1``).

Every schema the loader uses, its own and the Templates' parameter schemas, goes through it.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator
from typing import Any, Final

import re2
from jsonschema import Draft202012Validator, ValidationError, validators
from referencing import Registry
from referencing.exceptions import NoSuchResource

#: jsonschema's keyword functions get the validator instance; its protocol lacks ``descend``.
Validator = Any

#: What RE2 may use to compile one pattern; a pattern that needs more is refused.
RE2_MAX_MEMORY: Final = 4 * 1024 * 1024


class UnsafePattern(ValueError):
    """A regular expression RE2 cannot compile; the message says why."""


@functools.lru_cache(maxsize=2048)
def compile_pattern(pattern: str) -> Any:
    """The RE2 program of ``pattern``; :class:`UnsafePattern` when RE2 cannot compile it."""
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    options.max_mem = RE2_MAX_MEMORY
    try:
        return re2.compile(pattern, options)
    except re2.error as e:
        reason = e.args[0].decode(errors="replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise UnsafePattern(reason or "RE2 cannot compile it") from e


def pattern_matches(pattern: str, text: str) -> bool:
    """``re.search`` semantics on RE2 (raises :class:`UnsafePattern`)."""
    if len(text) <= 128:
        return _short_match(pattern, text)
    return compile_pattern(pattern).search(text) is not None


@functools.lru_cache(maxsize=65536)
def _short_match(pattern: str, text: str) -> bool:
    # The binding costs more per call than Python's re; names and enum-like values repeat a lot.
    return compile_pattern(pattern).search(text) is not None


def _refuse(uri: str) -> Any:
    # Raised inside referencing, which reports the URI as unresolvable: nothing is fetched.
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


#: The registry every validator gets: the JSON Schema metaschemas (bundled) and nothing else.
NO_RETRIEVAL: Final[Registry[Any]] = Registry(retrieve=_refuse)  # type: ignore[call-arg]


def _pattern(validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    try:
        matched = pattern_matches(pattern, instance)
    except UnsafePattern as e:
        yield ValidationError(f"the pattern {pattern!r} cannot be evaluated safely: {e}")
        return
    if not matched:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _matches_any(patterns: Any, key: str) -> bool:
    try:
        return any(pattern_matches(p, key) for p in patterns)
    except UnsafePattern:
        return False


def _pattern_properties(
    validator: Validator, patterns: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        try:
            compile_pattern(pattern)
        except UnsafePattern as e:
            yield ValidationError(f"the pattern {pattern!r} cannot be evaluated safely: {e}")
            continue
        for key, value in instance.items():
            if pattern_matches(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Validator, additional: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    extras = [k for k in instance if k not in properties and not _matches_any(patterns, k)]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        shown = ", ".join(repr(e) for e in sorted(extras)[:20])
        yield ValidationError(f"Additional properties are not allowed ({shown} unexpected)")


def canonical(value: Any) -> str:
    """A text equal for values JSON Schema calls equal (``1`` and ``1.0``; key order ignored)."""

    def normal(item: Any) -> Any:
        if isinstance(item, bool) or item is None or isinstance(item, str):
            return item
        if isinstance(item, float) and math.isfinite(item) and item.is_integer():
            return int(item)
        if isinstance(item, dict):
            return {str(k): normal(v) for k, v in item.items()}
        if isinstance(item, list):
            return [normal(v) for v in item]
        return item

    return json.dumps(normal(value), sort_keys=True, default=str)


def _unique_items(
    validator: Validator, unique: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for item in instance:
        text = canonical(item)
        if text in seen:
            yield ValidationError(f"{item!r} is listed more than once (non-unique elements)")
            return
        seen.add(text)


SafeValidator: Final[type[Draft202012Validator]] = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "uniqueItems": _unique_items,
    },
)


def safe_validator(schema: dict[str, Any], **options: Any) -> Draft202012Validator:
    """A :data:`SafeValidator` for ``schema`` that can reach nothing outside it."""
    return SafeValidator(schema, registry=NO_RETRIEVAL, **options)
