"""What a Fluent Bit 5.x YAML configuration may contain, checked strictly (pure).

Fluent Bit's own ``--dry-run`` is the first check one would reach for, but the agent cannot be
installed where Dockyard is built and tested, and its dry run misses much anyway: an unknown
multiline parser, a rewrite rule whose regular expression does not compile, a port that is not a
number, a ``${VAR}`` nobody sets, a record that no output takes (it is dropped without a word).
This module knows the sections, plugins and properties Dockyard's configuration uses and rejects
everything else, so a mistake in :mod:`daemon.render.fluentbit` fails its tests instead of every
node's agent. Property names are compared as Fluent Bit does, without regard to case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

Check = Callable[[object], str | None]

_BOOLEANS = {"on", "off", "true", "false", "yes", "no"}
_SIZE = re.compile(r"^[0-9]+([KMG]B?)?$", re.IGNORECASE)
_ENV_REF = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: multiline parsers built into Fluent Bit
MULTILINE_PARSERS = frozenset({"docker", "cri", "go", "python", "java", "ruby"})


def _text(value: object) -> str | None:
    return None if isinstance(value, str | int) and not isinstance(value, bool) else "must be a string"


def _boolean(value: object) -> str | None:
    return None if str(value).lower() in _BOOLEANS else f"{value!r} is not on/off"


def _integer(low: int, high: int) -> Check:
    def check(value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
            return f"{value!r} is not a whole number"
        return None if low <= int(value) <= high else f"{value} is not between {low} and {high}"

    return check


def _size(value: object) -> str | None:
    return None if _SIZE.match(str(value)) else f"{value!r} is not a size such as 50MB"


def _strings(value: object) -> str | None:
    """A property that may be given several times: a string or a list of strings."""
    if isinstance(value, str):
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return None
    return "must be a string or a non-empty list of strings"


def _one_of(*allowed: str) -> Check:
    return lambda value: None if str(value) in allowed else f"{value!r} is not one of {', '.join(allowed)}"


def _multiline(value: object) -> str | None:
    unknown = [p.strip() for p in str(value).split(",") if p.strip() not in MULTILINE_PARSERS]
    return f"unknown multiline parser {', '.join(unknown)}" if unknown else None


def _retry(value: object) -> str | None:
    if str(value).lower() in {"no_limits", "false", "off", "no_retries"}:
        return None
    return _integer(1, 1_000_000)(value)


def _rules(value: object) -> str | None:
    """rewrite_tag rules: ``$KEY REGEX NEW_TAG KEEP``, the regular expression valid."""
    problem = _strings(value)
    if problem:
        return problem
    for rule in _values(value):
        parts = str(rule).split()
        if len(parts) != 4 or not parts[0].startswith("$"):
            return f"rule {rule!r} is not '$KEY REGEX NEW_TAG KEEP'"
        try:
            re.compile(parts[1])
        except re.error as e:
            return f"rule {rule!r}: its regular expression does not compile ({e})"
        if _boolean(parts[3]):
            return f"rule {rule!r}: KEEP must be true or false"
    return None


PORT = _integer(1, 65535)
_OUTPUT_COMMON: dict[str, Check] = {
    "match": _text,
    "host": _text,
    "port": PORT,
    "tls": _boolean,
    "tls.verify": _boolean,
    "retry_limit": _retry,
}
_AUTH = {"http_user": _text, "http_passwd": _text}

SERVICE: dict[str, Check] = {
    "flush": _integer(1, 3600),
    "log_level": _one_of("off", "error", "warn", "info", "debug", "trace"),
    "http_server": _boolean,
    "http_listen": _text,
    "http_port": PORT,
    "health_check": _boolean,
}
PLUGINS: dict[str, dict[str, dict[str, Check]]] = {
    "inputs": {
        "tail": {
            "tag": _text,
            "path": _text,
            "exclude_path": _text,
            "multiline.parser": _multiline,
            "db": _text,
            "mem_buf_limit": _size,
            "skip_long_lines": _boolean,
            "refresh_interval": _integer(1, 3600),
        }
    },
    "filters": {
        "kubernetes": {
            "match": _text,
            "kube_tag_prefix": _text,
            "merge_log": _boolean,
            "keep_log": _boolean,
            "labels": _boolean,
            "annotations": _boolean,
            "namespace_labels": _boolean,
            "k8s-logging.exclude": _boolean,
        },
        "nest": {
            "match": _text,
            "operation": _one_of("nest", "lift"),
            "wildcard": _strings,
            "nest_under": _text,
            "nested_under": _text,
            "add_prefix": _text,
            "remove_prefix": _text,
        },
        "modify": {"match": _text, "copy": _strings, "add": _strings, "remove_wildcard": _strings},
        "rewrite_tag": {"match": _text, "rule": _rules, "emitter_name": _text},
    },
    "outputs": {
        "http": {
            **_OUTPUT_COMMON,
            **_AUTH,
            "uri": _text,
            "format": _one_of("json", "json_lines", "json_stream", "msgpack", "gelf"),
            "json_date_key": _text,
            "json_date_format": _one_of("double", "epoch", "iso8601", "java_sql_timestamp"),
        },
        "es": {
            **_OUTPUT_COMMON,
            **_AUTH,
            "path": _text,
            "logstash_format": _boolean,
            "logstash_prefix": _text,
            "suppress_type_name": _boolean,
            "replace_dots": _boolean,
        },
        "loki": {**_OUTPUT_COMMON, **_AUTH, "uri": _text, "labels": _text, "line_format": _one_of("json", "key_value")},
        "forward": {**_OUTPUT_COMMON, "shared_key": _text, "self_hostname": _text},
    },
}
#: the kubernetes filter's default, which must match how the tail input tags records
DEFAULT_KUBE_TAG_PREFIX = "kube.var.log.containers."


def _section(items: object, kind: str, where: str, problems: list[str]) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        problems.append(f"{where}: must be a list of {kind}")
        return []
    plugins = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            problems.append(f"{at}: must be a mapping")
            continue
        properties = {str(k).lower(): v for k, v in item.items()}
        name = properties.pop("name", None)
        known = PLUGINS[kind].get(str(name))
        if known is None:
            problems.append(f"{at}: unknown {kind[:-1]} plugin {name!r} (known: {', '.join(sorted(PLUGINS[kind]))})")
            continue
        for key, value in properties.items():
            check = known.get(key)
            if check is None:
                problems.append(f"{at} ({name}): unknown property {key!r}")
                continue
            problem = check(value)
            if problem:
                problems.append(f"{at} ({name}).{key}: {problem}")
        plugins.append({"name": name, **properties})
    return plugins


def _env_refs(value: object) -> Iterable[str]:
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _env_refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from _env_refs(v)
    elif isinstance(value, str):
        yield from _ENV_REF.findall(value)


def _values(value: object) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value] if isinstance(value, list) else []


def _routing(inputs: list[dict[str, Any]], filters: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> list[str]:
    """Every tag a record can carry is taken by an output; every match matches a tag."""
    problems: list[str] = []
    tags = [str(i.get("tag", "")) for i in inputs]
    for f in filters:
        if f["name"] == "rewrite_tag":
            tags += [rule.split()[2] for rule in _values(f.get("rule")) if len(rule.split()) == 4]
    # A tag ending in * stands for the tags the input makes of it; an example of each is enough.
    concrete = [t[:-1] + "example" if t.endswith("*") else t for t in tags]
    for where, plugins in (("filters", filters), ("outputs", outputs)):
        for i, plugin in enumerate(plugins):
            match = str(plugin.get("match", ""))
            if not any(fnmatchcase(tag, match) for tag in concrete):
                problems.append(f"pipeline.{where}[{i}] ({plugin['name']}): match {match!r} matches no record's tag")
    for tag, example in zip(tags, concrete, strict=True):
        if not any(fnmatchcase(example, str(o.get("match", ""))) for o in outputs):
            problems.append(f"records tagged {tag!r} reach no output: they would be dropped")
    for i, f in enumerate(filters):
        if f["name"] == "kubernetes":
            prefix = str(f.get("kube_tag_prefix", DEFAULT_KUBE_TAG_PREFIX))
            for inp in inputs:
                made = str(inp.get("tag", "")).rstrip("*") + str(inp.get("path", "")).lstrip("/").rsplit("/", 1)[0]
                if not (made.replace("/", ".") + ".").startswith(prefix):
                    problems.append(
                        f"pipeline.filters[{i}] (kubernetes): kube_tag_prefix {prefix!r} does not fit the tags "
                        f"of {inp.get('path')!r}, so no record would find its pod"
                    )
    return problems


def check_config(config: object, env: Iterable[str]) -> list[str]:
    """Every problem of a configuration; ``env`` names the environment variables the agent has."""
    problems: list[str] = []
    if not isinstance(config, Mapping):
        return ["the configuration must be a mapping"]
    for key in config:
        if key not in ("service", "pipeline"):
            problems.append(f"unknown section {key!r} (Dockyard writes service and pipeline only)")
    service = config.get("service")
    if not isinstance(service, Mapping):
        problems.append("service: missing or not a mapping")
    else:
        for key, value in service.items():
            check = SERVICE.get(str(key).lower())
            problem = f"unknown property {key!r}" if check is None else check(value)
            if problem:
                problems.append(f"service.{key}: {problem}")
    pipeline = config.get("pipeline")
    if not isinstance(pipeline, Mapping):
        return [*problems, "pipeline: missing or not a mapping"]
    for key in pipeline:
        if key not in PLUGINS:
            problems.append(f"pipeline: unknown section {key!r}")
    inputs = _section(pipeline.get("inputs"), "inputs", "pipeline.inputs", problems)
    filters = _section(pipeline.get("filters", []), "filters", "pipeline.filters", problems)
    outputs = _section(pipeline.get("outputs"), "outputs", "pipeline.outputs", problems)
    if not inputs or not outputs:
        problems.append("pipeline: needs at least one input and one output")
    else:
        problems += _routing(inputs, filters, outputs)
    known_env = set(env)
    for name in sorted(set(_env_refs(config))):
        if not _NAME.match(name):
            problems.append(f"${{{name}}} is not a valid environment variable reference")
        elif name not in known_env:
            problems.append(f"${{{name}}} is used but the agent has no such environment variable")
    return problems
