"""Run every benchmark in bench/ one after another and print their figures.

Benchmarks are not tests: they report ratios against references measured in the same run.
`make bench` runs them at full size; pass --quick for a smaller smoke-sized run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

BENCHMARKS = {
    "bench.bench_import": (["--lines", "5000000"], ["--lines", "500000"]),
    "bench.bench_reports": ([], ["--quick"]),
    "bench.bench_connectors": ([], []),
    "bench.bench_connectors_intl": ([], []),
    "bench.bench_app": ([], ["--quick"]),
    "bench.bench_excel": ([], ["--quick"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("only", nargs="*", help="module names to run (default: all present)")
    args = parser.parse_args()
    failed = 0
    for module, (full, quick) in BENCHMARKS.items():
        if args.only and module not in args.only and module.split(".")[-1] not in args.only:
            continue
        try:
            __import__(module)
        except ModuleNotFoundError:
            continue
        print(f"== {module}", flush=True)
        result = subprocess.run([sys.executable, "-m", module, *(quick if args.quick else full)])
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
