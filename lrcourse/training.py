"""``fit``: the training loop of the course, written the way a learner would write it.

    for epoch:                       (callbacks: before_epoch)
        for batch:                   (callbacks: before_batch)
            set the LR from the schedule
            forward -> loss -> backward -> optimizer.step
            record the LR applied and the loss; step += 1
                                     (callbacks: after_batch)
        validate, step a per-epoch or plateau schedule, checkpoint
                                     (callbacks: after_epoch)

``step`` (updates already done) is incremented in exactly one place. Losses stay on the
device during an epoch and are read back once at its end, so there is no host sync per
update; ``History.lr`` is read back from ``optimizer.param_groups[0]["lr"]`` at each
update: the LR actually applied, not the one intended.

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
import os
import tempfile
import time
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from lrcourse.callbacks import EVENTS, Callback, DivergenceGuard, StopTraining
from lrcourse.data import Batches, as_batches
from lrcourse.device import autocast, get_device, to_device
from lrcourse.plateau import ReduceLROnPlateau
from lrcourse.schedules import Schedule
from lrcourse.seeding import course_seed
from lrcourse.torch_bridge import get_momentum, has_momentum, schedule_config, set_lr, set_momentum

CHECKPOINT_FORMAT = "lrcourse-checkpoint-1"
_STEP_PER = ("batch", "epoch")


@dataclass
class History:
    """What a run did. Per update (index = step): ``lr`` applied, batch ``loss`` and ``momentum``
    (SGD momentum or Adam's beta1 as applied; empty for optimizers with neither). Per epoch:
    ``train_loss`` (mean batch loss), ``val_loss``, ``val_acc`` (empty lists without ``val``),
    ``epoch_time`` (seconds) and ``epoch_steps`` (the step count at the end of the epoch).
    ``diverged``/``diverged_at`` (the step of the first bad loss) mark a blown-up run;
    ``stop_reason`` says why a run ended early (None if it ran all its epochs).

    >>> History.from_dict(History(lr=[0.1], loss=[2.3]).to_dict()).lr
    [0.1]
    """

    lr: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    momentum: list = field(default_factory=list)
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
    def from_dict(cls, d: dict) -> "History":
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

        if step_per not in _STEP_PER:
            raise ValueError(f"step_per must be one of {_STEP_PER}, got {step_per!r}")
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
    """The state of a run, handed to every callback: read it, and change it with care."""

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


# --- argument checks ------------------------------------------------------------------------


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _data_device(data):
    if isinstance(data, Batches):
        return data.device
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return data[0].device
    return None  # a DataLoader: batches are moved to the device one by one


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index or 0) == (b.index or 0)


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


def _check_schedule(schedule, optimizer, step_per, epochs, steps_per_epoch):
    """Classify the schedule as 'course', 'plateau', 'torch', 'torch_plateau' or None."""
    if schedule is None:
        return None
    if isinstance(schedule, Schedule):
        return "course"
    if isinstance(schedule, ReduceLROnPlateau):
        return "plateau"
    if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if schedule.optimizer is not optimizer:
            raise ValueError("schedule (torch ReduceLROnPlateau) was built on a different optimizer than fit's")
        return "torch_plateau"
    if isinstance(schedule, torch.optim.lr_scheduler.LRScheduler):
        if schedule.optimizer is not optimizer:
            raise ValueError(f"schedule ({type(schedule).__name__}) was built on a different optimizer than fit's")
        total = getattr(schedule, "total_steps", None)  # OneCycleLR has a fixed horizon
        if total is not None and steps_per_epoch is not None:
            expected = epochs * steps_per_epoch if step_per == "batch" else epochs
            if total != expected:
                raise ValueError(
                    f"schedule {type(schedule).__name__} has total_steps={total}, but step_per={step_per!r} "
                    f"with epochs={epochs} and {steps_per_epoch} batches per epoch steps it {expected} times; "
                    + (f"step it per batch (step_per='batch', the usual fix for OneCycleLR) or "
                       if step_per == "epoch" and total == epochs * steps_per_epoch else "")
                    + f"build it with total_steps={expected}")
        return "torch"
    raise TypeError(f"schedule must be an lrcourse Schedule, an lrcourse ReduceLROnPlateau or a torch "
                    f"LRScheduler, got {type(schedule).__name__}; for a plain function use "
                    f"callbacks=[LambdaSchedule(fn)]")


# --- checkpoints ----------------------------------------------------------------------------


def _schedule_config(schedule, kind):
    if kind == "course":
        config = schedule_config(schedule) if is_dataclass(schedule) else {"class": type(schedule).__name__, "config": {}}
        return {**config, "repr": repr(schedule)}  # class name + fields (dataclasses.asdict, nested kept)
    if kind == "plateau":  # its repr shows its state; the config alone identifies it
        return {"class": "ReduceLROnPlateau", "repr": f"ReduceLROnPlateau(**{schedule.config!r})",
                "config": _plain(schedule.config)}
    if kind in ("torch", "torch_plateau"):
        return {"class": type(schedule).__name__, "repr": type(schedule).__name__, "config": {}}
    return None


def _plain(x):
    """Keep only types that torch.load(weights_only=True) accepts (numbers, str, containers)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    return float(x) if hasattr(x, "__float__") else repr(x)


def _save_atomic(obj, path: Path) -> None:
    """Write to a temporary file in the same folder, then os.replace: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by ``fit(checkpoint_path=...)`` with ``weights_only=True``."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise ValueError(f"resume_from={str(path)!r} is not a readable checkpoint (corrupt or partial file?): "
                         f"{type(err).__name__}: {str(err)[:200]}") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"resume_from={str(path)!r} is not an lrcourse checkpoint ({CHECKPOINT_FORMAT})")
    return ckpt


def _rng_state(device):
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


# --- the loop -------------------------------------------------------------------------------


def fit(model, train, val=None, *, epochs, optimizer, loss_fn=None, batch_size=64, schedule=None,
        step_per="batch", callbacks=(), device=None, amp=None, progress=True, seed=0,
        checkpoint_path=None, resume_from=None) -> History:
    """Train ``model`` for ``epochs`` passes over ``train``; return a ``History``.

    - ``train``/``val``: an ``(X, y)`` tuple of tensors (batched by ``Batches`` with
      ``batch_size``, reshuffled every epoch from ``(seed, epoch)``; ``val`` is not shuffled),
      a ``Batches``, or any ``DataLoader`` (its batches are moved to ``device``).
    - ``optimizer``: an optimizer built on ``model.parameters()``, or a factory
      ``lambda params: torch.optim.SGD(params, lr=0.1)``.
    - ``loss_fn``: ``(output, y) -> scalar``; default cross-entropy. ``val_acc`` is the argmax
      accuracy when the output is ``(n, classes)``, NaN otherwise.
    - ``schedule``: a course ``Schedule``, applied with ``set_lr`` before every update at
      ``schedule(step)`` (``step_per="batch"``) or ``schedule(epoch)`` (``"epoch"``: a staircase);
      its ``momentum(step)`` too if it has one (OneCycle). A course ``ReduceLROnPlateau``: its
      ``lr`` from the start, stepped on the validation loss at each epoch end (needs ``val``).
      A torch ``LRScheduler``: stepped after each update or each epoch per ``step_per`` (torch's
      ReduceLROnPlateau: on the validation loss); a ``total_steps`` that does not fit raises.
    - ``device``: default: where the tensor data lives, else ``get_device()``; the model is
      moved there. ``amp``: bf16 autocast, default on for CUDA only (never on CPU/MPS).
    - ``seed``: fixes the shuffling and the random numbers used inside the run (dropout, a
      shuffling DataLoader), shifted by ``LRCOURSE_SEED_OFFSET`` (``lrcourse.seeding``); the
      global RNG is left as it was.
    - Divergence: at the end of every epoch ``fit`` checks the epoch's batch losses (no extra
      sync) with ``DivergenceGuard``'s rule: NaN/inf, or above ``factor`` (10) times the run's
      first loss. If one is, it sets ``history.diverged``/``diverged_at``, skips the checkpoint
      and stops. Pass ``DivergenceGuard(factor=..., check_every=...)`` in ``callbacks`` to
      change the factor (``None``: NaN/inf only) or to stop within the epoch. Any callback
      ends the run early by raising ``StopTraining``; no exception escapes ``fit``.
    - ``checkpoint_path``: a checkpoint after every completed, non-diverged epoch (model,
      optimizer, step, epoch, schedule config and state, RNG, history), written atomically.
      ``resume_from``: restore one and continue until ``epochs`` epochs in total; with tensor
      data on the CPU the result is bitwise that of an uninterrupted run.
    """
    # --- check and prepare the arguments
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_int("epochs", epochs, 1)
    _check_int("batch_size", batch_size, 1)
    _check_int("seed", seed, 0)
    if step_per not in _STEP_PER:
        raise ValueError(f"step_per must be one of {_STEP_PER}, got {step_per!r}")
    loss_fn = nn.functional.cross_entropy if loss_fn is None else loss_fn
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable (output, y) -> loss, got {type(loss_fn).__name__}")
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
    data_device = _data_device(train)
    device = (get_device(device) if device is not None else data_device or get_device())
    for name, data in (("train", train), ("val", val)):
        d = _data_device(data) if data is not None else None
        if d is not None and not _same_device(d, device):
            raise ValueError(f"{name} data is on {d} but training runs on {device}: create the data with "
                             f"device={device.type!r} (e.g. digits(device=device)) or pass device={d.type!r}")
    model.to(device)
    optimizer = _build_optimizer(optimizer, model)
    train_batches = as_batches(train, batch_size=batch_size, seed=seed)
    val_batches = (as_batches(val, batch_size=max(batch_size, 1024), shuffle=False) if val is not None else None)
    try:
        steps_per_epoch = len(train_batches)
    except TypeError:  # a DataLoader over an IterableDataset has no length
        steps_per_epoch = None
    if steps_per_epoch == 0:
        raise ValueError("train yields no batches: it is empty (or drop_last dropped everything)")
    kind = _check_schedule(schedule, optimizer, step_per, epochs, steps_per_epoch)
    if kind in ("plateau", "torch_plateau") and val is None:
        raise ValueError("schedule ReduceLROnPlateau is stepped on the validation loss: pass val to fit")
    cycles_momentum = kind == "course" and callable(getattr(schedule, "momentum", None))  # OneCycle
    record_momentum = has_momentum(optimizer)
    amp_on = device.type == "cuda" if amp is None else bool(amp)
    guards = [cb for cb in callbacks if isinstance(cb, DivergenceGuard)]
    divergence_factor = guards[0].factor if guards else DivergenceGuard().factor

    history = History()
    trainer = Trainer(model, optimizer, loss_fn, device, epochs, history, has_val=val is not None)
    resume_rng = None
    if resume_from is not None:
        resume_rng = _restore(resume_from, trainer, schedule, kind, train_batches, device)
        history = trainer.history
    elif kind == "plateau":
        set_lr(optimizer, schedule.lr)

    # callbacks: per event, only the ones that override it, sorted by order (cheap per batch)
    ordered = sorted(callbacks, key=lambda c: c.order)
    hooks = {e: [getattr(c, e) for c in ordered if getattr(type(c), e) is not getattr(Callback, e)] for e in EVENTS}

    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):  # the run's randomness, isolated from the caller's
        torch.manual_seed(course_seed(seed))  # seed + LRCOURSE_SEED_OFFSET
        if resume_rng is not None:
            torch.set_rng_state(resume_rng["cpu"])
            if "cuda" in resume_rng and device.type == "cuda":
                torch.cuda.set_rng_state(resume_rng["cuda"], device)
        bar = tqdm(range(trainer.epoch, epochs), desc="fit", unit="epoch", disable=not progress,
                   initial=trainer.epoch, total=epochs)
        try:
            for hook in hooks["before_fit"]:
                hook(trainer)
            for epoch in bar:
                trainer.epoch = epoch
                if hasattr(train_batches, "set_epoch"):
                    train_batches.set_epoch(epoch)  # shuffle order = f(seed, epoch): resumable
                for hook in hooks["before_epoch"]:
                    hook(trainer)
                model.train()
                start, losses = time.perf_counter(), []
                try:
                    for xb, yb in train_batches:
                        if data_device is None:
                            xb, yb = to_device((xb, yb), device, non_blocking=True)
                        trainer.batch = (xb, yb)
                        for hook in hooks["before_batch"]:
                            hook(trainer)
                        if kind == "course":
                            t = trainer.step if step_per == "batch" else epoch
                            set_lr(optimizer, schedule(t))
                            if cycles_momentum:
                                set_momentum(optimizer, schedule.momentum(t))
                        optimizer.zero_grad(set_to_none=True)
                        with autocast(device, amp_on):
                            output = model(xb)
                            loss = _loss(loss_fn, output, yb, first=trainer.step == 0)
                        loss.backward()
                        optimizer.step()
                        history.lr.append(float(optimizer.param_groups[0]["lr"]))  # the LR applied
                        if record_momentum:
                            history.momentum.append(get_momentum(optimizer))
                        trainer.loss = loss.detach()
                        losses.append(trainer.loss)
                        trainer.step += 1  # the only place the step counter moves
                        if kind == "torch" and step_per == "batch":
                            schedule.step()
                        for hook in hooks["after_batch"]:
                            hook(trainer)
                finally:  # also on StopTraining mid-epoch: keep the losses of the updates done
                    epoch_losses = torch.stack(losses).float().cpu() if losses else torch.empty(0)
                    history.loss.extend(epoch_losses.tolist())  # one host sync per epoch

                # --- end of epoch: record, check, step per-epoch schedules, checkpoint
                history.train_loss.append(float(epoch_losses.mean()))
                if val_batches is not None:
                    vl, va = evaluate(model, val_batches, loss_fn, device, amp_on, moved=_data_device(val) is not None)
                    history.val_loss.append(vl)
                    history.val_acc.append(va)
                history.epoch_steps.append(trainer.step)
                history.epoch_time.append(time.perf_counter() - start)
                bad = _diverged(epoch_losses, history.loss[0], divergence_factor)
                if bad is not None:
                    history.diverged = True
                    history.diverged_at = trainer.step - len(epoch_losses) + bad
                    raise StopTraining(f"diverged: loss {history.loss[history.diverged_at]:.4g} at step "
                                       f"{history.diverged_at} (first loss {history.loss[0]:.4g})")
                if kind == "plateau":
                    set_lr(optimizer, schedule.step(history.val_loss[-1]))
                elif kind == "torch_plateau":
                    schedule.step(history.val_loss[-1])
                elif kind == "torch" and step_per == "epoch":
                    schedule.step()
                bar.set_postfix(loss=f"{history.train_loss[-1]:.4g}", lr=f"{optimizer.param_groups[0]['lr']:.3g}")
                if checkpoint_path is not None:
                    _save_atomic(_checkpoint(trainer, schedule, kind, train_batches, seed), Path(checkpoint_path))
                for hook in hooks["after_epoch"]:
                    hook(trainer)
        except StopTraining as stop:
            history.stop_reason = str(stop) or "StopTraining"
        finally:
            bar.close()
        for hook in hooks["after_fit"]:
            hook(trainer)
    return history


def _diverged(losses: torch.Tensor, first_loss: float, factor: float | None):
    """Index of the first loss that is NaN/inf or above ``factor`` x the run's first loss, else None."""
    bad = ~torch.isfinite(losses)
    if factor is not None and math.isfinite(first_loss):
        bad |= losses > factor * first_loss
    where = bad.nonzero()
    return int(where[0]) if len(where) else None


def _loss(loss_fn, output, y, first):
    """The loss; on the first batch, turn a shape mismatch into an error that says what to fix."""
    if not first:
        return loss_fn(output, y)
    try:
        loss = loss_fn(output, y)
    except (RuntimeError, ValueError, IndexError) as err:
        raise ValueError(f"loss_fn could not compare the model output of shape {tuple(output.shape)} with "
                         f"targets of shape {tuple(y.shape)} (dtype {y.dtype}): check the model's "
                         f"out_features against the number of classes. Original error: {err}") from err
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise ValueError(f"loss_fn must return a scalar tensor, got {type(loss).__name__} "
                         f"of shape {tuple(getattr(loss, 'shape', ()))}")
    return loss


@torch.no_grad()
def evaluate(model, batches, loss_fn=None, device=None, amp=False, moved=True):
    """Mean loss and accuracy of ``model`` over ``batches`` (model in eval mode, one host sync).

    ``batches``: an ``(X, y)`` tuple such as ``ds.test`` (batched 1024 at a time), a
    ``Batches`` or a ``DataLoader``. The mean is weighted by batch size; accuracy is NaN when
    outputs are not ``(n, classes)``.
    """
    if isinstance(batches, (tuple, list)):
        batches = as_batches(batches, batch_size=1024, shuffle=False)
    loss_fn = nn.functional.cross_entropy if loss_fn is None else loss_fn
    device = device if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    n, classify = 0, True
    for xb, yb in batches:
        if not moved:
            xb, yb = to_device((xb, yb), device, non_blocking=True)
        with autocast(device, amp):
            out = model(xb)
            total += loss_fn(out, yb).float() * len(yb)
        if classify and out.dim() == 2 and yb.dim() == 1:
            correct += (out.argmax(1) == yb).sum()
        else:
            classify = False
        n += len(yb)
    model.train(was_training)
    values = torch.stack([total / n, correct / n]).cpu().tolist()
    return values[0], (values[1] if classify else math.nan)


def _checkpoint(trainer, schedule, kind, train_batches, seed) -> dict:
    return {
        "format": CHECKPOINT_FORMAT,
        "model": trainer.model.state_dict(),
        "model_class": type(trainer.model).__name__,
        "optimizer": trainer.optimizer.state_dict(),
        "step": trainer.step,
        "epoch": trainer.epoch + 1,  # epochs completed
        "schedule": _schedule_config(schedule, kind),
        "plateau": schedule.state_dict() if kind == "plateau" else None,
        "torch_scheduler": schedule.state_dict() if kind in ("torch", "torch_plateau") else None,
        "shuffle": {"seed": course_seed(getattr(train_batches, "seed", seed)), "next_epoch": trainer.epoch + 1},
        "rng": _rng_state(trainer.device),
        "history": trainer.history.to_dict(),
    }


def _restore(path, trainer, schedule, kind, train_batches, device):
    """Load a checkpoint into the trainer (model, optimizer, step, epoch, schedule, history)."""
    ckpt = load_checkpoint(path, map_location=device)
    try:
        trainer.model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise ValueError(f"resume_from={str(path)!r} was saved from a different model "
                         f"({ckpt.get('model_class')}): {str(err)[:300]}") from err
    try:
        trainer.optimizer.load_state_dict(ckpt["optimizer"])
    except (ValueError, KeyError) as err:
        raise ValueError(f"resume_from={str(path)!r}: the optimizer state does not fit this optimizer: {err}") from err
    saved = ckpt["schedule"]
    wanted = _schedule_config(schedule, kind)
    if (saved is None) != (wanted is None) or (saved and wanted and saved["repr"] != wanted["repr"]):
        raise ValueError(f"resume_from={str(path)!r} was trained with schedule "
                         f"{saved and saved['repr']!r}, but fit got {wanted and wanted['repr']!r}")
    if kind == "plateau":
        schedule.load_state_dict(ckpt["plateau"])
    elif kind in ("torch", "torch_plateau"):
        schedule.load_state_dict(ckpt["torch_scheduler"])
    if isinstance(train_batches, Batches) and course_seed(train_batches.seed) != ckpt["shuffle"]["seed"]:
        raise ValueError(f"resume_from={str(path)!r} shuffled with seed {ckpt['shuffle']['seed']} (seed + "
                         f"LRCOURSE_SEED_OFFSET), fit got {course_seed(train_batches.seed)}: pass the same seed "
                         f"and offset to resume exactly")
    trainer.step, trainer.epoch = int(ckpt["step"]), int(ckpt["epoch"])
    trainer.history = History.from_dict(ckpt["history"])
    return ckpt["rng"]
