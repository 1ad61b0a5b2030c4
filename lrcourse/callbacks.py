"""Callbacks: small objects that watch (and sometimes steer) a ``fit`` run.

A callback overrides any of ``before_fit``, ``before_epoch``, ``before_batch``,
``after_batch``, ``after_epoch``, ``after_fit``; each receives the ``Trainer`` (model,
optimizer, step, epoch, history, last loss, device). Callbacks run in increasing ``order``.
To stop a run, raise ``StopTraining("why")``: ``fit`` catches it, records the reason in
``history.stop_reason``, calls ``after_fit`` and returns the history.

Callbacks record; they never draw (plots live in ``lrcourse.plotting``).

>>> class CountBatches(Callback):
...     def before_fit(self, trainer): self.n = 0
...     def after_batch(self, trainer): self.n += 1
>>> sorted([EarlyStopping(2), DivergenceGuard(), CountBatches()], key=lambda c: c.order)[0]
DivergenceGuard(factor=10.0, check_every=1)
"""
from __future__ import annotations

import math

from lrcourse.torch_bridge import set_lr

EVENTS = ("before_fit", "before_epoch", "before_batch", "after_batch", "after_epoch", "after_fit")


class StopTraining(Exception):
    """Raise from a callback to end ``fit`` cleanly; the message becomes ``history.stop_reason``."""


class Callback:
    """Base class: every event is a no-op; ``order`` sorts callbacks (lower runs first)."""

    order: int = 0

    def before_fit(self, trainer): pass
    def before_epoch(self, trainer): pass
    def before_batch(self, trainer): pass
    def after_batch(self, trainer): pass
    def after_epoch(self, trainer): pass
    def after_fit(self, trainer): pass

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``monitor`` names a per-epoch list of ``History``: ``"val_loss"`` (default, lower is better),
    ``"train_loss"`` (lower) or ``"val_acc"`` (higher). NaN never counts as an improvement.
    Like Keras's ``EarlyStopping``: the run stops at the end of the ``patience``-th epoch in a
    row without improvement. The best weights are not restored.

    >>> EarlyStopping(patience=3).mode
    'min'
    """

    order = 10

    def __init__(self, patience: int = 5, min_delta: float = 0.0, monitor: str = "val_loss"):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an integer >= 1, got {patience!r}")
        if not isinstance(min_delta, (int, float)) or min_delta < 0:
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        if monitor not in ("val_loss", "train_loss", "val_acc"):
            raise ValueError(f"monitor must be 'val_loss', 'train_loss' or 'val_acc', got {monitor!r}")
        self.patience, self.min_delta, self.monitor = patience, float(min_delta), monitor
        self.mode = "max" if monitor == "val_acc" else "min"

    def before_fit(self, trainer):
        if self.monitor.startswith("val") and not trainer.has_val:
            raise ValueError(f"EarlyStopping(monitor={self.monitor!r}) needs validation data: pass val to fit")
        self._best, self._wait = math.inf if self.mode == "min" else -math.inf, 0

    def after_epoch(self, trainer):
        value = getattr(trainer.history, self.monitor)[-1]
        better = value < self._best - self.min_delta if self.mode == "min" else value > self._best + self.min_delta
        if better:
            self._best, self._wait = value, 0
            return
        self._wait += 1
        if self._wait >= self.patience:
            raise StopTraining(f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                               f"(best {self._best:.4g})")


class DivergenceGuard(Callback):
    """Stop a run whose batch loss is non-finite or above ``factor`` times the first loss.

    Checked every ``check_every`` updates (each check reads the loss from the device, one
    host sync). On divergence it sets ``history.diverged = True`` and ``history.diverged_at``
    (the step whose loss was bad) and raises ``StopTraining``; ``fit`` returns normally.
    ``factor=None`` checks only for NaN/inf. ``fit`` itself checks once per epoch, with no
    extra host sync, using the same rule and the first guard's ``factor`` (default 10): add
    this guard to stop within the epoch, or pass ``DivergenceGuard(factor=None)`` to let a
    finite loss spike run on (only NaN/inf then stop the run).

    >>> DivergenceGuard(factor=4.0, check_every=10)
    DivergenceGuard(factor=4.0, check_every=10)
    """

    order = -10  # before anything that would record a diverged loss

    def __init__(self, factor: float | None = 10.0, check_every: int = 1):
        if factor is not None and (not isinstance(factor, (int, float)) or not factor > 1):
            raise ValueError(f"factor must be a number > 1 or None, got {factor!r}")
        if isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1:
            raise ValueError(f"check_every must be an integer >= 1, got {check_every!r}")
        self.factor, self.check_every = factor, check_every

    def before_fit(self, trainer):
        self._reference = None

    def after_batch(self, trainer):
        if trainer.step % self.check_every:
            return
        loss = float(trainer.loss)
        if self._reference is None and math.isfinite(loss):
            self._reference = loss
        exploded = self.factor is not None and self._reference is not None and loss > self.factor * self._reference
        if not math.isfinite(loss) or exploded:
            trainer.history.diverged = True
            trainer.history.diverged_at = trainer.step - 1  # the update whose batch loss this is
            raise StopTraining(f"diverged at step {trainer.step - 1}: loss {loss:.4g}")


class LambdaSchedule(Callback):
    """Set the LR before every update from your own function ``fn(step, epoch) -> lr``.

    The blog's "use custom callbacks" advice, in a line: ``LambdaSchedule(lambda s, e: 0.1 *
    0.5 ** e)``. Runs in ``before_batch``; do not combine with ``fit(schedule=...)``, which
    is applied afterwards and would win.

    >>> LambdaSchedule(lambda step, epoch: 0.1).order
    0
    """

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"fn must be a callable (step, epoch) -> lr, got {type(fn).__name__}")
        self.fn = fn

    def before_batch(self, trainer):
        lr = float(self.fn(trainer.step, trainer.epoch))
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"LambdaSchedule fn returned lr={lr!r} at step {trainer.step}; need a finite lr >= 0")
        set_lr(trainer.optimizer, lr)
