"""``fit``: the training loop of the course, written the way a learner would write it.

    for epoch:                       (callbacks: before_epoch)
        for batch:                   (callbacks: before_batch)
            set the LR from the schedule
            forward -> loss -> backward -> optimizer.step
            record the LR applied; step += 1
                                     (callbacks: after_batch)
        read the epoch's losses back, validate
                                     (callbacks: after_validate: may stop a diverged run)
        step a per-epoch or plateau schedule, checkpoint
                                     (callbacks: after_epoch)

``step`` (updates already done) is incremented in exactly one place. Losses stay on the
device during an epoch and are read back once at its end, so there is no host sync per
update; ``History.lr`` is read back from ``optimizer.param_groups[0]["lr"]`` after each
update: the LR actually applied, not the one intended. Each kind of schedule is driven by an
adapter (``lrcourse.adapters``), checkpoints are ``lrcourse.checkpoint``'s, and the default
divergence check is an ordinary callback (``DivergenceGuard``).

>>> from lrcourse.data import digits
>>> from lrcourse.models import mlp
>>> ds = digits(device="cpu")
>>> model = mlp(64, hidden=(32,))
>>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
>>> h = fit(model, ds.train, ds.val, epochs=2, optimizer=opt, progress=False)
>>> len(h.lr), h.val_loss[-1] < h.val_loss[0], h.diverged
(34, True, False)
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import torch
from torch import nn
from tqdm.auto import tqdm

from lrcourse import checkpoint
from lrcourse._checks import boolean, choice, integer
from lrcourse.adapters import Run, ScheduleAdapter, plain, schedule_adapter
from lrcourse.callbacks import EVENTS, Callback, StopTraining, default_callbacks
from lrcourse.checkpoint import load_checkpoint
from lrcourse.data import Batches, LoaderBatches, as_batches, fingerprint, num_samples
from lrcourse.device import autocast, get_device
from lrcourse.seeding import course_seed

__all__ = ["History", "Trainer", "fit", "evaluate", "load_checkpoint", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = checkpoint.FORMAT
STEP_PER = ("batch", "epoch")
_STEP_PER = STEP_PER  # older name
IGNORE_INDEX = -100  # cross-entropy's default ignore_index: such labels count in neither loss nor accuracy


@dataclass
class History:
    """What a run did, read back from the optimizer after every update.

    Per update (index = step):

    - ``lr``: param group 0's ``lr`` as applied (what the schedule set);
    - ``loss``: the batch loss;
    - ``momentum``: SGD momentum or Adam's beta1 as applied (empty for optimizers with neither);
    - ``group_lrs``: every param group's ``lr`` (group 0 first), when the optimizer has more
      than one group (empty list otherwise);
    - ``effective_lr``: group 0's step size when the optimizer scales ``lr`` itself (empty
      list otherwise): ``d x lr`` for the learning-rate-free D-Adaptation and Prodigy
      optimizers, with ``d`` the estimate that update used (their optional bias correction not
      included); ``lr`` times the warmup factor for the schedule-free optimizers (their
      ``scheduled_lr``).

    Per epoch: ``train_loss`` (mean batch loss), ``val_loss``, ``val_acc`` (empty lists without
    ``val``), ``epoch_time`` (seconds) and ``epoch_steps`` (the step count at the end of the
    epoch). ``diverged``/``diverged_at`` (the step of the first bad loss) mark a blown-up run;
    ``stop_reason`` says why a run ended early (None if it ran all its epochs).

    >>> History.from_dict(History(lr=[0.1], loss=[2.3]).to_dict()).lr
    [0.1]
    """

    lr: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    momentum: list = field(default_factory=list)
    group_lrs: list = field(default_factory=list)
    effective_lr: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    epoch_time: list = field(default_factory=list)
    epoch_steps: list = field(default_factory=list)
    diverged: bool = False
    diverged_at: int | None = None
    stop_reason: str | None = None

    def to_dict(self) -> dict:
        """Plain lists, numbers, strings: JSON- and ``torch.load(weights_only=True)``-safe."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), list) else v) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        known = {f.name for f in fields(cls)}
        if not isinstance(d, dict) or not set(d) <= known:
            raise ValueError(f"History.from_dict needs a dict with keys among {sorted(known)}, got {d!r:.200}")
        return cls(**{k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in d.items()})

    def assert_follows(self, schedule, step_per: str = "batch", rtol: float = 1e-12) -> None:
        """Raise AssertionError unless the LR applied at every update equals ``schedule``'s.

        ``step_per="batch"``: update t ran at ``schedule(t)``; ``"epoch"``: every update of
        epoch e ran at ``schedule(e)`` (a staircase, using ``epoch_steps``). The check every
        notebook makes after a run: the LR the optimizer applied is the LR intended.

        >>> from lrcourse.schedules import Linear
        >>> History(lr=[0.1, 0.05], epoch_steps=[2]).assert_follows(Linear(0.1, 0.0, 2))
        """
        import numpy as np

        choice("step_per", step_per, STEP_PER)
        applied = np.asarray(self.lr, dtype=float)
        if step_per == "batch":
            intended = np.array([schedule(t) for t in range(len(applied))]) if not hasattr(schedule, "curve") \
                else np.asarray(schedule.curve(len(applied)), dtype=float)
        else:
            bounds = [0, *self.epoch_steps]
            intended = np.concatenate([np.full(b - a, schedule(e), dtype=float)
                                       for e, (a, b) in enumerate(zip(bounds, bounds[1:]))] or [np.empty(0)])
        if intended.shape != applied.shape or not np.allclose(applied, intended, rtol=rtol, atol=0):
            n = min(len(applied), len(intended))
            bad = np.flatnonzero(~np.isclose(applied[:n], intended[:n], rtol=rtol, atol=0))
            where = (f"first difference at step {bad[0]}: applied {applied[bad[0]]!r}, intended {intended[bad[0]]!r}"
                     if len(bad) else f"{len(applied)} updates applied, {len(intended)} intended")
            raise AssertionError(f"the LR applied does not follow {schedule!r} (step_per={step_per!r}): {where}")

    def __repr__(self) -> str:
        last = f"{self.val_loss[-1]:.4g}" if self.val_loss else "n/a"
        return (f"History(steps={len(self.lr)}, epochs={len(self.train_loss)}, last val_loss={last}, "
                f"diverged={self.diverged}, stop_reason={self.stop_reason!r})")


@dataclass
class Trainer:
    """The state of a run, handed to every callback: read it, and change it with care.

    ``is_main`` and ``reduce_losses`` let a data-parallel wrapper reuse ``fit`` (a callback can
    set them in ``before_fit``): only the main process writes checkpoints and shows progress,
    and ``reduce_losses(losses)`` (e.g. an all-reduce mean over processes) is applied to each
    epoch's loss tensor, once per epoch, before it is read back.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: object
    device: torch.device
    epochs: int
    history: History
    has_val: bool
    step: int = 0  # updates already done; incremented only in fit's inner loop
    epoch: int = 0  # the current epoch, 0-based
    loss: torch.Tensor | None = None  # last batch loss, detached, still on the device
    batch: tuple | None = None  # last (X, y)
    is_main: bool = True
    reduce_losses: Callable | None = None


# --- the loop ------------------------------------------------------------------------------------


def fit(model, train, val=None, *, epochs, optimizer, loss_fn=None, batch_size=64, schedule=None,
        step_per="batch", callbacks=(), device=None, amp=None, progress=True, seed=0,
        checkpoint_path=None, resume_from=None) -> History:
    """Train ``model`` for ``epochs`` passes over ``train``; return a ``History``.

    - ``train``/``val``: an ``(X, y)`` tuple of tensors (batched by ``Batches`` with
      ``batch_size``, reshuffled every epoch from ``(seed, epoch)``; ``val`` is not shuffled),
      a ``Batches``, or any ``DataLoader`` yielding ``(inputs, targets)`` (moved to ``device``).
      An empty ``val`` is an error; so are ``val`` labels outside the model's classes (checked
      on the first ``val`` batch before training, and on all of them for tensors).
    - ``optimizer``: an optimizer built on ``model.parameters()``, or a factory
      ``lambda params: torch.optim.SGD(params, lr=0.1)``. An optimizer with ``train()`` and
      ``eval()`` methods (the schedule-free ones) is put in train mode before the updates of
      every epoch and in eval mode after them, so validation, checkpoints, callbacks' epoch
      events and the returned model all see the weights meant for evaluation.
    - ``loss_fn``: ``(output, y) -> scalar``; default cross-entropy. ``val_acc`` is the argmax
      accuracy when the output is ``(n, classes)``, NaN otherwise.
    - ``schedule`` (see ``lrcourse.adapters``): a course ``Schedule``, applied with ``set_lr``
      before every update at ``schedule(step)`` (``step_per="batch"``) or ``schedule(epoch)``
      (``"epoch"``: a staircase), and its ``momentum(step)`` if it cycles one (OneCycle); a
      course ``ReduceLROnPlateau`` (its ``lr`` from the start, stepped on the validation loss
      at each epoch end; needs ``val``); a torch ``LRScheduler``, stepped after each update or
      each epoch per ``step_per`` (torch's ReduceLROnPlateau: on the validation loss). A
      horizon that does not fit the run (a ``OneCycle``/``OneCycleLR`` of another length, a
      per-update horizon stepped per epoch) is refused before training, with the fix.
    - ``callbacks``: ``Callback`` objects (``lrcourse.callbacks``). Every run also gets
      ``DivergenceGuard(check_every="epoch")`` (NaN/inf, or a batch loss above 10x the first:
      the run stops, ``history.diverged`` is set, the diverged epoch is not checkpointed) unless
      ``callbacks`` holds a ``DivergenceGuard`` of your own, which replaces it. Any callback ends
      the run early by raising ``StopTraining``; no exception escapes ``fit``.
    - ``device``: default: where the tensor data lives, else ``get_device()``; the model is
      moved there. ``amp``: bf16 autocast, default on for CUDA only (never on CPU/MPS).
    - ``seed``: fixes the shuffling and the random numbers used inside the run (dropout, a
      shuffling DataLoader), shifted by ``LRCOURSE_SEED_OFFSET`` (``lrcourse.seeding``); the
      global RNG is left as it was.
    - ``checkpoint_path``: a checkpoint after every completed, non-diverged epoch
      (``lrcourse.checkpoint``: written atomically, with a checksum); a folder or an unwritable
      place is refused before training. ``resume_from``: restore one and continue until
      ``epochs`` epochs in total; settings that differ from the checkpointed run's (fewer
      epochs than done, ``step_per``, batch size, data, optimizer or its hyper-parameters,
      schedule) are refused, all named at once. With tensor data on the CPU the result is
      bitwise that of an uninterrupted run.
    """
    run = _setup(model, train, val, epochs=epochs, optimizer=optimizer, loss_fn=loss_fn, batch_size=batch_size,
                 schedule=schedule, step_per=step_per, callbacks=callbacks, device=device, amp=amp, seed=seed,
                 checkpoint_path=checkpoint_path, resume=resume_from is not None)  # every check, before any work
    trainer, sched, hooks, loss_fn = run.trainer, run.schedule, run.hooks, run.loss_fn
    model, optimizer, device = trainer.model, trainer.optimizer, trainer.device
    with torch.random.fork_rng(devices=run.cuda):  # the run's randomness, isolated from the caller's
        _seed(course_seed(run.seed), device)  # seed + LRCOURSE_SEED_OFFSET: shuffling, dropout
        if resume_from is not None:  # model, optimizer, schedule, step, epoch, history and RNG state
            checkpoint.restore(resume_from, trainer, sched, run.settings)
        history, record = trainer.history, _Recorder(optimizer, trainer.history)  # record: read back per update
        sched.start(run.plan, trainer.step)
        bar = tqdm(range(trainer.epoch, epochs), desc="fit", unit="epoch", initial=trainer.epoch, total=epochs,
                   disable=not (progress and trainer.is_main))
        try:
            for hook in hooks["before_fit"]:
                hook(trainer)
            for epoch in bar:
                trainer.epoch = epoch
                run.train.set_epoch(epoch)  # the shuffle order is a function of (seed, epoch): resumable
                for hook in hooks["before_epoch"]:
                    hook(trainer)
                if not all(m.training for m in model.modules()):  # model.train() costs ~10 us per module
                    model.train()
                run.optimizer_mode("train")  # schedule-free optimizers train at other weights than they evaluate
                start, losses = time.perf_counter(), []
                try:
                    for xb, yb in run.train:  # batches already on the device
                        trainer.batch = (xb, yb)
                        for hook in hooks["before_batch"]:
                            hook(trainer)
                        sched.before_update(trainer.step, epoch)  # the LR (and momentum) of this update
                        optimizer.zero_grad(set_to_none=True)
                        with run.autocast:  # bf16 on CUDA (amp), nothing elsewhere
                            loss = loss_fn(model(xb), yb)
                        loss.backward()
                        optimizer.step()
                        record()  # the LR as the optimizer applied it
                        trainer.loss = loss.detach()  # stays on the device: no host sync per update
                        losses.append(trainer.loss)
                        trainer.step += 1  # the only place the step counter moves
                        sched.after_update()
                        for hook in hooks["after_batch"]:
                            hook(trainer)
                finally:  # also on StopTraining mid-epoch: keep the losses of the updates done
                    epoch_losses = _read_losses(trainer, losses)  # the epoch's one host sync
                    history.loss.extend(epoch_losses.tolist())
                    run.optimizer_mode("eval")
                # --- end of the epoch: record, validate; callbacks may stop the run before it is checkpointed
                history.train_loss.append(float(epoch_losses.mean()))
                if run.val is not None:
                    val_loss, val_acc = evaluate(model, run.val, run.loss_fn.fn, device, run.amp)
                    history.val_loss.append(val_loss)
                    history.val_acc.append(val_acc)
                history.epoch_steps.append(trainer.step)
                history.epoch_time.append(time.perf_counter() - start)
                for hook in hooks["after_validate"]:  # DivergenceGuard stops a blown-up run here
                    hook(trainer)
                sched.after_epoch(history.val_loss[-1] if run.val is not None else None)
                bar.set_postfix(loss=f"{history.train_loss[-1]:.4g}", lr=f"{optimizer.param_groups[0]['lr']:.3g}")
                if checkpoint_path is not None and trainer.is_main:
                    checkpoint.save(checkpoint_path, trainer, sched, run.settings)
                for hook in hooks["after_epoch"]:
                    hook(trainer)
        except StopTraining as stop:
            history.stop_reason = str(stop) or "StopTraining"
        finally:
            bar.close()
            record.close()
            run.optimizer_mode("eval")  # the returned model holds the weights to evaluate
        for hook in hooks["after_fit"]:
            hook(trainer)
    return history


def _seed(seed: int, device: torch.device) -> None:
    """Seed the generators this run draws from: the CPU's and, on an accelerator, its own.

    (``torch.manual_seed`` would also queue seeds for every CUDA/XPU/MTIA device not yet
    initialised, with a stack trace each: about a millisecond per ``fit`` call, for nothing.)
    """
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)
    elif device.type == "mps":
        torch.mps.manual_seed(seed)


def _read_losses(trainer: Trainer, losses: list) -> torch.Tensor:
    """The epoch's batch losses on the CPU: the one place they leave the device.

    A data-parallel run reduces them over its processes here (``trainer.reduce_losses``).
    """
    epoch_losses = torch.stack(losses).float() if losses else torch.empty(0)
    if trainer.reduce_losses is not None:
        epoch_losses = trainer.reduce_losses(epoch_losses)
    return epoch_losses.cpu()


# --- setting up a run: every check before any work ------------------------------------------------


@dataclass
class _Run:
    """What ``fit`` prepared: the trainer, the batches, the schedule's adapter, the callbacks."""

    trainer: Trainer
    train: object
    val: object | None
    schedule: ScheduleAdapter
    hooks: dict
    loss_fn: _LossFn
    plan: Run
    amp: bool
    cuda: list
    settings: dict | None
    switches_mode: bool
    seed: int
    autocast: object  # the context every forward pass runs in, made once

    def optimizer_mode(self, mode: str) -> None:
        """``optimizer.train()``/``.eval()`` for optimizers that have them (schedule-free)."""
        if self.switches_mode:
            getattr(self.trainer.optimizer, mode)()


def _setup(model, train, val, *, epochs, optimizer, loss_fn, batch_size, schedule, step_per, callbacks, device,
           amp, seed, checkpoint_path, resume) -> _Run:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    epochs = integer("epochs", epochs, minimum=1)
    batch_size = integer("batch_size", batch_size, minimum=1)
    seed = integer("seed", seed, minimum=0)
    step_per = choice("step_per", step_per, STEP_PER)
    amp = None if amp is None else boolean("amp", amp)
    loss_fn = nn.functional.cross_entropy if loss_fn is None else loss_fn
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable (output, y) -> loss, got {type(loss_fn).__name__}")
    callbacks = _with_defaults(callbacks)
    device = _choose_device(device, train, val)
    if checkpoint_path is not None:
        checkpoint.check_path(checkpoint_path)
    model.to(device)
    optimizer = _build_optimizer(optimizer, model)
    train_batches = as_batches(train, batch_size=batch_size, seed=seed, device=device, name="train")
    val_batches = (as_batches(val, batch_size=max(batch_size, 1024), shuffle=False, device=device, name="val")
                   if val is not None else None)
    try:
        steps_per_epoch = len(train_batches)
    except TypeError:  # a DataLoader over an IterableDataset has no length
        steps_per_epoch = None
    if steps_per_epoch == 0:
        raise ValueError("train yields no batches: it is empty (or drop_last dropped everything)")
    amp = device.type == "cuda" if amp is None else amp
    if val_batches is not None:
        _check_val(model, val_batches, loss_fn, device, amp)
    plan = Run(epochs, steps_per_epoch, has_val=val is not None)
    sched = schedule_adapter(schedule, optimizer, step_per)
    sched.check(plan)
    settings = None
    if checkpoint_path is not None or resume:
        settings = {"epochs": epochs, "step_per": step_per, "steps_per_epoch": steps_per_epoch,
                    "batch_size": _batch_size(train_batches),
                    "data": fingerprint(train_batches),
                    "shuffle_seed": course_seed(train_batches.seed) if isinstance(train_batches, Batches) else None,
                    "optimizer": {"class": type(optimizer).__name__,
                                  "groups": [plain({k: v for k, v in g.items() if k != "params"})
                                             for g in optimizer.param_groups]},
                    "schedule": sched.config()}
    trainer = Trainer(model, optimizer, loss_fn, device, epochs, History(), has_val=val is not None)
    ordered = sorted(callbacks, key=lambda c: c.order)  # per event, only the callbacks that override it
    hooks = {e: [getattr(c, e) for c in ordered if getattr(type(c), e) is not getattr(Callback, e)] for e in EVENTS}
    switches = callable(getattr(optimizer, "train", None)) and callable(getattr(optimizer, "eval", None))
    return _Run(trainer, train_batches, val_batches, sched, hooks, _LossFn(loss_fn), plan, amp,
                [device] if device.type == "cuda" else [], settings, switches, seed, autocast(device, amp))


def _with_defaults(callbacks) -> list:
    """The callbacks, after the default ones that no callback of the same class replaces."""
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
    return [d for d in default_callbacks() if not any(isinstance(cb, type(d)) for cb in callbacks)] + callbacks


def _data_device(data):
    if isinstance(data, Batches):
        return data.device
    if _is_pair(data):
        return data[0].device
    return None  # a DataLoader: batches are moved to the device one by one


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index or 0) == (b.index or 0)


def _choose_device(device, train, val) -> torch.device:
    device = get_device(device, name="device") if device is not None else _data_device(train) or get_device()
    for name, data in (("train", train), ("val", val)):
        d = _data_device(data) if data is not None else None
        if d is not None and not _same_device(d, device):
            raise ValueError(f"{name} data is on {d} but training runs on {device}: create the data with "
                             f"device={device.type!r} (e.g. digits(device=device)) or pass device={d.type!r}")
    return device


def _build_optimizer(optimizer, model):
    if callable(optimizer) and not isinstance(optimizer, torch.optim.Optimizer):
        optimizer = optimizer(model.parameters())  # a factory: lambda params: SGD(params, lr=0.1)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer built on model.parameters() (or a "
                        f"factory params -> Optimizer), got {type(optimizer).__name__}")
    model_params = {id(p) for p in model.parameters()}
    opt_params = [p for g in optimizer.param_groups for p in g["params"]]
    if not any(id(p) in model_params for p in opt_params):
        raise ValueError("optimizer does not hold any of model's parameters: build it on this model, "
                         "e.g. SGD(model.parameters(), lr=0.1), after creating the model")
    return optimizer


@torch.no_grad()
def _check_val(model, val_batches, loss_fn, device, amp) -> None:
    """Before training: ``val`` has samples, and the first val batch goes through the loss.

    For tensor data with class labels, every label must be a class the model outputs.
    """
    if num_samples(val_batches) == 0 or (isinstance(val_batches, LoaderBatches) and _length(val_batches) == 0):
        raise ValueError("val is empty (0 samples): pass a validation set with samples, or val=None")
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):  # iterating a DataLoader draws a seed from the global RNG
            xb, yb = next(iter(val_batches))
        with autocast(device, amp):
            output = model(xb)
            _LossFn(loss_fn, name="val")(output, yb)
    finally:
        model.train(was_training)
    if isinstance(val_batches, Batches) and output.dim() == 2 and not val_batches.y.is_floating_point():
        y, classes = val_batches.y, output.shape[1]
        labels = y[y != IGNORE_INDEX]
        low, high = (int(v) for v in torch.stack([labels.min(), labels.max()]).cpu()) if len(labels) else (0, 0)
        if low < 0 or high >= classes:
            raise ValueError(f"val labels must be class indices in [0, {classes}) (the model's outputs), "
                             f"found {low if low < 0 else high}: check the model's out_features against the "
                             f"number of classes")


def _is_pair(data) -> bool:
    return isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)


def _batch_size(batches):
    return batches.loader.batch_size if isinstance(batches, LoaderBatches) else getattr(batches, "batch_size", None)


def _length(batches):
    try:
        return len(batches)
    except TypeError:
        return None


class _LossFn:
    """``loss_fn``, whose first call turns a shape mismatch into an error that says what to fix."""

    def __init__(self, fn, name="train"):
        self.fn, self.name, self.checked = fn, name, False

    def __call__(self, output, y):
        if self.checked:
            return self.fn(output, y)
        try:
            loss = self.fn(output, y)
        except (RuntimeError, ValueError, IndexError) as err:
            raise ValueError(f"loss_fn could not compare the model output of shape {tuple(output.shape)} with "
                             f"{self.name} targets of shape {tuple(y.shape)} (dtype {y.dtype}): check the "
                             f"model's out_features against the number of classes. Original error: {err}") from err
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise ValueError(f"loss_fn must return a scalar tensor, got {type(loss).__name__} "
                             f"of shape {tuple(getattr(loss, 'shape', ()))}")
        self.checked = True
        return loss


class _Recorder:
    """Appends to ``History``, after every update, what the optimizer applied (read back from it)."""

    def __init__(self, optimizer, history: History):
        self.optimizer, self.history = optimizer, history
        defaults, group = optimizer.defaults, optimizer.param_groups[0]
        self.momentum = "betas" if "betas" in defaults else "momentum" if "momentum" in defaults else None
        self.several_groups = len(optimizer.param_groups) > 1
        # learning-rate-free optimizers (D-Adaptation, Prodigy) step by d x lr, with the d they hold
        # before the step; schedule-free ones log the warmed-up LR of each step as scheduled_lr
        self.effective = "d" if "d" in group else "scheduled_lr" if "scheduled_lr" in group else None
        self._d_lr = math.nan
        self._hook = optimizer.register_step_pre_hook(self._before_step) if self.effective == "d" else None

    def _before_step(self, optimizer, args, kwargs):
        group = optimizer.param_groups[0]
        self._d_lr = float(group["d"]) * float(group["lr"])

    def __call__(self):
        groups, h = self.optimizer.param_groups, self.history
        group = groups[0]
        h.lr.append(float(group["lr"]))
        if self.momentum is not None:
            h.momentum.append(float(group["betas"][0] if self.momentum == "betas" else group["momentum"]))
        if self.several_groups:
            h.group_lrs.append([float(g["lr"]) for g in groups])
        if self.effective is not None:
            h.effective_lr.append(self._d_lr if self.effective == "d" else float(group["scheduled_lr"]))

    def close(self):
        if self._hook is not None:
            self._hook.remove()


@torch.no_grad()
def evaluate(model, batches, loss_fn=None, device=None, amp=False, moved=True):
    """Mean loss and accuracy of ``model`` over ``batches`` (model in eval mode, one host sync).

    ``batches``: an ``(X, y)`` tuple such as ``ds.test`` (batched 1024 at a time), a
    ``Batches``, a ``DataLoader`` (its batches are moved to ``device``), or a list of ``(X, y)``
    batches. The mean is weighted by batch size; accuracy is NaN when outputs are not
    ``(n, classes)``. An empty set raises ValueError. ``device`` defaults to the model's;
    ``moved`` is kept for compatibility (batches are moved when they need to be).
    """
    device = device if device is not None else next(model.parameters()).device
    if not (isinstance(batches, list) and not _is_pair(batches)):  # a list of (X, y) batches is used as is
        batches = as_batches(batches, batch_size=1024, shuffle=False, device=device)
    loss_fn = nn.functional.cross_entropy if loss_fn is None else loss_fn
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    labelled = torch.zeros((), device=device)  # samples whose label is not -100 (cross-entropy's ignore_index)
    n, classify = 0, True
    try:
        for xb, yb in batches:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            with autocast(device, amp):
                out = model(xb)
                total += loss_fn(out, yb).float() * len(yb)
            if classify and out.dim() == 2 and yb.dim() == 1:
                keep = yb != IGNORE_INDEX  # ignored by the loss, so not counted as right or wrong either
                correct += ((out.argmax(1) == yb) & keep).sum()
                labelled += keep.sum()
            else:
                classify = False
            n += len(yb)
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("evaluate got no samples: the data is empty")
    values = torch.stack([total / n, correct / labelled.clamp(min=1), labelled]).cpu().tolist()
    return values[0], (values[1] if classify and values[2] > 0 else math.nan)
