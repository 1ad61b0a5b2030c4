"""How much does ``lrcourse.fit`` cost over a hand-written PyTorch loop? (CPU)

Same task for every row: scikit-learn digits (1437 train samples), MLP 64-128-128-10,
SGD lr 0.1, batch 64, no validation, ``EPOCHS`` epochs. Median wall time of ``RUNS`` runs
(after one warm-up run each, rows interleaved), and the ratio to the hand-written tensor-slicing loop.
Rows: hand-written loop (randperm + slicing), the same with a ``DataLoader``, Keras 3
``model.fit`` on the torch backend, ``lrcourse.fit(progress=False)`` without and with a
schedule. Target: ``fit`` within 1.10x of the hand-written loop.

Run: ``.venv/bin/python benchmarks/loop_overhead.py [--threads N] [--epochs E] [--runs R]``.
Threads default to 1: on a shared 2-core machine torch's thread pool makes tiny models
noisy (and slower), which would hide the loop overhead we want to see.
"""
import argparse
import os
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


def median_times(fns, runs):
    """Median time per function, measured round-robin so that load changes hit every row alike."""
    for fn in fns:
        fn()  # warm-up: first-call allocations, lazy imports
    times = [[] for _ in fns]
    for _ in range(runs):
        for fn, ts in zip(fns, times):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [statistics.median(ts) for ts in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--runs", type=int, default=7)
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
    print(f"digits MLP 64-128-128-10, batch {BATCH}, {args.epochs} epochs ({steps} updates), "
          f"torch {torch.__version__}, {args.threads} thread(s), median of {args.runs} runs")
    print(f"{'loop':<38}{'median s':>10}{'ms/epoch':>10}{'ratio':>8}")
    medians = median_times([fn for _, fn in rows], args.runs)
    for (name, _), t in zip(rows, medians):
        print(f"{name:<38}{t:>10.3f}{1000 * t / args.epochs:>10.1f}{t / medians[0]:>7.2f}x")


if __name__ == "__main__":
    main()
