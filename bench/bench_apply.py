"""Benchmark: Dockyard's staged server-side apply against `kubectl apply --server-side`.

Side by side in one run on a fresh local cluster, for generated platforms of about 1,000 and
5,000 objects: a cold apply of the rendered objects by Dockyard and by kubectl (each run under
its own namespace and class names, so both always create), then a no-op re-apply by each.
Reports medians over ``--runs`` runs, the ratios, and Dockyard's API request and write counts.

Every run starts a fresh local cluster with the controller manager stopped: both tools then talk
to the same idle API server holding only this platform's objects, and no pods start behind them.

    .venv/bin/python bench/bench_apply.py --sizes 1000 5000 --runs 3
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gen_platform

from daemon.edges.kube import KubeClient
from daemon.engine.apply import ResourceManager
from daemon.loader import load_or_raise
from daemon.render import render
from daemon.state.inventory import InventoryStore
from devcluster import LocalCluster
from devcluster.build import ensure_built

OBJECTS_PER_TENANT = 27  # what gen_platform renders per tenant with 3 apps


def rendered(tenants: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        gen_platform.generate(Path(tmp), tenants, 3)
        return render(load_or_raise(Path(tmp)), "bench")


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


def dockyard_apply(kube: KubeClient, objects: list[dict[str, Any]], inventory: str) -> tuple[float, int, int]:
    manager = ResourceManager(kube, concurrency=8, inventory=InventoryStore(kube, namespace="bench", name=inventory))
    kube.reset_counts()
    started = time.perf_counter()
    plan = manager.plan(objects, max_fraction=1.0)
    result = manager.apply(plan, revision="bench", wait=False)
    elapsed = time.perf_counter() - started
    if result.failed:
        raise SystemExit(f"dockyard apply failed: {result.failed[:3]}")
    return elapsed, kube.request_count(), kube.write_count()


def run_size(base_dir: Path, size: int, runs: int) -> dict[str, Any]:
    """Each run on a fresh cluster, so both tools meet exactly what a real platform would: the
    cluster holds this platform's objects and nothing from earlier runs."""
    tenants = max(1, math.ceil(size / OBJECTS_PER_TENANT))
    base = rendered(tenants)
    rows: dict[str, list[float]] = {"dockyard_cold": [], "kubectl_cold": [], "dockyard_noop": [], "kubectl_noop": []}
    requests: dict[str, list[int]] = {"cold": [], "noop": [], "noop_writes": []}
    for run in range(runs):
        cluster = LocalCluster.start(name=f"bench-{size}-{run}", nodes=1, base_dir=base_dir)
        try:
            # No controllers: nothing starts pods or reconciles behind either tool's back.
            cluster.stop_component("kube-controller-manager")
            kube = KubeClient(str(cluster.kubeconfig), max_connections=16)
            mine, theirs = renamed(base, "d"), renamed(base, "k")
            # Alternate who goes first, so neither side always meets a warmer API server.
            order = [("d", mine), ("k", theirs)] if run % 2 == 0 else [("k", theirs), ("d", mine)]
            for phase in ("cold", "noop"):
                for who, objs in order:
                    if who == "d":
                        t, n, w = dockyard_apply(kube, objs, "inventory")
                        rows[f"dockyard_{phase}"].append(t)
                        requests[phase].append(n)
                        if phase == "noop":
                            requests["noop_writes"].append(w)
                    else:
                        rows[f"kubectl_{phase}"].append(kubectl_apply(cluster.kubeconfig, objs))
            kube.close()
        finally:
            cluster.stop()
    med = {k: statistics.median(v) for k, v in rows.items()}
    return {
        "objects": len(base),
        "runs": runs,
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "all_seconds": {k: [round(x, 3) for x in v] for k, v in rows.items()},
        "cold_speedup_vs_kubectl": round(med["kubectl_cold"] / med["dockyard_cold"], 2),
        "noop_speedup_vs_kubectl": round(med["kubectl_noop"] / med["dockyard_noop"], 2),
        "dockyard_requests_cold_median": statistics.median(requests["cold"]),
        "dockyard_requests_noop_median": statistics.median(requests["noop"]),
        "dockyard_writes_noop_max": max(requests["noop_writes"]),
        "kubectl_requests_noop_at_least": len(base),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/apply.json"))
    args = parser.parse_args()
    # The peer is the kubectl of the server's own release, built with the control plane.
    os.environ["PATH"] = f"{ensure_built().binary('kubectl').parent}{os.pathsep}{os.environ['PATH']}"
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_size(Path(tmp), size, args.runs) for size in args.sizes]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    for r in results:
        m = r["median_seconds"]
        print(
            f"{r['objects']:>5} objects (median of {r['runs']}): cold dockyard {m['dockyard_cold']:.2f}s vs kubectl "
            f"{m['kubectl_cold']:.2f}s ({r['cold_speedup_vs_kubectl']}x); no-op dockyard {m['dockyard_noop']:.3f}s vs "
            f"kubectl {m['kubectl_noop']:.2f}s ({r['noop_speedup_vs_kubectl']}x); dockyard requests cold "
            f"{r['dockyard_requests_cold_median']:.0f}, no-op {r['dockyard_requests_noop_median']:.0f} "
            f"({r['dockyard_writes_noop_max']} writes); kubectl no-op >= {r['kubectl_requests_noop_at_least']} requests"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
