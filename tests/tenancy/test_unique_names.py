"""Two documents that render the same object are refused, naming both sources; none wins silently."""

from __future__ import annotations

from pathlib import Path

from daemon.commands.validate import rendered
from tests.tenancy.helpers import document, load, render_problems, tenant
from tests.tenancy.helpers import rendered as render_repo

WEB = "image: nginx:1.27\nreplicas: 4\nports: [{name: http, port: 80}]\nresources: {cpu: 10m, memory: 16Mi}"


def test_an_app_named_like_another_apps_canary_track(tmp_path: Path) -> None:
    files = {
        "tenants/other/web.yaml": document(
            "App", "web", WEB + "\ndomains: [web.other.example.com]\ncanary: {image: 'nginx:1.28', weight: 25}"
        ),
        "tenants/other/web-canary.yaml": document("App", "web-canary", WEB),
    }
    # The canary track is a Deployment and a Service of its own (its Ingress splits the traffic).
    problems = render_problems(tmp_path, files)
    assert {p.code for p in problems} == {"render.duplicate-object"}
    problem = next(p for p in problems if p.message.startswith("Deployment"))
    assert problem.message == (
        "Deployment.apps/other/web-canary is rendered twice: from tenants/other/web-canary.yaml:1 "
        "and from tenants/other/web.yaml:1"
    )


def test_an_app_named_like_a_stateful_apps_headless_service(tmp_path: Path) -> None:
    # The base repo's shop/api is stateful: its headless Service is api-headless.
    files = {"tenants/shop/api-headless.yaml": document("App", "api-headless", WEB)}
    problems = render_problems(tmp_path, files)
    assert [p.message for p in problems] == [
        "Service/shop/api-headless is rendered twice: from tenants/shop/api-headless.yaml:1 and from "
        "tenants/shop/api.yaml:1"
    ]
    assert (problems[0].file, problems[0].line) == ("tenants/shop/api.yaml", 1)


def test_a_volume_named_like_another_volumes_restored_claim(tmp_path: Path) -> None:
    objects = render_repo(
        tmp_path / "a",
        {"tenants/shop/volume.yaml": document("Volume", "data", "size: 1Gi\nrestore: {snapshot: snap-1}")},
    )
    rendered_claim = next(o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim")
    assert rendered_claim.startswith("data-restore-")
    restored = document("Volume", rendered_claim, "size: 1Gi")
    files = {
        "tenants/shop/volume.yaml": document("Volume", "data", "size: 1Gi\nrestore: {snapshot: snap-1}"),
        "tenants/shop/copy.yaml": restored,
    }
    problems = render_problems(tmp_path / "b", files)
    assert [p.code for p in problems] == ["render.duplicate-object"]
    assert f"PersistentVolumeClaim/shop/{rendered_claim} is rendered twice" in problems[0].message


def test_names_that_only_collide_when_joined_stay_apart_in_their_own_namespaces(tmp_path: Path) -> None:
    # team + a-web and team-a + web: before, both egress halves landed in one namespace as
    # allow-egress-team-a-web-0. Now each half is in its own tenant's namespace.
    rule = "network:\n  - allow:\n      from: {{app: x}}\n      to: {{tenant: {target}}}"
    files = {
        "tenants/team/tenant.yaml": tenant("team"),
        "tenants/team/x.yaml": document("App", "x", WEB),
        "tenants/team/p.yaml": document("Policy", "a-web", rule.format(target="shop")),
        "tenants/team-a/tenant.yaml": tenant("team-a"),
        "tenants/team-a/x.yaml": document("App", "x", WEB),
        "tenants/team-a/p.yaml": document("Policy", "web", rule.format(target="shop")),
    }
    objects = render_repo(tmp_path, files)
    names = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == "NetworkPolicy"}
    assert {("team", "allow-a-web-0"), ("team-a", "allow-web-0")} <= names


def test_validate_reports_what_only_rendering_finds(tmp_path: Path) -> None:
    files = {"tenants/shop/api-headless.yaml": document("App", "api-headless", WEB)}
    result = load(tmp_path, files)
    assert result.model is not None
    checked = rendered(result)
    assert checked.model is None
    assert [p.code for p in checked.errors] == ["render.duplicate-object"]
