"""Templates: an App made from a Template's ``app`` (a Job from its ``job``) with ``${name}``
filled from its parameters.

The merge works on YAML nodes, not on values, so that every value of the resulting App still
knows its line and file: a bad value that came from the Template is reported in the Template, a
bad parameter in the App. The steps, in order:

1. the ``extends`` chain is merged base first (mappings deep-merged, anything else replaced; the
   parameter schemas likewise, with their ``required`` lists joined);
2. the App's ``spec.parameters`` are validated against the merged parameter schema and top-level
   ``default``s fill the gaps;
3. ``${name}`` is substituted in string values: a string that is exactly ``${name}`` takes the
   parameter's value and type (and disappears when the parameter has no value), otherwise the
   value is written into the string; ``$${`` stays a literal ``${``;
4. the App's own fields are merged over the result, and it is validated as any App.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from jsonschema import Draft202012Validator
from referencing.exceptions import Unresolvable
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from daemon.errors import Problem
from daemon.loader import budget, catalog, paramschema
from daemon.loader.documents import Entry
from daemon.loader.hints import Explainer, did_you_mean
from daemon.loader.safeschema import safe_validator
from daemon.loader.schemas import is_valid, validator
from daemon.loader.yamlsource import Document, build_value, mapping_entries, node_at

_PLACEHOLDER: Final = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_EXACT: Final = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}$")
_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_STR: Final = "tag:yaml.org,2002:str"
_MAP: Final = "tag:yaml.org,2002:map"
_SEQ: Final = "tag:yaml.org,2002:seq"


@dataclass(slots=True, eq=False)
class Resolved:
    """A Template with its ``extends`` chain merged, ready to instantiate."""

    entry: Entry
    chain: tuple[Entry, ...]  # the template itself first, its base last
    parameters: dict[str, Any]
    checker: Draft202012Validator
    body: MappingNode  # the merged ``app`` or ``job``
    grafts: dict[int, str] = field(default_factory=dict)
    kind: str = "App"  # what it renders: App (``spec.app``) or Job (``spec.job``)


def merge_schemas(base: Mapping[str, Any], derived: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in derived.items():
        current = merged.get(key)
        if key == "required" and isinstance(value, list) and isinstance(current, list):
            merged[key] = list(dict.fromkeys([*current, *value]))
        elif isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = merge_schemas(current, value)
        else:
            merged[key] = value
    return merged


def _graft(node: Node, file: str, grafts: dict[int, str]) -> Node:
    grafts.setdefault(id(node), file)
    return node


def merge_nodes(base: Node, base_file: str, over: Node, over_file: str, grafts: dict[int, str]) -> Node:
    """``over`` deep-merged onto ``base``: mappings merge key by key, anything else is replaced."""
    base_file = grafts.get(id(base), base_file)
    over_file = grafts.get(id(over), over_file)
    if not (isinstance(base, MappingNode) and isinstance(over, MappingNode)):
        return _graft(over, over_file, grafts)
    overrides = {key: (k, v) for key, k, v in mapping_entries(over)}
    pairs: list[tuple[Node, Node]] = []
    for key, key_node, value_node in mapping_entries(base):
        if key in overrides:
            over_key, over_value = overrides.pop(key)
            pairs.append(
                (
                    _graft(over_key, over_file, grafts),
                    merge_nodes(value_node, base_file, over_value, over_file, grafts),
                )
            )
        else:
            pairs.append((_graft(key_node, base_file, grafts), _graft(value_node, base_file, grafts)))
    for over_key, over_value in overrides.values():
        pairs.append((_graft(over_key, over_file, grafts), _graft(over_value, over_file, grafts)))
    merged = MappingNode(_MAP, pairs, over.start_mark, over.end_mark)
    grafts[id(merged)] = over_file
    return merged


def placeholders(node: Node, file: str, grafts: Mapping[int, str]) -> Iterator[tuple[str, ScalarNode, str]]:
    """(name, node, file) of every ``${name}`` in the string values below ``node``."""
    file = grafts.get(id(node), file)
    if isinstance(node, ScalarNode):
        if node.tag == _STR and "${" in node.value:
            for match in _PLACEHOLDER.finditer(node.value):
                if match.group(1) is not None:
                    yield match.group(1), node, file
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from placeholders(item, file, grafts)
    elif isinstance(node, MappingNode):
        for _, value in node.value:
            yield from placeholders(value, file, grafts)


def _problem_at(node: Node, file: str, message: str, hint: str = "", code: str = "template") -> Problem:
    mark = node.start_mark
    return Problem(file, int(mark.line) + 1, int(mark.column) + 1, message, "$", hint, "error", code)


def resolve_templates(entries: list[Entry]) -> tuple[dict[str, Resolved], list[Problem]]:
    """Every schema-valid Template that can be used, merged with its bases; and why others cannot."""
    by_name: dict[str, Entry] = {}
    for entry in entries:
        if entry.kind == "Template" and entry.name is not None:
            by_name.setdefault(entry.name, entry)
    problems: list[Problem] = []
    for entry in by_name.values():
        if entry.valid:
            # A parameter schema that could fetch, nest or backtrack without bound makes its
            # Template invalid: it is never evaluated (nor are the Templates extending it).
            found = paramschema.problems(entry)
            problems.extend(found)
            entry.valid = not found
    resolved: dict[str, Resolved] = {}
    for name, entry in by_name.items():
        if not entry.valid:
            continue
        chain = _chain(entry, by_name, problems)
        if chain is None:
            continue
        result = _resolve(entry, chain, problems)
        if result is not None:
            resolved[name] = result
    return resolved, problems


def _chain(entry: Entry, by_name: Mapping[str, Entry], problems: list[Problem]) -> tuple[Entry, ...] | None:
    """``entry`` and its bases, or None (reported here only when the fault is in ``entry``)."""
    chain = [entry]
    while True:
        current = chain[-1]
        base = current.spec().get("extends")
        if not isinstance(base, str):
            return tuple(chain)
        names = [str(e.name) for e in chain]
        if base in names:
            if base == entry.name:
                cycle = " -> ".join([*names, base])
                problems.append(
                    entry.problem(
                        ("spec", "extends"),
                        f"template '{entry.name}' extends itself: {cycle}",
                        "break the cycle of extends",
                        code="template.cycle",
                    )
                )
            return None
        found = by_name.get(base)
        if found is None:
            if current is entry:
                guess = did_you_mean(base, by_name)
                if catalog.is_ref(base):
                    hint = catalog.unknown(base)
                else:
                    hint = f"did you mean '{guess}'?" if guess else "templates: " + ", ".join(sorted(by_name))
                problems.append(
                    entry.problem(
                        ("spec", "extends"),
                        f"template '{entry.name}' extends unknown template '{base}'",
                        hint,
                        code="ref.template",
                    )
                )
            return None
        if not found.valid:
            return None  # its own errors are reported
        chain.append(found)


def renders(template: Entry) -> str | None:
    """The kind a Template renders by itself: Job with ``spec.job``, App with ``spec.app``, else None."""
    spec = template.spec()
    return "Job" if "job" in spec else "App" if "app" in spec else None


def _resolve(entry: Entry, chain: tuple[Entry, ...], problems: list[Problem]) -> Resolved | None:
    parameters: dict[str, Any] = {}
    grafts: dict[int, str] = {}
    kinds = {str(t.name): found for t in chain if (found := renders(t)) is not None}
    kind = next(iter(kinds.values()), "App")
    if len(set(kinds.values())) > 1:
        shown = ", ".join(f"{name} renders {what}" for name, what in kinds.items())
        problems.append(
            entry.problem(
                ("spec", "extends"),
                f"template '{entry.name}' mixes an App and a Job: {shown}",
                "a Template extends one that renders the same kind (spec.app or spec.job)",
                code="template.kind",
            )
        )
        return None
    body: Node = MappingNode(_MAP, [], entry.doc.node.start_mark, entry.doc.node.end_mark)
    for template in reversed(chain):
        own = template.spec().get("parameters")
        if isinstance(own, dict):
            parameters = merge_schemas(parameters, own)
        body_node = node_at(template.doc.node, ("spec", kind.lower()))
        if isinstance(body_node, MappingNode):
            body = merge_nodes(body, entry.file, body_node, template.file, grafts)
    assert isinstance(body, MappingNode)
    invalid = paramschema.meta_problems(entry, parameters)
    if invalid:
        problems.extend(invalid)
        return None
    declared = parameters.get("properties")
    declared_names = set(declared) if isinstance(declared, dict) else set()
    ok = True
    for name, node, file in placeholders(body, entry.file, grafts):
        if not _NAME.match(name):
            problems.append(
                _problem_at(
                    node,
                    file,
                    f"'${{{name}}}' is not a valid placeholder",
                    "write ${name} with a parameter name, or $${ for a literal ${",
                    "template.placeholder",
                )
            )
            ok = False
        elif name not in declared_names:
            guess = did_you_mean(name, declared_names)
            hint = f"did you mean '{guess}'? " if guess else ""
            hint += "declare it under spec.parameters.properties"
            problems.append(
                _problem_at(
                    node,
                    file,
                    f"unknown placeholder '${{{name}}}' in template '{entry.name}'",
                    hint,
                    "template.placeholder",
                )
            )
            ok = False
    if not ok:
        return None
    checker = safe_validator(parameters)
    return Resolved(entry, chain, parameters, checker, body, grafts, kind)


class _Missing(Exception):
    def __init__(self, name: str, node: Node, file: str) -> None:
        super().__init__(name)
        self.name = name
        self.node = node
        self.file = file


_OMIT: Final[object] = object()


class _Substitution:
    def __init__(self, values: Mapping[str, tuple[object, Node | None, str]], grafts: dict[int, str]) -> None:
        self.values = values  # name -> (value, node it was written in, that node's file)
        self.grafts = grafts
        self.problems: list[Problem] = []

    def apply(self, node: Node, file: str) -> Node | object:
        file = self.grafts.get(id(node), file)
        if isinstance(node, ScalarNode):
            if node.tag != _STR or "${" not in node.value:
                return _graft(node, file, self.grafts)
            return self.scalar(node, file)
        if isinstance(node, SequenceNode):
            items = [self.apply(item, file) for item in node.value]
            kept = [i for i in items if isinstance(i, Node)]
            result: Node = SequenceNode(_SEQ, kept, node.start_mark, node.end_mark)
        else:
            assert isinstance(node, MappingNode)
            pairs = []
            for key, value in node.value:
                new = self.apply(value, file)
                if isinstance(new, Node):
                    pairs.append((_graft(key, file, self.grafts), new))
            result = MappingNode(_MAP, pairs, node.start_mark, node.end_mark)
        self.grafts[id(result)] = file
        return result

    def scalar(self, node: ScalarNode, file: str) -> Node | object:
        exact = _EXACT.match(node.value)
        if exact:
            value, source, source_file = self.values.get(exact.group(1), (_OMIT, None, file))
            if value is _OMIT:
                return _OMIT  # an optional parameter without a value: the field is left out
            if isinstance(source, Node):
                return _graft(source, source_file, self.grafts)

        def fill(match: re.Match[str]) -> str:
            if match.group(1) is None:
                return "${"
            value, _, _ = self.values.get(match.group(1), (_OMIT, None, file))
            if value is _OMIT:
                raise _Missing(match.group(1), node, file)
            if isinstance(value, dict | list):
                raise _Missing(match.group(1), node, file)
            if isinstance(value, bool):
                return str(value).lower()
            return "" if value is None else str(value)

        try:
            text = _PLACEHOLDER.sub(fill, node.value)
        except _Missing as e:
            value = self.values.get(e.name, (_OMIT, None, file))[0]
            if value is _OMIT:
                message = f"parameter '{e.name}' has no value, and the string needs one"
                hint = "pass it in spec.parameters of the App or give it a default in the template"
            else:
                shape = "list" if isinstance(value, list) else "mapping"
                message = f"parameter '{e.name}' is a {shape}; it cannot be part of a string"
                hint = f"use the whole value '${{{e.name}}}' on its own"
            self.problems.append(_problem_at(e.node, e.file, message, hint, "template.parameter"))
            return _graft(node, file, self.grafts)
        result = ScalarNode(_STR, text, node.start_mark, node.end_mark, node.style)
        self.grafts[id(result)] = file
        return result


def instantiate(
    app: Entry, templates: Mapping[str, Resolved], known: set[str]
) -> tuple[Document | None, list[Problem]]:
    """The App (or Job) document made from its template, or the problems that prevent it.

    ``known`` names every Template document, valid or not, so that an App using a broken template
    points at the template instead of calling it unknown.
    """
    spec = app.spec()
    name = spec.get("template")
    assert isinstance(name, str)
    resolved = templates.get(name)
    if resolved is None:
        if name in known:
            return None, [
                app.problem(
                    ("spec", "template"),
                    f"template '{name}' has errors, so this {app.kind} cannot be made from it",
                    "fix the errors reported in the template first",
                    code="template.invalid",
                )
            ]
        guess = did_you_mean(name, known)
        if catalog.is_ref(name):
            hint = catalog.unknown(name)
        elif guess:
            hint = f"did you mean '{guess}'?"
        else:
            hint = "templates: " + ", ".join(sorted(known)) if known else "there are no templates in templates/"
        return None, [
            app.problem(
                ("spec", "template"),
                f"unknown template '{name}'",
                hint,
                code="ref.template",
            )
        ]
    if resolved.kind != app.kind:
        return None, [
            app.problem(
                ("spec", "template"),
                f"template '{name}' renders a{'n' if resolved.kind == 'App' else ''} {resolved.kind}, "
                f"not a{'n' if app.kind == 'App' else ''} {app.kind}",
                f"make a {resolved.kind} from it, or use a template with spec.{app.kind.lower()}",
                code="template.kind",
            )
        ]
    given = spec.get("parameters", {})
    given = given if isinstance(given, dict) else {}
    template_file = resolved.entry.file
    where = resolved.entry.doc.locate(("spec", "parameters"), key=True)
    explainer = Explainer(app.doc, tenant=app.tenant, base=("spec", "parameters"))
    try:
        problems = budget.schema_problems(explainer, resolved.checker.iter_errors(given), app.file, app.doc.line)
    except (Unresolvable, RecursionError) as e:
        # A reference that loops without descending (``$ref: "#"`` at the root), or one that
        # cannot be resolved: the template is at fault, and nothing was fetched.
        why = "it refers to itself without end" if isinstance(e, RecursionError) else "a reference does not resolve"
        return None, [
            resolved.entry.problem(
                ("spec", "parameters"),
                f"the parameter schema of template '{name}' cannot be evaluated: {why}",
                "fix the references ($ref) of the parameter schema",
                code="template.parameters",
                key=True,
            )
        ]
    if problems:
        context = f"parameters of template '{name}' ({where.file}:{where.line})"
        return None, [
            Problem(
                p.file,
                p.line,
                p.column,
                p.message,
                p.path,
                f"{p.hint}; {context}" if p.hint else context,
                p.severity,
                "template.parameter",
            )
            for p in problems
        ]
    values: dict[str, tuple[Any, Node | None, str]] = {}
    for param, value in given.items():
        values[param] = (value, node_at(app.doc.node, ("spec", "parameters", param)), app.file)
    declared = resolved.parameters.get("properties")
    for param, schema in declared.items() if isinstance(declared, dict) else ():
        if param in values or not isinstance(schema, dict) or "default" not in schema:
            continue
        for template in resolved.chain:
            default_node = node_at(template.doc.node, ("spec", "parameters", "properties", param, "default"))
            if default_node is not None:
                values[param] = (schema["default"], default_node, template.file)
                break
    app.parameters = {param: value for param, (value, _, _) in values.items()}

    grafts = dict(resolved.grafts)
    substitution = _Substitution(values, grafts)
    filled = substitution.apply(resolved.body, template_file)
    if substitution.problems:
        return None, substitution.problems
    assert isinstance(filled, MappingNode)
    root = app.doc.node
    assert isinstance(root, MappingNode)
    own_spec = node_at(root, ("spec",))
    assert isinstance(own_spec, MappingNode)
    spec_node = merge_nodes(filled, template_file, own_spec, app.file, grafts)
    pairs = [(key_node, spec_node if key == "spec" else value) for key, key_node, value in mapping_entries(root)]
    doc_node = MappingNode(_MAP, pairs, root.start_mark, root.end_mark)
    data, build_problems = build_value(doc_node, app.file)
    if build_problems or not isinstance(data, dict):
        return None, build_problems
    return Document(app.file, app.doc.index, doc_node, data, grafts), []


def validate_instance(app: Entry, doc: Document) -> list[Problem]:
    """Schema problems of an App (or Job) made from a template (located in it or the Template)."""
    if is_valid(app.kind, doc.data):
        return []
    explainer = Explainer(doc, tenant=app.tenant)
    return budget.schema_problems(explainer, validator(app.kind).iter_errors(doc.data), app.file, app.doc.line)
