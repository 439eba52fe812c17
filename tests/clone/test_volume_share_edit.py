"""The owner's consent to a clone's data: ``tenant`` added to ``spec.shareWith`` of one Volume,
every other character of the file as written."""

from __future__ import annotations

import pytest
import yaml

from daemon.chat.yamledit import add_volume_share
from daemon.errors import ChatError

HEAD = "apiVersion: dockyard.dev/v1alpha1\nkind: Volume\nmetadata:\n  name: db\nspec:\n"
REST = "  # the size\n  size: 1Gi\n"


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        ("", "  shareWith:\n    - copy\n"),  # added first in the spec, above the comment of size
        ("  shareWith:\n    - a   # why\n", "  shareWith:\n    - a   # why\n    - copy\n"),
        ("  shareWith:\n  - a\n", "  shareWith:\n  - a\n  - copy\n"),
        ("  shareWith: [a, b]\n", "  shareWith: [a, b, copy]\n"),
        ("  shareWith: [copy]\n", "  shareWith: [copy]\n"),  # there already: unchanged
    ],
)
def test_the_tenant_is_added_and_nothing_else_changes(shares: str, expected: str) -> None:
    edit = add_volume_share(HEAD + shares + REST, "db", "copy")
    assert edit.text == HEAD + expected + REST
    assert "copy" in yaml.safe_load(edit.text)["spec"]["shareWith"]


def test_what_cannot_be_edited_safely_is_refused() -> None:
    with pytest.raises(ChatError, match="not a list of tenants"):
        add_volume_share(HEAD + "  shareWith: copy\n" + REST, "db", "copy")
    with pytest.raises(ChatError, match="0 Volume documents named other"):
        add_volume_share(HEAD + REST, "other", "copy")
