"""Cost of driving an optimizer's LR: ScheduleLR and set_lr vs torch's own schedulers.

Times only the scheduler calls (no forward/backward), per step, median of several runs,
printed as ratios to torch's own scheduler. A training step of the course's small MLPs
costs about 0.1-1 ms, so anything in the microseconds is noise next to it.
"""
import statistics
import time

import torch

from lrcourse.plateau import ReduceLROnPlateau
from lrcourse.schedules import CosineAnnealing, OneCycle
from lrcourse.torch_bridge import ScheduleLR, set_lr

STEPS, RUNS = 2000, 7


def optimizer(momentum=0.9):
    return torch.optim.SGD([torch.zeros(10, requires_grad=True)], lr=0.1, momentum=momentum)


def per_step_us(make_loop):
    times = []
    for _ in range(RUNS):
        loop = make_loop()
        start = time.perf_counter()
        loop()
        times.append((time.perf_counter() - start) / STEPS * 1e6)
    return statistics.median(times)


def torch_loop(make_scheduler):
    def make():
        opt = optimizer()
        scheduler = make_scheduler(opt)
        opt._opt_called = True  # we skip optimizer.step(): silence the order warning

        def loop():
            for _ in range(STEPS):
                scheduler.step()

        return loop

    return make


def set_lr_loop(schedule):
    def make():
        opt = optimizer()

        def loop():
            for t in range(STEPS):
                set_lr(opt, schedule(t))

        return loop

    return make


def plateau_loops():
    metrics = [1.0 / (1 + (t % 50)) for t in range(STEPS)]

    def ours():
        opt = optimizer()
        plateau = ReduceLROnPlateau(0.1, patience=3)

        def loop():
            for m in metrics:
                set_lr(opt, plateau.step(m))

        return loop

    def theirs():
        opt = optimizer()
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=3)

        def loop():
            for m in metrics:
                scheduler.step(m)

        return loop

    return ours, theirs


def main():
    cosine = CosineAnnealing(0.1, STEPS)
    onecycle = OneCycle(0.1, STEPS + 1)
    rows = []
    base = per_step_us(torch_loop(lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, STEPS)))
    rows.append(("cosine", "torch CosineAnnealingLR", base, 1.0))
    for name, make in [
        ("ScheduleLR(CosineAnnealing)", torch_loop(lambda opt: ScheduleLR(opt, cosine))),
        ("set_lr(opt, sched(t))", set_lr_loop(cosine)),
    ]:
        us = per_step_us(make)
        rows.append(("cosine", name, us, us / base))
    base = per_step_us(torch_loop(lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=STEPS + 1)))
    rows.append(("1cycle", "torch OneCycleLR", base, 1.0))
    us = per_step_us(torch_loop(lambda opt: ScheduleLR(opt, onecycle)))
    rows.append(("1cycle", "ScheduleLR(OneCycle) + momentum", us, us / base))
    ours, theirs = plateau_loops()
    base = per_step_us(theirs)
    rows.append(("plateau", "torch ReduceLROnPlateau", base, 1.0))
    us = per_step_us(ours)
    rows.append(("plateau", "ReduceLROnPlateau + set_lr", us, us / base))

    print(f"{STEPS} steps, median of {RUNS} runs; ratio = time / torch's own scheduler")
    print(f"{'schedule':9} {'driver':34} {'us/step':>8} {'ratio':>6}")
    for group, name, us, ratio in rows:
        print(f"{group:9} {name:34} {us:8.2f} {ratio:6.2f}")


if __name__ == "__main__":
    main()
