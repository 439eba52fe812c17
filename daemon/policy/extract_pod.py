"""A pod template as the fields of a Dockyard App or Job (pure), for :mod:`daemon.policy.extract`.

The workload's own container, its init containers and sidecars (native ones, and the other
containers of the pod), their probes, mounts, files and security, the service account and where
the pods may run. What the format cannot say is passed to ``report``, one line per field, and
left out; values the API server fills in by default are not reported. A field the object leaves
unset is left unset, so Dockyard's default applies as in an App written by hand (containers drop
their capabilities, replicas spread over nodes as the scheduler's own default spreading does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from daemon.loader.checks.containers import RESERVED_VOLUME_PREFIX
from daemon.model.podspec import BASELINE_CAPABILITIES
from daemon.render.pod import HOSTNAME_LABEL, ZONE_LABEL

#: Takes one line about the workload that owns the pod.
Report = Callable[[str], None]

#: Pod fields read below; any other is reported unless it has its default (``_POD_DEFAULTS``).
_POD_FIELDS: Final = frozenset(
    {
        "containers",
        "initContainers",
        "volumes",
        "securityContext",
        "serviceAccountName",
        "serviceAccount",
        "automountServiceAccountToken",
        "imagePullSecrets",
        "nodeSelector",
        "tolerations",
        "topologySpreadConstraints",
        "terminationGracePeriodSeconds",
        "restartPolicy",
    }
)
_POD_DEFAULTS: Final[Mapping[str, Any]] = {"dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler"}
#: What ``kubectl`` writes into a template; neither is the workload's own choice.
_KUBECTL_ANNOTATIONS: Final = frozenset(
    {"kubectl.kubernetes.io/restartedAt", "kubectl.kubernetes.io/default-container"}
)
_RESERVED_ANNOTATION: Final = "dockyard.dev/"

#: Container fields every container may carry; imagePullPolicy is read and dropped, because
#: Dockyard always pulls (see render.pod).
_CONTAINER_FIELDS: Final = frozenset(
    {"name", "image", "command", "args", "workingDir", "env", "resources", "volumeMounts", "securityContext"}
)
_CONTAINER_DEFAULTS: Final[Mapping[str, Any]] = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
}
_PROBES: Final = (("readinessProbe", "readiness"), ("livenessProbe", "liveness"), ("startupProbe", "startup"))
#: What else each kind of container may carry: ``app`` is an App's own, ``job`` a Job's.
_ROLE_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "app": frozenset({"ports", "lifecycle", *(f for f, _ in _PROBES)}),
    "sidecar": frozenset({"ports", "restartPolicy", *(f for f, _ in _PROBES)}),
    "init": frozenset(),
    "job": frozenset(),
}
#: A probe's timing as the API server fills it in; other values are carried over.
_PROBE_TIMING: Final[Mapping[str, int]] = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 3,
}
_MOUNT_FIELDS: Final = frozenset({"name", "mountPath", "readOnly", "subPath"})
_MOUNT_DEFAULTS: Final[Mapping[str, Any]] = {"mountPropagation": "None", "recursiveReadOnly": "Disabled"}
#: 0644, what the API server gives a ConfigMap or Secret volume without defaultMode
_DEFAULT_FILE_MODE: Final = 420
_KEY: Final = re.compile(r"^[-._a-zA-Z0-9]+$")
_DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: The downward API fields an environment variable can take (schemas/app.schema.json).
_FIELD_PATHS: Final = frozenset(
    {
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.serviceAccountName",
        "status.hostIP",
        "status.podIP",
    }
)
_RESOURCES: Final[Mapping[str, str]] = {"cpu": "cpu", "memory": "memory", "ephemeral-storage": "ephemeralStorage"}
_TOLERATION: Final[Mapping[str, str]] = {
    "key": "key",
    "operator": "operator",
    "value": "value",
    "effect": "effect",
    "tolerationSeconds": "seconds",
}
#: Pod-level security fields of the format (fsGroup and supplementalGroups exist only there).
_POD_SECURITY: Final = ("runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "supplementalGroups")
#: Identity fields: a container's own value, else the pod's.
_INHERITED: Final = ("runAsUser", "runAsGroup", "runAsNonRoot")
#: Fields only containers have; the App's value is its own container's.
_PER_CONTAINER: Final = ("readOnlyRootFilesystem", "allowPrivilegeEscalation", "capabilities")
#: What Dockyard renders anyway (render.pod), so there is nothing to report.
_SECURITY_DEFAULTS: Final[Mapping[str, Any]] = {
    "seccompProfile": {"type": "RuntimeDefault"},
    "privileged": False,
    "procMount": "Default",
}
_SPREAD_FIELDS: Final = frozenset({"maxSkew", "topologyKey", "whenUnsatisfiable", "labelSelector", "matchLabelKeys"})


class PodReader:
    """Reads one pod template: ``batch`` for a Job's (no ports, probes, preStop or spreading),
    ``claims`` maps the pod's claim volumes (and claim templates) to the Volumes they become,
    ``where`` is the template's path in its object, for the report."""

    def __init__(
        self, pod: Mapping[str, Any], report: Report, *, where: str, claims: Mapping[str, str], batch: bool
    ) -> None:
        self.pod = pod
        self.report = report
        self.where = where
        self.claims = claims
        self.batch = batch
        self.sources: dict[str, Mapping[str, Any]] = {str(v.get("name")): v for v in pod.get("volumes") or ()}
        self.pod_security: Mapping[str, Any] = pod.get("securityContext") or {}
        self.mounted: set[str] = set()
        self.port_names: set[str] = set()
        self.labels: Mapping[str, Any] = {}

    def fields(self, name: str, meta: Mapping[str, Any]) -> dict[str, Any] | None:
        """The App's or Job's fields of the pod (``name`` is the workload's, ``meta`` the
        template's metadata), or None, reported, when the pod has no container."""
        containers = list(self.pod.get("containers") or ())
        if not containers:
            self.report(f"{self.where}: no containers, so it is left out")
            return None
        annotations = meta.get("annotations") or {}
        self.labels = meta.get("labels") or {}
        main, regular = _split(containers, name, annotations.get("kubectl.kubernetes.io/default-container"))
        inits = [c for c in self.pod.get("initContainers") or () if c.get("restartPolicy") != "Always"]
        natives = [c for c in self.pod.get("initContainers") or () if c.get("restartPolicy") == "Always"]
        self._order(natives, inits)
        for container in regular:
            self.report(
                f"container {container.get('name')}: made a sidecar, which Dockyard starts before the "
                f"{'Job' if self.batch else 'App'}'s container and stops after it (a native sidecar)"
            )
        self.port_names = {
            str(p["name"]) for c in (main, *natives, *regular) for p in c.get("ports") or () if p.get("name")
        }
        out = self.container(main, "job" if self.batch else "app")
        out.update(self._extra(inits, [*natives, *regular], main))
        out.update(self._pod_fields())
        if not self.batch:
            out.update(self._annotations(annotations))
        elif annotations:
            where = self.where.removesuffix(".spec")
            self.report(f"{where}.metadata.annotations cannot be expressed (a Job's pods carry none of their own)")
        for volume in self.sources:
            if volume not in self.mounted:
                self.report(f"volume {volume} is mounted by no container, so it is left out")
        return out

    # --- containers -------------------------------------------------------------------------

    def container(self, container: Mapping[str, Any], role: str) -> dict[str, Any]:
        """A container's fields in the format (its security apart: it depends on the others)."""
        cname = str(container.get("name"))

        def say(what: str) -> None:
            self.report(f"container {cname}: {what}")

        self._container_keys(say, container, role)
        out: dict[str, Any] = {"image": container.get("image")}
        for key in ("command", "args"):
            if container.get(key):
                out[key] = [str(a) for a in container[key]]
        if container.get("workingDir"):
            out["workingDir"] = container["workingDir"]
        env = self._env(say, container.get("env") or ())
        if env:
            out["env"] = env
        ports = self._ports(container, first=role == "app") if role in ("app", "sidecar") else []
        if ports:
            out["ports"] = ports
        resources = _resources(say, container.get("resources") or {})
        if resources:
            out["resources"] = resources
        names = {p["port"]: p["name"] for p in ports}
        probes = {}
        for field, key in _PROBES if role in ("app", "sidecar") else ():
            probe = self._probe(say, field, container.get(field) or {}, names)
            if probe is not None:
                probes[key] = probe
        if probes:
            out["probes"] = probes
        volumes, files = self._mounts(say, container)
        if volumes:
            out["volumes"] = volumes
        if files:
            out["files"] = files
        if role == "app":
            stop = _pre_stop(say, container.get("lifecycle") or {}, names)
            if stop is not None:
                out["preStop"] = stop
        return out

    def _container_keys(self, say: Report, container: Mapping[str, Any], role: str) -> None:
        for key, value in container.items():
            if key in _CONTAINER_DEFAULTS:
                if value != _CONTAINER_DEFAULTS[key]:
                    say(f"{key} {value!r} cannot be expressed")
            elif key == "resizePolicy":
                if any(p.get("restartPolicy", "NotRequired") != "NotRequired" for p in value or ()):
                    say("resizePolicy with restarts cannot be expressed")
            elif key not in _CONTAINER_FIELDS and key not in _ROLE_FIELDS[role] and key != "imagePullPolicy":
                say(f"{key} cannot be expressed")

    def _order(self, natives: Sequence[Mapping[str, Any]], inits: Sequence[Mapping[str, Any]]) -> None:
        # Dockyard starts the init containers first, then the sidecars: a native sidecar listed
        # before an init container (a proxy the init container needs, say) starts after it.
        listed = [c.get("name") for c in self.pod.get("initContainers") or ()]
        last_init = max((listed.index(c.get("name")) for c in inits), default=-1)
        for sidecar in natives:
            if listed.index(sidecar.get("name")) < last_init:
                self.report(
                    f"container {sidecar.get('name')}: starts before init containers here; "
                    "Dockyard starts sidecars after them"
                )

    def _extra(
        self, inits: Sequence[Mapping[str, Any]], sidecars: Sequence[Mapping[str, Any]], main: Mapping[str, Any]
    ) -> dict[str, Any]:
        """initContainers, sidecars and the security context of the App (or Job) and of each."""
        security = self._security(main)
        out: dict[str, Any] = {}
        for field, role, containers in (("initContainers", "init", inits), ("sidecars", "sidecar", sidecars)):
            made = []
            for container in containers:
                entry = {"name": container.get("name"), **self.container(container, role)}
                own = self._own_security(container, security)
                if own:
                    entry["securityContext"] = own
                made.append(entry)
            if made:
                out[field] = made
        if security:
            out["securityContext"] = security
        return out

    def _env(self, say: Report, env: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for var in env:
            entry = _env_var(say, var)
            if entry is not None:
                out.append(entry)
        return out

    def _ports(self, container: Mapping[str, Any], *, first: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for index, port in enumerate(container.get("ports") or ()):
            number = port.get("containerPort")
            for key in port:
                if key not in ("containerPort", "name", "protocol"):
                    self.report(f"container {container.get('name')}: port {number} {key} cannot be expressed")
            protocol = port.get("protocol", "TCP")
            entry: dict[str, Any] = {
                "name": port.get("name") or self._port_name(number, protocol, first and index == 0)
            }
            entry["port"] = number
            if protocol != "TCP":
                entry["protocol"] = protocol
            out.append(entry)
        return out

    def _port_name(self, number: int, protocol: str, first: bool) -> str:
        """A name for an unnamed port (the format names every one), unique in the pod."""
        candidates = (*(("http",) if first else ()), f"port-{number}", f"{protocol.lower()}-{number}")
        name = next((c for c in candidates if c not in self.port_names), f"{protocol.lower()}-{number}")
        self.port_names.add(name)
        return name

    def _probe(
        self, say: Report, field: str, probe: Mapping[str, Any], names: Mapping[Any, str]
    ) -> dict[str, Any] | None:
        if not probe:
            return None
        out = _probe_handler(say, field, probe, names)
        if out is None:
            return None
        for key, value in probe.items():
            if key in _PROBE_TIMING:
                if value != _PROBE_TIMING[key]:
                    out[key] = value
            elif key not in ("httpGet", "tcpSocket", "exec", "grpc"):
                say(f"{field}.{key} cannot be expressed")
        return out

    # --- volumes and files ------------------------------------------------------------------

    def _mounts(self, say: Report, container: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(volumes, files): claims and scratch volumes, and files of ConfigMaps and Secrets."""
        volumes: list[dict[str, Any]] = []
        files: list[dict[str, Any]] = []
        for mount in container.get("volumeMounts") or ():
            name = str(mount.get("name"))
            self.mounted.add(name)
            for key, value in mount.items():
                if key not in _MOUNT_FIELDS and _MOUNT_DEFAULTS.get(key) != value:
                    say(f"mount {mount.get('mountPath')}: {key} cannot be expressed")
            source = self.sources.get(name) or {}
            if name in self.claims:
                volumes.append(_mounted({"volume": self.claims[name]}, mount))
            elif "emptyDir" in source:
                scratch = _scratch(say, name, mount, source["emptyDir"] or {})
                if scratch is not None:
                    volumes.append(scratch)
            elif "configMap" in source or "secret" in source:
                file = _file(say, mount, source)
                if file is not None:
                    files.append(file)
            else:
                kinds = ", ".join(k for k in source if k != "name") or "unknown"
                say(
                    f"volume {name} ({kinds}) cannot be expressed; claims, scratch volumes (emptyDir) "
                    "and ConfigMap or Secret files can"
                )
        return volumes, files

    # --- security ---------------------------------------------------------------------------

    def _security(self, main: Mapping[str, Any]) -> dict[str, Any]:
        """The App's (or Job's) securityContext: the pod's, and what its own container runs with."""
        for key, value in self.pod_security.items():
            if key not in _POD_SECURITY and _SECURITY_DEFAULTS.get(key) != value:
                self.report(f"{self.where}.securityContext.{key} cannot be expressed")
        out = {k: self.pod_security[k] for k in ("fsGroup", "supplementalGroups") if k in self.pod_security}
        out.update(self._effective(main))
        return out

    def _effective(self, container: Mapping[str, Any]) -> dict[str, Any]:
        """What a container runs with, in the format's terms (None fields left out)."""
        cname = container.get("name")
        own = container.get("securityContext") or {}
        handled = {*_INHERITED, *_PER_CONTAINER}
        for key, value in own.items():
            if key not in handled and _SECURITY_DEFAULTS.get(key) != value:
                self.report(f"container {cname}: securityContext.{key} cannot be expressed")
        out = {k: own.get(k, self.pod_security.get(k)) for k in _INHERITED}
        out.update({k: own.get(k) for k in ("readOnlyRootFilesystem", "allowPrivilegeEscalation")})
        added = self._capabilities(str(cname), own.get("capabilities") or {})
        if added is not None:
            out["capabilities"] = {"add": added}
        return {k: v for k, v in out.items() if v is not None}

    def _capabilities(self, cname: str, capabilities: Mapping[str, Any]) -> list[str] | None:
        """The capabilities added back (Dockyard always drops all first): the list given, none
        when the container drops ALL and adds nothing, else None (Dockyard's default set)."""
        added = [str(c).upper().removeprefix("CAP_") for c in capabilities.get("add") or ()]
        for capability in added:
            if capability not in BASELINE_CAPABILITIES:
                self.report(
                    f"container {cname}: capability {capability} cannot be added (beyond Pod Security baseline)"
                )
        kept = list(dict.fromkeys(c for c in added if c in BASELINE_CAPABILITIES))
        if "add" in capabilities or "ALL" in [str(d).upper() for d in capabilities.get("drop") or ()]:
            return kept
        return None

    def _own_security(self, container: Mapping[str, Any], app: Mapping[str, Any]) -> dict[str, Any]:
        """An init container's or sidecar's overrides of the App's securityContext, which it
        inherits otherwise."""
        mine = self._effective(container)
        own: dict[str, Any] = {}
        for key in (*_INHERITED, *_PER_CONTAINER):
            value, inherited = mine.get(key), app.get(key)
            if value == inherited:
                continue
            if value is not None:
                own[key] = value
            elif key == "readOnlyRootFilesystem":
                own[key] = False  # unset is a writable root, not the App's read-only one
            elif key in _INHERITED:
                self.report(
                    f"container {container.get('name')}: runs with the image's {key}, but the App's "
                    f"{key} {inherited!r} would apply to it"
                )
            elif key == "capabilities" and _may_be_root(mine, app):
                # Unset, Dockyard would give a root container the capabilities root images need;
                # the App's list replaces those.
                self.report(
                    f"container {container.get('name')}: runs with the default capabilities, but the App's "
                    f"capabilities.add {app[key]['add']} would apply to it"
                )
            # allowPrivilegeEscalation left unset gets the App's value or Dockyard's default.
        if mine.get("runAsUser") == 0 and app.get("runAsUser") and app.get("runAsNonRoot") is None:
            # Dockyard adds runAsNonRoot to the pod of an App with a non-root user; a container
            # that runs as root must say it may.
            own.setdefault("runAsNonRoot", False)
        return own

    # --- the pod ----------------------------------------------------------------------------

    def _pod_fields(self) -> dict[str, Any]:
        """Service account, pull secrets, scheduling, grace period, a Job's restart policy."""
        pod = self.pod
        out: dict[str, Any] = {}
        for key, value in pod.items():
            if key in _POD_DEFAULTS:
                if value != _POD_DEFAULTS[key]:
                    self.report(f"{self.where}.{key}: {value!r} cannot be expressed")
            elif key not in _POD_FIELDS:
                self.report(f"{self.where}.{key} cannot be expressed")
        account = self._account()
        if account is not None:
            out["serviceAccount"] = account
        secrets = [s.get("name") for s in pod.get("imagePullSecrets") or () if s.get("name")]
        if secrets:
            out["imagePullSecrets"] = list(dict.fromkeys(secrets))
        if pod.get("nodeSelector"):
            out["nodeSelector"] = {str(k): str(v) for k, v in pod["nodeSelector"].items()}
        tolerations = [self._toleration(t) for t in pod.get("tolerations") or ()]
        if tolerations:
            out["tolerations"] = tolerations
        out.update(self._spread(pod.get("topologySpreadConstraints") or ()))
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace != 30:
            out["terminationGracePeriodSeconds"] = grace
        out.update(self._restart_policy(pod.get("restartPolicy")))
        return out

    def _account(self) -> str | None:
        name = self.pod.get("serviceAccountName") or self.pod.get("serviceAccount") or "default"
        automount = self.pod.get("automountServiceAccountToken")
        if name == "default":
            if automount is True:
                self.report(
                    f"{self.where}.automountServiceAccountToken: true cannot be expressed "
                    "(without serviceAccount, Dockyard mounts no API token)"
                )
            return None
        if not _DNS_LABEL.match(name):
            self.report(f"{self.where}.serviceAccountName {name!r} cannot be expressed (a DNS label can)")
            return None
        if automount is False:
            self.report(
                f"{self.where}.automountServiceAccountToken: false cannot be expressed "
                "(the pods of a serviceAccount get its token)"
            )
        return str(name)

    def _toleration(self, toleration: Mapping[str, Any]) -> dict[str, Any]:
        for key in toleration:
            if key not in _TOLERATION:
                self.report(f"{self.where}.tolerations: {key} cannot be expressed")
        return {_TOLERATION[k]: v for k, v in toleration.items() if k in _TOLERATION and v not in (None, "")}

    def _spread(self, constraints: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """spread: required when the constraints are what Dockyard renders for it; preferred, its
        default, is left out. Other constraints are reported."""
        if not constraints:
            return {}
        kind = None if self.batch else _spread_kind(constraints, self.labels)
        if kind is None:
            self.report(
                f"{self.where}.topologySpreadConstraints cannot be expressed "
                + ("(a Job's pods are not spread)" if self.batch else "(spread: maxSkew 1 over nodes, zones preferred)")
            )
            return {}
        return {"spread": "required"} if kind == "required" else {}

    def _restart_policy(self, policy: str | None) -> dict[str, Any]:
        if self.batch and policy == "OnFailure":
            return {"restartPolicy": "OnFailure"}
        if policy not in (None, "Never" if self.batch else "Always"):
            self.report(f"{self.where}.restartPolicy: {policy!r} cannot be expressed")
        return {}

    def _annotations(self, annotations: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, str] = {}
        for key, value in annotations.items():
            if key in _KUBECTL_ANNOTATIONS:
                continue
            if key.startswith(_RESERVED_ANNOTATION):
                self.report(f"pod annotation {key} is Dockyard's own, so it is left out")
            else:
                out[key] = str(value)
        return {"podAnnotations": out} if out else {}


def _split(
    containers: Sequence[Mapping[str, Any]], name: str, default: str | None
) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
    """(the workload's own container, the others): the one named after the workload, else the
    one kubectl's default-container annotation names, else the first."""
    names = [c.get("name") for c in containers]
    index = names.index(name) if name in names else names.index(default) if default in names else 0
    return containers[index], [c for i, c in enumerate(containers) if i != index]


def _may_be_root(mine: Mapping[str, Any], app: Mapping[str, Any]) -> bool:
    user = mine.get("runAsUser", app.get("runAsUser"))
    return user in (None, 0) and not mine.get("runAsNonRoot", app.get("runAsNonRoot"))


def _env_var(say: Report, var: Mapping[str, Any]) -> dict[str, Any] | None:
    name = var.get("name")
    source = var.get("valueFrom") or {}
    if not source:
        return {"name": name, "value": str(var.get("value", ""))}
    for kind, key in (("secretKeyRef", "secretRef"), ("configMapKeyRef", "configMapRef")):
        if kind in source:
            ref = source[kind]
            if ref.get("optional"):
                say(f"env {name}: {kind}.optional cannot be expressed (the key must exist)")
                return None
            return {"name": name, key: {"name": ref.get("name"), "key": ref.get("key")}}
    path = (source.get("fieldRef") or {}).get("fieldPath")
    if path in _FIELD_PATHS and (source.get("fieldRef") or {}).get("apiVersion", "v1") == "v1":
        return {"name": name, "field": path}
    say(f"env {name}: {', '.join(source)} cannot be expressed")
    return None


def _resources(say: Report, resources: Mapping[str, Any]) -> dict[str, Any]:
    for key in resources:
        if key not in ("requests", "limits"):
            say(f"resources.{key} cannot be expressed")
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for part, values in (("requests", requests), ("limits", limits)):
        for key in values:
            if key not in _RESOURCES:
                say(f"resources.{part}.{key} cannot be expressed")
    out: dict[str, Any] = {_RESOURCES[k]: str(v) for k, v in requests.items() if k in _RESOURCES}
    kept = {_RESOURCES[k]: str(v) for k, v in limits.items() if k in _RESOURCES}
    if kept:
        out["limits"] = kept
    return out


def _probe_handler(
    say: Report, field: str, probe: Mapping[str, Any], names: Mapping[Any, str]
) -> dict[str, Any] | None:
    """The check of a probe (timing apart); ports by name where the container names them."""
    if "httpGet" in probe:
        return _http_get(say, field, probe["httpGet"], names)
    if "tcpSocket" in probe:
        socket = probe["tcpSocket"]
        if socket.get("host"):
            say(f"{field}.tcpSocket.host cannot be expressed")
        return {"tcp": names.get(socket.get("port"), socket.get("port"))}
    if "exec" in probe and (probe["exec"].get("command") or []):
        return {"command": [str(a) for a in probe["exec"]["command"]]}
    if "grpc" in probe:
        grpc = probe["grpc"]
        out: dict[str, Any] = {"grpc": names.get(grpc.get("port"), grpc.get("port"))}
        if grpc.get("service"):  # the API server fills in "": the server's overall health
            out["grpcService"] = grpc["service"]
        return out
    say(f"{field}: {', '.join(probe)} cannot be expressed")
    return None


def _http_get(say: Report, field: str, get: Mapping[str, Any], names: Mapping[Any, str]) -> dict[str, Any] | None:
    path = get.get("path") or "/"
    if not str(path).startswith("/"):
        say(f"{field}.httpGet.path {path!r} cannot be expressed (a path starts with /)")
        return None
    out: dict[str, Any] = {"http": path, "port": names.get(get.get("port"), get.get("port"))}
    scheme = get.get("scheme", "HTTP")
    if scheme == "HTTPS":
        out["scheme"] = scheme
    elif scheme != "HTTP":
        say(f"{field}.httpGet.scheme {scheme} cannot be expressed")
    if get.get("host"):
        say(f"{field}.httpGet.host cannot be expressed")
    headers = [(str(h.get("name")), str(h.get("value", ""))) for h in get.get("httpHeaders") or ()]
    if len({n for n, _ in headers}) < len(headers):
        say(f"{field}.httpGet.httpHeaders: a header sent twice cannot be expressed")
    elif headers:
        out["headers"] = dict(headers)
    return out


def _pre_stop(say: Report, lifecycle: Mapping[str, Any], names: Mapping[Any, str]) -> dict[str, Any] | None:
    for key in lifecycle:
        if key != "preStop":
            say(f"lifecycle.{key} cannot be expressed")
    stop = lifecycle.get("preStop") or {}
    if not stop:
        return None
    seconds = (stop.get("sleep") or {}).get("seconds")
    if isinstance(seconds, int) and 1 <= seconds <= 3600:
        return {"sleep": seconds}
    if (stop.get("exec") or {}).get("command"):
        return {"command": [str(a) for a in stop["exec"]["command"]]}
    get = stop.get("httpGet") or {}
    plain = not get.get("host") and not get.get("httpHeaders") and get.get("scheme", "HTTP") == "HTTP"
    if get and plain and str(get.get("path") or "/").startswith("/"):
        return {"http": get.get("path") or "/", "port": names.get(get.get("port"), get.get("port"))}
    say(f"lifecycle.preStop ({', '.join(stop)}) cannot be expressed (a sleep, a command or a plain HTTP GET can)")
    return None


def _mounted(entry: dict[str, Any], mount: Mapping[str, Any]) -> dict[str, Any]:
    entry["mountPath"] = mount.get("mountPath")
    if mount.get("readOnly"):
        entry["readOnly"] = True
    if mount.get("subPath"):
        entry["subPath"] = mount["subPath"]
    return entry


def _scratch(say: Report, name: str, mount: Mapping[str, Any], empty: Mapping[str, Any]) -> dict[str, Any] | None:
    if name.startswith(RESERVED_VOLUME_PREFIX):
        say(f"volume {name}: the name cannot be expressed ({RESERVED_VOLUME_PREFIX} is Dockyard's)")
        return None
    entry = _mounted({"scratch": name}, mount)
    medium = empty.get("medium") or ""
    if medium == "Memory":
        entry["medium"] = medium
    elif medium:
        say(f"volume {name}: emptyDir medium {medium} cannot be expressed")
    if empty.get("sizeLimit") is not None:
        entry["sizeLimit"] = str(empty["sizeLimit"])
    return entry


def _file(say: Report, mount: Mapping[str, Any], volume: Mapping[str, Any]) -> dict[str, Any] | None:
    """A file (or, without a key, a directory) of a ConfigMap or Secret volume, as mounted."""
    kind = "configMap" if "configMap" in volume else "secret"
    source = volume[kind] or {}
    where = f"volume {volume.get('name')}"
    key = mount.get("subPath")
    items = source.get("items") or []
    if items:
        # Picked keys under other names: only one key, mounted by its name in the volume, is a file.
        item = next((i for i in items if key and i.get("path") == key), None)
        if item is None or item.get("mode") is not None:
            say(f"{where}: items cannot be expressed unless one is mounted by its path (subPath)")
            return None
        key = item.get("key")
    if key is not None and not _KEY.match(str(key)):
        say(f"{where}: subPath {key!r} cannot be expressed (a key of the {kind} can)")
        return None
    if source.get("optional"):
        say(f"{where}: optional cannot be expressed (the {kind} must exist)")
    name = source.get("name") if kind == "configMap" else source.get("secretName")
    ref: dict[str, Any] = {"name": name, **({"key": key} if key else {})}
    entry: dict[str, Any] = {"path": str(mount.get("mountPath")).rstrip("/"), kind: ref}
    mode = source.get("defaultMode", _DEFAULT_FILE_MODE)
    if mode != _DEFAULT_FILE_MODE:
        entry["mode"] = mode
    return entry


def _spread_kind(constraints: Sequence[Mapping[str, Any]], labels: Mapping[str, Any]) -> str | None:
    """required or preferred, when the constraints spread the workload's own pods one at a time
    over nodes (and, as a preference, over zones) as ``render.pod`` writes them; else None."""
    by_key = {c.get("topologyKey"): c for c in constraints}
    node, zone = by_key.get(HOSTNAME_LABEL), by_key.get(ZONE_LABEL)
    if node is None or len(by_key) != len(constraints) or not set(by_key) <= {HOSTNAME_LABEL, ZONE_LABEL}:
        return None
    if not all(_one_pod_skew(c, labels) for c in constraints):
        return None
    if zone is not None and zone.get("whenUnsatisfiable") != "ScheduleAnyway":
        return None
    return {"DoNotSchedule": "required", "ScheduleAnyway": "preferred"}.get(str(node.get("whenUnsatisfiable")))


def _one_pod_skew(constraint: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    # Dockyard's constraints count the App's own pods (by its labels): the selector must pick
    # the workload's pods by some of their labels, and nothing else.
    selector = constraint.get("labelSelector") or {}
    matched = selector.get("matchLabels") or {}
    return (
        set(constraint) <= _SPREAD_FIELDS
        and constraint.get("maxSkew") == 1
        and set(selector) == {"matchLabels"}
        and bool(matched)
        and all(labels.get(k) == v for k, v in matched.items())
        and set(constraint.get("matchLabelKeys") or ()) <= {"pod-template-hash"}
    )
