"""History kept in a real ConfigMap: order, restarts, trimming, concurrent writers, the CLI."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.edges.kube import KubeClient
from daemon.model.audit import HistoryKind, HistoryRecord, HistoryResult, new_record_id
from daemon.state.history import (
    DATA_KEY,
    MAX_DATA_BYTES,
    MAX_RECORD_BYTES,
    STORE_LABEL,
    AuditQuery,
    HistoryStore,
    Retention,
)
from daemon.views.history import format_history
from tests.fixtures_cluster import namespace_name

pytestmark = pytest.mark.cluster


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    client = KubeClient(str(kubeconfig))
    try:
        yield client
    finally:
        client.close()


def record(
    n: int,
    *,
    kind: HistoryKind = "sync",
    result: HistoryResult = "succeeded",
    changes: list[str] | None = None,
    **extra: str,
) -> HistoryRecord:
    return HistoryRecord(
        id=f"rec-{n:04d}",
        kind=kind,
        started=f"2024-05-01T12:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
        finished=f"2024-05-01T12:{n // 60 % 60:02d}:{n % 60:02d}.5+00:00",
        revision=f"{n:040x}",
        author="Ann Author <ann@example.com>",
        message=f"commit {n}\n\nbody",
        trigger="webhook",
        result=result,
        counts={"created": n, "updated": 1},
        changes=changes if changes is not None else [f"Deployment/shop/web{n}: image changed"],
        errors=[],
        duration_seconds=1.25,
        **extra,
    )


def test_records_read_back_newest_first_and_survive_a_restart(
    kube: KubeClient, kubeconfig: Path, namespace: str
) -> None:
    store = HistoryStore(kube, namespace=namespace)
    assert store.list() == []
    written = [record(1), record(2, kind="command", result="denied", user="U123", channel="C9", command="pause shop")]
    written.append(record(3, kind="validation", result="invalid"))
    for r in written:
        store.append(r)

    assert store.list() == list(reversed(written))
    assert store.list(limit=2) == [written[2], written[1]]

    restarted_client = KubeClient(str(kubeconfig))
    try:
        assert HistoryStore(restarted_client, namespace=namespace).list() == list(reversed(written))
    finally:
        restarted_client.close()


def test_the_store_creates_its_namespace(kube: KubeClient, request: pytest.FixtureRequest) -> None:
    missing = namespace_name(request.node.name)
    store = HistoryStore(kube, namespace=missing, name="history")
    try:
        store.append(record(1))
        assert store.list() == [record(1)]
    finally:
        kube.delete(kube.resource_type("v1", "Namespace"), None, missing)


def test_nothing_is_trimmed_on_append_and_a_full_day_continues_in_the_next_configmap(
    kube: KubeClient, namespace: str
) -> None:
    store = HistoryStore(kube, namespace=namespace, name="big")
    huge = [f"ConfigMap/t/{i:05d}: {'x' * 150}" for i in range(2000)]  # ~350 KiB of changes
    for n in range(30):  # about 43 KiB each once bounded: more than one ConfigMap holds
        store.append(record(n, changes=huge))

    chunks = kube.list_objects(
        kube.resource_type("v1", "ConfigMap"), namespace=namespace, label_selector=f"{STORE_LABEL}=big"
    )
    assert len(chunks) >= 2, "one day's records outgrew one ConfigMap"
    for chunk in chunks:
        assert len(chunk["data"][DATA_KEY].encode()) <= MAX_DATA_BYTES
    records = store.list()
    assert [r.id for r in records] == [f"rec-{n:04d}" for n in reversed(range(30))], "every record is kept"
    assert records[0].changes[-1].startswith("... and ")
    kept = len(records[0].changes) - 1
    assert records[0].changes[-1] == f"... and {2000 - kept} more"
    assert records[0].changes[:kept] == huge[:kept]
    assert len(records[0].to_json().encode()) < MAX_RECORD_BYTES * 2


def test_retention_deletes_whole_old_days_and_says_what_it_removed(kube: KubeClient, namespace: str) -> None:
    store = HistoryStore(kube, namespace=namespace)
    for day, count in ((1, 3), (2, 2), (20, 4)):
        for n in range(count):
            store.append(replace(record(day * 100 + n), started=f"2024-05-{day:02d}T08:00:{n:02d}+00:00"))
    assert store.count() == 9

    report = store.prune(datetime(2024, 5, 21, tzinfo=UTC), Retention(days=10, records=1000))
    assert (report.records, report.days) == (5, ("20240501", "20240502"))
    assert store.count() == 4
    assert store.prune(datetime(2024, 5, 21, tzinfo=UTC), Retention(days=365, records=5)).empty, "within both"
    for n in range(3):
        store.append(replace(record(2100 + n), started=f"2024-05-21T08:00:{n:02d}+00:00"))
    # Over the record budget: the oldest days go, but never the newest one.
    report = store.prune(datetime(2024, 5, 21, tzinfo=UTC), Retention(days=365, records=5))
    assert (report.records, report.days) == (4, ("20240520",))
    assert [r.id for r in store.list()] == ["rec-2102", "rec-2101", "rec-2100"]
    report = store.prune(datetime(2024, 5, 21, tzinfo=UTC), Retention(days=365, records=1))
    assert report.empty and store.count() == 3, "the newest day always stays"


def test_queries_filter_by_tenant_user_kind_and_time(kube: KubeClient, namespace: str) -> None:
    store = HistoryStore(kube, namespace=namespace)
    store.append(replace(record(1), tenants=["shop"], started="2024-05-01T08:00:00+00:00"))
    store.append(replace(record(2, kind="command", user="alice (U1)", command="scale shop web 3"), tenants=["shop"]))
    store.append(replace(record(3), tenants=["payments"], started="2024-05-03T08:00:00+00:00"))
    assert [r.id for r in store.query(AuditQuery(tenant="shop"))] == ["rec-0002", "rec-0001"]
    assert [r.id for r in store.query(AuditQuery(user="alice"))] == ["rec-0002"]
    assert [r.id for r in store.query(AuditQuery(kind="command"))] == ["rec-0002"]
    since = datetime(2024, 5, 2, tzinfo=UTC)
    assert [r.id for r in store.query(AuditQuery(since=since))] == ["rec-0003"]
    assert store.contains("sync", f"{3:040x}") and not store.contains("validation", f"{3:040x}")


def test_concurrent_appends_lose_nothing(kubeconfig: Path, namespace: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def writer(prefix: str) -> None:
        client = KubeClient(str(kubeconfig))
        try:
            store = HistoryStore(client, namespace=namespace)
            barrier.wait()
            for n in range(15):
                store.append(replace(record(n), id=f"{prefix}-{n}"))
        except BaseException as e:
            errors.append(e)
        finally:
            client.close()

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    check = KubeClient(str(kubeconfig))
    try:
        ids = [r.id for r in HistoryStore(check, namespace=namespace).list()]
    finally:
        check.close()
    assert sorted(ids) == sorted([f"a-{n}" for n in range(15)] + [f"b-{n}" for n in range(15)])
    for prefix in ("a", "b"):
        mine = [i for i in ids if i.startswith(prefix)]
        assert mine == [f"{prefix}-{n}" for n in reversed(range(15))], "each writer's order is kept"


def test_dockyard_history_command(
    kube: KubeClient, kubeconfig: Path, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = HistoryStore(kube, namespace=namespace)
    store.append(record(1))
    store.append(record(2, kind="command", result="allowed", user="alice", channel="#ops", command="sync now"))
    store.append(record(3, result="failed"))
    base = ["history", "--kubeconfig", str(kubeconfig), "--namespace", namespace]

    assert main([*base, "--output", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == ["rec-0003", "rec-0002", "rec-0001"]
    assert HistoryRecord.from_json(listed[1]) == record(
        2, kind="command", result="allowed", user="alice", channel="#ops", command="sync now"
    )

    assert main([*base, "--output", "json", "--kind", "command"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ["rec-0002"]

    assert main([*base, "--output", "json", "--limit", "1"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ["rec-0003"]

    assert main(base) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == [
        "STARTED",
        "KIND",
        "TRIGGER",
        "RESULT",
        "REVISION",
        "DURATION",
        "BY",
        "SUMMARY",
    ]
    assert "sync now" in text
    assert "commit 3" in text

    empty = namespace_name("empty-history")
    assert main(["history", "--kubeconfig", str(kubeconfig), "--namespace", empty]) == 0
    assert capsys.readouterr().out == "no history recorded yet\n"


# --- pure parts -------------------------------------------------------------------------------


def test_record_json_round_trip_ignores_unknown_fields_and_rejects_garbage() -> None:
    original = record(7, kind="drift", user="u")
    assert HistoryRecord.from_json(original.to_json()) == original
    newer = json.loads(original.to_json()) | {"added_in_a_later_version": True}
    assert HistoryRecord.from_json(json.dumps(newer)) == original
    for bad in ("[]", "{}", json.dumps({**json.loads(original.to_json()), "counts": []}), "{oops"):
        with pytest.raises(ValueError):
            HistoryRecord.from_json(bad)


def test_format_history_and_ids() -> None:
    table = format_history([record(2, result="failed"), record(1)])
    lines = table.splitlines()
    assert len(lines) == 3
    assert lines[1].split()[:5] == ["2024-05-01", "12:00:02", "sync", "webhook", "failed"]
    assert "Ann Author" in lines[1]
    assert "<ann@example.com>" not in table
    assert format_history([]) == "no history recorded yet\n"
    first, second = new_record_id(1_700_000_000.0), new_record_id(1_700_000_001.0)
    assert first < second
    assert new_record_id(1.0) != new_record_id(1.0)
