"""Cosine against SGDR, snapshot ensembles and SWA with many seeds: the longer run behind notebook 07.

Notebook 07's protocol with more seeds than a notebook minute allows: MNIST-1D, MLP 40-128-128-10,
SGD + momentum 0.9, batch 128, 18 epochs; cosine annealing over the whole run against SGDR with
three 6-epoch cycles (a snapshot at the end of each); each schedule's peak LR chosen from
0.15 / 0.3 / 0.6 on mean validation accuracy over all seeds; every figure reported on the test
split at that peak; verdicts paired by seed (``lrcourse.evidence``, 3 standard errors; a tie when
the 95% CI lies within ±0.01).

    python benchmarks/evidence_restarts.py --seeds 40 --jobs 2      # about 4 CPU-minutes
    python benchmarks/evidence_restarts.py --seeds 3 --epochs 3     # a smoke run

Prints a Markdown report (the tables of docs/evidence/restarts.md).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import copy
import multiprocessing
import platform
import time

import numpy as np

PEAKS = (0.15, 0.3, 0.6)


def one_run(name: str, peak: float, seed: int, epochs: int, offset: int) -> dict:
    """Train one run as notebook 07 does; return its validation accuracy and the test figures."""
    import torch
    import torch.nn.functional as F
    from torch.optim.swa_utils import AveragedModel

    from lrcourse.callbacks import Callback
    from lrcourse.data import mnist1d
    from lrcourse.models import mlp
    from lrcourse.schedules import CosineAnnealing, CosineWarmRestarts
    from lrcourse.seeding import use_offset
    from lrcourse.training import evaluate, fit

    torch.set_num_threads(1)
    cycle_epochs = epochs // 3

    class Snapshots(Callback):
        def before_fit(self, trainer): self.states = []

        def after_epoch(self, trainer):
            if (trainer.epoch + 1) % cycle_epochs == 0:
                self.states.append(copy.deepcopy(trainer.model.state_dict()))

    with use_offset(offset):
        ds = mnist1d(device="cpu")
        spe = ds.steps_per_epoch(128)
        schedule = (CosineAnnealing(peak, epochs * spe) if name == "cosine"
                    else CosineWarmRestarts(peak, cycle_epochs * spe))
        model = mlp(ds.num_features, hidden=(128, 128), out_features=ds.num_classes, seed=seed)
        opt = torch.optim.SGD(model.parameters(), lr=peak, momentum=0.9)
        snaps = Snapshots()
        h = fit(model, ds.train, ds.val, epochs=epochs, optimizer=opt, batch_size=128, schedule=schedule,
                progress=False, seed=seed, callbacks=[snaps])
        h.assert_follows(schedule)
    X, y = ds.test
    with torch.no_grad():
        probs = []
        for state in snaps.states:
            model.load_state_dict(state)
            model.eval()
            probs.append(F.softmax(model(X), dim=1))

    def swa(states):
        avg = AveragedModel(model)
        for state in states:
            model.load_state_dict(state)
            avg.update_parameters(model)
        return evaluate(avg, ds.test)[1]

    acc = lambda p: float((p.argmax(1) == y).float().mean())  # noqa: E731
    return {"name": name, "peak": peak, "seed": seed, "val_acc": h.val_acc[-1], "last": acc(probs[-1]),
            "ensemble of 3": acc(torch.stack(probs).mean(0)), "SWA of last 2": swa(snaps.states[1:]),
            "SWA of all 3": swa(snaps.states)}


def main(argv=None) -> None:
    from lrcourse.evidence import compare_arms
    from lrcourse.seeding import environment_report, seed_offset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=18, help="a multiple of 3 (three SGDR cycles)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    offset = seed_offset()
    jobs = [(n, p, s, args.epochs, offset) for n in ("cosine", "SGDR") for p in PEAKS for s in range(args.seeds)]
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool:
        rows = list(pool.map(one_run, *zip(*jobs)))

    print(f"# Cosine vs SGDR, snapshot ensembles and SWA ({args.seeds} seeds)\n")
    print(f"`{environment_report()}` · {platform.processor() or platform.machine()} · "
          f"{time.strftime('%Y-%m-%d')} · {args.epochs} epochs\n")
    print("| schedule | peak LR | mean val acc |\n|---|---|---|")
    best = {}
    for name in ("cosine", "SGDR"):
        means = {p: np.mean([r["val_acc"] for r in rows if r["name"] == name and r["peak"] == p]) for p in PEAKS}
        best[name] = max(PEAKS, key=means.get)
        for p in PEAKS:
            print(f"| {name} | {p:g}{' (chosen)' if p == best[name] else ''} | {means[p]:.3f} |")
    at = {name: {r["seed"]: r for r in rows if r["name"] == name and r["peak"] == best[name]} for name in best}
    arm = lambda name, key: {s: r[key] for s, r in at[name].items()}  # noqa: E731
    print("\n| test accuracy at the chosen peak | mean ± std |\n|---|---|")
    arms = {"cosine": arm("cosine", "last"), "SGDR last snapshot": arm("SGDR", "last"),
            "SGDR ensemble of 3": arm("SGDR", "ensemble of 3"), "SGDR SWA of last 2": arm("SGDR", "SWA of last 2"),
            "SGDR SWA of all 3": arm("SGDR", "SWA of all 3")}
    for k, v in arms.items():
        a = np.array(list(v.values()))
        print(f"| {k} | {a.mean():.3f} ± {a.std(ddof=1):.3f} |")
    print("\nVerdicts (test accuracy, paired by seed, 3 SE; tie when the 95% CI lies within ±0.01):\n")
    for a, b in [("SGDR last snapshot", "cosine"), ("SGDR ensemble of 3", "cosine"),
                 ("SGDR ensemble of 3", "SGDR last snapshot"), ("SGDR SWA of last 2", "SGDR last snapshot"),
                 ("SGDR SWA of last 2", "SGDR ensemble of 3"), ("SGDR SWA of all 3", "SGDR last snapshot")]:
        print(f"- {compare_arms(arms[a], arms[b], names=(a, b), tie_tol=0.01)}")
    print(f"\n{len(rows)} runs; wall time {time.perf_counter() - start:.0f} s with --jobs {args.jobs}.")


if __name__ == "__main__":
    main()
