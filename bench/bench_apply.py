"""Benchmark: Dockyard's apply against `kubectl apply --server-side` and Flux's apply engine.

Side by side in one run, for generated platforms of about 2,000, 10,000 and 30,000 objects: a
cold apply (everything created) and a no-op apply (nothing changed) by each engine:

* Dockyard: the whole `dockyard apply --repo DIR --no-wait` process (import, validation, render,
  plan from one list per kind, staged server-side apply of what changed, inventory);
* kubectl: `kubectl apply --server-side` of the rendered objects (the server's own release);
* Flux: ``ResourceManager.ApplyAllStaged`` of github.com/fluxcd/pkg/ssa v0.63.0, the engine of
  kustomize-controller, in a small Go program (bench/fluxssa, built by bench/build_fluxssa.sh),
  reading the same rendered objects. Its client-side rate limit is lifted (client-go's default of
  5 requests/s would measure the throttle, not the engine) and it may run 8 dry-runs at once,
  as Dockyard runs 8 requests at once.

Each engine gets a fresh cluster of its own for every run, so none pays for what another left
behind, and the order rotates between runs. The controller manager is stopped: no pods start
behind anyone's back. Medians over ``--runs``.

    .venv/bin/python bench/bench_apply.py --sizes 2000 10000 30000 --runs 3
"""

from __future__ import annotations

import argparse
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

from daemon.loader import load_or_raise
from daemon.render import render
from devcluster import LocalCluster
from devcluster.build import ensure_built

HERE = Path(__file__).resolve().parent
OBJECTS_PER_TENANT = 27  # what gen_platform renders per tenant with 3 apps
DOCKYARD = Path(sys.executable).parent / "dockyard"
ENGINES = ("dockyard", "kubectl", "flux")


def platform(root: Path, size: int) -> tuple[Path, Path, int]:
    """A generated platform repo of about ``size`` objects, and its rendered objects as a List."""
    repo = root / f"platform-{size}"
    gen_platform.generate(repo, max(1, math.ceil(size / OBJECTS_PER_TENANT)), 3)
    objects = render(load_or_raise(repo), "")
    manifest = root / f"objects-{size}.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    return repo, manifest, len(objects)


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({out.returncode}): {out.stderr[-2000:]}")
    return elapsed, out.stdout


def dockyard(kubeconfig: Path, repo: Path) -> dict[str, Any]:
    command = [str(DOCKYARD), "--log-level", "WARNING", "apply", "--repo", str(repo), "--no-wait"]
    command += ["--kubeconfig", str(kubeconfig), "--namespace", "bench", "--output", "json"]
    elapsed, out = timed(command)
    result = json.loads(out)
    return {"seconds": elapsed, "requests": result["apiRequests"], "writes": result["writes"]}


def kubectl(kubeconfig: Path, manifest: Path) -> dict[str, Any]:
    command = ["kubectl", f"--kubeconfig={kubeconfig}", "apply", "--server-side", "--field-manager=kubectl-bench"]
    elapsed, _ = timed([*command, "-f", str(manifest)])
    return {"seconds": elapsed}


def flux(binary: Path, kubeconfig: Path, manifest: Path) -> dict[str, Any]:
    command = [str(binary), "--kubeconfig", str(kubeconfig), "--file", str(manifest), "--wait=false"]
    command += ["--concurrency", "8", "--qps", "100000", "--burst", "100000", "--interval", "200ms", "--timeout", "60m"]
    elapsed, out = timed(command)
    result = json.loads(out)
    return {"seconds": elapsed, "engine_seconds": result["apply_seconds"], "created": result["created"]}


def one_engine(
    engine: str, base: Path, name: str, repo: Path, manifest: Path, flux_binary: Path, controllers: bool
) -> dict[str, Any]:
    cluster = LocalCluster.start(name=name, nodes=1, base_dir=base)
    try:
        if not controllers:
            cluster.stop_component("kube-controller-manager")
        results: dict[str, Any] = {}
        for phase in ("cold", "noop"):
            if engine == "dockyard":
                results[phase] = dockyard(cluster.kubeconfig, repo)
            elif engine == "kubectl":
                results[phase] = kubectl(cluster.kubeconfig, manifest)
            else:
                results[phase] = flux(flux_binary, cluster.kubeconfig, manifest)
        return results
    finally:
        cluster.stop()


def run_size(
    base: Path, size: int, runs: int, flux_binary: Path, controllers: bool, engines: tuple[str, ...]
) -> dict[str, Any]:
    repo, manifest, count = platform(base, size)
    seconds: dict[str, list[float]] = {f"{e}_{p}": [] for e in engines for p in ("cold", "noop")}
    extra: dict[str, list[Any]] = {
        "dockyard_requests_cold": [],
        "dockyard_requests_noop": [],
        "dockyard_writes_noop": [],
    }
    extra["flux_engine_cold"], extra["flux_engine_noop"] = [], []
    for run in range(runs):
        order = engines[run % len(engines) :] + engines[: run % len(engines)]  # rotate who goes first
        for engine in order:
            started = time.perf_counter()
            found = one_engine(
                engine, base / "clusters", f"b{size}-{run}-{engine[0]}", repo, manifest, flux_binary, controllers
            )
            for phase in ("cold", "noop"):
                seconds[f"{engine}_{phase}"].append(found[phase]["seconds"])
            if engine == "dockyard":
                extra["dockyard_requests_cold"].append(found["cold"]["requests"])
                extra["dockyard_requests_noop"].append(found["noop"]["requests"])
                extra["dockyard_writes_noop"].append(found["noop"]["writes"])
            if engine == "flux":
                extra["flux_engine_cold"].append(found["cold"]["engine_seconds"])
                extra["flux_engine_noop"].append(found["noop"]["engine_seconds"])
            print(
                f"  {count} objects, run {run + 1}, {engine}: cold {found['cold']['seconds']:.2f}s, "
                f"no-op {found['noop']['seconds']:.2f}s (with its cluster {time.perf_counter() - started:.0f}s)",
                flush=True,
            )
    med = {k: round(statistics.median(v), 3) for k, v in seconds.items() if v}
    result: dict[str, Any] = {"objects": count, "runs": runs, "controllers": controllers, "median_seconds": med}
    result["all_seconds"] = {k: [round(x, 3) for x in v] for k, v in seconds.items()}
    for key, values in extra.items():
        if values:
            result[f"{key}_median"] = statistics.median(values)
    for peer in ("kubectl", "flux"):
        if f"{peer}_cold" in med and "dockyard_cold" in med:
            result[f"cold_speedup_vs_{peer}"] = round(med[f"{peer}_cold"] / med["dockyard_cold"], 2)
            result[f"noop_speedup_vs_{peer}"] = round(med[f"{peer}_noop"] / med["dockyard_noop"], 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 30000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--controllers", action="store_true", help="keep the controller manager running")
    parser.add_argument("--out", type=Path, default=Path("bench/results/apply.json"))
    args = parser.parse_args()
    # The peer is the kubectl of the server's own release, built with the control plane.
    os.environ["PATH"] = f"{ensure_built().binary('kubectl').parent}{os.pathsep}{os.environ['PATH']}"
    flux_binary = Path(
        subprocess.run([str(HERE / "build_fluxssa.sh")], check=True, capture_output=True, text=True).stdout.strip()
    )
    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            results.append(run_size(Path(tmp), size, args.runs, flux_binary, args.controllers, tuple(args.engines)))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2))
    for r in results:
        m = r["median_seconds"]
        print(
            f"{r['objects']:>6} objects (median of {r['runs']}): cold "
            + ", ".join(f"{e} {m.get(e + '_cold', float('nan')):.2f}s" for e in args.engines)
            + "; no-op "
            + ", ".join(f"{e} {m.get(e + '_noop', float('nan')):.2f}s" for e in args.engines)
        )
    print(f"total {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
