"""The locality property, on generated repos: changing only ``tenants/X/**`` changes no rendered
object outside namespace X, and no cluster-scoped object but the Namespace X itself.

Each example is a platform with three tenants that reference each other (network rules both
ways, allowFrom/allowTo, names that collide when joined), and a second revision in which the
documents of tenant ``a`` are drawn again. When both revisions are valid, every object whose
rendering differs between them must belong to ``a``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from daemon.errors import ValidationFailed
from daemon.loader import load_repo
from daemon.render import objref, render
from daemon.render.provenance import sources
from tests.loader.helpers import BASE, text

TENANTS = ("a", "b", "a-b")
APPS = ("web", "api", "web-canary", "api-headless", "b-web", "db")
API = "dockyard.dev/v1alpha1"
PLATFORM = text(BASE["platform.yaml"]).replace("tenants: [shop]", "tenants: [a]") + (
    "  tenancy:\n    allowedIsolation: [strict, open]\n    annotations:\n"
    "      - kinds: ['*']\n        prefixes: [example.com/]\n"
)


def doc(kind: str, name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": kind, "metadata": {"name": name, **metadata}, "spec": spec}


@st.composite
def tenant_files(draw: st.DrawFn, tenant: str) -> dict[str, dict[str, Any]]:
    others = [t for t in TENANTS if t != tenant]
    # web and api always exist, so references from other tenants resolve; the others collide
    # with their canary and headless objects when drawn together.
    apps = ["web", "api", *draw(st.lists(st.sampled_from(APPS[2:]), unique=True, max_size=2))]
    network: dict[str, Any] = {"isolation": draw(st.sampled_from(["strict", "strict", "open"]))}
    for field in ("allowFrom", "allowTo"):
        chosen = draw(st.lists(st.sampled_from(others), unique=True, max_size=2))
        if chosen:
            network[field] = [{"tenant": t} for t in chosen]
    annotations = draw(
        st.dictionaries(st.sampled_from(["example.com/a", "example.com/b"]), st.sampled_from(["1", "2"]))
    )
    files = {
        "tenant.yaml": doc(
            "Tenant",
            tenant,
            {
                "quota": {"cpu": draw(st.sampled_from(["4", "8"])), "memory": "8Gi", "storage": "10Gi"},
                "network": network,
            },
            annotations=annotations,
        )
    }
    for app in apps:
        spec: dict[str, Any] = {
            "image": draw(st.sampled_from(["nginx:1.27", "nginx:1.28"])),
            "replicas": draw(st.integers(1, 3)),
            "ports": [{"name": "http", "port": 8080}],
            "resources": {"cpu": "10m", "memory": "16Mi"},
        }
        if draw(st.booleans()):
            spec["stateful"] = True
        elif draw(st.booleans()):
            spec["canary"] = {"image": "nginx:1.29", "weight": 50}
        if draw(st.booleans()):
            spec["domains"] = [f"{app}.{tenant}.example.com"]
        files[f"{app}.yaml"] = doc("App", app, spec, annotations=annotations)
    rules = []
    for _ in range(draw(st.integers(0, 3))):
        other = draw(st.sampled_from(others))
        other_side: dict[str, Any] = {"tenant": other}
        if draw(st.booleans()):
            other_side["app"] = draw(st.sampled_from(["web", "api"]))
        own_app = draw(st.sampled_from(apps))
        if draw(st.booleans()):
            rules.append({"allow": {"from": other_side, "to": {"app": own_app}, "ports": [8080]}})
        else:
            rules.append({"allow": {"from": {"app": own_app}, "to": other_side}})
    if rules:
        files["policy.yaml"] = doc("Policy", draw(st.sampled_from(["net", "b-net", "a-b"])), {"network": rules})
    if draw(st.booleans()):
        files["volume.yaml"] = doc("Volume", draw(st.sampled_from(["data", "web-restore"])), {"size": "1Gi"})
    return files


def write(root: Path, tenants: dict[str, dict[str, dict[str, Any]]]) -> Path:
    root.mkdir(parents=True)
    (root / "platform.yaml").write_text(PLATFORM)
    (root / "notifications").mkdir()
    (root / "notifications/ops.yaml").write_text(text(BASE["notifications/ops.yaml"]))
    for tenant, files in tenants.items():
        folder = root / "tenants" / tenant
        folder.mkdir(parents=True)
        for name, content in files.items():
            (folder / name).write_text(yaml.safe_dump(content, sort_keys=False))
    return root


def rendered(root: Path) -> dict[Any, Any] | None:
    result = load_repo(root)
    if result.model is None:
        return None
    try:
        objects = render(result.model)
    except ValidationFailed:
        return None
    return {objref(o): o for o in objects}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_changing_one_tenants_folder_changes_nothing_outside_its_namespace(data: st.DataObject) -> None:
    before_files = {t: data.draw(tenant_files(t), label=f"tenant {t}") for t in TENANTS}
    after_files = {**before_files, "a": data.draw(tenant_files("a"), label="tenant a, changed")}
    with tempfile.TemporaryDirectory() as tmp:
        before = rendered(write(Path(tmp) / "before", before_files))
        after = rendered(write(Path(tmp) / "after", after_files))
    # An invalid revision is rejected whole (it changes nothing); the property is about valid ones,
    # and hypothesis fails the test when it cannot find enough of them.
    assume(before is not None and after is not None)
    assert before is not None and after is not None
    changed = {ref for ref in before.keys() | after.keys() if before.get(ref) != after.get(ref)}
    outside = [ref for ref in changed if ref.namespace != "a" and not (ref.kind == "Namespace" and ref.name == "a")]
    assert outside == [], f"a change to tenants/a/ changed {[str(r) for r in outside]}"


def test_the_generator_reaches_across_tenants() -> None:
    """The property is only worth something if generated repos do reach for other tenants: a
    fixed example with every kind of cross-tenant reference, valid, rendered only locally."""
    files = {
        "a": {
            "tenant.yaml": doc(
                "Tenant",
                "a",
                {
                    "quota": {"cpu": "1", "memory": "1Gi"},
                    "network": {"allowFrom": [{"tenant": "b"}], "allowTo": [{"tenant": "a-b"}]},
                },
            ),
            "web.yaml": doc(
                "App",
                "b-web",
                {
                    "image": "nginx:1.27",
                    "ports": [{"name": "http", "port": 80}],
                    "resources": {"cpu": "10m", "memory": "16Mi"},
                },
            ),
            "policy.yaml": doc(
                "Policy",
                "b-net",
                {
                    "network": [
                        {"allow": {"from": {"tenant": "b"}, "to": {"app": "b-web"}}},
                        {"allow": {"from": {"app": "b-web"}, "to": {"tenant": "a-b", "app": "web"}}},
                    ]
                },
            ),
        },
        "b": {
            "tenant.yaml": doc(
                "Tenant", "b", {"quota": {"cpu": "1", "memory": "1Gi"}, "network": {"allowTo": [{"tenant": "a"}]}}
            )
        },
        "a-b": {
            "tenant.yaml": doc(
                "Tenant", "a-b", {"quota": {"cpu": "1", "memory": "1Gi"}, "network": {"allowFrom": [{"tenant": "a"}]}}
            ),
            "web.yaml": doc(
                "App",
                "web",
                {
                    "image": "nginx:1.27",
                    "ports": [{"name": "http", "port": 80}],
                    "resources": {"cpu": "10m", "memory": "16Mi"},
                },
            ),
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = write(Path(tmp) / "repo", files)
        result = load_repo(root)
        assert result.model is not None, [p.format() for p in result.errors]
        assert [p.code for p in result.warnings] == []  # both halves of everything are declared
        objects = rendered(root)
    assert objects is not None
    written = sources(result.model, objects.values())
    from_a = [ref for ref in objects if written[ref].file.startswith("tenants/a/")]
    assert {ref.namespace or ref.name for ref in from_a} == {"a"}
    assert len([r for r in from_a if r.kind == "NetworkPolicy"]) >= 6
