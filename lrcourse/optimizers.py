r"""Helpers for optimizers that set their own step, and for measuring how sensitive one is to its LR.

Three small tools for notebook 15 (schedule-free and learning-rate-free optimizers); the
optimizers themselves come from their packages (``schedulefree``, ``prodigyopt``,
``dadaptation``), and ``fit`` already drives them (``optimizer.train()``/``eval()`` around every
epoch, ``History.effective_lr`` for ``d x lr``).

- :class:`EvaluateAt`: a callback that evaluates the model on a held-out set at the end of
  chosen epochs. A schedule-free run needs no horizon, so one run answers every budget: its
  accuracy after 2, 4 and 8 epochs (``fit`` puts the optimizer in eval mode before the epoch's
  callbacks run, so these are the averaged weights).
- :func:`recompute_batchnorm`: BatchNorm's running statistics were collected at the training
  point ``y``; a schedule-free model evaluates at ``x``, so they are recomputed there with a
  forward pass in train mode over some training batches, without any update.
- :func:`lr_range`: the range of LRs whose score is within ``tolerance`` of the best, and its
  width in decades. With mean scores :math:`s_i` at grid LRs :math:`\eta_1 < \dots < \eta_n` and
  the best :math:`s^* = \max_i s_i`, the range is the contiguous run of grid points around the
  best with :math:`s_i \ge s^* - \text{tolerance}`, each edge moved to where the line through its
  two neighbouring points (in :math:`\log_{10}\eta`) crosses :math:`s^* - \text{tolerance}`:

  .. math:: \text{width} = \log_{10}(\eta_{high} / \eta_{low})

  A NaN score (a diverged run) ends the range at the last finite point, not interpolated; a
  range that reaches the end of the grid is marked ``clipped``: the true range is wider.

>>> r = lr_range([0.01, 0.1, 1.0], [0.5, 0.8, 0.6], tolerance=0.1)
>>> round(r.low, 4), round(r.high, 4), round(r.decades, 3), r.best_lr
(0.0464, 0.3162, 0.833, 0.1)
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lrcourse._checks import non_negative
from lrcourse.callbacks import Callback
from lrcourse.data import as_batches
from lrcourse.training import evaluate

__all__ = ["EvaluateAt", "recompute_batchnorm", "LRRange", "lr_range"]


class EvaluateAt(Callback):
    """Evaluate the model on ``data`` at the end of each epoch in ``epochs`` (1-based counts).

    ``results[e]`` is ``(loss, accuracy)`` after ``e`` epochs, from ``lrcourse.training.evaluate``.
    ``fit`` calls ``optimizer.eval()`` before the callbacks' epoch events, so a schedule-free
    model is evaluated at its averaged weights, as its own validation is.

    >>> EvaluateAt(None, epochs=(2, 4)).epochs
    (2, 4)
    """

    order = 10  # after the built-in callbacks

    def __init__(self, data, epochs: Sequence[int]):
        self.data, self.epochs, self.results = data, tuple(int(e) for e in epochs), {}
        if not self.epochs or min(self.epochs) < 1:
            raise ValueError(f"epochs must hold epoch counts >= 1, got {epochs!r}")

    def after_epoch(self, trainer):
        done = trainer.epoch + 1
        if done in self.epochs:
            self.results[done] = evaluate(trainer.model, self.data)

    def __repr__(self) -> str:
        return f"EvaluateAt(epochs={self.epochs}, done={sorted(self.results)})"


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, data, num_batches: int | None = None, batch_size: int = 256) -> int:
    """Recompute every BatchNorm layer's running mean and variance at the model's current weights.

    The statistics are reset and re-estimated as a plain (cumulative) average over ``num_batches``
    batches of ``data`` (all of them by default), with the layers in train mode and no gradient
    and no update; the model's mode and each layer's ``momentum`` are restored afterwards. For a
    schedule-free optimizer call it after ``optimizer.eval()``: the statistics then belong to the
    evaluation point ``x``, not to the training point ``y`` where they were collected. ``data``:
    an ``(X, y)`` pair or anything ``as_batches`` takes. Returns the number of batches used (0 if
    the model has no BatchNorm layer: nothing is done).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    device = next(model.parameters()).device
    batches = as_batches(data, batch_size=batch_size, shuffle=False, device=device, name="data")
    was_training, momenta = model.training, [m.momentum for m in norms]
    used = 0
    try:
        model.train()
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # None: a cumulative moving average, every batch weighted alike
        for xb, _ in batches:
            if num_batches is not None and used >= num_batches:
                break
            model(xb)
            used += 1
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)
    return used


@dataclass(frozen=True)
class LRRange:
    """The LRs within ``tolerance`` of the best score: ``low`` .. ``high``, ``decades`` wide.

    ``clipped_low``/``clipped_high``: the range reached that end of the grid (it may be wider).
    """

    best_lr: float
    best_score: float
    tolerance: float
    low: float
    high: float
    decades: float
    clipped_low: bool
    clipped_high: bool


def _edge(lrs, scores, inside: int, outside: int | None, threshold: float) -> float:
    """Where, between grid point ``inside`` (in range) and ``outside``, the score crosses ``threshold``."""
    if outside is None or not math.isfinite(scores[outside]):
        return lrs[inside]
    a, b = math.log10(lrs[inside]), math.log10(lrs[outside])
    sa, sb = scores[inside], scores[outside]
    frac = (sa - threshold) / (sa - sb) if sa != sb else 0.0
    return 10 ** (a + frac * (b - a))


def lr_range(lrs: Sequence[float], scores: Sequence[float], tolerance: float) -> LRRange:
    """The range of LRs whose (mean) score is within ``tolerance`` of the best; see the module doc.

    ``lrs``: increasing positive grid; ``scores``: one number per LR, higher is better, NaN for a
    diverged run. Raises ValueError if the grid is not increasing or no score is finite.
    """
    tolerance = non_negative("tolerance", tolerance)
    lrs, scores = [float(x) for x in lrs], [float(s) for s in scores]
    if len(lrs) != len(scores) or not lrs:
        raise ValueError(f"lrs and scores must have the same, non-zero length, got {len(lrs)} and {len(scores)}")
    if any(x <= 0 for x in lrs) or any(b <= a for a, b in zip(lrs, lrs[1:])):
        raise ValueError(f"lrs must be positive and increasing, got {lrs}")
    finite = [i for i, s in enumerate(scores) if math.isfinite(s)]
    if not finite:
        raise ValueError("scores has no finite value: every run diverged")
    best = max(finite, key=lambda i: scores[i])
    threshold = scores[best] - tolerance

    def inside(i):
        return math.isfinite(scores[i]) and scores[i] >= threshold

    lo = best
    while lo > 0 and inside(lo - 1):
        lo -= 1
    hi = best
    while hi < len(lrs) - 1 and inside(hi + 1):
        hi += 1
    low = _edge(lrs, scores, lo, lo - 1 if lo > 0 else None, threshold)
    high = _edge(lrs, scores, hi, hi + 1 if hi < len(lrs) - 1 else None, threshold)
    return LRRange(lrs[best], scores[best], tolerance, low, high, math.log10(high / low), lo == 0,
                   hi == len(lrs) - 1)
