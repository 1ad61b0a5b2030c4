"""How much does ``lrcourse.fit`` cost over a hand-written PyTorch loop? (CPU)

Same task for every row: scikit-learn digits (1079 train samples), MLP 64-128-128-10,
SGD lr 0.1, batch 64, no validation, ``EPOCHS`` epochs. ``RUNS`` rounds after one warm-up run
each; every round runs each row once, in random order. Printed: the median CPU time of each row
(``--wall`` for wall-clock time) and the median over rounds of its ratio to the hand-written
tensor-slicing loop of the same round (pairing within a round cancels most of the load that
other processes put on a shared machine). Rows: hand-written loop (randperm + slicing), the
same with a ``DataLoader``, Keras 3 ``model.fit`` on the torch backend,
``lrcourse.fit(progress=False)`` without and with a course schedule. Target: ``fit`` within
1.05x of the hand-written loop, with or without a schedule.

Run: ``.venv/bin/python benchmarks/loop_overhead.py [--threads N] [--epochs E] [--runs R] [--no-keras]``.
Threads default to 1: on a shared 2-core machine torch's thread pool makes tiny models
noisy (and slower), which would hide the loop overhead we want to see.
"""
import argparse
import os
import random
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrcourse.data import digits
from lrcourse.models import mlp
from lrcourse.schedules import CosineAnnealing
from lrcourse.training import fit

BATCH, LR = 64, 0.1


def hand_written(X, y, epochs):
    model = mlp(64, hidden=(128, 128))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), BATCH):
            idx = perm[i:i + BATCH]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model


def data_loader(X, y, epochs):
    model = mlp(64, hidden=(128, 128))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    dl = DataLoader(TensorDataset(X, y), batch_size=BATCH, shuffle=True)
    for _ in range(epochs):
        for xb, yb in dl:
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model


def make_keras(X, y, epochs):
    import keras

    keras.utils.set_random_seed(0)
    Xn, yn = X.numpy(), y.numpy()

    def run():
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                                  keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])
        model.compile(optimizer=keras.optimizers.SGD(LR),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(Xn, yn, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0)

    return run


def lrcourse_fit(X, y, epochs, schedule=None):
    model = mlp(64, hidden=(128, 128))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    fit(model, (X, y), epochs=epochs, optimizer=opt, batch_size=BATCH, schedule=schedule, progress=False)
    return model


def paired_times(fns, runs, clock=time.process_time, seed=0):
    """Per row: the median time, and the median over rounds of (time / the first row's time).

    Rounds run every row once, in a fresh random order, so a burst of load on a shared machine
    hits the rows of one round alike; the ratio is taken within each round, then its median.
    ``time.process_time`` (CPU time of this process) by default: on a shared machine wall time
    also counts the time other processes held the CPU.
    """
    for fn in fns:
        fn()  # warm-up: first-call allocations, lazy imports
    rng = random.Random(seed)
    times = [[] for _ in fns]
    for _ in range(runs):
        order = list(range(len(fns)))
        rng.shuffle(order)
        for i in order:
            start = clock()
            fns[i]()
            times[i].append(clock() - start)
    ratios = [statistics.median(t / t0 for t, t0 in zip(ts, times[0])) for ts in times]
    return [statistics.median(ts) for ts in times], ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras row (the slowest)")
    parser.add_argument("--wall", action="store_true", help="wall-clock time instead of this process's CPU time")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ds = digits(device="cpu")
    X, y = ds.train
    steps = args.epochs * -(-len(X) // BATCH)
    cosine = CosineAnnealing(LR, total_steps=steps)
    rows = [
        ("hand-written loop (tensor slicing)", lambda: hand_written(X, y, args.epochs)),
        ("hand-written loop + DataLoader", lambda: data_loader(X, y, args.epochs)),
        ("Keras 3 model.fit (torch backend)", make_keras(X, y, args.epochs)),
        ("lrcourse.fit(progress=False)", lambda: lrcourse_fit(X, y, args.epochs)),
        ("lrcourse.fit + CosineAnnealing", lambda: lrcourse_fit(X, y, args.epochs, cosine)),
    ]
    if args.no_keras:
        rows = [row for row in rows if not row[0].startswith("Keras")]
    print(f"digits MLP 64-128-128-10, batch {BATCH}, {args.epochs} epochs ({steps} updates), "
          f"torch {torch.__version__}, {args.threads} thread(s), median of {args.runs} runs")
    print(f"{'loop':<38}{'median s':>10}{'ms/epoch':>10}{'ratio':>8}")
    clock = time.perf_counter if args.wall else time.process_time
    medians, ratios = paired_times([fn for _, fn in rows], args.runs, clock)
    for (name, _), t, ratio in zip(rows, medians, ratios):
        print(f"{name:<38}{t:>10.3f}{1000 * t / args.epochs:>10.1f}{ratio:>7.3f}x")


if __name__ == "__main__":
    main()
