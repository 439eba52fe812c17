"""What the HorizontalPodAutoscalers did, from their status (pure: no I/O, no clock).

:mod:`daemon.engine.scaling` lists Dockyard's HPAs every few seconds, parses them with
:func:`hpa_samples` and hands them to :class:`ScalingTracker`, which remembers each HPA between
observations and says what changed:

* **scaled**: the HPA's desired replica count moved (``status.desiredReplicas``), up or down,
  with the metric that decided it (the one furthest above or below its target: the HPA scales to
  the largest of the metrics' proposals) and the scale-down stabilisation window the HPA waited.
  A change that lands while a scheduled scaling change waits for its HPA (see ``expect``) is
  announced as that schedule's result.
* **limited**: the HPA wants more replicas than ``maxReplicas`` allows (``ScalingLimited`` is
  ``True`` with reason ``TooManyReplicas``). Said once per episode; the episode ends when the
  condition does. Being held at ``minReplicas`` (``TooFewReplicas``) is an idle app, not news.
* **rebounded**: a scheduled scaling change reached the HPA (it observed the new bounds) and the
  replicas were already inside them, so nothing moved; said so people know the schedule ran.

An HPA seen for the first time (a new leader, a new HPA) is only recorded: what it did before is
not known, and announcing its current state would repeat what an earlier leader said. An HPA
replaced under the same name (a new uid) starts over the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from daemon.model.labels import APP_LABEL

#: the HPA controller's default when an HPA sets no scale-down stabilisation window
DEFAULT_SCALE_DOWN_WINDOW_SECONDS = 300


@dataclass(frozen=True)
class MetricReading:
    """One metric of an HPA: its target and what the HPA last measured."""

    name: str  # "cpu", "memory", or the metric's name for other types
    target: str  # "50%" or a quantity ("1Gi")
    current: str  # "" before the first measurement
    #: current / target; None when either is unknown
    ratio: float | None = None

    @property
    def text(self) -> str:
        if not self.current:
            return f"{self.name}: no measurement yet (target {self.target})"
        what = " of its request" if self.target.endswith("%") else ""
        return f"{self.name} at {self.current}{what} (target {self.target})"


@dataclass(frozen=True)
class HpaSample:
    """One HorizontalPodAutoscaler as its status describes it."""

    namespace: str
    name: str
    uid: str
    tenant: str
    app: str
    generation: int
    observed_generation: int
    min_replicas: int
    max_replicas: int
    current_replicas: int
    desired_replicas: int
    last_scale_time: str
    #: reason of ``ScalingLimited`` while it is True, else ""
    limited: str = ""
    #: when ``ScalingLimited`` last changed, the identity of a limit episode
    limited_since: str = ""
    metrics: tuple[MetricReading, ...] = ()
    scale_down_window_seconds: int = DEFAULT_SCALE_DOWN_WINDOW_SECONDS
    #: the HPA computed its desired replicas from metrics (``ScalingActive``): until it first
    #: does, and while its metrics are missing, ``desiredReplicas`` is 0 or stale
    computed: bool = True

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def bounds(self) -> str:
        return f"{self.min_replicas}-{self.max_replicas}"

    @property
    def deciding_metric(self) -> MetricReading | None:
        """The metric that set the replica count: the HPA takes the largest proposal, which is
        the one with the largest current/target ratio."""
        measured = [m for m in self.metrics if m.ratio is not None]
        if measured:
            return max(measured, key=lambda m: m.ratio or 0.0)
        return self.metrics[0] if self.metrics else None


@dataclass(frozen=True)
class ScheduledScaling:
    """A scheduled scaling window opened or closed and the HPA's new bounds were applied."""

    tenant: str
    app: str
    before: str  # "1-3"
    after: str  # "4-6"
    #: e.g. "the schedule '0 8 * * 1-5' (UTC) began"
    why: str


@dataclass(frozen=True)
class ScalingTransition:
    kind: Literal["scaled", "limited", "rebounded"]
    hpa: HpaSample
    #: replicas before and after (equal for limited and rebounded)
    before: int
    after: int
    #: the schedule whose change this is, for scaled and rebounded
    schedule: ScheduledScaling | None = None

    @property
    def metric(self) -> MetricReading | None:
        return self.hpa.deciding_metric

    @property
    def wanted(self) -> int | None:
        """For a limited HPA: about how many replicas its metrics ask for (the HPA's own formula,
        replicas x current/target, rounded up)."""
        metric = self.metric
        if metric is None or metric.ratio is None:
            return None
        return math.ceil(self.hpa.current_replicas * metric.ratio - 1e-9)


@dataclass
class _Track:
    uid: str
    desired: int
    #: the limit episode already announced (``limited_since``), "" when not limited
    limit_episode: str


@dataclass
class ScalingTracker:
    """The last state seen of every HPA and the scheduled changes waiting for theirs. Not
    thread-safe: :class:`daemon.engine.scaling.ScalingWatcher` holds the lock."""

    _tracks: dict[str, _Track] = field(default_factory=dict)
    #: scheduled changes not yet seen on their HPA, by HPA key (namespace/name)
    _expected: dict[str, ScheduledScaling] = field(default_factory=dict)

    def expect(self, change: ScheduledScaling) -> None:
        """The reconciler applied new bounds for a schedule; announce what the HPA does with them.
        A later change of the same HPA before that replaces it, keeping the first ``before``."""
        key = f"{change.tenant}/{change.app}"
        earlier = self._expected.get(key)
        self._expected[key] = change if earlier is None else replace(change, before=earlier.before)

    @property
    def expected(self) -> tuple[ScheduledScaling, ...]:
        return tuple(self._expected.values())

    def observe(self, samples: Iterable[HpaSample]) -> list[ScalingTransition]:
        transitions: list[ScalingTransition] = []
        seen: set[str] = set()
        for hpa in samples:
            seen.add(hpa.key)
            transitions.extend(self._step(hpa))
        for key in set(self._tracks) - seen:
            del self._tracks[key]  # deleted: a new one under this name starts over
        for key in set(self._expected) - seen:
            # Bounds are expected only after they were applied, so the HPA exists; gone now, it
            # will never act on them.
            del self._expected[key]
        return transitions

    def _step(self, hpa: HpaSample) -> list[ScalingTransition]:
        if not hpa.computed:
            return []  # its desired count means nothing now; keep what was known
        track = self._tracks.get(hpa.key)
        episode = hpa.limited_since if hpa.limited == "TooManyReplicas" else ""
        if track is None or track.uid != hpa.uid:
            self._tracks[hpa.key] = _Track(hpa.uid, hpa.desired_replicas, episode)
            return []
        out: list[ScalingTransition] = []
        schedule = self._expected.get(hpa.key)
        arrived = schedule is not None and hpa.bounds == schedule.after and hpa.observed_generation >= hpa.generation
        if arrived:
            del self._expected[hpa.key]
        if hpa.desired_replicas != track.desired:
            out.append(
                ScalingTransition("scaled", hpa, track.desired, hpa.desired_replicas, schedule if arrived else None)
            )
            track.desired = hpa.desired_replicas
        elif arrived:
            out.append(ScalingTransition("rebounded", hpa, track.desired, track.desired, schedule))
        if episode and episode != track.limit_episode:
            out.append(ScalingTransition("limited", hpa, hpa.desired_replicas, hpa.desired_replicas))
        track.limit_episode = episode
        return out


# --- parsing HPAs (JSON as the API returns it) ----------------------------------------------------


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in status.get("conditions") or () if isinstance(c, Mapping) and c.get("type")}


def _target_text(target: Mapping[str, Any]) -> tuple[str, float | None]:
    if target.get("type") == "Utilization" and "averageUtilization" in target:
        percent = _int(target.get("averageUtilization"))
        return f"{percent}%", float(percent)
    for key in ("averageValue", "value"):
        if key in target:
            return str(target[key]), None
    return "?", None


def _current_text(current: Mapping[str, Any], utilization: bool) -> tuple[str, float | None]:
    if utilization and "averageUtilization" in current:
        percent = _int(current.get("averageUtilization"))
        return f"{percent}%", float(percent)
    for key in ("averageValue", "value"):
        if key in current:
            return str(current[key]), None
    return "", None


def _metric_name(metric: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """(name, the metric's source block) of a spec.metrics or status.currentMetrics entry."""
    kind = str(metric.get("type", ""))
    block_key = {
        "Resource": "resource",
        "ContainerResource": "containerResource",
        "Pods": "pods",
        "Object": "object",
        "External": "external",
    }.get(kind, "")
    block = metric.get(block_key) if block_key else None
    if not isinstance(block, Mapping):
        return kind or "metric", {}
    name = block.get("name")
    if name is None and isinstance(block.get("metric"), Mapping):
        name = block["metric"].get("name")
    return str(name or kind), block


def _readings(spec: Mapping[str, Any], status: Mapping[str, Any]) -> tuple[MetricReading, ...]:
    currents: dict[str, Mapping[str, Any]] = {}
    for metric in status.get("currentMetrics") or ():
        if isinstance(metric, Mapping):
            name, block = _metric_name(metric)
            current = block.get("current")
            if isinstance(current, Mapping):
                currents[name] = current
    readings = []
    for metric in spec.get("metrics") or ():
        if not isinstance(metric, Mapping):
            continue
        name, block = _metric_name(metric)
        target_block = block.get("target")
        target, target_value = _target_text(target_block if isinstance(target_block, Mapping) else {})
        current, current_value = _current_text(currents.get(name, {}), utilization=target.endswith("%"))
        ratio = current_value / target_value if current_value is not None and target_value else None
        readings.append(MetricReading(name, target, current, ratio))
    return tuple(readings)


def hpa_sample(obj: Mapping[str, Any]) -> HpaSample | None:
    """An HPA of a Dockyard tenant as a sample; None for anything that is not one."""
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace"), meta.get("name")
    if not isinstance(namespace, str) or not isinstance(name, str):
        return None
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conditions = _conditions(status)
    limited = conditions.get("ScalingLimited") or {}
    down = ((spec.get("behavior") or {}).get("scaleDown") or {}).get("stabilizationWindowSeconds")
    labels = meta.get("labels") or {}
    return HpaSample(
        namespace=namespace,
        name=name,
        uid=str(meta.get("uid", "")),
        # A tenant's objects always live in the namespace named after it.
        tenant=namespace,
        app=str(labels.get(APP_LABEL) or name),
        generation=_int(meta.get("generation")),
        observed_generation=_int(status.get("observedGeneration")),
        min_replicas=_int(spec.get("minReplicas"), 1),
        max_replicas=_int(spec.get("maxReplicas")),
        current_replicas=_int(status.get("currentReplicas")),
        desired_replicas=_int(status.get("desiredReplicas")),
        last_scale_time=str(status.get("lastScaleTime") or ""),
        limited=str(limited.get("reason", "")) if limited.get("status") == "True" else "",
        limited_since=str(limited.get("lastTransitionTime", "")),
        metrics=_readings(spec, status),
        scale_down_window_seconds=_int(down, DEFAULT_SCALE_DOWN_WINDOW_SECONDS),
        computed=(conditions.get("ScalingActive") or {}).get("status") == "True",
    )


def hpa_samples(objects: Iterable[Mapping[str, Any]]) -> tuple[HpaSample, ...]:
    return tuple(sample for obj in objects if (sample := hpa_sample(obj)) is not None)
