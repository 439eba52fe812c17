"""Templates as people read them: the list, and one template's parameters and App or Job (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from daemon.loader.shapes import TemplateShape


def template_list(shapes: Iterable[TemplateShape]) -> str:
    rows = [(s.name, (s.title or ("extends " + s.extends[0] if s.extends else "")) + _job(s)) for s in shapes]
    if not rows:
        return "no templates\n"
    width = max(len(r[0]) for r in rows)
    lines = [f"{name:<{width}}  {title}".rstrip() for name, title in rows]
    return "\n".join(lines) + "\n\n`dockyard template show NAME` prints what a template takes and renders.\n"


def _job(shape: TemplateShape) -> str:
    return " (a Job)" if shape.kind == "Job" else ""


def _value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def parameter_rows(parameters: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(name, type, required or the default, description) of each declared parameter."""
    declared = parameters.get("properties")
    required = set(parameters.get("required") or ())
    rows = []
    for name, written in declared.items() if isinstance(declared, dict) else ():
        schema = written if isinstance(written, dict) else {}
        kind = str(schema.get("type", "any"))
        if kind == "array" and isinstance(schema.get("items"), dict):
            kind = f"list of {schema['items'].get('type', 'any')}"
        if name in required:
            need = "required"
        elif "default" in schema:
            need = f"default {_value(schema['default'])}"
        else:
            need = "optional"
        rows.append((name, kind, need, " ".join(str(schema.get("description", "")).split())))
    return rows


def template_show(shape: TemplateShape) -> str:
    out = [f"{shape.name}" + (f": {shape.title}" if shape.title else ""), f"  file: {shape.file}"]
    if shape.extends:
        out.append("  extends: " + " -> ".join(shape.extends))
    if shape.description:
        out.append("")
        out.append(shape.description)
    rows = parameter_rows(shape.parameters)
    out.append("")
    out.append(f"parameters (spec.parameters of the {shape.kind}):")
    if rows:
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for row in rows:
            out.append(("  " + "  ".join(row[i].ljust(widths[i]) for i in range(3)) + f"  {row[3]}").rstrip())
    else:
        out.append("  none")
    out.append("")
    out.append(
        f"renders (the {shape.kind}'s spec; ${{name}} is the parameter, a field whose parameter has no value "
        "is left out):"
    )
    rendered = yaml.safe_dump(dict(shape.app), sort_keys=False, default_flow_style=False, width=100)
    out.extend("  " + line for line in rendered.splitlines())
    out.append("")
    out.append("use it:")
    example = {name: f"<{kind}>" for name, kind, need, _ in rows if need == "required"}
    use = {"template": shape.name, **({"parameters": example} if example else {})}
    out.extend("  " + line for line in yaml.safe_dump({"kind": shape.kind, "spec": use}, sort_keys=False).splitlines())
    return "\n".join(out) + "\n"
