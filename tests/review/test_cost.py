"""Requests and cost per tenant (pure)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from daemon.loader import load_or_raise
from daemon.model.kinds import Prices
from daemon.policy.cost import Span, monthly_cost, resources_by_tenant
from daemon.render import render

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"


def test_requests_limits_and_limitrange_defaults_and_hpa_bounds() -> None:
    objects = [
        {
            "kind": "LimitRange",
            "metadata": {"namespace": "t"},
            "spec": {
                "limits": [{"type": "Container", "defaultRequest": {"cpu": "100m"}, "default": {"memory": "256Mi"}}]
            },
        },
        {
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "t"},
            "spec": {
                "replicas": 3,
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "a"},
                            {"name": "b", "resources": {"limits": {"cpu": "1"}, "requests": {"memory": "1Gi"}}},
                        ]
                    }
                },
            },
        },
        {
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"namespace": "t"},
            "spec": {"scaleTargetRef": {"kind": "StatefulSet", "name": "db"}, "minReplicas": 1, "maxReplicas": 4},
        },
        {
            "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "t"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "db", "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}]
                    }
                },
                "volumeClaimTemplates": [
                    {"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "10Gi"}}}}
                ],
            },
        },
        {
            "kind": "PersistentVolumeClaim",
            "metadata": {"namespace": "t"},
            "spec": {"resources": {"requests": {"storage": "5Gi"}}},
        },
        {"kind": "Service", "metadata": {"namespace": "t"}, "spec": {"type": "LoadBalancer"}},
    ]
    t = resources_by_tenant(objects)["t"]
    # web: (0.1 default request + 1 from the limit) x 3; db: 0.5 x 1..4
    assert t.cpu == Span(Decimal("3.8"), Decimal("5.3"))
    # web: (0.25 default limit + 1) x 3; db: 0.5 x 1..4
    assert t.memory_gib == Span(Decimal("4.25"), Decimal("5.75"))
    assert t.storage_gib == {"default": Span(Decimal(5), Decimal(5)), "fast": Span(Decimal(10), Decimal(40))}
    assert t.load_balancers == 1 and t.pods == Span(Decimal(4), Decimal(7))
    prices = Prices(
        "EUR",
        cpu_core_month=20,
        memory_gib_month=2,
        storage_gib_month={"fast": 0.5, "default": 0.1},
        load_balancer_month=15,
    )
    cost = monthly_cost(t, prices)
    assert cost == Span(
        Decimal("3.8") * 20 + Decimal("8.5") + Decimal("0.5") + 5 + 15,
        Decimal("5.3") * 20 + Decimal("11.5") + Decimal("0.5") + 20 + 15,
    )
    assert cost.describe() == "105..153"


def test_the_example_uses_its_price_table() -> None:
    model = load_or_raise(EXAMPLE)
    assert model.platform.prices == Prices("EUR", 20.0, 3.0, {"ceph-rbd": 0.1, "default": 0.08}, 15.0)
    shop = resources_by_tenant(render(model))["shop"]
    assert shop.storage_gib == {"ceph-rbd": Span(Decimal(20), Decimal(20))}
    assert monthly_cost(shop, model.platform.prices).low > 0


def test_a_price_for_a_class_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    import shutil

    from daemon.loader import load_repo

    shutil.copytree(EXAMPLE, tmp_path / "repo")
    platform = tmp_path / "repo" / "platform.yaml"
    platform.write_text(platform.read_text().replace("{ceph-rbd: 0.1, default: 0.08}", "{ceph-rdb: 0.1}"))
    problems = [p.format() for p in load_repo(tmp_path / "repo").errors]
    assert len(problems) == 1
    assert "platform.yaml:" in problems[0] and "storage class 'ceph-rdb' has a price" in problems[0]
    assert "did you mean 'ceph-rbd'?" in problems[0]
