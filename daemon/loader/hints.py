"""Turning JSON Schema errors into problems a person can act on.

jsonschema's messages describe the schema ("'x' does not match '^[a-z0-9]...$'"); users need the
field, what would be valid and, where we can guess it, what they meant. Everything here reads the
failing sub-schema (its ``title``, ``description``, ``examples``, ``enum``) so that the schema files
stay the one place where the format is described.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any, Final

from jsonschema import ValidationError

from daemon.errors import Problem
from daemon.loader import formats
from daemon.loader.safeschema import UnsafePattern, pattern_matches
from daemon.loader.yamlsource import Document

_SNAKE: Final = re.compile(r"(?<!^)(?=[A-Z])")
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
#: Fields of Kubernetes pods that reach into the node; tenants never set them, whatever they write.
HOST_LEVEL_FIELDS: Final = frozenset(
    {"hostNetwork", "hostPID", "hostIPC", "hostPath", "hostPort", "hostUsers", "privileged", "procMount"}
)
_TYPE_NAMES: Final = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "empty",
}


def json_path(path: Sequence[str | int]) -> str:
    """``$.spec.ports[0].name``; keys that are not identifiers are quoted: ``$.metadata.labels['a/b']``."""
    parts = ["$"]
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif _IDENTIFIER.match(step):
            parts.append(f".{step}")
        else:
            parts.append("['" + step.replace("'", "\\'") + "']")
    return "".join(parts)


def field_name(path: Sequence[str | int]) -> str:
    """The name of the field at ``path`` for messages: ``replicas``, ``ports[1]``."""
    tail = ""
    for step in reversed(path):
        if isinstance(step, int):
            tail = f"[{step}]{tail}"
        else:
            return f"{step}{tail}"
    return f"document{tail}" if tail else "document"


def describe(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {_short(value)}"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _short(value: object, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    options = [c for c in choices if isinstance(c, str)]
    lowered = {c.lower(): c for c in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return close[0] if close else None


def _expected(schema: dict[str, Any]) -> str:
    """'expected a duration such as 30s, 5m, 6h' built from a sub-schema's title and examples."""
    title = schema.get("title")
    examples = [e for e in schema.get("examples", []) if isinstance(e, str | int | float)]
    text = f"expected {_article(title)}" if isinstance(title, str) else ""
    if examples:
        shown = ", ".join(str(e) for e in examples[:4])
        text = f"{text} such as {shown}" if text else f"for example {shown}"
    return text


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeio" or noun.startswith(("IANA", "HTTP")) else f"a {noun}"


class Explainer:
    """Explains the schema errors of one document; ``tenant`` words messages for tenant documents."""

    def __init__(self, doc: Document, *, tenant: str | None = None, base: Sequence[str | int] = ()) -> None:
        self.doc = doc
        self.tenant = tenant
        self.base = tuple(base)

    def problems(self, errors: Iterable[ValidationError]) -> list[Problem]:
        found: dict[tuple[str, int, int, str], Problem] = {}
        for error in errors:
            for problem in self.explain(error):
                found.setdefault((problem.file, problem.line, problem.column, problem.message), problem)
        return list(found.values())

    def _problem(
        self, path: Sequence[str | int], message: str, hint: str = "", *, key: bool = False, code: str = "schema"
    ) -> Problem:
        where = self.doc.locate(path, key=key)
        return Problem(where.file, where.line, where.column, message, json_path(path), hint, "error", code)

    def explain(self, error: ValidationError) -> list[Problem]:
        path: tuple[str | int, ...] = (*self.base, *error.absolute_path)
        schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
        value = error.instance
        name = field_name(path)
        kind = str(error.validator)
        method = getattr(self, "_on_" + _SNAKE.sub("_", kind).lower(), None)
        if method is not None:
            result: list[Problem] = method(error, path, schema, value, name)
            return result
        return [self._problem(path, error.message, code=f"schema.{kind}")]

    # --- one method per JSON Schema keyword -------------------------------------------------------

    def _on_additional_properties(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        allowed = [str(k) for k in schema.get("properties", {})]
        patterns = [str(p) for p in schema.get("patternProperties", {})]
        out = []
        for key in value if isinstance(value, dict) else ():
            if key in allowed or _matches_any(patterns, key):
                continue
            guess = did_you_mean(key, allowed)
            if key in HOST_LEVEL_FIELDS:
                out.append(
                    self._problem(
                        (*path, key),
                        f"'{key}' is a host-level setting; tenants can never set it",
                        "what runs on a node's own network, processes or files is decided by the platform team",
                        key=True,
                        code="schema.host-level",
                    )
                )
                continue
            if guess:
                hint = f"did you mean '{guess}'?"
            elif allowed:
                hint = "allowed fields: " + ", ".join(allowed)
            else:
                hint = f"{name} takes no fields"
            where = f" in {name}" if path else ""
            out.append(
                self._problem(
                    (*path, key), f"unknown field '{key}'{where}", hint, key=True, code="schema.unknown-field"
                )
            )
        return out

    def _on_required(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [r for r in required if isinstance(value, dict) and r not in value]
        properties = schema.get("properties", {})
        out = []
        for field in missing:
            description = properties.get(field, {}).get("description") or schema.get("description") or ""
            hint = f"{field}: {description}" if description else ""
            where = f" in {name}" if path else ""
            out.append(
                self._problem(path, f"missing required field '{field}'{where}", hint, key=True, code="schema.required")
            )
        return out

    def _on_type(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        expected = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in wanted)
        hint = ""
        if isinstance(value, str) and ("integer" in wanted or "number" in wanted) and _is_number(value):
            hint = "remove the quotes to make it a number"
        elif isinstance(value, bool) and "string" in wanted:
            hint = "YAML reads yes/no/on/off/true/false as booleans; quote the value"
        elif value is None:
            hint = f"give {name} a value or remove it"
        elif isinstance(value, int | float) and "string" in wanted and schema.get("title") == "duration":
            hint = f"add a unit, e.g. '{value}s' or '{value}m'"
        else:
            hint = _expected(schema)
        return [self._problem(path, f"{name} must be {expected}, not {describe(value)}", hint, code="schema.type")]

    def _on_enum(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        allowed = [str(a) for a in error.validator_value] if isinstance(error.validator_value, list) else []
        guess = did_you_mean(str(value), allowed) if isinstance(value, str) else None
        hint = f"did you mean '{guess}'? " if guess else ""
        hint += "allowed values: " + ", ".join(allowed)
        return [self._problem(path, f"{_short(value)} is not a valid {name}", hint, code="schema.enum")]

    def _on_const(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        return [
            self._problem(path, f"{name} must be {error.validator_value!r}, not {_short(value)}", code="schema.const")
        ]

    def _on_pattern(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        return self._bad_format(error, path, schema, value, name)

    def _on_format(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        return self._bad_format(error, path, schema, value, name)

    def _bad_format(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        title = str(schema.get("title") or name)
        is_key = "propertyNames" in error.schema_path
        target = (*path, value) if is_key and isinstance(value, str) else path
        text = str(value)
        if not is_key and title.startswith("DNS-1123") and ("/" in text or "." in text) and "subdomain" not in title:
            return [
                self._problem(
                    target,
                    f"{_short(value)} names something in another namespace; {name} must be a name of this "
                    f"{'tenant' if self.tenant else 'repo'}",
                    "objects can only refer to objects of their own tenant",
                    code="schema.cross-namespace",
                )
            ]
        message = f"{_short(value)} is not a valid {title}"
        if error.validator == "pattern" and not schema.get("title"):
            message = f"{_short(value)} does not match the pattern {_short(error.validator_value)}"
        cause = getattr(error, "cause", None)
        if cause is not None:
            message += f": {cause}"
        suggestion = _suggest(title, text)
        hint = f"did you mean '{suggestion}'? " if suggestion else ""
        expected = _expected(schema)
        if expected:
            hint += expected
        elif isinstance(schema.get("description"), str):
            hint += schema["description"]
        return [self._problem(target, message, hint.strip(), key=is_key, code="schema.format")]

    def _on_minimum(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        return [
            self._problem(
                path,
                f"{name} must be at least {error.validator_value}, not {value}",
                _range(schema),
                code="schema.range",
            )
        ]

    def _on_maximum(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        return [
            self._problem(
                path,
                f"{name} must be at most {error.validator_value}, not {value}",
                _range(schema),
                code="schema.range",
            )
        ]

    def _on_exclusive_minimum(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        return [
            self._problem(
                path, f"{name} must be greater than {error.validator_value}, not {value}", code="schema.range"
            )
        ]

    def _on_exclusive_maximum(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        return [
            self._problem(path, f"{name} must be less than {error.validator_value}, not {value}", code="schema.range")
        ]

    def _on_min_items(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        count = error.validator_value
        return [
            self._problem(
                path,
                f"{name} needs at least {count} item{'s' if count != 1 else ''}",
                str(schema.get("description", "")),
                code="schema.items",
            )
        ]

    def _on_max_items(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        return [self._problem(path, f"{name} takes at most {error.validator_value} items", code="schema.items")]

    def _on_unique_items(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        seen: list[Any] = []
        for index, item in enumerate(value if isinstance(value, list) else []):
            if item in seen:
                return [
                    self._problem(
                        (*path, index),
                        f"{name} lists {_short(item)} twice",
                        "remove the duplicate",
                        code="schema.duplicate-item",
                    )
                ]
            seen.append(item)
        return [self._problem(path, f"{name} has duplicate items", code="schema.duplicate-item")]

    def _on_min_length(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        return [self._problem(path, f"{name} must not be empty", _expected(schema), code="schema.length")]

    def _on_max_length(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        is_key = "propertyNames" in error.schema_path
        target = (*path, value) if is_key and isinstance(value, str) else path
        return [
            self._problem(
                target,
                f"{name} is {len(str(value))} characters long; the limit is {error.validator_value}",
                key=is_key,
                code="schema.length",
            )
        ]

    def _on_min_properties(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        choices = ", ".join(schema.get("properties", {}))
        return [
            self._problem(
                path,
                f"{name} needs at least one of: {choices}",
                str(schema.get("description", "")),
                key=True,
                code="schema.choice",
            )
        ]

    def _on_dependent_required(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        properties = schema.get("properties", {})
        out = []
        dependencies = error.validator_value if isinstance(error.validator_value, dict) else {}
        for field, needs in dependencies.items():
            if not isinstance(value, dict) or field not in value:
                continue
            for needed in needs:
                if needed not in value:
                    description = str(properties.get(needed, {}).get("description", ""))
                    out.append(
                        self._problem(
                            (*path, field),
                            f"{field} needs {needed} in {name}",
                            f"{needed}: {description}" if description else "",
                            key=True,
                            code="schema.dependent",
                        )
                    )
        return out or [self._problem(path, error.message, code="schema.dependent")]

    def _on_one_of(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        keys = _required_choices(error.validator_value)
        if keys is None or not isinstance(value, dict):
            return self._best_of(error, path)
        present = [k for k in keys if k in value]
        if not present:
            message = f"{name} must set one of: {', '.join(keys)}"
        else:
            message = f"{name} must set only one of {', '.join(keys)}; it sets {', '.join(present)}"
        return [self._problem(path, message, str(schema.get("description", "")), key=True, code="schema.choice")]

    def _on_any_of(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        keys = _required_choices(error.validator_value)
        if keys is None:
            return self._best_of(error, path)
        return [
            self._problem(
                path,
                f"{name} must set at least one of: {', '.join(keys)}",
                str(schema.get("description", "")),
                key=True,
                code="schema.choice",
            )
        ]

    def _on_not(
        self, error: ValidationError, path: tuple[str | int, ...], schema: dict[str, Any], value: Any, name: str
    ) -> list[Problem]:
        hint = str(schema.get("description") or "remove it")
        if path[-2:] == ("metadata", "namespace"):
            hint = "remove it"
            if self.tenant:
                message = (
                    f"metadata.namespace cannot be set: the objects of tenant '{self.tenant}' always live in "
                    f"namespace '{self.tenant}'"
                )
            else:
                message = "metadata.namespace cannot be set: the platform decides namespaces"
        else:
            message = f"{name} cannot be set here"
        return [self._problem(path, message, hint, key=True, code="schema.forbidden")]

    def _best_of(self, error: ValidationError, path: tuple[str | int, ...]) -> list[Problem]:
        context = sorted(error.context or (), key=lambda e: (-len(e.absolute_path), str(e.validator)))
        if context:
            return self.explain(context[0])
        return [self._problem(path, error.message, code=f"schema.{error.validator}")]


def _required_choices(subschemas: object) -> list[str] | None:
    """For ``oneOf: [{required: [a]}, {required: [b]}]``: ``[a, b]``; else None."""
    if not isinstance(subschemas, list):
        return None
    keys = []
    for sub in subschemas:
        required = sub.get("required") if isinstance(sub, dict) else None
        if not isinstance(required, list) or len(required) != 1 or len(sub) != 1:
            return None
        keys.append(str(required[0]))
    return keys


def _matches_any(patterns: list[str], key: str) -> bool:
    # The schema may be a Template's: its patterns run on RE2 like in validation.
    try:
        return any(pattern_matches(p, key) for p in patterns)
    except UnsafePattern:
        return False


def _range(schema: dict[str, Any]) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f"allowed range: {low} to {high}"
    return ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _suggest(title: str, text: str) -> str | None:
    if title == "duration":
        return formats.suggest_duration(text)
    if title == "Kubernetes quantity":
        return formats.suggest_quantity(text)
    if title == "IANA time zone":
        return formats.suggest_timezone(text)
    if title.startswith("DNS-1123"):
        return formats.suggest_dns_label(text)
    return None
