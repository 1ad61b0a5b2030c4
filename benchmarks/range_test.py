"""LR range test: speed against torch-lr-finder, and the quality of each suggestion rule.

(a) Time of ``lr_range_test`` vs ``torch_lr_finder.LRFinder`` (construct + range_test + reset, so
    both leave the model as it was) on the same MLP, data and number of steps; median of 5 runs.
(b) For each dataset and rule: the suggested LR (geometric mean over seeds) and the accuracy of
    training at it for a fixed budget, against the best LR of a log grid (mean over seeds).
    Every run: MLP, SGD momentum 0.9 (and digits with Adam), batch 64, constant LR, final-epoch
    validation accuracy.

Run: ``.venv/bin/python benchmarks/range_test.py`` (about 3-4 minutes on 2 CPU cores;
``--quick`` for a smoke run). Nothing is cached.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from lrcourse.data import digits, mnist1d
from lrcourse.models import mlp
from lrcourse.range_test import RULES, lr_range_test
from lrcourse.training import fit

MOMENTUM = 0.9
BATCH = 64
RANGE = dict(start_lr=1e-7, end_lr=10.0, num_steps=100)  # fastai's lr_find defaults


def sgd(model, lr=0.1):
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)


def adam(model, lr=1e-3):
    return torch.optim.Adam(model.parameters(), lr=lr)


def setups(quick=False):
    """The brief's two tasks with SGD momentum 0.9, plus digits with Adam as an out-of-sample check."""
    d, m1 = digits(device="cpu"), mnist1d(device="cpu")
    return {
        "digits": dict(data=d, model=lambda s: mlp(64, (128, 128), seed=s), epochs=3 if quick else 10, opt=sgd),
        "mnist1d": dict(data=m1, model=lambda s: mlp(40, (256, 256), seed=s), epochs=3 if quick else 20, opt=sgd),
        "digits-adam": dict(data=d, model=lambda s: mlp(64, (128, 128), seed=s), epochs=3 if quick else 10,
                            opt=adam),
    }


def train_acc(setup, lr, seed):
    """Final validation accuracy after the fixed budget at constant ``lr`` (0 if it diverged)."""
    model = setup["model"](seed)
    h = fit(model, setup["data"].train, setup["data"].val, epochs=setup["epochs"], optimizer=setup["opt"](model, lr),
            batch_size=BATCH, progress=False, seed=seed)
    acc = h.val_acc[-1] if h.val_acc else float("nan")
    return 0.0 if h.diverged or not np.isfinite(acc) else float(acc)


def torch_lr_finder_run(model, loader, num_steps, make_opt=sgd):
    """torch-lr-finder's range test and its own suggestion (steepest np.gradient, 10/5 trimmed)."""
    from torch_lr_finder import LRFinder

    opt = make_opt(model, RANGE["start_lr"])
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        finder = LRFinder(model, opt, torch.nn.CrossEntropyLoss(), device="cpu")
        finder.range_test(loader, end_lr=RANGE["end_lr"], num_iter=num_steps, step_mode="exp")
        try:
            fig, ax = plt.subplots()
            _, lr = finder.plot(ax=ax, suggest_lr=True)
            plt.close(fig)
        except Exception:  # noqa: BLE001  torch-lr-finder raises various errors for too few points
            lr = float("nan")
        finder.reset()
    return lr


def loader_for(data, seed):
    X, y = data.train
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=BATCH, shuffle=True,
                                       generator=g)


# ----------------------------------------------------------------------------- (a) speed
def speed(setup, repeats=5):
    """Median seconds per variant. end_lr=1 and no divergence stop, so every run makes all its steps."""
    data = setup["data"]
    sweep = dict(RANGE, end_lr=1.0)

    def ours(train):
        model = setup["model"](0)
        with contextlib.redirect_stderr(io.StringIO()):  # both show a tqdm bar; hide both
            res = lr_range_test(model, train, optimizer=sgd(model), batch_size=BATCH, diverge_factor=None, **sweep)
        assert len(res.lrs) == sweep["num_steps"], res  # a NaN stop would make ours look faster

    def theirs():
        from torch_lr_finder import LRFinder

        model = setup["model"](0)
        opt = sgd(model, RANGE["start_lr"])
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            finder = LRFinder(model, opt, torch.nn.CrossEntropyLoss(), device="cpu")
            finder.range_test(loader_for(data, 0), end_lr=sweep["end_lr"], num_iter=sweep["num_steps"],
                              diverge_th=float("inf"))
            finder.reset()
        assert len(finder.history["lr"]) == sweep["num_steps"]

    variants = [("lrcourse, (X, y) tensors", lambda: ours(data.train)),
                ("lrcourse, same DataLoader", lambda: ours(loader_for(data, 0))),
                ("torch-lr-finder, DataLoader", theirs)]
    times = {name: [] for name, _ in variants}
    for _, fn in variants:
        fn()  # warm-up: first-call imports and allocations are not what we measure
    for _ in range(repeats):  # round-robin, so a burst of load on the shared machine hits all alike
        for name, fn in variants:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


# ----------------------------------------------------------------------------- (b) quality
def quality(setup, seeds, grid):
    """Accuracy per grid LR and per rule's suggestion, for every seed."""
    grid_acc = np.array([[train_acc(setup, lr, s) for s in seeds] for lr in grid])  # (lrs, seeds)
    suggested = {rule: [] for rule in (*RULES, "torch-lr-finder")}
    for s in seeds:
        model = setup["model"](s)
        res = lr_range_test(model, setup["data"].train, optimizer=setup["opt"](model), batch_size=BATCH, progress=False,
                            seed=s, **RANGE)
        for rule, lr in res.suggestions().items():
            suggested[rule].append(lr)
        suggested["torch-lr-finder"].append(
            torch_lr_finder_run(setup["model"](s), loader_for(setup["data"], s), RANGE["num_steps"], setup["opt"]))
    acc = {rule: [train_acc(setup, lr, s) if np.isfinite(lr) else 0.0 for lr, s in zip(lrs, seeds)]
           for rule, lrs in suggested.items()}
    return grid_acc, suggested, acc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 3 epochs, 6 grid LRs: a smoke run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats (median)")
    parser.add_argument("--speed-only", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a shared 2-core machine: steadier timings
    seeds = [0] if args.quick else list(range(args.seeds))
    grid = np.logspace(-4, 0.5, 6 if args.quick else 14)
    all_setups = setups(args.quick)

    print(f"(a) range-test time, {RANGE['num_steps']} steps 1e-7 -> 1, batch {BATCH}, median of {args.repeats} (seconds)")
    for name, setup in all_setups.items():
        if setup["opt"] is not sgd:
            continue
        rows = speed(setup, repeats=1 if args.quick else args.repeats)
        ref = rows["torch-lr-finder, DataLoader"]
        for label, t in rows.items():
            print(f"  {name:8s} {label:30s} {t:7.3f} s   ratio to torch-lr-finder {t / ref:5.2f}")

    if args.speed_only:
        return 0
    print(f"\n(b) suggestion quality: SGD momentum {MOMENTUM} (digits-adam: Adam), batch {BATCH}, range test "
          f"{RANGE['start_lr']:g} -> {RANGE['end_lr']:g} in {RANGE['num_steps']} steps, seeds {seeds}")
    print(f"    grid: {len(grid)} LRs {grid[0]:.0e} .. {grid[-1]:.2g}; accuracy = final val_acc, mean over seeds")
    for name, setup in all_setups.items():
        t0 = time.perf_counter()
        grid_acc, suggested, acc = quality(setup, seeds, grid)
        mean = grid_acc.mean(axis=1)
        best = int(np.argmax(mean))
        print(f"\n  {name} ({setup['epochs']} epochs): grid-best LR {grid[best]:.3g} -> {mean[best]:.3f}"
              f"   [{time.perf_counter() - t0:.0f} s]")
        print("    grid: " + "  ".join(f"{lr:.2g}:{a:.2f}" for lr, a in zip(grid, mean)))
        print(f"    {'rule':16s} {'LR (geo-mean)':>14s} {'LR min..max':>17s} {'acc':>6s} {'vs best':>8s}")
        for rule, lrs in suggested.items():
            lrs = np.asarray(lrs, dtype=float)
            ok = lrs[np.isfinite(lrs)]
            geo = float(np.exp(np.log(ok).mean())) if ok.size else float("nan")
            a = float(np.mean(acc[rule]))
            print(f"    {rule:16s} {geo:14.3g} {ok.min():8.2g}..{ok.max():<8.2g} {a:6.3f} {a - mean[best]:+8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
