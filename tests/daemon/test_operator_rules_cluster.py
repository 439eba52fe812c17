"""The command line obeys the daemon's rules and leaves an audit record; signed commits are
required when the platform says so (issue 16), on the local cluster."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.edges.git import TrustedKeys
from tests.daemon.harness import Setup, event, names
from tests.fixtures_cluster import wait_for
from tests.source.test_signatures import allowed_signers, ssh_key

#: A deny window that is always open: the command line runs on the real clock.
ALWAYS_DENY = {"schedule": "* * * * *", "duration": "1h", "timezone": "UTC", "action": "deny", "tenants": ["*"]}


def test_dockyard_apply_waits_for_windows_and_pauses_unless_overridden_and_records_it(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.platform.platform["spec"]["sync"]["windows"] = [ALWAYS_DENY]
    setup.platform.write()
    args = ["--repo", str(setup.work), "--kubeconfig", str(setup.kube_config), "--namespace", setup.namespace]
    args += ["--timeout", "60"]
    tenant = setup.platform.tenant
    assert main(["apply", *args]) == 0
    assert f"held back: {tenant}: deny window '* * * * *' (UTC) is open" in capsys.readouterr().err
    assert setup.deployment_image("app1") is None, "nothing of the tenant was applied"
    assert main(["pause", tenant, "--kubeconfig", str(setup.kube_config), "--namespace", setup.namespace]) == 0
    assert main(["apply", *args, "--ignore-windows"]) == 0
    assert "held back: " + tenant + ": paused" in capsys.readouterr().err
    assert setup.deployment_image("app1") is None
    assert main(["apply", *args, "--ignore-windows", "--ignore-pauses"]) == 0
    assert setup.deployment_image("app1") == "busybox:1.36"

    history = ["history", "--kubeconfig", str(setup.kube_config), "--namespace", setup.namespace]
    capsys.readouterr()
    assert main([*history, "--output", "jsonl", "--user", "", "--tenant", tenant]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    commands = [r["command"] for r in records]
    assert commands == [
        "dockyard apply --ignore-windows --ignore-pauses",
        "dockyard apply --ignore-windows",
        f"dockyard pause {tenant}",
        "dockyard apply",
    ]
    assert {r["host"] for r in records} == {socket.gethostname()}
    assert all(r["user"] and r["trigger"] == "cli" for r in records)


def test_unsigned_commits_are_refused_and_the_signer_is_recorded(setup: Setup, tmp_path: Path) -> None:
    alice = ssh_key(tmp_path, "alice")
    signers = allowed_signers(tmp_path / "allowed_signers", {"alice@example.com": alice})
    setup.platform.platform["spec"]["verify"] = {"required": True}
    signed = setup.commit("require signatures", ssh_signing_key=alice)
    daemon = setup.start(trusted_keys=TrustedKeys(allowed_signers=signers))
    wait_for(
        lambda: daemon.reconciler.snapshot().applied_sha,
        timeout=120,
        message="the signed commit applied",
        until=lambda sha: sha == signed,
    )
    [synced] = [r for r in daemon.history.list() if r.revision == signed and r.kind == "sync"]
    assert synced.signer == "alice@example.com"

    setup.platform.apps["app1"]["spec"]["image"] = "busybox:1.37"
    unsigned = setup.commit("an unsigned change")
    daemon.runner.request("webhook")
    wait_for(lambda: names(setup.sinks[0]), timeout=30, message="the refusal", until=lambda n: "validation.failed" in n)
    refusal = event(setup.sinks[0], "validation.failed")
    assert refusal.commit is not None and refusal.commit.sha == unsigned
    assert any("is not signed" in e for e in refusal.errors)
    assert setup.deployment_image("app1") == "busybox:1.36"
