"""The escape hatch: raw manifests of kinds the Platform allows, forced into the tenant's namespace
and owned like everything else, and patches on rendered objects; both behind the same guardrails."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.commands.validate import rendered
from daemon.errors import ValidationFailed
from daemon.loader import load_repo
from daemon.render import render
from daemon.render.patches import PatchFailed, _json_patch, merge
from tests.loader.helpers import BASE, errors, line_of, load, repo, text
from tests.render.test_render import by

ALLOW = (
    "  tenancy:\n"
    "    allowedManifestKinds:\n"
    "      [ConfigMap, Service, networking.k8s.io/Ingress, apps/Deployment, policy/PodDisruptionBudget]\n"
)
HEAD = "apiVersion: dockyard.dev/v1alpha1\nkind: Patch\nmetadata:\n  name: {name}\n"


def platform(extra: str = "") -> str:
    return text(BASE["platform.yaml"]) + ALLOW + extra


CONFIG = text(
    """
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: feature-flags
      labels: {team: checkout}
    data:
      checkout.v2: "true"
    """
)


def test_manifests_need_the_platforms_consent(tmp_path: Path) -> None:
    result = load(tmp_path, {"tenants/shop/manifests/flags.yaml": CONFIG})
    assert errors(result) == [
        ("tenants/shop/manifests/flags.yaml", 2, "the platform does not allow ConfigMap manifests")
    ]
    assert result.errors[0].hint == "allowed: none (spec.tenancy.allowedManifestKinds in platform.yaml)"
    assert load(tmp_path / "2", {"platform.yaml": platform(), "tenants/shop/manifests/flags.yaml": CONFIG}).ok


def test_manifests_stay_in_their_tenant_and_off_the_host(tmp_path: Path) -> None:
    bad = text(
        """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: elsewhere, namespace: payments}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: root}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: plain}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {name: admin}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: miner}
        spec:
          template:
            spec:
              hostNetwork: true
              volumes: [{name: root, hostPath: {path: /}}]
              containers:
                - name: m
                  image: x:1
                  ports: [{containerPort: 80, hostPort: 80}]
                  securityContext: {privileged: true, capabilities: {add: [SYS_ADMIN]}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: lb}
        spec: {type: LoadBalancer, externalIPs: [10.0.0.1]}
        ---
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: steal}
        spec:
          rules: [{host: other.example.com}, {}]
        ---
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata: {name: lost}
        """
    )
    result = load(tmp_path, {"platform.yaml": platform(), "tenants/shop/manifests/bad.yaml": bad})
    path = "tenants/shop/manifests/bad.yaml"
    assert [m for f, _, m in errors(result) if f == path] == [
        "the objects of tenant 'shop' live in namespace 'shop', not 'payments'",
        "'ClusterRole' is a cluster-scoped object; a tenant's manifests stay in its namespace",
        "Secret objects cannot be raw manifests: they belong in secrets/, encrypted with sops",
        "RoleBinding objects cannot be raw manifests: the tenancy is the platform's "
        "(tenant.yaml, Apps' serviceAccount)",
        "hostNetwork is a host-level setting; tenants can never set it",
        "hostPath volumes reach into the node; tenants can never use them",
        "hostPort binds a port of the node; tenants can never use it",
        "privileged is a host-level setting; tenants can never set it",
        "capability SYS_ADMIN is beyond what the platform allows",
        "the platform does not allow LoadBalancer Services",
        "externalIPs would capture traffic to addresses the platform owns",
        "host 'other.example.com' is a domain of tenant 'other'",
        "an Ingress rule of a tenant names its host",
        "Dockyard documents do not go in manifests/",
    ]
    hostnet = next(p for p in result.errors if "hostNetwork" in p.message)
    assert hostnet.line == line_of(bad, "hostNetwork")


def test_manifests_render_as_owned_objects_in_the_tenants_namespace(tmp_path: Path) -> None:
    result = load(tmp_path, {"platform.yaml": platform(), "tenants/shop/manifests/flags.yaml": CONFIG})
    assert result.model is not None
    flags = by(render(result.model, "r1"), "ConfigMap", "feature-flags", "shop")
    assert flags["data"] == {"checkout.v2": "true"}
    labels = flags["metadata"]["labels"]
    assert labels["team"] == "checkout" and labels["app.kubernetes.io/managed-by"] == "dockyard"
    assert labels["dockyard.dev/tenant"] == "shop"
    assert flags["metadata"]["annotations"]["dockyard.dev/source"] == "manifests/ConfigMap/feature-flags"
    # The name of an object Dockyard renders is taken: render (and validate) refuses the manifest.
    taken = (
        CONFIG.replace("name: feature-flags", "name: api")
        .replace("kind: ConfigMap", "kind: Service")
        .replace('data:\n  checkout.v2: "true"\n', "spec: {ports: [{port: 80}]}\n")
    )
    clash = load_repo(repo(tmp_path / "2", {"platform.yaml": platform(), "tenants/shop/manifests/svc.yaml": taken}))
    assert clash.model is not None
    checked = rendered(clash)
    assert [(p.file, p.message) for p in checked.errors] == [
        ("tenants/shop/manifests/svc.yaml", "Service 'api' is an object Dockyard renders from the tenant's documents")
    ]


def _patch(name: str, body: str) -> str:
    return HEAD.format(name=name) + text(body)


def _patched(tmp_path: Path, patches: dict[str, str], extra: str = "") -> tuple[list[dict[str, Any]] | None, list[str]]:
    files = {"platform.yaml": platform(extra), **{f"tenants/shop/{k}.yaml": v for k, v in patches.items()}}
    result = load_repo(repo(tmp_path, files))
    assert errors(result) == [], errors(result)
    assert result.model is not None
    try:
        return render(result.model, "r1"), []
    except ValidationFailed as e:
        return None, [p.message for p in e.problems]


def test_patches_change_rendered_objects(tmp_path: Path) -> None:
    dns = _patch(
        "web-dns",
        """
        spec:
          target: {kind: Deployment, name: web}
          jsonPatch:
            - {op: add, path: /spec/template/spec/dnsConfig, value: {options: [{name: ndots, value: "2"}]}}
            - {op: test, path: /spec/template/spec/containers/0/name, value: web}
        """,
    )
    env = _patch(
        "api-env",
        """
        spec:
          target: {kind: StatefulSet, name: api}
          merge:
            spec:
              template:
                metadata: {annotations: {example.com/scrape: "true"}}
                spec:
                  containers:
                    - name: api
                      env: [{name: GOMAXPROCS, value: "2"}]
                  topologySpreadConstraints: null
        """,
    )
    objects, problems = _patched(tmp_path, {"dns": dns, "env": env})
    assert problems == [] and objects is not None
    web = by(objects, "Deployment", "web", "shop")["spec"]["template"]["spec"]
    assert web["dnsConfig"] == {"options": [{"name": "ndots", "value": "2"}]}
    api = by(objects, "StatefulSet", "api", "shop")["spec"]["template"]
    assert api["metadata"]["annotations"] == {"example.com/scrape": "true"}
    (container,) = api["spec"]["containers"]
    assert container["image"] == "busybox:1.36"  # merged by name, the rest kept
    assert container["env"] == [{"name": "GOMAXPROCS", "value": "2"}]
    assert "topologySpreadConstraints" not in api["spec"]


def test_a_patch_that_does_not_apply_or_breaks_a_guardrail_refuses_the_revision(tmp_path: Path) -> None:
    cases = {
        "missing": (
            "spec:\n  target: {kind: Deployment, name: nope}\n  merge: {spec: {}}\n",
            "there is no Deployment 'nope' to patch",
        ),
        "failing": (
            "spec:\n  target: {kind: Service, name: web}\n  jsonPatch:\n    - {op: remove, path: /spec/nothing}\n",
            "Patch 'failing' cannot be applied: operation 1 (remove): /spec/nothing: there is no 'nothing' to remove",
        ),
        "host": (
            "spec:\n  target: {kind: Deployment, name: web}\n"
            "  merge: {spec: {template: {spec: {hostNetwork: true}}}}\n",
            "Patch 'host': at spec.template.spec.hostNetwork: hostNetwork is a host-level setting; "
            "tenants can never set it",
        ),
        "owner": (
            "spec:\n  target: {kind: Service, name: web}\n"
            "  merge: {metadata: {labels: {dockyard.dev/tenant: other}}}\n",
            "Patch 'owner': it changes the label dockyard.dev/tenant, which marks what Dockyard owns",
        ),
        "exposed": (
            "spec:\n  target: {kind: Service, name: web}\n  merge: {spec: {type: NodePort}}\n",
            "Patch 'exposed': the platform does not allow NodePort Services (spec.tenancy.allowedServiceTypes)",
        ),
    }
    for name, (body, message) in cases.items():
        objects, problems = _patched(tmp_path / name, {name: _patch(name, body)})
        assert objects is None and problems == [message], name


def test_json_patch_follows_rfc_6902() -> None:
    doc = {"a": {"b": [1, 2]}, "c~/d": 5}
    assert _json_patch(doc, [{"op": "add", "path": "/a/b/-", "value": 3}]) == {"a": {"b": [1, 2, 3]}, "c~/d": 5}
    assert _json_patch(doc, [{"op": "add", "path": "/a/b/0", "value": 0}])["a"]["b"] == [0, 1, 2]
    assert _json_patch(doc, [{"op": "replace", "path": "/c~0~1d", "value": 6}])["c~/d"] == 6
    assert _json_patch(doc, [{"op": "move", "from": "/a/b", "path": "/b"}]) == {"a": {}, "c~/d": 5, "b": [1, 2]}
    assert _json_patch(doc, [{"op": "copy", "from": "/a/b/1", "path": "/x"}])["x"] == 2
    assert doc == {"a": {"b": [1, 2]}, "c~/d": 5}, "the input is never changed"
    for operations, message in (
        ([{"op": "add", "path": "/a/b/5", "value": 1}], "index 5 is past the end"),
        ([{"op": "test", "path": "/a/b/0", "value": 9}], "does not hold the value"),
        ([{"op": "move", "from": "/a", "path": "/a/x"}], "into itself"),
        ([{"op": "replace", "path": "/zz", "value": 1}], "there is no 'zz'"),
        ([{"op": "add", "path": "/a/b/01", "value": 1}], "not a list index"),
    ):
        with pytest.raises(PatchFailed, match=message):
            _json_patch(doc, operations)


def test_strategic_merge_by_kubernetes_keys() -> None:
    target = {
        "containers": [{"name": "a", "image": "x:1", "ports": [{"containerPort": 80}]}, {"name": "b", "image": "y:1"}],
        "args": ["--one"],
    }
    patch = {
        "containers": [{"name": "a", "ports": [{"containerPort": 81}]}, {"name": "b", "$patch": "delete"}],
        "args": ["--two"],
    }
    assert merge(target, patch) == {
        "containers": [{"name": "a", "image": "x:1", "ports": [{"containerPort": 80}, {"containerPort": 81}]}],
        "args": ["--two"],
    }


def test_manifests_and_patches_carry_only_the_annotations_the_platform_allows(tmp_path: Path) -> None:
    # An ingress-nginx snippet is configuration of the shared controller: no tenant may set it
    # unless the platform says so (spec.tenancy.annotations), through the escape hatch too.
    snippet = "nginx.ingress.kubernetes.io/server-snippet"
    annotated = CONFIG.replace(
        "  labels: {team: checkout}\n",
        "  labels: {team: checkout, dockyard.dev/app: api}\n"
        f"  annotations: {{{snippet}: deny all, dockyard.dev/x: y}}\n",
    )
    files = {"platform.yaml": platform(), "tenants/shop/manifests/flags.yaml": annotated}
    result = load(tmp_path, files)
    assert errors(result) == [
        ("tenants/shop/manifests/flags.yaml", 6, f"annotation '{snippet}' is not allowed on raw manifests"),
        ("tenants/shop/manifests/flags.yaml", 6, "annotation 'dockyard.dev/x' is reserved for Dockyard"),
    ]
    assert result.errors[0].hint == "spec.tenancy.annotations in platform.yaml allows none for Manifest"
    rule = "    annotations:\n      - {kinds: [Manifest, Patch], prefixes: [nginx.ingress.kubernetes.io/]}\n"
    allowed = load(tmp_path / "2", {**files, "platform.yaml": platform(rule)})
    assert [e[2] for e in errors(allowed)] == ["annotation 'dockyard.dev/x' is reserved for Dockyard"]
    # Render drops what the loader reports (the second line): the reserved annotation and label.
    model = allowed_model(tmp_path / "3", platform(rule), annotated.replace("dockyard.dev/x: y", "example.com/x: y"))
    flags = by(render(model, "r1"), "ConfigMap", "feature-flags", "shop")["metadata"]
    assert flags["annotations"][snippet] == "deny all" and "example.com/x" not in flags["annotations"]
    assert flags["labels"]["team"] == "checkout" and "dockyard.dev/app" not in flags["labels"]

    body = f"spec:\n  target: {{kind: Ingress, name: web}}\n  merge: {{metadata: {{annotations: {{{snippet}: x}}}}}}\n"
    objects, problems = _patched(tmp_path / "4", {"snippet": _patch("snippet", body)})
    assert objects is None and problems == [
        f"Patch 'snippet': it sets the annotation {snippet}, which spec.tenancy.annotations does not allow for Patch"
    ]
    objects, problems = _patched(tmp_path / "5", {"snippet": _patch("snippet", body)}, rule)
    assert problems == [] and objects is not None
    assert by(objects, "Ingress", "web", "shop")["metadata"]["annotations"][snippet] == "x"


def allowed_model(tmp_path: Path, platform_text: str, manifest: str) -> Any:
    result = load(tmp_path, {"platform.yaml": platform_text, "tenants/shop/manifests/flags.yaml": manifest})
    # The loader reports example.com/x (no rule allows it); the model is built to show what
    # render would do with it, as if the loader had let it through.
    assert [e[2] for e in errors(result)] == ["annotation 'example.com/x' is not allowed on raw manifests"]
    ok = load(tmp_path / "ok", {"platform.yaml": platform_text, "tenants/shop/manifests/flags.yaml": CONFIG})
    assert ok.model is not None
    (original,) = ok.model.manifests
    obj = yaml.safe_load(manifest)
    return replace(ok.model, manifests=(replace(original, object=obj),))


def test_render_refuses_a_manifest_outside_the_tenant_of_its_folder(tmp_path: Path) -> None:
    # The loader forces a manifest into its folder's tenant; were it ever to attribute one to
    # another tenant, render.boundary still refuses the object (its source names the folder).
    result = load(tmp_path, {"platform.yaml": platform(), "tenants/shop/manifests/flags.yaml": CONFIG})
    assert result.model is not None
    (manifest,) = result.model.manifests
    wrong = replace(result.model, manifests=(replace(manifest, tenant="other"),))
    with pytest.raises(ValidationFailed) as caught:
        render(wrong, "r1")
    assert [p.code for p in caught.value.problems] == ["render.outside-tenant"]
    assert caught.value.problems[0].message == (
        "ConfigMap/other/feature-flags would be rendered into namespace 'other', outside tenant 'shop'"
    )
