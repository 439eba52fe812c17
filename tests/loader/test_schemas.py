"""The schema files: complete documentation for editors, and consistent with each other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from daemon.loader.schemas import schema, schema_dir, validator
from daemon.model.kinds import KINDS


def _walk(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def test_one_schema_file_per_kind() -> None:
    assert sorted(p.name for p in schema_dir().glob("*.schema.json")) == sorted(
        f"{k.lower()}.schema.json" for k in KINDS
    )


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_draft_2020_12_with_id(kind: str) -> None:
    document = schema(kind)
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"https://dockyard.dev/schemas/v1alpha1/{kind.lower()}.schema.json"
    assert document["properties"]["kind"]["const"] == kind


@pytest.mark.parametrize("kind", KINDS)
def test_every_field_has_a_description_and_objects_are_closed(kind: str) -> None:
    for path, node in _walk(schema(kind)):
        for name, field in node.get("properties", {}).items() if "/examples" not in path else ():
            assert isinstance(field.get("description"), str), f"{path}/{name}"
            assert field["description"], f"{path}/{name}"
        if node.get("type") == "object" and "properties" in node and "/examples" not in path:
            allowed_open = path.endswith("/app") and kind == "Template"
            assert node.get("additionalProperties") is False or allowed_open, path


@pytest.mark.parametrize("kind", KINDS)
def test_schema_examples_are_valid(kind: str) -> None:
    document = schema(kind)
    assert document["examples"]
    for example in document["examples"]:
        assert list(validator(kind).iter_errors(example)) == []


def test_shared_definitions_are_identical_in_every_schema() -> None:
    """Each file is standalone for editors, so shared $defs are copied; the copies must agree."""
    seen: dict[str, tuple[str, str]] = {}
    for kind in KINDS:
        for name, definition in schema(kind).get("$defs", {}).items():
            encoded = json.dumps(definition, sort_keys=True)
            if name in seen:
                assert seen[name][1] == encoded, f"$defs/{name} differs between {seen[name][0]} and {kind}"
            else:
                seen[name] = (kind, encoded)


def test_enums_and_formats_are_used() -> None:
    text = json.dumps([schema(k) for k in KINDS])
    for needle in ('"enum"', '"format": "cron"', '"format": "timezone"', '"pattern"', '"examples"'):
        assert needle in text
