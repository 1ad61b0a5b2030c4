"""Run notebooks under several seed offsets and report, per offset, whether every assert held.

    python benchmarks/replicate.py notebooks/10_comparing_schedules.ipynb --offsets 0-9 --jobs 2 2>/dev/null

Each run executes the notebook top to bottom with nbclient in a fresh kernel, with
``LRCOURSE_SEED_OFFSET=k`` (a fresh draw of every seed: what another CPU's rounding amounts
to). Prints one row per (notebook, offset): ok, or the first failing cell and its error, and
the wall time; then every verdict line the notebook printed (``str(lrcourse.evidence.Verdict)``)
with the smallest |z| seen across the offsets, which is the claim's margin. Nothing is written
into the notebooks. Use it before asserting a claim: a claim is asserted only if it held with a
wide margin under every offset tried.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import sys
import time
from pathlib import Path

VERDICT = re.compile(r"^(?P<claim>.*?): (?P<a>.+?) − (?P<b>.+?) = (?P<diff>[-+][0-9.]+) ± .*?→ (?P<text>.+?) "
                     r"\(\|z\| = (?P<z>[0-9.]+|inf)")


def offsets(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out += range(int(lo), int(hi) + 1)
        else:
            out.append(int(part))
    return out


def run(path: str, offset: int, timeout: int) -> dict:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    os.environ["LRCOURSE_SEED_OFFSET"] = str(offset)  # the kernel inherits it
    os.environ["OMP_NUM_THREADS"] = "1"
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    start, error = time.perf_counter(), None
    try:
        client.execute()
    except CellExecutionError as err:
        error = str(err).strip().splitlines()[-1][:200]
    except Exception as err:  # noqa: BLE001 - a dead kernel, a timeout: recorded as this offset's failure
        error = f"{type(err).__name__}: {str(err)[:200]}"
    wall = time.perf_counter() - start
    failed_cell = None
    lines = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and failed_cell is None:
                failed_cell = i
            if out.get("output_type") == "stream":
                lines += [ln for ln in out["text"].splitlines() if VERDICT.search(ln)]
    return {"path": path, "offset": offset, "error": error, "cell": failed_cell, "wall": wall, "verdicts": lines}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--offsets", default="0-4", help="e.g. 0-9 or 3,7,11 (default 0-4)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=600, help="per cell, seconds")
    args = parser.parse_args(argv)
    jobs = [(p, k) for p in args.notebooks for k in offsets(args.offsets)]
    results = []
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run, p, k, args.timeout) for p, k in jobs]
        for fut in concurrent.futures.as_completed(futures):
            r = fut.result()
            results.append(r)
            status = "ok" if r["error"] is None else f"FAILED cell {r['cell']}: {r['error']}"
            print(f"{Path(r['path']).stem:<45} offset {r['offset']:>4}  {r['wall']:6.1f} s  {status}", flush=True)
    failed = [r for r in results if r["error"] is not None]
    print(f"\n{len(results) - len(failed)}/{len(results)} runs passed")
    claims: dict[tuple, list] = {}
    for r in results:
        for line in r["verdicts"]:
            m = VERDICT.search(line)
            key = (Path(r["path"]).stem[:2], m["claim"].strip(), m["a"], m["b"])
            claims.setdefault(key, []).append((r["offset"], m["text"], float(m["z"]), float(m["diff"])))
    if claims:
        print("\nverdicts across offsets (min |z| = the margin that held in every draw):")
        for (nb, claim, a, b), seen in sorted(claims.items()):
            texts = sorted({t for _, t, _, _ in seen})
            zmin = min(z for _, _, z, _ in seen)
            diffs = [d for _, _, _, d in seen]
            print(f"  {nb}  {claim[-40:]:<40} {a} vs {b}: {' | '.join(texts)}; min |z| {zmin:.1f}; "
                  f"diff {min(diffs):+.3f} … {max(diffs):+.3f} over {len(seen)} offsets")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
