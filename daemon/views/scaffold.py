"""The files ``dockyard new`` writes: valid documents with the schema modeline and what to change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from daemon import API_VERSION


def modeline(schema: str) -> str:
    """The first line that lets editors (yaml-language-server) check and complete the file."""
    return f"# yaml-language-server: $schema={schema}\n"


def tenant_text(name: str, schema: str) -> str:
    return (
        modeline(schema)
        + f"""apiVersion: {API_VERSION}
kind: Tenant
metadata:
  name: {name}
spec:
  displayName: {name}
  # Who may work in namespace {name}: kind User or Group, role view, edit or admin.
  members: []
  # The most the tenant's apps and volumes may request together (a ResourceQuota).
  quota:
    cpu: "2"
    memory: 4Gi
    storage: 20Gi
    pods: 20
  # What a container gets when its App asks for nothing.
  limits:
    defaultCpu: 100m
    defaultMemory: 128Mi
  network:
    isolation: strict   # only what a Policy allows reaches the tenant's apps
"""
    )


def app_text(
    name: str,
    schema: str,
    *,
    image: str | None,
    template: str | None,
    parameters: Mapping[str, Any],
    kind: str = "App",
    schedule: str | None = None,
) -> str:
    """An App (or a Job: batch work, on ``schedule`` when given) from ``template`` or ``image``."""
    head = modeline(schema) + f"apiVersion: {API_VERSION}\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n"
    if template is not None:
        body = f"  # `dockyard template show {template}` lists what it takes; fields set here override it.\n"
        body += f"  template: {template}\n"
        if parameters:
            body += _indented({"parameters": dict(parameters)}, 2)
        return head + body
    if kind == "Job":
        when = f"  schedule: {_scalar(schedule)}   # minute hour day-of-month month day-of-week\n" if schedule else ""
        return (
            head
            + f"""  image: {_scalar(image or "")}
{when}  resources:
    cpu: 100m
    memory: 128Mi
    limits:
      memory: 128Mi
"""
        )
    return (
        head
        + f"""  image: {_scalar(image or "")}
  replicas: 1
  ports:
    - name: http
      port: 8080
  resources:
    cpu: 100m
    memory: 128Mi
    limits:
      memory: 128Mi
"""
    )


def document_text(data: Mapping[str, Any], schema: str) -> str:
    """A document ``new`` writes next to the App (a template's Volume)."""
    return modeline(schema) + yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=False)


def _scalar(value: str) -> str:
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()


def _indented(data: Mapping[str, Any], spaces: int) -> str:
    text = yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=False)
    return "".join(" " * spaces + line + "\n" for line in text.splitlines())
