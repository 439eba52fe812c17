"""The revision diff (pure): symmetric, masked, quiet about provenance, stable."""

from __future__ import annotations

from typing import Any

from daemon.policy.diff import MASK
from daemon.policy.revdiff import diff_revisions


def secret(value: str, source: str = "a.yaml:1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "t", "annotations": {"dockyard.dev/source": source}},
        "data": {"password": value},
    }


def cm(name: str, data: dict[str, str], ns: str = "t", revision: str = "r1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": ns,
            "annotations": {"dockyard.dev/revision": revision},
            "labels": {"dockyard.dev/tenant": ns},
        },
        "data": data,
    }


def test_secret_values_never_show() -> None:
    diff = diff_revisions([secret("aHVudGVyMg==")], [secret("c3dvcmRmaXNo", "a.yaml:9")])
    (change,) = diff.changes
    assert [(f.path, f.before, f.after) for f in change.fields] == [("data.password", MASK, MASK)]
    assert "aHVudGVyMg" not in repr(diff) and "c3dvcmRmaXNo" not in repr(diff)
    assert change.object["data"] == {"password": MASK}


def test_removed_and_added_fields_provenance_ignored_and_stable_order() -> None:
    base = [cm("b", {"x": "1", "gone": "y"}, "u"), cm("a", {"x": "1"})]
    head = [cm("a", {"x": "1"}, revision="r2"), cm("b", {"x": "2", "new": "z"}, "u"), cm("c", {}, "t")]
    diff = diff_revisions(base, head)
    assert [(c.action, c.tenant, c.ref.name) for c in diff.changes] == [("create", "t", "c"), ("update", "u", "b")]
    assert diff.unchanged == 1, "a new revision annotation alone is no change"
    assert [f.describe() for f in diff.changes[1].fields] == ["data.x: 1 → 2", "data.new: + z", "data.gone: - y"]
    assert diff_revisions(list(reversed(base)), list(reversed(head))) == diff
