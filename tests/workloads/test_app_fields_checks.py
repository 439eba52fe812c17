"""App fields beyond a simple web app: every bad input is refused at its line, with what is allowed."""

from __future__ import annotations

from pathlib import Path

from tests.loader.helpers import BASE, errors, line_of, load, text, warnings

HEAD = "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata:\n  name: {name}\n"


def app(name: str, body: str) -> str:
    return HEAD.format(name=name) + text(body)


def test_a_valid_app_with_every_new_field_loads(tmp_path: Path) -> None:
    content = app(
        "shopfront",
        """
        spec:
          image: example/shopfront:1.0
          workingDir: /app
          ports:
            - {name: http, port: 8080, servicePort: 80}
            - {name: grpc, port: 9555}
          env:
            - {name: POD_IP, field: status.podIP}
          probes:
            readiness: {http: /_healthz, port: http, headers: {Cookie: "id=probe"}, timeoutSeconds: 2}
            liveness: {grpc: grpc, grpcService: shop.Front}
            startup: {tcp: 8080, failureThreshold: 30}
          volumes:
            - {scratch: tmp, mountPath: /tmp, sizeLimit: 64Mi}
          files:
            - {path: /etc/shop/config.yaml, content: "a: 1\\n"}
            - {path: /etc/tls, secret: {name: shop-tls}, mode: 0400}
          initContainers:
            - name: migrate
              image: example/migrate:1.0
              volumes: [{scratch: tmp, mountPath: /work}]
          sidecars:
            - name: exporter
              image: example/exporter:1.0
              ports: [{name: metrics, port: 9100}]
              probes: {readiness: {http: /metrics, port: metrics}}
          securityContext: {runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, readOnlyRootFilesystem: true}
          serviceAccount: shopfront
          imagePullSecrets: [registry]
          nodeSelector: {kubernetes.io/os: linux}
          tolerations: [{key: dedicated, value: shop, effect: NoSchedule}]
          spread: required
          terminationGracePeriodSeconds: 5
          preStop: {sleep: 5}
        """,
    )
    result = load(tmp_path, {"tenants/shop/shopfront.yaml": content})
    assert errors(result) == []
    assert result.model is not None
    front = next(a for a in result.model.apps if a.name == "shopfront")
    assert front.ports[0].exposed == 80
    assert front.sidecars[0].ports[0].port == 9100
    assert front.security is not None and front.security.fs_group == 10001
    assert front.files[1].mode == 0o400


def test_container_names_ports_and_mount_paths_clash(tmp_path: Path) -> None:
    content = app(
        "webby",
        """
        spec:
          image: nginx:1.27
          ports:
            - {name: http, port: 8080, servicePort: 80}
            - {name: admin, port: 8081, servicePort: 80}
          volumes:
            - {scratch: cache, mountPath: /var/cache}
          files:
            - {path: /var/cache, content: x}
          sidecars:
            - name: webby
              image: busybox:1.36
            - name: log
              image: busybox:1.36
              ports: [{name: http, port: 8080}]
          initContainers:
            - name: log
              image: busybox:1.36
        """,
    )
    result = load(tmp_path, {"tenants/shop/web2.yaml": content})
    path = "tenants/shop/web2.yaml"
    assert errors(result) == [
        (path, line_of(content, "admin"), "Service port 80 is used twice"),
        (path, line_of(content, "- {path: /var/cache"), "mount path '/var/cache' is used twice"),
        (
            path,
            line_of(content, "- name: webby"),
            "container name 'webby' is used twice in the pod: the App's own container has its name",
        ),
        (
            path,
            line_of(content, "- name: log"),
            "container name 'log' is used twice in the pod: init container 'log' has it too",
        ),
        (path, line_of(content, "ports: [{name: http"), "port name 'http' is used twice"),
        (path, line_of(content, "ports: [{name: http"), "port 8080 is listed twice (also by this App)"),
    ]


def test_probe_ports_must_be_ports_of_their_own_container(tmp_path: Path) -> None:
    content = app(
        "api2",
        """
        spec:
          image: example/api:1.0
          ports: [{name: grpc, port: 9555}]
          probes:
            readiness: {grpc: grcp}
          sidecars:
            - name: proxy
              image: envoyproxy/envoy:v1.30.1
              probes:
                liveness: {http: /ready, port: grpc}
          preStop: {http: /drain, port: admin}
        """,
    )
    result = load(tmp_path, {"tenants/shop/api2.yaml": content})
    path = "tenants/shop/api2.yaml"
    assert errors(result) == [
        (path, line_of(content, "readiness"), "probe port 'grcp' is not a port of this App"),
        (path, line_of(content, "liveness"), "probe port 'grpc' is not a port of sidecar 'proxy'"),
        (path, line_of(content, "preStop"), "preStop port 'admin' is not a port of this App"),
    ]
    assert result.errors[0].hint == "did you mean 'grpc'?"
    assert result.errors[1].hint == "declare it in ports"


def test_scratch_volumes_and_volumes(tmp_path: Path) -> None:
    content = app(
        "cache",
        """
        spec:
          image: redis:7.2
          volumes:
            - {volume: data, mountPath: /data, sizeLimit: 1Gi}
            - {scratch: data, mountPath: /scratch}
            - {scratch: dockyard-files, mountPath: /x}
            - {scratch: tmp, mountPath: /tmp, medium: Memory}
          sidecars:
            - name: dump
              image: redis:7.2
              volumes:
                - {scratch: tmp, mountPath: /tmp, sizeLimit: 1Mi}
                - {volume: dat, mountPath: /backup}
        """,
    )
    result = load(tmp_path, {"tenants/shop/cache.yaml": content})
    path = "tenants/shop/cache.yaml"
    assert errors(result) == [
        (path, line_of(content, "sizeLimit: 1Gi"), "sizeLimit applies to scratch volumes only"),
        (path, line_of(content, "scratch: data"), "'data' names both a scratch volume and a Volume in this pod"),
        (
            path,
            line_of(content, "dockyard-files"),
            "volume name 'dockyard-files' starts with 'dockyard-', which Dockyard reserves",
        ),
        (
            path,
            line_of(content, "sizeLimit: 1Mi"),
            "scratch volume 'tmp' is declared with other options than where this App mounts it",
        ),
        (path, line_of(content, "volume: dat,"), "volume 'dat' does not exist in tenant 'shop'"),
    ]
    # The Volume of another App is still shared as it was (a warning for ReadWriteOnce), not an error.
    assert (
        "tenants/shop/cache.yaml",
        line_of(content, "volume: data"),
        "volume 'data' is ReadWriteOnce and already mounted by App 'api'",
    ) in warnings(result)


def test_inline_files_share_one_config_map_of_bounded_size(tmp_path: Path) -> None:
    big = "x" * 250_100
    content = app(
        "site",
        "spec:\n  image: nginx:1.27\n  files:\n"
        + "".join(f"    - path: /srv/f{i}\n      content: {big}\n" for i in range(4))
        + "    - {path: /a/b_c, content: one}\n    - {path: /a_b/c, content: two}\n",
    )
    result = load(tmp_path, {"tenants/shop/site.yaml": content})
    path = "tenants/shop/site.yaml"
    assert errors(result) == [
        (
            path,
            line_of(content, "path: /srv/f3") + 1,
            "the inline files of this App hold more than 1000000 bytes; a ConfigMap takes no more",
        ),
    ]
    small = app(
        "site",
        "spec:\n  image: nginx:1.27\n  files:\n    - {path: /a/b_c, content: one}\n"
        "    - {path: /a_b/c, content: two}\n",
    )
    result = load(tmp_path / "2", {"tenants/shop/site.yaml": small})
    assert errors(result) == [
        (path, 9, "files '/a/b_c' and '/a_b/c' would share the key 'a_b_c' of the App's ConfigMap"),
    ]


def test_exposure_is_decided_by_the_platform(tmp_path: Path) -> None:
    content = app(
        "edge",
        """
        spec:
          image: nginx:1.27
          ports: [{name: http, port: 8080, nodePort: 30080}]
          expose: {type: NodePort, sourceRanges: [10.0.0.0/8]}
        """,
    )
    result = load(tmp_path, {"tenants/shop/edge.yaml": content})
    path = "tenants/shop/edge.yaml"
    assert errors(result) == [
        (path, line_of(content, "expose"), "the platform does not allow NodePort Services"),
        (path, line_of(content, "expose"), "sourceRanges apply to LoadBalancer Services only"),
    ]
    assert result.errors[0].hint.startswith("allowed: none (spec.tenancy.allowedServiceTypes in platform.yaml)")

    platform = text(BASE["platform.yaml"]) + "  tenancy:\n    allowedServiceTypes: [NodePort, LoadBalancer]\n"
    other = app(
        "edge",
        """
        spec:
          image: nginx:1.27
          ports: [{name: http, port: 80, nodePort: 30080}]
          expose: {type: LoadBalancer, service: front}
        """,
    )
    plain = app("plain", "spec:\n  image: nginx:1.27\n  ports: [{name: http, port: 80, nodePort: 30081}]\n")
    result = load(
        tmp_path / "2",
        {
            "platform.yaml": platform,
            "tenants/shop/edge.yaml": content.replace(", sourceRanges: [10.0.0.0/8]", ""),
            "tenants/other/edge.yaml": other,
            "tenants/shop/plain.yaml": plain,
        },
    )
    assert errors(result) == [
        ("tenants/other/edge.yaml", line_of(other, "expose"), "Service 'front' is already the Service of App 'front'"),
        (
            "tenants/shop/edge.yaml",
            line_of(content, "nodePort"),
            "node port 30080 is already taken by App 'other/edge'",
        ),
        ("tenants/shop/plain.yaml", 7, "nodePort needs spec.expose (NodePort or LoadBalancer)"),
    ]


def test_restricted_tenants_and_host_level_settings(tmp_path: Path) -> None:
    tenant = text(BASE["tenants/shop/tenant.yaml"]) + "  podSecurity: restricted\n"
    content = app(
        "tool",
        """
        spec:
          image: example/tool:1.0
          securityContext: {runAsUser: 0, capabilities: {add: [CHOWN, NET_BIND_SERVICE]}}
          sidecars:
            - name: helper
              image: example/helper:1.0
              securityContext: {allowPrivilegeEscalation: true}
          hostNetwork: true
        """,
    )
    result = load(tmp_path, {"tenants/shop/tenant.yaml": tenant, "tenants/shop/tool.yaml": content})
    path = "tenants/shop/tool.yaml"
    assert errors(result) == [
        (path, line_of(content, "hostNetwork"), "'hostNetwork' is a host-level setting; tenants can never set it"),
    ]
    result = load(
        tmp_path / "2",
        {"tenants/shop/tenant.yaml": tenant, "tenants/shop/tool.yaml": content.replace("  hostNetwork: true\n", "")},
    )
    line = line_of(content, "securityContext: {runAsUser")
    assert errors(result) == [
        (path, line, "runAsUser 0 runs as root"),
        (path, line, "capability CHOWN cannot be added"),
        (path, line_of(content, "allowPrivilegeEscalation"), "privilege escalation cannot be allowed"),
    ]
    assert result.errors[1].hint == (
        "tenant 'shop' enforces the restricted Pod Security level: only NET_BIND_SERVICE may be added"
    )
    privileged = content.replace("{allowPrivilegeEscalation: true}", "{privileged: true}")
    result = load(tmp_path / "3", {"tenants/shop/tool.yaml": privileged.replace("  hostNetwork: true\n", "")})
    assert errors(result) == [
        (path, line_of(privileged, "privileged"), "'privileged' is a host-level setting; tenants can never set it"),
    ]


def test_a_template_can_say_everything_an_app_can() -> None:
    from daemon.loader.schemas import schema

    app = set(schema("App")["properties"]["spec"]["properties"]) - {"template", "parameters"}
    template = set(schema("Template")["properties"]["spec"]["properties"]["app"]["properties"])
    assert template == app


def test_pod_annotations_stay_out_of_dockyards_prefix(tmp_path: Path) -> None:
    content = app("meshed", "spec:\n  image: nginx:1.27\n  podAnnotations: {dockyard.dev/files-digest: x, a.io/b: c}\n")
    result = load(tmp_path, {"tenants/shop/meshed.yaml": content})
    # The same guardrail as for the App's own annotations (spec.tenancy.annotations).
    assert errors(result) == [
        ("tenants/shop/meshed.yaml", 7, "annotation 'dockyard.dev/files-digest' is reserved for Dockyard"),
        ("tenants/shop/meshed.yaml", 7, "annotation 'a.io/b' is not allowed on App documents"),
    ]
    from daemon.render import render

    rule = "  tenancy:\n    annotations:\n      - {kinds: [App], prefixes: [a.io/]}\n"
    files = {
        "platform.yaml": text(BASE["platform.yaml"]) + rule,
        "tenants/shop/meshed.yaml": content.replace("dockyard.dev/files-digest: x, ", ""),
    }
    ok = load(tmp_path / "2", files)
    assert ok.model is not None
    deployment = next(
        o for o in render(ok.model, "r") if o["kind"] == "Deployment" and o["metadata"]["name"] == "meshed"
    )
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {"a.io/b": "c"}
    assert "a.io/b" not in deployment["metadata"]["annotations"]
