"""``dockyard cost``: per app, volume and snapshots, adding up to the review's figure, beside quotas."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.loader import load_or_raise
from daemon.policy.cost import Span, monthly_cost, resources_by_tenant
from daemon.policy.estimate import estimate
from daemon.render import render
from tests.loader.helpers import BASE, repo

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"
PRICES = """
          prices:
            currency: EUR
            cpuCoreMonth: 20
            memoryGiBMonth: 4
            storageGiBMonth: {ceph-rbd: 0.1, default: 0.05}
"""


def _priced(snapshots: bool = True) -> dict[str, str]:
    prices = PRICES + ("            snapshotGiBMonth: 0.02\n" if snapshots else "")
    return {"platform.yaml": BASE["platform.yaml"].rstrip() + "\n" + prices}


def test_the_lines_add_up_to_the_figure_of_the_review() -> None:
    model = load_or_raise(EXAMPLE)
    assert model.platform.prices is not None
    objects = render(model)
    [shop] = estimate(objects, model, model.platform.prices, ["shop"])
    reviewed = monthly_cost(resources_by_tenant(objects)["shop"], model.platform.prices)
    snapshots = sum((line.cost or Span() for line in shop.lines if line.kind == "snapshots"), Span())
    assert shop.cost == reviewed + snapshots
    others = sum((line.cost or Span() for line in shop.lines if line.kind != "snapshots"), Span())
    assert others == reviewed
    web = next(line for line in shop.lines if line.name == "web")
    # the Autoscaling's 2..6 replicas plus the canary track's own autoscaler (1..6)
    assert web.resources.pods == Span(Decimal(3), Decimal(12))


def test_a_tenant_of_a_small_repo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path, _priced())
    assert main(["cost", "--repo", str(root), "--tenant", "shop"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # api: 1 pod of 100m and 128Mi = 2 + 0.5; web's 2..4 pods request nothing (no LimitRange)
    assert lines[3:] == [
        "  app api         1 pod, cpu 0.1, memory 0.12 GiB              2.5 EUR",
        "  app web         2..4 pods (autoscaled), cpu 0, memory 0 GiB  0 EUR",
        "  volume data     1 GiB ceph-rbd                               0.1 EUR",
        # retention last 4 + daily 7 = 11 snapshots of at most 1 GiB, at 0.02
        "  snapshots data  up to 11 snapshots, 0..11 GiB                0..0.22 EUR",
        "  total                                                        2.6..2.82 EUR",
        "  requests: cpu 0.1 of 4 cores; memory 0.12 of 8 GiB; storage 1 of 50 GiB; pods 3..5 of 20 pods",
    ]


def test_over_the_quota_at_the_most_replicas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tenant = BASE["tenants/shop/tenant.yaml"].replace("pods: 20", "pods: 4")
    root = repo(tmp_path, {**_priced(), "tenants/shop/tenant.yaml": tenant})
    assert main(["cost", "--repo", str(root), "--tenant", "shop", "-o", "json"]) == 0
    [shop] = json.loads(capsys.readouterr().out)["tenants"]
    pods = next(q for q in shop["quota"] if q["resource"] == "pods")
    # api's pod and web's 2..4: over the quota of 4 only at the Autoscaling's maximum
    assert pods == {"resource": "pods", "requested": {"low": "3", "high": "5"}, "quota": "4", "over": True}
    cpu = next(q for q in shop["quota"] if q["resource"] == "cpu")
    assert cpu["over"] is False


def test_snapshots_without_a_price_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path, _priced(snapshots=False))
    assert main(["cost", "--repo", str(root), "--tenant", "shop"]) == 0
    out = capsys.readouterr().out
    assert "up to 11 snapshots, 0..11 GiB                not priced" in out
    assert "set spec.prices.snapshotGiBMonth" in out


def test_prices_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--repo", str(repo(tmp_path))]) == 2
    assert "platform.yaml has no spec.prices" in capsys.readouterr().err


def test_an_unknown_tenant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--repo", str(repo(tmp_path, _priced())), "--tenant", "nope"]) == 2
    assert "no tenant 'nope'; tenants: other, shop" in capsys.readouterr().err
