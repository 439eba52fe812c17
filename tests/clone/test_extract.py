"""``extract`` on objects as the API server returns them: what it writes, and what it reports."""

from __future__ import annotations

import copy
from typing import Any

from daemon.policy.extract import extract
from tests.clone.served import served


def _container(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox:1.36", "ports": [{"containerPort": 8080}], **fields}


def _deployment(name: str, template: dict[str, Any] | None = None, **pod: Any) -> dict[str, Any]:
    containers = pod.pop("containers", [_container(name)])
    spec = pod.pop("spec", {})
    return served(
        {
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}, **(template or {})},
                    "spec": {"containers": containers, **pod},
                },
                **spec,
            },
        }
    )


def _stateful_set(name: str, **spec: Any) -> dict[str, Any]:
    containers = spec.pop("containers", [_container(name)])
    return served(
        {
            "kind": "StatefulSet",
            "metadata": {"name": name},
            "spec": {
                "serviceName": name,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}},
                **spec,
            },
        }
    )


def _service(name: str, port: int, target: Any, **spec: Any) -> dict[str, Any]:
    ports = [{"port": port, "targetPort": target}]
    selector = spec.pop("selector", {"app": name})
    service = {"kind": "Service", "metadata": {"name": name}, "spec": {"selector": selector, "ports": ports, **spec}}
    return served(service)


def _spec(objects: list[dict[str, Any]], name: str = "api") -> dict[str, Any]:
    spec: dict[str, Any] = extract(objects).documents[f"apps/{name}.yaml"]["spec"]
    return spec


def _pod_of(workload: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = workload["spec"]["template"]["spec"]
    return pod


def test_an_app_with_a_service_on_its_port() -> None:
    out = extract([_deployment("api"), _service("api", 8080, 8080)])
    assert out.documents["apps/api.yaml"]["spec"] == {
        "image": "busybox:1.36",
        "replicas": 1,
        "ports": [{"name": "http", "port": 8080}],
    }
    assert out.unsupported == []


def test_what_cannot_be_expressed_is_reported_and_left_out() -> None:
    main = _container(
        "api",
        envFrom=[{"configMapRef": {"name": "settings"}}],
        lifecycle={"postStart": {"exec": {"command": ["warm-up"]}}},
        volumeMounts=[{"name": "host", "mountPath": "/host"}, {"name": "info", "mountPath": "/etc/podinfo"}],
    )
    objects = [
        _deployment("empty", containers=[]),
        _deployment(
            "api",
            containers=[main],
            affinity={"nodeAffinity": {}},
            priorityClassName="high",
            volumes=[{"name": "host", "hostPath": {"path": "/var"}}, {"name": "info", "downwardAPI": {"items": []}}],
        ),
        _service("api", 8080, 8080, sessionAffinity="ClientIP"),
        {"kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}},
    ]
    out = extract(objects)
    assert "apps/empty.yaml" not in out.documents
    assert out.unsupported == [
        "Deployment api: container api: envFrom cannot be expressed",
        "Deployment api: container api: volume host (hostPath) cannot be expressed; claims, scratch volumes "
        "(emptyDir) and ConfigMap or Secret files can",
        "Deployment api: container api: volume info (downwardAPI) cannot be expressed; claims, scratch volumes "
        "(emptyDir) and ConfigMap or Secret files can",
        "Deployment api: container api: lifecycle.postStart cannot be expressed",
        "Deployment api: spec.template.spec.affinity cannot be expressed",
        "Deployment api: spec.template.spec.priorityClassName cannot be expressed",
        "Service api: spec.sessionAffinity: 'ClientIP' cannot be expressed",
        "Deployment empty: spec.template.spec: no containers, so it is left out",
    ]


def test_grpc_http_and_startup_probes_with_their_timing() -> None:
    main = _container(
        "api",
        ports=[{"containerPort": 8080}, {"name": "grpc", "containerPort": 9090}],
        readinessProbe={"grpc": {"port": 9090, "service": "api.Health"}, "periodSeconds": 5},
        livenessProbe={
            "httpGet": {
                "path": "/healthz",
                "port": 8080,
                "scheme": "HTTPS",
                "httpHeaders": [{"name": "X-Probe", "value": "1"}],
            },
            "timeoutSeconds": 3,
            "successThreshold": 1,
        },
        startupProbe={"exec": {"command": ["check"]}, "failureThreshold": 30, "initialDelaySeconds": 2},
    )
    out = extract([_deployment("api", containers=[main])])
    assert out.documents["apps/api.yaml"]["spec"]["probes"] == {
        "readiness": {"grpc": "grpc", "grpcService": "api.Health", "periodSeconds": 5},
        "liveness": {
            "http": "/healthz",
            "port": "http",
            "scheme": "HTTPS",
            "headers": {"X-Probe": "1"},
            "timeoutSeconds": 3,
        },
        "startup": {"command": ["check"], "failureThreshold": 30, "initialDelaySeconds": 2},
    }
    assert out.unsupported == []


def test_a_readiness_probe_that_needs_several_successes_keeps_its_threshold() -> None:
    main = _container("api", readinessProbe={"tcpSocket": {"port": 8080}, "successThreshold": 2})
    assert _spec([_deployment("api", containers=[main])])["probes"] == {
        "readiness": {"tcp": "http", "successThreshold": 2}
    }


def test_a_service_port_other_than_the_container_port_is_its_service_port() -> None:
    out = extract([_deployment("api"), _service("api", 80, 8080)])
    assert out.documents["apps/api.yaml"]["spec"]["ports"] == [{"name": "http", "port": 8080, "servicePort": 80}]
    assert out.unsupported == []


def test_a_load_balancer_service_is_the_app_s_exposure() -> None:
    service = _service("api", 443, 8080, type="LoadBalancer", loadBalancerSourceRanges=["203.0.113.0/24"])
    out = extract([_deployment("api"), service])
    spec = out.documents["apps/api.yaml"]["spec"]
    assert spec["expose"] == {"type": "LoadBalancer", "sourceRanges": ["203.0.113.0/24"]}
    # The node port the API server allocated stays the cluster's choice behind a load balancer.
    assert spec["ports"] == [{"name": "http", "port": 8080, "servicePort": 443}]
    assert out.unsupported == []


def test_a_separate_node_port_service_keeps_its_node_port_and_name() -> None:
    service = _service("api-external", 8080, 8080, type="NodePort", selector={"app": "api"})
    service["spec"]["ports"][0]["nodePort"] = 30080
    out = extract([_deployment("api"), _service("api", 8080, 8080), service])
    spec = out.documents["apps/api.yaml"]["spec"]
    assert spec["expose"] == {"type": "NodePort", "service": "api-external"}
    assert spec["ports"] == [{"name": "http", "port": 8080, "nodePort": 30080}]
    assert out.unsupported == []


def test_services_dockyard_would_not_render_alike_are_reported() -> None:
    main = _container("api", ports=[{"containerPort": 8080}, {"name": "admin", "containerPort": 9000}])
    objects = [
        _deployment("api", containers=[main]),
        _service("api", 8080, 8080),
        _service("api-internal", 8080, 8080, selector={"app": "api"}),
        _service("api-headless", 8080, 8080, selector={"app": "api"}, clusterIP="None"),
    ]
    assert extract(objects).unsupported == [
        "Service api: the App's Service would also expose the container ports admin",
        "Service api-headless: clusterIP None (headless) cannot be expressed: Dockyard's headless Service is the "
        "stateful App's api-headless",
        "Service api-internal: its name cannot be expressed: the App's Service is api",
    ]


def test_empty_dirs_are_scratch_volumes() -> None:
    main = _container(
        "api", volumeMounts=[{"name": "cache", "mountPath": "/cache"}, {"name": "tmp", "mountPath": "/tmp"}]
    )
    volumes = [
        {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "tmp", "emptyDir": {}},
    ]
    out = extract([_deployment("api", containers=[main], volumes=volumes)])
    assert out.documents["apps/api.yaml"]["spec"]["volumes"] == [
        {"scratch": "cache", "mountPath": "/cache", "medium": "Memory", "sizeLimit": "64Mi"},
        {"scratch": "tmp", "mountPath": "/tmp"},
    ]
    assert out.unsupported == []


def test_config_map_and_secret_volumes_are_files() -> None:
    mounts = [
        {"name": "conf", "mountPath": "/etc/api/api.yaml", "subPath": "api.yaml", "readOnly": True},
        {"name": "conf", "mountPath": "/etc/api/conf.d/"},
        {"name": "tls", "mountPath": "/etc/tls"},
        {"name": "picked", "mountPath": "/etc/api/token", "subPath": "token"},
    ]
    volumes = [
        {"name": "conf", "configMap": {"name": "api-config"}},
        {"name": "tls", "secret": {"secretName": "api-tls", "defaultMode": 0o440}},
        {"name": "picked", "secret": {"secretName": "api-token", "items": [{"key": "value", "path": "token"}]}},
    ]
    out = extract([_deployment("api", containers=[_container("api", volumeMounts=mounts)], volumes=volumes)])
    assert out.documents["apps/api.yaml"]["spec"]["files"] == [
        {"path": "/etc/api/api.yaml", "configMap": {"name": "api-config", "key": "api.yaml"}},
        {"path": "/etc/api/conf.d", "configMap": {"name": "api-config"}},
        {"path": "/etc/tls", "secret": {"name": "api-tls"}, "mode": 0o440},
        {"path": "/etc/api/token", "secret": {"name": "api-token", "key": "value"}},
    ]
    assert out.unsupported == []


def test_files_the_format_cannot_say_are_reported() -> None:
    mounts = [{"name": "some", "mountPath": "/etc/some"}, {"name": "maybe", "mountPath": "/etc/maybe"}]
    volumes = [
        {"name": "some", "configMap": {"name": "a", "items": [{"key": "x", "path": "y"}]}},
        {"name": "maybe", "secret": {"secretName": "b", "optional": True}},
    ]
    out = extract([_deployment("api", containers=[_container("api", volumeMounts=mounts)], volumes=volumes)])
    assert out.documents["apps/api.yaml"]["spec"]["files"] == [{"path": "/etc/maybe", "secret": {"name": "b"}}]
    assert out.unsupported == [
        "Deployment api: container api: volume some: items cannot be expressed unless one is mounted by its path "
        "(subPath)",
        "Deployment api: container api: volume maybe: optional cannot be expressed (the secret must exist)",
    ]


def test_init_containers_and_native_sidecars() -> None:
    init = {"name": "migrate", "image": "api:2", "command": ["migrate"], "env": [{"name": "STEP", "value": "all"}]}
    proxy = {
        "name": "proxy",
        "image": "envoy:1.30",
        "restartPolicy": "Always",
        "ports": [{"name": "admin", "containerPort": 9901}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "admin"}},
        "resources": {"requests": {"cpu": "50m"}},
    }
    out = extract([_deployment("api", initContainers=[init, proxy])])
    spec = out.documents["apps/api.yaml"]["spec"]
    assert spec["initContainers"] == [
        {"name": "migrate", "image": "api:2", "command": ["migrate"], "env": [{"name": "STEP", "value": "all"}]}
    ]
    assert spec["sidecars"] == [
        {
            "name": "proxy",
            "image": "envoy:1.30",
            "ports": [{"name": "admin", "port": 9901}],
            "resources": {"cpu": "50m"},
            "probes": {"readiness": {"http": "/ready", "port": "admin"}},
        }
    ]
    assert out.unsupported == []


def test_a_second_container_becomes_a_sidecar_and_says_so() -> None:
    logs = {"name": "logs", "image": "fluent-bit:3", "ports": [{"containerPort": 2020}]}
    # The App's own container is the one named after the workload, wherever it is listed.
    out = extract([_deployment("api", containers=[logs, _container("api")])])
    spec = out.documents["apps/api.yaml"]["spec"]
    assert spec["image"] == "busybox:1.36"
    assert spec["sidecars"] == [
        {"name": "logs", "image": "fluent-bit:3", "ports": [{"name": "port-2020", "port": 2020}]}
    ]
    assert out.unsupported == [
        "Deployment api: container logs: made a sidecar, which Dockyard starts before the App's container and "
        "stops after it (a native sidecar)"
    ]


def test_the_default_container_annotation_names_the_app_s_container() -> None:
    containers = [{"name": "logs", "image": "fluent-bit:3"}, _container("server")]
    annotations = {"kubectl.kubernetes.io/default-container": "server"}
    spec = _spec([_deployment("api", template={"annotations": annotations}, containers=containers)])
    assert (spec["image"], [s["name"] for s in spec["sidecars"]]) == ("busybox:1.36", ["logs"])
    assert "podAnnotations" not in spec


def test_a_sidecar_listed_before_an_init_container_is_reported() -> None:
    proxy = {"name": "proxy", "image": "envoy:1.30", "restartPolicy": "Always"}
    init = {"name": "fetch", "image": "curl:8"}
    out = extract([_deployment("api", initContainers=[proxy, init])])
    assert out.unsupported == [
        "Deployment api: container proxy: starts before init containers here; Dockyard starts sidecars after them"
    ]


def test_pod_and_container_security_contexts() -> None:
    security = {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
        "runAsNonRoot": True,
    }
    pod = {
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 2000,
        "supplementalGroups": [3000],
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    out = extract([_deployment("api", containers=[_container("api", securityContext=security)], securityContext=pod)])
    assert out.documents["apps/api.yaml"]["spec"]["securityContext"] == {
        "fsGroup": 2000,
        "supplementalGroups": [3000],
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"add": ["NET_BIND_SERVICE"]},
    }
    assert out.unsupported == []


def test_a_container_that_drops_every_capability_adds_none_back() -> None:
    main = _container("api", securityContext={"capabilities": {"drop": ["ALL"]}})
    assert _spec([_deployment("api", containers=[main])])["securityContext"] == {"capabilities": {"add": []}}


def test_other_containers_keep_their_own_security_where_the_app_s_differs() -> None:
    main = _container("api", securityContext={"runAsUser": 10001, "readOnlyRootFilesystem": True})
    # runs as root: Dockyard adds runAsNonRoot to the pod of a non-root App, so it must say false
    root = {"name": "chown", "image": "busybox:1.36", "securityContext": {"runAsUser": 0}}
    image_user = {"name": "logs", "image": "fluent-bit:3"}
    out = extract([_deployment("api", containers=[main, image_user], initContainers=[root])])
    spec = out.documents["apps/api.yaml"]["spec"]
    assert spec["securityContext"] == {"runAsUser": 10001, "readOnlyRootFilesystem": True}
    assert spec["initContainers"][0]["securityContext"] == {
        "runAsUser": 0,
        "readOnlyRootFilesystem": False,
        "runAsNonRoot": False,
    }
    assert spec["sidecars"][0]["securityContext"] == {"readOnlyRootFilesystem": False}
    assert (
        "Deployment api: container logs: runs with the image's runAsUser, but the App's runAsUser 10001 would "
        "apply to it" in out.unsupported
    )


def test_a_sidecar_that_may_run_as_root_is_told_the_app_s_capabilities_would_apply() -> None:
    main = _container("api", securityContext={"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}})
    out = extract([_deployment("api", containers=[main, {"name": "agent", "image": "agent:1"}])])
    assert out.documents["apps/api.yaml"]["spec"]["sidecars"] == [{"name": "agent", "image": "agent:1"}]
    assert out.unsupported[1:] == [
        "Deployment api: container agent: runs with the default capabilities, but the App's capabilities.add "
        "['NET_BIND_SERVICE'] would apply to it"
    ]


def test_security_beyond_the_format_is_reported() -> None:
    main = _container(
        "api",
        securityContext={"privileged": True, "capabilities": {"add": ["NET_ADMIN", "CHOWN"]}, "seLinuxOptions": {}},
    )
    out = extract([_deployment("api", containers=[main], securityContext={"sysctls": [{"name": "a", "value": "1"}]})])
    assert out.documents["apps/api.yaml"]["spec"]["securityContext"] == {"capabilities": {"add": ["CHOWN"]}}
    assert out.unsupported == [
        "Deployment api: spec.template.spec.securityContext.sysctls cannot be expressed",
        "Deployment api: container api: securityContext.privileged cannot be expressed",
        "Deployment api: container api: securityContext.seLinuxOptions cannot be expressed",
        "Deployment api: container api: capability NET_ADMIN cannot be added (beyond Pod Security baseline)",
    ]


def test_service_account_pull_secrets_node_selector_and_tolerations() -> None:
    pod = {
        "serviceAccountName": "api",
        "serviceAccount": "api",
        "imagePullSecrets": [{"name": "regcred"}],
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "api", "effect": "NoSchedule"},
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 60,
            },
        ],
    }
    out = extract([_deployment("api", **pod)])
    spec = out.documents["apps/api.yaml"]["spec"]
    assert (spec["serviceAccount"], spec["imagePullSecrets"], spec["nodeSelector"]) == (
        "api",
        ["regcred"],
        {"disk": "ssd"},
    )
    assert spec["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "api", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "seconds": 60},
    ]
    assert out.unsupported == []


def test_the_default_account_is_not_written_and_its_token_is_reported() -> None:
    out = extract([_deployment("api", serviceAccountName="default", automountServiceAccountToken=True)])
    assert "serviceAccount" not in out.documents["apps/api.yaml"]["spec"]
    assert out.unsupported == [
        "Deployment api: spec.template.spec.automountServiceAccountToken: true cannot be expressed (without "
        "serviceAccount, Dockyard mounts no API token)"
    ]


def test_spreading_over_nodes_is_required_or_preferred() -> None:
    def spread(when: str) -> list[dict[str, Any]]:
        node = {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": when}
        return [{**node, "labelSelector": {"matchLabels": {"app": "api"}}}]

    zone = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "api"}},
        "matchLabelKeys": ["pod-template-hash"],
    }
    required = extract([_deployment("api", topologySpreadConstraints=[*spread("DoNotSchedule"), zone])])
    assert required.documents["apps/api.yaml"]["spec"]["spread"] == "required"
    # preferred is the default, and so is no spreading: the scheduler spreads replicas softly anyway
    preferred = extract([_deployment("api", topologySpreadConstraints=spread("ScheduleAnyway"))])
    assert "spread" not in preferred.documents["apps/api.yaml"]["spec"]
    assert required.unsupported == preferred.unsupported == []
    other = [{**spread("DoNotSchedule")[0], "maxSkew": 2}]
    assert extract([_deployment("api", topologySpreadConstraints=other)]).unsupported == [
        "Deployment api: spec.template.spec.topologySpreadConstraints cannot be expressed (spread: maxSkew 1 over "
        "nodes, zones preferred)"
    ]


def test_grace_period_pre_stop_and_pod_annotations() -> None:
    main = _container("api", lifecycle={"preStop": {"httpGet": {"path": "/drain", "port": 8080}}})
    annotations = {"prometheus.io/scrape": "true", "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}
    out = extract(
        [_deployment("api", template={"annotations": annotations}, containers=[main], terminationGracePeriodSeconds=60)]
    )
    spec = out.documents["apps/api.yaml"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == 60
    assert spec["preStop"] == {"http": "/drain", "port": "http"}
    assert spec["podAnnotations"] == {"prometheus.io/scrape": "true"}
    assert out.unsupported == []
    for hook, expected in (
        ({"sleep": {"seconds": 5}}, {"sleep": 5}),
        ({"exec": {"command": ["nginx", "-s", "quit"]}}, {"command": ["nginx", "-s", "quit"]}),
    ):
        stopping = _container("api", lifecycle={"preStop": hook})
        assert _spec([_deployment("api", containers=[stopping])])["preStop"] == expected


def test_env_from_pod_fields_working_dir_and_ephemeral_storage() -> None:
    main = _container(
        "api",
        workingDir="/srv",
        env=[
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "LABELS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token", "optional": True}}},
        ],
        resources={
            "requests": {"cpu": "100m", "ephemeral-storage": "1Gi"},
            "limits": {"ephemeral-storage": "2Gi", "nvidia.com/gpu": "1"},
        },
    )
    out = extract([_deployment("api", containers=[main])])
    spec = out.documents["apps/api.yaml"]["spec"]
    assert spec["workingDir"] == "/srv"
    assert spec["env"] == [{"name": "POD_IP", "field": "status.podIP"}]
    assert spec["resources"] == {"cpu": "100m", "ephemeralStorage": "1Gi", "limits": {"ephemeralStorage": "2Gi"}}
    assert out.unsupported == [
        "Deployment api: container api: env LABELS: fieldRef cannot be expressed",
        "Deployment api: container api: env TOKEN: secretKeyRef.optional cannot be expressed (the key must exist)",
        "Deployment api: container api: resources.limits.nvidia.com/gpu cannot be expressed",
    ]


def test_rollout_strategies_of_deployments_and_stateful_sets() -> None:
    recreate = _deployment("api", spec={"strategy": {"type": "Recreate"}})
    staged = _stateful_set("db", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    by_hand = _stateful_set("cache", updateStrategy={"type": "OnDelete"})
    out = extract([recreate, staged, by_hand])
    assert out.documents["apps/api.yaml"]["spec"]["strategy"] == {"type": "Recreate"}
    assert out.documents["apps/db.yaml"]["spec"]["strategy"] == {"partition": 2}
    assert out.documents["apps/cache.yaml"]["spec"]["strategy"] == {"type": "OnDelete"}
    assert out.unsupported == []


def test_workload_settings_without_a_field_are_reported() -> None:
    objects = [_deployment("api", spec={"minReadySeconds": 10}), _stateful_set("db", podManagementPolicy="Parallel")]
    assert extract(objects).unsupported == [
        "Deployment api: spec.minReadySeconds: 10 cannot be expressed",
        "StatefulSet db: spec.podManagementPolicy: 'Parallel' cannot be expressed",
    ]


def test_claim_templates_become_per_replica_volumes_that_keep_the_claims() -> None:
    container = _container("db", volumeMounts=[{"name": "data", "mountPath": "/data"}])
    template = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}},
    }
    workload = _stateful_set(
        "db",
        containers=[container],
        volumeClaimTemplates=[template],
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Retain"},
    )
    live_claim = served(
        {"kind": "PersistentVolumeClaim", "metadata": {"name": "data-db-0"}, "spec": copy.deepcopy(template["spec"])}
    )
    out = extract([workload, live_claim])
    assert out.documents["apps/db.yaml"]["spec"]["volumes"] == [{"volume": "data", "mountPath": "/data"}]
    assert out.documents["volumes/data.yaml"]["spec"] == {
        "size": "2Gi",
        "accessMode": "ReadWriteOnce",
        "perReplica": True,
        "deletionPolicy": "Delete",
    }
    # data-db-0 is replica 0's claim of that Volume: the same name, so the data stays
    assert "volumes/data-db-0.yaml" not in out.documents
    assert out.unsupported == []


def test_a_claim_template_whose_name_is_taken_gets_the_stateful_set_s() -> None:
    container = _container("db", volumeMounts=[{"name": "data", "mountPath": "/data"}])
    template = {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "2Gi"}}}}
    claim = served(
        {"kind": "PersistentVolumeClaim", "metadata": {"name": "data"}, "spec": copy.deepcopy(template["spec"])}
    )
    out = extract([_stateful_set("db", containers=[container], volumeClaimTemplates=[template]), claim])
    assert out.documents["apps/db.yaml"]["spec"]["volumes"] == [{"volume": "data-db", "mountPath": "/data"}]
    assert out.documents["volumes/data-db.yaml"]["spec"]["perReplica"] is True
    assert out.unsupported == [
        "StatefulSet db: volumeClaimTemplate data: the name is taken, so it became the Volume data-db (new "
        "claims: the data of data-db-N is not moved)"
    ]


def _job(name: str, **spec: Any) -> dict[str, Any]:
    pod = {
        "restartPolicy": spec.pop("restartPolicy", "Never"),
        "containers": [{"name": name, "image": "report:1", "args": ["--all"]}],
    }
    return served({"kind": "Job", "metadata": {"name": name}, "spec": {"template": {"spec": pod}, **spec}})


def _cron_job(name: str, schedule: str, **spec: Any) -> dict[str, Any]:
    job = {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": name, "image": "report:1"}]}}}
    job.update(spec.pop("job", {}))
    cron = {"schedule": schedule, "jobTemplate": {"spec": job}, **spec}
    return served({"kind": "CronJob", "metadata": {"name": name}, "spec": cron})


def test_a_job_becomes_a_one_off_job_that_says_it_runs_again() -> None:
    out = extract([_job("migrate", activeDeadlineSeconds=5400, completions=3, parallelism=2, backoffLimit=3)])
    assert out.documents["jobs/migrate.yaml"] == {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "Job",
        "metadata": {"name": "migrate"},
        "spec": {"image": "report:1", "args": ["--all"], "activeDeadline": "1h30m", "completions": 3, "parallelism": 2},
    }
    assert out.unsupported == [
        "Job migrate: a one-off Job runs again: Dockyard names it migrate-<digest of what it runs>, a new Job (add "
        "suspend: true to keep it from running)"
    ]
    # the API server's backoffLimit, 6, is carried over: Dockyard's default is 3
    suspended = extract([_job("migrate", suspend=True)])
    assert suspended.documents["jobs/migrate.yaml"]["spec"]["retries"] == 6
    assert suspended.documents["jobs/migrate.yaml"]["spec"]["suspend"] is True
    assert suspended.unsupported == []


def test_a_cron_job_becomes_a_scheduled_job_and_its_runs_are_left_alone() -> None:
    cron = _cron_job(
        "nightly",
        "30 4 * * *",
        timeZone="Europe/Berlin",
        startingDeadlineSeconds=600,
        successfulJobsHistoryLimit=5,
        job={"backoffLimit": 2, "ttlSecondsAfterFinished": 3600},
    )
    run = _job("nightly-29000000")
    run["metadata"]["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly"}]
    out = extract([cron, run])
    assert list(out.documents) == ["jobs/nightly.yaml"]
    assert out.documents["jobs/nightly.yaml"]["spec"] == {
        "image": "report:1",
        "schedule": "30 4 * * *",
        "timezone": "Europe/Berlin",
        # the API server's concurrencyPolicy and failed history are carried over: Dockyard's differ
        "concurrency": "Allow",
        "startingDeadline": "10m",
        "history": {"succeeded": 5, "failed": 1},
        "retries": 2,
        "restartPolicy": "OnFailure",
    }
    assert out.unsupported == ["CronJob nightly: spec.jobTemplate.spec.ttlSecondsAfterFinished cannot be expressed"]


def test_jobs_the_format_cannot_hold_are_left_out() -> None:
    objects = [
        _deployment("report"),
        _job("report"),
        _cron_job("hourly", "TZ=UTC 0 * * * *"),
        _job("x" * 55, suspend=True),
    ]
    out = extract(objects)
    assert list(out.documents) == ["apps/report.yaml"]
    assert out.unsupported == [
        "CronJob hourly: schedule 'TZ=UTC 0 * * * *' cannot be expressed (expected 5 fields (minute hour "
        "day-of-month month day-of-week), found 6), so it is left out",
        "Job report: App report has this name (their pods would share it), so it is left out",
        f"Job {'x' * 55}: the name is longer than 54 characters, the most a Dockyard Job takes; left out",
    ]


def test_one_app_only() -> None:
    out = extract([_deployment("a"), _deployment("b"), _job("c", suspend=True)], app="b")
    assert list(out.documents) == ["apps/b.yaml"]
    assert list(extract([_deployment("a"), _job("c", suspend=True)], app="c").documents) == ["jobs/c.yaml"]
    assert extract([_deployment("a")], app="zz").unsupported == [
        "no Deployment, StatefulSet, Job or CronJob zz in the namespace"
    ]
