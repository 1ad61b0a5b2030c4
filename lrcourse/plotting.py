"""Plots for the course. Ax in, ax out: every function takes an optional matplotlib Axes,
draws on it and returns it; never calls plt.show().

Without an ``ax`` a new figure is made, so ``plot_x(...)`` alone shows one plot in a notebook,
and ``fig, axes = plt.subplots(1, 2)`` plus ``plot_x(..., ax=axes[0])`` composes figures.
Functions draw what callbacks and experiments recorded; they never train anything.
"""
import numbers

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_schedules"]


def _check_num_steps(num_steps):
    if isinstance(num_steps, bool) or not isinstance(num_steps, numbers.Real):
        raise TypeError(f"num_steps must be an integer, got {type(num_steps).__name__}: {num_steps!r}")
    if not float(num_steps).is_integer() or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    return int(num_steps)


def _named_schedules(schedules, labels):
    """[(label, schedule)] from one schedule, a list of them or a {label: schedule} dict."""
    if isinstance(schedules, dict):
        pairs = [(str(k), s) for k, s in schedules.items()]
    elif isinstance(schedules, (list, tuple)):
        pairs = [(repr(s), s) for s in schedules]
    else:
        pairs = [(repr(schedules), schedules)]
    if not pairs:
        raise ValueError(f"schedules must not be empty, got {schedules!r}")
    for label, schedule in pairs:
        if not callable(schedule) or isinstance(schedule, type):
            raise TypeError(f"each schedule must be a callable step -> lr, got {type(schedule).__name__} ({label})")
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(pairs):
            raise ValueError(f"labels must have one entry per schedule ({len(pairs)}), got {len(labels)}: {labels!r}")
        pairs = [(str(label), s) for label, (_, s) in zip(labels, pairs)]
    return pairs


def _lr_curve(schedule, num_steps):
    if hasattr(schedule, "curve"):
        return np.asarray(schedule.curve(num_steps), dtype=float)
    return np.array([schedule(t) for t in range(num_steps)], dtype=float)


def plot_schedules(schedules, num_steps, ax=None, log=False, labels=None, title=None):
    """Plot learning rate against step for one schedule, a list, or a ``{label: schedule}`` dict.

    x is ``step`` (0 .. num_steps - 1, the LR of each update), y the learning rate from
    ``schedule.curve(num_steps)`` (or ``schedule(t)`` for a plain function). Each line is
    labelled by ``labels``, the dict key, or the schedule's repr. ``log=True`` puts the LR on
    a log axis (zeros are not drawn there). Returns ``ax``.

    >>> from lrcourse.schedules import CosineAnnealing, Linear
    >>> ax = plot_schedules({"cosine": CosineAnnealing(1.0, 10), "linear": Linear(1.0, 0.0, 10)}, 11)
    >>> [line.get_label() for line in ax.get_lines()], round(float(ax.get_lines()[0].get_ydata()[5]), 3)
    (['cosine', 'linear'], 0.5)
    """
    num_steps = _check_num_steps(num_steps)
    pairs = _named_schedules(schedules, labels)
    if ax is None:
        _, ax = plt.subplots()
    steps = np.arange(num_steps)
    for label, schedule in pairs:
        ax.plot(steps, _lr_curve(schedule, num_steps), label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if title is not None:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return ax
