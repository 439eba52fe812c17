"""The load cache: a second load reads only what changed and gives exactly the same result."""

from __future__ import annotations

import shutil
from pathlib import Path

from daemon.loader import LoadCache, load_repo

EXAMPLE = Path(__file__).resolve().parents[2] / "platform-repo-example"


def test_cached_loads_equal_fresh_loads_and_only_changed_files_are_read(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    cache = LoadCache()
    first = load_repo(repo, cache)
    assert first.model is not None
    assert cache.hits == 0 and cache.misses == first.files
    again = load_repo(repo, cache)
    assert again == first == load_repo(repo)
    assert cache.hits == first.files

    api = repo / "tenants/shop/apps/api.yaml"
    api.write_text(api.read_text().replace("replicas: 3", "replicas: 5"))
    hits = cache.hits
    changed = load_repo(repo, cache)
    assert changed == load_repo(repo)
    assert cache.hits - hits == first.files - 1  # only api.yaml was read again
    assert changed.model is not None
    assert next(a for a in changed.model.apps if a.name == "api").replicas == 5

    api.write_text(api.read_text().replace("replicas: 5", "replicass: 5"))
    broken = load_repo(repo, cache)
    assert broken == load_repo(repo)
    assert broken.model is None and any("replicass" in p.message for p in broken.errors)


def test_problems_in_cached_files_are_located_exactly_after_their_nodes_are_compacted(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    cache = LoadCache()
    assert load_repo(repo, cache).model is not None
    # A dangling reference in one file, reported in another (unchanged, cached, compacted) file.
    volumes = repo / "tenants/shop/volumes.yaml"
    volumes.write_text(volumes.read_text().replace("name: orders-data", "name: orders-data-2"))
    cached = load_repo(repo, cache)
    fresh = load_repo(repo)
    assert cached.errors and cached == fresh
    assert all(p.line > 0 and p.column > 0 for p in cached.errors)
