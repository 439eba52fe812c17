"""An extracted App as a Template and an App made from it (pure): ``dockyard extract --template``.

The values that vary from one copy of a service to the next become parameters: the image
(required), and where the App has them its replicas, CPU and memory requests (defaulting to the
extracted values) and domains (a list, without a default: another copy serves other names).
Everything else stays in the Template as extracted, so the App made from it renders what the
App extracted directly renders; a team stamps out the next copy with only the image and domains.
"""

from __future__ import annotations

import copy
from typing import Any

from daemon import API_VERSION


def _type(value: Any) -> str:
    return "integer" if isinstance(value, int) and not isinstance(value, bool) else "string"


def as_template(app_doc: dict[str, Any], template: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the Template named ``template``, the App made from it) for an extracted App document."""
    body = copy.deepcopy(app_doc["spec"])
    name = app_doc["metadata"]["name"]
    properties: dict[str, Any] = {"image": {"type": "string", "description": "Container image, with a tag or digest."}}
    values: dict[str, Any] = {"image": body["image"]}
    body["image"] = "${image}"
    if "replicas" in body:
        properties["replicas"] = {
            "type": "integer",
            "minimum": 0,
            "default": body["replicas"],
            "description": "Pods (an Autoscaling of the App overrides it).",
        }
        values["replicas"] = body["replicas"]
        body["replicas"] = "${replicas}"
    resources = body.get("resources")
    for key, what in (("cpu", "CPU"), ("memory", "Memory")):
        if isinstance(resources, dict) and key in resources:
            properties[key] = {
                "type": _type(resources[key]),
                "default": resources[key],
                "description": f"{what} request of a pod.",
            }
            values[key] = resources[key]
            resources[key] = f"${{{key}}}"
    if body.get("domains"):
        properties["domains"] = {
            "type": "array",
            "items": {"type": "string"},
            "description": "Domain names routed to the App's first port.",
        }
        values["domains"] = body["domains"]
        body["domains"] = "${domains}"
    parameters = {
        "title": template,
        "description": f"Extracted from App {name} by `dockyard extract --template`.",
        "type": "object",
        "additionalProperties": False,
        "required": ["image"],
        "properties": properties,
    }
    template_doc = {
        "apiVersion": API_VERSION,
        "kind": "Template",
        "metadata": {"name": template},
        "spec": {"parameters": parameters, "app": body},
    }
    app = {
        "apiVersion": API_VERSION,
        "kind": "App",
        "metadata": copy.deepcopy(app_doc["metadata"]),
        "spec": {"template": template, "parameters": values},
    }
    return template_doc, app
