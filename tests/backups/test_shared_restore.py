"""A volume that starts from another tenant's backup (a clone's data): only with the owner's consent
(``shareWith``), only from that Volume's own chain, rendered as a claim of a copy in its namespace."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.loader import load_repo
from daemon.render import render
from daemon.render.storage import claim_name, restore_source
from tests.platforms import PlatformRepo, doc


def _repo(tmp_path: Path, restore: dict[str, Any], share: Sequence[str] | None = ("copy",), **source: Any) -> Path:
    repo = PlatformRepo(tmp_path / "platform", "owner", apps=1)
    volume = repo.volumes["data"]["spec"]
    volume["backup"] = {"schedule": "0 */6 * * *", "retention": {"last": 2}}
    volume.update(source)
    if share is not None:
        volume["shareWith"] = list(share)
    root = repo.write()
    other = root / "tenants" / "copy"
    other.mkdir()
    (other / "tenant.yaml").write_text(yaml.safe_dump(doc("Tenant", "copy", {"quota": {"cpu": "1", "memory": "1Gi"}})))
    (other / "volume.yaml").write_text(yaml.safe_dump(doc("Volume", "data", {"size": "1Gi", "restore": restore})))
    return root


def _errors(root: Path) -> list[str]:
    return [f"{p.file}:{p.line}: {p.message} ({p.hint})" for p in load_repo(root).problems if p.severity == "error"]


def test_a_shared_backup_renders_a_claim_of_its_copy(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"tenant": "owner", "volume": "data", "snapshot": "latest"})
    model = load_repo(root).model
    assert model is not None, _errors(root)
    [copy] = model.volumes_of("copy")
    objects = render(model, "r1")
    [claim] = [o for o in objects if o["kind"] == "PersistentVolumeClaim" and o["metadata"]["namespace"] == "copy"]
    assert claim["metadata"]["name"] == claim_name(copy) and claim_name(copy).startswith("data-restore-")
    source = restore_source(copy)
    assert source is not None and source.startswith("data-from-owner-")
    assert claim["spec"]["dataSource"] == {
        "apiGroup": "snapshot.storage.k8s.io",
        "kind": "VolumeSnapshot",
        "name": source,
    }
    # Another snapshot of the owner is another copy, and another claim: a restore never overwrites.
    other = _repo(tmp_path / "b", {"tenant": "owner", "volume": "data", "snapshot": "data-203001010100"})
    model_b = load_repo(other).model
    assert model_b is not None
    [copy_b] = model_b.volumes_of("copy")
    assert restore_source(copy_b) != source and claim_name(copy_b) != claim_name(copy)


LATEST = {"tenant": "owner", "volume": "data", "snapshot": "latest"}


@pytest.mark.parametrize(
    ("restore", "share", "source", "message"),
    [
        # No consent: the owner's Volume does not list the tenant (or lists another one).
        (LATEST, None, {}, "does not share its backups with tenant 'copy'"),
        (LATEST, ["else"], {}, "does not share its backups with tenant 'copy'"),
        # Only the shared Volume's own chain: a snapshot name of another volume is refused.
        (LATEST | {"snapshot": "secrets-203001010100"}, ["copy"], {}, "is not a backup of volume 'data'"),
        ({"tenant": "nobody", "volume": "data", "snapshot": "latest"}, ["copy"], {}, "Tenant 'nobody' does not exist"),
        (LATEST | {"volume": "db"}, ["copy"], {}, "Volume 'db' does not exist in tenant 'owner'"),
        ({"tenant": "copy", "volume": "data", "snapshot": "latest"}, ["copy"], {}, "names this volume's own tenant"),
        ({"tenant": "owner", "snapshot": "latest"}, ["copy"], {}, "volume"),
        (LATEST, ["copy"], {"perReplica": True}, "is perReplica"),
    ],
)
def test_a_restore_from_another_tenant_needs_its_consent(
    tmp_path: Path, restore: dict[str, Any], share: list[str] | None, source: dict[str, Any], message: str
) -> None:
    root = _repo(tmp_path, restore, share, **source)
    errors = _errors(root)
    assert any(message in e and "tenants/copy/volume.yaml" in e for e in errors), errors
