"""Alert rules of Policies, evaluated against observations of the cluster (pure: no I/O, no clock).

:mod:`daemon.alerts` lists the cluster every 30 seconds, turns what it read into an
:class:`Observation` (with the parsers below) and hands it to :class:`AlertEngine`, which keeps the
state of every alert instance and says which ones start firing and which ones resolve.

An alert instance is one rule of one Policy applied to one app: ``(tenant, policy, rule, app)``. A
rule without ``app`` applies to every app of its tenant, one instance each. An instance is
inactive, *pending* (its condition holds, not yet for long enough) or *firing*; it fires once when
its condition has held for the rule's ``for`` (``>=``, as Prometheus does; podRestarts has no
``for`` and fires as soon as its count is over) and resolves once when the condition stops
holding, so every firing has exactly one resolution. A pending instance whose condition stops
holding just goes back to inactive without a word: the ``for`` is the guard against flapping, and
podRestarts' window is its own guard (restarts keep counting until they leave the window).

The conditions (the schema is ``schemas/policy.schema.json``):

* ``podRestarts {over, window}``: the container restarts of the app's pods grew by more than
  ``over`` within the last ``window`` seconds. Counts are sampled, so a restart is dated by the
  evaluation that first saw it; a sample exactly ``window`` old is already outside. A pod seen for
  the first time counts from 0 if it was created inside the window (all its restarts happened
  there), else from its first sample (we cannot know when older restarts happened: after a daemon
  restart, old pods start clean). A pod that disappears keeps counting its last value until its
  samples leave the window. A count that goes down (it never should) counts from 0 again.
* ``unavailable {for}``: the app's Deployments/StatefulSets (stable and canary tracks together)
  have fewer available replicas than desired.
* ``cpuAbove {percent, for}`` / ``memoryAbove {percent, for}``: the busiest pod of the app uses more
  than ``percent`` of its CPU request / its memory limit (its request where it has no limit). A
  pod whose containers declare neither is not measured.

Missing data is not a verdict: when an app has no workload yet or the metrics API does not
answer, its instances neither fire nor resolve; a pending one starts over (its condition was not
seen to hold all along) and a firing one keeps firing until data says otherwise. For the same
reason, a gap between two evaluations longer than ``max_gap`` (the daemon was not the leader, say)
restarts every pending instance. Removing a rule, or the app it watches, from the platform repo
resolves its firing instances.

State lives in memory only: after a daemon restart (or on a new leader) an alert whose condition
still holds fires again once its ``for`` has passed again, and one the old process fired but
that ended meanwhile is never resolved by the new one. The notifiers' pacing (persistent) holds
the repeated firing back while the old one is open with the same summary; a different summary
(another restart count, say) reaches people again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from daemon.model.events import Event, Severity
from daemon.model.kinds import AlertRule, PlatformModel
from daemon.model.labels import APP_LABEL
from daemon.model.quantity import parse_quantity

log = logging.getLogger(__name__)

CONDITIONS: tuple[str, ...] = ("podRestarts", "unavailable", "cpuAbove", "memoryAbove")
#: conditions that need the metrics API
USAGE_CONDITIONS: frozenset[str] = frozenset({"cpuAbove", "memoryAbove"})

Scalar = str | int | float


# --- observations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PodSample:
    """Restarts of one pod so far: the sum over its containers (init containers included)."""

    tenant: str
    app: str
    name: str
    uid: str
    restarts: int
    created: datetime | None = None


@dataclass(frozen=True)
class WorkloadSample:
    """One Deployment or StatefulSet of an app."""

    tenant: str
    app: str
    kind: str
    name: str
    desired: int
    available: int


@dataclass(frozen=True)
class PodUsage:
    """Resource use of one pod in percent of what its containers declare (``None``: nothing
    declared, so nothing to compare with)."""

    tenant: str
    app: str
    pod: str
    cpu_percent: float | None = None  # of the CPU requests
    memory_percent: float | None = None  # of the memory limits (requests where there is no limit)


@dataclass(frozen=True)
class Observation:
    """What one evaluation saw. ``usage`` is ``None`` when the metrics API did not answer (or was
    not asked because no rule needs it)."""

    time: datetime
    pods: tuple[PodSample, ...] = ()
    workloads: tuple[WorkloadSample, ...] = ()
    usage: tuple[PodUsage, ...] | None = None


@dataclass(frozen=True)
class Needs:
    """What the rules of a model need to be observed; an evaluation reads nothing more."""

    pods: bool = False
    workloads: bool = False
    metrics: bool = False

    @property
    def anything(self) -> bool:
        return self.pods or self.workloads or self.metrics


def needs_of(model: PlatformModel) -> Needs:
    conditions = {rule.condition for policy in model.policies for rule in policy.alerts}
    metrics = bool(conditions & USAGE_CONDITIONS)
    return Needs(
        # Usage is compared with the requests and limits in the pods' specs.
        pods="podRestarts" in conditions or metrics,
        workloads="unavailable" in conditions,
        metrics=metrics,
    )


# --- parsing Kubernetes objects (JSON as the API returns it) --------------------------------------


def _owner(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    meta = obj.get("metadata") or {}
    app = (meta.get("labels") or {}).get(APP_LABEL)
    namespace = meta.get("namespace")
    if not app or not namespace:
        return None
    # A tenant's objects always live in the namespace named after it.
    return str(namespace), str(app)


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def pod_samples(pods: Iterable[Mapping[str, Any]]) -> tuple[PodSample, ...]:
    samples = []
    for pod in pods:
        owner = _owner(pod)
        if owner is None:
            continue
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        statuses = [*(status.get("containerStatuses") or ()), *(status.get("initContainerStatuses") or ())]
        samples.append(
            PodSample(
                tenant=owner[0],
                app=owner[1],
                name=str(meta.get("name", "")),
                uid=str(meta.get("uid") or f"{owner[0]}/{meta.get('name', '')}"),
                restarts=sum(_count(s.get("restartCount")) for s in statuses),
                created=_timestamp(meta.get("creationTimestamp")),
            )
        )
    return tuple(samples)


def workload_samples(workloads: Iterable[Mapping[str, Any]]) -> tuple[WorkloadSample, ...]:
    samples = []
    for obj in workloads:
        owner = _owner(obj)
        if owner is None:
            continue
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        replicas = spec.get("replicas")
        desired = 1 if replicas is None else _count(replicas)  # the API's default
        if "availableReplicas" in status or obj.get("kind") != "StatefulSet":
            available = _count(status.get("availableReplicas"))
        else:
            # Older StatefulSet controllers report ready replicas only.
            available = _count(status.get("readyReplicas"))
        name = str((obj.get("metadata") or {}).get("name", ""))
        samples.append(WorkloadSample(owner[0], owner[1], str(obj.get("kind", "")), name, desired, available))
    return tuple(samples)


def _quantity(value: object) -> Decimal | None:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    try:
        return parse_quantity(value)
    except (ValueError, TypeError):
        return None


def _percent(used: Decimal, declared: Decimal) -> float | None:
    return float(used * 100 / declared) if declared > 0 else None


def pod_usage(pods: Iterable[Mapping[str, Any]], metrics: Iterable[Mapping[str, Any]]) -> tuple[PodUsage, ...]:
    """Joins ``PodMetrics`` items (metrics.k8s.io) with the pods' declared requests and limits.

    Only containers that declare the resource count, on both sides of the ratio: a sidecar
    without a request would otherwise dilute (or, without usage, inflate) the percentage.
    """
    declared: dict[tuple[str, str], tuple[str, str, Mapping[str, Any]]] = {}
    for pod in pods:
        owner = _owner(pod)
        if owner is None:
            continue
        meta = pod.get("metadata") or {}
        resources = {
            str(c.get("name")): c.get("resources") or {} for c in (pod.get("spec") or {}).get("containers") or ()
        }
        declared[(owner[0], str(meta.get("name")))] = (owner[0], owner[1], resources)
    usages = []
    for item in metrics:
        meta = item.get("metadata") or {}
        found = declared.get((str(meta.get("namespace")), str(meta.get("name"))))
        if found is None:
            continue
        tenant, app, declared_resources = found
        cpu_used = cpu_requested = mem_used = mem_declared = Decimal(0)
        for container in item.get("containers") or ():
            own = declared_resources.get(str(container.get("name")))
            if own is None:
                continue
            usage = container.get("usage") or {}
            requests, limits = own.get("requests") or {}, own.get("limits") or {}
            cpu_request, cpu = _quantity(requests.get("cpu")), _quantity(usage.get("cpu"))
            if cpu_request is not None and cpu is not None:
                cpu_requested += cpu_request
                cpu_used += cpu
            mem_reference = _quantity(limits.get("memory"))
            if mem_reference is None:
                mem_reference = _quantity(requests.get("memory"))
            memory = _quantity(usage.get("memory"))
            if mem_reference is not None and memory is not None:
                mem_declared += mem_reference
                mem_used += memory
        usages.append(
            PodUsage(
                tenant,
                app,
                str(meta.get("name")),
                cpu_percent=_percent(cpu_used, cpu_requested),
                memory_percent=_percent(mem_used, mem_declared),
            )
        )
    return tuple(usages)


# --- restart history ------------------------------------------------------------------------------


@dataclass
class _PodTrack:
    created: datetime | None
    first_seen: datetime
    last_seen: datetime
    #: (time first seen, count): the first sample, then every change; memory grows with
    #: restarts, not with evaluations
    points: list[tuple[datetime, int]]


class RestartHistory:
    """Restart counts per pod over time, enough to answer "how many within the last window"."""

    def __init__(self) -> None:
        # By (tenant, app), then pod uid: a rule reads one app's pods, not every pod.
        self._apps: dict[tuple[str, str], dict[str, _PodTrack]] = {}

    def __len__(self) -> int:
        return sum(len(tracks) for tracks in self._apps.values())

    def record(self, now: datetime, pods: Iterable[PodSample]) -> None:
        for pod in pods:
            tracks = self._apps.setdefault((pod.tenant, pod.app), {})
            track = tracks.get(pod.uid)
            if track is None:
                tracks[pod.uid] = _PodTrack(pod.created, now, now, [(now, pod.restarts)])
                continue
            track.last_seen = now
            if pod.restarts != track.points[-1][1]:
                track.points.append((now, pod.restarts))

    def increase(self, tenant: str, app: str, now: datetime, window: timedelta) -> int:
        cutoff = now - window
        total = 0
        for track in self._apps.get((tenant, app), {}).values():
            if track.first_seen <= cutoff:
                before = [count for at, count in track.points if at <= cutoff]
                previous, later = before[-1], [count for at, count in track.points if at > cutoff]
            elif track.created is not None and track.created > cutoff:
                previous, later = 0, [count for _, count in track.points]
            else:
                previous, later = track.points[0][1], [count for _, count in track.points[1:]]
            for count in later:
                total += count - previous if count >= previous else count
                previous = count
        return total

    def prune(self, now: datetime, horizon: timedelta) -> None:
        """Forgets what no window up to ``horizon`` can see; keeps one sample before it as the
        baseline of the pods still there."""
        cutoff = now - horizon
        for app, tracks in list(self._apps.items()):
            for uid, track in list(tracks.items()):
                if track.last_seen <= cutoff:
                    del tracks[uid]  # gone, and all of its changes are older than any window
                    continue
                old = sum(1 for at, _ in track.points if at <= cutoff)
                if old > 1:
                    del track.points[: old - 1]
            if not tracks:
                del self._apps[app]

    def clear(self) -> None:
        self._apps.clear()


# --- the state machine ----------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class AlertKey:
    tenant: str
    policy: str
    rule: str
    app: str


@dataclass(frozen=True)
class Reading:
    """What a condition measured for one app: whether it holds, and words for people."""

    holds: bool
    value: int | float
    threshold: int | float
    #: e.g. ``12 pod restarts in 10m (over 5)``
    text: str
    extra: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass
class _Instance:
    rule: AlertRule
    since: datetime
    phase: Literal["pending", "firing"] = "pending"
    fired_at: datetime | None = None
    #: what the firing event said, so its resolution reaches the same people the same way
    severity: Severity = "warning"
    notify: tuple[str, ...] = ()


@dataclass(frozen=True)
class Transition:
    kind: Literal["firing", "resolved"]
    key: AlertKey
    rule: AlertRule
    time: datetime
    since: datetime  # the condition holds since
    fired_at: datetime
    severity: Severity  # the firing's severity (also for its resolution)
    notify: tuple[str, ...]
    reading: Reading | None  # None: resolved because the rule or the app is gone
    reason: str = ""


def duration_text(seconds: float) -> str:
    """``600`` -> ``10m``, ``5430`` -> ``1h30m30s``, the platform repo's own duration format."""
    rest = max(int(seconds), 0)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, rest = divmod(rest, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"


def _param(rule: AlertRule, name: str) -> int:
    value = rule.params.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value)


def hold_seconds(rule: AlertRule) -> int:
    """How long the condition must hold before it fires (podRestarts: at once, its window is
    already part of the condition)."""
    return 0 if rule.condition == "podRestarts" else _param(rule, "for")


def targets(model: PlatformModel) -> Iterator[tuple[AlertKey, AlertRule]]:
    """Every alert instance the model asks for, in the order of the repo."""
    for policy in model.policies:
        apps = [app.name for app in model.apps_of(policy.tenant)]
        for rule in policy.alerts:
            for app in apps if rule.app is None else [a for a in apps if a == rule.app]:
                yield AlertKey(policy.tenant, policy.name, rule.name, app), rule


class _Index:
    """One observation grouped by (tenant, app), built once per evaluation."""

    def __init__(self, observation: Observation) -> None:
        self.workloads: dict[tuple[str, str], list[WorkloadSample]] = {}
        for workload in observation.workloads:
            self.workloads.setdefault((workload.tenant, workload.app), []).append(workload)
        self.usage: dict[tuple[str, str], list[PodUsage]] | None = None
        if observation.usage is not None:
            self.usage = {}
            for usage in observation.usage:
                self.usage.setdefault((usage.tenant, usage.app), []).append(usage)


class AlertEngine:
    """The state of every alert instance, advanced one observation at a time. Not thread-safe."""

    def __init__(self, *, max_gap_seconds: float = 120.0) -> None:
        self.max_gap = timedelta(seconds=max_gap_seconds)
        self.history = RestartHistory()
        self._instances: dict[AlertKey, _Instance] = {}
        self._last: datetime | None = None
        self._unknown_conditions: set[str] = set()

    def state(self, key: AlertKey) -> Literal["inactive", "pending", "firing"]:
        instance = self._instances.get(key)
        return "inactive" if instance is None else instance.phase

    def active(self) -> list[tuple[AlertKey, Literal["pending", "firing"], datetime, Severity]]:
        """Every alert instance that is pending or firing: its key, phase, since when, severity."""
        return [
            (key, i.phase, i.fired_at or i.since, i.severity if i.phase == "firing" else i.rule.severity)
            for key, i in sorted(self._instances.items(), key=lambda kv: (kv[0].tenant, kv[0].app, kv[0].rule))
        ]

    def evaluate(self, model: PlatformModel, observation: Observation) -> list[Transition]:
        now = observation.time
        gap = self._last is not None and now - self._last > self.max_gap
        self._last = now
        wanted = list(targets(model))
        windows = [_param(rule, "window") for _, rule in wanted if rule.condition == "podRestarts"]
        if windows:
            self.history.record(now, observation.pods)
            self.history.prune(now, timedelta(seconds=max(windows)))
        else:
            self.history.clear()
        index = _Index(observation)
        transitions: list[Transition] = []
        for key, rule in wanted:
            transition = self._step(key, rule, self._read(key, rule, now, index), now, gap=gap)
            if transition is not None:
                transitions.append(transition)
        live = {key for key, _ in wanted}
        for key in sorted(set(self._instances) - live):
            instance = self._instances.pop(key)
            if instance.phase == "firing":
                transitions.append(self._resolved(key, instance, now, None, "its rule or app left the platform repo"))
        return transitions

    def _step(
        self, key: AlertKey, rule: AlertRule, reading: Reading | None, now: datetime, *, gap: bool
    ) -> Transition | None:
        instance = self._instances.get(key)
        if reading is None:
            if instance is not None and instance.phase == "pending":
                del self._instances[key]  # not seen to hold all along: the wait starts over
            return None
        if not reading.holds:
            if instance is None:
                return None
            del self._instances[key]
            return self._resolved(key, instance, now, reading, "") if instance.phase == "firing" else None
        if instance is None or (instance.phase == "pending" and (gap or instance.rule != rule)):
            instance = self._instances[key] = _Instance(rule, since=now)
        if instance.phase == "firing" or now - instance.since < timedelta(seconds=hold_seconds(rule)):
            return None
        instance.phase, instance.fired_at = "firing", now
        instance.severity, instance.notify = rule.severity, tuple(rule.notify)
        return Transition("firing", key, rule, now, instance.since, now, rule.severity, instance.notify, reading)

    @staticmethod
    def _resolved(
        key: AlertKey, instance: _Instance, now: datetime, reading: Reading | None, reason: str
    ) -> Transition:
        fired_at = instance.fired_at or now
        return Transition(
            "resolved",
            key,
            instance.rule,
            now,
            instance.since,
            fired_at,
            instance.severity,
            instance.notify,
            reading,
            reason,
        )

    def _read(self, key: AlertKey, rule: AlertRule, now: datetime, index: _Index) -> Reading | None:
        app = (key.tenant, key.app)
        if rule.condition == "podRestarts":
            over, window = _param(rule, "over"), _param(rule, "window")
            count = self.history.increase(key.tenant, key.app, now, timedelta(seconds=window))
            noun = "pod restart" if count == 1 else "pod restarts"
            text = f"{count} {noun} in {duration_text(window)} (over {over})"
            return Reading(count > over, count, over, text, {"window": duration_text(window)})
        hold = {"for": duration_text(_param(rule, "for"))}
        if rule.condition == "unavailable":
            workloads = index.workloads.get(app)
            if not workloads:
                return None  # not applied yet, or being replaced: no verdict
            desired = sum(w.desired for w in workloads)
            available = sum(w.available for w in workloads)
            text = f"{available} of {desired} replicas available"
            return Reading(available < desired, available, desired, text, hold)
        if rule.condition in USAGE_CONDITIONS:
            if index.usage is None:
                return None
            cpu = rule.condition == "cpuAbove"
            measured = [
                (percent, u.pod)
                for u in index.usage.get(app, ())
                if (percent := u.cpu_percent if cpu else u.memory_percent) is not None
            ]
            if not measured:
                return None
            percent, pod = max(measured)
            threshold = _param(rule, "percent")
            what = "CPU at {:.0f}% of request" if cpu else "memory at {:.0f}% of limit"
            text = what.format(percent) + f" in pod {pod} (above {threshold}%)"
            return Reading(percent > threshold, round(percent, 1), threshold, text, {**hold, "pod": pod})
        if rule.condition not in self._unknown_conditions:
            self._unknown_conditions.add(rule.condition)
            log.warning("alert condition %r is not known to this daemon; rules using it are ignored", rule.condition)
        return None


# --- events ---------------------------------------------------------------------------------------


def alert_event(transition: Transition) -> Event:
    """``alert.firing`` or ``alert.resolved`` for a transition, as the notifiers expect them:
    ``details["alert"]`` is the identity pacing deduplicates by, ``details["notify"]`` names the
    extra lists, and a resolution carries ``details["firingSeverity"]`` so it reaches every list
    that heard the firing."""
    key, reading = transition.key, transition.reading
    where = f"{key.tenant}/{key.app}"
    details: dict[str, Any] = {
        "alert": key.rule,
        "policy": key.policy,
        "condition": transition.rule.condition,
        "notify": list(transition.notify),
    }
    if reading is not None:
        details.update(value=reading.value, threshold=reading.threshold, **reading.extra)
    # Firing and resolution share a group: chat targets thread the resolution under its firing.
    group = f"alert:{key.tenant}/{key.app}/{key.policy}/{key.rule}@{int(transition.fired_at.timestamp())}"
    if transition.kind == "firing":
        assert reading is not None
        summary = f"{where}: {reading.text}"
        hold = hold_seconds(transition.rule)
        if hold:
            # The rule's `for`, not the time measured (up to one interval more): the same alert
            # firing again after a restart then reads the same, and pacing can recognise it.
            summary += f" for {duration_text(hold)}"
        details["since"] = transition.since.isoformat()
        return Event.make(
            "alert.firing",
            summary,
            severity=transition.severity,
            tenant=key.tenant,
            app=key.app,
            group=group,
            details=details,
            time=transition.time,
        )
    lasted = duration_text((transition.time - transition.fired_at).total_seconds())
    cause = f"now {reading.text}" if reading is not None else transition.reason
    details.update(firingSeverity=transition.severity, firedAt=transition.fired_at.isoformat())
    return Event.make(
        "alert.resolved",
        f"{where}: {key.rule} resolved after {lasted}: {cause}",
        tenant=key.tenant,
        app=key.app,
        group=group,
        details=details,
        time=transition.time,
    )
