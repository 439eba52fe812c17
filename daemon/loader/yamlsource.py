"""Reading YAML safely while remembering where every value came from.

PyYAML's safe composer turns text into a node graph whose nodes carry their line and column. We
build plain JSON-like values from those nodes ourselves instead of using PyYAML's constructor so
that we can (a) refuse duplicate keys, which PyYAML silently overwrites, (b) count every node we
build, which stops "billion laughs" alias bombs after a bounded amount of work (aliases share
nodes, so the composed graph stays small; only building it expands it), and (c) keep the nodes to
map a JSON path back to a line and column later, only for values that have a problem.

Only the YAML core types are accepted (no Python tags: the composer is the safe one). Timestamps
stay strings, because the schemas never want dates and JSON Schema cannot check ``datetime``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from daemon.errors import Problem

MAX_FILE_BYTES: Final = 1024 * 1024
MAX_DOCUMENTS: Final = 1000  # per file
MAX_DOCUMENT_NODES: Final = 100_000  # values built for one document, aliases expanded
MAX_FILE_NODES: Final = 500_000  # the same over all documents of a file
MAX_DEPTH: Final = 64
#: Integers beyond int64 are no Kubernetes value; longer texts are refused before converting
#: (Python refuses ints of more than 4,300 digits with a ValueError, after the work is done).
MAX_INT: Final = 2**63 - 1
MAX_NUMBER_TEXT: Final = 64

_STR: Final = "tag:yaml.org,2002:str"
_MAP: Final = "tag:yaml.org,2002:map"
_SEQ: Final = "tag:yaml.org,2002:seq"
_MERGE: Final = "tag:yaml.org,2002:merge"
_TIMESTAMP: Final = "tag:yaml.org,2002:timestamp"
_PLAIN_SCALARS: Final = frozenset(
    {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"}
)

# libyaml is ~10x faster and caps nesting depth itself; the pure-Python parser is the fallback.
_Base: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVED: dict[tuple[str, tuple[bool, bool]], str] = {}


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """The safe loader, with the tag of plain scalars memoised.

    Even libyaml calls back into Python's regex-based resolver for every scalar, and in a platform
    repo the same few hundred strings (keys, enum values) make up most of them.
    """

    def resolve(self, kind: type[Node], value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is not ScalarNode or value is None or len(value) > 64:
            return str(super().resolve(kind, value, implicit))
        key = (value, implicit)
        tag = _RESOLVED.get(key)
        if tag is None:
            if len(_RESOLVED) > 100_000:
                _RESOLVED.clear()  # a long-running daemon must not grow without bound
            tag = _RESOLVED[key] = str(super().resolve(kind, value, implicit))
        return tag


_SCALARS = yaml.SafeLoader("")  # only its scalar constructors are used; they are pure functions of a node

Path_ = Sequence[str | int]
_FAILED: Final = object()


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int
    column: int


@dataclass(slots=True, eq=False)
class Document:
    """One YAML document: its values and the nodes they were built from.

    ``grafts`` is only set on documents assembled from pieces of several files (an App made from a
    Template): it maps the ``id`` of a node to the file of the subtree that starts there.
    """

    file: str
    index: int
    node: Node
    data: object
    grafts: dict[int, str] | None = field(default=None)
    values: int = 0  # how many values were built for it (aliases expanded): the repo's budget

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    def locate(self, path: Path_, *, key: bool = False) -> Location:
        """Where the value at ``path`` is written (with ``key``: where its key is).

        Walks the nodes as far as the path goes; a path into values that are not in the text (a
        default, a missing field) ends at the closest enclosing value.
        """
        node, key_node, file = self.node, None, self.file
        grafts = self.grafts or {}
        for step in path:
            file = grafts.get(id(node), file)
            if isinstance(node, MappingNode) and isinstance(step, str):
                found = _lookup(node, step)
                if found is None:
                    break
                key_node, node = found
            elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
                key_node, node = None, node.value[step]
            else:
                break
        target = key_node if key and key_node is not None else node
        file = grafts.get(id(target), grafts.get(id(node), file))
        return Location(file, int(target.start_mark.line) + 1, int(target.start_mark.column) + 1)


class _LimitExceeded(Exception):
    def __init__(self, node: Node, message: str, hint: str = "", code: str = "yaml.limit") -> None:
        super().__init__(message)
        self.node = node
        self.message = message
        self.hint = hint
        self.code = code


class _Builder:
    """Builds values from nodes within a node budget, collecting duplicate-key problems."""

    __slots__ = ("aliased", "budget", "file", "in_progress", "limit", "problems", "scope", "seen", "shown_limit")

    def __init__(self, file: str, budget: int, scope: str = "document", shown_limit: int = MAX_DOCUMENT_NODES) -> None:
        self.file = file
        self.budget = budget
        self.limit = budget
        self.scope = scope
        self.shown_limit = shown_limit
        self.problems: list[Problem] = []
        self.seen: set[int] = set()
        self.in_progress: set[int] = set()
        self.aliased = False

    def build(self, node: Node, depth: int = 0) -> object:
        self.budget -= 1
        if self.budget < 0:
            if self.aliased:
                raise _LimitExceeded(
                    node,
                    f"{self.scope} expands to more than {self.shown_limit:,} values through YAML aliases",
                    "aliases (*name) that repeat anchors (&name) many times look like a 'billion laughs' "
                    "attack; write the values out",
                    "yaml.alias-bomb",
                )
            raise _LimitExceeded(
                node,
                f"{self.scope} has more than {self.shown_limit:,} values",
                "split it into smaller documents and files",
                "yaml.too-large",
            )
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if depth >= MAX_DEPTH:
            raise _LimitExceeded(node, f"values are nested more than {MAX_DEPTH} levels deep", code="yaml.too-deep")
        node_id = id(node)
        if node_id in self.in_progress:
            raise _LimitExceeded(node, "recursive YAML alias: a value contains itself", code="yaml.recursive-alias")
        if node_id in self.seen:
            self.aliased = True
        else:
            self.seen.add(node_id)
        self.in_progress.add(node_id)
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    raise _LimitExceeded(node, f"unsupported YAML tag {node.tag}", code="yaml.tag")
                return [self.build(item, depth + 1) for item in node.value]
            assert isinstance(node, MappingNode)
            if node.tag != _MAP:
                raise _LimitExceeded(node, f"unsupported YAML tag {node.tag}", code="yaml.tag")
            result: dict[str, object] = {}
            for key_node, value_node in node.value:
                # The common case inline; merge keys, odd keys and duplicates take the slow path.
                if not isinstance(key_node, ScalarNode) or key_node.tag != _STR or key_node.value in result:
                    return {key: self.build(value, depth + 1) for key, _, value in self.pairs(node)}
                result[key_node.value] = self.build(value_node, depth + 1)
            return result
        finally:
            self.in_progress.discard(node_id)

    def scalar(self, node: ScalarNode) -> object:
        tag = node.tag
        if tag in (_STR, _TIMESTAMP):
            return str(node.value)
        if tag in _PLAIN_SCALARS:
            return _number(node)
        raise _LimitExceeded(
            node, f"unsupported YAML tag {tag}", "only strings, numbers, booleans, null, lists and maps", "yaml.tag"
        )

    def pairs(self, node: MappingNode) -> list[tuple[str, Node, Node]]:
        """The (key, key node, value node) entries of a mapping, with ``<<`` merge keys applied."""
        explicit: dict[str, tuple[Node, Node]] = {}
        merged: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self._merge(value_node, merged)
                continue
            key = self._key(key_node)
            if key is None:
                continue
            if key in explicit:
                first = explicit[key][0].start_mark
                mark = key_node.start_mark
                self.problems.append(
                    Problem(
                        self.file,
                        int(mark.line) + 1,
                        int(mark.column) + 1,
                        f"duplicate key '{key}' (first at line {int(first.line) + 1})",
                        hint="YAML keeps only one of them; remove or rename the other",
                        code="yaml.duplicate-key",
                    )
                )
                continue
            explicit[key] = (key_node, value_node)
        if merged:
            for key, entry in explicit.items():
                merged[key] = entry
            explicit = merged
        return [(key, k, v) for key, (k, v) in explicit.items()]

    def _merge(self, source: Node, into: dict[str, tuple[Node, Node]]) -> None:
        sources = source.value if isinstance(source, SequenceNode) else [source]
        for item in sources:
            self.budget -= 1
            if not isinstance(item, MappingNode) or id(item) in self.in_progress:
                raise _LimitExceeded(item, "a merge key (<<) takes a mapping or a list of mappings", code="yaml.merge")
            self.in_progress.add(id(item))
            try:
                for key, key_node, value_node in self.pairs(item):
                    into.setdefault(key, (key_node, value_node))  # earlier sources win, as YAML specifies
            finally:
                self.in_progress.discard(id(item))

    def _key(self, key_node: Node) -> str | None:
        if isinstance(key_node, ScalarNode) and key_node.tag in (_STR, _TIMESTAMP):
            return str(key_node.value)
        mark = key_node.start_mark
        shown = key_node.value if isinstance(key_node, ScalarNode) else "a " + type(key_node).__name__[:-4].lower()
        hint = "quote it"
        if isinstance(key_node, ScalarNode) and key_node.tag == "tag:yaml.org,2002:bool":
            hint = "YAML reads yes/no/on/off/true/false as booleans; quote the key"
        self.problems.append(
            Problem(
                self.file,
                int(mark.line) + 1,
                int(mark.column) + 1,
                f"mapping keys must be strings, found {shown!s}",
                hint=hint,
                code="yaml.key-type",
            )
        )
        return None


_CONSTRUCTED: dict[tuple[str, str], object] = {}


def _number(node: ScalarNode) -> object:
    """An int, float, bool or null from its node, within the number budget (memoised: a repo
    writes the same few numbers again and again, and PyYAML's constructors are slow)."""
    key = (node.tag, node.value)
    value = _CONSTRUCTED.get(key, _FAILED)
    if value is not _FAILED:
        return value
    if len(node.value) > MAX_NUMBER_TEXT:
        raise _LimitExceeded(
            node,
            f"number is {len(node.value):,} characters long; the limit is {MAX_NUMBER_TEXT}",
            "no setting needs a number that long",
            "yaml.number",
        )
    value = _SCALARS.yaml_constructors[node.tag](_SCALARS, node)
    if isinstance(value, float) and not math.isfinite(value):
        raise _LimitExceeded(node, f"{node.value} is not a finite number", "write a number", "yaml.number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise _LimitExceeded(
            node, f"{node.value} is too large: numbers are at most {MAX_INT:,}", "write a smaller number", "yaml.number"
        )
    if len(_CONSTRUCTED) > 100_000:
        _CONSTRUCTED.clear()  # a long-running daemon must not grow without bound
    _CONSTRUCTED[key] = value
    return value


def _lookup(node: MappingNode, key: str) -> tuple[Node, Node] | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key and key_node.tag != _MERGE:
            return key_node, value_node
    try:
        builder = _Builder("", MAX_DOCUMENT_NODES)
        for name, key_node, value_node in builder.pairs(node):
            if name == key:
                return key_node, value_node
    except _LimitExceeded:
        pass
    return None


def node_at(node: Node, path: Path_) -> Node | None:
    """The node at ``path`` below ``node``, or None when the path is not written out."""
    for step in path:
        if isinstance(node, MappingNode) and isinstance(step, str):
            found = _lookup(node, step)
            if found is None:
                return None
            node = found[1]
        elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
        else:
            return None
    return node


def mapping_entries(node: MappingNode) -> list[tuple[str, Node, Node]]:
    """(key, key node, value node) of a mapping that was already built once (so it is known to be sane)."""
    try:
        return _Builder("", MAX_DOCUMENT_NODES).pairs(node)
    except _LimitExceeded:
        return []


def build_value(node: Node, file: str) -> tuple[object, list[Problem]]:
    """Values of a node tree built outside a file read (the App/Template merge), with its problems."""
    builder = _Builder(file, MAX_DOCUMENT_NODES)
    try:
        value = builder.build(node)
    except _LimitExceeded as e:
        mark = e.node.start_mark
        return None, [Problem(file, int(mark.line) + 1, int(mark.column) + 1, e.message, hint=e.hint, code=e.code)]
    return value, builder.problems


@dataclass(frozen=True, slots=True)
class _Mark:
    """Where a node starts: all that locating a problem reads of PyYAML's much larger Mark."""

    line: int
    column: int


def compact(documents: Sequence[Document]) -> None:
    """Shrinks the nodes of documents that are kept for later loads (the daemon's cache): each
    node's two marks become one small one, which holds a repo's node graphs in about half the
    memory. Lines and columns stay exact."""
    seen: set[int] = set()
    stack: list[Node] = [d.node for d in documents]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        mark = node.start_mark
        if not isinstance(mark, _Mark):
            node.start_mark = node.end_mark = _Mark(int(mark.line), int(mark.column))
        if isinstance(node, SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                stack.append(key_node)
                stack.append(value_node)


def read_file(path: Path, rel: str) -> tuple[list[Document], list[Problem]]:
    """Every document of the file at ``path`` (``rel`` is how problems name it)."""
    try:
        size = path.stat().st_size
        if size <= MAX_FILE_BYTES:
            with path.open("rb") as stream:
                raw = stream.read(MAX_FILE_BYTES + 1)
            size = len(raw)
    except OSError as e:
        return [], [Problem(rel, 0, 0, f"cannot read the file: {e.strerror or e}", code="file.unreadable")]
    if size > MAX_FILE_BYTES:
        return [], [
            Problem(
                rel,
                0,
                0,
                f"file is {size:,} bytes, more than the limit of {MAX_FILE_BYTES:,} (1 MiB)",
                hint="split it into several files",
                code="file.too-large",
            )
        ]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        return [], [
            Problem(
                rel,
                line,
                column,
                f"file is not UTF-8 text: byte 0x{raw[e.start]:02x} at line {line}, column {column} cannot be decoded",
                hint="save the file as UTF-8",
                code="file.encoding",
            )
        ]
    return parse_text(text, rel)


def parse_text(text: str, rel: str) -> tuple[list[Document], list[Problem]]:
    """Every document of a YAML text; problems are located in ``rel``."""
    documents: list[Document] = []
    problems: list[Problem] = []
    remaining = MAX_FILE_NODES
    loader = _Loader(text.removeprefix("\ufeff"))
    try:
        while loader.check_node():
            node = loader.get_node()
            if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null" and not node.value:
                continue  # an empty document, e.g. after a trailing '---'
            if len(documents) >= MAX_DOCUMENTS:
                mark = node.start_mark
                problems.append(
                    Problem(
                        rel,
                        int(mark.line) + 1,
                        int(mark.column) + 1,
                        f"more than {MAX_DOCUMENTS} documents in one file",
                        hint="split it into several files",
                        code="file.too-many-documents",
                    )
                )
                break
            if remaining < MAX_DOCUMENT_NODES:
                builder = _Builder(rel, remaining, "file", MAX_FILE_NODES)
            else:
                builder = _Builder(rel, MAX_DOCUMENT_NODES)
            try:
                data = builder.build(node)
            except _LimitExceeded as e:
                mark = e.node.start_mark
                problems.append(
                    Problem(rel, int(mark.line) + 1, int(mark.column) + 1, e.message, hint=e.hint, code=e.code)
                )
                data = _FAILED
            used = builder.limit - builder.budget
            remaining -= used
            if data is _FAILED:
                if remaining <= 0:
                    break  # the whole file is over its budget: stop reading it
                continue
            problems.extend(builder.problems)
            documents.append(Document(rel, len(documents), node, data, values=used))
    except yaml.MarkedYAMLError as e:
        problems.append(_syntax_problem(rel, e, text))
    except yaml.YAMLError as e:
        problems.append(_reader_problem(rel, text, e))
    except RecursionError:
        # Only the pure-Python parser recurses per nesting level; libyaml stops at 1000 levels.
        problems.append(Problem(rel, 0, 0, "values are nested too deeply", code="yaml.too-deep"))
    finally:
        loader.dispose()
    return documents, problems


def _syntax_problem(rel: str, error: yaml.MarkedYAMLError, text: str) -> Problem:
    mark = error.problem_mark or error.context_mark
    line = int(mark.line) + 1 if mark is not None else 0
    column = int(mark.column) + 1 if mark is not None else 0
    problem = (error.problem or "invalid YAML").strip()
    message = f"YAML syntax error: {problem}"
    if error.context:
        message += f" ({error.context.strip()})"
    hint = ""
    lines = text.splitlines()
    source_line = lines[line - 1] if 0 < line <= len(lines) else ""
    if "${" in source_line and ("flow" in message or "','" in message):
        hint = 'inside [...] or {...}, quote values with placeholders: "${name}"'
    elif "\t" in source_line[max(column - 2, 0) : column + 1] or "'\\t'" in problem:
        hint = "YAML does not allow tabs for indentation; use spaces"
    elif "mapping values are not allowed" in problem:
        hint = "a value containing ': ' must be quoted"
    elif "found character '@'" in problem or "found character '`'" in problem:
        hint = "values starting with @ or ` must be quoted"
    return Problem(rel, line, column, message, hint=hint, code="yaml.syntax")


_POSITION_RE: Final = re.compile(r"position (\d+)")


def _reader_problem(rel: str, text: str, error: yaml.YAMLError) -> Problem:
    position = getattr(error, "position", None)
    if not isinstance(position, int):
        found = _POSITION_RE.search(str(error))
        position = int(found.group(1)) if found else None
    reason = getattr(error, "reason", None) or "unreadable YAML"
    if position is None:
        return Problem(rel, 0, 0, f"YAML error: {reason}", code="yaml.syntax")
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    character = getattr(error, "character", None)
    if not isinstance(character, str) and position < len(text):
        character = text[position]
    shown = f" (U+{ord(character):04X})" if isinstance(character, str) and len(character) == 1 else ""
    return Problem(rel, line, column, f"YAML error: {reason}{shown}", code="yaml.syntax")
