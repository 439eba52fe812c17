"""spec.logging: what the loader accepts and refuses, what it renders, and the strict check of the
agent's configuration (Fluent Bit's own dry run cannot run here: see daemon/policy/fluentbit.py)."""

from __future__ import annotations

import copy
import json
import re
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.loader import load_or_raise
from daemon.loader.formats import ENDPOINT_PATTERN, Endpoint, parse_endpoint_url
from daemon.loader.load import load_repo
from daemon.model.kinds import LoggingSettings, LogOutput, LogRoute
from daemon.policy.fluentbit import check_config
from daemon.render import render
from daemon.render.fluentbit import agent_config
from tests.loader.helpers import BASE, errors, line_of, load, repo, text

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"


def logging_objects() -> dict[str, dict[str, Any]]:
    model = load_or_raise(EXAMPLE)
    return {
        o["kind"]: o
        for o in render(model, "r1")
        if o["metadata"].get("namespace") == "dockyard-logging"
        or o["metadata"]["name"] in ("dockyard-logging", "dockyard-log-agent")
    }


# --- what the example renders ---------------------------------------------------------------------


def test_the_example_renders_an_agent_on_every_node_with_its_config_and_read_access() -> None:
    objects = logging_objects()
    assert sorted(objects) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "DaemonSet",
        "Namespace",
        "NetworkPolicy",
        "ServiceAccount",
    ]
    ingress = objects["NetworkPolicy"]["spec"]["ingress"]
    assert ingress == [{"ports": [{"protocol": "TCP", "port": 2020}]}], "only its metrics port is open"
    for obj in objects.values():
        kubernetes_validate.validate(obj, "1.34", strict=True)
    namespace = objects["Namespace"]["metadata"]
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"  # hostPath
    assert objects["ClusterRole"]["rules"] == [
        {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get", "list", "watch"]}
    ]
    pod = objects["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"operator": "Exists"}]  # every node, tainted ones too
    [agent] = pod["containers"]
    assert agent["image"] == "cr.fluentbit.io/fluent/fluent-bit:5.1.1"
    assert agent["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"]: m.get("readOnly", False) for m in agent["volumeMounts"]} == {
        "/fluent-bit/etc/dockyard": True,
        "/var/log/containers": True,
        "/var/log/pods": True,
        "/var/lib/dockyard-logging": False,
    }
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in agent["env"] if "secretKeyRef" in e["valueFrom"]}
    assert secrets == {
        "LOG_OUTPUT_0_USERNAME": {"name": "loki-credentials", "key": "username"},
        "LOG_OUTPUT_0_PASSWORD": {"name": "loki-credentials", "key": "password"},
        "LOG_OUTPUT_1_USERNAME": {"name": "payments-es-credentials", "key": "username"},
        "LOG_OUTPUT_1_PASSWORD": {"name": "payments-es-credentials", "key": "password"},
    }


def test_the_example_config_passes_the_check_and_routes_payments_to_its_own_endpoint() -> None:
    objects = logging_objects()
    config = yaml.safe_load(objects["ConfigMap"]["data"]["fluent-bit.yaml"])
    env = {e["name"] for e in objects["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert check_config(config, env) == []
    outputs = {o["match"]: o for o in config["pipeline"]["outputs"]}
    assert (outputs["kube.*"]["name"], outputs["kube.*"]["host"]) == ("loki", "loki.example.com")
    assert (outputs["tenant.payments"]["name"], outputs["tenant.payments"]["logstash_prefix"]) == ("es", "payments")
    modify = next(f for f in config["pipeline"]["filters"] if f["name"] == "modify")
    # The tenant comes from the namespace's label, which only Dockyard writes, never from a pod label.
    assert "nslabel_dockyard.dev/tenant tenant" in modify["copy"]


def test_a_changed_config_rolls_the_agents() -> None:
    model = load_or_raise(EXAMPLE)
    platform = model.platform
    assert platform.logging is not None
    moved = replace(platform.logging, output=LogOutput("forward", "aggregator.example.com", 24224))
    other = replace(model, platform=replace(platform, logging=moved))

    def digest(m: Any) -> str:
        ds = next(o for o in render(m, "r1") if o["kind"] == "DaemonSet")
        return str(ds["spec"]["template"]["metadata"]["annotations"]["dockyard.dev/config-hash"])

    assert digest(model) != digest(other)


# --- the check catches what the agent's dry run would, and what it would not ---------------------------------


def base_config() -> tuple[dict[str, Any], frozenset[str]]:
    logging = LoggingSettings(
        LogOutput("loki", "loki.example.com", 443, True, "/loki/api/v1/push", secret="creds"),
        routes=(LogRoute("payments", LogOutput("http", "logs.example.com", 8080, False, "/in")),),
    )
    agent = agent_config(logging, "corp")
    return copy.deepcopy(agent.config), agent.env_names


def break_section(c: dict[str, Any]) -> None:
    c["pipeline"]["filterz"] = []


def break_top(c: dict[str, Any]) -> None:
    c["parsers"] = []


def break_plugin(c: dict[str, Any]) -> None:
    c["pipeline"]["outputs"][0]["name"] = "lokii"


def break_property(c: dict[str, Any]) -> None:
    c["pipeline"]["outputs"][0]["labelz"] = "a=b"


def break_boolean(c: dict[str, Any]) -> None:
    c["pipeline"]["outputs"][0]["tls"] = "maybe"


def break_port(c: dict[str, Any]) -> None:
    c["pipeline"]["outputs"][1]["port"] = "notaport"


def break_port_range(c: dict[str, Any]) -> None:
    c["pipeline"]["outputs"][1]["port"] = 70000


def break_multiline(c: dict[str, Any]) -> None:
    c["pipeline"]["inputs"][0]["multiline.parser"] = "crii"


def break_regex(c: dict[str, Any]) -> None:
    c["pipeline"]["filters"][-1]["rule"] = ["$tenant ^([a-z$ tenant.payments false"]


def break_rule_shape(c: dict[str, Any]) -> None:
    c["pipeline"]["filters"][-1]["rule"] = ["tenant ^(a)$ tenant.a"]


def break_env(c: dict[str, Any]) -> None:
    c["pipeline"]["outputs"][0]["http_passwd"] = "${LOKI_PASSWORD}"


def break_routing(c: dict[str, Any]) -> None:
    c["pipeline"]["outputs"][1]["match"] = "tenant.paymnets"


def break_dropped(c: dict[str, Any]) -> None:
    c["pipeline"]["outputs"] = c["pipeline"]["outputs"][1:]


def break_prefix(c: dict[str, Any]) -> None:
    c["pipeline"]["filters"][0]["kube_tag_prefix"] = "kube.var.log.pods."


def break_size(c: dict[str, Any]) -> None:
    c["pipeline"]["inputs"][0]["mem_buf_limit"] = "lots"


def break_service(c: dict[str, Any]) -> None:
    c["service"]["log_level"] = "loud"


BROKEN = [
    (break_section, "pipeline: unknown section 'filterz'"),
    (break_top, "unknown section 'parsers'"),
    (break_plugin, "pipeline.outputs[0]: unknown output plugin 'lokii'"),
    (break_property, "pipeline.outputs[0] (loki): unknown property 'labelz'"),
    (break_boolean, "pipeline.outputs[0] (loki).tls: 'maybe' is not on/off"),
    (break_port, "pipeline.outputs[1] (http).port: 'notaport' is not a whole number"),
    (break_port_range, "pipeline.outputs[1] (http).port: 70000 is not between 1 and 65535"),
    (break_multiline, "pipeline.inputs[0] (tail).multiline.parser: unknown multiline parser crii"),
    (break_regex, "its regular expression does not compile"),
    (break_rule_shape, "is not '$KEY REGEX NEW_TAG KEEP'"),
    (break_env, "${LOKI_PASSWORD} is used but the agent has no such environment variable"),
    (break_routing, "pipeline.outputs[1] (http): match 'tenant.paymnets' matches no record's tag"),
    (break_dropped, "records tagged 'kube.*' reach no output: they would be dropped"),
    (break_prefix, "kube_tag_prefix 'kube.var.log.pods.' does not fit the tags"),
    (break_size, "mem_buf_limit: 'lots' is not a size such as 50MB"),
    (break_service, "service.log_level: 'loud' is not one of"),
]


def test_the_unbroken_config_passes() -> None:
    config, env = base_config()
    assert check_config(config, env) == []


@pytest.mark.parametrize(("breaking", "expected"), BROKEN, ids=[b.__name__ for b, _ in BROKEN])
def test_a_broken_config_fails_with_a_clear_message(breaking: Any, expected: str) -> None:
    config, env = base_config()
    breaking(config)
    problems = check_config(config, env)
    assert any(expected in p for p in problems), problems


endpoints = st.builds(
    LogOutput,
    kind=st.sampled_from(["http", "elasticsearch", "loki", "forward"]),
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True),
    port=st.integers(1, 65535),
    tls=st.booleans(),
    path=st.one_of(st.just(""), st.from_regex(r"/[a-z0-9/._-]{0,30}", fullmatch=True)),
    format=st.sampled_from(["json_lines", "json"]),
    index=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    secret=st.one_of(st.none(), st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)),
)
tenants = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True), unique=True, max_size=5)


@settings(max_examples=200, deadline=None)
@given(output=endpoints, routed=tenants, outputs=st.lists(endpoints, min_size=5, max_size=5))
def test_every_config_the_renderer_can_make_passes_the_check(
    output: LogOutput, routed: list[str], outputs: list[LogOutput]
) -> None:
    logging = LoggingSettings(output, routes=tuple(LogRoute(t, o) for t, o in zip(routed, outputs, strict=False)))
    agent = agent_config(logging, "corp")
    assert check_config(yaml.safe_load(yaml.safe_dump(agent.config)), agent.env_names) == []


# --- what the loader refuses ------------------------------------------------------------------------


def platform_with(logging: str) -> dict[str, str]:
    return {"platform.yaml": text(BASE["platform.yaml"]) + "  logging:\n" + textwrap.indent(text(logging), "    ")}


@pytest.mark.parametrize(
    ("logging", "expected"),
    [
        (
            "output:\n  loki: {url: 'https://user:pw@loki.example.com/push'}",
            "is not a valid endpoint URL",
        ),
        ("output:\n  http: {url: 'https://logs.example.com/in?token=abc'}", "is not a valid endpoint URL"),
        ("output:\n  http: {url: 'https://logs.example.com/${HOME}'}", "is not a valid endpoint URL"),
        ("output:\n  http: {url: 'https://logs.example.com:99999/in'}", "is not a valid endpoint URL"),
        (
            "output:\n  loki: {url: 'https://a.example.com'}\n  http: {url: 'https://b.example.com'}",
            "more than 1 property|too many properties|should not have more than 1",
        ),
        ("output: {}", "output needs at least one of: http, elasticsearch, loki, forward"),
        ("output:\n  kafka: {url: 'https://k.example.com'}", "kafka"),
    ],
)
def test_a_bad_endpoint_is_refused_at_its_line(tmp_path: Path, logging: str, expected: str) -> None:
    result = load(tmp_path, platform_with(logging))
    [(file, _, message)] = errors(result)  # one problem, said once
    assert file == "platform.yaml" and re.search(expected, message), message


def test_the_schema_and_the_loader_agree_on_what_an_endpoint_is() -> None:
    schema = json.loads((EXAMPLE.parent / "schemas" / "platform.schema.json").read_text())
    for kind in ("http", "elasticsearch", "loki"):
        assert schema["$defs"]["logOutput"]["properties"][kind]["properties"]["url"]["pattern"] == ENDPOINT_PATTERN
    assert parse_endpoint_url("https://es.example.com:9200") == Endpoint("es.example.com", 9200, True, "")
    assert parse_endpoint_url("http://logs/in/") == Endpoint("logs", 80, False, "/in/")


def test_routes_name_existing_tenants_once_and_the_namespace_is_nobody_elses(tmp_path: Path) -> None:
    logging = """
        namespace: shop
        output:
          forward: {host: aggregator.example.com}
        tenants:
          - tenant: shpo
            output:
              forward: {host: a.example.com}
          - tenant: shop
            output:
              forward: {host: b.example.com}
          - tenant: shop
            output:
              forward: {host: c.example.com}
        """
    files = platform_with(logging)
    result = load(tmp_path, files)
    source = files["platform.yaml"]
    assert errors(result) == [
        ("platform.yaml", line_of(source, "namespace: shop"), "namespace 'shop' belongs to tenant 'shop'"),
        ("platform.yaml", line_of(source, "- tenant: shpo"), "Tenant 'shpo' does not exist"),
        (
            "platform.yaml",
            line_of(source, "- tenant: shop", occurrence=2),
            "tenant 'shop' already has a log endpoint (spec.logging.tenants[1])",
        ),
    ]
    assert result.errors[1].hint == "did you mean 'shop'?"


@pytest.mark.parametrize(
    ("namespace", "reserved", "expected"),
    [
        ("kube-system", (), "the cluster or Dockyard (kube-*)"),
        ("default", (), "the cluster or Dockyard (default)"),
        ("dockyard-system", (), "the cluster or Dockyard (dockyard-system)"),
        ("platform-ops", ("platform-ops",), "the cluster or Dockyard (platform-ops)"),  # the daemon's namespace
    ],
)
def test_the_agent_never_runs_in_a_namespace_no_tenant_may_take(
    tmp_path: Path, namespace: str, reserved: tuple[str, ...], expected: str
) -> None:
    files = platform_with(f"namespace: {namespace}\noutput:\n  forward: {{host: aggregator.example.com}}\n")
    result = load_repo(repo(tmp_path, files), reserved_namespaces=reserved)
    assert [m for _, _, m in errors(result)] == [f"namespace '{namespace}' belongs to {expected}"]
