"""What a port loses: every field of an upstream system's manifests that matters (images, commands,
ports, env, probes, resources, volumes, security context, identity, scheduling, rollout, Services,
claims, Secrets), compared with what Dockyard renders from the port.

Values are compared as Kubernetes means them: port names resolved to numbers, quantities by value,
capability names without case or CAP_, a container's security as the pod's settings with the
container's own on top. What Dockyard adds (hardening, labels) is never a loss; container names
are not compared (Dockyard names an App's container after the App).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from daemon.model.quantity import same_quantity

Obj = Mapping[str, Any]
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
SECURITY = (
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
    "allowPrivilegeEscalation",
    "privileged",
)


def by_kind(objects: Iterable[Obj], *kinds: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] in kinds}


def _pod(workload: Obj) -> Obj:
    return workload["spec"]["template"]


def _subset(small: Mapping[str, str], big: Mapping[str, str]) -> bool:
    return all(big.get(k) == v for k, v in small.items())


def _port_number(port: Any, container: Obj) -> Any:
    if isinstance(port, str):
        return next((p["containerPort"] for p in container.get("ports") or () if p.get("name") == port), port)
    return port


def _normal_probe(probe: Obj, container: Obj) -> dict[str, Any]:
    out = dict(probe)
    for handler in ("httpGet", "tcpSocket", "grpc"):
        if handler in out:
            out[handler] = {**out[handler], "port": _port_number(out[handler].get("port"), container)}
    return out


def _deep_subset(small: Any, big: Any) -> bool:
    if isinstance(small, Mapping):
        return isinstance(big, Mapping) and all(k in big and _deep_subset(v, big[k]) for k, v in small.items())
    if isinstance(small, list):
        return (
            isinstance(big, list)
            and len(small) == len(big)
            and all(_deep_subset(a, b) for a, b in zip(small, big, strict=True))
        )
    return bool(small == big)


def _security(pod: Obj, container: Obj) -> dict[str, Any]:
    effective = {k: v for k, v in (pod.get("securityContext") or {}).items() if k in SECURITY}
    effective.update({k: v for k, v in (container.get("securityContext") or {}).items() if k in SECURITY})
    return effective


def _capabilities(container: Obj) -> tuple[set[str], set[str] | None]:
    caps = (container.get("securityContext") or {}).get("capabilities") or {}

    def norm(names: Iterable[str]) -> set[str]:
        return {n.upper().removeprefix("CAP_") for n in names}

    return norm(caps.get("drop") or ()), (norm(caps["add"]) if "add" in caps else None)


def _volume_of(pod: Obj, name: str) -> Obj:
    return next((v for v in pod["spec"].get("volumes") or () if v["name"] == name), {})


def _claim(objects: Mapping[str, Obj], name: str) -> tuple[Any, Any]:
    claim = objects.get(name)
    if claim is None:
        return None, None
    return claim["spec"]["resources"]["requests"]["storage"], tuple(claim["spec"]["accessModes"])


def _compare_container(
    where: str, up: Obj, mine: Obj, up_pod: Obj, my_pod: Obj, up_claims: Mapping[str, Obj], my_claims: Mapping[str, Obj]
) -> list[str]:
    lost = []
    for field in ("image", "command", "args", "workingDir"):
        if field in up and up[field] != mine.get(field):
            lost.append(f"{where}: {field} {up[field]!r} became {mine.get(field)!r}")
    my_ports = {(p["containerPort"], p.get("protocol", "TCP")) for p in mine.get("ports") or ()}
    for port in up.get("ports") or ():
        if (port["containerPort"], port.get("protocol", "TCP")) not in my_ports:
            lost.append(f"{where}: port {port['containerPort']} is missing")
    my_env = {e["name"]: e for e in mine.get("env") or ()}
    for var in up.get("env") or ():
        if my_env.get(var["name"]) != var:
            lost.append(f"{where}: env {var['name']} {var} became {my_env.get(var['name'])}")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if probe in up and not _deep_subset(_normal_probe(up[probe], up), _normal_probe(mine.get(probe) or {}, mine)):
            lost.append(f"{where}: {probe} {up[probe]} became {mine.get(probe)}")
    for part in ("requests", "limits"):
        for resource, value in ((up.get("resources") or {}).get(part) or {}).items():
            have = ((mine.get("resources") or {}).get(part) or {}).get(resource)
            if have is None or not same_quantity(str(value), str(have)):
                lost.append(f"{where}: resources.{part}.{resource} {value} became {have}")
    my_mounts = {m["mountPath"]: m for m in mine.get("volumeMounts") or ()}
    for mount in up.get("volumeMounts") or ():
        have = my_mounts.get(mount["mountPath"])
        if have is None:
            lost.append(f"{where}: the mount at {mount['mountPath']} is missing")
            continue
        for field, default in (("readOnly", False), ("subPath", None)):
            if mount.get(field, default) != have.get(field, default):
                lost.append(f"{where}: mount {mount['mountPath']} {field} {mount.get(field)} became {have.get(field)}")
        lost.extend(
            _compare_volume(
                where,
                mount["mountPath"],
                _volume_of(up_pod, mount["name"]),
                _volume_of(my_pod, have["name"]),
                up_claims,
                my_claims,
            )
        )
    up_sec, my_sec = _security(up_pod["spec"], up), _security(my_pod["spec"], mine)
    for field, value in up_sec.items():
        if my_sec.get(field) != value:
            lost.append(f"{where}: securityContext.{field} {value} became {my_sec.get(field)}")
    (up_drop, up_add), (my_drop, my_add) = _capabilities(up), _capabilities(mine)
    if not up_drop <= my_drop:
        lost.append(f"{where}: capabilities dropped {sorted(up_drop)} became {sorted(my_drop)}")
    if up_add is not None and up_add != (my_add or set()):
        lost.append(f"{where}: capabilities added {sorted(up_add)} became {sorted(my_add or ())}")
    return lost


def _compare_volume(
    where: str, path: str, up: Obj, mine: Obj, up_claims: Mapping[str, Obj], my_claims: Mapping[str, Obj]
) -> list[str]:
    if "emptyDir" in up:
        if "emptyDir" not in mine or (up["emptyDir"] or {}) != (mine["emptyDir"] or {}):
            return [f"{where}: volume at {path} emptyDir {up['emptyDir']} became {mine}"]
        return []
    if "persistentVolumeClaim" in up:
        if "persistentVolumeClaim" not in mine:
            return [f"{where}: volume at {path} is not a claim any more"]
        want = _claim(up_claims, up["persistentVolumeClaim"]["claimName"])
        have = _claim(my_claims, mine["persistentVolumeClaim"]["claimName"])
        return [] if want == have else [f"{where}: the claim at {path} {want} became {have}"]
    for kind, key in (("configMap", "name"), ("secret", "secretName")):
        if kind in up and (kind not in mine or mine[kind].get(key) != up[kind].get(key)):
            return [f"{where}: volume at {path} {kind} {up[kind]} became {mine}"]
    return []


def lost_fields(upstream: list[Obj], rendered: list[Obj]) -> list[str]:
    """Everything of ``upstream`` that matters and ``rendered`` does not keep, one line each."""
    lost: list[str] = []
    up_claims, my_claims = by_kind(upstream, "PersistentVolumeClaim"), by_kind(rendered, "PersistentVolumeClaim")
    mine = by_kind(rendered, *WORKLOADS)
    for name, workload in by_kind(upstream, *WORKLOADS).items():
        have = mine.get(name)
        if have is None:
            lost.append(f"{workload['kind']} {name} is missing")
            continue
        lost.extend(_compare_workload(name, workload, have, up_claims, my_claims, rendered))
    lost.extend(_compare_services(upstream, rendered))
    for name in up_claims:
        if _claim(up_claims, name) != _claim(my_claims, name):
            lost.append(f"PersistentVolumeClaim {name} {_claim(up_claims, name)} became {_claim(my_claims, name)}")
    accounts = by_kind(rendered, "ServiceAccount")
    lost.extend(f"ServiceAccount {n} is missing" for n in by_kind(upstream, "ServiceAccount") if n not in accounts)
    secrets = by_kind(rendered, "Secret")
    for name, secret in by_kind(upstream, "Secret").items():
        values = {k: base64.b64encode(v.encode()).decode() for k, v in (secret.get("stringData") or {}).items()}
        values.update(secret.get("data") or {})
        have = (secrets.get(name) or {}).get("data")
        if have != values:
            lost.append(f"Secret {name}: its data is not the same")
    return lost


def _compare_workload(
    name: str, up: Obj, mine: Obj, up_claims: Mapping[str, Obj], my_claims: Mapping[str, Obj], rendered: list[Obj]
) -> list[str]:
    lost = []
    where = f"{up['kind']} {name}"
    hpa = any(o["kind"] == "HorizontalPodAutoscaler" and o["spec"]["scaleTargetRef"]["name"] == name for o in rendered)
    if not hpa and up["spec"].get("replicas", 1) != mine["spec"].get("replicas", 1):
        lost.append(f"{where}: replicas {up['spec'].get('replicas', 1)} became {mine['spec'].get('replicas')}")
    up_strategy = (up["spec"].get("strategy") or {}).get("type")
    if up_strategy and up_strategy != (mine["spec"].get("strategy") or {}).get("type", "RollingUpdate"):
        lost.append(f"{where}: strategy {up_strategy} is not kept")
    up_pod, my_pod = _pod(up), _pod(mine)
    for part in ("labels", "annotations"):
        if not _subset(up_pod["metadata"].get(part) or {}, my_pod["metadata"].get(part) or {}):
            lost.append(f"{where}: pod {part} {up_pod['metadata'].get(part)} are not all kept")
    spec, my_spec = up_pod["spec"], my_pod["spec"]
    account = spec.get("serviceAccountName", "default")
    if account != "default" and my_spec.get("serviceAccountName") != account:
        lost.append(f"{where}: serviceAccountName {account} became {my_spec.get('serviceAccountName')}")
    for field in ("terminationGracePeriodSeconds", "fsGroup"):
        value = spec.get(field) if field != "fsGroup" else (spec.get("securityContext") or {}).get("fsGroup")
        have = my_spec.get(field) if field != "fsGroup" else (my_spec.get("securityContext") or {}).get("fsGroup")
        if value is not None and value != have:
            lost.append(f"{where}: {field} {value} became {have}")
    if not _subset(spec.get("nodeSelector") or {}, my_spec.get("nodeSelector") or {}):
        lost.append(f"{where}: nodeSelector {spec.get('nodeSelector')} is not kept")
    for toleration in spec.get("tolerations") or ():
        if toleration not in (my_spec.get("tolerations") or ()):
            lost.append(f"{where}: toleration {toleration} is missing")
    my_init = {c["name"]: c for c in my_spec.get("initContainers") or ()}
    for i, container in enumerate(spec["containers"]):
        if i == 0:
            have = my_spec["containers"][0]
        else:
            have = my_init.get(container["name"]) or next(
                (c for c in my_spec["containers"] if c["name"] == container["name"]), None
            )
            if have is None or (have in my_init.values() and have.get("restartPolicy") != "Always"):
                lost.append(f"{where}: sidecar {container['name']} is missing")
                continue
        lost.extend(
            _compare_container(
                f"{where} container {container['name']}", container, have, up_pod, my_pod, up_claims, my_claims
            )
        )
    for container in spec.get("initContainers") or ():
        have = my_init.get(container["name"])
        if have is None or have.get("restartPolicy") == "Always":
            lost.append(f"{where}: init container {container['name']} is missing")
            continue
        lost.extend(
            _compare_container(
                f"{where} init container {container['name']}", container, have, up_pod, my_pod, up_claims, my_claims
            )
        )
    return lost


def _selected(selector: Mapping[str, str], workloads: Mapping[str, Obj]) -> list[Obj]:
    return [w for w in workloads.values() if _subset(selector, _pod(w)["metadata"].get("labels") or {})]


def _target_number(port: Obj, workloads: list[Obj]) -> Any:
    target = port.get("targetPort", port["port"])
    if isinstance(target, int) or not workloads:
        return target
    containers = _pod(workloads[0])["spec"]["containers"] + list(_pod(workloads[0])["spec"].get("initContainers") or ())
    return next(
        (p["containerPort"] for c in containers for p in c.get("ports") or () if p.get("name") == target), target
    )


def _compare_services(upstream: list[Obj], rendered: list[Obj]) -> list[str]:
    lost = []
    up_workloads, my_workloads = by_kind(upstream, *WORKLOADS), by_kind(rendered, *WORKLOADS)
    services = by_kind(rendered, "Service")
    for name, service in by_kind(upstream, "Service").items():
        mine = services.get(name)
        where = f"Service {name}"
        if mine is None:
            lost.append(f"{where} is missing")
            continue
        if service["spec"].get("type", "ClusterIP") != mine["spec"].get("type", "ClusterIP"):
            lost.append(f"{where}: type {service['spec'].get('type')} became {mine['spec'].get('type', 'ClusterIP')}")
        if service["spec"].get("clusterIP") == "None" and mine["spec"].get("clusterIP") != "None":
            lost.append(f"{where}: clusterIP None (headless) became a cluster IP")
        up_targets = _selected(service["spec"].get("selector") or {}, up_workloads)
        my_targets = _selected(mine["spec"].get("selector") or {}, my_workloads)
        if sorted(w["metadata"]["name"] for w in up_targets) != sorted(w["metadata"]["name"] for w in my_targets):
            lost.append(
                f"{where}: selects {[w['metadata']['name'] for w in my_targets]}, not "
                f"{[w['metadata']['name'] for w in up_targets]}"
            )
        for port in service["spec"]["ports"]:
            match = next(
                (
                    p
                    for p in mine["spec"]["ports"]
                    if p["port"] == port["port"] and p.get("protocol", "TCP") == port.get("protocol", "TCP")
                ),
                None,
            )
            if match is None:
                lost.append(f"{where}: port {port['port']} is missing")
                continue
            if _target_number(port, up_targets) != _target_number(match, my_targets):
                lost.append(
                    f"{where}: port {port['port']} goes to {_target_number(match, my_targets)}, not "
                    f"{_target_number(port, up_targets)}"
                )
            if "nodePort" in port and port["nodePort"] != match.get("nodePort"):
                lost.append(f"{where}: nodePort {port['nodePort']} became {match.get('nodePort')}")
    return lost
