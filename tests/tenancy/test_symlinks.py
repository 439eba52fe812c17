"""Symlinks never carry one tenant's files into another's folder, and nothing writes through one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.chat.gitops import GitOps, Requester
from daemon.edges import files
from daemon.errors import ChatError
from daemon.loader import load_repo
from tests.loader.helpers import repo
from tests.platforms import PlatformRepo, git
from tests.tenancy.helpers import document, tenant

ALICE = Requester("U0ALICE1", "alice")


def _errors(root: Path) -> list[tuple[str, str]]:
    return [(p.file, p.message) for p in load_repo(root).errors]


def test_a_link_into_another_tenants_folder_is_refused(tmp_path: Path) -> None:
    # The attack: ln -s ../victim/apps tenants/aaa/x moved victim's apps into namespace
    # aaa (walked first) and the next apply pruned them from victim.
    root = repo(tmp_path, {"tenants/aaa/tenant.yaml": tenant("aaa")})
    (root / "tenants/aaa/x").symlink_to("../shop", target_is_directory=True)
    (root / "tenants/aaa/one.yaml").symlink_to("../other/front.yaml")
    assert _errors(root) == [
        (
            "tenants/aaa/one.yaml",
            "symlink leads out of the tenant folder tenants/aaa/ (to tenants/other/front.yaml); it is not read",
        ),
        ("tenants/aaa/x", "symlink leads out of the tenant folder tenants/aaa/ (to tenants/shop); it is not read"),
    ]


def test_tenant_folders_and_platform_files_cannot_be_links_into_tenants(tmp_path: Path) -> None:
    root = repo(tmp_path)
    (root / "tenants/alias").symlink_to("shop", target_is_directory=True)
    (root / "templates/from-tenant.yaml").symlink_to("../tenants/shop/web.yaml")
    (root / "notifications/deep").symlink_to("../tenants/other", target_is_directory=True)
    assert _errors(root) == [
        ("notifications/deep", "symlink leads into a tenant folder (to tenants/other); it is not read"),
        ("templates/from-tenant.yaml", "symlink leads into a tenant folder (to tenants/shop/web.yaml); it is not read"),
        ("tenants/alias", "the tenant folder tenants/alias/ is a symlink (to tenants/shop); it is not read"),
    ]


def test_links_inside_one_tenant_folder_are_followed(tmp_path: Path) -> None:
    root = repo(
        tmp_path,
        {
            "tenants/shop/web.yaml": None,
            "tenants/shop/real/web.yaml": document(
                "App", "web", "image: nginx:1.27\nresources: {cpu: 10m, memory: 16Mi}"
            ),
        },
    )
    (root / "tenants/shop/a-link").symlink_to("real", target_is_directory=True)
    result = load_repo(root)
    assert result.model is not None, [p.format() for p in result.errors]
    assert next(a for a in result.model.apps if a.name == "web").source.file == "tenants/shop/a-link/web.yaml"


def test_the_file_edge_never_follows_a_link(tmp_path: Path) -> None:
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim/app.yaml").write_text("replicas: 1\n")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/link.yaml").symlink_to("../victim/app.yaml")
    (tmp_path / "mine/dir").symlink_to("../victim", target_is_directory=True)
    (tmp_path / "mine/own.yaml").write_text("replicas: 2\n")
    for rel in ("mine/link.yaml", "mine/dir/app.yaml"):
        with pytest.raises(files.UnsafePath, match="symlink"):
            files.write_text(tmp_path, rel, "replicas: 99\n")
        with pytest.raises(files.UnsafePath, match="symlink"):
            files.read_text(tmp_path, rel)
    with pytest.raises(files.UnsafePath, match="not a plain path"):
        files.write_text(tmp_path, "mine/../victim/app.yaml", "x")
    assert (tmp_path / "victim/app.yaml").read_text() == "replicas: 1\n"
    files.write_text(tmp_path, "mine/own.yaml", "replicas: 3\n")
    assert files.read_text(tmp_path, "mine/own.yaml") == "replicas: 3\n"
    assert files.symlink_on_the_way(tmp_path, "mine/dir/app.yaml") == "mine/dir"
    assert files.symlink_on_the_way(tmp_path, "mine/own.yaml") is None


def test_chat_scale_refuses_an_app_file_reached_through_a_link(tmp_path: Path) -> None:
    work = tmp_path / "work"
    platform = PlatformRepo(work, "shop")
    platform.write()
    # Inside the tenant's folder (so the loader accepts it), but a link all the same: the
    # edit must not go through it.
    real = work / "tenants/shop/real"
    real.mkdir()
    os.rename(work / "tenants/shop/app-app1.yaml", real / "app-app1.yaml")
    (work / "tenants/shop/a").symlink_to("real", target_is_directory=True)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "platform")
    before = (real / "app-app1.yaml").read_text()
    with pytest.raises(ChatError, match=r"cannot edit tenants/shop/a/app-app1.yaml: tenants/shop/a is a symlink"):
        GitOps.for_local(work).scale("shop", "app1", 5, requester=ALICE, mode="direct")
    assert (real / "app-app1.yaml").read_text() == before
    assert git(work, "status", "--porcelain") == ""
