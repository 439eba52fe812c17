"""deploy/monitoring: Prometheus finds Dockyard, and the alert rules for Dockyard's own failure
modes are valid (promtool check rules), behave as their unit tests say (promtool test rules) and
only read metrics the daemon exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from daemon.edges.metrics import DaemonMetrics
from notifiers.metrics import NotifierMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MONITORING = DEPLOY / "monitoring"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def rules_file(tmp_path: Path, spec: dict[str, Any] | None = None) -> Path:
    """The PrometheusRule's groups as a Prometheus rules file, next to the unit tests."""
    spec = spec if spec is not None else load(MONITORING / "prometheusrule.yaml")["spec"]
    path = tmp_path / "dockyard.rules.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    shutil.copy(MONITORING / "dockyard.rules.test.yaml", tmp_path)
    return path


def promtool_run(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_the_rules_pass_promtool_check(promtool: Path, tmp_path: Path) -> None:
    result = promtool_run(promtool, "check", "rules", str(rules_file(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_a_broken_rule_fails_promtool_check(promtool: Path, tmp_path: Path) -> None:
    spec = load(MONITORING / "prometheusrule.yaml")["spec"]
    spec["groups"][0]["rules"][0]["expr"] = "absent(up{job="  # unbalanced
    result = promtool_run(promtool, "check", "rules", str(rules_file(tmp_path, spec)), cwd=tmp_path)
    assert result.returncode != 0 and "DockyardDown" not in result.stdout


def test_the_rules_behave_as_their_unit_tests_say(promtool: Path, tmp_path: Path) -> None:
    rules_file(tmp_path)
    result = promtool_run(promtool, "test", "rules", "dockyard.rules.test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_rule_that_changed_fails_its_unit_test(promtool: Path, tmp_path: Path) -> None:
    spec = load(MONITORING / "prometheusrule.yaml")["spec"]
    leader = next(r for r in spec["groups"][0]["rules"] if r["alert"] == "DockyardLeaderMissing")
    leader["for"] = "15m"
    rules_file(tmp_path, spec)
    result = promtool_run(promtool, "test", "rules", "dockyard.rules.test.yaml", cwd=tmp_path)
    assert result.returncode != 0 and "alertname: DockyardLeaderMissing" in result.stdout + result.stderr


def test_every_alert_has_a_unit_test_and_reads_metrics_the_daemon_exports() -> None:
    rules = load(MONITORING / "prometheusrule.yaml")["spec"]["groups"][0]["rules"]
    tests = (MONITORING / "dockyard.rules.test.yaml").read_text()
    metrics = DaemonMetrics()
    NotifierMetrics(metrics.registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "info": ("_info",)}
    exported = {
        family.name + suffix for family in metrics.registry.collect() for suffix in suffixes.get(family.type, ("",))
    }
    for rule in rules:
        assert f"alertname: {rule['alert']}" in tests, rule["alert"]
        used = set(re.findall(r"\b(dockyard_[a-z_]+)", rule["expr"]))
        assert used <= exported, (rule["alert"], used - exported)


def test_prometheus_finds_every_replica_once() -> None:
    services = [d for d in yaml.safe_load_all((DEPLOY / "service.yaml").read_text()) if d]
    monitor = load(MONITORING / "servicemonitor.yaml")
    pod = load(DEPLOY / "statefulset.yaml")["spec"]["template"]
    selector = monitor["spec"]["selector"]["matchLabels"].items()
    # Both Services select the same pods: the monitor follows one, or every replica counts twice.
    [followed] = [s for s in services if selector <= s["metadata"]["labels"].items()]
    assert len(services) == 2 and followed["metadata"]["name"] == "dockyard"
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [p["name"] for p in followed["spec"]["ports"]]
    container_ports = {p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    annotated = pod["metadata"]["annotations"]
    assert annotated["prometheus.io/scrape"] == "true" and annotated["prometheus.io/path"] == "/metrics"
    assert int(annotated["prometheus.io/port"]) in container_ports
    # Annotated pods and an annotated Service would be two scrape jobs of the same replicas.
    assert not any("prometheus.io/scrape" in (s["metadata"].get("annotations") or {}) for s in services)
    assert load(MONITORING / "kustomization.yaml")["resources"] == ["servicemonitor.yaml", "prometheusrule.yaml"]
