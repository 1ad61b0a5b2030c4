r"""The only glue between course schedules and torch optimizers.

* ``set_lr(optimizer, lr)`` / ``get_lr(optimizer)``: write the LR of every param group, read
  the first one. This is all a hand-written loop needs: ``set_lr(opt, sched(step))`` before
  each ``opt.step()``.
* ``set_momentum(optimizer, momentum)``: SGD/RMSprop ``momentum`` or Adam-like ``betas[0]``.
* ``ScheduleLR(optimizer, schedule)``: a ``torch.optim.lr_scheduler.LRScheduler``, so any
  existing PyTorch loop can run a course schedule with ``scheduler.step()`` after
  ``optimizer.step()``. Its ``state_dict()`` holds only plain values (the schedule's class
  name and dataclass fields, and the step), so it loads with ``torch.load(weights_only=True)``.
* ``schedule_config(schedule)`` / ``schedule_from_config(config)``: that plain form.

>>> import torch
>>> from lrcourse.schedules import Linear
>>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
>>> scheduler = ScheduleLR(opt, Linear(0.3, 0.1, 2))
>>> lrs = []
>>> for step in range(3):
...     lrs.append(round(get_lr(opt), 3))
...     opt.step()
...     scheduler.step()
>>> lrs
[0.3, 0.2, 0.1]
"""
import dataclasses
import math
import numbers

import torch
from torch.optim.lr_scheduler import LRScheduler

from lrcourse import schedules as _schedules

__all__ = [
    "set_lr",
    "get_lr",
    "set_momentum",
    "get_momentum",
    "has_momentum",
    "ScheduleLR",
    "schedule_config",
    "schedule_from_config",
]


def _check_optimizer(optimizer):
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")


def _check_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, torch.Tensor)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}: {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return value


def _write(group, key, value):
    # A tensor LR (capturable/compiled optimizers) is filled in place, as torch's schedulers do.
    if isinstance(group[key], torch.Tensor):
        group[key].fill_(value)
    else:
        group[key] = value


def set_lr(optimizer, lr):
    """Set the learning rate of every param group of ``optimizer`` to ``lr`` (absolute)."""
    _check_optimizer(optimizer)
    lr = _check_rate("lr", lr)
    for group in optimizer.param_groups:
        _write(group, "lr", lr)


def get_lr(optimizer):
    """The learning rate of the first param group, as a Python float."""
    _check_optimizer(optimizer)
    return float(optimizer.param_groups[0]["lr"])


def _momentum_key(optimizer):
    # Same rule as torch's OneCycleLR: beta1 when the optimizer has betas, else momentum.
    if "betas" in optimizer.defaults:
        return "betas"
    if "momentum" in optimizer.defaults:
        return "momentum"
    return None


def has_momentum(optimizer):
    """Whether ``optimizer`` has a ``momentum`` or ``betas`` hyperparameter to drive."""
    _check_optimizer(optimizer)
    return _momentum_key(optimizer) is not None


def set_momentum(optimizer, momentum):
    """Set SGD-like ``momentum`` or Adam-like ``betas[0]`` of every param group.

    Raises ValueError when the optimizer has neither (e.g. Adagrad), as torch's OneCycleLR does.
    """
    _check_optimizer(optimizer)
    momentum = _check_rate("momentum", momentum)
    if momentum >= 1:
        raise ValueError(f"momentum must be < 1, got {momentum!r}")
    key = _momentum_key(optimizer)
    if key is None:
        raise ValueError(
            f"optimizer {type(optimizer).__name__} has neither 'momentum' nor 'betas'; "
            "cannot set momentum"
        )
    for group in optimizer.param_groups:
        if key == "betas":
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum


def get_momentum(optimizer):
    """Momentum (or beta1) of the first param group, as a Python float."""
    _check_optimizer(optimizer)
    key = _momentum_key(optimizer)
    if key is None:
        raise ValueError(f"optimizer {type(optimizer).__name__} has neither 'momentum' nor 'betas'")
    value = optimizer.param_groups[0][key]
    return float(value[0] if key == "betas" else value)


# --- plain configs: what a checkpoint stores instead of the schedule object ------------------


def schedule_config(schedule):
    """``{"class": name, "config": fields}`` of a dataclass schedule, nested schedules included.

    Like ``dataclasses.asdict`` but keeps the class name of every nested schedule (``Join``),
    so ``schedule_from_config`` can rebuild it. Only plain values: safe for ``weights_only``.

    >>> from lrcourse.schedules import CosineAnnealing
    >>> schedule_config(CosineAnnealing(1.0, 4))
    {'class': 'CosineAnnealing', 'config': {'lr': 1.0, 'total_steps': 4, 'min_lr': 0.0}}
    """
    if not dataclasses.is_dataclass(schedule) or isinstance(schedule, type):
        raise TypeError(f"schedule must be a dataclass schedule, got {type(schedule).__name__}")
    return {
        "class": type(schedule).__name__,
        "config": {f.name: _plain(getattr(schedule, f.name)) for f in dataclasses.fields(schedule)},
    }


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return schedule_config(value)
    if isinstance(value, (tuple, list)):
        return tuple(_plain(v) for v in value)
    return value


def schedule_from_config(config, classes=None):
    """Rebuild a schedule from ``schedule_config`` output.

    Class names are looked up in ``lrcourse.schedules`` (never imported from the checkpoint),
    then in ``classes`` (a ``{name: class}`` dict) for schedules of your own.
    """
    if not isinstance(config, dict) or set(config) != {"class", "config"}:
        raise ValueError(f"config must be a dict with keys 'class' and 'config', got {config!r}")
    name = config["class"]
    cls = (classes or {}).get(name) or getattr(_schedules, name, None)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ValueError(f"config['class'] names no known schedule class, got {name!r}")
    return cls(**{key: _rebuilt(value, classes) for key, value in config["config"].items()})


def _as_tuples(value):
    # configs that went through JSON come back with lists where tuples were
    if isinstance(value, dict):
        return {key: _as_tuples(v) for key, v in value.items()}
    if isinstance(value, (tuple, list)):
        return tuple(_as_tuples(v) for v in value)
    return value


def _rebuilt(value, classes):
    if isinstance(value, dict) and set(value) == {"class", "config"}:
        return schedule_from_config(value, classes)
    if isinstance(value, (tuple, list)):
        return tuple(_rebuilt(v, classes) for v in value)
    return value


# --- the scheduler ---------------------------------------------------------------------------


class ScheduleLR(LRScheduler):
    r"""Run a course schedule as a torch LR scheduler: LR of update ``t`` is ``schedule(t)``.

    Construction sets every param group's LR to ``schedule(0)``; each ``scheduler.step()``
    (call it after ``optimizer.step()``, as with torch's own schedulers) moves to the next
    step. Every group gets the same absolute LR (torch's schedulers scale each group's base
    LR instead). ``steps_done`` is the number of ``scheduler.step()`` calls: the step whose
    LR the optimizer now holds.

    Momentum: when the schedule has ``momentum(step)`` (``OneCycle``) and the optimizer has
    ``momentum`` or ``betas``, the momentum (or beta1) is set to ``schedule.momentum(t)`` at the
    same time, exactly as torch's ``OneCycleLR(cycle_momentum=True)``. ``cycle_momentum=None``
    (default) does so when both sides allow it; ``True`` demands it; ``False`` never touches it.

    ``state_dict()`` is ``{"schedule": schedule_config(...) or None, "step": t}``: plain values,
    loadable with ``torch.load(path, weights_only=True)``. ``load_state_dict`` restores the
    step and re-applies the LR (and momentum) of that step; ``ScheduleLR.from_state_dict``
    rebuilds the schedule too. A plain function (no dataclass) works but cannot be rebuilt.
    """

    def __init__(self, optimizer, schedule, cycle_momentum=None):
        _check_optimizer(optimizer)
        if isinstance(schedule, type):
            raise TypeError(f"schedule must be a schedule instance, got the class {schedule.__name__}")
        if not callable(schedule):
            hint = " (use set_lr with its .lr)" if hasattr(schedule, "load_state_dict") else ""
            raise TypeError(f"schedule must be a callable step -> lr, got {type(schedule).__name__}{hint}")
        if cycle_momentum not in (None, True, False):
            raise ValueError(f"cycle_momentum must be None, True or False, got {cycle_momentum!r}")
        can_cycle = hasattr(schedule, "momentum") and _momentum_key(optimizer) is not None
        if cycle_momentum and not hasattr(schedule, "momentum"):
            raise ValueError(f"cycle_momentum=True but {type(schedule).__name__} has no momentum(step)")
        if cycle_momentum and _momentum_key(optimizer) is None:
            raise ValueError(
                f"cycle_momentum=True but optimizer {type(optimizer).__name__} has neither 'momentum' nor 'betas'"
            )
        self.schedule = schedule
        self.cycle_momentum = can_cycle if cycle_momentum is None else cycle_momentum
        super().__init__(optimizer)  # runs the first step: LR = schedule(0)

    @property
    def steps_done(self):
        """Number of ``scheduler.step()`` calls so far; the optimizer holds ``schedule(steps_done)``."""
        return self.last_epoch

    def get_lr(self):
        """LR for ``steps_done`` in every group; sets momentum as a side effect, like OneCycleLR."""
        step = self.last_epoch
        lr = float(self.schedule(step))
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(f"schedule {self.schedule!r} gave lr={lr!r} at step {step}")
        if self.cycle_momentum:
            set_momentum(self.optimizer, self.schedule.momentum(step))
        return [lr] * len(self.optimizer.param_groups)

    def state_dict(self):
        """``{"schedule": config or None, "step": steps_done}``: plain values only."""
        config = schedule_config(self.schedule) if dataclasses.is_dataclass(self.schedule) else None
        return {"schedule": config, "step": int(self.last_epoch)}

    def load_state_dict(self, state_dict):
        """Resume at the saved step: restores it and applies that step's LR (and momentum).

        Raises ValueError if the saved schedule config differs from this scheduler's schedule.
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"schedule", "step"}:
            raise ValueError(f"state_dict must be a dict with keys 'schedule' and 'step', got {state_dict!r}")
        step = state_dict["step"]
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"state_dict['step'] must be an int >= 0, got {step!r}")
        mine = self.state_dict()["schedule"]
        if state_dict["schedule"] is not None and _as_tuples(state_dict["schedule"]) != mine:
            raise ValueError(
                f"state_dict['schedule'] {state_dict['schedule']!r} differs from this scheduler's "
                f"{mine!r}; use ScheduleLR.from_state_dict(optimizer, state_dict)"
            )
        self.last_epoch = step
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            _write(group, "lr", lr)
        self._last_lr = [
            group["lr"].clone() if isinstance(group["lr"], torch.Tensor) else group["lr"]
            for group in self.optimizer.param_groups
        ]

    @classmethod
    def from_state_dict(cls, optimizer, state_dict, classes=None, cycle_momentum=None):
        """Rebuild the schedule from the saved config and resume at the saved step."""
        if not isinstance(state_dict, dict) or state_dict.get("schedule") is None:
            raise ValueError(f"state_dict holds no schedule config to rebuild from, got {state_dict!r}")
        scheduler = cls(optimizer, schedule_from_config(state_dict["schedule"], classes), cycle_momentum)
        scheduler.load_state_dict(state_dict)
        return scheduler

    def __repr__(self):
        return f"ScheduleLR({self.schedule!r}, steps_done={self.last_epoch})"
