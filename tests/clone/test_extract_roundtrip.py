"""``dockyard extract --repo`` round trip without a cluster: objects as the API server returns them
are listed through a stand-in for the Kubernetes client, written into a tenant of a copy of the
example repo, loaded by the real loader and rendered; what was rendered must say what the
objects said, field by field (the cluster version, ``test_extract_cluster.py``, applies them).

Both sides go through the same :func:`_shape`, which resolves what two objects may write
differently for the same pods: port names and numbers, defaults, the pod volume names Dockyard
gives files, a sidecar as a container or as a native one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.cli import main
from daemon.commands import extract as extract_command
from daemon.loader import load_or_raise
from daemon.model.labels import JOB_LABEL
from daemon.render import render
from tests.clone.helpers import example_repo
from tests.clone.served import served

TENANT = "legacy"
SMALL = {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"cpu": "50m", "memory": "64Mi"}}
LOCKED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}

WEB = {
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": {"app": "web"}, "annotations": {"prometheus.io/scrape": "true"}},
            "spec": {
                "serviceAccountName": "web",
                "imagePullSecrets": [{"name": "regcred"}],
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}],
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": {"matchLabels": {"app": "web"}},
                    }
                ],
                "terminationGracePeriodSeconds": 45,
                "securityContext": {
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    "runAsNonRoot": True,
                    "fsGroup": 2000,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "initContainers": [
                    {
                        "name": "schema",
                        "image": "web:2.4",
                        "command": ["web", "migrate"],
                        "resources": SMALL,
                        # root, to chown the uploads, so it must be let past the pod's runAsNonRoot
                        "securityContext": {**LOCKED, "runAsUser": 0, "runAsNonRoot": False},
                        "volumeMounts": [{"name": "uploads", "mountPath": "/uploads"}],
                    },
                    {
                        "name": "proxy",
                        "image": "envoy:1.30",
                        "restartPolicy": "Always",
                        "ports": [{"name": "admin", "containerPort": 9901}],
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": "admin"}, "periodSeconds": 5},
                        "resources": SMALL,
                        "securityContext": {**LOCKED, "readOnlyRootFilesystem": True},
                    },
                ],
                "containers": [
                    {
                        "name": "web",
                        "image": "web:2.4",
                        "args": ["serve"],
                        "workingDir": "/srv",
                        "ports": [{"containerPort": 8080}, {"name": "grpc", "containerPort": 9090}],
                        "env": [
                            {"name": "MODE", "value": "prod"},
                            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "web", "key": "token"}}},
                            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        ],
                        "resources": {
                            "requests": {"cpu": "50m", "memory": "64Mi", "ephemeral-storage": "1Gi"},
                            "limits": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "2Gi"},
                        },
                        "readinessProbe": {"grpc": {"port": 9090}, "periodSeconds": 5},
                        "livenessProbe": {
                            "httpGet": {
                                "path": "/healthz",
                                "port": 8080,
                                "scheme": "HTTPS",
                                "httpHeaders": [{"name": "X-Probe", "value": "liveness"}],
                            },
                            "timeoutSeconds": 3,
                            "failureThreshold": 5,
                        },
                        "startupProbe": {"tcpSocket": {"port": 8080}, "failureThreshold": 30},
                        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                        "securityContext": {
                            "readOnlyRootFilesystem": True,
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                        },
                        "volumeMounts": [
                            {"name": "tmp", "mountPath": "/tmp"},
                            {"name": "uploads", "mountPath": "/uploads"},
                            {"name": "config", "mountPath": "/etc/web/web.yaml", "subPath": "web.yaml"},
                            {"name": "tls", "mountPath": "/etc/tls", "readOnly": True},
                        ],
                    },
                    {
                        "name": "logs",
                        "image": "fluent-bit:3.1",
                        "ports": [{"name": "metrics", "containerPort": 2020}],
                        "resources": SMALL,
                        "securityContext": LOCKED,
                        "volumeMounts": [{"name": "tmp", "mountPath": "/var/log/web", "readOnly": True}],
                    },
                ],
                "volumes": [
                    {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                    {"name": "uploads", "persistentVolumeClaim": {"claimName": "uploads"}},
                    {"name": "config", "configMap": {"name": "web-config"}},
                    {"name": "tls", "secret": {"secretName": "web-tls", "defaultMode": 0o440}},
                ],
            },
        },
    },
}
DB = {
    "kind": "StatefulSet",
    "metadata": {"name": "db"},
    "spec": {
        "replicas": 2,
        "serviceName": "db-headless",
        "selector": {"matchLabels": {"app": "db"}},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
        "template": {
            "metadata": {"labels": {"app": "db"}},
            "spec": {
                "securityContext": {"runAsUser": 999, "runAsNonRoot": True, "fsGroup": 999},
                "containers": [
                    {
                        "name": "db",
                        "image": "postgres:16",
                        "ports": [{"name": "postgres", "containerPort": 5432}],
                        "env": [
                            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                            {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
                        ],
                        "resources": SMALL,
                        "securityContext": LOCKED,
                        "readinessProbe": {"exec": {"command": ["pg_isready", "-U", "postgres"]}},
                        "volumeMounts": [
                            {"name": "data", "mountPath": "/var/lib/postgresql/data", "subPath": "pgdata"}
                        ],
                    }
                ],
            },
        },
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "ceph-rbd",
                    "resources": {"requests": {"storage": "5Gi"}},
                },
            }
        ],
    },
}
MIGRATE = {
    "kind": "Job",
    "metadata": {"name": "migrate"},
    "spec": {
        "backoffLimit": 2,
        "activeDeadlineSeconds": 600,
        "completions": 4,
        "parallelism": 2,
        "template": {
            "spec": {
                "restartPolicy": "OnFailure",
                "containers": [
                    {
                        "name": "migrate",
                        "image": "web:2.4",
                        "args": ["migrate", "--all"],
                        "resources": SMALL,
                        "securityContext": {**LOCKED, "runAsUser": 10001, "runAsNonRoot": True},
                    }
                ],
            }
        },
    },
}
NIGHTLY = {
    "kind": "CronJob",
    "metadata": {"name": "nightly"},
    "spec": {
        "schedule": "30 4 * * *",
        "timeZone": "Europe/Berlin",
        # no concurrencyPolicy: the API server's Allow, which is not Dockyard's default
        "startingDeadlineSeconds": 600,
        "failedJobsHistoryLimit": 5,
        "jobTemplate": {
            "spec": {
                "backoffLimit": 1,
                "activeDeadlineSeconds": 3600,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "nodeSelector": {"kubernetes.io/os": "linux"},
                        "containers": [
                            {
                                "name": "nightly",
                                "image": "report:1.0",
                                "resources": SMALL,
                                "securityContext": LOCKED,
                                "volumeMounts": [{"name": "settings", "mountPath": "/etc/report"}],
                            }
                        ],
                        "volumes": [{"name": "settings", "configMap": {"name": "report", "defaultMode": 0o400}}],
                    }
                },
            }
        },
    },
}


def _service(name: str, ports: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    selector = {"app": name.removesuffix("-headless")}
    return {"kind": "Service", "metadata": {"name": name}, "spec": {"selector": selector, "ports": ports, **spec}}


SERVICES = [
    _service(
        "web",
        [
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "grpc", "port": 9090, "targetPort": "grpc"},
            {"name": "admin", "port": 9901, "targetPort": "admin"},
            {"name": "metrics", "port": 2020, "targetPort": "metrics"},
        ],
        type="LoadBalancer",
        loadBalancerSourceRanges=["203.0.113.0/24"],
    ),
    _service("db", [{"name": "postgres", "port": 5432, "targetPort": "postgres"}]),
    _service(
        "db-headless",
        [{"name": "postgres", "port": 5432, "targetPort": "postgres"}],
        clusterIP="None",
        publishNotReadyAddresses=True,
    ),
]
OTHERS = [
    {
        "kind": "Ingress",
        "metadata": {"name": "web"},
        "spec": {
            "rules": [
                {
                    "host": "web.legacy.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    },
    {
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "uploads"},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "cephfs",
            "resources": {"requests": {"storage": "2Gi"}},
        },
    },
    # the claims of the StatefulSet's replicas: its perReplica Volume makes the same ones
    *(
        {
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"data-db-{i}"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "ceph-rbd",
                "resources": {"requests": {"storage": "5Gi"}},
            },
        }
        for i in range(2)
    ),
    {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 4,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
    },
]
LIVE = [served(o) for o in (WEB, DB, MIGRATE, NIGHTLY, *SERVICES, *OTHERS)]


class _Lister:
    """What ``extract`` uses of the Kubernetes client, over a fixed list of objects."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects
        self.listed: list[str] = []

    def resource_type(self, api_version: str, kind: str) -> str:
        return kind

    def list_objects(self, rtype: str, *, namespace: str | None = None) -> list[dict[str, Any]]:
        self.listed.append(rtype)
        return [o for o in self.objects if o["kind"] == rtype and o["metadata"]["namespace"] == namespace]

    def close(self) -> None:
        pass


@pytest.fixture
def platform(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The example repo, whose platform lets Apps have LoadBalancers, with an empty tenant."""
    root = example_repo(tmp_path)
    text = (root / "platform.yaml").read_text()
    (root / "platform.yaml").write_text(
        text.replace("  tenancy:\n", "  tenancy:\n    allowedServiceTypes: [LoadBalancer, NodePort]\n", 1)
    )
    assert main(["new", "tenant", TENANT, "--repo", str(root)]) == 0
    capsys.readouterr()
    return root


def test_extracted_documents_load_and_render_back_the_same(
    platform: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lister = _Lister(LIVE)
    monkeypatch.setattr(extract_command, "kube_client", lambda args: lister)
    assert main(["extract", "--namespace", TENANT, "--repo", str(platform), "--tenant", TENANT]) == 0
    captured = capsys.readouterr()
    assert {"Job", "CronJob"} <= set(lister.listed)
    written = sorted(
        p.relative_to(platform / "tenants" / TENANT).as_posix() for p in (platform / "tenants" / TENANT).rglob("*.yaml")
    )
    assert written == [
        "apps/db.yaml",
        "apps/web.yaml",
        "autoscaling/web.yaml",
        "jobs/migrate.yaml",
        "jobs/nightly.yaml",
        "tenant.yaml",
        "volumes/data.yaml",
        "volumes/uploads.yaml",
    ]
    # Nothing of these objects is left out: the two lines say how Dockyard runs what it made.
    assert captured.err.splitlines()[1:] == [
        "  Deployment web: container logs: made a sidecar, which Dockyard starts before the App's container and "
        "stops after it (a native sidecar)",
        "  Job migrate: a one-off Job runs again: Dockyard names it migrate-<digest of what it runs>, a new Job (add "
        "suspend: true to keep it from running)",
    ]
    web = yaml.safe_load((platform / f"tenants/{TENANT}/apps/web.yaml").read_text())
    assert web["spec"]["sidecars"][1]["name"] == "logs"  # what the shapes below cannot tell apart

    model = load_or_raise(platform)
    rendered = [o for o in render(model, "rt") if o["metadata"].get("namespace") == TENANT]
    # The replicas' claims are the StatefulSet's to make, from its claim template (compared there).
    original = _shape(o for o in LIVE if not o["metadata"]["name"].startswith("data-db-"))
    copy = _shape(rendered)
    assert set(copy) == set(original)
    for key in original:
        assert copy[key] == original[key], key


def test_an_app_extracted_as_a_template_renders_what_it_extracted(
    platform: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(extract_command, "kube_client", lambda args: _Lister(LIVE))
    args = ["extract", "--namespace", TENANT, "--app", "web", "--repo", str(platform), "--tenant", TENANT]
    assert main([*args, "--template", "web-copy"]) == 0
    assert "wrote templates/web-copy.yaml" in capsys.readouterr().out
    template = yaml.safe_load((platform / "templates/web-copy.yaml").read_text())
    app = yaml.safe_load((platform / f"tenants/{TENANT}/apps/web.yaml").read_text())
    assert app["spec"]["template"] == "web-copy"
    assert set(app["spec"]["parameters"]) <= {"image", "replicas", "cpu", "memory", "domains"}
    assert template["spec"]["app"]["image"] == "${image}"
    assert template["spec"]["parameters"]["required"] == ["image"]
    rendered = [o for o in render(load_or_raise(platform), "rt") if o["metadata"].get("namespace") == TENANT]
    original = _shape(o for o in LIVE if o["metadata"]["name"] == "web" or o["kind"] == "Ingress")
    copy = _shape(rendered)
    for key in ("Deployment/web", "Service/web"):
        assert copy[key] == original[key], key
    # A second copy from the template with only its image and domains (the rest defaults).
    (platform / f"tenants/{TENANT}/apps/web2.yaml").write_text(
        "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata: {name: web2}\n"
        "spec: {template: web-copy, parameters: {image: 'nginx:1.28', domains: [two.example.com]}}\n"
    )
    model = load_or_raise(platform)
    [web2] = [a for a in model.apps if a.name == "web2"]
    [web] = [a for a in model.apps if a.name == "web" and a.tenant == TENANT]
    assert (web2.image, web2.domains, web2.replicas, web2.resources) == (
        "nginx:1.28",
        ("two.example.com",),
        web.replicas,
        web.resources,
    )
    # Never over a file without --force, and --template needs --app.
    assert main([*args, "--template", "web-copy"]) == 1
    assert "exists; nothing was written" in capsys.readouterr().err
    assert main(["extract", "--namespace", TENANT, "--template", "x"]) == 2
    assert "--template NAME makes a template of one app" in capsys.readouterr().err


# --- what both sides must agree on -------------------------------------------------------------


def _shape(objects: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """By kind and name: workloads' pods and rollout, Services, claims, HPAs and Ingress hosts."""
    out: dict[str, Any] = {}
    objects = list(objects)
    # An HPA owns its workload's replicas (Dockyard leaves them out of the workload then).
    scaled = {o["spec"]["scaleTargetRef"]["name"] for o in objects if o["kind"] == "HorizontalPodAutoscaler"}
    for obj in objects:
        kind, spec, name = obj["kind"], obj.get("spec") or {}, _key(obj)
        if kind == "Deployment":
            replicas = "the HPA's" if name in scaled else spec["replicas"]
            out[f"Deployment/{name}"] = (replicas, _strategy(spec["strategy"]), _pod(spec["template"]))
        elif kind == "StatefulSet":
            claims = [(_claim(t["spec"]), t["metadata"]["name"]) for t in spec["volumeClaimTemplates"]]
            partition = spec.get("updateStrategy", {}).get("rollingUpdate", {}).get("partition", 0)
            out[f"StatefulSet/{name}"] = (
                (spec["replicas"], spec["serviceName"], partition),
                claims,
                spec["persistentVolumeClaimRetentionPolicy"],
                _pod(spec["template"]),
            )
        elif kind == "Job":
            out[f"Job/{name}"] = _job(spec)
        elif kind == "CronJob":
            keys = ("schedule", "timeZone", "concurrencyPolicy", "startingDeadlineSeconds", "suspend")
            history = (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"])
            out[f"CronJob/{name}"] = ({k: spec.get(k) for k in keys}, history, _job(spec["jobTemplate"]["spec"]))
        elif kind == "Service":
            out[f"Service/{name}"] = _service_shape(spec)
        elif kind == "PersistentVolumeClaim":
            out[f"PersistentVolumeClaim/{name}"] = _claim(spec)
        elif kind == "HorizontalPodAutoscaler":
            target = spec["scaleTargetRef"]["name"]
            out[f"HorizontalPodAutoscaler/{name}"] = (target, spec["minReplicas"], spec["maxReplicas"], spec["metrics"])
        elif kind == "Ingress":
            out[f"Ingress/{name}"] = sorted(r["host"] for r in spec["rules"])
    return out


def _key(obj: Mapping[str, Any]) -> str:
    # A one-off Job renders as <name>-<digest>; its label keeps the document's name.
    return str((obj["metadata"].get("labels") or {}).get(JOB_LABEL, obj["metadata"]["name"]))


def _strategy(strategy: Mapping[str, Any]) -> Any:
    return (strategy.get("type", "RollingUpdate"), strategy.get("rollingUpdate"))


def _claim(spec: Mapping[str, Any]) -> Any:
    return (spec["resources"]["requests"]["storage"], spec.get("storageClassName"), spec["accessModes"])


def _job(spec: Mapping[str, Any]) -> Any:
    completions = spec.get("completions", 1 if spec.get("parallelism") is None else None)
    run = (spec.get("backoffLimit", 6), spec.get("activeDeadlineSeconds"), completions, spec.get("parallelism", 1))
    return (run, bool(spec.get("suspend")), _pod(spec["template"]))


def _service_shape(spec: Mapping[str, Any]) -> Any:
    ports = sorted(
        (p["port"], p["protocol"], p.get("nodePort") if spec.get("type") == "NodePort" else None) for p in spec["ports"]
    )
    return (spec.get("type", "ClusterIP"), spec.get("clusterIP") == "None", ports, spec.get("loadBalancerSourceRanges"))


def _pod(template: Mapping[str, Any]) -> dict[str, Any]:
    pod, meta = template["spec"], template.get("metadata") or {}
    security = pod.get("securityContext") or {}
    volumes = {v["name"]: v for v in pod.get("volumes") or ()}
    inits = [c for c in pod.get("initContainers") or () if c.get("restartPolicy") != "Always"]
    # Sidecars run for the pod's life as regular containers or as native ones alike.
    running = [*pod["containers"], *(c for c in pod.get("initContainers") or () if c.get("restartPolicy") == "Always")]
    # What binds the scheduler: Dockyard's preferences (spread: preferred, its default, and a zone
    # preference) are soft, like the scheduler's own default spreading of pods without constraints.
    spread = [
        (c["topologyKey"], c["maxSkew"])
        for c in pod.get("topologySpreadConstraints") or ()
        if c["whenUnsatisfiable"] == "DoNotSchedule"
    ]
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith("dockyard.dev/")}
    return {
        "init": [(c["name"], _container(c, security, volumes)) for c in inits],
        "running": sorted((c["name"], _container(c, security, volumes)) for c in running),
        "account": pod.get("serviceAccountName", "default"),
        "pullSecrets": [s["name"] for s in pod.get("imagePullSecrets") or ()],
        "nodeSelector": pod.get("nodeSelector"),
        "tolerations": [{"operator": "Equal", **t} for t in pod.get("tolerations") or ()],
        "spread": spread,
        "grace": pod.get("terminationGracePeriodSeconds", 30),
        "groups": (security.get("fsGroup"), security.get("supplementalGroups")),
        "restartPolicy": pod.get("restartPolicy", "Always"),
        "annotations": annotations,
    }


def _container(c: Mapping[str, Any], pod_security: Mapping[str, Any], volumes: Mapping[str, Any]) -> dict[str, Any]:
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or ()}
    return {
        "image": c["image"],
        "command": c.get("command"),
        "args": c.get("args"),
        "workingDir": c.get("workingDir"),
        "env": [_env(v) for v in c.get("env") or ()],
        "ports": sorted((p["containerPort"], p.get("protocol", "TCP")) for p in c.get("ports") or ()),
        "resources": c.get("resources"),
        "probes": {k: _probe(c[k], ports) for k in ("readinessProbe", "livenessProbe", "startupProbe") if k in c},
        "preStop": _probe((c.get("lifecycle") or {}).get("preStop") or {}, ports),
        "mounts": sorted(_mount(m, volumes.get(m["name"])) for m in c.get("volumeMounts") or ()),
        "security": _security(c.get("securityContext") or {}, pod_security),
    }


def _env(var: Mapping[str, Any]) -> Any:
    source = dict(var.get("valueFrom") or {})
    if "fieldRef" in source:
        source["fieldRef"] = {"apiVersion": "v1", **source["fieldRef"]}
    return (var["name"], var.get("value"), source)


def _probe(probe: Mapping[str, Any], ports: Mapping[Any, int]) -> dict[str, Any]:
    """A probe (or hook) with its defaults written out and its port as a number."""
    if not probe:
        return {}
    out = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3, **probe}
    for handler in ("httpGet", "tcpSocket", "grpc"):
        if handler in out:
            action = dict(out[handler])
            action["port"] = ports.get(action["port"], action["port"])
            if handler == "httpGet":
                action = {"path": "/", "scheme": "HTTP", **action}
            if handler == "grpc":
                action = {"service": "", **action}
            out[handler] = action
    return out


def _mount(mount: Mapping[str, Any], volume: Mapping[str, Any] | None) -> Any:
    """(path, what is mounted, sub path, read-only): ConfigMap and Secret volumes always are."""
    if volume is None:
        source: tuple[Any, ...] = ("claim template", mount["name"])  # a StatefulSet's, by its name
    elif "persistentVolumeClaim" in volume:
        source = ("claim", volume["persistentVolumeClaim"]["claimName"])
    elif "emptyDir" in volume:
        source = ("emptyDir", volume["emptyDir"].get("medium", ""), volume["emptyDir"].get("sizeLimit"))
    elif "configMap" in volume:
        source = ("configMap", volume["configMap"]["name"], volume["configMap"].get("defaultMode", 420))
    else:
        source = ("secret", volume["secret"]["secretName"], volume["secret"].get("defaultMode", 420))
    read_only = source[0] in ("configMap", "secret") or bool(mount.get("readOnly"))
    return (mount["mountPath"], source, mount.get("subPath"), read_only)


def _security(own: Mapping[str, Any], pod: Mapping[str, Any]) -> dict[str, Any]:
    """What the container runs with: its own identity or the pod's, its root and capabilities."""
    capabilities = own.get("capabilities") or {}
    return {
        "runAsUser": own.get("runAsUser", pod.get("runAsUser")),
        "runAsGroup": own.get("runAsGroup", pod.get("runAsGroup")),
        "runAsNonRoot": bool(own.get("runAsNonRoot", pod.get("runAsNonRoot"))),
        "readOnlyRootFilesystem": bool(own.get("readOnlyRootFilesystem")),
        "allowPrivilegeEscalation": own.get("allowPrivilegeEscalation"),
        "capabilities": (sorted(capabilities.get("drop") or ()), sorted(capabilities.get("add") or ())),
    }
