"""Hostile or broken input: refused quickly, with a clear error naming the file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from daemon.loader import load_repo
from daemon.loader.yamlsource import MAX_FILE_BYTES, parse_text
from tests.loader.helpers import errors, line_of, load, only, repo, text

APP_HEAD = """
    apiVersion: dockyard.dev/v1alpha1
    kind: App
    metadata:
      name: bomb
    spec:
      image: busybox:1.36
"""


def _billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    bomb = _billion_laughs() + "---\n" + text(APP_HEAD)
    started = time.perf_counter()
    result = load(tmp_path, {"tenants/shop/bomb.yaml": bomb})
    elapsed = time.perf_counter() - started
    assert elapsed < 2, elapsed
    problem = next(p for p in result.errors if p.file == "tenants/shop/bomb.yaml")
    assert problem.message == "document expands to more than 100,000 values through YAML aliases"
    assert problem.code == "yaml.alias-bomb"
    assert "billion laughs" in problem.hint


def test_alias_bomb_inside_a_real_document(tmp_path: Path) -> None:
    document = text(APP_HEAD) + "  args: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for index in range(8):
        document += f"  command{index}: &a{index} [{', '.join(['*a' if index == 0 else f'*a{index - 1}'] * 10)}]\n"
    result = load(tmp_path, {"tenants/shop/bomb.yaml": document})
    assert [p.code for p in result.errors if p.file == "tenants/shop/bomb.yaml"] == ["yaml.alias-bomb"]


def test_a_few_aliases_and_merge_keys_are_fine(tmp_path: Path) -> None:
    document = """
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata:
          name: merged
        spec:
          <<: &defaults
            image: busybox:1.36
            replicas: 1
          replicas: 2
          args: &args [a, b]
          command: *args
        """
    result = load(tmp_path, {"tenants/shop/merged.yaml": document})
    assert errors(result) == []
    assert result.model is not None
    app = next(a for a in result.model.apps if a.name == "merged")
    assert (app.image, app.replicas, app.args, app.command) == ("busybox:1.36", 2, ("a", "b"), ("a", "b"))


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    document = text(APP_HEAD) + "  args: &loop [a, *loop]\n"
    result = load(tmp_path, {"tenants/shop/loop.yaml": document})
    assert errors(result) == [
        ("tenants/shop/loop.yaml", line_of(document, "*loop"), "recursive YAML alias: a value contains itself")
    ]


def test_huge_file_is_refused_without_parsing(tmp_path: Path) -> None:
    huge = text(APP_HEAD) + "  args:\n" + "    - " + "x" * 100 + "\n" * 1
    huge += ("    - " + "y" * 100 + "\n") * (MAX_FILE_BYTES // 100)
    result = load(tmp_path, {"tenants/shop/huge.yaml": huge})
    problem = only(result)
    assert (problem.file, problem.line) == ("tenants/shop/huge.yaml", 0)
    assert problem.message.startswith("file is ")
    assert "more than the limit of 1,048,576 (1 MiB)" in problem.message


def test_document_with_too_many_values_is_refused(tmp_path: Path) -> None:
    many = text(APP_HEAD) + "  args: [" + ",".join(["1"] * 120_000) + "]\n"
    result = load(tmp_path, {"tenants/shop/many.yaml": many})
    assert errors(result) == [("tenants/shop/many.yaml", 7, "document has more than 100,000 values")]


def test_too_many_documents_in_one_file(tmp_path: Path) -> None:
    documents = "---\n".join(f"a{i}: 1\n" for i in range(1001))
    found, problems = parse_text(documents, "x.yaml")
    assert len(found) == 1000
    assert [(p.line, p.message) for p in problems] == [(2001, "more than 1000 documents in one file")]


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    document = text(APP_HEAD) + "  replicas: 1\n  image: nginx:1.27\n"
    result = load(tmp_path, {"tenants/shop/dup.yaml": document})
    line = line_of(document, "image: nginx")
    assert errors(result) == [("tenants/shop/dup.yaml", line, "duplicate key 'image' (first at line 6)")]
    assert result.errors[0].column == 3


def test_non_utf8_file_is_named(tmp_path: Path) -> None:
    content = text(APP_HEAD).encode() + b"  args: [caf\xe9]\n"
    result = load(tmp_path, {"tenants/shop/latin1.yaml": content})
    assert errors(result) == [
        ("tenants/shop/latin1.yaml", 7, "file is not UTF-8 text: byte 0xe9 at line 7, column 13 cannot be decoded")
    ]
    assert result.errors[0].hint == "save the file as UTF-8"


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    content = b"\xef\xbb\xbf" + text(APP_HEAD).encode()
    assert errors(load(tmp_path, {"tenants/shop/bom.yaml": content})) == []


def test_control_characters_are_a_located_error(tmp_path: Path) -> None:
    content = text(APP_HEAD) + "  args: [a\x07b]\n"
    result = load(tmp_path, {"tenants/shop/bell.yaml": content})
    problem = only(result)
    assert (problem.file, problem.line) == ("tenants/shop/bell.yaml", 7)
    assert (problem.column, problem.message) == (11, "YAML error: control characters are not allowed (U+0007)")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_outside_the_repo_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("password: hunter2\n")
    root = repo(tmp_path / "repo")
    (root / "tenants/shop/leak.yaml").symlink_to(secret)
    (root / "templates/escape").symlink_to(tmp_path, target_is_directory=True)
    result = load_repo(root)
    assert errors(result) == [
        ("templates/escape", 0, "symlink points outside the repository; it is not read"),
        ("tenants/shop/leak.yaml", 0, "symlink points outside the repository; it is not read"),
    ]
    assert "hunter2" not in str(result.problems)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinks_inside_the_repo_are_followed_once(tmp_path: Path) -> None:
    root = repo(tmp_path / "repo")
    (root / "notifications/alias.yaml").symlink_to(root / "notifications/ops.yaml")
    (root / "templates/loop").symlink_to(root / "templates", target_is_directory=True)
    (root / "tenants/shop/broken.yaml").symlink_to(root / "missing.yaml")
    result = load_repo(root)
    assert errors(result) == [
        ("notifications/ops.yaml", 4, "duplicate NotificationList 'ops'"),
        ("tenants/shop/broken.yaml", 0, "broken symlink (or a symlink loop)"),
    ]


def test_syntax_errors_are_located_and_explained(tmp_path: Path) -> None:
    document = text(APP_HEAD) + "  args:\n\t- a\n"
    result = load(tmp_path, {"tenants/shop/tabs.yaml": document})
    problem = only(result)
    assert (problem.file, problem.line, problem.column) == ("tenants/shop/tabs.yaml", 8, 1)
    assert problem.message == (
        "YAML syntax error: found character that cannot start any token (while scanning for the next token)"
    )
    assert problem.hint == "YAML does not allow tabs for indentation; use spaces"


def test_unquoted_colon_gets_a_hint(tmp_path: Path) -> None:
    document = text(APP_HEAD) + "  args: [a]\n  command: echo a: b\n"
    problem = only(load(tmp_path, {"tenants/shop/colon.yaml": document}))
    assert (problem.line, problem.message) == (8, "YAML syntax error: mapping values are not allowed in this context")
    assert problem.hint == "a value containing ': ' must be quoted"


def test_unsupported_tags_and_non_string_keys(tmp_path: Path) -> None:
    document = text(APP_HEAD) + "  args: !!python/object:os.system [ls]\n"
    assert errors(load(tmp_path / "a", {"tenants/shop/tag.yaml": document})) == [
        ("tenants/shop/tag.yaml", 7, "unsupported YAML tag tag:yaml.org,2002:python/object:os.system")
    ]
    document = text(APP_HEAD) + "  on: true\n"
    result = load(tmp_path / "b", {"tenants/shop/key.yaml": document})
    assert errors(result) == [("tenants/shop/key.yaml", 7, "mapping keys must be strings, found on")]
    assert result.errors[0].hint == "YAML reads yes/no/on/off/true/false as booleans; quote the key"


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    document = text(APP_HEAD) + "  args: " + "[" * 200 + "]" * 200 + "\n"
    result = load(tmp_path, {"tenants/shop/deep.yaml": document})
    assert [(p.line, p.message) for p in result.errors] == [(7, "values are nested more than 64 levels deep")]
    document = "a: " + "[" * 5000 + "]" * 5000 + "\n"
    result = load(tmp_path / "b", {"tenants/shop/deeper.yaml": document})
    assert result.errors[0].message.startswith("YAML syntax error: exceeded maximum nesting depth")


def test_unknown_top_level_entries_are_warnings(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        {"platfrom.yaml": "x: 1\n", "charts/a.yaml": "x: 1\n", "README.md": "# hi\n", ".gitlab-ci.yml": "x: 1\n"},
    )
    assert errors(result) == []
    assert [(p.file, p.message, p.hint) for p in result.warnings] == [
        (
            "charts",
            "unknown top-level folder 'charts' is ignored",
            "expected: platform.yaml, notifications, templates, tenants",
        ),
        ("platfrom.yaml", "unknown top-level file 'platfrom.yaml' is ignored", "did you mean 'platform.yaml'?"),
    ]
    assert result.model is not None  # warnings do not make a repo invalid


def test_empty_and_scalar_documents(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        {
            "tenants/shop/empty.yaml": "",
            "tenants/shop/dashes.yaml": "---\n---\n",
            "tenants/shop/scalar.yaml": "just text\n",
            "tenants/shop/list.yaml": "- a\n- b\n",
        },
    )
    assert errors(result) == [
        (
            "tenants/shop/list.yaml",
            1,
            "a document must be a mapping with apiVersion, kind, metadata and spec; found a list",
        ),
        (
            "tenants/shop/scalar.yaml",
            1,
            "a document must be a mapping with apiVersion, kind, metadata and spec; found the value 'just text'",
        ),
    ]


def test_missing_root_and_missing_platform(tmp_path: Path) -> None:
    result = load_repo(tmp_path / "nowhere")
    assert [p.message for p in result.errors] == ["not a directory"]
    result = load(tmp_path / "repo", {"platform.yaml": None})
    assert errors(result) == [("platform.yaml", 0, "the repository has no platform.yaml")]
