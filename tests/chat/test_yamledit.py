"""Setting spec.replicas changes that value only: comments, order and formatting stay."""

from __future__ import annotations

import pytest
import yaml

from daemon.chat.yamledit import set_app_replicas
from daemon.errors import ChatError

COMMENTED = """\
# The shop's storefront.
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata:
  name: web   # keep short
spec:
  image: "nginx:1.27"     # pinned
  replicas: 2             # two for HA
  ports:
    - {name: http, port: 8080}
"""


def test_the_value_is_replaced_in_place_and_nothing_else_moves() -> None:
    edit = set_app_replicas(COMMENTED, "web", 5)
    assert edit.text == COMMENTED.replace("replicas: 2 ", "replicas: 5 ")
    assert edit.before == "2" and edit.line == 8


def test_in_a_multi_document_file_only_the_named_app_changes() -> None:
    other = COMMENTED.replace("name: web", "name: api").replace("replicas: 2", "replicas: 7")
    volume = "apiVersion: dockyard.dev/v1alpha1\nkind: Volume\nmetadata: {name: web}\nspec: {size: 1Gi, replicas: 1}\n"
    text = "---\n".join([other, volume, COMMENTED])
    edit = set_app_replicas(text, "web", 3)
    docs = list(yaml.safe_load_all(edit.text))
    assert [d["spec"].get("replicas") for d in docs] == [7, 1, 3]
    assert edit.text.count("\n") == text.count("\n")
    assert len(edit.text) == len(text)


def test_a_missing_key_is_added_after_the_image_with_the_spec_indentation() -> None:
    text = COMMENTED.replace("  replicas: 2             # two for HA\n", "")
    edit = set_app_replicas(text, "web", 4)
    assert '  image: "nginx:1.27"     # pinned\n  replicas: 4\n  ports:' in edit.text
    assert edit.before is None and edit.line == 8
    assert yaml.safe_load(edit.text)["spec"]["replicas"] == 4


def test_without_an_image_key_the_new_key_goes_first() -> None:
    text = "kind: App\nmetadata: {name: web}\nspec:\n    template: base\n    parameters: {x: 1}\n"
    edit = set_app_replicas(text, "web", 2)
    assert (
        edit.text
        == "kind: App\nmetadata: {name: web}\nspec:\n    replicas: 2\n    template: base\n    parameters: {x: 1}\n"
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("{image: x, replicas: 1}", "{image: x, replicas: 9}"),
        ("{image: x}", "{replicas: 9, image: x}"),
    ],
)
def test_flow_mappings_stay_flow_mappings(spec: str, expected: str) -> None:
    text = f"kind: App\nmetadata: {{name: web}}\nspec: {spec}\n"
    assert set_app_replicas(text, "web", 9).text == f"kind: App\nmetadata: {{name: web}}\nspec: {expected}\n"


def test_a_file_without_a_trailing_newline_still_gets_a_separate_line() -> None:
    text = "kind: App\nmetadata: {name: web}\nspec:\n  image: x"
    assert set_app_replicas(text, "web", 2).text == text + "\n  replicas: 2\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: App\nmetadata: {name: api}\nspec: {image: x}\n", "0 App documents named web"),
        (
            "kind: App\nmetadata: {name: web}\nspec: {image: x}\n---\nkind: App\nmetadata: {name: web}\nspec: {}\n",
            "2 App",
        ),
        ("kind: App\nmetadata: {name: web}\nspec: [1]\n", "no spec mapping"),
        ("kind: App\nmetadata: {name: web}\nspec:\n  replicas: [1]\n", "not a plain number"),
        ("kind: App\nmetadata: {name: web}\nspec: {image: [\n", "not valid YAML"),
    ],
)
def test_what_cannot_be_edited_safely_is_refused(text: str, message: str) -> None:
    with pytest.raises(ChatError, match=message.replace("[", r"\[")):
        set_app_replicas(text, "web", 2, file="tenants/shop/web.yaml")
