r"""How ``fit`` drives each kind of schedule: one small adapter object per kind.

``fit(schedule=...)`` accepts five kinds of thing, and each needs something different from the
loop. Instead of asking "which kind?" all over the loop, ``schedule_adapter`` asks once and
wraps the schedule in an object with the same methods (``ScheduleAdapter``); the loop calls
``before_update`` and ``after_update`` around every ``optimizer.step()`` and ``after_epoch``
after validation:

=====================  =================================  =====================================
``schedule=``          before each update                 after an update / after an epoch
=====================  =================================  =====================================
``None``               nothing: the optimizer's own LR    nothing
a course ``Schedule``  ``set_lr(opt, schedule(t))`` (and  nothing (the schedule is a pure
                       the momentum of ``OneCycle``)      function of ``t``)
course                 nothing                            ``set_lr(opt, plateau.step(val_loss))``
``ReduceLROnPlateau``                                     per epoch
a torch                nothing (it wrote the LR itself)   ``scheduler.step()`` per update or per
``LRScheduler``                                           epoch (``step_per``)
torch                  nothing                            ``scheduler.step(val_loss)`` per epoch
``ReduceLROnPlateau``
=====================  =================================  =====================================

``t`` is the update's ``step`` (``step_per="batch"``) or its epoch (``step_per="epoch"``: a
staircase). Each adapter also checks itself against the run before any training (``check``:
the optimizer it was built on, its horizon, whether it needs validation data) and owns what a
checkpoint keeps of it: ``config()`` (what identifies it: a resume with another schedule is
refused) and ``state_dict()`` (where it stands).

**Horizons.** A course schedule whose LR holds after ``total_steps`` updates (cosine, linear,
polynomial, WSD, 1cycle, and a ``Join`` ending in one) is checked against the run, which makes
``epochs x steps_per_epoch`` updates (``step_per="batch"``) or ``epochs`` schedule steps
(``"epoch"``):

- ``OneCycle`` must span the run exactly, as ``fit`` demands of torch's ``OneCycleLR``: too
  short and the run continues at its final LR (1e-4 of the start, wasted updates), too long and
  it never anneals;
- any horizon equal to ``epochs x steps_per_epoch`` stepped with ``step_per="epoch"`` is the
  per-epoch bug (the schedule would see only ``epochs`` of its steps): refused, with the fix;
- otherwise a horizon may differ from the run on purpose (stop early, or hold the final LR for
  the last epochs, as each schedule documents), so it is accepted. torch schedulers with a
  horizon (``T_max``, ``total_iters``) get the same per-epoch check.

>>> import torch
>>> from lrcourse.schedules import CosineAnnealing
>>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
>>> adapter = schedule_adapter(CosineAnnealing(0.1, 4), opt, "batch")
>>> adapter.start(Run(epochs=2, steps_per_epoch=2), step=0)
>>> adapter.before_update(step=2, epoch=1); opt.param_groups[0]["lr"]
0.05
"""
from __future__ import annotations

import dataclasses
import re

import torch

from lrcourse.plateau import ReduceLROnPlateau
from lrcourse.schedules import Join, OneCycle, Schedule
from lrcourse.torch_bridge import has_momentum, schedule_config, set_lr, set_momentum

__all__ = ["Run", "schedule_adapter", "ScheduleAdapter", "NoSchedule", "CourseSchedule", "CoursePlateau",
           "TorchScheduler", "TorchPlateau", "horizon", "plain"]


@dataclasses.dataclass(frozen=True)
class Run:
    """What an adapter needs to know about the run it is checked against."""

    epochs: int
    steps_per_epoch: int | None  # None: a DataLoader without a length
    has_val: bool = True


class ScheduleAdapter:
    """The interface ``fit`` calls; every method is a no-op here (the ``schedule=None`` case)."""

    #: ``step_per`` the adapter honours ("batch" or "epoch"); plateau kinds step per epoch only
    step_per = "batch"

    def check(self, run: Run) -> None:
        """Raise ValueError, before any training, if this schedule cannot drive this run."""

    def start(self, run: Run, step: int) -> None:
        """Called once before the first update of ``fit`` (``step`` > 0 when resuming)."""

    def before_update(self, step: int, epoch: int) -> None:
        """Set the LR (and momentum) of the coming update."""

    def after_update(self) -> None:
        """Called after every ``optimizer.step()``."""

    def after_epoch(self, val_loss: float | None) -> None:
        """Called at the end of every epoch, after validation."""

    def config(self) -> dict | None:
        """Plain values that identify the schedule (``None``: no schedule)."""
        return None

    def state_dict(self) -> dict | None:
        """Where the schedule stands, as plain values (``None``: nothing to save)."""
        return None

    def load_state_dict(self, state: dict | None) -> None:
        """Resume from ``state_dict()`` output."""


class NoSchedule(ScheduleAdapter):
    """``schedule=None``: every update runs at the LR the optimizer holds."""

    def __init__(self, optimizer, step_per="batch"):
        self.optimizer, self.step_per = optimizer, step_per

    def __repr__(self):
        return "NoSchedule()"


def horizon(schedule) -> int | None:
    """Updates after which ``schedule`` holds its final LR, or None if it never settles.

    ``total_steps`` for the schedules that have one; for a ``Join``, the last boundary plus the
    horizon of its last part.

    >>> from lrcourse.schedules import CosineAnnealing, ExponentialDecay, warmup_cosine
    >>> horizon(warmup_cosine(1.0, 100, 10)), horizon(ExponentialDecay(1.0, 0.5))
    (100, None)
    >>> cosine = CosineAnnealing(1.0, 50)
    >>> horizon(Join([cosine], ())), horizon(Join([cosine, ExponentialDecay(1.0, 0.5)], (50,)))
    (50, None)
    """
    if isinstance(schedule, Join):
        last = horizon(schedule.schedules[-1])
        return None if last is None else (schedule.boundaries[-1] if schedule.boundaries else 0) + last
    total = getattr(schedule, "total_steps", None)
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def _check_horizon(name: str, total: int | None, step_per: str, run: Run, exact: bool, field: str) -> None:
    """The horizon rules of the module docstring, for a course or torch schedule."""
    if total is None or run.steps_per_epoch is None:
        return
    updates = run.epochs * run.steps_per_epoch
    expected = updates if step_per == "batch" else run.epochs
    per_epoch_bug = step_per == "epoch" and total == updates and updates != run.epochs
    if per_epoch_bug or (exact and total != expected):
        raise ValueError(
            f"schedule {name} has {field}={total}, but step_per={step_per!r} with epochs={run.epochs} and "
            f"{run.steps_per_epoch} batches per epoch steps it {expected} times; "
            + ("step it per batch (step_per='batch', the usual fix for a horizon counted in updates) or "
               if per_epoch_bug else "")
            + f"build it with {field}={expected}")


class CourseSchedule(ScheduleAdapter):
    """A course ``Schedule``: ``set_lr(optimizer, schedule(t))`` before every update.

    The curve of the whole run is computed once, in one numpy pass (``schedule.curve``), and
    looked up per update: the same floats as ``schedule(t)``, without its per-call work. Past the
    planned run (a DataLoader of unknown length), or past ``PRECOMPUTED`` steps (memory), it
    falls back to ``schedule(t)``. ``OneCycle`` also sets the momentum (SGD ``momentum`` or Adam's ``betas[0]``)
    to ``schedule.momentum(t)``, unless the schedule says ``cycle_momentum=False``.
    """

    PRECOMPUTED = 2**20  # steps: 8 MB of floats, about 30 MB as a list

    def __init__(self, schedule, optimizer, step_per="batch"):
        self.schedule, self.optimizer, self.step_per = schedule, optimizer, step_per
        self.cycles_momentum = (callable(getattr(schedule, "momentum", None))
                                and bool(getattr(schedule, "cycle_momentum", True)))
        self._lrs, self._momenta = [], []

    def check(self, run):
        _check_horizon(repr(self.schedule), horizon(self.schedule), self.step_per, run,
                       exact=isinstance(self.schedule, OneCycle), field="total_steps")
        if self.cycles_momentum and not has_momentum(self.optimizer):
            raise ValueError(
                f"schedule {self.schedule!r} cycles the momentum, but {type(self.optimizer).__name__} has "
                f"neither 'momentum' nor 'betas': use an optimizer with momentum (SGD(momentum=...), Adam) "
                f"or build the schedule with cycle_momentum=False")

    def start(self, run, step):
        if run.steps_per_epoch is not None:
            n = min(run.epochs * (run.steps_per_epoch if self.step_per == "batch" else 1), self.PRECOMPUTED)
            self._lrs = self.schedule.curve(n).tolist()  # once per run: no numpy work per update
            if self.cycles_momentum:
                curve = getattr(self.schedule, "momentum_curve", None)
                self._momenta = (curve(n) if curve else [self.schedule.momentum(t) for t in range(n)])
                self._momenta = list(map(float, self._momenta))

    def before_update(self, step, epoch):
        t = step if self.step_per == "batch" else epoch
        set_lr(self.optimizer, self._lrs[t] if t < len(self._lrs) else self.schedule(t))
        if self.cycles_momentum:
            set_momentum(self.optimizer, self._momenta[t] if t < len(self._momenta) else self.schedule.momentum(t))

    def config(self):
        return schedule_identity(self.schedule)

    def __repr__(self):
        return f"CourseSchedule({self.schedule!r}, step_per={self.step_per!r})"


class CoursePlateau(ScheduleAdapter):
    """The course ``ReduceLROnPlateau``: its LR from the start, then ``plateau.step(val_loss)`` per epoch."""

    step_per = "epoch"

    def __init__(self, plateau, optimizer, step_per="batch"):
        self.plateau, self.optimizer = plateau, optimizer

    def check(self, run):
        if not run.has_val:
            raise ValueError("schedule ReduceLROnPlateau is stepped on the validation loss: pass val to fit")

    def start(self, run, step):
        if step == 0:  # a resumed run gets its LR back from the checkpoint's optimizer state
            set_lr(self.optimizer, self.plateau.lr)

    def after_epoch(self, val_loss):
        set_lr(self.optimizer, self.plateau.step(val_loss))

    def config(self):
        return {"class": "ReduceLROnPlateau", "repr": f"ReduceLROnPlateau(**{self.plateau.config!r})",
                "config": plain(self.plateau.config)}

    def state_dict(self):
        return self.plateau.state_dict()

    def load_state_dict(self, state):
        self.plateau.load_state_dict(state)


class TorchScheduler(ScheduleAdapter):
    """A torch ``LRScheduler``: it writes the LR itself; ``scheduler.step()`` per update or per epoch.

    Its config (what a resume must match) is its ``state_dict()`` as it was when ``fit`` began:
    every constructor argument (``step_size``, ``gamma``, ``total_steps``, ...) is in it.
    """

    def __init__(self, scheduler, optimizer, step_per="batch"):
        self.scheduler, self.optimizer, self.step_per = scheduler, optimizer, step_per
        self._initial = plain(scheduler.state_dict())  # before fit steps it (or a resume loads a state)

    def check(self, run):
        if self.scheduler.optimizer is not self.optimizer:
            raise ValueError(f"schedule ({type(self.scheduler).__name__}) was built on a different optimizer "
                             f"than fit's")
        name = type(self.scheduler).__name__
        if isinstance(self.scheduler, torch.optim.lr_scheduler.OneCycleLR):  # a fixed horizon, like OneCycle
            _check_horizon(name, self.scheduler.total_steps, self.step_per, run, exact=True, field="total_steps")
        for field in ("T_max", "total_iters"):  # CosineAnnealingLR, LinearLR, PolynomialLR, ...
            if isinstance(getattr(self.scheduler, field, None), int):
                _check_horizon(name, getattr(self.scheduler, field), self.step_per, run, exact=False, field=field)

    def after_update(self):
        if self.step_per == "batch":
            self.scheduler.step()

    def after_epoch(self, val_loss):
        if self.step_per == "epoch":
            self.scheduler.step()

    def config(self):
        name = type(self.scheduler).__name__
        return {"class": name, "repr": name, "config": self._initial}

    def state_dict(self):
        return self.scheduler.state_dict()

    def load_state_dict(self, state):
        self.scheduler.load_state_dict(state)


class TorchPlateau(TorchScheduler):
    """torch's ``ReduceLROnPlateau``: ``scheduler.step(val_loss)`` at the end of every epoch."""

    step_per = "epoch"

    def __init__(self, scheduler, optimizer, step_per="batch"):
        super().__init__(scheduler, optimizer, "epoch")

    def check(self, run):
        if self.scheduler.optimizer is not self.optimizer:
            raise ValueError("schedule (torch ReduceLROnPlateau) was built on a different optimizer than fit's")
        if not run.has_val:
            raise ValueError("schedule ReduceLROnPlateau is stepped on the validation loss: pass val to fit")

    def after_update(self):
        pass

    def after_epoch(self, val_loss):
        self.scheduler.step(val_loss)


def schedule_adapter(schedule, optimizer, step_per="batch") -> ScheduleAdapter:
    """The adapter for ``schedule`` (the one place that asks which kind of schedule it is)."""
    for kind, cls in ((type(None), NoSchedule), (Schedule, CourseSchedule), (ReduceLROnPlateau, CoursePlateau),
                      (torch.optim.lr_scheduler.ReduceLROnPlateau, TorchPlateau),
                      (torch.optim.lr_scheduler.LRScheduler, TorchScheduler)):
        if isinstance(schedule, kind):
            return cls(schedule, optimizer, step_per) if cls is not NoSchedule else NoSchedule(optimizer, step_per)
    raise TypeError(f"schedule must be an lrcourse Schedule, an lrcourse ReduceLROnPlateau or a torch "
                    f"LRScheduler, got {type(schedule).__name__}; for a plain function use "
                    f"callbacks=[LambdaSchedule(fn)]")


# --- plain values: what a checkpoint can hold (torch.load(weights_only=True)) -------------------

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def plain(x):
    """Only numbers, strings, None and containers of them (tensors become numbers or lists).

    Anything else becomes its ``repr`` without a memory address, so two runs in two processes
    describe the same object the same way.

    >>> plain({"a": (1, 2.5), "f": print})
    {'a': [1, 2.5], 'f': '<built-in function print>'}
    """
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, torch.Tensor):
        return x.item() if x.numel() == 1 else x.tolist()
    if hasattr(x, "__float__") and not hasattr(x, "__len__"):
        return float(x)
    return _ADDRESS.sub("", repr(x))


def schedule_identity(schedule) -> dict:
    """``{"class", "config", "repr"}`` of a course schedule, the same in every process.

    A dataclass schedule: its class name and fields (``schedule_config``). Any other
    ``Schedule`` subclass: its class name and instance attributes, and a repr built from them
    (its default repr holds a memory address, different in every process).
    """
    if dataclasses.is_dataclass(schedule):
        return {**schedule_config(schedule), "repr": repr(schedule)}
    attributes = plain(dict(vars(schedule)) if hasattr(schedule, "__dict__") else {})
    name = type(schedule).__qualname__
    return {"class": name, "config": attributes,
            "repr": f"{name}({', '.join(f'{k}={v!r}' for k, v in attributes.items())})"}
