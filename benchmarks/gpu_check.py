"""lrcourse.fit on a CUDA GPU: correctness checks, then timings with and without bf16 autocast.

Without a CUDA GPU it prints a message and exits with status 0 (nothing to check).

Checks: the model and data live on the GPU; the recorded LR trace equals the schedule; the
validation loss falls; AMP (bf16) trains too. Timings (median of ``--runs``, rows interleaved):
a hand-written loop with tensor slicing on the GPU, ``fit(amp=False)``, ``fit(amp=True)``,
on MNIST-1D with an MLP 40-512-512-10 (large enough for the GPU to matter a little).

Run: ``.venv/bin/python benchmarks/gpu_check.py [--epochs E] [--runs R]``.
"""
import argparse
import statistics
import sys
import time

import torch
from torch import nn

from lrcourse.data import mnist1d
from lrcourse.models import mlp
from lrcourse.schedules import CosineAnnealing
from lrcourse.training import fit

BATCH, LR, HIDDEN = 128, 0.05, (512, 512)


def hand_written(X, y, epochs):
    model = mlp(40, hidden=HIDDEN).to(X.device)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=g).to(X.device)
        for i in range(0, len(X), BATCH):
            idx = perm[i:i + BATCH]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    torch.cuda.synchronize()


def run_fit(ds, epochs, amp, schedule=None):
    model = mlp(40, hidden=HIDDEN)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    h = fit(model, ds.train, ds.val, epochs=epochs, optimizer=opt, batch_size=BATCH, schedule=schedule,
            amp=amp, progress=False)
    torch.cuda.synchronize()
    return model, h


def check(ds, epochs):
    steps = epochs * -(-len(ds.train[1]) // BATCH)
    sched = CosineAnnealing(LR, total_steps=steps)
    for amp in (False, True):
        model, h = run_fit(ds, epochs, amp, sched)
        assert next(model.parameters()).device.type == "cuda", "model not on the GPU"
        assert h.lr == [sched(t) for t in range(steps)], "LR trace differs from the schedule"
        assert not h.diverged and h.val_loss[-1] < h.val_loss[0], f"did not learn (amp={amp}): {h.val_loss}"
        print(f"ok  amp={amp!s:<5} val_loss {h.val_loss[0]:.3f} -> {h.val_loss[-1]:.3f}, "
              f"val_acc {h.val_acc[-1]:.3f}, {len(h.lr)} updates on {next(model.parameters()).device}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU on this machine; nothing to check (CPU timings: loop_overhead.py).")
        return 0
    device = torch.device("cuda")
    print(f"GPU: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    ds = mnist1d(device=device)
    check(ds, 3)
    rows = [
        ("hand-written loop (GPU, fp32)", lambda: hand_written(*ds.train, args.epochs)),
        ("lrcourse.fit(amp=False)", lambda: run_fit(ds, args.epochs, False)),
        ("lrcourse.fit(amp=True, bf16)", lambda: run_fit(ds, args.epochs, True)),
    ]
    for _, fn in rows:
        fn()  # warm-up: CUDA context, kernels, allocator
    times = [[] for _ in rows]
    for _ in range(args.runs):
        for (_, fn), ts in zip(rows, times):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    medians = [statistics.median(ts) for ts in times]
    print(f"MNIST-1D MLP 40-512-512-10, batch {BATCH}, {args.epochs} epochs, median of {args.runs} runs "
          f"(fit rows include validation each epoch)")
    print(f"{'loop':<34}{'median s':>10}{'ms/epoch':>10}{'ratio':>8}")
    for (name, _), t in zip(rows, medians):
        print(f"{name:<34}{t:>10.3f}{1000 * t / args.epochs:>10.1f}{t / medians[0]:>7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
