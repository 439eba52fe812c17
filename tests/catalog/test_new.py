"""``dockyard new``: valid files with the modeline, refused names and templates leave nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.cli import main
from daemon.loader import load_repo
from tests.loader.helpers import repo


def _files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_new_tenant_writes_a_valid_tenant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path)
    assert main(["new", "tenant", "team-a", "--repo", str(root)]) == 0
    written = (root / "tenants/team-a/tenant.yaml").read_text()
    assert written.startswith("# yaml-language-server: $schema=")
    schema = written.splitlines()[0].split("$schema=")[1]
    assert schema.endswith("schemas/tenant.schema.json") and (root / "tenants/team-a" / schema).is_file()
    result = load_repo(root)
    assert result.model is not None and "team-a" in [t.name for t in result.model.tenants]
    assert "wrote tenants/team-a/tenant.yaml" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("kube-public", 1, "namespace 'kube-public' is reserved"),
        ("dockyard-system", 1, "namespace 'dockyard-system' is reserved"),
        ("Team_A", 2, "tenant 'Team_A' is not a DNS label"),
        ("shop", 1, "tenants/shop/tenant.yaml exists; nothing was written"),
    ],
)
def test_new_tenant_refuses_reserved_and_taken_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, code: int, message: str
) -> None:
    root = repo(tmp_path)
    before = _files(root)
    assert main(["new", "tenant", name, "--repo", str(root)]) == code
    assert message in capsys.readouterr().err
    assert _files(root) == before
    assert sorted(p.name for p in (root / "tenants").iterdir()) == ["other", "shop"]


def test_new_app_from_the_catalog_writes_its_volume(tmp_path: Path) -> None:
    root = repo(tmp_path)
    args = ["new", "app", "shop", "db", "--template", "catalog/postgres@1", "--repo", str(root)]
    assert main([*args, "--param", "volume=db-data", "--param", "passwordSecret=db"]) == 0
    assert (root / "tenants/shop/apps/db.yaml").read_text().splitlines()[0].endswith("schemas/app.schema.json")
    result = load_repo(root)
    assert result.model is not None
    [volume] = [v for v in result.model.volumes if v.name == "db-data"]
    assert volume.storage_class == "ceph-rbd" and volume.backup is not None
    [db] = [a for a in result.model.apps if a.name == "db"]
    assert db.stateful


def test_new_app_with_a_missing_parameter_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path)
    before = _files(root)
    args = ["new", "app", "shop", "db", "--template", "catalog/postgres@1", "--repo", str(root)]
    assert main([*args, "--param", "volume=db-data"]) == 1
    assert "missing required field 'passwordSecret'" in capsys.readouterr().err
    assert _files(root) == before
    assert not (root / "tenants/shop/apps").exists() and not (root / "tenants/shop/volumes").exists()


def test_new_app_of_an_unknown_catalog_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path)
    assert main(["new", "app", "shop", "x", "--template", "catalog/redis@2", "--repo", str(root)]) == 1
    assert "the catalog has no version 2 of redis; it has catalog/redis@1" in capsys.readouterr().err
    assert not (root / "tenants/shop/apps").exists()


def test_new_app_never_overwrites_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path)
    assert main(["new", "app", "shop", "worker", "--image", "busybox:1.36", "--repo", str(root)]) == 0
    first = (root / "tenants/shop/apps/worker.yaml").read_text()
    assert main(["new", "app", "shop", "worker", "--image", "busybox:1.37", "--repo", str(root)]) == 1
    assert "exists; nothing was written (pass --force to overwrite)" in capsys.readouterr().err
    assert (root / "tenants/shop/apps/worker.yaml").read_text() == first
    assert main(["new", "app", "shop", "worker", "--image", "busybox:1.37", "--repo", str(root), "--force"]) == 0
    assert "busybox:1.37" in (root / "tenants/shop/apps/worker.yaml").read_text()


def test_a_forced_overwrite_that_is_invalid_restores_the_file(tmp_path: Path) -> None:
    root = repo(tmp_path)
    before = (root / "tenants/shop/api.yaml").read_text()
    # An App named like an existing one, written over that file: valid alone, so check a broken one.
    args = ["new", "app", "shop", "api", "--template", "catalog/redis@7", "--repo", str(root), "--force"]
    (root / "tenants/shop/apps").mkdir()
    (root / "tenants/shop/apps/api.yaml").write_text(before)
    assert main(args) == 1
    assert (root / "tenants/shop/apps/api.yaml").read_text() == before


def test_new_app_in_an_unknown_tenant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path)
    assert main(["new", "app", "nope", "x", "--image", "busybox:1.36", "--repo", str(root)]) == 2
    assert "there is no tenant 'nope'" in capsys.readouterr().err
    assert not (root / "tenants/nope").exists()


def test_new_app_refuses_a_symlinked_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path / "repo")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "tenants/shop/apps").symlink_to(outside)
    assert main(["new", "app", "shop", "x", "--image", "busybox:1.36", "--repo", str(root)]) == 1
    assert "is a symlink" in capsys.readouterr().err
    assert list(outside.iterdir()) == []


def test_new_job_from_the_cron_job_entry_and_from_an_image(tmp_path: Path) -> None:
    root = repo(tmp_path)
    args = ["new", "job", "shop", "nightly", "--template", "catalog/cron-job@1", "--repo", str(root)]
    assert main([*args, "--param", "image=busybox:1.36", "--param", "schedule=0 2 * * *"]) == 0
    text = (root / "tenants/shop/jobs/nightly.yaml").read_text()
    assert text.splitlines()[0].endswith("schemas/job.schema.json") and "kind: Job" in text
    assert main(["new", "job", "shop", "once", "--image", "busybox:1.36", "--repo", str(root)]) == 0
    assert main(["new", "job", "shop", "hourly", "--image", "x:1", "--schedule", "@hourly", "--repo", str(root)]) == 0
    result = load_repo(root)
    assert result.model is not None
    jobs = {j.name: j for j in result.model.jobs_of("shop")}
    assert (jobs["nightly"].schedule, jobs["nightly"].retries) == ("0 2 * * *", 2)
    assert jobs["once"].schedule is None and jobs["hourly"].schedule is not None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--template", "catalog/cron-job@1", "--param", "image=x:1"], "schedule"),  # a required parameter
        (["--template", "catalog/worker@1", "--param", "image=x:1"], "renders an App, not a Job"),
        (["--template", "catalog/cron-job@1", "--schedule", "@daily"], "--schedule is for a job without a template"),
        ([], "give the job an --image"),
    ],
)
def test_new_job_refusals_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    root = repo(tmp_path)
    before = _files(root)
    assert main(["new", "job", "shop", "nightly", *extra, "--repo", str(root)]) != 0
    assert message in capsys.readouterr().err
    assert _files(root) == before
