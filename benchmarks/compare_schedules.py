"""The course's 30-epoch schedule comparison, with lrcourse.experiments: MNIST-1D, MLP 40-256-256-10,
SGD + momentum 0.9, batch 64, every recipe at its own best peak LR from a small grid, 3 seeds.

Prints (1) the cost of one run, against a hand-written PyTorch loop doing the same updates, so a
notebook can be sized; (2) the table per schedule at its best peak LR (mean ± std over seeds);
(3) the LR sweep: mean validation accuracy per peak LR, which shows that optima differ.

    .venv/bin/python benchmarks/compare_schedules.py    # 10 recipes x 4 LRs x 3 seeds x 30 epochs:
                                                        # ~3.5 CPU-min on 1 core (longer on a busy machine)
    .venv/bin/python benchmarks/compare_schedules.py --epochs 5 --seeds 1 --lrs 0.05 0.1   # a smoke run
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from lrcourse.experiments import RECIPES, build_configs, compare, load_data, run_one


def hand_loop_seconds(data: str, epochs: int, batch_size: int, lr: float, seed: int) -> float:
    """The obvious alternative: a bare loop, same model and updates, constant LR, no evaluation."""
    from lrcourse.models import mlp

    ds = load_data(data)
    X, y = ds.train
    model = mlp(ds.num_features, hidden=(256, 256), out_features=ds.num_classes, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), batch_size):
            idx = perm[i:i + batch_size]
            loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--lrs", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.4])
    p.add_argument("--schedules", nargs="+", default=list(RECIPES))
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--cache", default=None, help="cache folder (default: none, train everything)")
    args = p.parse_args()
    torch.set_num_threads(1)
    settings = dict(data="mnist1d", hidden=(256, 256), epochs=args.epochs, batch_size=64, optimizer="sgd",
                    momentum=0.9)

    # 1. cost of one run (median of 3), against a hand-written loop. CPU seconds of this process
    #    (one thread), not wall time: on a shared machine the wall time depends on the neighbours.
    cfg = build_configs(["cosine"], [0.05], [0], **settings)[0]
    load_data("mnist1d")  # generation/caching is not part of a run
    runs, hand = [], []
    for _ in range(3):
        c0 = time.process_time()
        run_one(cfg)
        c1 = time.process_time()
        hand_loop_seconds("mnist1d", args.epochs, 64, 0.05, 0)
        runs.append(c1 - c0)
        hand.append(time.process_time() - c1)
    one, bare = statistics.median(runs), statistics.median(hand)
    print(f"one run: {args.epochs} epochs x {cfg.total_steps() // args.epochs} updates, MNIST-1D MLP 40-256-256-10, "
          f"1 thread, CPU seconds (median of 3)")
    print("| what | CPU s per run | ms per epoch | ratio |\n|---|---|---|---|")
    print(f"| hand-written loop (no validation) | {bare:.2f} | {1000 * bare / args.epochs:.1f} | 1.00 |")
    print(f"| run_one (fit + validation each epoch + LR check) | {one:.2f} | {1000 * one / args.epochs:.1f} | "
          f"{one / bare:.2f} |")
    n_runs = len(args.schedules) * len(args.lrs) * args.seeds
    print(f"grid: {len(args.schedules)} schedules x {len(args.lrs)} LRs x {args.seeds} seeds = {n_runs} runs, "
          f"about {n_runs * one / args.jobs / 60:.1f} CPU-min per job with {args.jobs} job(s)\n")

    # 2. the comparison
    start, cpu = time.perf_counter(), time.process_time()
    res = compare(args.schedules, lrs=args.lrs, seeds=list(range(args.seeds)), target_acc=0.6,
                  cache_dir=args.cache, n_jobs=args.jobs, progress=False, **settings)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"ran {res.computed} runs ({len(res) - res.computed} cached) in {total:.0f} s wall, {cpu:.0f} s CPU in "
          f"this process ({total / max(res.computed, 1):.2f} s wall per run)\n")
    print("each schedule at its own best peak LR (mean ± sample std over seeds; epochs to val acc 0.6):")
    print(res.to_markdown())

    # 3. the sweep: where each schedule's optimum lies
    print("\nmean val accuracy by peak LR (* = the schedule's best):")
    best = res.best()
    head = ["schedule"] + [f"{lr:g}" for lr in args.lrs]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, points in res.sweep().items():
        cells = {lr: f"{m:.3f}{'*' if lr == best[name] else ''}" if not math.isnan(m) else "nan"
                 for lr, m, _ in points}
        print("| " + " | ".join([name] + [cells.get(lr, "-") for lr in args.lrs]) + " |")


if __name__ == "__main__":
    main()
