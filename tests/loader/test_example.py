"""The example platform repo: the demo and other tests build on it, so it must stay valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from daemon.loader import load_or_raise, load_repo
from daemon.model.kinds import PlatformModel

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "platform-repo-example"
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(?P<path>\S+)$")


@pytest.fixture(scope="module")
def model() -> PlatformModel:
    return load_or_raise(EXAMPLE)


def test_example_validates_clean_without_warnings() -> None:
    result = load_repo(EXAMPLE)
    assert [p.format() for p in result.problems] == []
    assert result.model is not None


def test_example_has_what_the_demo_needs(model: PlatformModel) -> None:
    assert len(model.tenants) >= 3
    assert len(model.apps) >= 8
    web = next(a for a in model.apps if a.name == "web")
    assert web.domains
    assert web.canary is not None
    assert model.autoscaling_for(web.tenant, "web") is not None
    postgres = next(a for a in model.apps if a.name == "postgres")
    assert postgres.stateful
    data = next(v for v in model.volumes if v.name == postgres.volumes[0].volume)
    assert data.storage_class == "ceph-rbd"
    assert data.backup is not None
    assert data.backup.schedule == "0 */6 * * *"
    retention = data.backup.retention
    assert (retention.daily, retention.weekly, retention.monthly) > (0, 0, 0)
    assert any(v.storage_class == "cephfs" and v.access_mode == "ReadWriteMany" for v in model.volumes)
    assert any(a.schedules for a in model.autoscalings)
    assert {t.kind for n in model.notification_lists for t in n.targets} >= {"slack", "webhook", "email"}
    used = [a.template for a in model.apps if a.template]
    assert any(used.count(name) >= 2 for name in used)
    assert any(t.extends for t in model.templates)
    rules = [r for p in model.policies for r in p.network]
    assert any(r.from_tenant == p.tenant for p in model.policies for r in p.network)
    assert any(r.from_tenant != p.tenant for p in model.policies for r in p.network)
    assert rules
    assert any(p.alerts for p in model.policies)


def test_example_platform_settings(model: PlatformModel) -> None:
    platform = model.platform
    assert platform.sync.interval_seconds == 60
    assert platform.sync.drift_check_interval_seconds == 300
    assert {w.action for w in platform.sync.windows} == {"allow", "deny"}
    assert platform.default_storage_class is not None
    assert platform.default_storage_class.name == "ceph-rbd"
    assert platform.default_storage_class.snapshot_class == "csi-rbdplugin-snapclass"
    assert platform.storage_class("cephfs") is not None
    assert platform.ingress.class_name == "nginx"
    assert platform.ingress.tls
    assert platform.default_notifications == "platform-ops"
    assert platform.chat.slack_roles
    assert platform.prune.max_fraction == 0.3


def test_windows_never_block_the_demo_tenants(model: PlatformModel) -> None:
    """Only payments is named by sync windows; shop, analytics and monitoring sync at any time."""
    for window in model.platform.sync.windows:
        assert "*" not in window.tenants
        assert not {"shop", "analytics", "monitoring"} & set(window.tenants)


def test_template_instances_are_filled_in(model: PlatformModel) -> None:
    web = next(a for a in model.apps if a.name == "web")
    assert web.image == "nginx:1.27"
    assert web.replicas == 2
    assert web.domains == ("shop.example.com",)
    assert web.env[0].name == "API_URL"  # the App's own field on top of the template
    reports = next(a for a in model.apps if a.name == "reports-web")
    assert reports.volumes[0].volume == "reports"
    assert reports.volumes[0].read_only
    assert reports.ports[0].port == 80  # from the base template


def test_every_example_file_has_a_correct_schema_modeline() -> None:
    # Dotfiles (sops' .sops.yaml) are tools' configuration: the loader never reads them either.
    # Raw manifests and encrypted Secrets are Kubernetes objects, not Dockyard documents.
    files = sorted(
        p
        for p in EXAMPLE.rglob("*.yaml")
        if not p.name.startswith(".") and not {"manifests", "secrets"} & set(p.relative_to(EXAMPLE).parts)
    )
    assert files
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        match = MODELINE.match(first)
        assert match, f"{path}: first line is not a schema modeline"
        schema = (path.parent / match["path"]).resolve()
        assert schema.is_file(), f"{path}: {match['path']} does not exist"
        kinds = set(re.findall(r"^kind: (\w+)$", path.read_text(encoding="utf-8"), re.MULTILINE))
        assert {f"{k.lower()}.schema.json" for k in kinds} == {schema.name}, path


def test_demo_resource_requests_fit_the_quotas() -> None:
    """Quota overruns are warnings; the clean run above proves there are none, this names why."""
    result = load_repo(EXAMPLE)
    assert not [p for p in result.problems if p.code == "value.quota"]
