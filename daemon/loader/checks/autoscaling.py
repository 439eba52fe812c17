"""Autoscaling: one per existing App, and replica bounds that can be met, schedules included."""

from __future__ import annotations

from daemon.loader import formats
from daemon.loader.checks.context import CheckContext, items, where
from daemon.loader.documents import Entry


def check(ctx: CheckContext) -> None:
    targets: dict[tuple[str | None, str], Entry] = {}
    for entry in ctx.valid["Autoscaling"]:
        spec = entry.spec()
        target = spec["target"]
        if ctx.require(entry, ("spec", "target"), "App", target, entry.tenant, noun="App"):
            key = (entry.tenant, target)
            if key in targets:
                ctx.report(
                    entry,
                    ("spec", "target"),
                    f"App '{target}' already has an Autoscaling ('{targets[key].name}')",
                    f"see {where(targets[key], ('spec', 'target'))}; one Autoscaling per App",
                    code="ref.autoscaling",
                )
            else:
                targets[key] = entry
        low, high = spec["minReplicas"], spec["maxReplicas"]
        if low > high:
            ctx.report(
                entry,
                ("spec", "minReplicas"),
                f"minReplicas {low} is above maxReplicas {high}",
                code="value.replicas",
            )
        for i, schedule in enumerate(items(spec.get("schedules"))):
            lower = schedule.get("minReplicas", low)
            upper = schedule.get("maxReplicas", high)
            if lower > upper:
                ctx.report(
                    entry,
                    ("spec", "schedules", i),
                    f"while this schedule is active the replicas would be at least {lower} and at most {upper}",
                    "keep minReplicas at or below maxReplicas",
                    code="value.replicas",
                    key=True,
                )
            if formats.parse_duration(schedule["duration"]) == 0:
                ctx.report(
                    entry,
                    ("spec", "schedules", i, "duration"),
                    "a schedule must last longer than 0s",
                    code="value.duration",
                )
