r"""The only glue between course schedules and torch optimizers.

* ``set_lr(optimizer, lr)`` / ``get_lr(optimizer)`` / ``get_lrs(optimizer)``: write the LR of
  every param group; read the first group's, or every group's. This is all a hand-written loop
  needs: ``set_lr(opt, sched(step))`` before each ``opt.step()``.
* ``set_momentum(optimizer, momentum)``: SGD/RMSprop ``momentum`` or Adam-like ``betas[0]``.
* ``ScheduleLR(optimizer, schedule)``: a ``torch.optim.lr_scheduler.LRScheduler``, so any
  existing PyTorch loop can run a course schedule with ``scheduler.step()`` after
  ``optimizer.step()``. Its ``state_dict()`` holds only plain values (the schedule's class
  name and dataclass fields, and the step), so it loads with ``torch.load(weights_only=True)``.
* ``schedule_config(schedule)`` / ``schedule_from_config(config)``: that plain form.
* ``torch_lr_curve(make_scheduler, num_steps, lr)``: the LRs a torch scheduler applies, update by
  update (the oracle the tests and notebooks compare with); ``torch_equivalent(schedule)``: the
  PyTorch code that gives a course schedule's LRs.

Param groups keep their ratios, as torch's schedulers do. A course schedule gives one absolute
LR, the LR of group 0; group i gets

.. math:: \eta^{(i)}_t = \eta_t \cdot \frac{\mathrm{lr}_i}{\mathrm{lr}_0}

where lr_i is group i's LR as the optimizer was built. It is recorded once, in each group's
``"initial_lr"``, the first time ``set_lr`` or ``ScheduleLR`` (or any torch scheduler) sees the
optimizer, so a checkpointed optimizer keeps it. An optimizer built with groups at 0.1, 0.001 and
0.01 under ``CosineAnnealing(lr=0.1, ...)`` gets exactly what torch's ``CosineAnnealingLR`` gives:
0.1, 0.001, 0.01 at step 0, every group following the same cosine. A group built at 0 stays at 0
(a frozen group); group 0 built at 0 with another group above 0 has no ratio and raises. To give
each group a schedule of its own, pass one per group: ``set_lr(opt, [lr0, lr1, ...])`` (absolute
LRs) or ``ScheduleLR(opt, [s0, s1, ...])`` (like ``OneCycleLR(max_lr=[...])``). Momentum (and
Adam's beta1) is not scaled: every group gets the schedule's value.

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

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler

from lrcourse import _checks
from lrcourse import schedules as _schedules

__all__ = [
    "set_lr",
    "get_lr",
    "get_lrs",
    "lr_ratios",
    "set_momentum",
    "get_momentum",
    "has_momentum",
    "ScheduleLR",
    "schedule_config",
    "schedule_from_config",
    "torch_lr_curve",
    "torch_equivalent",
]


def _check_optimizer(optimizer):
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")


def _is_sequence(value):
    return isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) >= 1


def _per_group(name, values, groups):
    """One finite LR >= 0 per param group, as floats."""
    values = list(values)
    if len(values) != groups:
        raise ValueError(f"{name} must have one entry per param group ({groups}), got {len(values)}: {values!r}")
    return [_checks.non_negative(f"{name}[{i}]", v) for i, v in enumerate(values)]


def _write(group, key, value):
    # A tensor LR (capturable/compiled optimizers) is filled in place, as torch's schedulers do.
    if isinstance(group[key], torch.Tensor):
        group[key].fill_(value)
    else:
        group[key] = value


def _record_initial_lrs(optimizer):
    """Each group's ``"initial_lr"``: its LR when first seen, as torch's schedulers record it."""
    for group in optimizer.param_groups:
        if "initial_lr" not in group:
            lr = group["lr"]
            group["initial_lr"] = lr.clone() if isinstance(lr, torch.Tensor) else lr
    return optimizer.param_groups


def lr_ratios(optimizer):
    """Each param group's LR as the optimizer was built, divided by group 0's: what ``set_lr`` multiplies by.

    Records each group's ``"initial_lr"`` the first time (as torch's schedulers do) and reads it
    afterwards. Raises ValueError when group 0 was built at 0 and another group was not.

    >>> w, b = torch.zeros(2, requires_grad=True), torch.zeros(1, requires_grad=True)
    >>> lr_ratios(torch.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.25}], lr=1.0))
    [1.0, 0.25]
    """
    _check_optimizer(optimizer)
    groups = _record_initial_lrs(optimizer)
    if len(groups) == 1:  # the common case: no float() of a tensor LR, no host sync
        return [1.0]
    base = [float(group["initial_lr"]) for group in groups]
    if base[0] == 0:
        if any(base[1:]):
            raise ValueError(
                f"param group 0 was built with lr=0, so the other groups' LRs {base[1:]} have no ratio to it: "
                "build group 0 with a nonzero LR, or give one LR (or schedule) per group: "
                "set_lr(optimizer, [lr0, lr1, ...]) / ScheduleLR(optimizer, [s0, s1, ...])"
            )
        return [1.0] * len(groups)
    return [b / base[0] for b in base]


def set_lr(optimizer, lr):
    """Set the LR of every param group: ``lr`` for group 0, the others at their built ratio to it.

    ``lr`` is one absolute LR (group i gets ``lr * lr_i / lr_0``, see the module docstring), or a
    sequence of absolute LRs, one per group. Nothing is written when an LR is invalid.
    """
    _check_optimizer(optimizer)
    groups = optimizer.param_groups
    if _is_sequence(lr):
        values = _per_group("lr", lr, len(groups))
        _record_initial_lrs(optimizer)  # the built LRs, before the first write, as with one LR
    else:
        value = _checks.non_negative("lr", lr)
        values = [value * ratio for ratio in lr_ratios(optimizer)]
    for group, value in zip(groups, values):
        _write(group, "lr", value)


def get_lr(optimizer):
    """The learning rate of the first param group, as a Python float."""
    _check_optimizer(optimizer)
    return float(optimizer.param_groups[0]["lr"])


def get_lrs(optimizer):
    """The learning rate of every param group, as a list of Python floats."""
    _check_optimizer(optimizer)
    return [float(group["lr"]) for group in optimizer.param_groups]


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


def _write_momentum(group, key, momentum):
    if key == "betas":
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum


def _check_momentum(momentum):
    return _checks.real("momentum", momentum, low=0.0, high=1.0, high_open=True)


def set_momentum(optimizer, momentum):
    """Set SGD-like ``momentum`` or Adam-like ``betas[0]`` of every param group.

    Raises ValueError when the optimizer has neither (e.g. Adagrad), as torch's OneCycleLR does.
    """
    _check_optimizer(optimizer)
    momentum = _check_momentum(momentum)
    key = _momentum_key(optimizer)
    if key is None:
        raise ValueError(
            f"optimizer {type(optimizer).__name__} has neither 'momentum' nor 'betas'; "
            "cannot set momentum"
        )
    for group in optimizer.param_groups:
        _write_momentum(group, key, momentum)


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
    then in ``classes`` (a ``{name: class}`` dict) for schedules of your own. A config saved
    before a field was added rebuilds with that field's default.
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


def _check_schedule(name, schedule):
    if isinstance(schedule, type):
        raise TypeError(f"{name} must be a schedule instance, got the class {schedule.__name__}")
    if not callable(schedule):
        hint = " (use set_lr with its .lr)" if hasattr(schedule, "load_state_dict") else ""
        raise TypeError(f"{name} must be a callable step -> lr, got {type(schedule).__name__}{hint}")


class ScheduleLR(LRScheduler):
    r"""Run a course schedule as a torch LR scheduler: LR of update ``t`` is ``schedule(t)``.

    Construction sets the LRs of step 0; each ``scheduler.step()`` (call it after
    ``optimizer.step()``, as with torch's own schedulers) moves to the next step.
    ``steps_done`` is the number of ``scheduler.step()`` calls: the step whose LR the
    optimizer now holds.

    Param groups: group 0 gets ``schedule(t)`` and group i ``schedule(t) * lr_i / lr_0``, with
    the LRs the optimizer was built with (``lr_ratios``), exactly as torch's schedulers scale
    each group's base LR. ``schedule`` may also be a list with one schedule per group (absolute
    LRs each, like ``OneCycleLR(max_lr=[...])``).

    Momentum: when a schedule has ``momentum(step)`` (``OneCycle``) and its ``cycle_momentum``
    field is True (torch's default), and the optimizer has ``momentum`` or ``betas``, the
    momentum, or Adam's beta1, of its groups is set to ``schedule.momentum(t)`` at the same time,
    exactly as torch's ``OneCycleLR(cycle_momentum=True)``. The argument ``cycle_momentum=None``
    (default) follows the schedule; ``True`` demands it (and raises when the schedule or the
    optimizer cannot); ``False`` never touches momentum.

    ``state_dict()`` is ``{"schedule": schedule_config(...) (a list for per-group schedules) or
    None, "step": t}``: plain values, loadable with ``torch.load(path, weights_only=True)``.
    ``load_state_dict`` restores the step and re-applies the LR (and momentum) of that step;
    ``ScheduleLR.from_state_dict`` rebuilds the schedule too. A plain function (no dataclass)
    works but cannot be rebuilt.
    """

    def __init__(self, optimizer, schedule, cycle_momentum=None):
        _check_optimizer(optimizer)
        per_group = isinstance(schedule, (list, tuple))
        schedules = tuple(schedule) if per_group else (schedule,)
        groups = len(optimizer.param_groups)
        if per_group and len(schedules) != groups:
            raise ValueError(f"schedule must have one entry per param group ({groups}), got {len(schedules)}")
        for i, s in enumerate(schedules):
            _check_schedule(f"schedule[{i}]" if per_group else "schedule", s)
        if cycle_momentum not in (None, True, False):
            raise ValueError(f"cycle_momentum must be None, True or False, got {cycle_momentum!r}")
        key = _momentum_key(optimizer)
        flags = []
        for s in schedules:
            has = callable(getattr(s, "momentum", None))
            wants = bool(getattr(s, "cycle_momentum", True))
            if cycle_momentum:
                if not has:
                    raise ValueError(f"cycle_momentum=True but {type(s).__name__} has no momentum(step)")
                if not wants:
                    raise ValueError(f"cycle_momentum=True but the schedule has cycle_momentum=False: {s!r}")
                if key is None:
                    raise ValueError(f"cycle_momentum=True but optimizer {type(optimizer).__name__} "
                                     "has neither 'momentum' nor 'betas'")
            flags.append(has and wants and key is not None and cycle_momentum is not False)
        self.schedule = list(schedules) if per_group else schedule
        self._schedules = schedules if per_group else schedules * groups
        self._momentum = flags if per_group else flags * groups
        # records the built LRs (and raises for a group 0 built at 0) before anything is written
        self._ratios = [1.0] * groups if per_group else lr_ratios(optimizer)
        _record_initial_lrs(optimizer)
        self.cycle_momentum = any(flags)
        super().__init__(optimizer)  # runs the first step: the LRs of step 0

    @property
    def steps_done(self):
        """Number of ``scheduler.step()`` calls so far; the optimizer holds ``schedule(steps_done)``."""
        return self.last_epoch

    def get_lr(self):
        """LR for ``steps_done`` in every group; sets momentum as a side effect, like OneCycleLR."""
        step = self.last_epoch
        values, cache = [], {}  # one schedule for every group: call it once
        for schedule, ratio in zip(self._schedules, self._ratios):
            if id(schedule) not in cache:
                lr = float(schedule(step))
                if not math.isfinite(lr) or lr < 0:
                    raise ValueError(f"schedule {schedule!r} gave lr={lr!r} at step {step}")
                cache[id(schedule)] = lr
            values.append(cache[id(schedule)] * ratio)
        if self.cycle_momentum:
            key = _momentum_key(self.optimizer)
            for group, schedule, flag in zip(self.optimizer.param_groups, self._schedules, self._momentum):
                if flag:
                    _write_momentum(group, key, _check_momentum(schedule.momentum(step)))
        return values

    def state_dict(self):
        """``{"schedule": config (a list per group) or None, "step": steps_done}``: plain values only."""
        return {"schedule": self._config(), "step": int(self.last_epoch)}

    def _config(self):
        schedules = self.schedule if isinstance(self.schedule, list) else [self.schedule]
        if not all(dataclasses.is_dataclass(s) for s in schedules):
            return None
        configs = [schedule_config(s) for s in schedules]
        return configs if isinstance(self.schedule, list) else configs[0]

    def load_state_dict(self, state_dict):
        """Resume at the saved step: restores it and applies that step's LR (and momentum).

        Raises ValueError if the saved schedule differs from this scheduler's schedule.
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"schedule", "step"}:
            raise ValueError(f"state_dict must be a dict with keys 'schedule' and 'step', got {state_dict!r}")
        step = _checks.integer("state_dict['step']", state_dict["step"], minimum=0, maximum=_schedules.MAX_STEP)
        saved = state_dict["schedule"]
        if saved is not None and not self._same_schedule(saved):
            raise ValueError(
                f"state_dict['schedule'] {saved!r} differs from this scheduler's "
                f"{self._config()!r}; use ScheduleLR.from_state_dict(optimizer, state_dict)"
            )
        self.last_epoch = step
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            _write(group, "lr", lr)
        self._last_lr = [
            group["lr"].clone() if isinstance(group["lr"], torch.Tensor) else group["lr"]
            for group in self.optimizer.param_groups
        ]

    def _same_schedule(self, saved):
        if _as_tuples(saved) == _as_tuples(self._config()):
            return True
        try:  # a config saved before a field was added: compare the rebuilt schedules
            return _from_config(saved) == self.schedule
        except (TypeError, ValueError):
            return False

    @classmethod
    def from_state_dict(cls, optimizer, state_dict, classes=None, cycle_momentum=None):
        """Rebuild the schedule (or per-group schedules) from the saved config; resume at the saved step."""
        if not isinstance(state_dict, dict) or state_dict.get("schedule") is None:
            raise ValueError(f"state_dict holds no schedule config to rebuild from, got {state_dict!r}")
        scheduler = cls(optimizer, _from_config(state_dict["schedule"], classes), cycle_momentum)
        scheduler.load_state_dict(state_dict)
        return scheduler

    def __repr__(self):
        return f"ScheduleLR({self.schedule!r}, steps_done={self.last_epoch})"


def _from_config(config, classes=None):
    if isinstance(config, (list, tuple)):
        return [schedule_from_config(c, classes) for c in config]
    return schedule_from_config(config, classes)


# --- torch's side: the LRs a torch scheduler applies, and the torch code for a course schedule --


def torch_lr_curve(make_scheduler, num_steps, lr=1.0, *, optimizer="sgd", read="lr"):
    """What the optimizer holds at updates ``0 .. num_steps - 1`` when ``make_scheduler(opt)`` drives it.

    The loop is the usual one: read the value, ``opt.step()`` (no gradients: nothing moves),
    ``scheduler.step()``; so entry t is the LR of update t, a course schedule's ``sched(t)``.

    lr:             the optimizer's LR, or one LR per param group (each group holds one tensor);
                    then the result has one column per group, shape ``(num_steps, groups)``.
    optimizer:      ``"sgd"`` (momentum 0.9), ``"adam"``, or a function ``param_groups -> optimizer``.
    read:           ``"lr"``, or ``"momentum"`` (SGD's momentum, Adam's beta1).
    make_scheduler: ``optimizer -> scheduler`` (a torch scheduler or ``ScheduleLR``; None: no scheduler).

    >>> torch_lr_curve(lambda o: torch.optim.lr_scheduler.StepLR(o, 2, 0.5), 5, lr=1.0).tolist()
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """
    _checks.choice("read", read, ("lr", "momentum"))
    num_steps = _checks.integer("num_steps", num_steps, minimum=0)
    per_group = _is_sequence(lr)
    lrs = _per_group("lr", lr, len(lr)) if per_group else [_checks.non_negative("lr", lr)]
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": value} for value in lrs]
    if callable(optimizer):
        opt = optimizer(groups)
    elif optimizer == "adam":
        opt = torch.optim.Adam(groups, lr=lrs[0])
    else:
        _checks.choice("optimizer", optimizer, ("sgd", "adam"))
        opt = torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)
    scheduler = make_scheduler(opt)
    key = _momentum_key(opt)
    out = []
    for _ in range(num_steps):
        if read == "lr":
            out.append([float(group["lr"]) for group in opt.param_groups])
        else:
            out.append([float(group[key][0] if key == "betas" else group[key]) for group in opt.param_groups])
        opt.step()  # no gradient: a no-op, but keeps torch's call-order check quiet
        if scheduler is not None:
            scheduler.step()
    curve = np.array(out, dtype=np.float64).reshape(num_steps, len(lrs))
    return curve if per_group else curve[:, 0]


def _num(x) -> str:
    return repr(int(x)) if isinstance(x, int) else repr(float(x))


def _exponential_code(s):
    if s.decay_steps == 1:
        return s.lr, f"ExponentialLR(optimizer, gamma={_num(s.decay_rate)})", ""
    if s.staircase:
        return s.lr, f"StepLR(optimizer, step_size={s.decay_steps}, gamma={_num(s.decay_rate)})", ""
    return s.lr, f"ExponentialLR(optimizer, gamma={_num(s.decay_rate)} ** (1 / {s.decay_steps}))", ""


def _piecewise_code(s):
    ratios = [b / a if a else math.nan for a, b in zip(s.values, s.values[1:])]
    if ratios and all(math.isclose(r, ratios[0], rel_tol=1e-12) for r in ratios):
        return s.values[0], f"MultiStepLR(optimizer, milestones={list(s.boundaries)}, gamma={_num(ratios[0])})", ""
    return s.values[0], None, ""


def _linear_code(s):
    lr = max(s.start_lr, s.end_lr)
    if s.start_lr > 0:  # torch needs start_factor > 0: no warmup from exactly 0
        return lr, (f"LinearLR(optimizer, start_factor={_num(s.start_lr / lr)}, "
                    f"end_factor={_num(s.end_lr / lr)}, total_iters={s.total_steps})"), ""
    return lr, None, ""


def _warmup_code(s):
    if s.shape == "linear" and s.start_lr > 0:
        return s.max_lr, (f"LinearLR(optimizer, start_factor={_num(s.start_lr / s.max_lr)}, "
                          f"end_factor=1.0, total_iters={s.warmup_steps})"), ""
    return s.max_lr, None, ""


def _restarts_code(s):
    if s.peak_decay == 1 and isinstance(s.cycle_mult, int) and s.max_cycles is None:
        return s.lr, (f"CosineAnnealingWarmRestarts(optimizer, T_0={s.cycle_steps}, T_mult={s.cycle_mult}, "
                      f"eta_min={_num(s.min_lr)})"), ""
    return s.lr, None, ""


def _onecycle_code(s):
    return s.max_lr, (
        f"OneCycleLR(optimizer, max_lr={_num(s.max_lr)}, total_steps={s.total_steps}, "
        f"pct_start={_num(s.pct_start)}, anneal_strategy={s.anneal!r}, div_factor={_num(s.div_factor)}, "
        f"final_div_factor={_num(s.final_div_factor)}, three_phase={s.three_phase}, "
        f"cycle_momentum={s.cycle_momentum}, base_momentum={_num(s.base_momentum)}, "
        f"max_momentum={_num(s.max_momentum)})"), ""


_S = _schedules
#: course schedule class -> (schedule -> (optimizer lr, torch scheduler code or None, comment));
#: None means torch has no such scheduler: the code runs the course schedule through ScheduleLR
TORCH_CODE = {
    _S.Constant: lambda s: (s.lr, "None", "  # a constant LR needs no scheduler"),
    _S.ExponentialDecay: _exponential_code,
    _S.StepDecay: lambda s: (s.lr, f"StepLR(optimizer, step_size={s.step_size}, gamma={_num(s.gamma)})", ""),
    _S.PiecewiseConstant: _piecewise_code,
    _S.InverseTimeDecay: lambda s: (s.lr, None, ""),
    _S.InverseSqrtDecay: lambda s: (s.lr, f"LambdaLR(optimizer, lambda step: (1 + step / {s.decay_steps}) ** -0.5)",
                                    "  # torch has no inverse-sqrt scheduler: the formula as a factor"),
    _S.PolynomialDecay: lambda s: (s.lr, f"PolynomialLR(optimizer, total_iters={s.total_steps}, "
                                         f"power={_num(s.power)})" if s.end_lr == 0 else None, ""),
    _S.Linear: _linear_code,
    _S.Warmup: _warmup_code,
    _S.CosineAnnealing: lambda s: (s.lr, f"CosineAnnealingLR(optimizer, T_max={s.total_steps}, "
                                         f"eta_min={_num(s.min_lr)})",
                                   "  # rises again after T_max; the course schedule holds min_lr"),
    _S.CosineWarmRestarts: _restarts_code,
    _S.OneCycle: _onecycle_code,
    _S.Cyclic: lambda s: (s.max_lr, (
        f"CyclicLR(optimizer, base_lr={_num(s.base_lr)}, max_lr={_num(s.max_lr)}, "
        f"step_size_up={s.step_size_up}, step_size_down={s.step_size_down}, mode={s.mode!r}, "
        f"gamma={_num(s.gamma)}, cycle_momentum=False)"), ""),
    _S.WarmupStableDecay: lambda s: (s.max_lr, None, ""),
    _S.Join: lambda s: (None, None, ""),
}


def _class_names(schedule):
    """Names of the schedule classes a repr uses (a Join names its parts), in order of appearance."""
    names = [type(schedule).__name__]
    for value in (getattr(schedule, f.name) for f in dataclasses.fields(schedule)):
        for item in value if isinstance(value, tuple) else (value,):
            if dataclasses.is_dataclass(item) and not isinstance(item, type):
                names += [n for n in _class_names(item) if n not in names]
    return names


def torch_equivalent(schedule) -> str:
    """The PyTorch code giving the same LR per update (``scheduler.step()`` after every update).

    Where torch has no such scheduler, the course schedule through ``ScheduleLR``. The code runs
    as is with ``torch``, ``params`` (model parameters) in scope. One entry per class in
    ``TORCH_CODE``; a class without one (a schedule of your own) goes through ``ScheduleLR``.

    >>> print(torch_equivalent(_S.StepDecay(0.1, 30, 0.5)))
    optimizer = torch.optim.SGD(params, lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.5)
    """
    make = TORCH_CODE.get(type(schedule))
    lr, sched, note = make(schedule) if make is not None else (None, None, "")
    name = type(schedule).__name__
    momentum = ", momentum=0.9" if isinstance(schedule, _S.OneCycle) else ""
    opt = f"optimizer = torch.optim.SGD(params, lr={_num(0.1 if lr is None else lr)}{momentum})"
    if sched is None:
        return (f"from {type(schedule).__module__} import {', '.join(_class_names(schedule))}\n"
                f"from lrcourse.torch_bridge import ScheduleLR  # torch has no scheduler for this {name}\n"
                f"{opt}\nscheduler = ScheduleLR(optimizer, {schedule!r})")
    prefix = "" if sched == "None" else "torch.optim.lr_scheduler."
    return f"{opt}\nscheduler = {prefix}{sched}{note}"
