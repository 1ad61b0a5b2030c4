r"""The LR range test (Smith 2015/2017; fastai's ``lr_find``) and rules that read an LR off it.

Train for ``num_steps`` updates while the LR sweeps from ``start_lr`` to ``end_lr``, and record
the loss at every LR. The sweep is itself a schedule, evaluated at ``step`` t = 0 .. N-1:

.. math:: \eta_t = \eta_s\,(\eta_e/\eta_s)^{t/(N-1)} \quad\text{(mode="exp")}, \qquad
          \eta_t = \eta_s + (\eta_e - \eta_s)\,t/(N-1) \quad\text{(mode="linear")}

with :math:`\eta_s` = ``start_lr``, :math:`\eta_e` = ``end_lr``, N = ``num_steps``; the first
update uses ``start_lr`` and the last ``end_lr`` (``ExponentialDecay(start_lr, end_lr/start_lr,
decay_steps=N-1)`` and ``Linear(start_lr, end_lr, N-1)`` from ``lrcourse.schedules``).

The loss is smoothed with a bias-corrected exponential moving average (fastai):
:math:`a_t = \beta a_{t-1} + (1-\beta)\ell_t`, :math:`\hat\ell_t = a_t / (1-\beta^{t+1})`,
:math:`\beta` = ``smooth``. The test stops early when :math:`\hat\ell_t` exceeds
``diverge_factor`` times its running minimum ("diverged") or the loss is NaN/inf ("non_finite").

The model and optimizer are put back exactly as they were afterwards, even if the run raises:
a range test is a measurement, not training.

>>> import torch
>>> _ = torch.manual_seed(0); X = torch.randn(256, 4); y = (X[:, 0] > 0).long()
>>> model = torch.nn.Linear(4, 2); opt = torch.optim.SGD(model.parameters(), lr=0.1)
>>> res = lr_range_test(model, (X, y), optimizer=opt, num_steps=50, progress=False)
>>> res.stop_reason in {"diverged", "non_finite", "completed"}, opt.param_groups[0]["lr"]
(True, 0.1)
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from lrcourse._checks import choice, integer, positive, real
from lrcourse.callbacks import Callback, DivergenceGuard, StopTraining
from lrcourse.data import Batches, as_batches
from lrcourse.schedules import ExponentialDecay, Linear
from lrcourse.training import evaluate, fit

MODES = ("exp", "linear")
RULES = ("default", "steepest", "minimum_over_10", "valley")
STOP_REASONS = ("completed", "diverged", "non_finite")


def sweep_schedule(start_lr: float, end_lr: float, num_steps: int, mode: str = "exp"):
    """The course schedule a range test sweeps: ``ExponentialDecay`` growing (rate > 1) or ``Linear``.

    ``sweep_schedule(a, b, N)`` is ``ExponentialDecay(a, b / a, decay_steps=N - 1)``, so step N-1
    is ``b``; with ``mode="linear"`` it is ``Linear(a, b, N - 1)``.

    >>> sweep_schedule(1e-3, 1.0, 4)
    ExponentialDecay(lr=0.001, decay_rate=1000.0, decay_steps=3, staircase=False)
    """
    start_lr, end_lr, num_steps, mode = _check_sweep(start_lr, end_lr, num_steps, mode)
    if mode == "exp":
        return ExponentialDecay(start_lr, end_lr / start_lr, decay_steps=num_steps - 1)
    return Linear(start_lr, end_lr, num_steps - 1)


def sweep_lrs(start_lr: float, end_lr: float, num_steps: int, mode: str = "exp") -> np.ndarray:
    r"""The LRs of a range test, one per step: ``sweep_schedule(...).curve(num_steps)``.

    See the module docstring for the formula. Both ends are included.

    >>> sweep_lrs(1e-3, 1.0, 4).round(4).tolist()
    [0.001, 0.01, 0.1, 1.0]
    >>> sweep_lrs(0.0001, 1.0, 3, mode="linear").round(4).tolist()
    [0.0001, 0.5, 1.0]
    """
    return sweep_schedule(start_lr, end_lr, num_steps, mode).curve(integer("num_steps", num_steps, minimum=2))


def _check_sweep(start_lr, end_lr, num_steps, mode):
    """The sweep's arguments, validated and normalised: (start_lr, end_lr, num_steps, mode)."""
    start_lr, end_lr = positive("start_lr", start_lr), positive("end_lr", end_lr)
    if start_lr >= end_lr:
        raise ValueError(f"start_lr must be smaller than end_lr, got start_lr={start_lr!r}, end_lr={end_lr!r}")
    num_steps = integer("num_steps", num_steps, minimum=2)
    mode = choice("mode", mode, MODES)
    if mode == "exp" and not math.isfinite(end_lr / start_lr):
        raise ValueError(f"end_lr / start_lr must be a finite ratio, got start_lr={start_lr!r}, end_lr={end_lr!r}")
    return start_lr, end_lr, num_steps, mode


# ----------------------------------------------------------------------------- suggestion rules
#: fewest finite points a suggestion is read from: fewer means the sweep died almost at once
MIN_POINTS = 10


def _finite_prefix(lrs, losses):
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    bad = np.flatnonzero(~np.isfinite(losses))
    end = int(bad[0]) if bad.size else len(losses)
    return lrs[:end], losses[:end]


def _unusable(lrs, losses) -> str | None:
    """Why no LR can be read off this curve, or None: too few finite points, or no descent at all."""
    lrs, losses = _finite_prefix(lrs, losses)
    if len(losses) < MIN_POINTS:
        return (f"the range test recorded {len(losses)} finite loss(es) before it stopped, fewer than the "
                f"{MIN_POINTS} a suggestion needs")
    if not losses.min() < losses[0]:
        return (f"the loss never fell below its first value ({losses[0]:.4g}) over {len(losses)} finite points: "
                f"no LR in the sweep trained")
    return None


def _window(lrs, losses):
    """The part of the curve the rules read: up to the first non-finite loss, then fastai's trim.

    fastai drops the first 10% (the EMA is still warming up) and the last 5 points (the
    divergence tail). When that leaves fewer than 3 points, the whole finite prefix is used.
    A curve with fewer than ``MIN_POINTS`` finite points, or whose loss never falls below its
    first value, raises ValueError: any LR read off it would be noise.
    """
    reason = _unusable(lrs, losses)
    if reason is not None:
        raise ValueError(f"{reason}; lower start_lr, check the optimizer's settings, or use more num_steps")
    lrs, losses = _finite_prefix(lrs, losses)
    lo, hi = len(losses) // 10, len(losses) - 5
    if hi - lo >= 3:
        return lrs[lo:hi], losses[lo:hi]
    return lrs, losses


def steepest(lrs, losses) -> float:
    r"""LR at the most negative slope :math:`d\hat\ell / d\log\eta` (forward differences).

    The slope of segment i is :math:`(\hat\ell_{i+1}-\hat\ell_i)/(\log\eta_{i+1}-\log\eta_i)`
    and the rule returns its left end :math:`\eta_i` (as fastai's ``steep`` and torch-lr-finder
    do). Edges: only the trimmed window of ``_window`` is read, so neither the EMA warm-up
    nor the points after the loss has turned non-finite can win.

    >>> lrs = np.logspace(-4, 0, 41); loss = -np.tanh(3 * (np.log10(lrs) + 2))
    >>> round(float(np.log10(steepest(lrs, loss))), 1)
    -2.0
    """
    lrs, losses = _window(lrs, losses)
    slope = np.diff(losses) / np.diff(np.log(lrs))
    return float(lrs[int(np.argmin(slope))])


def minimum_over_10(lrs, losses) -> float:
    """The LR at the minimum of the smoothed loss, divided by 10 (fastai's ``minimum``).

    >>> lrs = np.logspace(-4, 0, 41); round(minimum_over_10(lrs, (np.log10(lrs) + 1) ** 2), 4)
    0.01
    """
    lrs, losses = _window(lrs, losses)
    return float(lrs[int(np.argmin(losses))] / 10)


def valley(lrs, losses) -> float:
    """fastai's ``valley``: the longest decreasing run of the loss, then 2/3 of the way down.

    It finds the longest strictly decreasing subsequence of the losses (O(n^2) dynamic
    programming, exactly fastai's loop), spanning indices ``[start, end]``, and returns the LR
    at ``start + int(d/3) + int(d/6)`` with ``d = end - start`` (fastai's index arithmetic).

    >>> lrs = np.logspace(-4, 0, 41); loss = np.r_[np.linspace(2, 1, 31), np.linspace(1.1, 3, 10)]
    >>> round(float(np.log10(valley(lrs, loss))), 1)
    -2.4
    """
    lrs, losses = _window(lrs, losses)
    n = len(losses)
    lds = [1] * n
    max_start, max_end = 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return float(lrs[max_start + int(sections) + int(sections / 2)])


def course_default(lrs, losses) -> float:
    """The course's default: the more cautious of ``steepest / 3`` and ``minimum / 6``.

    Both landmarks sit near the stability edge and each fails somewhere alone: with SGD momentum
    the minimum scatters 4x between seeds, with Adam the steepest point sits right at the cliff.
    Measurements in ``RangeTestResult.suggest``.

    >>> lrs = np.logspace(-4, 0, 41); loss = 2 - np.tanh(3 * (np.log10(lrs) + 1))
    >>> round(course_default(lrs, loss), 4), round(steepest(lrs, loss) / 3, 4)
    (0.0333, 0.0333)
    """
    lrs_w, losses_w = _window(lrs, losses)
    return min(steepest(lrs, losses) / 3, float(lrs_w[int(np.argmin(losses_w))]) / 6)


_RULE_FUNCTIONS = {"default": course_default, "steepest": steepest,
                   "minimum_over_10": minimum_over_10, "valley": valley}


@dataclass(eq=False)
class RangeTestResult:
    """What a range test recorded: one entry per update that was made.

    ``lrs[t]`` is the LR of update t, ``losses[t]`` the loss it measured (the training batch loss
    *before* the update, or the validation loss after it when ``loss_kind == "val"``), and
    ``smoothed[t]`` the bias-corrected EMA. ``stop_reason`` is "completed", "diverged" or
    "non_finite"; ``num_steps`` is the planned length, so ``len(lrs) < num_steps`` means it stopped early.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stop_reason: str
    num_steps: int
    mode: str = "exp"
    loss_kind: str = "train"
    settings: dict = field(default_factory=dict)

    def __repr__(self) -> str:  # arrays would flood a notebook cell
        return (f"RangeTestResult(steps={len(self.lrs)}/{self.num_steps}, mode={self.mode!r}, "
                f"loss_kind={self.loss_kind!r}, stop_reason={self.stop_reason!r}, "
                f"lr_range=({self.lrs[0]:.3g}, {self.lrs[-1]:.3g}))")

    def suggest(self, rule: str = "default") -> float:
        """Suggest an LR read off the smoothed loss curve.

        Rules (all read the finite prefix of the curve, minus fastai's 10%/last-5 trim):

        - ``"steepest"``: left end of the steepest descent segment in log LR (torch-lr-finder, fastai ``steep``);
        - ``"minimum_over_10"``: the LR of the lowest smoothed loss, divided by 10 (fastai ``minimum``);
        - ``"valley"``: fastai's default, 2/3 down the longest decreasing stretch;
        - ``"default"``: the course's rule, ``min(steepest / 3, minimum / 6)``: the more cautious of
          two readings of where the loss stops improving.

        Why this rule: on MLPs trained at the suggested LR (digits and MNIST-1D, SGD momentum 0.9,
        and digits with Adam), it came within a point of the best LR of a 14-LR grid on all three,
        where each single landmark failed somewhere (with momentum the steepest point sits at the
        cliff; with Adam the minimum scatters less but the steepest point is right at the
        divergence). The measurements, their command and the table: ``benchmarks/README.md``
        (``benchmarks/range_test.py``). The constants are tuned on those runs, so on a new task
        validate the suggestion by training, as notebook 02 does.

        A sweep that stopped after fewer than ``MIN_POINTS`` finite losses, or whose loss never
        fell below its first value, has nothing to suggest: ``suggest`` raises ValueError with the
        number of steps made and why the sweep stopped, instead of printing a confident LR.

        >>> lrs = np.logspace(-4, 0, 41); loss = 2 - np.tanh(3 * (np.log10(lrs) + 1))
        >>> res = RangeTestResult(lrs, loss, loss, "completed", 41)
        >>> round(res.suggest("steepest"), 3), round(res.suggest(), 3)   # steepest / 3 < minimum / 6
        (0.1, 0.033)
        """
        rule = choice("rule", rule, RULES)
        reason = _unusable(self.lrs, self.smoothed)
        if reason is not None:
            raise ValueError(f"no LR to suggest: {reason} (the sweep made {len(self.lrs)} of {self.num_steps} "
                             f"steps, stop_reason={self.stop_reason!r}); lower start_lr, check the optimizer's "
                             f"settings, or use more num_steps")
        return _RULE_FUNCTIONS[rule](self.lrs, self.smoothed)

    def suggestions(self) -> dict:
        """Every rule's suggestion, ``{rule: lr}``, in the order of ``RULES``."""
        return {rule: self.suggest(rule) for rule in RULES}


# ----------------------------------------------------------------------------- the test itself
class _Sweep(Callback):
    """Inside ``fit``: record each update's loss, smooth it, and end the sweep when it is done.

    The stop rule needs each loss as soon as it is measured, so this reads it from the device
    after every update (a host sync per step, as every range test does).
    """

    def __init__(self, num_steps, smooth, diverge_factor, val, loss_fn, progress):
        self.num_steps, self.smooth, self.diverge_factor = num_steps, smooth, diverge_factor
        self.val, self.loss_fn, self.progress = val, loss_fn, progress
        self.losses, self.smoothed, self.stop_reason = [], [], "completed"

    def before_fit(self, trainer):
        from tqdm.auto import tqdm

        self._avg, self._best = 0.0, math.inf
        self._bar = tqdm(total=self.num_steps, desc="range test", disable=not self.progress, leave=False)

    def after_batch(self, trainer):
        value = float(trainer.loss) if self.val is None else self._val_loss(trainer)
        self._avg = self.smooth * self._avg + (1 - self.smooth) * value
        smoothed = self._avg / (1 - self.smooth ** trainer.step)  # bias-corrected: step = updates done
        self.losses.append(value)
        self.smoothed.append(smoothed)
        self._bar.update(1)
        if not (math.isfinite(value) and math.isfinite(smoothed)):
            self.stop_reason = "non_finite"
        elif self.diverge_factor is not None and smoothed > self.diverge_factor * min(self._best, smoothed):
            self.stop_reason = "diverged"
        elif trainer.step < self.num_steps:
            self._best = min(self._best, smoothed)
            return
        raise StopTraining(f"range test {self.stop_reason}")

    def _val_loss(self, trainer):
        optimizer = trainer.optimizer
        switch = callable(getattr(optimizer, "eval", None)) and callable(getattr(optimizer, "train", None))
        if switch:  # a schedule-free optimizer: measure the weights it would be evaluated at
            trainer.optimizer.eval()
        value = evaluate(trainer.model, self.val, self.loss_fn, trainer.device)[0]
        if switch:
            trainer.optimizer.train()
        return value

    def after_fit(self, trainer):
        self._bar.close()


def _check_model(model):
    params = list(model.parameters())
    if not params:
        raise ValueError("model has no parameters to train")
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"model already has non-finite values in {name!r}: re-initialise it before a range test")
    return params[0].device


def _on(data, device):
    """Tensor data moved to ``device`` once (a DataLoader's batches are moved one by one by fit)."""
    if isinstance(data, Batches) and data.device != device:
        return Batches(data.X.to(device), data.y.to(device), data.batch_size, data.shuffle, data.seed, data.drop_last)
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return tuple(t.to(device) for t in data)
    return data


def lr_range_test(model, train, *, optimizer, loss_fn=None, batch_size=64, start_lr=1e-7, end_lr=10.0,
                  num_steps=100, mode="exp", smooth=0.98, diverge_factor=4.0, val=None, device=None,
                  progress=True, seed=0) -> RangeTestResult:
    """Run an LR range test and return a ``RangeTestResult``; model and optimizer are restored exactly.

    ``train``: an ``(X, y)`` tuple, ``Batches`` or ``DataLoader`` (see ``data.as_batches``; the
    tuple is shuffled with ``seed``). With fewer batches than ``num_steps`` the data is cycled,
    reshuffled on every pass. ``loss_fn`` defaults to cross-entropy. ``optimizer`` is any torch
    optimizer over the model's parameters; its LR is overwritten at every step.
    ``val``: data in the same forms; when given, the recorded loss is the validation loss after
    every update (Smith's variant; usually with ``mode="linear"`` and a narrower range) instead of
    the training batch loss. ``smooth`` = 0 disables smoothing. ``diverge_factor=None`` never stops
    early on a rising loss (a non-finite loss always stops the test). ``device=None`` uses the model's
    device; data is moved there. The stop rule assumes a positive loss (as cross-entropy is).
    ``seed`` fixes the shuffling and any randomness inside the run (dropout), and leaves the
    global random state as it was.

    The sweep is ``fit`` itself (as fastai's ``lr_find`` reuses its training loop): the sweep
    schedule drives it, one callback records and smooths the loss and stops the run, and the
    recorded LRs are the ones ``fit`` read back from the optimizer. Everything the run touches
    is saved first (deep copies of ``model.state_dict()`` and ``optimizer.state_dict()``, the
    train/eval mode) and put back in a ``finally`` block, so the model, BatchNorm statistics,
    momentum buffers and LRs are bitwise unchanged afterwards, also after divergence, an
    exception or a KeyboardInterrupt. (torch-lr-finder leaves the model diverged until ``reset()``.)
    """
    schedule = sweep_schedule(start_lr, end_lr, num_steps, mode)
    start_lr, end_lr, num_steps, mode = _check_sweep(start_lr, end_lr, num_steps, mode)
    smooth = real("smooth", smooth, low=0, high=1, high_open=True)
    if diverge_factor is not None:
        diverge_factor = real("diverge_factor", diverge_factor, low=1, low_open=True)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    model_device = _check_model(model)
    device = model_device if device is None else torch.device(device)
    if device.type != model_device.type:
        raise ValueError(f"device={str(device)!r} but the model is on {str(model_device)!r}: move it first")
    loss_fn = torch.nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    batches = as_batches(_on(train, device), batch_size=batch_size, seed=seed, device=device, name="train")
    try:
        passes = -(-num_steps // len(batches))  # epochs of fit: enough passes over the data for num_steps
    except TypeError:  # a DataLoader without a length: fit stops the sweep after num_steps anyway
        passes = num_steps
    except ZeroDivisionError:
        raise ValueError("train yields no batches: it is empty (or drop_last dropped everything)") from None
    val_batches = None if val is None else as_batches(_on(val, device), batch_size=max(batch_size, 1024),
                                                      shuffle=False, device=device, name="val")
    sweep = _Sweep(num_steps, smooth, diverge_factor, val_batches, loss_fn, progress)

    saved_model = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    saved_lrs = [group["lr"] for group in optimizer.param_groups]
    was_training = model.training
    try:
        history = fit(model, batches, epochs=passes, optimizer=optimizer, loss_fn=loss_fn, schedule=schedule,
                      callbacks=[sweep, DivergenceGuard(factor=None, check_every="epoch")],  # the sweep stops itself
                      device=device, progress=False, seed=seed)
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        for group, lr in zip(optimizer.param_groups, saved_lrs):
            group["lr"] = lr  # load_state_dict restores it too; this also keeps a tensor LR's identity
        model.train(was_training)
    n = len(sweep.losses)
    return RangeTestResult(np.array(history.lr[:n]), np.array(sweep.losses), np.array(sweep.smoothed),
                           sweep.stop_reason, num_steps, mode=mode, loss_kind="train" if val is None else "val",
                           settings=dict(start_lr=start_lr, end_lr=end_lr, smooth=smooth,
                                         diverge_factor=diverge_factor, batch_size=batch_size, seed=seed))


# ----------------------------------------------------------------------------- re-reading a recorded test
def ema_smooth(losses, smooth: float) -> np.ndarray:
    r"""The bias-corrected exponential moving average a range test draws, as a pure function.

    .. math:: a_t = \beta a_{t-1} + (1-\beta)\,\ell_t,\quad a_{-1} = 0, \qquad \hat\ell_t = a_t / (1-\beta^{t+1})

    with :math:`\beta` = ``smooth`` (0 returns the losses unchanged), computed in the same order as
    :func:`lr_range_test`, so the values agree bitwise. Once a loss is NaN/inf every later value is too.
    The average weighs about the last :math:`1/(1-\beta)` points (50 at fastai's 0.98): in a sweep that
    grows the LR every step it *lags* the raw curve, so its minimum sits at a larger LR than the raw one.

    >>> ema_smooth([1.0, 3.0], 0.5).tolist()   # a_0 = 0.5 -> 0.5 / 0.5; a_1 = 0.25 + 1.5 -> 1.75 / 0.75
    [1.0, 2.3333333333333335]
    """
    if isinstance(smooth, bool) or not isinstance(smooth, (int, float, np.floating)) or not 0 <= smooth < 1:
        raise ValueError(f"smooth must be a number in [0, 1), got {smooth!r}")
    smooth = float(smooth)
    out, avg = [], 0.0
    for step, value in enumerate(np.asarray(losses, dtype=float).tolist()):
        avg = smooth * avg + (1 - smooth) * value
        out.append(avg / (1 - smooth ** (step + 1)))
    return np.array(out, dtype=float)


def resmooth(result: RangeTestResult, smooth: float, diverge_factor: float | None = 4.0) -> RangeTestResult:
    """The ``RangeTestResult`` that ``lr_range_test`` would have returned with another ``smooth``/``diverge_factor``.

    Neither setting changes the training: they only read the recorded losses (``ema_smooth``, then
    "stop once the smoothed loss exceeds ``diverge_factor`` times its running minimum, or is not
    finite"). So re-reading a test recorded with ``diverge_factor=None`` (it never stops on a rising
    loss) gives exactly what re-running it would: the same LRs and losses up to the new stop, the new
    smoothed curve, the new ``stop_reason``. That is how the range-test explorer moves the
    smoothing without training again. If ``result`` itself stopped early on its own rule and the new
    rule would have gone on, the losses after that point were never measured: ValueError.

    >>> lrs = np.logspace(-3, 0, 6); loss = np.array([2.0, 1.9, 1.0, 0.9, 5.0, 9.0])
    >>> raw = RangeTestResult(lrs, loss, loss, "completed", 6)
    >>> r = resmooth(raw, 0.0); r.stop_reason, len(r.lrs)       # 5.0 > 4 * 0.9: stops there
    ('diverged', 5)
    >>> resmooth(raw, 0.9).stop_reason                          # the lagging average never gets there
    'completed'
    """
    if diverge_factor is not None and (isinstance(diverge_factor, bool) or not isinstance(diverge_factor, (int, float))
                                       or not diverge_factor > 1):
        raise ValueError(f"diverge_factor must be a number > 1 or None, got {diverge_factor!r}")
    losses = np.asarray(result.losses, dtype=float)
    smoothed = ema_smooth(losses, smooth)
    stop_reason, end, best = "completed", len(losses), math.inf
    for t, (value, s) in enumerate(zip(losses, smoothed)):
        if not (math.isfinite(value) and math.isfinite(s)):
            stop_reason, end = "non_finite", t + 1
            break
        best = min(best, s)
        if diverge_factor is not None and s > diverge_factor * best:
            stop_reason, end = "diverged", t + 1
            break
    if stop_reason == "completed" and result.stop_reason == "diverged":
        raise ValueError(f"the recorded test stopped at step {len(losses)} on its own rule (stop_reason "
                         f"'diverged'), and with smooth={smooth!r}, diverge_factor={diverge_factor!r} it would "
                         "have gone on: record it with diverge_factor=None to re-read it with any rule")
    settings = {**result.settings, "smooth": smooth, "diverge_factor": diverge_factor}
    return RangeTestResult(np.asarray(result.lrs, dtype=float)[:end].copy(), losses[:end].copy(), smoothed[:end],
                           stop_reason, result.num_steps, mode=result.mode, loss_kind=result.loss_kind,
                           settings=settings)


def loss_minima(result: RangeTestResult, window: int = 5) -> dict:
    """Where the raw and the smoothed loss are lowest: ``{"raw": lr, "smoothed": lr}``.

    The raw curve is noisy, so its minimum is taken on a running median of ``window`` consecutive
    losses (centred; shorter at the ends); the smoothed one is the minimum of ``result.smoothed``.
    Both read the finite prefix of the curve only. The ratio ``smoothed / raw`` (usually > 1) is
    the lag of the moving average, in LR.

    >>> lrs = np.logspace(-3, 0, 7); loss = np.array([2.0, 1.5, 0.5, 0.7, 3.0, 4.0, 5.0])
    >>> m = loss_minima(RangeTestResult(lrs, loss, ema_smooth(loss, 0.5), "completed", 7), window=1)
    >>> round(m["raw"], 4), round(m["smoothed"], 4)
    (0.01, 0.0316)
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be an integer >= 1, got {window!r}")
    lrs = np.asarray(result.lrs, dtype=float)
    raw = np.asarray(result.losses, dtype=float)
    smooth = np.asarray(result.smoothed, dtype=float)
    bad = np.flatnonzero(~(np.isfinite(raw) & np.isfinite(smooth)))
    end = int(bad[0]) if bad.size else len(raw)
    if end == 0:
        raise ValueError("the range test recorded no finite loss")
    half = int(window) // 2
    median = np.array([np.median(raw[max(0, t - half):min(end, t + half + 1)]) for t in range(end)])
    return {"raw": float(lrs[int(np.argmin(median))]), "smoothed": float(lrs[int(np.argmin(smooth[:end]))])}
