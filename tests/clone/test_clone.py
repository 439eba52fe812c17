"""``dockyard clone``: the whole tenant under a new name, references rewritten, on a new branch."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from daemon.cli import main
from daemon.loader import load_or_raise
from daemon.policy.clone import new_domain, plan_clone
from tests.clone.helpers import example_repo as make_example
from tests.clone.helpers import git


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return make_example(tmp_path)


def _branch(platform: Path) -> str:
    [branch] = [b for b in git(platform, "branch", "--format=%(refname:short)").split() if b.startswith("dockyard/")]
    return branch


def _checkout(platform: Path, branch: str) -> None:
    git(platform, "switch", "-q", branch)


@pytest.mark.parametrize(
    ("domain", "suffix", "expected"),
    [
        ("api.shop.example.com", None, "api.shop-staging.example.com"),
        ("shop.example.com", None, "shop-staging.example.com"),
        ("reports.example.com", None, "reports-shop-staging.example.com"),
        ("api.shop.example.com", "staging.example.net", "api.staging.example.net"),
    ],
)
def test_new_domains(domain: str, suffix: str | None, expected: str) -> None:
    assert new_domain(domain, "shop", "shop-staging", suffix) == expected


def test_clone_of_the_example_shop(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = git(example, "status", "--porcelain")
    head = git(example, "rev-parse", "HEAD")
    assert main(["clone", "shop", "--to", "shop-staging", "--repo", str(example)]) == 0
    out = capsys.readouterr().out
    # The work tree and its branch are untouched; the clone is one commit on a new branch.
    assert git(example, "status", "--porcelain") == before and git(example, "rev-parse", "HEAD") == head
    branch = _branch(example)
    assert git(example, "rev-list", "--count", f"main..{branch}").strip() == "1"
    assert f"on branch {branch} (from main)" in out
    assert "note: the apps read the Secrets orders-db: create them in namespace shop-staging" in out
    _checkout(example, branch)
    model = load_or_raise(example)
    clone = {a.name: a for a in model.apps if a.tenant == "shop-staging"}
    original = {a.name: a for a in model.apps if a.tenant == "shop"}
    assert clone.keys() == original.keys() == {"admin-web", "api", "postgres", "web"}
    assert clone["web"].domains == ("shop-staging.example.com",)  # a template parameter
    assert clone["api"].domains == ("api.shop-staging.example.com",)
    assert original["api"].domains == ("api.shop.example.com",)
    assert [v.name for v in model.volumes if v.tenant == "shop-staging"] == ["orders-data"]
    assert [a.target for a in model.autoscalings if a.tenant == "shop-staging"] == ["web"]
    tenant = model.tenant("shop-staging")
    assert tenant is not None and tenant.notifications == ("shop-staging-oncall", "shop-staging-team")
    assert {"shop-staging-oncall", "shop-staging-team"} <= {n.name for n in model.notification_lists}
    # Both halves of cross-tenant traffic: the clone's egress and the peers' ingress.
    peers = yaml.safe_load((example / "tenants/payments/policy-shop-staging.yaml").read_text())
    assert peers["spec"]["network"] == [
        {"allow": {"from": {"tenant": "shop-staging", "app": "api"}, "to": {"app": "payments-api"}, "ports": [8080]}}
    ]
    assert (
        "      - tenant: shop\n      - tenant: shop-staging\n"
        in (example / "tenants/monitoring/tenant.yaml").read_text()
    )
    policy = (example / "tenants/shop-staging/policy.yaml").read_text()
    assert policy.startswith("# yaml-language-server: $schema=../../../schemas/policy.schema.json\n")
    assert "tenant: shop\n" not in policy


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["shop", "--to", "payments"], 2, "tenant 'payments' exists; clone into a new name"),
        (["nope", "--to", "x"], 2, "there is no tenant 'nope'; tenants: analytics, monitoring, payments, shop"),
        (["shop", "--to", "kube-shop"], 1, "namespace 'kube-shop' is reserved"),
        (["shop", "--to", "Shop"], 2, "--to Shop: not a DNS label"),
        (["shop", "--to", "s2", "--with-data", "snap-1"], 2, "--with-data snap-1: not a backup of a volume of shop"),
        (["shop", "--to", "s2", "--with-data", "orders-data-2030"], 2, "(VOLUME-YYYYMMDDHHMM; volumes: orders-data)"),
        (["shop", "--to", "s2", "--with-data", ","], 2, "--with-data: name 'latest' or snapshots"),
        (["shop", "--to", "s2", "--domain-suffix", "x"], 2, "--domain-suffix x: not a DNS name"),
        # every domain becomes FIRST.S: api and admin stay apart, but two apps cannot share one
        (["shop", "--to", "s3", "--domain-suffix", "example.org"], 0, ""),
    ],
)
def test_refused_clones_write_nothing(
    example: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    assert main(["clone", *args, "--repo", str(example)]) == code
    assert message in capsys.readouterr().err
    branches = [b for b in git(example, "branch", "--format=%(refname:short)").split() if b.startswith("dockyard/")]
    assert len(branches) == (1 if code == 0 else 0)
    assert git(example, "status", "--porcelain") == ""


@pytest.mark.parametrize("data", ["latest", "orders-data-203001020304"])
def test_a_clone_with_data_starts_from_the_owners_backup_with_its_consent(
    example: Path, capsys: pytest.CaptureFixture[str], data: str
) -> None:
    assert main(["clone", "shop", "--to", "shop-staging", "--with-data", data, "--repo", str(example)]) == 0
    out = capsys.readouterr().out
    assert f"volume orders-data starts from shop's backup {data}" in out
    _checkout(example, _branch(example))
    model = load_or_raise(example)
    [copy] = model.volumes_of("shop-staging")
    assert (copy.restore_tenant, copy.restore_volume, copy.restore_snapshot) == ("shop", "orders-data", data)
    [original] = model.volumes_of("shop")
    assert original.share_with == ("shop-staging",) and original.restore_snapshot is None
    # The consent is one line in the owner's file; its comments and the rest stay as written.
    diff = git(example, "diff", "main", "--", "tenants/shop/volumes.yaml")
    assert [line for line in diff.splitlines() if line.startswith(("+", "-")) and line[1:2] not in "+-"] == [
        "+  shareWith:",
        "+    - shop-staging",
    ]


def test_domains_that_collide_are_refused(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # shop.example.com and api.shop.example.com... differ in the first label; a suffix taking the
    # tenant's name makes web's domain the original's own.
    web = example / "tenants/shop/apps/web.yaml"
    web.write_text(web.read_text().replace("domain: shop.example.com", "domain: api.example.com"))
    git(example, "commit", "-qam", "web on api.example.com")
    assert main(["clone", "shop", "--to", "s4", "--domain-suffix", "example.com", "--repo", str(example)]) == 1
    assert "api.example.com" in capsys.readouterr().err
    assert "dockyard/" not in git(example, "branch")


def test_a_directory_outside_git_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    assert main(["clone", "shop", "--to", "x", "--repo", str(root)]) == 2
    assert "not inside a git work tree" in capsys.readouterr().err


def test_a_peer_entry_that_goes_on_is_not_half_copied() -> None:
    text = "spec:\n  network:\n    allowFrom:\n      - tenant: shop\n        apps: [api]\n"
    docs = [yaml.safe_load(text) | {"kind": "Tenant"}]
    plan = plan_clone(
        {"tenants/a/tenant.yaml": text}, {"tenants/a/tenant.yaml": docs}, "shop", "s2", domains=[], suffix=None
    )
    assert plan.edited == {}
    assert plan.notes == ["tenants/a/tenant.yaml lets shop in or out; add the same for s2 by hand (cannot edit it)"]
