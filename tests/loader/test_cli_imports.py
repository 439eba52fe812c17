"""The command line loads only what a command uses: `version`, `validate` and `render` never import
the Kubernetes client, Slack or the scheduler (issue 15: `dockyard version` took 1.3 s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"
ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("kubernetes", "slack_bolt", "slack_sdk", "apscheduler", "urllib3", "prometheus_client", "git", "devcluster")
#: Dockyard's own packages only the daemon (or its commands) needs: the web console, the chat.
DAEMON_ONLY = ("daemon.console", "daemon.chat", "daemon.runtime")

PROBE = """
import contextlib, io, json, sys
from daemon.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def modules_loaded_by(*argv: str) -> set[str]:
    """Every module the command imported, by its full name and by its top-level package."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], check=True, capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["code"] == 0
    return set(result["modules"]) | {m.split(".")[0] for m in result["modules"]}


@pytest.mark.parametrize(
    "argv",
    [("version",), ("validate", str(EXAMPLE)), ("render", "--repo", str(EXAMPLE))],
    ids=["version", "validate", "render"],
)
def test_a_command_imports_nothing_it_does_not_use(argv: tuple[str, ...]) -> None:
    loaded = modules_loaded_by(*argv)
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    assert loaded.isdisjoint(DAEMON_ONLY), sorted(loaded & set(DAEMON_ONLY))


def test_diff_loads_no_cluster_client_and_checks_schemas_fast(tmp_path: Path) -> None:
    """`dockyard diff` is offline: it reads revisions with git and uses the windows' cron
    (APScheduler's), never a Kubernetes or Slack client; it loads both revisions with the fast
    schema validator."""
    repo = tmp_path / "repo"
    subprocess.run(["cp", "-r", str(EXAMPLE), str(repo)], check=True)
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    app = repo / "tenants/shop/apps/web.yaml"
    text = app.read_text()
    assert "replicas: 2" in text
    app.write_text(text.replace("replicas: 2", "replicas: 3", 1))
    subprocess.run([*git, "commit", "-qam", "head"], check=True)
    loaded = modules_loaded_by("diff", "--repo", str(repo), "--base", "HEAD~1")
    offline = set(HEAVY) - {"apscheduler", "git"}
    assert loaded.isdisjoint(offline), sorted(loaded & offline)
    assert "jsonschema_rs" in loaded


def test_help_still_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from daemon.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    commands = ("validate", "render", "plan", "diff", "review", "apply", "run", "history", "pause", "version")
    for command in (*commands, "dev-cluster"):
        assert command in out


def test_the_command_is_found_after_options_that_take_a_value(capsys: pytest.CaptureFixture[str]) -> None:
    from daemon.cli import command_in, main

    assert command_in(["--log-level", "DEBUG", "--log-format", "json", "render", "--repo", "x"]) == "render"
    assert command_in(["--help"]) is None
    assert main(["--log-level", "WARNING", "version"]) == 0
    assert capsys.readouterr().out.startswith("dockyard ")
