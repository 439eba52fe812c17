"""Dockyard documents from the objects of a running namespace (pure): ``dockyard extract``.

Reads Deployments and StatefulSets (one App each), Jobs and CronJobs (one Job each), the Services
that select their pods and the Ingresses in front of those Services (the App's ports, exposure
and domains), PersistentVolumeClaims and claim templates (Volumes), HorizontalPodAutoscalers
(Autoscaling), NetworkPolicies (a Policy's network rules, :mod:`daemon.policy.extract_network`)
and ConfigMaps. The pod templates are read by :mod:`daemon.policy.extract_pod`.
Whatever the format cannot say is reported, object by object, in ``unsupported`` and left out:
nothing is guessed. Values the API server fills in by default (``imagePullPolicy``,
``dnsPolicy``, ...) are not reported.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from daemon import API_VERSION
from daemon.loader import formats
from daemon.loader.checks.jobs import MAX_CRONJOB_NAME, MAX_ONE_OFF_NAME
from daemon.policy.extract_network import network_rules
from daemon.policy.extract_pod import PodReader

#: Fields of a Deployment's or StatefulSet's spec read below; others are reported unless they
#: have the API server's default (``_WORKLOAD_DEFAULTS``).
_WORKLOAD_FIELDS: Final = frozenset(
    {
        "replicas",
        "selector",
        "template",
        "strategy",
        "updateStrategy",
        "serviceName",
        "volumeClaimTemplates",
        "persistentVolumeClaimRetentionPolicy",
    }
)
_WORKLOAD_DEFAULTS: Final[Mapping[str, Any]] = {
    "revisionHistoryLimit": 10,
    "progressDeadlineSeconds": 600,
    "minReadySeconds": 0,
    "paused": False,
    "podManagementPolicy": "OrderedReady",
    "ordinals": {"start": 0},
}
_JOB_FIELDS: Final = frozenset(
    {"template", "selector", "backoffLimit", "completions", "parallelism", "activeDeadlineSeconds", "suspend"}
)
_JOB_DEFAULTS: Final[Mapping[str, Any]] = {
    "completionMode": "NonIndexed",
    "podReplacementPolicy": "TerminatingOrFailed",
    "manualSelector": False,
}
_CRONJOB_FIELDS: Final = frozenset(
    {
        "schedule",
        "timeZone",
        "startingDeadlineSeconds",
        "concurrencyPolicy",
        "suspend",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
        "jobTemplate",
    }
)
#: A Job's backoffLimit when it gives none (a CronJob's template leaves it to the Job).
_BACKOFF_DEFAULT: Final = 6
#: Service fields read below, and those the API server fills in.
_SERVICE_FIELDS: Final = frozenset(
    {"selector", "ports", "type", "clusterIP", "clusterIPs", "ipFamilies", "loadBalancerSourceRanges"}
)
_SERVICE_DEFAULTS: Final[Mapping[str, Any]] = {
    "sessionAffinity": "None",
    "internalTrafficPolicy": "Cluster",
    "externalTrafficPolicy": "Cluster",
    "allocateLoadBalancerNodePorts": True,
    "ipFamilyPolicy": "SingleStack",
    "publishNotReadyAddresses": False,
}
_CLAIM_FIELDS: Final = frozenset(
    {"accessModes", "resources", "storageClassName", "volumeName", "dataSource", "dataSourceRef"}
)
_CONFIGMAPS_IGNORED: Final = frozenset({"kube-root-ca.crt"})
#: The order of an App's and a Job's fields in the documents written.
_APP_ORDER: Final = (
    "image",
    "stateful",
    "replicas",
    "command",
    "args",
    "workingDir",
    "env",
    "ports",
    "domains",
    "expose",
    "resources",
    "probes",
    "volumes",
    "files",
    "initContainers",
    "sidecars",
    "securityContext",
    "serviceAccount",
    "imagePullSecrets",
    "podAnnotations",
    "nodeSelector",
    "tolerations",
    "spread",
    "terminationGracePeriodSeconds",
    "preStop",
    "strategy",
)
_JOB_ORDER: Final = (
    *(k for k in _APP_ORDER if k not in ("stateful", "replicas", "ports", "domains", "expose", "probes", "preStop")),
    "schedule",
    "timezone",
    "concurrency",
    "startingDeadline",
    "history",
    "suspend",
    "retries",
    "activeDeadline",
    "completions",
    "parallelism",
    "restartPolicy",
)


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


def _ordered(body: Mapping[str, Any], order: Sequence[str]) -> dict[str, Any]:
    # A field missing from the order is a bug here: index() raises rather than drop it.
    return dict(sorted(body.items(), key=lambda item: order.index(item[0])))


def _duration(seconds: int) -> str:
    """``seconds`` as the format's duration: ``5400`` -> ``1h30m``."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _ports_of(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The port entries of an App and its sidecars: together, they make the App's Service."""
    return [*body.get("ports", ()), *(p for s in body.get("sidecars", ()) for p in s.get("ports", ()))]


def _volumes_of(body: Mapping[str, Any]) -> set[str]:
    containers = (body, *body.get("initContainers", ()), *body.get("sidecars", ()))
    return {m["volume"] for c in containers for m in c.get("volumes", ()) if "volume" in m}


class _Reader:
    def __init__(self, objects: Sequence[Mapping[str, Any]]) -> None:
        self.by_kind: dict[str, list[Mapping[str, Any]]] = {}
        for obj in objects:
            self.by_kind.setdefault(str(obj.get("kind")), []).append(obj)
        self.out = Extracted()
        #: names of the claims a StatefulSet's claim templates made, which its Volumes now hold
        self.replica_claims: list[re.Pattern[str]] = []
        #: Volumes made from claim templates, by name
        self.per_replica: set[str] = set()

    def kind(self, kind: str) -> list[Mapping[str, Any]]:
        return sorted(self.by_kind.get(kind, []), key=_name)

    def report(self, obj: Mapping[str, Any], what: str) -> None:
        self.out.unsupported.append(f"{obj.get('kind')} {_name(obj)}: {what}")

    def spec_fields(
        self,
        obj: Mapping[str, Any],
        spec: Mapping[str, Any],
        read: frozenset[str],
        defaults: Mapping[str, Any],
        where: str,
    ) -> None:
        """Reports the fields of ``spec`` that are neither read nor at their default."""
        for key, value in spec.items():
            if key in defaults:
                if value != defaults[key]:
                    self.report(obj, f"{where}.{key}: {value!r} cannot be expressed")
            elif key not in read:
                self.report(obj, f"{where}.{key} cannot be expressed")

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
        stateful = workload.get("kind") == "StatefulSet"
        self.spec_fields(workload, spec, _WORKLOAD_FIELDS, _WORKLOAD_DEFAULTS, "spec")
        pod = PodReader(
            template.get("spec") or {},
            functools.partial(self.report, workload),
            where="spec.template.spec",
            claims=self.claims_of(workload, spec),
            batch=False,
        )
        app = pod.fields(_name(workload), template.get("metadata") or {})
        if app is None:
            return None
        if stateful:
            app["stateful"] = True
        if isinstance(spec.get("replicas"), int):
            app["replicas"] = spec["replicas"]
        services = self.services_of((template.get("metadata") or {}).get("labels") or {})
        expose = self.exposure(workload, _ports_of(app), services)
        if expose is not None:
            app["expose"] = expose
        domains = self.domains(services)
        if domains:
            app["domains"] = domains
        strategy = self.stateful_strategy(workload, spec) if stateful else self.strategy(spec)
        if strategy:
            app["strategy"] = strategy
        claims.update(_volumes_of(app))
        return _ordered(app, _APP_ORDER)

    @staticmethod
    def strategy(spec: Mapping[str, Any]) -> dict[str, Any]:
        strategy = spec.get("strategy") or {}
        if strategy.get("type") == "Recreate":
            return {"type": "Recreate"}
        rolling = strategy.get("rollingUpdate") or {}
        if rolling and rolling != {"maxSurge": "25%", "maxUnavailable": "25%"}:
            return {k: rolling[k] for k in ("maxSurge", "maxUnavailable") if k in rolling}
        return {}

    def stateful_strategy(self, workload: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
        update = spec.get("updateStrategy") or {}
        if update.get("type") == "OnDelete":
            return {"type": "OnDelete"}
        rolling = update.get("rollingUpdate") or {}
        for key in rolling:
            if key != "partition":
                self.report(workload, f"spec.updateStrategy.rollingUpdate.{key} cannot be expressed")
        return {"partition": rolling["partition"]} if rolling.get("partition") else {}

    def claims_of(self, workload: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, str]:
        """Pod volume name -> the Volume it becomes: claims by name, claim templates (of a
        StatefulSet's ``spec``) as perReplica Volumes."""
        found: dict[str, str] = {}
        for volume in ((spec.get("template") or {}).get("spec") or {}).get("volumes") or ():
            claim = volume.get("persistentVolumeClaim")
            if claim:
                found[str(volume.get("name"))] = str(claim.get("claimName"))
                if claim.get("readOnly"):
                    self.report(
                        workload, f"volume {volume.get('name')}: persistentVolumeClaim.readOnly cannot be expressed"
                    )
        retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}
        if retention.get("whenScaled", "Retain") != "Retain":
            self.report(workload, "spec.persistentVolumeClaimRetentionPolicy.whenScaled Delete cannot be expressed")
        for template in spec.get("volumeClaimTemplates") or ():
            found[_name(template)] = self.claim_template(workload, template, retention.get("whenDeleted", "Retain"))
        return found

    def claim_template(self, workload: Mapping[str, Any], template: Mapping[str, Any], deleted: str) -> str:
        """The perReplica Volume of a claim template, named after it so the replicas' claims
        (``<template>-<statefulset>-<ordinal>``) keep their names and data."""
        name, owner = _name(template), _name(workload)
        taken = name in self.per_replica or any(_name(c) == name for c in self.kind("PersistentVolumeClaim"))
        if taken:
            self.report(
                workload,
                f"volumeClaimTemplate {name}: the name is taken, so it became the Volume {name}-{owner} "
                f"(new claims: the data of {name}-{owner}-N is not moved)",
            )
            name = f"{name}-{owner}"
        else:
            self.replica_claims.append(re.compile(re.escape(f"{name}-{owner}-") + r"[0-9]+"))
        self.per_replica.add(name)
        self.volume(template, name, per_replica=True, deleted=deleted, owner=workload)
        return name

    def exposure(
        self, workload: Mapping[str, Any], ports: list[dict[str, Any]], services: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any] | None:
        """The App's expose (a LoadBalancer or NodePort Service), and the Service port of each
        container port (``servicePort`` where it is not the container's)."""
        expose: dict[str, Any] | None = None
        chosen: dict[str, int] = {}  # container port name -> its Service port, one for every Service
        for service in services:
            spec = service.get("spec") or {}
            kind = spec.get("type", "ClusterIP")
            headless = workload.get("kind") == "StatefulSet" and _name(service) == f"{_name(workload)}-headless"
            # Dockyard's headless Service publishes the addresses of peers that are not ready yet.
            read = _SERVICE_FIELDS | {"publishNotReadyAddresses"} if headless else _SERVICE_FIELDS
            defaults = {k: v for k, v in _SERVICE_DEFAULTS.items() if k not in read}
            self.spec_fields(service, spec, read, defaults, "spec")
            node_ports = False
            if kind in ("LoadBalancer", "NodePort") and expose is not None:
                self.report(service, f"type {kind}: an App has one exposure ({expose['type']} already)")
            elif kind in ("LoadBalancer", "NodePort"):
                expose = self.expose(workload, service, spec, kind)
                node_ports = kind == "NodePort"
            elif kind != "ClusterIP":
                self.report(service, f"type {kind} cannot be expressed")
            elif not self.cluster_ip(workload, service, spec):
                continue  # not the App's Service: what it exposes is not the App's
            self.service_ports(service, spec, ports, chosen, node_ports=node_ports)
        return expose

    def expose(
        self, workload: Mapping[str, Any], service: Mapping[str, Any], spec: Mapping[str, Any], kind: str
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"type": kind}
        if _name(service) != _name(workload):
            out["service"] = _name(service)  # a Service of its own; the App's stays ClusterIP
        ranges = spec.get("loadBalancerSourceRanges") or []
        if ranges and kind == "LoadBalancer":
            out["sourceRanges"] = [str(r) for r in ranges]
        elif ranges:
            self.report(service, "spec.loadBalancerSourceRanges cannot be expressed (a LoadBalancer's can)")
        return out

    def cluster_ip(self, workload: Mapping[str, Any], service: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
        """Whether a ClusterIP Service is one Dockyard renders for the App (else it is reported)."""
        name = _name(workload)
        if spec.get("clusterIP") == "None":
            if workload.get("kind") == "StatefulSet" and _name(service) == f"{name}-headless":
                return True
            self.report(
                service,
                f"clusterIP None (headless) cannot be expressed: Dockyard's headless Service is the "
                f"stateful App's {name}-headless",
            )
            return False
        if _name(service) != name:
            self.report(service, f"its name cannot be expressed: the App's Service is {name}")
            return False
        return True

    def service_ports(
        self,
        service: Mapping[str, Any],
        spec: Mapping[str, Any],
        ports: list[dict[str, Any]],
        chosen: dict[str, int],
        *,
        node_ports: bool,
    ) -> None:
        unused = {p["name"] for p in ports}
        for port in spec.get("ports") or ():
            number, target = port.get("port"), port.get("targetPort", port.get("port"))
            match = next((p for p in ports if target in (p["name"], p["port"])), None)
            if match is None:
                self.report(service, f"port {number} targets {target}, which no container port is")
                continue
            unused.discard(match["name"])
            if chosen.setdefault(match["name"], number) != number:
                self.report(
                    service,
                    f"port {number} -> {target}: the container port is on Service port "
                    f"{chosen[match['name']]} already (one Service port per container port)",
                )
                continue
            if number != match["port"]:
                match["servicePort"] = number
            if node_ports and port.get("nodePort"):
                match["nodePort"] = port["nodePort"]
            if port.get("appProtocol"):
                self.report(service, f"port {number}: appProtocol cannot be expressed")
        if unused:
            # The App's Service (and its exposure) has every port of the App and its sidecars.
            names = ", ".join(p["name"] for p in ports if p["name"] in unused)
            self.report(service, f"the App's Service would also expose the container ports {names}")

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

    # --- jobs -------------------------------------------------------------------------------

    def job(self, job: Mapping[str, Any], claims: set[str], apps: set[str]) -> dict[str, Any] | None:
        """A Job or CronJob as a Job document, or None (reported) when it cannot be one."""
        name, scheduled = _name(job), job.get("kind") == "CronJob"
        limit = MAX_CRONJOB_NAME if scheduled else MAX_ONE_OFF_NAME
        if len(name) > limit:
            self.report(job, f"the name is longer than {limit} characters, the most a Dockyard Job takes; left out")
            return None
        if name in apps:
            self.report(job, f"App {name} has this name (their pods would share it), so it is left out")
            return None
        cron = job.get("spec") or {}
        spec = (cron.get("jobTemplate") or {}).get("spec") or {} if scheduled else cron
        where = "spec.jobTemplate.spec" if scheduled else "spec"
        schedule = self.schedule(job, cron) if scheduled else {}
        if schedule is None:
            return None
        template = spec.get("template") or {}
        pod = PodReader(
            template.get("spec") or {},
            functools.partial(self.report, job),
            where=f"{where}.template.spec",
            claims=self.claims_of(job, spec),
            batch=True,
        )
        body = pod.fields(name, template.get("metadata") or {})
        if body is None:
            return None
        body.update(schedule)
        body.update(self.run(job, spec, where, scheduled=scheduled))
        if not scheduled and not body.get("suspend"):
            self.report(
                job,
                f"a one-off Job runs again: Dockyard names it {name}-<digest of what it runs>, a new Job "
                "(add suspend: true to keep it from running)",
            )
        claims.update(_volumes_of(body))
        return _ordered(body, _JOB_ORDER)

    def run(self, job: Mapping[str, Any], spec: Mapping[str, Any], where: str, *, scheduled: bool) -> dict[str, Any]:
        """How a run goes: retries, deadline, completions, parallelism, suspend."""
        self.spec_fields(job, spec, _JOB_FIELDS, _JOB_DEFAULTS, where)
        out: dict[str, Any] = {}
        retries = spec.get("backoffLimit", _BACKOFF_DEFAULT)
        if 0 <= retries <= 100 and retries != 3:
            out["retries"] = retries
        elif retries != 3:
            self.report(job, f"{where}.backoffLimit {retries} cannot be expressed (at most 100 retries)")
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None:
            out.update(self.deadline(job, f"{where}.activeDeadlineSeconds", "activeDeadline", deadline))
        for key, most in (("completions", 10000), ("parallelism", 1000)):
            value = spec.get(key, 1)
            if 1 < value <= most:
                out[key] = value
            elif value != 1:
                self.report(job, f"{where}.{key}: {value} cannot be expressed (1 to {most})")
        if spec.get("suspend") and scheduled:
            self.report(job, f"{where}.suspend cannot be expressed (suspend pauses the schedule)")
        elif spec.get("suspend"):
            out["suspend"] = True
        return out

    def schedule(self, job: Mapping[str, Any], cron: Mapping[str, Any]) -> dict[str, Any] | None:
        """A CronJob's schedule fields; None (reported) when the schedule cannot be read."""
        self.spec_fields(job, cron, _CRONJOB_FIELDS, {}, "spec")
        try:
            formats.check_cron(str(cron.get("schedule")))
        except ValueError as e:
            self.report(job, f"schedule {cron.get('schedule')!r} cannot be expressed ({e}), so it is left out")
            return None
        out: dict[str, Any] = {"schedule": str(cron["schedule"])}
        zone = cron.get("timeZone")
        if zone is not None and formats.is_timezone(str(zone)):
            out["timezone"] = zone
        elif zone is not None:
            self.report(job, f"spec.timeZone {zone!r} cannot be expressed (an IANA time zone can)")
        # Dockyard's default is Forbid: Allow, the API server's, is written out.
        if cron.get("concurrencyPolicy", "Allow") != "Forbid":
            out["concurrency"] = cron.get("concurrencyPolicy", "Allow")
        deadline = cron.get("startingDeadlineSeconds")
        if deadline is not None and deadline != 3600:
            out.update(self.deadline(job, "spec.startingDeadlineSeconds", "startingDeadline", deadline))
        history = {}
        for key, name in (("successfulJobsHistoryLimit", "succeeded"), ("failedJobsHistoryLimit", "failed")):
            kept = cron.get(key, 3 if name == "succeeded" else 1)
            if kept != 3 and 0 <= kept <= 100:
                history[name] = kept
            elif kept != 3:
                self.report(job, f"spec.{key} {kept} cannot be expressed (at most 100)")
        if history:
            out["history"] = history
        if cron.get("suspend"):
            out["suspend"] = True
        if ((cron.get("jobTemplate") or {}).get("metadata") or {}).get("annotations"):
            self.report(job, "spec.jobTemplate.metadata.annotations cannot be expressed")
        return out

    def deadline(self, job: Mapping[str, Any], where: str, key: str, seconds: int) -> dict[str, Any]:
        if 0 < seconds <= formats.MAX_DURATION_SECONDS:
            return {key: _duration(seconds)}
        self.report(job, f"{where} {seconds} cannot be expressed (more than 0s, at most 366d)")
        return {}

    # --- the rest ---------------------------------------------------------------------------

    def volume(
        self,
        claim: Mapping[str, Any],
        name: str,
        *,
        per_replica: bool = False,
        deleted: str = "Retain",
        owner: Mapping[str, Any] | None = None,
    ) -> None:
        """The Volume of a claim (or of a claim template, reported on its ``owner``)."""
        spec = claim.get("spec") or {}
        target = owner or claim
        where = f"volumeClaimTemplate {_name(claim)}: " if owner is not None else ""
        for key, value in spec.items():
            if key == "volumeMode" and value == "Filesystem":
                continue
            if key not in _CLAIM_FIELDS:
                self.report(target, f"{where}spec.{key} cannot be expressed")
        volume: dict[str, Any] = {"size": str(((spec.get("resources") or {}).get("requests") or {}).get("storage"))}
        if spec.get("storageClassName"):
            volume["storageClass"] = spec["storageClassName"]
        modes = spec.get("accessModes") or ["ReadWriteOnce"]
        volume["accessMode"] = modes[0]
        if len(modes) > 1:
            self.report(target, f"{where}access modes {', '.join(modes)}: a Volume has one ({modes[0]} kept)")
        if spec.get("dataSource") or spec.get("dataSourceRef"):
            self.report(target, f"{where}its data source cannot be expressed (the Volume starts empty)")
        if per_replica:
            volume["perReplica"] = True
        if deleted == "Delete":
            volume["deletionPolicy"] = "Delete"
        self.out.documents[f"volumes/{name}.yaml"] = _doc("Volume", name, volume)

    def replica_claim(self, claim: Mapping[str, Any]) -> bool:
        """Whether ``claim`` is one a claim template of an extracted StatefulSet made."""
        return any(pattern.fullmatch(_name(claim)) for pattern in self.replica_claims)

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


def _run_of_cronjob(job: Mapping[str, Any]) -> bool:
    return any(ref.get("kind") == "CronJob" for ref in _meta(job).get("ownerReferences") or ())


def extract(objects: Sequence[Mapping[str, Any]], *, app: str | None = None, namespace: str = "") -> Extracted:
    """The Dockyard documents of a namespace's ``objects`` (only the App or Job ``app`` and what it uses)."""
    reader = _Reader(objects)
    pods: dict[str, Mapping[str, Any]] = {}
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
    for kind in ("Deployment", "StatefulSet"):
        for workload in reader.kind(kind):
            # Every workload's pods with --app (the rules into the app name its clients), else
            # those of the Apps written.
            if app is not None or _name(workload) in apps:
                template = (workload.get("spec") or {}).get("template") or {}
                pods[_name(workload)] = (template.get("metadata") or {}).get("labels") or {}
    jobs: set[str] = set()
    for kind in ("CronJob", "Job"):
        for job in reader.kind(kind):
            name = _name(job)
            # A CronJob's runs are its own: the Job document of the CronJob makes them.
            if (app is not None and name != app) or _run_of_cronjob(job):
                continue
            body = reader.job(job, claims, apps | jobs)
            if body is not None:
                jobs.add(name)
                reader.out.documents[f"jobs/{name}.yaml"] = _doc("Job", name, body)
    for claim in reader.kind("PersistentVolumeClaim"):
        if reader.replica_claim(claim):
            continue  # its StatefulSet's perReplica Volume holds it
        if app is None or _name(claim) in claims:
            reader.volume(claim, _name(claim))
    for hpa in reader.kind("HorizontalPodAutoscaler"):
        if app is None or (hpa.get("spec") or {}).get("scaleTargetRef", {}).get("name") == app:
            reader.autoscaling(hpa, apps)
    policies = [p for p in reader.kind("NetworkPolicy") if app is None or _selects(p, pods.get(app))]
    rules = network_rules(policies, pods, namespace, reader.report, only=app)
    if rules:
        name = app or "network"
        reader.out.documents[f"policies/{name}.yaml"] = _doc("Policy", name, {"network": rules})
    if app is None:
        _left_out(reader)
    if app is not None and not apps and not jobs:
        reader.out.unsupported.append(f"no Deployment, StatefulSet, Job or CronJob {app} in the namespace")
    return reader.out


def _selects(policy: Mapping[str, Any], labels: Mapping[str, Any] | None) -> bool:
    selector = ((policy.get("spec") or {}).get("podSelector") or {}).get("matchLabels") or {}
    return labels is not None and bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _left_out(reader: _Reader) -> None:
    """Reports the ConfigMaps, and the Services that select no extracted workload."""
    for config in reader.kind("ConfigMap"):
        if _name(config) not in _CONFIGMAPS_IGNORED:
            reader.report(
                config,
                "the format has no ConfigMaps: apps read it through configMapRef or files; keep creating it outside",
            )
    workloads = [*reader.kind("Deployment"), *reader.kind("StatefulSet")]
    labels = [((w.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {} for w in workloads]
    for service in reader.kind("Service"):
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector or not any(all(lab.get(k) == v for k, v in selector.items()) for lab in labels):
            reader.report(service, "it selects no extracted workload, so it is left out")
