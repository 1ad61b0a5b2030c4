"""Seconds per course notebook, executed headless top to bottom as nbval runs them.

Each notebook must run in under 60 s on 2 CPU cores. This prints the wall time of each (a fresh
kernel per notebook, one torch thread as `make test` sets) and the total, median of --repeat runs.

    .venv/bin/python benchmarks/notebook_times.py [--repeat 1] [NOTEBOOK ...]
"""
import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as `make test`; the kernels inherit it

from lrcourse.classroom import execute_notebook

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    rows, failed = [], False
    with tempfile.TemporaryDirectory():  # nothing written next to the sources
        for path in paths:
            times, status = [], "ok"
            for _ in range(args.repeat):
                result, _ = execute_notebook(path, timeout=600)
                times.append(result.seconds)
                if result.status != "ok":
                    status, failed = f"FAILED: {result.error}", True
            seconds = statistics.median(times)
            flag = "" if seconds < LIMIT_S else f"  over the {LIMIT_S:.0f} s budget"
            rows.append((path.name, seconds, status + flag))
            print(f"{path.name:<48} {seconds:6.1f} s  {status}{flag}", flush=True)
    total = sum(s for _, s, _ in rows)
    print(f"{'total':<48} {total:6.1f} s  ({len(rows)} notebooks, median of {args.repeat} run(s) each)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
