"""Templates: extends, parameters, substitution, overrides, and errors pointing into both files."""

from __future__ import annotations

from pathlib import Path

from daemon.model.kinds import App
from tests.loader.helpers import errors, line_of, load, text

BASE_TEMPLATE = """
    apiVersion: dockyard.dev/v1alpha1
    kind: Template
    metadata:
      name: base
    spec:
      parameters:
        type: object
        additionalProperties: false
        required: [image]
        properties:
          image: {type: string}
          replicas: {type: integer, minimum: 1, default: 2}
          memory: {type: string, default: 128Mi}
          command: {type: array, items: {type: string}}
      app:
        image: ${image}
        replicas: ${replicas}
        command: ${command}
        env:
          - name: IMAGE
            value: "running ${image} with $${HOME} x${replicas}"
        ports:
          - name: http
            port: 80
        resources:
          cpu: 50m
          memory: ${memory}
"""

CHILD_TEMPLATE = """
    apiVersion: dockyard.dev/v1alpha1
    kind: Template
    metadata:
      name: child
    spec:
      extends: base
      parameters:
        required: [domain]
        properties:
          domain: {type: string}
      app:
        domains: ["${domain}"]
        resources:
          cpu: 100m
"""


def app(name: str, template: str, parameters: str, extra: str = "") -> str:
    return (
        text(f"""
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata:
          name: {name}
        spec:
          template: {template}
          parameters:
        """)
        + "".join(f"    {line}\n" for line in text(parameters).splitlines())
        + extra
    )


def find(apps: tuple[App, ...], name: str) -> App:
    return next(a for a in apps if a.name == name)


def test_extends_parameters_defaults_and_overrides(tmp_path: Path) -> None:
    site = app(
        "site",
        "child",
        "image: nginx:1.27\ndomain: site.example.com\nreplicas: 3\n",
        "  resources:\n    memory: 256Mi\n",
    )
    result = load(
        tmp_path,
        {"templates/base.yaml": BASE_TEMPLATE, "templates/child.yaml": CHILD_TEMPLATE, "tenants/other/site.yaml": site},
    )
    assert errors(result) == []
    assert result.model is not None
    made = find(result.model.apps, "site")
    assert made.image == "nginx:1.27"
    assert made.replicas == 3  # exactly ${replicas}: keeps the integer type
    assert made.domains == ("site.example.com",)  # from the child template
    assert made.ports[0].port == 80  # from the base template
    assert made.resources is not None
    assert (made.resources.cpu, made.resources.memory) == ("100m", "256Mi")  # child over base, App over both
    assert made.command == ()  # ${command} has no value and no default: the field is left out
    assert made.env[0].value == "running nginx:1.27 with ${HOME} x3"
    assert made.template == "child"
    assert made.parameters == {"image": "nginx:1.27", "domain": "site.example.com", "replicas": 3, "memory": "128Mi"}


def test_two_apps_share_a_template_with_their_own_parameters(tmp_path: Path) -> None:
    one = app("one", "base", "image: a:1\n")
    two = app("two", "base", "image: b:2\nreplicas: 5\ncommand: [run, it]\n")
    result = load(
        tmp_path, {"templates/base.yaml": BASE_TEMPLATE, "tenants/other/one.yaml": one, "tenants/other/two.yaml": two}
    )
    assert result.model is not None
    first, second = find(result.model.apps, "one"), find(result.model.apps, "two")
    assert (first.image, first.replicas, first.command) == ("a:1", 2, ())
    assert (second.image, second.replicas, second.command) == ("b:2", 5, ("run", "it"))


def test_missing_and_mistyped_parameters_point_into_the_app(tmp_path: Path) -> None:
    site = app("site", "base", "replicas: many\nimag: x\n")
    result = load(tmp_path, {"templates/base.yaml": BASE_TEMPLATE, "tenants/other/site.yaml": site})
    file = "tenants/other/site.yaml"
    assert errors(result) == [
        (file, line_of(site, "parameters"), "missing required field 'image' in parameters"),
        (file, line_of(site, "replicas"), "replicas must be a whole number, not the string 'many'"),
        (file, line_of(site, "imag:"), "unknown field 'imag' in parameters"),
    ]
    where = f"templates/base.yaml:{line_of(BASE_TEMPLATE, 'parameters:')}"
    assert result.errors[0].hint.endswith(f"parameters of template 'base' ({where})")
    assert result.errors[2].hint.startswith("did you mean 'image'?")


def test_bad_values_point_into_the_file_they_were_written_in(tmp_path: Path) -> None:
    """A bad parameter value is reported in the App; a bad template value in the Template."""
    broken = BASE_TEMPLATE.replace("port: 80", "port: 99999")
    site = app("site", "base", "image: nginx:1.27\nmemory: lots\n")
    result = load(tmp_path, {"templates/base.yaml": broken, "tenants/other/site.yaml": site})
    assert errors(result) == [
        ("templates/base.yaml", line_of(broken, "port: 99999"), "port must be at most 65535, not 99999"),
        ("tenants/other/site.yaml", line_of(site, "memory"), "'lots' is not a valid Kubernetes quantity"),
    ]
    assert [p.path for p in result.errors] == ["$.spec.ports[0].port", "$.spec.resources.memory"]


def test_app_fields_still_checked_when_the_template_is_missing(tmp_path: Path) -> None:
    site = app("site", "nope", "image: a:1\n", "  replica: 2\n")
    result = load(tmp_path, {"tenants/other/site.yaml": site})
    assert errors(result) == [
        ("tenants/other/site.yaml", line_of(site, "template"), "unknown template 'nope'"),
        ("tenants/other/site.yaml", line_of(site, "replica:"), "unknown field 'replica' in spec"),
    ]


def test_unknown_placeholder_is_an_error_in_the_template(tmp_path: Path) -> None:
    broken = BASE_TEMPLATE.replace("memory: ${memory}", "memory: ${memroy}")
    site = app("site", "base", "image: a:1\n")
    result = load(tmp_path, {"templates/base.yaml": broken, "tenants/other/site.yaml": site})
    assert errors(result) == [
        ("templates/base.yaml", line_of(broken, "${memroy}"), "unknown placeholder '${memroy}' in template 'base'"),
        (
            "tenants/other/site.yaml",
            line_of(site, "template"),
            "template 'base' has errors, so this App cannot be made from it",
        ),
    ]
    assert result.errors[0].hint == "did you mean 'memory'? declare it under spec.parameters.properties"


def test_placeholder_in_a_string_needs_a_scalar_value(tmp_path: Path) -> None:
    template = BASE_TEMPLATE.replace('value: "running ${image} with $${HOME} x${replicas}"', 'value: "run ${command}"')
    without = app("without", "base", "image: a:1\n")
    listed = app("listed", "base", "image: a:1\ncommand: [a]\n")
    result = load(
        tmp_path,
        {"templates/base.yaml": template, "tenants/other/without.yaml": without, "tenants/other/listed.yaml": listed},
    )
    line = line_of(template, "run ${command}")
    assert errors(result) == [
        ("templates/base.yaml", line, "parameter 'command' is a list; it cannot be part of a string"),
        ("templates/base.yaml", line, "parameter 'command' has no value, and the string needs one"),
    ]


def test_extends_cycle_and_unknown_base(tmp_path: Path) -> None:
    a = CHILD_TEMPLATE.replace("name: child", "name: a").replace("extends: base", "extends: b")
    b = CHILD_TEMPLATE.replace("name: child", "name: b").replace("extends: base", "extends: a")
    c = CHILD_TEMPLATE.replace("name: child", "name: c").replace("extends: base", "extends: bsae")
    result = load(
        tmp_path,
        {"templates/base.yaml": BASE_TEMPLATE, "templates/a.yaml": a, "templates/b.yaml": b, "templates/c.yaml": c},
    )
    line = line_of(a, "extends")
    assert errors(result) == [
        ("templates/a.yaml", line, "template 'a' extends itself: a -> b -> a"),
        ("templates/b.yaml", line, "template 'b' extends itself: b -> a -> b"),
        ("templates/c.yaml", line, "template 'c' extends unknown template 'bsae'"),
    ]
    assert result.errors[2].hint == "did you mean 'base'?"


def test_parameters_must_be_a_json_schema(tmp_path: Path) -> None:
    broken = BASE_TEMPLATE.replace("        type: object\n", "        type: thing\n")
    result = load(tmp_path, {"templates/base.yaml": broken})
    assert errors(result) == [
        (
            "templates/base.yaml",
            line_of(broken, "type: thing"),
            "spec.parameters is not a valid JSON Schema: 'thing' is not valid under any of the given schemas",
        )
    ]


def test_template_file_with_syntax_error_is_named(tmp_path: Path) -> None:
    broken = BASE_TEMPLATE.replace('domains: ["${domain}"]', "domains: [${domain}]")
    broken = CHILD_TEMPLATE.replace('domains: ["${domain}"]', "domains: [${domain}]")
    result = load(tmp_path, {"templates/base.yaml": BASE_TEMPLATE, "templates/child.yaml": broken})
    assert errors(result)[0][:2] == ("templates/child.yaml", line_of(broken, "domains"))
    assert result.errors[0].hint == 'inside [...] or {...}, quote values with placeholders: "${name}"'
