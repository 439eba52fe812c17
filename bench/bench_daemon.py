"""Benchmark: the daemon's commit-to-applied and drift-to-corrected latency, the cost of a quiet
cycle, and its memory.

1. Latency: a platform of about 1,000 apps (334 tenants, ~9,000 objects) is synced by
   `dockyard run` (a subprocess); then, repeatedly, one app's image is changed, committed, pushed
   to a bare repo and announced with a signed GitHub webhook. The latency is the time from the
   push to the new image being in the API server. The peer is the naive GitOps loop on the same
   change: `git pull` plus `kubectl apply --server-side` of every rendered object.
2. Drift: `kubectl set env` on one of the daemon's workloads, timed until the variable is gone
   again (the drift check runs hourly here: only the daemon's watches can notice).
3. A quiet cycle: the API requests and writes of a cycle with nothing to do (a webhook for the
   revision already applied), from the daemon's /metrics.
4. Memory: the daemon's settled and peak RSS (VmRSS / VmHWM) once it manages each of
   ``--memory-objects``, next to the peak RSS of `kubectl apply --server-side` of the same objects.

The controller manager is stopped while measuring, so no pods start and the two sides share an
idle API server; the daemon's health wait is short for the same reason. Medians and p95 are
reported; these machines are noisy.

    .venv/bin/python bench/bench_daemon.py --apps 1000 --changes 10 --memory-objects 10000 30000
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import hmac
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gen_platform

from daemon.edges.kube import KubeClient
from daemon.loader import load_or_raise
from daemon.render import render
from devcluster import LocalCluster
from devcluster.build import ensure_built

SECRET = "bench-webhook-secret"
DOCKYARD = Path(sys.executable).parent / "dockyard"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_repo(tmp: Path, tenants: int) -> tuple[Path, Path]:
    remote, work = tmp / "remote.git", tmp / "work"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(remote))
    git(tmp, "clone", "-q", str(remote), str(work))
    gen_platform.generate(work, tenants, 3)
    # No sync windows here: every tenant applies at once.
    platform = work / "platform.yaml"
    text = platform.read_text()
    start = text.index("    windows:")
    end = text.index("  storageClasses:")
    platform.write_text(text[:start] + text[end:])
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "platform")
    git(work, "push", "-q", "origin", "HEAD:main")
    return remote, work


def start_daemon(remote: Path, kubeconfig: Path, workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DOCKYARD_WEBHOOK_SECRET": SECRET}
    command = [
        str(DOCKYARD),
        "--log-level",
        "WARNING",
        "run",
        "--repo",
        remote.as_uri(),
        "--branch",
        "main",
        "--kubeconfig",
        str(kubeconfig),
        "--listen",
        f"127.0.0.1:{port}",
        "--workdir",
        str(workdir),
        "--interval",
        "1h",
        "--drift-interval",
        "1h",
        "--health-timeout",
        "1s",
        "--no-leader-elect",
    ]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=(workdir.parent / "daemon.log").open("w")
    )


def wait_ready(port: int, timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                if r.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the daemon was not ready within {timeout}s")


def webhook(port: int, sha: str, delivery: str) -> None:
    body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhook/github",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature,
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202


def image_of(kube: KubeClient, namespace: str, name: str) -> str:
    obj = kube.get(kube.resource_type("apps/v1", "StatefulSet"), namespace, name)
    return "" if obj is None else str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def wait_image(kube: KubeClient, namespace: str, name: str, image: str, timeout: float = 120) -> None:
    deadline = time.perf_counter() + timeout
    while image_of(kube, namespace, name) != image:
        if time.perf_counter() > deadline:
            raise SystemExit(f"{namespace}/{name} never reached {image}")
        time.sleep(0.02)


def set_image(work: Path, tenant: str, app: str, image: str) -> None:
    path = work / "tenants" / tenant / "apps" / f"{app}.yaml"  # gen_platform names files after apps
    text = path.read_text()
    lines = [f"  image: {image}" if line.startswith("  image: ") else line for line in text.splitlines()]
    path.write_text("\n".join(lines) + "\n")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def metric_requests(port: int) -> dict[str, float]:
    """The daemon's API requests so far, by verb."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("dockyard_api_requests_total{"):
            verb = line.split('verb="', 1)[1].split('"', 1)[0]
            found[verb] = float(line.rsplit(" ", 1)[1])
    return found


def cycles_run(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("dockyard_cycles_total{"))


def quiet_cycle(port: int, sha: str) -> dict[str, float]:
    """Requests of one cycle with nothing new (a webhook for the applied revision)."""
    before, cycles = metric_requests(port), cycles_run(port)
    webhook(port, sha, f"quiet-{time.time()}")
    deadline = time.perf_counter() + 60
    while cycles_run(port) <= cycles:
        if time.perf_counter() > deadline:
            raise SystemExit("the quiet cycle did not run")
        time.sleep(0.05)
    time.sleep(0.5)
    after = metric_requests(port)
    delta = {verb: after.get(verb, 0) - before.get(verb, 0) for verb in after}
    return {k: v for k, v in delta.items() if v}


def drifted(kube: KubeClient, namespace: str, name: str) -> bool:
    obj = kube.get(kube.resource_type("apps/v1", "StatefulSet"), namespace, name)
    env = [] if obj is None else obj["spec"]["template"]["spec"]["containers"][0].get("env") or []
    return any(e.get("name") == "DRIFT" for e in env)


def drift_latency(kubeconfig: Path, kube: KubeClient, namespace: str, name: str, times: int) -> list[float]:
    found = []
    for i in range(times):
        started = time.perf_counter()
        subprocess.run(
            ["kubectl", f"--kubeconfig={kubeconfig}", "-n", namespace, "set", "env", f"sts/{name}", f"DRIFT={i}"],
            check=True,
            capture_output=True,
        )
        deadline = started + 120
        while drifted(kube, namespace, name):
            if time.perf_counter() > deadline:
                raise SystemExit("the drift was never corrected")
            time.sleep(0.02)
        found.append(time.perf_counter() - started)
        time.sleep(1)
    return found


def latency(cluster_kubeconfig: Path, apps: int, changes: int, tmp: Path) -> dict[str, Any]:
    tenants = math.ceil(apps / 3)
    remote, work = make_repo(tmp, tenants)
    kube = KubeClient(str(cluster_kubeconfig))
    port = free_port()
    daemon = start_daemon(remote, cluster_kubeconfig, tmp / "daemon-work", port)
    try:
        first_sync = wait_ready(port, timeout=900)
        tenant, app = "t0001", "app1"
        dockyard_times: list[float] = []
        for i in range(changes):
            image = f"busybox:1.{40 + i}"
            set_image(work, tenant, app, image)
            git(work, "commit", "-qam", f"{app}: {image}")
            started = time.perf_counter()
            git(work, "push", "-q", "origin", "HEAD:main")
            webhook(port, git(work, "rev-parse", "HEAD"), f"bench-{i}")
            wait_image(kube, tenant, app, image)
            dockyard_times.append(time.perf_counter() - started)
        time.sleep(2)
        quiet = quiet_cycle(port, git(work, "rev-parse", "HEAD"))
        drift_times = drift_latency(cluster_kubeconfig, kube, tenant, app, max(3, changes // 2))
    finally:
        daemon.terminate()
        daemon.wait(60)
    objects = len(render(load_or_raise(work), "x"))
    # The peer: the naive loop, `git pull` and `kubectl apply --server-side` of everything, on the
    # same repo (in other namespaces, so it has its own objects to compare against).
    peer_times = naive_loop(cluster_kubeconfig, kube, remote, tmp, changes=max(3, changes // 3))
    return {
        "apps": apps,
        "objects": objects,
        "first_sync_seconds": round(first_sync, 2),
        "dockyard_median_seconds": round(statistics.median(dockyard_times), 3),
        "dockyard_p95_seconds": round(p95(dockyard_times), 3),
        "naive_median_seconds": round(statistics.median(peer_times), 3),
        "naive_p95_seconds": round(p95(peer_times), 3),
        "speedup_median": round(statistics.median(peer_times) / statistics.median(dockyard_times), 1),
        "dockyard_all": [round(t, 3) for t in dockyard_times],
        "naive_all": [round(t, 3) for t in peer_times],
        "drift_corrected_median_seconds": round(statistics.median(drift_times), 3),
        "drift_corrected_all": [round(t, 3) for t in drift_times],
        "quiet_cycle_requests": quiet,
    }


def renamed(objects: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The same objects in other namespaces (and other cluster-scoped names)."""
    out = []
    for original in objects:
        obj = copy.deepcopy(original)
        meta = obj["metadata"]
        if "namespace" in meta:
            meta["namespace"] = f"{prefix}-{meta['namespace']}"
        elif obj["kind"] == "Namespace" or obj["kind"] in ("StorageClass", "VolumeSnapshotClass"):
            meta["name"] = f"{prefix}-{meta['name']}"
        labels = meta.get("labels", {})
        if prefix.startswith("k"):
            # kubectl's copies must not look like Dockyard's own objects to Dockyard's live lists.
            labels["app.kubernetes.io/managed-by"] = "kubectl"
        if "dockyard.dev/tenant" in labels:
            labels["dockyard.dev/tenant"] = f"{prefix}-{labels['dockyard.dev/tenant']}"
        for policy_peer in _namespace_selectors(obj):
            names = policy_peer["matchLabels"]
            if "kubernetes.io/metadata.name" in names and names["kubernetes.io/metadata.name"] != "kube-system":
                names["kubernetes.io/metadata.name"] = f"{prefix}-{names['kubernetes.io/metadata.name']}"
        if obj["kind"] == "PersistentVolumeClaim":
            obj["spec"]["storageClassName"] = f"{prefix}-{obj['spec']['storageClassName']}"
        out.append(obj)
    return out


def _namespace_selectors(obj: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for rule in obj.get("spec", {}).get("ingress", []) + obj.get("spec", {}).get("egress", []):
        for peer in rule.get("from", []) + rule.get("to", []):
            if "namespaceSelector" in peer and "matchLabels" in peer["namespaceSelector"]:
                found.append(peer["namespaceSelector"])
    return found


def kubectl_apply(kubeconfig: Path, objects: list[dict[str, Any]]) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": objects}, f)
    started = time.perf_counter()
    subprocess.run(
        [
            "kubectl",
            f"--kubeconfig={kubeconfig}",
            "apply",
            "--server-side",
            "--field-manager=kubectl-bench",
            "-f",
            f.name,
        ],
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - started
    Path(f.name).unlink()
    return elapsed


def naive_loop(kubeconfig: Path, kube: KubeClient, remote: Path, tmp: Path, changes: int) -> list[float]:

    clone = tmp / "naive"
    git(tmp, "clone", "-q", str(remote), str(clone))
    base = render(load_or_raise(clone), "naive")
    objects = renamed(base, "n")
    kubectl_apply(kubeconfig, objects)  # the first sync, not measured
    times = []
    for i in range(changes):
        image = f"busybox:2.{i}"
        set_image(clone, "t0001", "app1", image)  # stands in for the fetched commit
        started = time.perf_counter()
        git(clone, "status", "--porcelain")
        objects = renamed(render(load_or_raise(clone), "naive"), "n")
        kubectl_apply(kubeconfig, objects)
        wait_image(kube, "n-t0001", "app1", image)
        times.append(time.perf_counter() - started)
    return times


def kubectl_peak_rss_kib(kubeconfig: Path, objects: list[dict[str, Any]], work: Path) -> int:
    """kubectl's own peak RSS: measured in a process whose only child is kubectl (this process's
    RUSAGE_CHILDREN would also count the daemon)."""
    manifest = work / "kubectl-objects.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    probe = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    command = ["kubectl", f"--kubeconfig={kubeconfig}", "apply", "--server-side", "--field-manager=kubectl-bench"]
    out = subprocess.run(
        [sys.executable, "-c", probe, *command, "-f", str(manifest)], check=True, capture_output=True, text=True
    )
    return int(out.stdout.strip())


def memory(cluster_kubeconfig: Path, objects: int, tmp: Path) -> dict[str, Any]:
    import bench_apply

    tenants = math.ceil(objects / bench_apply.OBJECTS_PER_TENANT)
    remote, work = make_repo(tmp, tenants)
    port = free_port()
    daemon = start_daemon(remote, cluster_kubeconfig, tmp / "daemon-work", port)
    try:
        first_sync = wait_ready(port, timeout=3600)
        time.sleep(5)
        quiet = quiet_cycle(port, git(work, "rev-parse", "HEAD"))
        status = Path(f"/proc/{daemon.pid}/status").read_text()
        fields = {line.split(":")[0]: line.split()[1] for line in status.splitlines() if line.startswith("Vm")}
        rss_mib, hwm_mib = int(fields["VmRSS"]) / 1024, int(fields["VmHWM"]) / 1024
    finally:
        daemon.terminate()
        daemon.wait(60)
    rendered = render(load_or_raise(work), "x")
    kubectl_peak_mib = kubectl_peak_rss_kib(cluster_kubeconfig, renamed(rendered, "m"), work) / 1024
    return {
        "objects": len(rendered),
        "first_sync_seconds": round(first_sync, 1),
        "quiet_cycle_requests": quiet,
        "dockyard_rss_mib": round(rss_mib, 1),
        "dockyard_peak_rss_mib": round(hwm_mib, 1),
        "kubectl_apply_peak_rss_mib": round(kubectl_peak_mib, 1),
        "peak_ratio_vs_kubectl": round(hwm_mib / kubectl_peak_mib, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--memory-objects", type=int, nargs="+", default=[10000, 30000])
    parser.add_argument("--out", type=Path, default=Path("bench/results/daemon.json"))
    parser.add_argument("--parts", nargs="+", choices=["memory", "latency"], default=["latency", "memory"])
    args = parser.parse_args()
    results: dict[str, Any] = {}
    # The peer is the kubectl of the server's own release, built with the control plane.
    os.environ["PATH"] = f"{ensure_built().binary('kubectl').parent}{os.pathsep}{os.environ['PATH']}"
    base = Path(tempfile.mkdtemp())
    try:
        runs = [("latency", args.apps)] if "latency" in args.parts else []
        runs += [("memory", n) for n in args.memory_objects] if "memory" in args.parts else []
        for part, size in runs:
            cluster = LocalCluster.start(name=f"bench-{part}-{size}", nodes=1, base_dir=base / "clusters")
            try:
                cluster.stop_component("kube-controller-manager")
                work = base / f"{part}-{size}"
                work.mkdir()
                started = time.perf_counter()
                if part == "memory":
                    results.setdefault("memory", []).append(memory(cluster.kubeconfig, size, work))
                else:
                    results["latency"] = latency(cluster.kubeconfig, size, args.changes, work)
                print(f"{part} {size}: {time.perf_counter() - started:.0f}s", flush=True)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(results, indent=2))
            finally:
                cluster.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
