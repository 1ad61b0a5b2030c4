"""CLR against step decay with many seeds: the longer run behind notebook 08.

Notebook 08's protocol with more seeds than a notebook minute allows: MNIST-1D, MLP 40-128-128-10,
SGD + momentum 0.9, batch 128. CLR (``Cyclic(top / 4, top, step_size_up=4 epochs)``) for 2 cycles
(16 epochs) and for 1 cycle (8 epochs, half the budget); step decay for 16 epochs (divide by 10
after 50% and 75% of the budget). Each schedule's top LR chosen from 0.125 / 0.25 / 0.5 on mean
validation accuracy over all seeds; test accuracy reported at that top; verdicts paired by seed
(``lrcourse.evidence``, 3 standard errors; a tie when the 95% CI lies within ±0.01).

    python benchmarks/evidence_clr.py --seeds 40 --jobs 2      # about 3 CPU-minutes
    python benchmarks/evidence_clr.py --seeds 3                # a smoke run

Prints a Markdown report (the tables of docs/evidence/clr.md).
"""
from __future__ import annotations

import argparse
import platform
import time

from lrcourse.evidence import compare_arms
from lrcourse.experiments import Results, compare, steps_per_epoch
from lrcourse.schedules import Cyclic, PiecewiseConstant
from lrcourse.seeding import environment_report

TOPS = [0.125, 0.25, 0.5]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    half = 4 * steps_per_epoch("mnist1d", 128)
    clr = lambda top, T: Cyclic(top / 4, top, half)  # noqa: E731
    step_decay = lambda top, T: PiecewiseConstant((T // 2, 3 * T // 4), (top, top / 10, top / 100))  # noqa: E731
    settings = dict(lrs=TOPS, seeds=range(args.seeds), data="mnist1d", hidden=(128, 128), batch_size=128,
                    n_jobs=args.jobs, progress=False)
    res16 = compare({"CLR, 2 cycles": clr, "step decay": step_decay}, epochs=16, **settings)
    res8 = compare({"CLR, 1 cycle (half budget)": clr}, epochs=8, **settings)
    res = Results(res16.rows + res8.rows)

    print(f"# CLR vs step decay ({args.seeds} seeds)\n")
    print(f"`{environment_report()}` · {platform.processor() or platform.machine()} · {time.strftime('%Y-%m-%d')}\n")
    print("Mean validation accuracy by top LR (the choice), then test accuracy at the chosen top:\n")
    print("| schedule | " + " | ".join(f"val acc, top {t:g}" for t in TOPS) + " | chosen | test acc (mean ± std) |")
    print("|---|" + "---|" * (len(TOPS) + 2))
    sweep, table = res.sweep(), {e["schedule"]: e for e in res.table()}
    for name, points in sweep.items():
        e = table[name]
        print(f"| {name} | " + " | ".join(f"{m:.3f}" for _, m, _ in points)
              + f" | {e['peak_lr']:g} | {e['test_acc_mean']:.3f} ± {e['test_acc_std']:.3f} |")
    print("\nVerdicts (paired by seed, 3 SE; tie when the 95% CI lies within ±0.01):\n")
    print(f"- {res.verdict('CLR, 2 cycles', 'step decay', tie_tol=0.01)}")
    print(f"- {res.verdict('step decay', 'CLR, 1 cycle (half budget)', tie_tol=0.01)}")
    after = {name: dict(zip(res.curves(name)["seeds"], (run[11] for run in res.curves(name)["val_acc"])))
             for name in ("CLR, 2 cycles", "step decay")}
    print(f"- {compare_arms(after['step decay'], after['CLR, 2 cycles'], names=('step decay', 'CLR, 2 cycles'), metric='val_acc after epoch 12')}")
    print(f"\n{len(res)} runs; wall time {time.perf_counter() - start:.0f} s with --jobs {args.jobs}.")


if __name__ == "__main__":
    main()
