"""A tenant's files render only into its own namespace: cross-tenant traffic needs both tenants,
and render itself refuses (naming the source) anything a tenant document would put elsewhere."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from daemon.errors import ValidationFailed
from daemon.model.kinds import App, NetworkRule, PlatformModel, Policy
from daemon.model.refs import Metadata, SourceRef
from daemon.policy.diff import Change, ChangeSet
from daemon.policy.inventory import Inventory, PrunePlan
from daemon.policy.plan import Plan
from daemon.policy.reach import outside_tenants
from daemon.render import objref, render
from daemon.render.provenance import sources
from daemon.views.paint import Painter
from daemon.views.plan import plan_json, plan_markdown, plan_text
from tests.loader.helpers import line_of
from tests.render.factory import sample_model
from tests.tenancy.helpers import document, load, rendered, tenant

SHOP_API = "image: busybox:1.36\nports: [{name: http, port: 8080}]\nresources: {cpu: 10m, memory: 16Mi}"


def written_in(model: PlatformModel, objects: list[dict[str, Any]], folder: str) -> list[dict[str, Any]]:
    """The objects rendered from documents under ``folder`` (objects name their document's
    ``Kind/name``; its file comes from the model)."""
    files = {ref: source.file for ref, source in sources(model, objects).items()}
    return [o for o in objects if files.get(objref(o), "").startswith(folder)]


def namespaces_from(model: PlatformModel, objects: list[dict[str, Any]], folder: str) -> set[str]:
    return {
        o["metadata"].get("namespace", f"<cluster:{o['kind']}/{o['metadata']['name']}>")
        for o in written_in(model, objects, folder)
    }


def test_a_policy_naming_another_tenant_writes_nothing_into_it(tmp_path: Path) -> None:
    # The attack: team's Policy with from: {tenant: shop} wrote an open egress policy
    # (podSelector: {}, no ports) into shop's namespace without shop's consent.
    team = {
        "tenants/team/tenant.yaml": tenant("team"),
        "tenants/team/api.yaml": document("App", "api", SHOP_API),
        "tenants/team/policy.yaml": document(
            "Policy", "in", "network:\n  - allow:\n      from: {tenant: shop}\n      to: {app: api}"
        ),
        "tenants/team/tenant2.yaml": None,
    }
    model = load(tmp_path, team).model
    assert model is not None
    objects = render(model)
    assert namespaces_from(model, objects, "tenants/team/") == {"team", "<cluster:Namespace/team>"}
    shop_policies = [o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == "shop"]
    assert shop_policies
    assert written_in(model, shop_policies, "tenants/shop/") == shop_policies


def test_one_half_of_a_cross_tenant_rule_is_a_warning_saying_what_the_other_side_must_write(tmp_path: Path) -> None:
    files = {
        "tenants/team/tenant.yaml": tenant("team"),
        "tenants/team/api.yaml": document("App", "api", SHOP_API),
        "tenants/team/policy.yaml": document(
            "Policy",
            "in",
            "network:\n  - allow:\n      from: {tenant: shop, app: web}\n      to: {app: api}\n      ports: [8080]",
        ),
    }
    result = load(tmp_path / "a", files)
    [warning] = [p for p in result.warnings if p.code == "network.one-sided"]
    assert (warning.file, warning.path) == ("tenants/team/policy.yaml", "$.spec.network[0].allow.from.tenant")
    assert warning.message == "traffic in from tenant 'shop' is allowed here, but 'shop' does not let it out yet"
    assert "to: {tenant: team, app: api}" in warning.hint
    assert result.model is not None  # valid: shop may add its half in a later merge request

    # shop declares its half in its own folder: no warning, and each half is in its own namespace.
    files["tenants/shop/out.yaml"] = document(
        "Policy",
        "out",
        "network:\n  - allow:\n      from: {app: web}\n      to: {tenant: team, app: api}\n      ports: [8080]",
    )
    result = load(tmp_path / "b", files)
    assert [p for p in result.warnings if p.code == "network.one-sided"] == []
    assert result.model is not None
    objects = render(result.model)
    ingress = next(o for o in objects if o["metadata"]["name"] == "allow-in-0")
    egress = next(o for o in objects if o["metadata"]["name"] == "allow-out-0")
    assert (ingress["metadata"]["namespace"], ingress["spec"]["policyTypes"]) == ("team", ["Ingress"])
    assert (egress["metadata"]["namespace"], egress["spec"]["policyTypes"]) == ("shop", ["Egress"])
    assert egress["spec"]["egress"][0]["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "team"
    }


def test_allow_from_and_allow_to_are_the_two_halves_of_tenant_wide_traffic(tmp_path: Path) -> None:
    shop = tenant(
        "shop",
        'quota: {cpu: "4", memory: 8Gi, storage: 50Gi, pods: 20}\nstorageClasses: [ceph-rbd]\n'
        "network:\n  allowFrom: [{tenant: other}]",
    )
    result = load(tmp_path / "a", {"tenants/shop/tenant.yaml": shop})
    [warning] = [p for p in result.warnings if p.code == "network.one-sided"]
    assert "allowTo: [{tenant: shop}]" in warning.hint
    other = tenant("other", 'quota: {cpu: "1", memory: 1Gi}\nnetwork:\n  allowTo: [{tenant: shop}]')
    objects = rendered(tmp_path / "b", {"tenants/shop/tenant.yaml": shop, "tenants/other/tenant.yaml": other})
    assert {
        (o["metadata"]["name"], o["metadata"]["namespace"])
        for o in objects
        if "-to-tenant-" in o["metadata"]["name"] or "-from-tenant-" in o["metadata"]["name"]
    } == {
        ("allow-from-tenant-other", "shop"),
        ("allow-egress-to-tenant-shop", "other"),
    }


def test_a_rule_between_two_other_tenants_is_refused(tmp_path: Path) -> None:
    content = document(
        "Policy", "proxy", "network:\n  - allow:\n      from: {tenant: shop}\n      to: {tenant: other, app: front}"
    )
    result = load(tmp_path, {"tenants/team/tenant.yaml": tenant("team"), "tenants/team/p.yaml": content})
    [problem] = [p for p in result.errors if p.file == "tenants/team/p.yaml"]
    assert problem.code == "ref.cross-tenant"
    assert problem.line == line_of(content, "to: {tenant")
    assert "a Policy of tenant 'team' can only allow traffic into or out of its own apps" in problem.message


def test_render_refuses_an_object_outside_the_tenant_of_its_source() -> None:
    # Defence in depth: a model the loader would never build (an App of folder tenants/shop/
    # that says it is analytics') is refused by render itself, naming the source.
    model = sample_model()
    intruder = App(
        metadata=Metadata("intruder"),
        source=SourceRef("tenants/shop/intruder.yaml", 3, "App/intruder"),
        tenant="analytics",
        image="busybox:1.36",
    )
    with pytest.raises(ValidationFailed) as raised:
        render(replace(model, apps=(*model.apps, intruder)))
    problem = raised.value.problems[0]
    assert (problem.file, problem.line, problem.code) == ("tenants/shop/intruder.yaml", 3, "render.outside-tenant")
    assert (
        problem.message
        == "Deployment.apps/analytics/intruder would be rendered into namespace 'analytics', outside tenant 'shop'"
    )


def test_render_drops_metadata_the_guardrails_do_not_allow() -> None:
    model = sample_model()
    web = model.apps[0]
    sneaky = replace(
        web,
        metadata=Metadata(
            "web",
            labels={"dockyard.dev/app": "api", "team": "shop"},
            annotations={
                "nginx.ingress.kubernetes.io/server-snippet": "evil",
                "dockyard.dev/deletion-policy": "Delete",
            },
        ),
    )
    objects = render(replace(model, apps=(sneaky, *model.apps[1:])))
    ingress = next(o for o in objects if o["kind"] == "Ingress" and o["metadata"]["name"] == "web")
    assert "nginx.ingress.kubernetes.io/server-snippet" not in ingress["metadata"]["annotations"]
    deployment = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "web")
    assert "dockyard.dev/deletion-policy" not in deployment["metadata"]["annotations"]
    assert deployment["metadata"]["labels"]["dockyard.dev/app"] == "web"
    assert deployment["metadata"]["labels"]["team"] == "shop"


def _plan(objects: list[dict[str, Any]]) -> Plan:
    changes = tuple(Change("create", objref(o), (), "", o) for o in objects)
    return Plan(ChangeSet(changes), PrunePlan((), (), False), Inventory(), tuple(objects), {})


def test_the_plan_names_changes_outside_the_tenants_namespaces() -> None:
    model = sample_model()
    objects = render(model, "abc")
    reach = outside_tenants(_plan(objects), sources(model, objects))
    # Tenants' own objects (their Namespaces included) are not listed; the platform's classes are.
    assert {(str(r.ref), r.why) for r in reach} == {
        ("StorageClass.storage.k8s.io/ceph-rbd", "cluster-scoped"),
        ("StorageClass.storage.k8s.io/cephfs", "cluster-scoped"),
        ("VolumeSnapshotClass.snapshot.storage.k8s.io/csi-rbdplugin-snapclass", "cluster-scoped"),
    }
    assert all(r.source == "platform.yaml:3" for r in reach)
    # An object from one tenant's folder in another's namespace (render refuses it; the plan
    # still names it, as it would any live object it was about to change).
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    stray = {**deployment, "metadata": {**deployment["metadata"], "name": "stray", "namespace": "analytics"}}
    plan = _plan([*objects, stray])
    written = sources(model, plan.desired)
    [foreign] = [r for r in outside_tenants(plan, written) if r.ref.name == "stray"]
    assert foreign.why == "rendered from tenants/shop/ into another tenant's namespace"
    # Without the model, the tenant label still says whose folder it comes from.
    [unlocated] = [r for r in outside_tenants(plan) if r.ref.name == "stray"]
    assert (unlocated.why, unlocated.source) == (foreign.why, "App/web")
    text = plan_text(plan, Painter(False), sources=written)
    assert "Outside the tenants' namespaces (review these):" in text
    assert (
        "create   Deployment.apps/analytics/stray (from tenants/shop/web.yaml:3): rendered from tenants/shop/" in text
    )
    assert "`Deployment.apps/analytics/stray` (from tenants/shop/web.yaml:3)" in plan_markdown(plan, sources=written)
    assert {
        "object": "Deployment.apps/analytics/stray",
        "action": "create",
        "source": "tenants/shop/web.yaml:3",
        "why": foreign.why,
    } in plan_json(plan, written)["outsideTenants"]


def test_a_policy_rule_out_of_an_open_tenant_renders_nothing() -> None:
    model = sample_model()
    policy = Policy(
        metadata=Metadata("out"),
        source=SourceRef("tenants/analytics/out.yaml", 3, "Policy/out"),
        tenant="analytics",
        network=(NetworkRule(to_app="api", from_tenant="analytics", to_tenant="shop"),),
    )
    model = replace(model, policies=(*model.policies, policy))
    assert not written_in(model, render(model), "tenants/analytics/out")
