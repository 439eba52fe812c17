"""Runs every benchmark with the sizes that bench/RESULTS.md reports, one after the other.

Each benchmark starts its own local clusters and compares against its peer side by side; run
them one at a time (the machine has 2 cores). ``--quick`` uses small sizes to check that they run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL: tuple[tuple[str, ...], ...] = (
    ("bench_validate.py", "--tenants", "1000", "--runs", "5"),
    ("bench_apply.py", "--sizes", "1000", "5000", "--runs", "3"),
    ("bench_daemon.py", "--apps", "1000", "--changes", "10", "--memory-objects", "5000"),
)
QUICK: tuple[tuple[str, ...], ...] = (
    ("bench_validate.py", "--tenants", "20", "--runs", "1"),
    ("bench_apply.py", "--sizes", "200", "--runs", "1", "--out", "bench/results/quick-apply.json"),
    (
        "bench_daemon.py",
        *("--apps", "20", "--changes", "2", "--memory-objects", "200"),
        *("--out", "bench/results/quick-daemon.json"),
    ),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: check that every benchmark runs")
    args = parser.parse_args(argv)
    for script, *options in QUICK if args.quick else FULL:
        print(f"== {script} {' '.join(options)}", flush=True)
        code = subprocess.call([sys.executable, str(HERE / script), *options])
        if code != 0:
            print(f"{script} failed with exit code {code}", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
