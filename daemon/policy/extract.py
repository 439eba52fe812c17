"""Dockyard documents from the objects of a running namespace (pure): ``dockyard extract``.

Reads Deployments and StatefulSets (one App each), the Services that select their pods and the
Ingresses in front of those Services (the App's ports and domains), PersistentVolumeClaims
(Volumes), HorizontalPodAutoscalers (Autoscaling) and ConfigMaps. Whatever the format cannot
say is reported, object by object, in ``unsupported`` and left out: nothing is guessed. Values
the API server fills in by default (``imagePullPolicy``, ``dnsPolicy``, ...) are not reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from daemon import API_VERSION

_POD_FIELDS: Final = {
    "containers",
    "volumes",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "dnsPolicy",
    "schedulerName",
    "securityContext",
    "serviceAccountName",
    "serviceAccount",
}
_POD_DEFAULTS: Final[Mapping[str, Any]] = {
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "schedulerName": "default-scheduler",
    "securityContext": {},
    "serviceAccountName": "default",
    "serviceAccount": "default",
}
_CONTAINER_FIELDS: Final = {
    "name",
    "image",
    "command",
    "args",
    "ports",
    "env",
    "resources",
    "readinessProbe",
    "livenessProbe",
    "startupProbe",
    "volumeMounts",
    "imagePullPolicy",
    "terminationMessagePath",
    "terminationMessagePolicy",
}
_PROBE_DEFAULTS: Final[Mapping[str, Any]] = {"timeoutSeconds": 1, "successThreshold": 1}
_CONFIGMAPS_IGNORED: Final = frozenset({"kube-root-ca.crt"})


@dataclass
class Extracted:
    #: path inside the tenant's folder -> the document
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: what could not be expressed, one line per object and field
    unsupported: list[str] = field(default_factory=list)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name") or "")


def _doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}


class _Reader:
    def __init__(self, objects: Sequence[Mapping[str, Any]]) -> None:
        self.by_kind: dict[str, list[Mapping[str, Any]]] = {}
        for obj in objects:
            self.by_kind.setdefault(str(obj.get("kind")), []).append(obj)
        self.out = Extracted()

    def kind(self, kind: str) -> list[Mapping[str, Any]]:
        return sorted(self.by_kind.get(kind, []), key=_name)

    def report(self, obj: Mapping[str, Any], what: str) -> None:
        self.out.unsupported.append(f"{obj.get('kind')} {_name(obj)}: {what}")

    # --- workloads --------------------------------------------------------------------------

    def services_of(self, labels: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        found = []
        for service in self.kind("Service"):
            selector = (service.get("spec") or {}).get("selector") or {}
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                found.append(service)
        return found

    def app(self, workload: Mapping[str, Any], claims: set[str]) -> dict[str, Any] | None:
        spec = workload.get("spec") or {}
        template = spec.get("template") or {}
        pod = template.get("spec") or {}
        containers = pod.get("containers") or []
        if len(containers) != 1:
            self.report(workload, f"{len(containers)} containers; an App has exactly one, so it is left out")
            return None
        for key, value in pod.items():
            if key not in _POD_FIELDS:
                self.report(workload, f"spec.template.spec.{key} cannot be expressed")
            elif key in _POD_DEFAULTS and value != _POD_DEFAULTS[key]:
                self.report(workload, f"spec.template.spec.{key}: {value!r} cannot be expressed")
        container = containers[0]
        app: dict[str, Any] = {"image": container.get("image")}
        if workload.get("kind") == "StatefulSet":
            app["stateful"] = True
        if isinstance(spec.get("replicas"), int):
            app["replicas"] = spec["replicas"]
        for key in ("command", "args"):
            if container.get(key):
                app[key] = list(container[key])
        for key in container:
            if key not in _CONTAINER_FIELDS:
                self.report(workload, f"container {container.get('name')}: {key} cannot be expressed")
        env = self.env(workload, container.get("env") or [])
        if env:
            app["env"] = env
        services = self.services_of((template.get("metadata") or {}).get("labels") or {})
        ports = self.ports(workload, container.get("ports") or [], services)
        if ports:
            app["ports"] = ports
        domains = self.domains(services)
        if domains:
            app["domains"] = domains
        resources = self.resources(container.get("resources") or {})
        if resources:
            app["resources"] = resources
        probes = {}
        names = {p["port"]: p["name"] for p in ports}
        for field_name, key in (
            ("readinessProbe", "readiness"),
            ("livenessProbe", "liveness"),
            ("startupProbe", "startup"),
        ):
            if container.get(field_name):
                probe = self.probe(workload, field_name, container[field_name], names)
                if probe is not None:
                    probes[key] = probe
        if probes:
            app["probes"] = probes
        strategy = spec.get("strategy") or {}
        if strategy.get("type") == "Recreate":
            self.report(workload, "strategy Recreate cannot be expressed (Dockyard rolls updates)")
        rolling = strategy.get("rollingUpdate") or {}
        if rolling and rolling != {"maxSurge": "25%", "maxUnavailable": "25%"}:
            app["strategy"] = {k: rolling[k] for k in ("maxSurge", "maxUnavailable") if k in rolling}
        volumes = self.mounts(workload, pod, container, claims)
        if volumes:
            app["volumes"] = volumes
        return app

    def env(self, workload: Mapping[str, Any], env: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for var in env:
            source = var.get("valueFrom") or {}
            if "value" in var or not source:
                out.append({"name": var.get("name"), "value": str(var.get("value", ""))})
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                out.append({"name": var.get("name"), "secretRef": {"name": ref.get("name"), "key": ref.get("key")}})
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                out.append({"name": var.get("name"), "configMapRef": {"name": ref.get("name"), "key": ref.get("key")}})
            else:
                self.report(workload, f"env {var.get('name')}: {', '.join(source)} cannot be expressed")
        return out

    def ports(
        self, workload: Mapping[str, Any], ports: Iterable[Mapping[str, Any]], services: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for index, port in enumerate(ports):
            number = port.get("containerPort")
            name = port.get("name") or ("http" if index == 0 else f"port-{number}")
            entry: dict[str, Any] = {"name": name, "port": number}
            if port.get("protocol", "TCP") != "TCP":
                entry["protocol"] = port["protocol"]
            out.append(entry)
        for service in services:
            spec = service.get("spec") or {}
            if spec.get("type", "ClusterIP") != "ClusterIP":
                self.report(service, f"type {spec.get('type')} cannot be expressed (Services are ClusterIP)")
            for port in spec.get("ports") or ():
                target = port.get("targetPort", port.get("port"))
                match = next((p for p in out if target in (p["name"], p["port"])), None)
                if match is None:
                    self.report(service, f"port {port.get('port')} targets {target}, which no container port is")
                elif port.get("port") != match["port"]:
                    self.report(
                        service,
                        f"port {port.get('port')} -> {target}: a Dockyard Service listens on the container's "
                        f"port number ({match['port']})",
                    )
        return out

    def domains(self, services: Sequence[Mapping[str, Any]]) -> list[str]:
        names = {_name(s) for s in services}
        hosts: list[str] = []
        for ingress in self.kind("Ingress"):
            for rule in (ingress.get("spec") or {}).get("rules") or ():
                for path in (rule.get("http") or {}).get("paths") or ():
                    service = ((path.get("backend") or {}).get("service") or {}).get("name")
                    if service not in names:
                        continue
                    if path.get("path", "/") != "/":
                        self.report(ingress, f"path {path.get('path')} of {rule.get('host')}: only / can be expressed")
                    if rule.get("host") and rule["host"] not in hosts:
                        hosts.append(rule["host"])
        return hosts

    @staticmethod
    def resources(resources: Mapping[str, Any]) -> dict[str, Any]:
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        out: dict[str, Any] = {k: str(requests[k]) for k in ("cpu", "memory") if k in requests}
        kept = {k: str(limits[k]) for k in ("cpu", "memory") if k in limits}
        if kept:
            out["limits"] = kept
        return out

    def probe(
        self, workload: Mapping[str, Any], field_name: str, probe: Mapping[str, Any], names: Mapping[Any, str]
    ) -> dict[str, Any] | None:
        out: dict[str, Any]
        if "httpGet" in probe:
            get = probe["httpGet"]
            out = {"http": get.get("path", "/"), "port": names.get(get.get("port"), get.get("port"))}
            for key in ("host", "httpHeaders"):
                if get.get(key):
                    self.report(workload, f"{field_name}.httpGet.{key} cannot be expressed")
            if get.get("scheme", "HTTP") != "HTTP":
                self.report(workload, f"{field_name}.httpGet.scheme {get['scheme']} cannot be expressed")
        elif "tcpSocket" in probe:
            port = probe["tcpSocket"].get("port")
            out = {"tcp": names.get(port, port)}
        elif "exec" in probe:
            out = {"command": list(probe["exec"].get("command") or [])}
        else:
            self.report(workload, f"{field_name}: {', '.join(probe)} cannot be expressed")
            return None
        for key in ("initialDelaySeconds", "periodSeconds", "failureThreshold"):
            if (
                key in probe
                and not (key == "periodSeconds" and probe[key] == 10)
                and not (key == "failureThreshold" and probe[key] == 3)
            ):
                out[key] = probe[key]
        for key, default in _PROBE_DEFAULTS.items():
            if probe.get(key, default) != default:
                self.report(workload, f"{field_name}.{key} {probe[key]} cannot be expressed")
        return out

    def mounts(
        self, workload: Mapping[str, Any], pod: Mapping[str, Any], container: Mapping[str, Any], claims: set[str]
    ) -> list[dict[str, Any]]:
        sources = {v.get("name"): v for v in pod.get("volumes") or ()}
        templates = {_name(t): t for t in (workload.get("spec") or {}).get("volumeClaimTemplates") or ()}
        out = []
        for mount in container.get("volumeMounts") or ():
            name = mount.get("name")
            source = sources.get(name) or {}
            if "persistentVolumeClaim" in source:
                claim = source["persistentVolumeClaim"].get("claimName")
            elif name in templates:
                claim = f"{name}-{_name(workload)}"
                self.volume(templates[name], claim)
                self.report(
                    workload,
                    f"volumeClaimTemplate {name}: made the Volume {claim}, one claim for every replica "
                    "(the data of the live claims is not moved)",
                )
            else:
                kinds = ", ".join(k for k in source if k != "name") or "unknown"
                self.report(workload, f"volume {name} ({kinds}) cannot be expressed; only claims can be mounted")
                continue
            claims.add(str(claim))
            entry: dict[str, Any] = {"volume": claim, "mountPath": mount.get("mountPath")}
            if mount.get("readOnly"):
                entry["readOnly"] = True
            if mount.get("subPath"):
                entry["subPath"] = mount["subPath"]
            out.append(entry)
        return out

    # --- the rest ---------------------------------------------------------------------------

    def volume(self, claim: Mapping[str, Any], name: str) -> None:
        spec = claim.get("spec") or {}
        volume: dict[str, Any] = {"size": str(((spec.get("resources") or {}).get("requests") or {}).get("storage"))}
        if spec.get("storageClassName"):
            volume["storageClass"] = spec["storageClassName"]
        modes = spec.get("accessModes") or ["ReadWriteOnce"]
        volume["accessMode"] = modes[0]
        if len(modes) > 1:
            self.report(claim, f"access modes {', '.join(modes)}: a Volume has one ({modes[0]} kept)")
        if spec.get("dataSource") or spec.get("dataSourceRef"):
            self.report(claim, "its data source cannot be expressed (the Volume starts empty)")
        self.out.documents[f"volumes/{name}.yaml"] = _doc("Volume", name, volume)

    def autoscaling(self, hpa: Mapping[str, Any], apps: set[str]) -> None:
        spec = hpa.get("spec") or {}
        target = (spec.get("scaleTargetRef") or {}).get("name")
        if target not in apps:
            self.report(hpa, f"it scales {target}, which is not extracted")
            return
        metrics = []
        for metric in spec.get("metrics") or ():
            resource = metric.get("resource") or {}
            utilization = (resource.get("target") or {}).get("averageUtilization")
            if metric.get("type") == "Resource" and resource.get("name") in ("cpu", "memory") and utilization:
                metrics.append({resource["name"]: f"{utilization}%"})
            else:
                self.report(hpa, f"metric {metric.get('type')} cannot be expressed (only CPU and memory utilisation)")
        if spec.get("behavior"):
            self.report(hpa, "spec.behavior is not carried over (Autoscaling.behavior is written differently)")
        body: dict[str, Any] = {"target": target, "minReplicas": spec.get("minReplicas", 1)}
        body["maxReplicas"] = spec.get("maxReplicas")
        if metrics:
            body["metrics"] = metrics
        self.out.documents[f"autoscaling/{_name(hpa)}.yaml"] = _doc("Autoscaling", _name(hpa), body)


def extract(objects: Sequence[Mapping[str, Any]], *, app: str | None = None) -> Extracted:
    """The Dockyard documents of a namespace's ``objects`` (only the App ``app`` and what it uses)."""
    reader = _Reader(objects)
    claims: set[str] = set()
    apps: set[str] = set()
    for kind in ("Deployment", "StatefulSet"):
        for workload in reader.kind(kind):
            name = _name(workload)
            if app is not None and name != app:
                continue
            body = reader.app(workload, claims)
            if body is not None:
                apps.add(name)
                reader.out.documents[f"apps/{name}.yaml"] = _doc("App", name, body)
    for claim in reader.kind("PersistentVolumeClaim"):
        if app is None or _name(claim) in claims:
            reader.volume(claim, _name(claim))
    for hpa in reader.kind("HorizontalPodAutoscaler"):
        if app is None or (hpa.get("spec") or {}).get("scaleTargetRef", {}).get("name") == app:
            reader.autoscaling(hpa, apps)
    if app is None:
        for config in reader.kind("ConfigMap"):
            if _name(config) not in _CONFIGMAPS_IGNORED:
                reader.report(
                    config, "the format has no ConfigMaps: apps read it through configMapRef; keep creating it outside"
                )
        for service in reader.kind("Service"):
            selector = (service.get("spec") or {}).get("selector") or {}
            workloads = [*reader.kind("Deployment"), *reader.kind("StatefulSet")]
            labels = [
                ((w.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {} for w in workloads
            ]
            if not selector or not any(all(lab.get(k) == v for k, v in selector.items()) for lab in labels):
                reader.report(service, "it selects no extracted workload, so it is left out")
    if app is not None and not apps:
        reader.out.unsupported.append(f"no Deployment or StatefulSet {app} in the namespace")
    return reader.out
