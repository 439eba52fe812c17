"""A git work tree holding a copy of the example platform repo."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def example_repo(tmp_path: Path) -> Path:
    """``tmp_path/repo`` (a git work tree, branch main) with the example in ``platform/``."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root / "platform")
    shutil.copytree(SCHEMAS, root / "schemas")
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "the example")
    return root / "platform"
