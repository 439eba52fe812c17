"""The catalog: every entry loads and renders, references resolve, wrong ones say what exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.cli import main
from daemon.loader import catalog
from daemon.loader.shapes import shapes
from daemon.render import render
from tests.loader.helpers import BASE, load, repo

APPS = {
    "tenants/shop/catalog.yaml": """
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata:
          name: db
        spec:
          template: catalog/postgres@1
          parameters: {volume: data, passwordSecret: db}
        ---
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata:
          name: cache
        spec:
          template: catalog/redis@1
        ---
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata:
          name: jobs
        spec:
          template: catalog/worker@1
          parameters: {image: "busybox:1.36", command: [sleep, "3600"]}
        ---
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata:
          name: svc
        spec:
          template: catalog/web-service@1
          parameters: {image: "nginx:1.27", domain: svc.example.com, replicas: 3}
        ---
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata:
          name: site
        spec:
          template: catalog/static-site@1
          parameters: {image: "nginx:1.27", domain: site.example.com, contentVolume: site}
        ---
        apiVersion: dockyard.dev/v1alpha1
        kind: Job
        metadata:
          name: nightly
        spec:
          template: catalog/cron-job@1
          parameters: {image: "busybox:1.36", schedule: "0 2 * * *", command: [sh, -c, "echo report"]}
          retries: 5
        """,
    "tenants/shop/site-volume.yaml": """
        apiVersion: dockyard.dev/v1alpha1
        kind: Volume
        metadata:
          name: site
        spec:
          size: 1Gi
          accessMode: ReadWriteMany
          storageClass: cephfs
        """,
}


def _objects(tmp_path: Path, files: dict[str, str]) -> dict[tuple[str, str], dict[str, object]]:
    result = load(tmp_path, {**BASE, **files})
    assert result.model is not None, [p.format() for p in result.errors]
    return {(o["kind"], o["metadata"]["name"]): o for o in render(result.model)}


def test_every_catalog_entry_renders_with_its_defaults(tmp_path: Path) -> None:
    base = {
        **BASE,
        "tenants/shop/tenant.yaml": BASE["tenants/shop/tenant.yaml"].replace("[ceph-rbd]", "[ceph-rbd, cephfs]"),
    }
    objects = _objects(tmp_path, {**base, **APPS})
    db = objects[("StatefulSet", "db")]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert db["image"] == "postgres:16"
    assert {"name": "POSTGRES_DB", "value": "app"} in db["env"]
    cache = objects[("Deployment", "cache")]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert cache["args"][cache["args"].index("--maxmemory") + 1] == "200mb"
    jobs = objects[("Deployment", "jobs")]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert jobs["command"] == ["sleep", "3600"] and "ports" not in jobs
    assert objects[("Deployment", "svc")]["spec"]["replicas"] == 3  # type: ignore[index]
    assert ("Ingress", "svc") in objects
    site = objects[("Deployment", "site")]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert site["ports"][0]["containerPort"] == 80  # static-site's default over web-service's 8080
    assert site["volumeMounts"][0]["readOnly"] is True
    nightly = objects[("CronJob", "nightly")]["spec"]  # type: ignore[index]
    assert (nightly["schedule"], nightly["timeZone"], nightly["concurrencyPolicy"]) == ("0 2 * * *", "UTC", "Forbid")
    assert nightly["startingDeadlineSeconds"] == 600
    run = nightly["jobTemplate"]["spec"]
    assert run["backoffLimit"] == 5 and run["activeDeadlineSeconds"] == 3600  # the Job's own field wins
    container = run["template"]["spec"]["containers"][0]
    assert container["command"] == ["sh", "-c", "echo report"] and "args" not in container
    assert container["resources"]["limits"]["memory"] == "128Mi"


def test_the_catalog_is_read_only_when_referenced(tmp_path: Path) -> None:
    result = load(tmp_path, BASE)
    assert result.model is not None and [t.metadata.name for t in result.model.templates] == ["web"]


@pytest.mark.parametrize(
    ("ref", "hint"),
    [
        ("catalog/postgres@9", "the catalog has no version 9 of postgres; it has catalog/postgres@1"),
        ("catalog/mysql@1", "the catalog has no template 'mysql'; it has: catalog/cron-job@1, catalog/postgres@1"),
    ],
)
def test_an_unknown_entry_says_what_the_catalog_has(tmp_path: Path, ref: str, hint: str) -> None:
    app = APPS["tenants/shop/catalog.yaml"].split("---")[1].replace("catalog/redis@1", ref)
    result = load(tmp_path, {**BASE, "tenants/shop/cache.yaml": app})
    [error] = result.errors
    assert (error.file, error.message) == ("tenants/shop/cache.yaml", f"unknown template '{ref}'")
    assert error.hint.startswith(hint)


def test_a_reference_that_is_not_a_catalog_ref_is_a_schema_error(tmp_path: Path) -> None:
    app = APPS["tenants/shop/catalog.yaml"].split("---")[1].replace("catalog/redis@1", "catalog/../../etc@1")
    result = load(tmp_path, {**BASE, "tenants/shop/cache.yaml": app})
    assert {e.path for e in result.errors} == {"$.spec.template"}  # the pattern, and no such template


def test_a_repo_template_extends_a_catalog_entry(tmp_path: Path) -> None:
    files = {
        "templates/api.yaml": """
            apiVersion: dockyard.dev/v1alpha1
            kind: Template
            metadata:
              name: api
            spec:
              extends: catalog/web-service@1
              parameters:
                properties:
                  port: {default: 9000}
              app:
                env:
                  - {name: MODE, value: api}
            """,
        "tenants/shop/orders.yaml": """
            apiVersion: dockyard.dev/v1alpha1
            kind: App
            metadata:
              name: orders
            spec:
              template: api
              parameters: {image: "busybox:1.36"}
            """,
    }
    container = _objects(tmp_path, files)[("Deployment", "orders")]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert container["ports"][0]["containerPort"] == 9000
    assert container["env"] == [{"name": "MODE", "value": "api"}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/"


def test_extending_an_unknown_catalog_version(tmp_path: Path) -> None:
    files = {
        "templates/api.yaml": """
            apiVersion: dockyard.dev/v1alpha1
            kind: Template
            metadata:
              name: api
            spec:
              extends: catalog/web-service@2
            """,
    }
    result = load(tmp_path, {**BASE, **files})
    [error] = result.errors
    assert error.file == "templates/api.yaml"
    assert error.hint == "the catalog has no version 2 of web-service; it has catalog/web-service@1"


def test_every_shipped_entry_is_documented() -> None:
    found, problems = shapes()
    assert problems == []
    assert set(found) == {f.ref for f in catalog.shipped()}
    assert {f.name for f in catalog.shipped()} == {
        "cron-job",
        "postgres",
        "redis",
        "static-site",
        "web-service",
        "worker",
    }
    for shape in found.values():
        assert shape.title and shape.description
        for name, schema in shape.parameters["properties"].items():
            assert schema.get("description"), (shape.name, name)


def test_template_list_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path, BASE)
    assert main(["template", "list", "--repo", str(root)]) == 0
    out = capsys.readouterr().out
    assert "catalog/postgres@1     PostgreSQL" in out and "\nweb" in out
    assert main(["template", "show", "postgres"]) == 0
    out = capsys.readouterr().out
    assert "  passwordSecret  string  required" in out
    assert "  database        string  default app" in out
    assert "value: ${database}" in out
    assert main(["template", "show", "catalog/static-site@1"]) == 0
    assert "extends: catalog/web-service@1" in capsys.readouterr().out
    assert main(["template", "list"]) == 0
    assert "catalog/cron-job@1     Cron job (a Job)" in capsys.readouterr().out
    assert main(["template", "show", "cron-job"]) == 0
    out = capsys.readouterr().out
    assert "parameters (spec.parameters of the Job):" in out and "schedule: ${schedule}" in out
    assert "  kind: Job\n  spec:\n    template: catalog/cron-job@1" in out


JOB_FROM_APP_TEMPLATE = """
    apiVersion: dockyard.dev/v1alpha1
    kind: Job
    metadata:
      name: oops
    spec:
      template: catalog/worker@1
      parameters: {image: "busybox:1.36"}
    """


def test_a_template_renders_one_kind(tmp_path: Path) -> None:
    # A Job made from an App's template, an App from a Job's: each says what the template renders.
    result = load(tmp_path, {**BASE, "tenants/shop/oops.yaml": JOB_FROM_APP_TEMPLATE})
    [error] = result.errors
    assert (error.file, error.message) == (
        "tenants/shop/oops.yaml",
        "template 'catalog/worker@1' renders an App, not a Job",
    )
    app = JOB_FROM_APP_TEMPLATE.replace("kind: Job", "kind: App").replace("worker@1", "cron-job@1")
    result = load(tmp_path / "b", {**BASE, "tenants/shop/oops.yaml": app})
    [error] = result.errors
    assert error.message == "template 'catalog/cron-job@1' renders a Job, not an App"
    # A repo template extending a Job's template with an App shape mixes the two.
    mixed = """
        apiVersion: dockyard.dev/v1alpha1
        kind: Template
        metadata:
          name: mixed
        spec:
          extends: catalog/cron-job@1
          app: {replicas: 2}
        """
    result = load(tmp_path / "c", {**BASE, "templates/mixed.yaml": mixed})
    [error] = result.errors
    assert error.file == "templates/mixed.yaml" and "mixes an App and a Job" in error.message
    # A Template has app or job, not both.
    both = mixed.replace("extends: catalog/cron-job@1", "job: {image: x}")
    result = load(tmp_path / "d", {**BASE, "templates/mixed.yaml": both})
    assert [e.file for e in result.errors] == ["templates/mixed.yaml"]


def test_a_job_template_without_its_required_parameter(tmp_path: Path) -> None:
    job = JOB_FROM_APP_TEMPLATE.replace("worker@1", "cron-job@1")
    result = load(tmp_path, {**BASE, "tenants/shop/oops.yaml": job})
    [error] = result.errors
    assert error.file == "tenants/shop/oops.yaml" and "schedule" in error.message


def test_template_show_of_an_unknown_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["template", "show", "redis@3"]) == 2
    err = capsys.readouterr().err
    assert "unknown template 'redis@3': the catalog has no version 3 of redis; it has catalog/redis@1" in err
