"""``dockyard validate`` and ``dockyard schema`` through the real entry point."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.commands.validate import format_problem, use_colour
from daemon.errors import Problem
from tests.loader.helpers import BASE, load, repo, text

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"


def test_valid_repo_exits_0_with_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert out == (
        "\u2713 4 tenants, 9 apps, 1 job, 3 volumes, 4 policies, 2 autoscalings, 5 notification lists, "
        "2 templates valid\n"
    )


def test_default_path_is_the_current_directory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLE)
    assert main(["validate"]) == 0
    assert "valid" in capsys.readouterr().out


def test_invalid_repo_exits_1_with_located_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api = text(BASE["tenants/shop/api.yaml"]).replace("image: busybox:1.36", "image: busybox:1.36\n  replica: 2")
    root = repo(tmp_path, {"tenants/shop/api.yaml": api, "charts/x.yaml": "a: 1\n"})
    assert main(["validate", str(root)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{root.as_posix()}/charts: warning: unknown top-level folder 'charts' is ignored",
        "    hint: expected: platform.yaml, notifications, templates, tenants",
        f"{root.as_posix()}/tenants/shop/api.yaml:7:3: error: unknown field 'replica' in spec (at $.spec.replica)",
        "    hint: did you mean 'replicas'?",
        "\u2717 1 error, 1 warning in 2 files",
    ]


def test_paths_are_relative_when_run_in_the_repo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = repo(tmp_path, {"tenants/shop/volume.yaml": None})
    monkeypatch.chdir(root)
    assert main(["validate", "."]) == 1
    assert (
        capsys.readouterr()
        .out.splitlines()[0]
        .startswith("tenants/shop/api.yaml:15:15: error: volume 'data' does not exist in tenant 'shop'")
    )


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["validate", str(tmp_path / "file")]) == 2
    assert "not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "--output", "xml", str(EXAMPLE)])
    assert exit_info.value.code == 2


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path, {"tenants/shop/volume.yaml": None})
    assert main(["validate", "--output", "json", str(root)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    assert report["problems"] == [
        {
            "file": "tenants/shop/api.yaml",
            "line": 15,
            "column": 15,
            "severity": "error",
            "message": "volume 'data' does not exist in tenant 'shop'",
            "path": "$.spec.volumes[0].volume",
            "hint": "there is no volume in tenant 'shop' yet",
            "code": "ref.dangling",
        }
    ]
    assert report["summary"] == {"errors": 1, "warnings": 0, "filesWithProblems": 1, "files": 10, "documents": 10}


def test_json_output_for_a_valid_repo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-o", "json", str(EXAMPLE)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is True
    assert report["problems"] == []
    assert report["summary"]["tenants"] == 4
    assert report["summary"]["apps"] == 9


def test_warnings_fail_only_with_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    front = text(BASE["tenants/other/front.yaml"]).replace("nginx:1.27", "nginx:latest")
    root = repo(tmp_path, {"tenants/other/front.yaml": front})
    assert main(["validate", str(root)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("valid (1 warning)")
    assert main(["validate", "--strict", str(root)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "\u2717 0 errors, 1 warning in 1 file"
    assert main(["validate", "--strict", "-o", "json", str(root)]) == 1
    assert json.loads(capsys.readouterr().out)["valid"] is False


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colours_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(_Terminal()) is True
    assert use_colour(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour(_Terminal()) is False
    problem = Problem("a.yaml", 3, 5, "bad", "$.spec", "fix it")
    assert "\033[31merror\033[0m" in format_problem(problem, ".", colour=True)
    assert format_problem(problem, ".", colour=False) == "a.yaml:3:5: error: bad (at $.spec)\n    hint: fix it"


def test_no_color_in_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "")
    root = repo(tmp_path, {"tenants/shop/volume.yaml": None})
    assert main(["validate", str(root)]) == 1
    assert "\033[" not in capsys.readouterr().out


def test_schema_prints_one_kind_case_insensitively(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "notificationLIST"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["$id"] == "https://dockyard.dev/schemas/v1alpha1/notificationlist.schema.json"


def test_schema_lists_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    out = capsys.readouterr().out
    for kind in ("Platform", "Tenant", "App", "Volume", "Policy", "Autoscaling", "NotificationList", "Template"):
        assert f"\n{kind} " in f"\n{out}"


def test_schema_unknown_kind_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "Deployment"]) == 2
    assert capsys.readouterr().err == (
        "dockyard: unknown kind 'Deployment'; kinds: Platform, Tenant, App, Volume, Policy, Autoscaling, "
        "NotificationList, Template, Job, Patch\n"
    )


def test_helper_repo_is_valid(tmp_path: Path) -> None:
    """The base the other tests change must itself be clean."""
    result = load(tmp_path)
    assert result.problems == ()
    assert result.model is not None
