"""`/dockyard canary promote` end to end: a signed Slack command, a commit in a real bare repo, the
daemon applying it to the local cluster, and canary.promoted announced."""

from __future__ import annotations

import pytest
import yaml

from tests.chat.slackhttp import ChatSlack, block_text
from tests.chat.test_slack_cluster import ALICE, remote_git, setup, slack, started  # noqa: F401 (fixtures)
from tests.daemon.test_run_cluster import Setup
from tests.fixtures_cluster import wait_for

pytestmark = pytest.mark.cluster


def test_a_canary_is_promoted_from_slack_and_the_daemon_applies_and_announces_it(
    setup: Setup,  # noqa: F811 - the fixture imported above
    slack: ChatSlack,  # noqa: F811
) -> None:
    spec = setup.platform.apps["app1"]["spec"]
    spec["domains"] = [f"{setup.platform.tenant}.example.com"]
    spec["canary"] = {"image": "busybox:1.37", "weight": 10}
    setup.commit("a canary for app1")
    _daemon, client = started(setup, slack)
    tenant = setup.platform.tenant
    deployments = setup.kube.resource_type("apps/v1", "Deployment")
    ingresses = setup.kube.resource_type("networking.k8s.io/v1", "Ingress")
    assert setup.kube.get(deployments, tenant, "app1-canary") is not None
    weighted = setup.kube.get(ingresses, tenant, "app1-canary")
    assert weighted is not None
    assert weighted["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "10"

    sent = client.command(f"canary promote {tenant} app1", **ALICE)
    assert sent.status == 200
    committed, applied = client.wait_answers(sent, count=2, timeout=90)
    assert "Committed" in block_text(committed) and "Applied" in block_text(applied)
    sha = remote_git(setup, "rev-parse", "main")
    path = f"tenants/{tenant}/app-app1.yaml"
    promoted = yaml.safe_load(remote_git(setup, "show", f"{sha}:{path}"))["spec"]
    assert promoted["image"] == "busybox:1.37" and "canary" not in promoted

    wait_for(
        lambda: setup.kube.get(deployments, tenant, "app1-canary"),
        timeout=30,
        message="the canary track pruned",
        until=lambda d: d is None,
    )
    stable = setup.kube.get(deployments, tenant, "app1")
    assert stable is not None and stable["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"
    assert setup.kube.get(ingresses, tenant, "app1-canary") is None
    (event,) = [e for e in setup.sinks[0].events if e.name == "canary.promoted"]
    assert event.tenant == tenant and event.app == "app1" and event.commit is not None and event.commit.sha == sha
