"""The JSON Schemas of the platform repo: where they live, and their compiled validators.

The schema files in the repository's ``schemas/`` directory are the single source of truth (users'
editors read them through the ``$schema`` modeline). They live outside the Python package, so the
lookup is in one function; an editable install - what we use - finds them next to the package.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator

from daemon.errors import ConfigError
from daemon.loader.formats import FORMAT_CHECKS, NUMERIC_FORMAT_MAXIMUM, format_checker
from daemon.loader.safeschema import UnsafePattern, compile_pattern, safe_validator
from daemon.model.kinds import KINDS

Schema = dict[str, Any]


def schema_dir() -> Path:
    """Where the schema files are: ``$DOCKYARD_SCHEMAS_DIR``, else the repository's ``schemas/``
    (``daemon/loader/schemas.py`` is three levels down, as in an editable install), else the copy
    a wheel installs under ``<prefix>/share/dockyard/schemas``."""
    override = os.environ.get("DOCKYARD_SCHEMAS_DIR")
    if override:
        return Path(override)
    in_repo = Path(__file__).resolve().parents[2] / "schemas"
    if in_repo.is_dir():
        return in_repo
    return Path(sys.prefix) / "share" / "dockyard" / "schemas"


def schema_path(kind: str) -> Path:
    return schema_dir() / f"{kind.lower()}.schema.json"


def canonical_kind(name: str) -> str | None:
    """The kind spelled as in the format, for a case-insensitive name (``app`` -> ``App``)."""
    return next((k for k in KINDS if k.lower() == name.lower()), None)


@functools.cache
def schema(kind: str) -> Schema:
    """The schema of ``kind`` exactly as written in its file."""
    path = schema_path(kind)
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the {kind} schema {path}: {e}") from e
    if not isinstance(loaded, dict):
        raise ConfigError(f"the {kind} schema {path} is not a JSON object")
    return loaded


def schema_text(kind: str) -> str:
    try:
        return schema_path(kind).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read the {kind} schema: {e}") from e


@functools.cache
def validator(kind: str) -> Draft202012Validator:
    """A compiled validator for ``kind``, built once per process.

    Local ``$ref``s are inlined first: resolving them through ``referencing`` on every value costs
    more than the rest of validation. The inlined copy keeps the ``title``s and sibling
    ``description``s that error messages and hints are made of. Like every schema the loader
    uses, it retrieves nothing and runs its patterns on RE2 (see ``safeschema``).
    """
    original = schema(kind)
    for pattern in _patterns(original):
        try:
            compile_pattern(pattern)
        except UnsafePattern as e:
            raise ConfigError(f"the {kind} schema has a pattern RE2 cannot run ({e}): {pattern}") from e
    inlined = _inline(original, original.get("$defs", {}), 0)
    return safe_validator(inlined, format_checker=format_checker())


def _patterns(node: Any) -> list[str]:
    if isinstance(node, list):
        return [p for item in node for p in _patterns(item)]
    if not isinstance(node, dict):
        return []
    found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
    properties = node.get("patternProperties")
    found += [str(k) for k in properties] if isinstance(properties, dict) else []
    return found + [p for value in node.values() for p in _patterns(value)]


@functools.cache
def _fast_validator(kind: str) -> Any:
    """The same schema compiled by jsonschema-rs, with our own format checks."""
    compiled = validator(kind).schema
    assert isinstance(compiled, dict)
    return jsonschema_rs.Draft202012Validator(
        _numeric_bounds(compiled), formats=dict(FORMAT_CHECKS), validate_formats=True
    )


def _numeric_bounds(node: Any) -> Any:
    """A copy of ``node`` where each quantity format also bounds numbers with ``maximum``:
    jsonschema-rs checks formats of strings only, ours checks a number's size too."""
    if isinstance(node, list):
        return [_numeric_bounds(item) for item in node]
    if not isinstance(node, dict):
        return node
    bounded = {key: _numeric_bounds(value) for key, value in node.items()}
    limit = NUMERIC_FORMAT_MAXIMUM.get(node.get("format", ""))
    if limit is not None:
        bounded["maximum"] = min(limit, bounded.get("maximum", limit))
    return bounded


def is_valid(kind: str, data: object) -> bool:
    """True when ``data`` satisfies the schema of ``kind``, checked by jsonschema-rs (most documents
    are valid, and it answers that about 20 times faster).

    Only the question is asked here: every problem is still found and explained by the
    ``jsonschema`` validator (:func:`validator`), so messages, JSON paths and positions are exactly
    what they were. Where the two engines could disagree (``\\s`` is Unicode-aware in Rust's
    regexes, ASCII in RE2's), the fast one is the stricter, which only sends the document down the
    slow path.
    """
    try:
        return bool(_fast_validator(kind).is_valid(data))
    except (ValueError, OverflowError, TypeError):
        return False  # a value jsonschema-rs cannot represent (an integer past 64 bits): ask jsonschema


@functools.cache
def app_spec_schema() -> Schema:
    """The App ``spec`` schema, inlined: templates validate the App they produce against it."""
    app = validator("App").schema
    assert isinstance(app, dict)
    spec = app["properties"]["spec"]
    assert isinstance(spec, dict)
    return spec


def _inline(node: Any, defs: dict[str, Any], depth: int) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, depth) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and depth < 16:
        target = defs.get(ref.removeprefix("#/$defs/"))
        if isinstance(target, dict):
            merged = copy.deepcopy(target)
            merged.update({k: v for k, v in node.items() if k != "$ref"})
            if "examples" in node and "examples" in target:
                # Hints show examples: the field's own first, then those of the format.
                merged["examples"] = list(dict.fromkeys([*node["examples"], *target["examples"]]))
            return _inline(merged, defs, depth + 1)
    return {k: (v if k == "$defs" else _inline(v, defs, depth)) for k, v in node.items()}
