"""Polynomial against exponential decay at two budgets: the measurement behind notebook 09's
"the order depends on the budget" (and its remark on which verdicts change with the seed draw).

Notebook 09's protocol, repeated at 10 epochs (the notebook's budget) and at 30 epochs, under
several seed offsets (each offset redraws the MNIST-1D data, the initial weights and the batch
order): MNIST-1D, MLP 40-128-128-10, SGD + momentum 0.9, batch 128; four shapes (poly p=0.5,
linear, poly p=2, exponential to 1% of the peak), each scaled to the budget; each shape's peak LR
chosen from its 3-point grid on validation accuracy (mean over 5 seeds); test accuracy reported at
that peak; verdicts paired by seed (``lrcourse.evidence``, 3 SE).

    python benchmarks/evidence_polynomial_budget.py --offsets 0-2 --jobs 2     # about 5 CPU-minutes
    python benchmarks/evidence_polynomial_budget.py --offsets 0 --epochs 10 --seeds 2   # a smoke run

Prints a Markdown report (the tables of docs/evidence/polynomial_budget.md).
"""
from __future__ import annotations

import argparse
import platform
import time

from lrcourse.experiments import compare
from lrcourse.schedules import ExponentialDecay, PolynomialDecay
from lrcourse.seeding import environment_report, use_offset

FACTORIES = {
    "poly p=0.5": lambda peak, T: PolynomialDecay(peak, T, power=0.5),
    "linear (p=1)": lambda peak, T: PolynomialDecay(peak, T, power=1.0),
    "poly p=2": lambda peak, T: PolynomialDecay(peak, T, power=2.0),
    "exponential to 1%": lambda peak, T: ExponentialDecay(peak, decay_rate=0.01, decay_steps=T),
}
GRIDS = {"poly p=0.5": [0.15, 0.3, 0.6], "linear (p=1)": [0.2, 0.4, 0.8], "poly p=2": [0.25, 0.5, 1.0],
         "exponential to 1%": [0.3, 0.6, 1.2]}  # notebook 09's grids
PAIRS = [("linear (p=1)", "exponential to 1%"), ("linear (p=1)", "poly p=2"), ("linear (p=1)", "poly p=0.5")]


def parse_list(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offsets", default="0-2", help="seed offsets, e.g. 0-2 or 0,5")
    parser.add_argument("--epochs", default="10,30", help="budgets in epochs, e.g. 10,30")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    budgets = parse_list(args.epochs)
    print(f"# Polynomial vs exponential decay at {' and '.join(map(str, budgets))} epochs\n")
    print(f"`{environment_report()}` · {platform.processor() or platform.machine()} · "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| offset | epochs | chosen peak LR (val) | test acc at that peak, mean ± std over seeds "
          "| verdicts (test acc, paired by seed) |")
    print("|---|---|---|---|---|")
    for offset in parse_list(args.offsets):
        with use_offset(offset):
            for epochs in budgets:
                res = compare(FACTORIES, lrs=GRIDS, seeds=range(args.seeds), data="mnist1d", hidden=(128, 128),
                              batch_size=128, epochs=epochs, n_jobs=args.jobs, progress=False)
                best = res.best()
                edge = [n for n in best if best[n] in (min(GRIDS[n]), max(GRIDS[n]))]
                peaks = ", ".join(f"{n}: {lr:g}" for n, lr in best.items()) + (f" (at grid edge: {edge})" if edge else "")
                accs = ", ".join(f"{e['schedule']}: {e['test_acc_mean']:.3f} ± {e['test_acc_std']:.3f}"
                                 for e in res.table())
                verdicts = "; ".join(f"{a} − {b} = {v.diff:+.3f} ± {v.se:.3f} → {v.text} (|z| = {abs(v.z):.1f})"
                                     for a, b in PAIRS for v in [res.verdict(a, b, tie_tol=0.02)])
                print(f"| {offset} | {epochs} | {peaks} | {accs} | {verdicts} |", flush=True)
    print(f"\n{args.seeds} seeds per grid point; wall time {time.perf_counter() - start:.0f} s with --jobs {args.jobs}.")


if __name__ == "__main__":
    main()
