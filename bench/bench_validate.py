"""Benchmark: how long the loader takes for a large platform repo (a benchmark, not a test).

Generates a repo (1,000 tenants, about 10,000 documents by default) into a temporary directory,
loads it several times and prints the median wall time and documents per second. The first run
pays for compiling the schema validators; it is reported separately and not in the median.

    .venv/bin/python bench/bench_validate.py [--tenants 1000] [--apps 3] [--runs 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_platform import generate  # a sibling script, not a package

from daemon.loader import load_repo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--apps", type=int, default=3, help="apps per tenant")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the top functions of one extra run")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as tmp:
        root = Path(tmp) / "platform"
        started = time.perf_counter()
        generate(root, args.tenants, args.apps)
        print(f"generated {args.tenants} tenants in {time.perf_counter() - started:.2f}s")

        started = time.perf_counter()
        result = load_repo(root)
        first = time.perf_counter() - started
        if result.model is None:
            for problem in result.problems[:20]:
                print(problem.format())
            print("the generated repo is invalid", file=sys.stderr)
            return 1
        documents = result.documents
        print(f"{documents} documents in {result.files} files; first run (schemas compiled): {first:.2f}s")

        # CPU time next to wall time: on a shared machine wall time mostly measures the neighbours.
        times, cpu_times = [], []
        for run in range(args.runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            load_repo(root)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            times.append(elapsed)
            cpu_times.append(cpu)
            print(f"run {run + 1}: {elapsed:.2f}s wall, {cpu:.2f}s CPU")
        median, cpu_median = statistics.median(times), statistics.median(cpu_times)
        print(
            f"median of {args.runs}: {median:.2f}s wall ({documents / median:,.0f} documents/s), "
            f"{cpu_median:.2f}s CPU ({documents / cpu_median:,.0f} documents/s)"
        )

        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            load_repo(root)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
