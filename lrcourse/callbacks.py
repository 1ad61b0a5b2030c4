"""Callbacks: small objects that watch (and sometimes steer) a ``fit`` run.

A callback overrides any of these events; each receives the ``Trainer`` (model, optimizer,
step, epoch, history, last loss, device):

- ``before_fit``, ``before_epoch``, ``before_batch``, ``after_batch``;
- ``after_validate``: the epoch is recorded in ``history`` (losses, validation), but the
  schedule has not stepped yet and the epoch is not checkpointed: the place to veto an epoch
  (``DivergenceGuard`` stops a blown-up run here, so its checkpoint keeps the last good epoch);
- ``after_epoch`` (after the checkpoint), ``after_fit``.

Callbacks run in increasing ``order``. To stop a run, raise ``StopTraining("why")``: ``fit``
catches it, records the reason in ``history.stop_reason``, calls ``after_fit`` and returns the
history. ``fit`` adds ``default_callbacks()`` (a ``DivergenceGuard`` checking once per epoch)
unless you pass a callback of the same class, which then replaces it.

Callbacks record; they never draw (plots live in ``lrcourse.plotting``).

>>> class CountBatches(Callback):
...     def before_fit(self, trainer): self.n = 0
...     def after_batch(self, trainer): self.n += 1
>>> sorted([EarlyStopping(2), DivergenceGuard(), CountBatches()], key=lambda c: c.order)[0]
DivergenceGuard(factor=10.0, check_every=1)
"""
from __future__ import annotations

import math

from lrcourse._checks import choice, integer, non_negative, real
from lrcourse.torch_bridge import set_lr

EVENTS = ("before_fit", "before_epoch", "before_batch", "after_batch", "after_validate", "after_epoch",
          "after_fit")


class StopTraining(Exception):
    """Raise from a callback to end ``fit`` cleanly; the message becomes ``history.stop_reason``."""


class Callback:
    """Base class: every event is a no-op; ``order`` sorts callbacks (lower runs first)."""

    order: int = 0

    def before_fit(self, trainer): pass
    def before_epoch(self, trainer): pass
    def before_batch(self, trainer): pass
    def after_batch(self, trainer): pass
    def after_validate(self, trainer): pass
    def after_epoch(self, trainer): pass
    def after_fit(self, trainer): pass

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def default_callbacks() -> list:
    """What every ``fit`` run gets unless it passes a callback of the same class."""
    return [DivergenceGuard(check_every="epoch")]


class EarlyStopping(Callback):
    r"""Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``monitor`` names a per-epoch list of ``History``: ``"val_loss"`` (default, lower is better),
    ``"train_loss"`` (lower) or ``"val_acc"`` (higher). The rule is ``step(value)``, a pure
    function of the values fed to it so far: with best value :math:`b` (``inf``, or ``-inf`` for
    ``val_acc``, before the first epoch), a value :math:`m` improves when

    .. math:: m < b - \delta \;\text{(min)} \qquad m > b + \delta \;\text{(max)}

    (:math:`\delta` = ``min_delta``); an improvement sets :math:`b = m` and the wait to 0, any
    other value (NaN included) adds 1, and the run stops at the end of the epoch that makes the
    wait reach ``patience``. This is Keras 3's ``EarlyStopping(monitor, min_delta, patience)``
    on every finite sequence; Keras takes the first value as best even when it is NaN (after
    which nothing improves), here a NaN never improves. The best weights are not restored.

    >>> es = EarlyStopping(patience=2, min_delta=0.1)
    >>> [es.step(v) for v in [1.0, 0.95, 0.8, 0.75, 0.72]]
    [False, False, False, False, True]
    """

    order = 10
    MONITORS = ("val_loss", "train_loss", "val_acc")

    def __init__(self, patience: int = 5, min_delta: float = 0.0, monitor: str = "val_loss"):
        self.patience = integer("patience", patience, minimum=1)
        self.min_delta = non_negative("min_delta", min_delta)
        self.monitor = choice("monitor", monitor, self.MONITORS)
        self.mode = "max" if monitor == "val_acc" else "min"
        self.reset()

    def reset(self) -> None:
        """Forget every value seen: the state of a new run."""
        self.best, self.wait = (math.inf if self.mode == "min" else -math.inf), 0

    def step(self, value) -> bool:
        """Feed one epoch's value of ``monitor``; True when the run should stop after this epoch."""
        value = float(value)
        if value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta:
            self.best, self.wait = value, 0
            return False
        self.wait += 1
        return self.wait >= self.patience

    def before_fit(self, trainer):
        if self.monitor.startswith("val") and not trainer.has_val:
            raise ValueError(f"EarlyStopping(monitor={self.monitor!r}) needs validation data: pass val to fit")
        self.reset()

    def after_epoch(self, trainer):
        if self.step(getattr(trainer.history, self.monitor)[-1]):
            raise StopTraining(f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                               f"(best {self.best:.4g})")

    def __repr__(self) -> str:
        return f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, monitor={self.monitor!r})"


class DivergenceGuard(Callback):
    """Stop a run whose batch loss is non-finite or above ``factor`` times the run's first loss.

    At the end of every epoch (``after_validate``, before the epoch is checkpointed) it reads
    the epoch's losses from ``history.loss``, which ``fit`` has just copied from the device:
    no extra host sync. ``fit`` runs ``DivergenceGuard(check_every="epoch")`` by default; pass
    your own guard to replace it. An integer ``check_every`` also checks every ``check_every``
    updates within the epoch, to stop sooner (each check reads the loss from the device: one
    host sync). ``factor=None`` checks only for NaN/inf, so a finite spike runs on.

    The first loss is the run's first (``history.loss[0]``, also after a resume). On divergence
    it sets ``history.diverged = True`` and ``history.diverged_at`` (the step whose loss was
    bad) and raises ``StopTraining``; ``fit`` returns normally.

    >>> DivergenceGuard(factor=4.0, check_every=10)
    DivergenceGuard(factor=4.0, check_every=10)
    """

    order = -10  # before anything that would record a diverged loss

    def __init__(self, factor: float | None = 10.0, check_every: int | str = 1):
        self.factor = None if factor is None else real("factor", factor, low=1, low_open=True)
        self.check_every = check_every if check_every == "epoch" else integer("check_every", check_every, minimum=1)

    def before_fit(self, trainer):
        self._first = trainer.history.loss[0] if trainer.history.loss else None

    def _bad(self, loss: float) -> bool:
        first = self._first
        return not math.isfinite(loss) or (self.factor is not None and first is not None and math.isfinite(first)
                                           and loss > self.factor * first)

    def _stop(self, trainer, step: int, message: str):
        trainer.history.diverged, trainer.history.diverged_at = True, step
        raise StopTraining(message)

    def after_batch(self, trainer):
        if self.check_every == "epoch" or (self._first is not None and trainer.step % self.check_every):
            return
        loss = float(trainer.loss)  # a host sync
        if self._first is None:
            self._first = loss
        if self._bad(loss):
            self._stop(trainer, trainer.step - 1, f"diverged at step {trainer.step - 1}: loss {loss:.4g}")

    def after_validate(self, trainer):
        h = trainer.history
        if self._first is None:
            self._first = h.loss[0]
        done = h.epoch_steps[-2] if len(h.epoch_steps) > 1 else 0
        for step in range(done, len(h.loss)):
            if self._bad(h.loss[step]):
                self._stop(trainer, step, f"diverged: loss {h.loss[step]:.4g} at step {step} "
                                          f"(first loss {h.loss[0]:.4g})")


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
