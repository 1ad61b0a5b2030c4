r"""Reduce the learning rate when a monitored metric stops improving.

``ReduceLROnPlateau`` is the one *performance-based* schedule of the course: the next
learning rate depends on the metric (usually the validation loss) measured at the end
of each epoch, not on the step. It therefore keeps state, but only plain numbers
(``lr``, ``best``, ``num_bad_epochs``, ``cooldown_counter``), so it is saved with
``state_dict()`` and restored with ``load_state_dict()``.

No torch here: apply ``.lr`` to an optimizer with ``lrcourse.torch_bridge.set_lr``.
"""
import math
import numbers

import numpy as np

from lrcourse import _checks

_MODES = ("min", "max")
_THRESHOLD_MODES = ("rel", "abs")
_STATE_KEYS = ("lr", "best", "num_bad_epochs", "cooldown_counter")


def _is_sequence(value):
    return isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) >= 1


def _metric(metric):
    """A metric as a float: numbers, NumPy scalars and 0-d tensors; NaN and inf are allowed."""
    value = _checks.scalar(metric)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"metric must be a real number, got {type(metric).__name__}: {metric!r}")
    return float(value)


class ReduceLROnPlateau:
    r"""Multiply the LR by ``factor`` after more than ``patience`` epochs without improvement.

    Call ``step(metric)`` once per epoch, after validation; it returns the LR for the next
    epoch. A metric value :math:`m` *improves* on the best value so far :math:`b` when

    .. math::

        \text{min, rel: } m < b\,(1 - \theta) \qquad \text{min, abs: } m < b - \theta \\
        \text{max, rel: } m > b\,(1 + \theta) \qquad \text{max, abs: } m > b + \theta

    with :math:`\theta` = ``threshold`` and :math:`b = +\infty` (``-inf`` in max mode)
    before the first epoch. An improvement sets ``best = m`` and ``num_bad_epochs = 0``;
    anything else (NaN included: it never compares better) adds one bad epoch. During a
    cooldown (``cooldown_counter > 0``) the counter ticks down and bad epochs are
    forgotten. When ``num_bad_epochs > patience``:

    .. math:: \eta \leftarrow \max(\eta \cdot f,\ \eta_{min}) \quad\text{if}\quad \eta - \max(\eta f, \eta_{min}) > \epsilon

    with :math:`f` = ``factor``, :math:`\eta_{min}` = ``min_lr``, :math:`\epsilon` = ``eps``
    (a reduction of at most ``eps`` is skipped, so the LR stops at ``min_lr``); then
    ``cooldown_counter = cooldown`` and ``num_bad_epochs = 0``. So with ``patience=p`` the
    first reduction comes at the end of the (p+1)-th bad epoch in a row.

    This is exactly ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (same LRs for any metric
    sequence, NaN included), with the LR kept here instead of in an optimizer.

    Param groups. ``lr`` may be a list, one LR per param group (and ``min_lr`` a list too, or
    one floor for all): each group is then reduced on its own, ``max(lr_i f, min_lr_i)``
    unless the drop is at most ``eps``, exactly as torch reduces every group of its optimizer;
    ``.lr`` is then a tuple, for ``set_lr(optimizer, plateau.lr)``. With one ``lr`` and an
    optimizer of several groups, ``set_lr`` keeps each group at its built ratio to group 0
    (``lrcourse.torch_bridge``): the same LRs as torch's per-group reductions as long as no
    group reaches its floor or a drop below ``eps`` (a ratio-scaled group stops at
    ``min_lr * lr_i / lr_0``, torch's at ``min_lr``); give one LR per group where that matters.

    Differences from Keras 3's ``keras.callbacks.ReduceLROnPlateau``:

    * Patience: Keras reduces when ``wait >= patience`` after counting the bad epoch,
      i.e. after ``patience`` bad epochs, one epoch earlier than torch and this class.
    * Threshold: Keras's ``min_delta`` (default 1e-4) is absolute, like
      ``threshold_mode="abs"``; torch's default is relative (``"rel"``, 1e-4).
    * First epoch: Keras takes the first value as ``best`` whatever it is (even NaN, after
      which nothing ever improves); here the first value must beat ``inf``.
    * Cooldown: Keras ticks the counter down *before* judging the epoch, so ``cooldown=c``
      freezes the bad-epoch count for ``c - 1`` epochs, not ``c``.
    * Floor: Keras reduces while ``lr > min_lr`` (in float32) and clamps to ``min_lr``;
      it has no ``eps``, and a reduction that cannot happen starts no cooldown.
    * Keras stores the LR in float32, so its values differ from these in the 8th digit.

    >>> p = ReduceLROnPlateau(1.0, factor=0.5, patience=1)
    >>> [p.step(loss) for loss in [3.0, 2.0, 2.5, 2.4, 2.1, 2.2]]
    [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(
        self,
        lr,
        mode="min",
        factor=0.1,
        patience=10,
        threshold=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0.0,
        eps=1e-8,
    ):
        self._per_group = _is_sequence(lr)
        if self._per_group:  # one LR per param group; a frozen group (0) is allowed
            lrs = [_checks.non_negative(f"lr[{i}]", v) for i, v in enumerate(lr)]
            if not lrs:
                raise ValueError(f"lr must have one LR per param group, got {lr!r}")
        else:
            lrs = [_checks.positive("lr", lr)]
        self.mode = _checks.choice("mode", mode, _MODES)
        self.factor = _checks.fraction("factor", factor)
        self.patience = _checks.integer("patience", patience, minimum=0)
        self.threshold = _checks.non_negative("threshold", threshold)
        self.threshold_mode = _checks.choice("threshold_mode", threshold_mode, _THRESHOLD_MODES)
        self.cooldown = _checks.integer("cooldown", cooldown, minimum=0)
        if _is_sequence(min_lr):
            if not self._per_group:
                raise TypeError(f"min_lr may be a list only with one lr per param group, got {min_lr!r}")
            floors = [_checks.non_negative(f"min_lr[{i}]", v) for i, v in enumerate(min_lr)]
            if len(floors) != len(lrs):
                raise ValueError(f"min_lr must have one entry per lr ({len(lrs)}), got {len(floors)}: {min_lr!r}")
        else:
            floors = [_checks.non_negative("min_lr", min_lr)] * len(lrs)
        for i, (floor, value) in enumerate(zip(floors, lrs)):
            if floor > value:
                where = f"[{i}]" if self._per_group else ""
                raise ValueError(f"min_lr{where} must be <= lr{where}={value!r}, got {floor!r}")
        self.eps = _checks.non_negative("eps", eps)
        self._initial = list(lrs)
        self._lrs = list(lrs)
        self._min_lrs = floors
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _shaped(self, values):
        return tuple(values) if self._per_group else values[0]

    @property
    def lr(self):
        """The current learning rate (a tuple, one per group, when built with a list): for the next epoch."""
        return self._shaped(self._lrs)

    @property
    def initial_lr(self):
        """The LR (or LRs) it was built with."""
        return self._shaped(self._initial)

    @property
    def min_lr(self):
        """The floor (or one floor per group)."""
        return self._shaped(self._min_lrs)

    @property
    def config(self):
        """Constructor arguments: ``ReduceLROnPlateau(**p.config)`` builds a fresh copy."""
        return {
            "lr": list(self._initial) if self._per_group else self._initial[0],
            "mode": self.mode,
            "factor": self.factor,
            "patience": self.patience,
            "threshold": self.threshold,
            "threshold_mode": self.threshold_mode,
            "cooldown": self.cooldown,
            "min_lr": list(self._min_lrs) if self._per_group else self._min_lrs[0],
            "eps": self.eps,
        }

    def is_better(self, metric, best):
        """Whether ``metric`` improves on ``best`` by more than the threshold (False for NaN)."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return metric < best * (1.0 - self.threshold)
        if self.mode == "min":
            return metric < best - self.threshold
        if self.threshold_mode == "rel":
            return metric > best * (self.threshold + 1.0)
        return metric > best + self.threshold

    def step(self, metric):
        """Record one epoch's ``metric`` and return the LR (or LRs) for the next epoch."""
        current = _metric(metric)
        # Same order of operations as torch, so that the LRs match step for step.
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for i, old in enumerate(self._lrs):  # torch's _reduce_lr, group by group
                new = max(old * self.factor, self._min_lrs[i])
                if old - new > self.eps:
                    self._lrs[i] = new
            # torch starts the cooldown even when the reduction was skipped.
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return self.lr

    def state_dict(self):
        """The mutable state as plain Python numbers (safe for ``torch.load(weights_only=True)``)."""
        return {
            "lr": list(self._lrs) if self._per_group else self._lrs[0],
            "best": self.best,
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
        }

    def load_state_dict(self, state_dict):
        """Restore the state saved by ``state_dict()``; the configuration is not touched."""
        if not isinstance(state_dict, dict) or set(state_dict) != set(_STATE_KEYS):
            raise ValueError(f"state_dict must be a dict with keys {_STATE_KEYS}, got {state_dict!r}")
        saved = state_dict["lr"]
        if _is_sequence(saved) != self._per_group or (self._per_group and len(saved) != len(self._lrs)):
            raise ValueError(f"state_dict['lr'] must be {'one LR per group' if self._per_group else 'one LR'} "
                             f"like this plateau's {self.lr!r}, got {saved!r}")
        if self._per_group:
            lrs = [_checks.non_negative(f"state_dict['lr'][{i}]", v) for i, v in enumerate(saved)]
        else:
            lrs = [_checks.positive("state_dict['lr']", saved)]
        best = _metric(state_dict["best"])
        counters = {key: _checks.integer(f"state_dict[{key!r}]", state_dict[key], minimum=0)
                    for key in ("num_bad_epochs", "cooldown_counter")}
        self._lrs, self.best = lrs, best
        self.num_bad_epochs = counters["num_bad_epochs"]
        self.cooldown_counter = counters["cooldown_counter"]

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        state = ", ".join(f"{k}={v!r}" for k, v in self.state_dict().items())
        return f"ReduceLROnPlateau({args})  # state: {state}"


# ------------------------------------------------------------------------------------------
# Replaying the rule over a metric sequence (moved here from lrcourse.widgets, which re-exports
# both for the notebooks; plateau_explorer and notebook 05 draw them)
# ------------------------------------------------------------------------------------------


def plateau_trace(metrics, lr: float = 0.1, **params) -> tuple[list[float], list[int]]:
    """Run ``ReduceLROnPlateau(lr, **params)`` over ``metrics``: ``(lrs, drop_epochs)``.

    ``metrics[k]`` is the value measured at the end of epoch k+1. ``lrs[k]`` is the LR used *during*
    epoch k+1 (``plateau.lr`` before ``plateau.step(metrics[k])``), so ``lrs[0] == lr``.
    ``drop_epochs``: the 1-based epochs whose metric made the LR go down (a reduction skipped at
    ``min_lr`` is no drop); the last epoch's drop is included although its LR is never used here.
    ``params``: ``mode``, ``factor``, ``patience``, ``threshold``, ``threshold_mode``, ``cooldown``,
    ``min_lr``, ``eps``, as in :class:`ReduceLROnPlateau` (= torch's).

    >>> plateau_trace([3.0, 2.0, 2.5, 2.4, 2.1, 2.2], lr=1.0, factor=0.5, patience=1)
    ([1.0, 1.0, 1.0, 1.0, 0.5, 0.5], [4, 6])
    """
    if isinstance(metrics, (str, bytes)) or not hasattr(metrics, "__len__"):
        raise TypeError(f"metrics must be a sequence of numbers, got {type(metrics).__name__}: {metrics!r}")
    if len(metrics) == 0:
        raise ValueError(f"metrics must hold at least one value, got {metrics!r}")
    plateau = ReduceLROnPlateau(lr, **params)
    lrs, drops = [], []
    for epoch, m in enumerate(metrics, start=1):
        before = plateau.lr
        lrs.append(before)
        if plateau.step(m) < before:
            drops.append(epoch)
    return lrs, drops


def synthetic_val_loss(num_epochs: int = 40, noise: float = 0.02, seed: int = 0):
    r"""A validation-loss-like curve (a numpy array): fast drop, then a noisy plateau.

    .. math:: m_e = 0.5 + 1.5\,e^{-e/6} + \sigma\,z_e,\quad e = 1..E,\ z_e \sim N(0, 1)

    with E = ``num_epochs``, sigma = ``noise``, z drawn by ``numpy.random.default_rng(seed)``.

    >>> synthetic_val_loss(3, noise=0.0).round(3).tolist()
    [1.77, 1.575, 1.41]
    """
    import numpy as np

    from lrcourse import _checks

    num_epochs = _checks.integer("num_epochs", num_epochs, minimum=1)
    noise = _checks.non_negative("noise", noise)
    epochs = np.arange(1, num_epochs + 1)
    return 0.5 + 1.5 * np.exp(-epochs / 6) + noise * np.random.default_rng(seed).standard_normal(num_epochs)
