"""How fast is ``sched.curve(10**6)``? Against a Python loop of ``sched(t)`` and torch's scheduler.

Prints one row per schedule: the time of ``curve(10**6)``, and how many times slower it is to
call the schedule step by step in Python, or to step the equivalent torch scheduler (reading
``param_groups[0]["lr"]`` each time) 10**6 times. The two slow columns are measured on
10**5 steps and scaled by 10 (both cost the same per step throughout). Median of 3 runs.

    .venv/bin/python benchmarks/schedule_curve.py
"""
import statistics
import time
import warnings

import torch
from torch.optim import lr_scheduler as tl

from lrcourse.schedules import CosineAnnealing, CosineWarmRestarts, Cyclic, OneCycle, warmup_cosine

N = 10**6
N_SLOW = 10**5  # loops: measured on 10**5 steps, scaled to 10**6
RUNS = 3

CASES = [
    ("CosineAnnealing", CosineAnnealing(0.1, N, 1e-4), lambda o: tl.CosineAnnealingLR(o, N, 1e-4)),
    ("CosineWarmRestarts", CosineWarmRestarts(0.1, 1000, 2), lambda o: tl.CosineAnnealingWarmRestarts(o, 1000, 2)),
    ("OneCycle", OneCycle(0.1, N), lambda o: tl.OneCycleLR(o, 0.1, total_steps=N)),
    ("Cyclic", Cyclic(0.01, 0.1, 2000, mode="triangular2"),
     lambda o: tl.CyclicLR(o, 0.01, 0.1, 2000, mode="triangular2", cycle_momentum=False)),
    ("warmup_cosine (Join)", warmup_cosine(0.1, N, 10_000),
     lambda o: tl.SequentialLR(o, [tl.LinearLR(o, 1e-8, 1.0, 10_000), tl.CosineAnnealingLR(o, N - 10_000)], [10_000])),
]


def median_time(fn):
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def python_loop(sched):
    return [sched(t) for t in range(N_SLOW)]


def torch_loop(make_scheduler, lr):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no optimizer.step() here: we time the scheduler alone
        scheduler = make_scheduler(opt)
        out = []
        for _ in range(N_SLOW):
            out.append(opt.param_groups[0]["lr"])
            scheduler.step()
    return out


def main():
    print(f"steps: {N:.0e}; loops timed on {N_SLOW:.0e} steps and scaled x{N // N_SLOW}; median of {RUNS} runs")
    print(f"{'schedule':<22} {'curve(1e6)':>11} {'python loop':>12} {'torch step':>11} {'loop/curve':>11} {'torch/curve':>12}")
    for name, sched, make in CASES:
        t_curve = median_time(lambda sched=sched: sched.curve(N))
        t_loop = median_time(lambda sched=sched: python_loop(sched)) * (N // N_SLOW)
        t_torch = median_time(lambda make=make: torch_loop(make, 0.1)) * (N // N_SLOW)
        print(f"{name:<22} {t_curve * 1e3:>9.1f}ms {t_loop:>11.2f}s {t_torch:>10.2f}s "
              f"{t_loop / t_curve:>10.0f}x {t_torch / t_curve:>11.0f}x")


if __name__ == "__main__":
    main()
