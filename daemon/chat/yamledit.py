"""Surgical YAML edits (pure): change one value and leave every other character of the file alone.

Round-tripping a file through a YAML library reflows it (quotes, indentation, long lines, flow
styles, blank lines) and turns a one-line change into a noisy diff. Here the file is only parsed
to find *where* the value is (PyYAML's composer gives each node its exact position); the edit is
then a string splice, so comments, anchors, key order and formatting all stay as the author wrote
them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from daemon.errors import ChatError

__all__ = ["CanaryEdit", "Edit", "add_volume_share", "end_canary", "set_app_replicas", "set_volume_restore"]


@dataclass(frozen=True)
class Edit:
    text: str  # the whole new file
    before: str | None  # the value as written before, None when the key was added
    line: int  # 1-based line of the value


def _get(mapping: MappingNode, key: str) -> tuple[ScalarNode, Node] | None:
    for k, v in mapping.value:
        if isinstance(k, ScalarNode) and k.value == key:
            return k, v
    return None


def _scalar(mapping: MappingNode, *path: str) -> str | None:
    node: Node = mapping
    for key in path:
        if not isinstance(node, MappingNode):
            return None
        found = _get(node, key)
        if found is None:
            return None
        node = found[1]
    return node.value if isinstance(node, ScalarNode) else None


def _find_document(text: str, kind: str, name: str, file: str) -> MappingNode:
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise ChatError(f"{file} is not valid YAML: {e}") from e
    matches = [
        d
        for d in documents
        if isinstance(d, MappingNode) and _scalar(d, "kind") == kind and _scalar(d, "metadata", "name") == name
    ]
    if len(matches) != 1:
        raise ChatError(f"{file} has {len(matches)} {kind} documents named {name}; expected exactly one")
    return matches[0]


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def set_app_replicas(text: str, app: str, replicas: int, *, file: str = "the file") -> Edit:
    """``text`` with ``spec.replicas`` of the App document named ``app`` set to ``replicas``.

    Replaces the value where it is written (keeping a trailing comment), or adds the key to the
    spec when the document has none: after ``image:`` in a block mapping, first in a flow mapping.
    """
    document = _find_document(text, "App", app, file)
    found = _get(document, "spec")
    if found is None or not isinstance(found[1], MappingNode):
        raise ChatError(f"the App {app} in {file} has no spec mapping to set replicas in")
    spec = found[1]
    value = str(replicas)
    existing = _get(spec, "replicas")
    if existing is not None:
        node = existing[1]
        start, end = node.start_mark.index, node.end_mark.index
        if not isinstance(node, ScalarNode) or text[start:end].count("\n"):
            raise ChatError(f"spec.replicas of the App {app} in {file} is not a plain number; edit it by hand")
        return Edit(text[:start] + value + text[end:], text[start:end], node.start_mark.line + 1)

    if spec.flow_style:
        # `spec: {image: x}` or `spec: {}`: the new key goes right after the brace.
        brace = spec.start_mark.index
        if text[brace : brace + 1] != "{":
            raise ChatError(f"cannot add spec.replicas to the App {app} in {file}; add it by hand")
        insert = f"replicas: {value}" + (", " if spec.value else "")
        return Edit(text[: brace + 1] + insert + text[brace + 1 :], None, spec.start_mark.line + 1)

    if not spec.value:
        raise ChatError(f"the spec of the App {app} in {file} is empty; add replicas by hand")
    first_key = spec.value[0][0]
    indent = first_key.start_mark.column
    anchor = _get(spec, "image")
    if anchor is not None and anchor[1].start_mark.line == anchor[1].end_mark.line:
        # After the image line (past any comment on it), where people expect replicas.
        at = text.find("\n", anchor[1].end_mark.index)
        at = len(text) if at < 0 else at + 1
        line = anchor[1].end_mark.line + 2
        prefix = "" if at < len(text) or text.endswith("\n") else "\n"
    else:
        at = _line_start(text, first_key.start_mark.index)
        line = first_key.start_mark.line + 1
        prefix = ""
        if text[at : first_key.start_mark.index].strip():
            raise ChatError(f"cannot add spec.replicas to the App {app} in {file}; add it by hand")
    new_line = f"{prefix}{' ' * indent}replicas: {value}\n"
    return Edit(text[:at] + new_line + text[at:], None, line)


@dataclass(frozen=True)
class CanaryEdit:
    text: str  # the whole new file
    canary_image: str
    line: int  # 1-based line where spec.canary was


_PLAIN_IMAGE = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9._/:@]*$")


def _content_end(node: Node) -> int:
    """Index just past the last character of a value (comments after it excluded)."""
    if isinstance(node, MappingNode) and node.value:
        key, value = node.value[-1]
        return max(_content_end(key), _content_end(value))
    if isinstance(node, SequenceNode) and node.value:
        return _content_end(node.value[-1])
    return int(node.end_mark.index)


def _without_key(text: str, mapping: MappingNode, key: str, what: str) -> tuple[str, int]:
    """``text`` without ``key`` and its value in a block mapping, and the comment lines right above it."""
    found = _get(mapping, key)
    assert found is not None
    key_node, value = found
    if mapping.flow_style:
        raise ChatError(f"{what} is written in a flow mapping ({{...}}); edit it by hand")
    start = _line_start(text, key_node.start_mark.index)
    if text[start : key_node.start_mark.index].strip():
        raise ChatError(f"{what} shares its line with another key; edit it by hand")
    indent = key_node.start_mark.column
    # Full-line comments right above the key, at its indentation, describe it: they go too.
    while start > 0:
        above = _line_start(text, start - 1)
        line = text[above:start]
        if line.strip().startswith("#") and len(line) - len(line.lstrip(" ")) == indent:
            start = above
        else:
            break
    end = text.find("\n", _content_end(value))
    end = len(text) if end < 0 else end + 1
    return text[:start] + text[end:], key_node.start_mark.line + 1


def _image_text(image: str) -> str:
    return image if _PLAIN_IMAGE.match(image) else json.dumps(image)


def _set_scalar(text: str, node: Node, value: str, what: str) -> str:
    if not isinstance(node, ScalarNode) or text[node.start_mark.index : node.end_mark.index].count("\n"):
        raise ChatError(f"{what} is not a plain value; edit it by hand")
    return text[: node.start_mark.index] + _image_text(value) + text[node.end_mark.index :]


def end_canary(
    text: str, app: str, outcome: Literal["promote", "abort"], *, current_image: str, file: str = "the file"
) -> CanaryEdit:
    """``text`` without the canary of the App ``app``, and with ``promote`` its image as the App's.

    The image goes where the App's image is written: ``spec.image``, else a template parameter
    ``spec.parameters.image`` that holds the current image, else a new ``spec.image`` (an App's own
    fields override its template's).
    """
    document = _find_document(text, "App", app, file)
    spec_pair = _get(document, "spec")
    if spec_pair is None or not isinstance(spec_pair[1], MappingNode):
        raise ChatError(f"the App {app} in {file} has no spec mapping")
    canary = _get(spec_pair[1], "canary")
    if canary is None:
        raise ChatError(
            f"the canary of the App {app} is not written in {file}: it comes from its template",
            hint="end it in the template, or by hand",
        )
    image = _scalar(canary[1], "image") if isinstance(canary[1], MappingNode) else None
    if not image:
        raise ChatError(f"the canary of the App {app} in {file} has no plain image; edit it by hand")
    text, line = _without_key(text, spec_pair[1], "canary", f"spec.canary of the App {app} in {file}")
    if outcome == "abort":
        return CanaryEdit(text, image, line)
    spec = _get(_find_document(text, "App", app, file), "spec")
    assert spec is not None
    assert isinstance(spec[1], MappingNode)
    own = _get(spec[1], "image")
    if own is not None:
        return CanaryEdit(_set_scalar(text, own[1], image, f"spec.image of the App {app}"), image, line)
    parameters = _get(spec[1], "parameters")
    if parameters is not None and isinstance(parameters[1], MappingNode):
        param = _get(parameters[1], "image")
        if param is not None and isinstance(param[1], ScalarNode) and param[1].value == current_image:
            return CanaryEdit(
                _set_scalar(text, param[1], image, f"spec.parameters.image of the App {app}"), image, line
            )
    if spec[1].flow_style or not spec[1].value:
        raise ChatError(f"cannot add spec.image to the App {app} in {file}; add it by hand")
    first = spec[1].value[0][0]
    at = _line_start(text, first.start_mark.index)
    new_line = f"{' ' * first.start_mark.column}image: {_image_text(image)}\n"
    return CanaryEdit(text[:at] + new_line + text[at:], image, line)


_PLAIN_NAME = re.compile(r"^[a-z]([-a-z0-9.]*[a-z0-9])?$")


def _scalar_text(value: str) -> str:
    """``value`` as a YAML scalar that reads back as that string (quoted unless plainly a name)."""
    return (
        value
        if _PLAIN_NAME.match(value) and value not in ("null", "true", "false", "yes", "no", "on", "off")
        else json.dumps(value)
    )


def _above_comments(text: str, at: int) -> int:
    """``at`` (a line start) moved up over the comment lines right above it: they belong to that line."""
    while at > 0:
        previous = _line_start(text, at - 1)
        if not text[previous:at].lstrip().startswith("#"):
            break
        at = previous
    return at


def _insert_first(
    text: str, mapping: MappingNode, line_text: str, what: str, file: str, *, block: tuple[str, ...] = ()
) -> Edit:
    """``line_text`` (``key: value``) as the first entry of ``mapping``, block or flow style; in
    block style ``block`` (lines indented relative to the mapping's keys) replaces it when given.
    The edit's line is the last one inserted."""
    if mapping.flow_style:
        brace = mapping.start_mark.index
        if text[brace : brace + 1] != "{":
            raise ChatError(f"cannot add {what} in {file}; add it by hand")
        insert = line_text + (", " if mapping.value else "")
        return Edit(text[: brace + 1] + insert + text[brace + 1 :], None, mapping.start_mark.line + 1)
    if not mapping.value:
        raise ChatError(f"cannot add {what} to an empty mapping in {file}; add it by hand")
    first_key = mapping.value[0][0]
    at = _line_start(text, first_key.start_mark.index)
    if text[at : first_key.start_mark.index].strip():
        raise ChatError(f"cannot add {what} in {file}; add it by hand")
    indent = " " * first_key.start_mark.column
    at = _above_comments(text, at)
    lines = block or (line_text,)
    inserted = "".join(f"{indent}{line}\n" for line in lines)
    return Edit(text[:at] + inserted + text[at:], None, text.count("\n", 0, at) + len(lines))


def _volume_spec(text: str, volume: str, file: str, what: str) -> MappingNode:
    document = _find_document(text, "Volume", volume, file)
    found = _get(document, "spec")
    if found is None or not isinstance(found[1], MappingNode):
        raise ChatError(f"the Volume {volume} in {file} has no spec mapping to set {what} in")
    return found[1]


def set_volume_restore(text: str, volume: str, snapshot: str, *, file: str = "the file") -> Edit:
    """``text`` with ``spec.restore.snapshot`` of the Volume document named ``volume`` set to
    ``snapshot``: replaced where it is written, else added first in ``spec.restore``, else a
    ``restore`` mapping added first in the spec."""
    spec = _volume_spec(text, volume, file, "restore")
    value = _scalar_text(snapshot)
    restore = _get(spec, "restore")
    if restore is None:
        flow = f"restore: {{snapshot: {value}}}"
        return _insert_first(text, spec, flow, "spec.restore", file, block=("restore:", f"  snapshot: {value}"))
    node = restore[1]
    if not isinstance(node, MappingNode):
        raise ChatError(f"spec.restore of the Volume {volume} in {file} is not a mapping; edit it by hand")
    existing = _get(node, "snapshot")
    if existing is None:
        return _insert_first(text, node, f"snapshot: {value}", "spec.restore.snapshot", file)
    scalar = existing[1]
    start, end = scalar.start_mark.index, scalar.end_mark.index
    if not isinstance(scalar, ScalarNode) or text[start:end].count("\n"):
        raise ChatError(f"spec.restore.snapshot of the Volume {volume} in {file} is not a plain value; edit it by hand")
    return Edit(text[:start] + value + text[end:], scalar.value, scalar.start_mark.line + 1)


def add_volume_share(text: str, volume: str, tenant: str, *, file: str = "the file") -> Edit:
    """``text`` with ``tenant`` added to ``spec.shareWith`` of the Volume document named
    ``volume`` (the owner's consent to a clone's copy of its backups): appended to the list where
    it is written, else a ``shareWith`` list added first in the spec."""
    spec = _volume_spec(text, volume, file, "shareWith")
    value = _scalar_text(tenant)
    shares = _get(spec, "shareWith")
    if shares is None:
        return _insert_first(
            text, spec, f"shareWith: [{value}]", "spec.shareWith", file, block=("shareWith:", f"  - {value}")
        )
    node = shares[1]
    if not isinstance(node, SequenceNode) or not node.value:
        raise ChatError(f"spec.shareWith of the Volume {volume} in {file} is not a list of tenants; edit it by hand")
    if any(isinstance(item, ScalarNode) and item.value == tenant for item in node.value):
        return Edit(text, tenant, node.start_mark.line + 1)
    last = node.value[-1]
    end = _content_end(last)
    if node.flow_style:
        return Edit(text[:end] + f", {value}" + text[end:], None, last.end_mark.line + 1)
    first = node.value[0]
    dash = text.rfind("-", 0, first.start_mark.index)
    indent = dash - _line_start(text, dash)
    if dash < 0 or text[_line_start(text, dash) : dash].strip():
        raise ChatError(f"spec.shareWith of the Volume {volume} in {file} is not a plain list; edit it by hand")
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    insert = f"\n{' ' * indent}- {value}"
    return Edit(text[:line_end] + insert + text[line_end:], None, last.end_mark.line + 2)
