"""Actions from the console become commits on a real repository (a bare remote and GitOps'
own clone, as the chat's commands do): scale and restore, straight to the branch or to a branch
for review, with the chat's roles; refusals leave the branch alone; a standby hands over."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml

from daemon.chat.gitops import GitOps
from daemon.chat.yamledit import set_volume_restore
from daemon.edges.git import GitRemote
from daemon.errors import ChatError
from tests.console.helpers import (
    ADMIN_TOKEN,
    BOB_TOKEN,
    EXAMPLE,
    NOW,
    SHOP_TOKEN,
    Answer,
    Bench,
    ListedKube,
    Served,
    example_model,
    example_state,
    serve,
)
from tests.source.gitservers import Upstream, git

SNAPSHOT = "orders-data-202605120600"


def _snapshot(name: str, volume: str = "orders-data", *, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"dockyard.dev/volume": volume},
            "annotations": {"dockyard.dev/backup-time": NOW.replace(hour=6, minute=0).isoformat()},
        },
        "status": {"readyToUse": ready, "restoreSize": "20Gi"},
    }


class ExampleRepo:
    """platform-repo-example pushed to main of a bare remote."""

    def __init__(self, base: Path) -> None:
        self.up = Upstream(base)
        shutil.copytree(EXAMPLE, self.up.work, dirs_exist_ok=True)
        self.up.commit({}, "the example")
        self.up.push("HEAD:main")

    def main(self) -> str:
        return git("--git-dir", str(self.up.bare), "rev-parse", "main")

    def show(self, rev: str, path: str) -> str:
        return git("--git-dir", str(self.up.bare), "show", f"{rev}:{path}")

    def message(self, rev: str) -> str:
        return git("--git-dir", str(self.up.bare), "show", "-s", "--format=%B", rev)


@pytest.fixture
def repo(tmp_path: Path) -> ExampleRepo:
    return ExampleRepo(tmp_path / "upstream")


@pytest.fixture
def served(repo: ExampleRepo, tmp_path: Path) -> Iterator[Served]:
    bench = Bench(example_state())
    bench.kube = ListedKube(
        {
            "VolumeSnapshot": [
                _snapshot(SNAPSHOT),
                _snapshot("orders-data-202605120000", ready=False),
                _snapshot("reports-202605120600", volume="reports"),
            ]
        }
    )
    bench.gitops = GitOps.for_remote(GitRemote(repo.up.file_url, branch="main"), workdir=tmp_path / "console-git")
    with serve(bench) as s:
        yield s


def act(served: Served, token: str, action: str, **form: str) -> Answer:
    return served.request(
        f"/api/actions/{action}",
        method="POST",
        body=urlencode(form).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )


def test_scale_commits_the_replicas_with_who_asked(served: Served, repo: ExampleRepo) -> None:
    before = repo.main()
    answer = act(served, SHOP_TOKEN, "scale", tenant="shop", app="api", replicas="5")
    assert answer.status == 200, answer.text
    result = answer.json()
    assert result["direct"] and result["branch"] == "main" and repo.main() == result["commit"] != before
    app = yaml.safe_load(repo.show("main", "tenants/shop/apps/api.yaml"))
    assert app["spec"]["replicas"] == 5
    assert "# busybox's httpd stands in" in repo.show("main", "tenants/shop/apps/api.yaml")  # comments kept
    message = repo.message("main")
    assert message.startswith("Scale shop/api to 5 replicas")
    assert message.strip().endswith("Requested-by: sam@example.com via console")
    assert served.bench.cycles == ["manual"]
    record = served.bench.trail.records[-1]
    assert (record.kind, record.trigger, record.result, record.user) == (
        "command",
        "console",
        "succeeded",
        "sam@example.com",
    )
    assert record.revision == result["commit"] and record.command == "scale shop/api 5"


def test_an_autoscaled_app_is_refused_with_the_chats_words(served: Served, repo: ExampleRepo) -> None:
    main = repo.main()
    answer = act(served, SHOP_TOKEN, "scale", tenant="shop", app="web", replicas="4")
    assert answer.status == 409 and "Autoscaling" in answer.json()["message"]
    assert repo.main() == main


def test_restore_commits_the_snapshot_for_the_volume(served: Served, repo: ExampleRepo) -> None:
    answer = act(served, SHOP_TOKEN, "restore", tenant="shop", volume="orders-data", snapshot=SNAPSHOT, confirm="on")
    assert answer.status == 200, answer.text
    text = repo.show("main", "tenants/shop/volumes.yaml")
    volume = next(d for d in yaml.safe_load_all(text) if d and d["metadata"]["name"] == "orders-data")
    assert volume["spec"]["restore"] == {"snapshot": SNAPSHOT}
    assert "# A snapshot every 6 hours" in text
    message = repo.message("main")
    assert message.startswith(f"Restore shop/orders-data from backup {SNAPSHOT}")
    assert "Requested-by: sam@example.com via console" in message
    again = act(served, SHOP_TOKEN, "restore", tenant="shop", volume="orders-data", snapshot=SNAPSHOT, confirm="on")
    assert again.status == 409  # the example model in the snapshot is older; the repo already has it


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"volume": "orders-data", "snapshot": "orders-data-202605120000"}, 409, "is not ready to use"),
        ({"volume": "orders-data", "snapshot": "reports-202605120600"}, 400, "is not a backup of volume orders-data"),
        ({"volume": "orders-data", "snapshot": "orders-data-209901010000"}, 404, "has no snapshot"),
        ({"volume": "orders-dota", "snapshot": SNAPSHOT}, 400, "is not a backup of volume orders-dota"),
    ],
)
def test_a_restore_of_a_wrong_snapshot_is_refused(
    served: Served, repo: ExampleRepo, form: dict[str, str], status: int, message: str
) -> None:
    main = repo.main()
    answer = act(served, SHOP_TOKEN, "restore", tenant="shop", confirm="on", **form)
    assert answer.status == status and message in answer.json()["message"], answer.text
    assert repo.main() == main


def test_a_restore_needs_confirming(served: Served, repo: ExampleRepo) -> None:
    main = repo.main()
    answer = act(served, SHOP_TOKEN, "restore", tenant="shop", volume="orders-data", snapshot=SNAPSHOT)
    assert answer.status == 400 and "confirm" in answer.json()["error"]
    assert repo.main() == main


def test_roles_are_the_chats_viewers_and_other_tenants_cannot_commit(served: Served, repo: ExampleRepo) -> None:
    main = repo.main()
    assert act(served, BOB_TOKEN, "scale", tenant="shop", app="api", replicas="1").status == 403
    restore = {"volume": "orders-data", "snapshot": SNAPSHOT, "confirm": "on"}
    assert act(served, BOB_TOKEN, "restore", tenant="shop", **restore).status == 403
    assert act(served, SHOP_TOKEN, "scale", tenant="payments", app="payments-api", replicas="1").status == 403
    assert repo.main() == main
    assert [r.result for r in served.bench.trail.records] == ["denied", "denied", "denied"]


def test_branch_mode_pushes_a_branch_for_review_and_leaves_main_alone(served: Served, repo: ExampleRepo) -> None:
    model = example_model()
    platform = replace(model.platform, chat=replace(model.platform.chat, commit_mode="branch"))
    served.bench.state = replace(served.bench.state, model=replace(model, platform=platform))
    main = repo.main()
    answer = act(served, ADMIN_TOKEN, "scale", tenant="shop", app="api", replicas="4")
    result = answer.json()
    assert answer.status == 200 and not result["direct"] and result["branch"].startswith("dockyard/scale-")
    assert repo.main() == main
    assert git("--git-dir", str(repo.up.bare), "rev-parse", f"refs/heads/{result['branch']}") == result["commit"]
    assert served.bench.cycles == []  # nothing to apply until it is merged


def test_a_standby_hands_the_action_to_the_leader_which_authorizes_it_again(served: Served, repo: ExampleRepo) -> None:
    served.bench.leader = False
    main = repo.main()
    answer = act(served, SHOP_TOKEN, "scale", tenant="shop", app="api", replicas="2")
    assert answer.status == 202 and repo.main() == main
    (payload,) = served.bench.handed
    assert payload["who"]["user"] == "sam@example.com" and payload["request"]["replicas"] == 2
    served.bench.leader = True
    done = served.console.actions.run_handed_over(payload)
    assert done is not None and done.status == 200 and repo.main() == done.commit
    forged = {**payload, "who": {"user": "bob@example.com", "groups": [], "via": "token"}}
    refused = served.console.actions.run_handed_over(forged)
    assert refused is not None and refused.status == 403


def test_the_volume_edit_keeps_the_file_and_adds_or_replaces_the_snapshot() -> None:
    text = "kind: Volume\nmetadata:\n  name: data\nspec:\n  # the size\n  size: 1Gi\n"
    added = set_volume_restore(text, "data", "data-1")
    assert (
        added.text
        == "kind: Volume\nmetadata:\n  name: data\nspec:\n  restore:\n    snapshot: data-1\n  # the size\n  size: 1Gi\n"
    )
    replaced = set_volume_restore(added.text, "data", "data-2")
    assert replaced.text == added.text.replace("data-1", "data-2") and replaced.before == "data-1"
    flow = set_volume_restore("kind: Volume\nmetadata: {name: data}\nspec: {size: 1Gi}\n", "data", "data-3")
    assert yaml.safe_load(flow.text)["spec"] == {"restore": {"snapshot": "data-3"}, "size": "1Gi"}
    inner = set_volume_restore(
        "kind: Volume\nmetadata: {name: data}\nspec:\n  restore: {}\n  size: 1Gi\n", "data", "x1"
    )
    assert yaml.safe_load(inner.text)["spec"]["restore"] == {"snapshot": "x1"}
    with pytest.raises(ChatError, match="no spec mapping"):
        set_volume_restore("kind: Volume\nmetadata: {name: data}\nspec: 3\n", "data", "d")
