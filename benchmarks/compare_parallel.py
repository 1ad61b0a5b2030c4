"""How compare's runs are spread and cached: joblib against the hand-written pool and JSON cache it replaced.

One small grid (digits, MLP 64-32-10, 3 epochs: 4 schedules x 2 peak LRs x 2 seeds = 16 runs),
timed in the same process, round-robin, median of several repeats (wall seconds: parallel work is
about wall time; the machine is shared, so read the ratios, not the seconds):

- ``serial``: ``compare(n_jobs=1)``;
- ``process pool``: what compare did before joblib, a fresh spawned ``ProcessPoolExecutor`` with
  one torch thread per worker for every call (here through ``compare(executor=...)``, the same code
  path a Dask cluster takes);
- ``joblib``: ``compare(n_jobs=N)``; loky starts its workers on the first call and reuses them
  (``joblib, first call`` is measured in a fresh interpreter state: workers shut down first).

Then the cache: writing and reading back every row of the grid, joblib.Memory (what compare
uses) against one JSON file per row written atomically (what it used before).

    .venv/bin/python benchmarks/compare_parallel.py            # about 3 minutes on 2 busy cores
    .venv/bin/python benchmarks/compare_parallel.py --jobs 4 --repeats 5
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from joblib.externals.loky import get_reusable_executor

from lrcourse import experiments
from lrcourse.experiments import compare

GRID = dict(schedules=["constant", "cosine", "onecycle", "linear"], lrs=[0.05, 0.2], seeds=[0, 1])
SETTINGS = dict(data="digits", hidden=(32,), epochs=3, batch_size=64, progress=False)


def _one_thread():
    torch.set_num_threads(1)


def hand_pool(jobs: int) -> experiments.Results:
    """The pool compare used before joblib: spawned per call, one torch thread per worker."""
    ctx = multiprocessing.get_context("spawn")  # fork after torch's threads started can hang
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_one_thread) as pool:
        return compare(**GRID, **SETTINGS, executor=pool)


def joblib_cold(jobs: int) -> experiments.Results:
    get_reusable_executor().shutdown(wait=True)  # loky keeps workers between calls: start from none
    return compare(**GRID, **SETTINGS, n_jobs=jobs)


def json_cache(rows: list[dict], folder: Path) -> list[dict]:
    """The previous cache: one JSON file per run, written via a temporary file and os.replace."""
    for row in rows:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(row, f)
        os.replace(tmp, folder / f"run-{row['config']}.json")
    return [json.loads((folder / f"run-{row['config']}.json").read_text()) for row in rows]


def joblib_cache(rows: list[dict], configs: list, folder: Path) -> list[dict]:
    store = experiments._open_cache(folder)
    for row in rows:
        experiments._cache_write(store, row["config"], row)
    return [experiments._cache_read(store, cfg, row["config"]) for cfg, row in zip(configs, rows)]


def median_times(variants: dict, repeats: int) -> dict[str, float]:
    times = {name: [] for name in variants}
    for _ in range(repeats):  # round-robin: a burst of load on the shared machine hits every variant
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    experiments.load_data("digits")  # made once, not timed

    reference = compare(**GRID, **SETTINGS)
    strip = [{k: v for k, v in r.items() if k != "wall_time"} for r in reference.rows]
    for res in (hand_pool(args.jobs), compare(**GRID, **SETTINGS, n_jobs=args.jobs)):
        assert [{k: v for k, v in r.items() if k != "wall_time"} for r in res.rows] == strip, "rows differ"

    n = len(reference)
    print(f"{n} runs (digits, MLP 64-32-10, 3 epochs), {args.jobs} workers, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; median wall seconds of {args.repeats}")
    variants = {
        "serial (n_jobs=1)": lambda: compare(**GRID, **SETTINGS),
        f"process pool, spawned per call ({args.jobs} workers)": lambda: hand_pool(args.jobs),
        f"joblib n_jobs={args.jobs}, first call (workers start)": lambda: joblib_cold(args.jobs),
        f"joblib n_jobs={args.jobs}, later calls (workers reused)": lambda: compare(**GRID, **SETTINGS, n_jobs=args.jobs),
    }
    t = median_times(variants, args.repeats)
    base = t[f"process pool, spawned per call ({args.jobs} workers)"]
    print("| how the runs are spread | wall s | / process pool |\n|---|---|---|")
    for name, secs in t.items():
        print(f"| {name} | {secs:.2f} | {secs / base:.2f} |")

    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        rows = reference.rows
        configs = experiments.build_configs(**GRID, **{k: v for k, v in SETTINGS.items() if k != "progress"})
        for read in (json_cache(rows, Path(a)), joblib_cache(rows, configs, Path(b))):
            assert read == rows, "the cache changed a row"
        c = median_times({"JSON files (before)": lambda: json_cache(rows, Path(a)),
                          "joblib.Memory (now)": lambda: joblib_cache(rows, configs, Path(b))}, 5 * args.repeats)
        size = {name: sum(f.stat().st_size for f in Path(d).rglob("*") if f.is_file())
                for name, d in (("JSON files (before)", a), ("joblib.Memory (now)", b))}
    print(f"\ncache: write then read back all {n} rows, median of {5 * args.repeats}\n"
          "| cache | ms per row | / JSON | bytes on disk per row |\n|---|---|---|---|")
    for name, secs in c.items():
        print(f"| {name} | {1000 * secs / n:.2f} | {secs / c['JSON files (before)']:.2f} | {size[name] // n} |")


if __name__ == "__main__":
    main()
