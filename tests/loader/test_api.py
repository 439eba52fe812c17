"""The public API: ``load_repo`` and ``load_or_raise``, all problems of a repo in one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.errors import DockyardError, ValidationFailed
from daemon.loader import load_or_raise, load_repo
from tests.loader.helpers import BASE, repo, text


def _broken(tmp_path: Path) -> Path:
    return repo(
        tmp_path,
        {
            "tenants/shop/web.yaml": text(BASE["tenants/shop/web.yaml"]).replace("template: web", "template: nope"),
            "tenants/shop/api.yaml": text(BASE["tenants/shop/api.yaml"]).replace("port: 8080", "port: http"),
            "notifications/ops.yaml": text(BASE["notifications/ops.yaml"]) + "  colour: red\n",
            "platform.yaml": text(BASE["platform.yaml"]).replace("interval: 1m", "interval: 1 minute"),
            "templates/extra.yaml": "kind: Template\n",
            "stray": "x",
        },
    )


def test_every_problem_in_one_run_sorted_by_file_and_line(tmp_path: Path) -> None:
    result = load_repo(_broken(tmp_path))
    assert result.model is None
    assert [(p.file, p.line) for p in result.problems] == sorted((p.file, p.line) for p in result.problems)
    assert [p.file for p in result.errors] == [
        "notifications/ops.yaml",
        "platform.yaml",
        "templates/extra.yaml",
        "templates/extra.yaml",
        "templates/extra.yaml",
        "tenants/shop/api.yaml",
        "tenants/shop/web.yaml",
    ]
    assert [p.file for p in result.warnings] == ["stray"]
    assert all(p.severity == "error" for p in result.errors)


def test_load_or_raise(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as raised:
        load_or_raise(_broken(tmp_path / "bad"))
    assert isinstance(raised.value, DockyardError)
    assert len(raised.value.problems) == 8
    assert str(raised.value).startswith("7 validation error(s); first: notifications/ops.yaml:")
    model = load_or_raise(repo(tmp_path / "good"))
    assert {t.name for t in model.tenants} == {"shop", "other"}


def test_model_values_are_normalised(tmp_path: Path) -> None:
    model = load_or_raise(repo(tmp_path))
    window = model.platform.sync.windows[0]
    assert (window.schedule, window.duration_seconds, window.timezone) == ("0 22 * * mon-fri", 28800, "Europe/Berlin")
    assert model.platform.sync.drift_check_interval_seconds == 300  # the default
    policy = model.policies[0]
    assert policy.alerts[0].params == {"over": 5, "window": 600}
    assert policy.alerts[0].severity == "warning"
    assert policy.network[0].from_tenant == "shop"
    scaling = model.autoscalings[0]
    assert scaling.metrics[0].resource == "cpu"
    assert scaling.metrics[0].utilization == 70
    assert model.tenant("shop") is not None
    shop = model.tenant("shop")
    assert shop is not None
    assert shop.quota is not None
    assert shop.quota.cpu == "4"
    assert shop.storage_classes == ("ceph-rbd",)
    other = model.tenant("other")
    assert other is not None
    assert other.storage_classes is None
    assert other.network.isolation == "strict"
    api = next(a for a in model.apps if a.name == "api")
    assert api.source.file == "tenants/shop/api.yaml"
    assert api.source.line == 1
