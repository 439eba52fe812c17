"""Values that validate are values the daemon can use, and a hostile commit is rejected in seconds
within bounded memory: budgets on durations, numbers and quantities, on the repo, and on problems."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.loader import budget
from daemon.policy.windows import active_scale_schedules, is_open
from tests.loader.helpers import line_of, repo
from tests.tenancy.helpers import document, errors_at, load, platform_with

X = "tenants/shop/x.yaml"
SCALING = (
    "target: api\nminReplicas: 1\nmaxReplicas: 2\nschedules:\n  - cron: '0 8 * * *'\n    duration: {duration}\n"
    "    minReplicas: 2"
)


@pytest.mark.parametrize("duration", ["800000d", "367d", "9000h", "99999999999999999999999m"])
def test_durations_longer_than_a_year_are_refused_where_written(tmp_path: Path, duration: str) -> None:
    content = document("Autoscaling", "x", SCALING.format(duration=duration))
    [problem] = errors_at(load(tmp_path, {X: content}), X)
    assert (problem.line, problem.path) == (line_of(content, "duration"), "$.spec.schedules[0].duration")
    assert problem.message.startswith(f"'{duration}' is not a valid duration")
    assert "366d" in problem.message + problem.hint


def test_the_longest_durations_allowed_still_work_at_run_time(tmp_path: Path) -> None:
    # 800000d used to validate and then raise OverflowError in every cycle, so no tenant synced.
    platform = platform_with("")  # the base windows
    files = {
        X: document("Autoscaling", "x", SCALING.format(duration="366d")),
        "platform.yaml": platform.replace("duration: 8h", "duration: 366d"),
        # Two replicas of the stateful api: a claim each.
        "tenants/shop/volume.yaml": document("Volume", "data", "size: 1Gi\nperReplica: true"),
    }
    result = load(tmp_path, files)
    assert result.model is not None, [p.format() for p in result.errors]
    for now in (datetime(2030, 1, 1, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)):
        active_scale_schedules(result.model.autoscalings, now)
        is_open(result.model.platform.sync.windows[0], now)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("image: nginx:1.27\nreplicas: " + "9" * 5000, "number is 5,000 characters long; the limit is 64"),
        (
            "image: nginx:1.27\nreplicas: 99999999999999999999",
            "99999999999999999999 is too large: numbers are at most 9,223,372,036,854,775,807",
        ),
        ("image: nginx:1.27\nreplicas: 10001", "replicas must be at most 10000, not 10001"),
        ("image: nginx:1.27\nreplicas: .inf", ".inf is not a finite number"),
        (
            "image: nginx:1.27\nresources: {cpu: '100001'}",
            "'100001' is not a valid Kubernetes quantity: more than the limit of 100000 cores",
        ),
        (
            "image: nginx:1.27\nresources: {memory: 1e999999999}",
            "'1e999999999' is not a valid Kubernetes quantity: more than the limit of 1Pi",
        ),
        ("image: nginx:1.27\nresources: {memory: 1.0e+999999999}", "1.0e+999999999 is not a finite number"),
        (
            "image: nginx:1.27\nresources: {memory: 2Ei}",
            "'2Ei' is not a valid Kubernetes quantity: more than the limit of 1Pi",
        ),
    ],
)
def test_numbers_and_quantities_are_bounded_with_a_located_error(tmp_path: Path, spec: str, message: str) -> None:
    problems = errors_at(load(tmp_path, {X: document("App", "x", spec)}), X)
    assert [p.message for p in problems] == [message]
    assert problems[0].line == line_of(document("App", "x", spec), spec.splitlines()[-1][:8])


def test_volume_sizes_and_quotas_are_bounded(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        {
            X: document("Volume", "x", "size: 1e999999999"),
            "tenants/other/tenant.yaml": document("Tenant", "other", "quota: {cpu: 1e6, memory: 2Pi, pods: 100000000}"),
        },
    )
    assert [(p.file, p.message) for p in result.errors] == [
        (
            "tenants/other/tenant.yaml",
            "'1e6' is not a valid Kubernetes quantity: more than the limit of 100000 cores",
        ),
        ("tenants/other/tenant.yaml", "'2Pi' is not a valid Kubernetes quantity: more than the limit of 1Pi"),
        ("tenants/other/tenant.yaml", "pods must be at most 1000000, not 100000000"),
        (X, "'1e999999999' is not a valid Kubernetes quantity: more than the limit of 1Pi"),
    ]


def test_problems_are_capped_per_document_and_per_file(tmp_path: Path) -> None:
    many = document("App", "x", "image: nginx:1.27\nargs: [" + ", ".join(["1"] * 3000) + "]")
    documents = "---\n".join(document("App", f"y{i}", "image: nginx:1.27\nreplicas: -1") for i in range(80))
    result = load(tmp_path, {X: many, "tenants/shop/y.yaml": documents})
    of_x = errors_at(result, X)
    assert len(of_x) == budget.MAX_EXPLAINED_PER_DOCUMENT + 1
    assert of_x[-1].message == "and at least 1,000 more schema errors in this document"
    of_y = [p for p in result.problems if p.file == "tenants/shop/y.yaml"]
    assert len(of_y) == budget.MAX_PROBLEMS_PER_FILE + 1
    assert of_y[-1].message == "and 30 more problems in this file"
    assert of_y[-1].severity == "error"


HOSTILE = r"""
import json, resource, sys, time
from pathlib import Path
from daemon.loader import load_repo
started = time.monotonic()
result = load_repo(Path(sys.argv[1]))
print(json.dumps({
    "seconds": time.monotonic() - started,
    "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "problems": len(result.problems),
    "valid": result.model is not None,
    "messages": [p.message for p in result.problems if p.code.startswith("budget")],
}))
"""


def test_a_hostile_commit_is_rejected_in_seconds_within_bounded_memory(tmp_path: Path) -> None:
    # 20 files of 100,000 bad items: minutes and 1.6 GB before the budgets.
    root = repo(tmp_path / "repo")
    for i in range(20):
        items = ",".join(["1"] * 99_000)
        head = f"apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata:\n  name: bad{i}\nspec:\n  image: x:1\n"
        (root / f"tenants/shop/bad{i:02}.yaml").write_text(f"{head}  args: [{items}]\n")
    baseline = _run(HOSTILE, repo(tmp_path / "small"))
    measured = _run(HOSTILE, root)
    assert not measured["valid"]
    assert measured["problems"] <= budget.MAX_PROBLEMS + 1
    assert any(m.startswith("the repository holds more than 1,000,000 values") for m in measured["messages"])
    assert any(m == "and at least 1,000 more schema errors in this document" for m in measured["messages"])
    # Generous for a shared machine: measured 5 s and 390 MiB (of which ~60 MiB is the interpreter).
    assert measured["seconds"] < 30, measured
    assert measured["max_rss_kib"] - baseline["max_rss_kib"] < 600 * 1024, (measured, baseline)


def _run(script: str, root: Path) -> dict[str, object]:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", script, str(root)], capture_output=True, text=True, check=True, timeout=120
    )
    assert time.monotonic() - started < 60
    result: dict[str, object] = json.loads(out.stdout)
    return result
