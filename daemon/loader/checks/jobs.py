"""Job: a name no App of its tenant has (their pods share the app label) and that fits the names
Kubernetes derives from it, and schedule settings only on scheduled Jobs."""

from __future__ import annotations

from typing import Final

from daemon.loader import formats
from daemon.loader.checks.context import CheckContext, where
from daemon.model.workload import JOB_DIGEST_LENGTH, MAX_JOB_NAME

#: A CronJob's Jobs are named ``<name>-<11 characters>``, and Job names become pod labels.
MAX_CRONJOB_NAME: Final = MAX_JOB_NAME - 11
MAX_ONE_OFF_NAME: Final = MAX_JOB_NAME - JOB_DIGEST_LENGTH - 1
SCHEDULE_ONLY: Final = ("timezone", "concurrency", "startingDeadline", "history")
DURATIONS: Final = ("startingDeadline", "activeDeadline")


def check(ctx: CheckContext) -> None:
    for entry in ctx.valid["Job"]:
        spec = entry.spec()
        app = ctx.entry("App", str(entry.name), entry.tenant)
        if app is not None:
            ctx.report(
                entry,
                ("metadata", "name"),
                f"App '{entry.name}' of this tenant has this name already; the pods of both would carry it",
                f"see {where(app)}; give the Job another name",
                code="ref.duplicate",
            )
        scheduled = "schedule" in spec
        limit = MAX_CRONJOB_NAME if scheduled else MAX_ONE_OFF_NAME
        if len(str(entry.name)) > limit:
            what = "a scheduled Job's runs get" if scheduled else "a one-off Job gets"
            ctx.report(
                entry,
                ("metadata", "name"),
                f"the name is {len(str(entry.name))} characters long; the limit here is {limit}",
                f"{what} a suffix, and Kubernetes takes at most {MAX_JOB_NAME} characters",
                code="value.name",
            )
        if not scheduled:
            for field in SCHEDULE_ONLY:
                if field in spec:
                    ctx.report(
                        entry,
                        ("spec", field),
                        f"{field} applies to scheduled Jobs only",
                        "add a schedule, or remove it",
                        code="value.job",
                        key=True,
                    )
        for field in DURATIONS:
            if isinstance(spec.get(field), str) and formats.parse_duration(spec[field]) == 0:
                ctx.report(entry, ("spec", field), f"{field} must be longer than 0s", code="value.duration")
