"""Provenance without churn: comments, blank lines, reordered documents and moved files change no
rendered object; the plan still finds every object's new file and line."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from daemon.loader import load_or_raise
from daemon.model.refs import ObjRef
from daemon.render import objref, render
from daemon.render.provenance import sources

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"


def rendered(root: Path) -> dict[ObjRef, dict[str, Any]]:
    return {objref(o): o for o in render(load_or_raise(root), "r1")}


def reshuffle(root: Path) -> None:
    """Edits that change where documents are written, never what they say."""
    shop = root / "tenants" / "shop"
    tenant = shop / "tenant.yaml"
    tenant.write_text("# Owned by the shop team; ask in #shop.\n\n\n" + tenant.read_text().replace("\n", "\n\n", 3))
    # Moved out of apps/, with a comment in the middle of it.
    api = (shop / "apps" / "api.yaml").read_text()
    (shop / "apps" / "api.yaml").unlink()
    (shop / "api.yaml").write_text(api.replace("spec:\n", "spec:\n  # the public API\n\n", 1))
    # Two files become one, their documents in the other order.
    volumes, scaling = (shop / "volumes.yaml").read_text(), (shop / "autoscaling.yaml").read_text()
    (shop / "volumes.yaml").unlink()
    (shop / "autoscaling.yaml").unlink()
    (shop / "state.yaml").write_text(f"{scaling}\n---\n# the volumes\n{volumes}")


def test_comments_blank_lines_reordering_and_moves_change_no_object(tmp_path: Path) -> None:
    before_root, after_root = tmp_path / "before", tmp_path / "after"
    shutil.copytree(EXAMPLE, before_root)
    shutil.copytree(EXAMPLE, after_root)
    reshuffle(after_root)
    before, after = rendered(before_root), rendered(after_root)
    assert before.keys() == after.keys()
    changed = [str(ref) for ref in before if before[ref] != after[ref]]
    assert changed == []


def test_the_plan_s_file_and_line_follow_the_move(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "repo")
    root = tmp_path / "repo"
    reshuffle(root)
    model = load_or_raise(root)
    found = sources(model, render(model, "r1"))
    api = found[ObjRef("apps", "Deployment", "shop", "api")]
    assert (api.file, api.document) == ("tenants/shop/api.yaml", "App/api")
    namespace = found[ObjRef("", "Namespace", "", "shop")]
    assert namespace.file == "tenants/shop/tenant.yaml" and namespace.line > 3
    claims = [s for r, s in found.items() if r.kind == "PersistentVolumeClaim" and r.namespace == "shop"]
    assert claims and {s.file for s in claims} == {"tenants/shop/state.yaml"}
