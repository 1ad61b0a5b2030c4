r"""Recipes: a schedule scaled to a run, from its peak LR and its number of updates.

A *recipe* is a factory ``recipe(peak_lr, total_steps) -> schedule``: it builds one of the course
schedules so that the schedule's shape ends exactly at the run's last update, whatever the
budget. That is what makes a comparison fair: every schedule gets the same budget and is
scaled to it (``lrcourse.experiments.compare`` calls the recipe once per peak LR of its grid).

>>> RECIPES["cosine"](0.1, 100)
CosineAnnealing(lr=0.1, total_steps=100, min_lr=0.0)
>>> make_run("cosine", 0.1, epochs=3, data=1000, batch_size=100).total_steps   # 3 * ceil(1000 / 100)
30

Pure: no torch here, so the recipes can be listed, plotted and tested without it.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lrcourse import _checks
from lrcourse import schedules as S

__all__ = ["RECIPES", "ALIASES", "recipe", "Run", "make_run", "constant", "multistep", "exponential", "cosine",
           "linear", "polynomial", "onecycle", "wsd", "cyclic", "cosine_restarts"]


def constant(peak_lr: float, total_steps: int):
    """The peak LR throughout: the control every decay is measured against.

    >>> constant(0.1, 100)(99)
    0.1
    """
    return S.Constant(lr=peak_lr)


def multistep(peak_lr: float, total_steps: int):
    """Divide by 10 at 50% and again at 75% of the budget (the classic ResNet recipe; torch's ``MultiStepLR``).

    Formerly called ``step``, which is still accepted as a name (see :data:`ALIASES`); renamed
    because ``SCHEDULES["step"]`` is :class:`~lrcourse.schedules.StepDecay` (every ``step_size``
    updates), a different schedule.

    >>> [round(multistep(1.0, 100)(t), 3) for t in (49, 50, 75)]
    [1.0, 0.1, 0.01]
    """
    b1, b2 = round(0.5 * total_steps), round(0.75 * total_steps)
    return S.PiecewiseConstant(boundaries=(b1, b2), values=(peak_lr, peak_lr / 10, peak_lr / 100))


def exponential(peak_lr: float, total_steps: int):
    r"""Smooth exponential decay to 1% of the peak at the end: :math:`\eta_t = \eta_0\,0.01^{t/T}`.

    >>> [round(exponential(1.0, 100)(t), 3) for t in (0, 50, 100)]
    [1.0, 0.1, 0.01]
    """
    return S.ExponentialDecay(lr=peak_lr, decay_rate=0.01, decay_steps=total_steps)


def cosine(peak_lr: float, total_steps: int):
    """Cosine annealing from the peak to 0 over the budget (Loshchilov & Hutter 2017).

    >>> [round(cosine(1.0, 100)(t), 3) for t in (0, 50, 100)]
    [1.0, 0.5, 0.0]
    """
    return S.CosineAnnealing(lr=peak_lr, total_steps=total_steps)


def linear(peak_lr: float, total_steps: int):
    """Linear decay from the peak to 0 over the budget (Defazio et al. 2023).

    >>> [round(linear(1.0, 100)(t), 3) for t in (0, 50, 100)]
    [1.0, 0.5, 0.0]
    """
    return S.Linear(start_lr=peak_lr, end_lr=0.0, total_steps=total_steps)


def polynomial(peak_lr: float, total_steps: int):
    r"""Polynomial decay with power 2 to 0: :math:`\eta_t = \eta_0 (1 - t/T)^2`.

    >>> [round(polynomial(1.0, 100)(t), 3) for t in (0, 50, 100)]
    [1.0, 0.25, 0.0]
    """
    return S.PolynomialDecay(lr=peak_lr, total_steps=total_steps, end_lr=0.0, power=2.0)


def onecycle(peak_lr: float, total_steps: int):
    """1cycle (Smith & Topin 2017) with the library defaults: warm up to the peak, anneal far below.

    >>> round(max(onecycle(1.0, 100)(t) for t in range(100)), 3)
    1.0
    """
    return S.OneCycle(max_lr=peak_lr, total_steps=total_steps)


def wsd(peak_lr: float, total_steps: int):
    """Warmup-stable-decay (Hu et al. 2024) without warmup: hold the peak, decay to 0 in the last 20%.

    No warmup, so that it differs from ``constant`` only by its decay phase.

    >>> [round(wsd(1.0, 100)(t), 3) for t in (0, 79, 100)]
    [1.0, 1.0, 0.0]
    """
    decay_steps = max(1, round(0.2 * total_steps))
    return S.WarmupStableDecay(max_lr=peak_lr, total_steps=total_steps, warmup_steps=0, decay_steps=decay_steps)


def cyclic(peak_lr: float, total_steps: int):
    """Triangular CLR (Smith 2017): 4 full cycles between peak/10 and the peak, ending at peak/10.

    >>> [round(cyclic(1.0, 80)(t), 3) for t in (0, 10, 20)]
    [0.1, 1.0, 0.1]
    """
    return S.Cyclic(base_lr=peak_lr / 10, max_lr=peak_lr, step_size_up=max(1, round(total_steps / 8)))


def cosine_restarts(peak_lr: float, total_steps: int):
    """SGDR (Loshchilov & Hutter 2017): 3 cosine cycles of lengths c, 2c, 4c with 7c >= the budget.

    >>> s = cosine_restarts(1.0, 70)
    >>> [round(s(t), 3) for t in (0, 10, 30, 69)]   # restarts at 10 and 30
    [1.0, 1.0, 1.0, 0.002]
    """
    return S.CosineWarmRestarts(lr=peak_lr, cycle_steps=max(1, math.ceil(total_steps / 7)), cycle_mult=2)


#: Old recipe names that still work as keys of :data:`RECIPES` (not listed when iterating it).
ALIASES = {"step": "multistep"}


class _Recipes(dict):
    """A dict that also answers to the old names in :data:`ALIASES` (``RECIPES["step"]``)."""

    def __missing__(self, name):
        if isinstance(name, str) and name in ALIASES:
            return self[ALIASES[name]]
        raise KeyError(name)


#: The standard recipes, name -> ``factory(peak_lr, total_steps) -> schedule``. Shared by the
#: notebooks, ``compare`` and the CLI; each factory's docstring says exactly what it builds.
RECIPES: dict[str, Callable] = _Recipes(
    (f.__name__, f)
    for f in (constant, multistep, exponential, cosine, linear, polynomial, onecycle, wsd, cyclic, cosine_restarts)
)


def recipe(name: str) -> Callable:
    """The recipe called ``name`` (an old name from :data:`ALIASES` too); ValueError listing the names.

    >>> recipe("step") is recipe("multistep") is multistep
    True
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a recipe name (str), got {type(name).__name__} {name!r}")
    if name not in RECIPES and name not in ALIASES:
        raise ValueError(f"unknown schedule {name!r}; valid names are {sorted(RECIPES)} "
                         "(or pass a factory peak_lr, total_steps -> schedule)")
    return RECIPES[name]


@dataclass(frozen=True)
class Run:
    """One run's budget and its schedule: the recipe scaled to ``total_steps = epochs * steps_per_epoch``."""

    schedule_name: str
    peak_lr: float
    epochs: int
    batch_size: int
    steps_per_epoch: int
    total_steps: int
    schedule: Any


def make_run(schedule_name: str, peak_lr: float, epochs: int, data: Any, *, batch_size: int = 64) -> Run:
    """Scale recipe ``schedule_name`` (a key of :data:`RECIPES`) to the run's number of updates.

    ``data``: a Dataset (its ``train`` size is used) or the number of training samples.
    Steps per epoch = ceil(n_train / batch_size), as ``fit`` batches them (last batch kept).

    >>> r = make_run("cosine", 0.1, epochs=3, data=1000, batch_size=100)
    >>> r.total_steps, r.schedule
    (30, CosineAnnealing(lr=0.1, total_steps=30, min_lr=0.0))
    """
    if not isinstance(schedule_name, str) or (schedule_name not in RECIPES and schedule_name not in ALIASES):
        raise ValueError(f"schedule_name must be one of {list(RECIPES)}, got {schedule_name!r}")
    peak_lr = _checks.positive("peak_lr", peak_lr)
    epochs = _checks.integer("epochs", epochs, minimum=1)
    batch_size = _checks.integer("batch_size", batch_size, minimum=1)
    if isinstance(data, numbers.Integral) and not isinstance(data, bool):
        n_train = int(data)
    else:
        n_train = len(data.train[1]) if hasattr(data, "train") else None
    if n_train is None or n_train < 1:
        raise ValueError(f"data must be a Dataset or a positive number of samples, got {data!r}")
    steps_per_epoch = -(-n_train // batch_size)
    total = epochs * steps_per_epoch
    schedule = RECIPES[schedule_name](peak_lr, total)
    return Run(schedule_name, peak_lr, epochs, batch_size, steps_per_epoch, total, schedule)
