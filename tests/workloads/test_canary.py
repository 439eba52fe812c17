"""Ending a canary as a Git change: the grammar, who may, the byte-precise edit, the commit (CLI and
chat share it), and the events once the change is applied."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from daemon.chat.authz import Authorizer, Identity
from daemon.chat.commands import CanaryEnd, CommandSyntaxError, parse
from daemon.chat.gitops import GitOps, Requester
from daemon.chat.yamledit import end_canary
from daemon.cli import main
from daemon.errors import ChatError
from daemon.loader import load_or_raise
from daemon.model.kinds import SlackRoleBinding
from tests.platforms import git

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"

OWN_IMAGE = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata:
  name: web
spec:
  image: nginx:1.27    # stable
  replicas: 2
  domains: [shop.example.com]
  # A release candidate for a fifth of the traffic.
  # (two lines of comment)
  canary:
    image: nginx:1.27.1
    weight: 20
  ports:
    - {name: http, port: 80}
"""


def test_the_grammar() -> None:
    assert parse("canary promote shop web") == CanaryEnd("promote", "shop", "web")
    assert parse("canary ABORT shop/web") == CanaryEnd("abort", "shop", "web")
    assert parse("canary promote shop web").text() == "canary promote shop web"
    for text, message in (
        ("canary", "needs promote or abort"),
        ("canary push shop web", "needs promote or abort"),
        ("canary promote shop", "needs a tenant and an app"),
        ("canary promote Shop web", "is not a valid tenant name"),
    ):
        with pytest.raises(CommandSyntaxError, match=message):
            parse(text)


def test_operators_of_the_tenant_may_end_a_canary() -> None:
    authz = Authorizer(
        [SlackRoleBinding("operator", users=("U0OP",), tenants=("shop",)), SlackRoleBinding("viewer", users=("U0V",))]
    )
    command = parse("canary promote shop web")
    assert authz.check(Identity("U0OP"), command).allowed
    assert not authz.check(Identity("U0V"), command).allowed
    assert not authz.check(Identity("U0OP"), parse("canary abort payments api")).allowed


def test_the_edit_touches_only_the_canary_and_the_image() -> None:
    promoted = end_canary(OWN_IMAGE, "web", "promote", current_image="nginx:1.27")
    assert promoted.text == OWN_IMAGE.replace("image: nginx:1.27    #", "image: nginx:1.27.1    #").replace(
        "  # A release candidate for a fifth of the traffic.\n  # (two lines of comment)\n  canary:\n"
        "    image: nginx:1.27.1\n    weight: 20\n",
        "",
    )
    assert promoted.canary_image == "nginx:1.27.1" and promoted.line == 11
    aborted = end_canary(OWN_IMAGE, "web", "abort", current_image="nginx:1.27")
    assert yaml.safe_load(aborted.text)["spec"] == {
        "image": "nginx:1.27",
        "replicas": 2,
        "domains": ["shop.example.com"],
        "ports": [{"name": "http", "port": 80}],
    }
    templated = OWN_IMAGE.replace("  image: nginx:1.27    # stable\n", "  template: web-frontend\n")
    added = yaml.safe_load(end_canary(templated, "web", "promote", current_image="nginx:1.27").text)
    assert added["spec"]["image"] == "nginx:1.27.1" and "canary" not in added["spec"]
    with pytest.raises(ChatError, match="it comes from its template"):
        end_canary(
            OWN_IMAGE.replace("  canary:\n    image: nginx:1.27.1\n    weight: 20\n", ""),
            "web",
            "abort",
            current_image="x",
        )
    with pytest.raises(ChatError, match="flow mapping"):
        end_canary(
            "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata: {name: web}\n"
            "spec: {image: a:1, canary: {image: a:2, weight: 5}}\n",
            "web",
            "abort",
            current_image="a:1",
        )


@pytest.fixture
def work(tmp_path: Path) -> Path:
    repo = tmp_path / "platform"
    shutil.copytree(EXAMPLE, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def test_promote_and_abort_are_commits(work: Path) -> None:
    gitops = GitOps.for_local(work)
    result = gitops.canary("shop", "web", "promote", requester=Requester("", "alice", via="CLI"), mode="direct")
    assert result.direct and result.branch == "main"
    assert result.files == ("tenants/shop/apps/web.yaml",)
    assert result.summary.startswith("image nginx:1.27 → nginx:1.27-alpine, canary removed")
    message = git(work, "show", "-s", "--format=%B", result.sha)
    assert message.startswith("Promote the canary of shop/web: nginx:1.27-alpine")
    assert message.strip().endswith("Requested-by: alice via CLI")
    web = next(a for a in load_or_raise(work).apps if a.name == "web")
    assert web.image == "nginx:1.27-alpine" and web.canary is None
    with pytest.raises(ChatError, match="has no canary to abort"):
        gitops.canary("shop", "web", "abort", requester=Requester("", "alice", via="CLI"), mode="direct")
    with pytest.raises(ChatError, match="has no app `wbe`"):
        gitops.canary("shop", "wbe", "abort", requester=Requester("", "alice", via="CLI"), mode="direct")


def test_the_command_line_commits_an_abort(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["canary", "abort", "shop", "web", "--repo", str(work)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("committed ") and "canary nginx:1.27-alpine removed, nginx:1.27 stays" in out
    web = next(a for a in load_or_raise(work).apps if a.name == "web")
    assert web.image == "nginx:1.27" and web.canary is None
    assert git(work, "status", "--porcelain") == ""
    assert main(["canary", "abort", "shop", "web", "--repo", str(work)]) == 1
    assert "has no canary to abort" in capsys.readouterr().err


def test_the_events_come_once_the_end_of_a_canary_is_applied(tmp_path: Path) -> None:
    from daemon.edges.metrics import DaemonMetrics
    from daemon.engine.reconcile import Reconciler
    from daemon.model.events import MemorySink
    from tests.engine.ports import MemoryCluster, MemoryPauses, MemorySource
    from tests.platforms import PlatformRepo

    platform = PlatformRepo(tmp_path / "platform", "shop", apps=2)
    for name in ("app0", "app1"):
        spec = platform.apps[name]["spec"]
        spec["domains"] = [f"{name}.example.com"]
        spec["canary"] = {"image": "busybox:1.37", "weight": 10}
    platform.apps["app0"]["spec"].pop("volumes")
    source, cluster, sink, pauses = (
        MemorySource(platform, tmp_path / "r"),
        MemoryCluster(),
        MemorySink(),
        MemoryPauses(),
    )
    reconciler = Reconciler(source, cluster, sink, metrics=DaemonMetrics(), pauses=pauses)
    source.commit()
    assert reconciler.cycle("poll").result == "succeeded"
    assert {"app0-canary", "app1-canary"} <= cluster.names("Deployment")

    del platform.apps["app0"]["spec"]["canary"]
    platform.apps["app0"]["spec"]["image"] = "busybox:1.37"  # promoted
    del platform.apps["app1"]["spec"]["canary"]  # aborted
    pauses.tenants.add("shop")
    source.commit("end the canaries")
    reconciler.cycle("poll")
    assert [e for e in sink.events if e.name.startswith("canary.")] == []  # waits with the changes
    pauses.tenants.discard("shop")
    reconciler.cycle("manual")
    ended = [(e.name, e.app, e.summary) for e in sink.events if e.name.startswith("canary.")]
    assert ended == [
        ("canary.promoted", "app0", "Canary of shop/app0 promoted: busybox:1.37 now serves all of its traffic."),
        (
            "canary.aborted",
            "app1",
            "Canary of shop/app1 aborted: busybox:1.37 removed, busybox:1.36 serves all of its traffic.",
        ),
    ]
    assert "app0-canary" not in cluster.names("Deployment")
    reconciler.cycle("manual")
    assert len([e for e in sink.events if e.name.startswith("canary.")]) == 2  # once
