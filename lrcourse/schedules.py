r"""Learning-rate schedules: frozen, pure ``step -> lr`` callables.

``step`` is the number of optimizer updates already done, 0-based: ``sched(0)`` is the LR of
the first update. Every schedule is a frozen dataclass with no hidden state, so its repr is a
plot title, ``dataclasses.asdict`` is its config, it pickles, compares and hashes, and resuming
is calling it at the saved step. ``curve(n)`` evaluates steps ``0 .. n-1`` at once with numpy.

All LRs are absolute values (``lr``, ``max_lr``, ``min_lr``, ``end_lr``), never fractions; 0 is
allowed where it means something (``Constant(0.0)`` freezes a param group, a ``PiecewiseConstant``
value of 0 pauses, a floor of 0). Counts (``total_steps``, ``warmup_steps``, ``decay_steps``,
``cycle_steps``) are updates. This module never imports torch; ``lrcourse.torch_bridge`` applies
a schedule to an optimizer (param groups keep their ratios).

Field metadata. Each field says what it is in ``dataclasses.field(metadata=...)``, and three
places read it, so a new schedule is one class (see CONTRIBUTING.md):

* ``Schedule.__post_init__`` validates and normalises every field from it (one rule,
  ``lrcourse._checks``: TypeError for a type, ValueError for a value, the field named);
* ``lrcourse.widgets.param_specs`` builds the explorer's sliders from it;
* ``lrcourse.exercises.sample_params`` draws random parameter sets from it.

Keys: ``role`` (``"lr"`` an absolute LR that sets the scale, ``"floor"`` an absolute LR below
it that may be 0, ``"count"`` a number of updates, ``"real"`` any other number, ``"choice"``,
``"flag"``, ``"boundaries"``, ``"values"``, ``"schedules"``); validation bounds ``low``/``high``
(``low_open``/``high_open``), ``minimum``/``maximum``/``optional`` (counts), ``options``
(choices); the explorer's ``range`` and ``log``, ``share`` (a count's default as a fraction of
the explorer's horizon), ``typical`` (a readable value for a required field); the exercise
sampler's ``sample`` (see ``lrcourse.exercises``; ``None`` keeps the value fixed).

>>> sched = warmup_cosine(max_lr=1.0, total_steps=10, warmup_steps=2)
>>> sched.curve(11).round(3).tolist()
[0.0, 0.5, 1.0, 0.962, 0.854, 0.691, 0.5, 0.309, 0.146, 0.038, 0.0]
"""
from __future__ import annotations

import abc
import dataclasses
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from lrcourse import _checks

# Importable from here too (``from lrcourse.schedules import ReduceLROnPlateau``); it is the
# performance-based schedule: stateful, not a ``Schedule``, so neither in ``SCHEDULES`` nor ``__all__``.
from lrcourse.plateau import ReduceLROnPlateau  # noqa: F401

__all__ = [
    "Schedule",
    "Constant",
    "ExponentialDecay",
    "StepDecay",
    "PiecewiseConstant",
    "InverseTimeDecay",
    "InverseSqrtDecay",
    "PolynomialDecay",
    "Linear",
    "Warmup",
    "CosineAnnealing",
    "CosineWarmRestarts",
    "OneCycle",
    "Cyclic",
    "Join",
    "WarmupStableDecay",
    "warmup_cosine",
    "warmup_linear",
    "SCHEDULES",
    "WARMUP_SHAPES",
    "MAX_STEP",
    "MAX_LR",
    "field_metadata",
    "known_field",
]

MAX_STEP = 2**63 - 1
"""The largest step or count: steps are int64 in ``curve`` and in every formula."""

MAX_LR = 1e300
"""The largest LR a field accepts: the formulas' intermediate values (``2 * lr``) stay finite."""

WARMUP_SHAPES = ("linear", "cosine", "exponential")
"""Warmup shapes of ``Warmup``, ``WarmupStableDecay`` and the ``warmup_*`` helpers."""


# --- field metadata: what each field is, read by validation, the explorers and the samplers ---


def _peak(default=dataclasses.MISSING, *, zero=False, typical=0.1):
    """An absolute LR that sets the schedule's scale (``lr``, ``max_lr``): > 0 unless ``zero``."""
    return field(default=default, metadata={
        "role": "lr", "low": 0.0, "low_open": not zero, "high": MAX_LR,
        "range": (1e-5, 10.0), "log": True, "typical": typical, "sample": ("peak",)})


def _floor(default=0.0, *, typical=0.0, log=False, sample=("floor",)):
    """An absolute LR at or below the peak that may be 0 (``min_lr``, ``end_lr``, ``base_lr``)."""
    return field(default=default, metadata={
        "role": "floor", "low": 0.0, "high": MAX_LR, "range": (1e-5, 10.0) if log else (0.0, 1.0),
        "log": log, "typical": typical, "sample": sample})


def _count(default=dataclasses.MISSING, *, minimum=1, share=None, typical=None, sample=("count", 1),
           optional=False, options=None):
    """A number of updates; ``optional``: None is allowed (and means "none")."""
    meta = {"role": "count", "minimum": minimum, "maximum": MAX_STEP, "optional": optional,
            "typical": typical, "sample": sample}
    if share is not None:
        meta["share"] = share
    if options is not None:
        meta["options"] = options
    return field(default=default, metadata=meta)


def _real(default=dataclasses.MISSING, *, low=None, high=None, low_open=False, high_open=False,
          range=(0.0, 1.0), log=False, typical=None, sample=None):
    """Any other number (a rate, a factor, a fraction) with its valid bounds and explorer range."""
    return field(default=default, metadata={
        "role": "real", "low": low, "high": high, "low_open": low_open, "high_open": high_open,
        "range": range, "log": log, "typical": typical, "sample": sample})


def _choice(default, options, *, sample=None):
    return field(default=default, metadata={"role": "choice", "options": tuple(options), "sample": sample})


def _flag(default, *, sample=None):
    return field(default=default, metadata={"role": "flag", "sample": sample})


def field_metadata(cls) -> dict:
    """``{field name: metadata}`` of a schedule class, or of a factory function's parameters.

    A factory (``warmup_cosine``) or a field without metadata takes the metadata of the field of
    the same name in the first ``SCHEDULES`` class that has one; unknown names get ``{}``.

    >>> field_metadata(CosineAnnealing)["total_steps"]["role"]
    'count'
    """
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        names = {f.name: dict(f.metadata) for f in dataclasses.fields(cls)}
    else:
        import inspect

        params = inspect.signature(cls).parameters.values()
        names = {p.name: {} for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    for name, meta in names.items():
        if not meta:
            names[name] = known_field(name)
    return names


# --- validation: one rule (lrcourse._checks), driven by the metadata ---------------------------


def _boundaries(name, value):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") or getattr(value, "ndim", 1) == 0:
        raise TypeError(f"{name} must be a sequence of integers, got {value!r}")
    out = tuple(_checks.integer(f"{name}[{i}]", b, minimum=1, maximum=MAX_STEP) for i, b in enumerate(value))
    if any(b >= c for b, c in zip(out, out[1:])):
        raise ValueError(f"{name} must be strictly increasing, got {value!r}")
    return out


def _lrs(name, value):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") or getattr(value, "ndim", 1) == 0:
        raise TypeError(f"{name} must be a sequence of LRs, got {value!r}")
    return tuple(_checks.real(f"{name}[{i}]", v, low=0.0, high=MAX_LR) for i, v in enumerate(value))


def _schedules(name, value):
    if isinstance(value, (Schedule, str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of Schedule, got {value!r}")
    out = tuple(value)
    for i, s in enumerate(out):
        if not isinstance(s, Schedule):
            raise TypeError(f"{name}[{i}] must be a Schedule, got {s!r}")
    if not out:
        raise ValueError(f"{name} must not be empty, got {value!r}")
    return out


def _validated(name, value, meta):
    """``value`` checked and normalised (floats, ints, tuples) as the field's metadata says."""
    role = meta["role"]
    if role in ("lr", "floor", "real"):
        return _checks.real(name, value, low=meta.get("low"), high=meta.get("high"),
                            low_open=meta.get("low_open", False), high_open=meta.get("high_open", False))
    if role == "count":
        if value is None and meta.get("optional"):
            return None
        return _checks.integer(name, value, minimum=meta["minimum"], maximum=meta["maximum"])
    if role == "flag":
        return _checks.boolean(name, value)
    if role == "choice":
        return _checks.choice(name, value, meta["options"])
    if role == "boundaries":
        return _boundaries(name, value)
    if role == "values":
        return _lrs(name, value)
    if role == "schedules":
        return _schedules(name, value)
    raise TypeError(f"field {name!r} has an unknown role {role!r} in its metadata")


def _check_step(step):
    if type(step) is not int:  # the common case first: the training loop passes ints
        step = _checks.scalar(step)
        if isinstance(step, (bool, np.bool_)) or not isinstance(step, numbers.Integral):
            raise TypeError(f"step must be an integer, got {step!r}")
        step = int(step)
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step!r}")
    if step > MAX_STEP:
        raise ValueError(f"step must be <= 2**63 - 1 (an int64), got {step!r}")
    return step


def _ordered(sched, low, high):
    """Raise unless field ``low`` <= field ``high`` (``min_lr <= lr``), naming ``low``."""
    a, b = getattr(sched, low), getattr(sched, high)
    if a > b:
        raise ValueError(f"{low} must be <= {high} = {b!r}, got {a!r}")


def _ramp(t, steps, start, end, shape):
    """Warmup from ``start`` to ``end`` over ``steps`` updates along ``shape``, then ``end``."""
    p = np.minimum(t, steps) / steps
    if shape == "linear":
        # start + (end - start) t / W; with start 0 this is end * t / W, as it always was
        return np.where(t >= steps, end, start + (end - start) * np.minimum(t, steps) / steps)
    if shape == "cosine":
        # torch's CosineAnnealingLR written from ``start`` up to ``end`` (its eta_min)
        return end + (start - end) * (1.0 + np.cos(np.pi * np.minimum(t, steps) / steps)) / 2.0
    return np.where(t >= steps, end, start * (end / start) ** p)


# --- the base --------------------------------------------------------------------------------


class Schedule(abc.ABC):
    r"""A pure ``step -> lr`` function; subclasses are frozen dataclasses.

    A subclass implements ``_lr(t)`` once, on an int64 array of steps, and gets ``__call__``
    (one step, validated, a Python float) and ``curve`` (steps ``0 .. n-1``, vectorised). It
    declares its fields with metadata (see the module docstring); ``__post_init__`` validates
    them from it and then calls ``_check_fields()``, where a subclass checks what involves
    several fields (``min_lr <= lr``). The step is counted by the training code and passed in:
    a schedule never counts.

    A non-finite LR (a growth rate > 1 past the float64 range) raises ValueError naming the
    step, instead of handing ``inf`` to an optimizer.

    >>> isinstance(Constant(0.1), Schedule), Constant(0.1).curve(3).tolist()
    (True, [0.1, 0.1, 0.1])
    """

    __slots__ = ()

    #: the field that makes the LR grow when > 1, named when it overflows
    _grows_with: str | None = None

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if "role" in f.metadata:
                # frozen dataclass: normalise once, here
                object.__setattr__(self, f.name, _validated(f.name, getattr(self, f.name), f.metadata))
        self._check_fields()

    def _check_fields(self):  # noqa: B027 - an optional hook: most schedules have no such check
        """Checks that involve several fields; raise ValueError naming the first field."""

    def __call__(self, step) -> float:
        t = _check_step(step)
        value = float(self._lr(np.array([t], dtype=np.int64))[0])
        if not math.isfinite(value):
            raise self._overflow(t, value)
        return value

    def curve(self, num_steps) -> np.ndarray:
        """LR of steps ``0 .. num_steps - 1`` as a float64 array (one numpy pass, no loop)."""
        out = self._lr(np.arange(_checks.integer("num_steps", num_steps, minimum=0), dtype=np.int64))
        if not np.isfinite(out).all():
            first = int(np.flatnonzero(~np.isfinite(out))[0])
            raise self._overflow(first, out[first])
        return out

    def _overflow(self, step, value):
        name = self._grows_with
        if name is not None and getattr(self, name, 0) > 1:
            return ValueError(f"{name}={getattr(self, name)!r} > 1 grows the LR past the float64 range by step "
                              f"{step}: got lr={float(value)} from {self!r}")
        return ValueError(f"{self!r} gives a non-finite LR ({float(value)}) at step {step}")

    @abc.abstractmethod
    def _lr(self, t: np.ndarray) -> np.ndarray:
        """LR at each step of ``t`` (int64, all >= 0) as a float64 array of the same shape."""


# --- the schedules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Constant(Schedule):
    r"""The same LR at every step.

    .. math:: \eta_t = \eta_0

    where eta_0 is ``lr`` (0 is allowed: a frozen param group, or a pause inside a ``Join``).
    No horizon: it never changes (torch: no scheduler; Keras: a float). The baseline every
    decay is measured against. Bottou, Curtis & Nocedal, 2018.

    >>> [round(Constant(0.1)(t), 3) for t in range(3)]
    [0.1, 0.1, 0.1]
    """

    lr: float = _peak(zero=True)

    def _lr(self, t):
        return np.full(t.shape, self.lr)


@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    r"""Multiply the LR by ``decay_rate`` every ``decay_steps`` updates.

    .. math:: \eta_t = \eta_0 \, \gamma^{t / s} \quad (\text{staircase: } \gamma^{\lfloor t / s \rfloor})

    where t is ``step``, eta_0 ``lr``, gamma ``decay_rate``, s ``decay_steps``. No horizon:
    it keeps decaying (a ``decay_rate`` > 1 grows, as a range test's sweep does, and raises
    once it passes the float64 range). Equals Keras ``ExponentialDecay``; torch
    ``ExponentialLR(gamma)`` is ``decay_steps=1`` and torch ``StepLR`` the staircase.
    Senior et al., 2013.

    >>> [round(ExponentialDecay(1.0, 0.5, decay_steps=2)(t), 3) for t in range(5)]
    [1.0, 0.707, 0.5, 0.354, 0.25]
    """

    lr: float = _peak()
    decay_rate: float = _real(low=0.0, low_open=True, range=(0.01, 1.0), typical=0.9,
                              sample=("uniform", 0.1, 0.99))
    decay_steps: int = _count(1, typical=10)
    staircase: bool = _flag(False, sample=("coin",))

    _grows_with = "decay_rate"

    def _lr(self, t):
        p = t // self.decay_steps if self.staircase else t / self.decay_steps
        with np.errstate(over="ignore"):  # a growth past float64 raises in __call__/curve, naming decay_rate
            return self.lr * self.decay_rate ** p.astype(np.float64)


@dataclass(frozen=True)
class StepDecay(Schedule):
    r"""Multiply the LR by ``gamma`` every ``step_size`` updates (a staircase).

    .. math:: \eta_t = \eta_0 \, \gamma^{\lfloor t / s \rfloor}

    where t is ``step``, eta_0 ``lr``, s ``step_size``, gamma ``gamma``. No horizon: it keeps
    dropping. This is ``ExponentialDecay(lr, decay_rate=gamma, decay_steps=step_size,
    staircase=True)`` under torch's names: both give the same floats. Equals torch ``StepLR``
    and Keras ``ExponentialDecay(staircase=True)``. (``gamma`` here is a factor per drop;
    ``Cyclic``'s ``gamma`` is a factor per step.) He et al., ResNet, 2016 (divide by 10 at
    fixed points).

    >>> [round(StepDecay(1.0, step_size=2)(t), 3) for t in range(5)]
    [1.0, 1.0, 0.1, 0.1, 0.01]
    """

    lr: float = _peak()
    step_size: int = _count(share=0.3, typical=30, sample=("count", 2))
    gamma: float = _real(0.1, low=0.0, low_open=True, range=(0.01, 1.0), sample=("uniform", 0.1, 0.99))

    _grows_with = "gamma"

    def _lr(self, t):
        with np.errstate(over="ignore"):  # a growth past float64 raises in __call__/curve, naming gamma
            return self.lr * self.gamma ** (t // self.step_size).astype(np.float64)


@dataclass(frozen=True)
class PiecewiseConstant(Schedule):
    r"""Hold ``values[i]`` from ``boundaries[i-1]`` up to, not including, ``boundaries[i]``.

    .. math:: \eta_t = v_i, \quad i = \#\{j : b_j \le t\}

    where t is ``step``, b ``boundaries`` (the first step of each new value, like torch
    ``MultiStepLR`` milestones), v ``values`` (a value of 0 pauses training). After the last
    boundary: ``values[-1]`` forever. Keras ``PiecewiseConstantDecay`` switches one step later
    (``step > boundary``). Goyal et al., 2017 (divide by 10 at epochs 30, 60, 80).

    >>> [round(PiecewiseConstant((2, 4), (1.0, 0.1, 0.01))(t), 3) for t in range(5)]
    [1.0, 1.0, 0.1, 0.1, 0.01]
    """

    boundaries: tuple = field(metadata={"role": "boundaries", "typical": (30, 60), "sample": ("boundaries",)})
    values: tuple = field(metadata={"role": "values", "typical": (0.1, 0.01, 0.001), "sample": ("values",)})

    def _check_fields(self):
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                f"values must have len(boundaries) + 1 = {len(self.boundaries) + 1} entries, "
                f"got {len(self.values)}: {self.values!r}"
            )

    def _lr(self, t):
        index = np.searchsorted(np.asarray(self.boundaries, dtype=np.int64), t, side="right")
        return np.asarray(self.values, dtype=np.float64)[index]


@dataclass(frozen=True)
class InverseTimeDecay(Schedule):
    r"""Divide the LR by ``1 + decay_rate * t / decay_steps``: the classic 1/t decay.

    .. math:: \eta_t = \frac{\eta_0}{1 + k \, t / s} \quad (\text{staircase: } \lfloor t / s \rfloor)

    where t is ``step``, eta_0 ``lr``, k ``decay_rate``, s ``decay_steps``. No horizon: it
    decays like 1/t forever. Equals Keras ``InverseTimeDecay``; torch has no equivalent
    (use ``LambdaLR``). Robbins & Monro, 1951; Bottou, 2012.

    >>> [round(InverseTimeDecay(1.0, decay_rate=1.0)(t), 3) for t in range(5)]
    [1.0, 0.5, 0.333, 0.25, 0.2]
    """

    lr: float = _peak()
    decay_rate: float = _real(low=0.0, low_open=True, range=(0.01, 10.0), typical=0.9,
                              sample=("uniform", 0.1, 0.99))
    decay_steps: int = _count(1, typical=10)
    staircase: bool = _flag(False, sample=("coin",))

    def _lr(self, t):
        p = t // self.decay_steps if self.staircase else t / self.decay_steps
        return self.lr / (1.0 + self.decay_rate * p.astype(np.float64))


@dataclass(frozen=True)
class InverseSqrtDecay(Schedule):
    r"""Divide the LR by the square root of ``1 + t / decay_steps``: the Transformer's rsqrt decay.

    .. math:: \eta_t = \frac{\eta_0}{\sqrt{1 + t / s}}

    where t is ``step``, eta_0 ``lr``, s ``decay_steps`` (the LR has halved at t = 3s). No
    horizon: it decays like 1/sqrt(t) forever, slower than ``InverseTimeDecay``. Used after a
    warmup: the "Noam" schedule of Vaswani et al. (2017), lr ∝ min(n^-0.5, n W^-1.5) with
    n = step + 1, is exactly ``Join([Linear(peak / W, peak, W - 1), InverseSqrtDecay(peak, W)],
    [W - 1])`` with peak = d_model^-0.5 W^-0.5 (n = W is step W - 1); Raffel et al.'s T5 rsqrt
    schedule is the same decay after a constant phase. Equals Hugging Face's
    ``get_inverse_sqrt_schedule`` with ``timescale = decay_steps`` after its warmup; torch and
    Keras have no equivalent (torch: ``LambdaLR(lambda t: (1 + t / s) ** -0.5)``).

    >>> [round(InverseSqrtDecay(1.0, decay_steps=1)(t), 3) for t in range(5)]
    [1.0, 0.707, 0.577, 0.5, 0.447]
    """

    lr: float = _peak()
    decay_steps: int = _count(share=0.05, typical=10)

    def _lr(self, t):
        return self.lr / np.sqrt(1.0 + t / self.decay_steps)


@dataclass(frozen=True)
class PolynomialDecay(Schedule):
    r"""Decay from ``lr`` to ``end_lr`` over ``total_steps`` along ``(1 - t/T)^power``.

    .. math:: \eta_t = (\eta_0 - \eta_{end}) \bigl(1 - \tfrac{\min(t, T)}{T}\bigr)^p + \eta_{end}

    where t is ``step``, T ``total_steps``, eta_0 ``lr``, eta_end ``end_lr``, p ``power``.
    Holds ``end_lr`` after T. Equals torch ``PolynomialLR`` (``end_lr=0``) and Keras
    ``PolynomialDecay(cycle=False)``. Liu et al., ParseNet, 2015 ("poly", p = 0.9).

    >>> [round(PolynomialDecay(1.0, 4, power=2.0)(t), 3) for t in range(6)]
    [1.0, 0.562, 0.25, 0.062, 0.0, 0.0]
    """

    lr: float = _peak()
    total_steps: int = _count(share=1.0, typical=100, sample=("horizon",))
    end_lr: float = _floor()
    power: float = _real(1.0, low=0.0, low_open=True, range=(0.1, 5.0), sample=("uniform", 0.5, 3.0))

    def _check_fields(self):
        _ordered(self, "end_lr", "lr")

    def _lr(self, t):
        remaining = 1.0 - np.minimum(t, self.total_steps) / self.total_steps
        return (self.lr - self.end_lr) * remaining**self.power + self.end_lr


@dataclass(frozen=True)
class Linear(Schedule):
    r"""Go in a straight line from ``start_lr`` to ``end_lr`` over ``total_steps``.

    .. math:: \eta_t = \eta_{start} + (\eta_{end} - \eta_{start}) \tfrac{\min(t, T)}{T}

    where t is ``step``, T ``total_steps``, eta_start ``start_lr``, eta_end ``end_lr``. Holds
    ``end_lr`` after T. Both directions: a warmup (``start_lr < end_lr``) or a decay. Equals
    torch ``LinearLR`` with absolute values in place of factors of the base LR (torch needs
    ``start_factor > 0``; here ``start_lr`` may be 0). Defazio et al., 2023 (linear decay).

    >>> [round(Linear(1.0, 0.0, 4)(t), 3) for t in range(6)]
    [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """

    start_lr: float = _peak(zero=True)
    end_lr: float = _floor(dataclasses.MISSING)
    total_steps: int = _count(share=1.0, typical=100, sample=("horizon",))

    def _check_fields(self):
        if self.start_lr == 0 and self.end_lr == 0:
            raise ValueError(f"start_lr and end_lr cannot both be 0 (a constant 0 is Constant(0.0)), "
                             f"got {self.start_lr!r}")

    def _lr(self, t):
        fraction = np.minimum(t, self.total_steps) / self.total_steps
        # this form is exact at both ends (start + (end - start) * 1 can miss a tiny end_lr)
        return (1.0 - fraction) * self.start_lr + fraction * self.end_lr


@dataclass(frozen=True)
class Warmup(Schedule):
    r"""Rise from ``start_lr`` to ``max_lr`` over ``warmup_steps`` along a shape, then hold ``max_lr``.

    .. math:: \eta_t = \begin{cases}
              \eta_s + (\eta_{max} - \eta_s)\, p & \text{linear} \\
              \eta_{max} + (\eta_s - \eta_{max})\, \tfrac12 (1 + \cos \pi p) & \text{cosine} \\
              \eta_s\, (\eta_{max} / \eta_s)^{p} & \text{exponential}
              \end{cases}, \quad p = \tfrac{\min(t, W)}{W}

    where t is ``step``, W ``warmup_steps``, eta_s ``start_lr``, eta_max ``max_lr``, the shape
    ``shape``. Holds ``max_lr`` from W on. The cosine shape starts flat and arrives flat; the
    exponential one (a geometric rise, ``start_lr > 0``) spends most steps at small LRs.
    torch: the linear shape is ``LinearLR(start_factor=start_lr/max_lr)``, the cosine one
    ``CosineAnnealingLR(T_max=W, eta_min=max_lr)`` from a base LR of ``start_lr`` and the
    exponential one ``ExponentialLR((max_lr/start_lr) ** (1/W))``, each up to W only (they
    go on moving after it). Put it before a decay with ``Join`` (or ``warmup_shape=`` of the
    ``warmup_*`` helpers). Goyal et al., 2017 (linear); Ma & Yarats, 2021, discuss the
    alternatives.

    >>> [round(Warmup(1.0, 4, shape="cosine")(t), 3) for t in range(6)]
    [0.0, 0.146, 0.5, 0.854, 1.0, 1.0]
    """

    max_lr: float = _peak()
    warmup_steps: int = _count(share=0.5, typical=10)
    start_lr: float = _floor()
    shape: str = _choice("linear", WARMUP_SHAPES)

    def _check_fields(self):
        _ordered(self, "start_lr", "max_lr")
        _check_shape(self.shape, self.start_lr, self.max_lr)

    def _lr(self, t):
        return _ramp(t, self.warmup_steps, self.start_lr, self.max_lr, self.shape)


def _check_shape(shape, start_lr, max_lr, name="shape"):
    if shape == "exponential" and start_lr == 0:
        raise ValueError(f"start_lr must be > 0 for {name}='exponential' (a geometric rise cannot start "
                         f"at 0), got {start_lr!r}")
    if shape == "exponential" and not math.isfinite(max_lr / start_lr):
        raise ValueError(f"start_lr must be larger for {name}='exponential': max_lr / start_lr overflows "
                         f"float64, got start_lr={start_lr!r}, max_lr={max_lr!r}")


@dataclass(frozen=True)
class CosineAnnealing(Schedule):
    r"""Cosine decay from ``lr`` to ``min_lr`` over ``total_steps`` updates.

    .. math:: \eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})\bigl(1 + \cos\tfrac{\pi \min(t, T)}{T}\bigr)

    where t is ``step``, T ``total_steps``, eta_0 ``lr``, eta_min ``min_lr``. Holds ``min_lr`` after T
    (torch's ``CosineAnnealingLR`` rises again). Equals Keras ``CosineDecay(alpha=min_lr/lr)``.
    Loshchilov & Hutter, SGDR, 2017.

    >>> [round(CosineAnnealing(1.0, 4)(t), 3) for t in range(6)]
    [1.0, 0.854, 0.5, 0.146, 0.0, 0.0]
    """

    lr: float = _peak()
    total_steps: int = _count(share=1.0, typical=100, sample=("horizon",))
    min_lr: float = _floor()

    def _check_fields(self):
        _ordered(self, "min_lr", "lr")

    def _lr(self, t):
        # same operation order as torch (pi * t / T) so both agree to the last bits
        cosine = 1.0 + np.cos(np.pi * np.minimum(t, self.total_steps) / self.total_steps)
        return self.min_lr + (self.lr - self.min_lr) * cosine / 2.0


# a geometric sum within this relative distance of an integer is that integer (float error only)
_SNAP = 1e-9


@dataclass(frozen=True)
class CosineWarmRestarts(Schedule):
    r"""Cosine decay to ``min_lr``, then restart at the peak; cycles grow by ``cycle_mult``.

    .. math:: \eta_t = \eta_{min} + (\eta_0 - \eta_{min})\, d^{\,i} \tfrac12\bigl(1 + \cos\tfrac{\pi (t - S_i)}{T_i}\bigr),
              \quad T_i = T_0 m^i,\; S_i = T_0 \tfrac{m^i - 1}{m - 1}

    where t is ``step``, i the index of the current cycle (the i with S_i <= t < S_{i+1}),
    S_i its start, T_0 ``cycle_steps``, m ``cycle_mult``, d ``peak_decay``, eta_0 ``lr``,
    eta_min ``min_lr``. No horizon: it restarts forever, unless ``max_cycles`` = k: after the
    k-th cycle (from step S_k on) it holds ``min_lr``.

    Restarts land on exact steps: with an integer m the starts are computed in integers, and a
    fractional m's geometric sum that is an integer up to float error (``T_0 (m - 1) / (m - 1)
    = 3.0000000000000004``) is that integer, so the restart step has the peak LR. A start that
    really is fractional (T_0 = 4, m = 1.5: 32.5) begins mid-step, as in Keras.

    Equals torch ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)`` (which takes an
    integer ``T_mult`` only; ``peak_decay=1``, no ``max_cycles``) stepped once per update; its
    ``step(epoch)`` form finds the cycle with ``int(math.log(...))`` and can land one cycle
    early at a restart (T_0 = 1, T_mult = 10, epoch 111: log10(1000) = 2.9999999999999996).
    Equals Keras ``CosineDecayRestarts(t_mul, m_mul, alpha=min_lr/lr)``, whose float32
    logarithm can misplace steps next to a restart. Loshchilov & Hutter, SGDR, 2017.

    >>> [round(CosineWarmRestarts(1.0, 2, cycle_mult=2)(t), 3) for t in range(7)]
    [1.0, 0.5, 1.0, 0.854, 0.5, 0.146, 1.0]
    >>> [round(CosineWarmRestarts(1.0, 2, max_cycles=2)(t), 3) for t in range(6)]
    [1.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """

    lr: float = _peak()
    cycle_steps: int = _count(share=0.15, typical=25, sample=("count", 2))
    cycle_mult: float = _real(1, low=1.0, range=(1.0, 4.0), sample=("choice", (1, 2)))
    min_lr: float = _floor()
    peak_decay: float = _real(1.0, low=0.0, low_open=True, high=1.0, range=(0.1, 1.0),
                              sample=("uniform", 0.5, 1.0))
    max_cycles: int | None = _count(None, optional=True, sample=None, options=(None, 1, 2, 3, 4, 5, 10))

    def _check_fields(self):
        _ordered(self, "min_lr", "lr")
        if self.cycle_mult.is_integer():  # integer arithmetic for the restarts, and torch's T_mult
            object.__setattr__(self, "cycle_mult", int(self.cycle_mult))

    def _restarts(self, last: int):
        """Start of every cycle up to and past step ``last`` (and no more than ``max_cycles``), with lengths.

        Listing the starts and looking each step up is exact, where a logarithm can land one
        cycle off at a restart; few cycles, so the tables are short.
        """
        m, t0, k = self.cycle_mult, self.cycle_steps, self.max_cycles
        starts = [0]
        while starts[-1] <= last and (k is None or len(starts) <= k):
            i = len(starts)
            if isinstance(m, int):
                start = t0 * (m**i - 1) // (m - 1) if m > 1 else t0 * i
            else:
                start = t0 * (m**i - 1) / (m - 1)
                if abs(start - round(start)) <= _SNAP * start:
                    start = round(start)
            starts.append(start)
        return np.array(starts, dtype=np.float64), t0 * float(m) ** np.arange(len(starts))

    def _shape(self, since_restart, length, peak):
        # written as torch writes it, so both give the same floats (bit for bit in the oracle runs)
        return self.min_lr + (self.lr - self.min_lr) * peak * (1.0 + np.cos(np.pi * since_restart / length)) / 2.0

    def _peaks(self, cycles: int):
        return self.peak_decay ** np.arange(cycles) if self.peak_decay != 1 else np.ones(cycles)

    def _lr(self, t):
        m, t0, k = self.cycle_mult, self.cycle_steps, self.max_cycles
        if m == 1:
            i = t // t0
            since_restart, length = t - i * t0, float(t0)
        else:
            starts, lengths = self._restarts(int(t.max()) if t.size else 0)
            i = np.searchsorted(starts, t, side="right") - 1
            since_restart, length = t - starts[i], lengths[i]
        peak = self._peaks(int(i.max()) + 1 if i.size else 1)[i] if self.peak_decay != 1 else 1.0
        out = self._shape(since_restart, length, peak)
        return out if k is None else np.where(i >= k, self.min_lr, out)

    def curve(self, num_steps) -> np.ndarray:
        """LR of steps ``0 .. num_steps - 1``, filled cycle by cycle (no per-step cycle lookup)."""
        n = _checks.integer("num_steps", num_steps, minimum=0)
        out = np.full(n, self.min_lr)
        if self.cycle_mult == 1:
            cycles = -(-n // self.cycle_steps)
            if self.max_cycles is not None:
                cycles = min(cycles, self.max_cycles + 1)
            i = np.arange(cycles)
            starts, lengths = i * self.cycle_steps, np.full(len(i), float(self.cycle_steps))
        else:
            starts, lengths = self._restarts(max(n - 1, 0))
        peaks = self._peaks(len(starts))
        cycles = len(starts) if self.max_cycles is None else min(len(starts), self.max_cycles)
        for k in range(cycles):
            lo = min(math.ceil(starts[k]), n)
            hi = min(math.ceil(starts[k + 1]), n) if k + 1 < len(starts) else n
            t = np.arange(lo, hi, dtype=np.int64)
            out[lo:hi] = self._shape(t - starts[k], lengths[k], peaks[k])
        return out


@dataclass(frozen=True)
class OneCycle(Schedule):
    r"""1cycle: warm up from ``max_lr/div_factor`` to ``max_lr``, then anneal far below the start.

    .. math:: \eta_t = \mathrm{anneal}(a_k, b_k, \tfrac{t - e_{k-1}}{e_k - e_{k-1}}), \quad
              e_1 = pT - 1,\; e_{last} = T - 1

    where t is ``step``, T ``total_steps``, p ``pct_start``, phase k runs from e_{k-1}
    (e_0 = 0) to e_k and goes from a_k to b_k: ``max_lr/div_factor`` -> ``max_lr`` ->
    ``max_lr/(div_factor*final_div_factor)`` (``three_phase``: back to the start LR at
    e_2 = 2pT - 2 first, so ``pct_start`` must be <= 0.5); anneal is cosine (``anneal="cos"``)
    or linear. Equals torch ``OneCycleLR`` for t < T; holds the final LR from T - 1 on (torch's
    T-th ``step()`` gives a wrong LR, past the end of the anneal, and the next one raises).
    With ``three_phase=True`` and ``pct_start > 0.5`` torch's second phase ends after T: it
    never reaches its third phase nor the final LR; such phases are refused here.

    Momentum: ``momentum(step)`` cycles the other way, ``max_momentum`` -> ``base_momentum`` ->
    ``max_momentum``. ``cycle_momentum=True`` (torch's default) asks whoever applies the
    schedule (``ScheduleLR``, ``fit``) to set it too: SGD's ``momentum`` or, for Adam-like
    optimizers, ``betas[0]`` (beta1), exactly as torch's ``OneCycleLR`` does. Set
    ``cycle_momentum=False`` to leave the optimizer's momentum (and Adam's beta1) alone.
    Smith & Topin, Super-Convergence, 2017.

    >>> [round(OneCycle(1.0, 5, pct_start=0.4, div_factor=10)(t), 3) for t in range(6)]
    [0.1, 1.0, 0.75, 0.25, 0.0, 0.0]
    """

    max_lr: float = _peak()
    total_steps: int = _count(share=1.0, typical=100, sample=("horizon",))
    pct_start: float = _real(0.3, low=0.0, high=1.0, low_open=True, high_open=True, range=(0.05, 0.95),
                             sample=("uniform", 0.1, 0.6))
    div_factor: float = _real(25.0, low=0.0, low_open=True, range=(1.0, 1e3), log=True,
                              sample=("uniform", 5, 50))
    final_div_factor: float = _real(1e4, low=0.0, low_open=True, range=(1.0, 1e5), log=True,
                                    sample=("log10", 1, 4))
    anneal: str = _choice("cos", ("cos", "linear"), sample=("choice", ("cos", "linear")))
    three_phase: bool = _flag(False, sample=("coin",))
    base_momentum: float = _real(0.85, low=0.0, range=(0.5, 0.99))
    max_momentum: float = _real(0.95, low=0.0, high=1.0, high_open=True, range=(0.5, 0.99))
    cycle_momentum: bool = _flag(True)

    def _check_fields(self):
        _ordered(self, "base_momentum", "max_momentum")
        if self.three_phase and self.pct_start > 0.5:
            raise ValueError(
                f"pct_start must be <= 0.5 with three_phase=True (the second phase would end after "
                f"total_steps, never reaching the final LR), got {self.pct_start!r}"
            )

    def _phases(self, start, peak, end):
        """(end_step, from, to) per phase, the end steps computed exactly as torch does."""
        first_end = float(self.pct_start * self.total_steps) - 1
        if self.three_phase:
            second_end = float(2 * self.pct_start * self.total_steps) - 2
            return [(first_end, start, peak), (second_end, peak, start), (self.total_steps - 1, start, end)]
        return [(first_end, start, peak), (self.total_steps - 1, peak, end)]

    def _anneal(self, start, end, pct):
        if self.anneal == "cos":
            return end + (start - end) / 2.0 * (np.cos(np.pi * pct) + 1)
        return (end - start) * pct + start

    def _interpolate(self, t, phases):
        out = np.empty(t.shape, dtype=np.float64)
        todo = np.ones(t.shape, dtype=bool)
        start_step = 0.0
        for k, (end_step, a, b) in enumerate(phases):
            last = k == len(phases) - 1
            here = todo & ((t <= end_step) | last)
            length = end_step - start_step
            # a phase of zero length (pct_start * total_steps == 1) ends where it starts
            pct = (t[here] - start_step) / length if length else np.ones(here.sum())
            if last:
                pct = np.minimum(pct, 1.0)  # hold the final value after the horizon
            out[here] = self._anneal(a, b, pct)
            todo &= ~here
            start_step = end_step
        return out

    def _lr(self, t):
        initial = self.max_lr / self.div_factor
        final = initial / self.final_div_factor
        return self._interpolate(t, self._phases(initial, self.max_lr, final))

    def momentum(self, step) -> float:
        """Momentum (SGD) or beta1 (Adam) for ``step``, cycled opposite to the LR as torch does."""
        return float(self._momentum(np.array([_check_step(step)], dtype=np.int64))[0])

    def momentum_curve(self, num_steps) -> np.ndarray:
        """Momentum of steps ``0 .. num_steps - 1`` as a float64 array."""
        return self._momentum(np.arange(_checks.integer("num_steps", num_steps, minimum=0), dtype=np.int64))

    def _momentum(self, t):
        # max -> base -> max; three_phase's last phase goes max -> max (flat)
        return self._interpolate(t, self._phases(self.max_momentum, self.base_momentum, self.max_momentum))


@dataclass(frozen=True)
class Cyclic(Schedule):
    r"""Triangle waves between ``base_lr`` and ``max_lr`` (cyclical learning rates).

    .. math:: \eta_t = \eta_{base} + (\eta_{max} - \eta_{base})\, \mathrm{tri}(t)\, s(c, t)

    where t is ``step``, tri rises 0 -> 1 over ``step_size_up`` steps and falls back over
    ``step_size_down`` (default ``step_size_up``), c = 1 + the number of completed cycles,
    and the amplitude scale s is 1 (``mode="triangular"``), 2^(1-c) (``"triangular2"``) or
    gamma^t with gamma ``gamma``, a factor per step (``"exp_range"``). ``base_lr`` may be 0.
    No horizon: it cycles forever. Equals torch ``CyclicLR(..., cycle_momentum=False)``: the
    LR only. This schedule never touches momentum (torch's default ``cycle_momentum=True``
    would also cycle SGD's momentum or Adam's beta1). Smith, CLR, 2017.

    >>> [round(Cyclic(0.1, 1.0, step_size_up=2)(t), 3) for t in range(6)]
    [0.1, 0.55, 1.0, 0.55, 0.1, 0.55]
    """

    base_lr: float = _floor(dataclasses.MISSING, typical=0.01, log=True, sample=("below_peak", 0.5, 2))
    max_lr: float = _peak()
    step_size_up: int = _count(2000, share=0.125, sample=("count", 2))
    step_size_down: int | None = _count(None, optional=True, sample=("optional_count", 2))
    mode: str = _choice("triangular", ("triangular", "triangular2", "exp_range"))
    gamma: float = _real(1.0, low=0.0, low_open=True, high=1.0, range=(0.99, 1.0))

    def _check_fields(self):
        _ordered(self, "base_lr", "max_lr")

    def _lr(self, t):
        down = self.step_size_up if self.step_size_down is None else self.step_size_down
        total = float(self.step_size_up + down)
        ratio = self.step_size_up / total
        # torch's exact arithmetic: cycle = floor(1 + t / total), x = position in the cycle
        cycle = np.floor(1 + t / total)
        x = 1.0 + t / total - cycle
        rising = x <= ratio
        height = (self.max_lr - self.base_lr) * np.where(rising, x / ratio, (x - 1) / (ratio - 1))
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 1 / (2.0 ** (cycle - 1))
        else:
            scale = self.gamma ** t.astype(np.float64)
        return self.base_lr + height * scale


@dataclass(frozen=True)
class Join(Schedule):
    r"""Run ``schedules[i]`` from ``boundaries[i-1]`` on; each counts steps from its own start.

    .. math:: \eta_t = S_i(t - b_{i-1}), \quad i = \#\{j : b_j \le t\},\; b_{-1} = 0

    where t is ``step``, S ``schedules``, b ``boundaries`` (absolute steps where the next
    schedule takes over). After the last boundary the last schedule runs on, with its own
    horizon rule. Equals torch ``SequentialLR`` (absolute LRs, not factors of a base LR);
    ``Join([Linear(a, b, w), CosineAnnealing(b, T, min_lr)], [w])`` equals Keras
    ``CosineDecay(a, T, alpha=min_lr/b, warmup_target=b, warmup_steps=w)``.
    Goyal et al., 2017 (warmup, then the main schedule).

    >>> [round(Join([Linear(0.0, 1.0, 2), CosineAnnealing(1.0, 2)], [2])(t), 3) for t in range(5)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    schedules: tuple = field(metadata={"role": "schedules"})
    boundaries: tuple = field(metadata={"role": "boundaries"})

    def _check_fields(self):
        if len(self.boundaries) != len(self.schedules) - 1:
            raise ValueError(
                f"boundaries must have len(schedules) - 1 = {len(self.schedules) - 1} entries, "
                f"got {len(self.boundaries)}: {self.boundaries!r}"
            )

    def _lr(self, t):
        starts = (0,) + self.boundaries
        index = np.searchsorted(np.asarray(self.boundaries, dtype=np.int64), t, side="right")
        out = np.empty(t.shape, dtype=np.float64)
        for i, schedule in enumerate(self.schedules):
            here = index == i
            if here.any():
                out[here] = schedule._lr(t[here] - starts[i])
        return out

    def curve(self, num_steps) -> np.ndarray:
        """LR of steps ``0 .. num_steps - 1``: each schedule's own curve, sliced and concatenated."""
        n = _checks.integer("num_steps", num_steps, minimum=0)
        edges = (0,) + self.boundaries + (n,)
        pieces = [
            schedule.curve(max(0, min(end, n) - start))
            for schedule, start, end in zip(self.schedules, edges, edges[1:])
        ]
        return np.concatenate(pieces)


@dataclass(frozen=True)
class WarmupStableDecay(Schedule):
    r"""Warm up to ``max_lr``, hold it, then decay to ``min_lr`` over the last ``decay_steps``.

    .. math:: \eta_t = \begin{cases} \mathrm{warmup}(t) & t < W \\
              \eta_{min} + (\eta_{max} - \eta_{min})\, f\bigl(\tfrac{\min(t, T) - (T - D)}{D}\bigr) & t \ge W \end{cases}

    where t is ``step``, T ``total_steps`` (warmup included), W ``warmup_steps``, D
    ``decay_steps``, f(p) = 1 - p (``decay="linear"``), (1 + cos pi p)/2 (``"cosine"``) or
    1 - sqrt(p) (``"sqrt"``), clipped to p in [0, 1] so the stable phase is f(0) = 1. The
    warmup goes from ``start_lr`` to ``max_lr`` along ``warmup_shape`` (``Warmup``'s shapes:
    ``"linear"`` max_lr t / W from the default 0, ``"cosine"``, ``"exponential"`` from a
    ``start_lr > 0``). Holds ``min_lr`` after T. ``sched(0) == start_lr`` when W > 0 (0 by
    default, as Keras's warmup from 0). No torch or Keras equivalent. Hu et al., MiniCPM, 2024.

    >>> [round(WarmupStableDecay(1.0, 8, 2, 4)(t), 3) for t in range(9)]
    [0.0, 0.5, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    """

    max_lr: float = _peak()
    total_steps: int = _count(share=1.0, typical=100, sample=("horizon",))
    warmup_steps: int = _count(minimum=0, share=0.05, typical=10)
    decay_steps: int = _count(share=0.2, typical=20)
    min_lr: float = _floor()
    decay: str = _choice("linear", ("linear", "cosine", "sqrt"))
    start_lr: float = _floor(sample=None)
    warmup_shape: str = _choice("linear", WARMUP_SHAPES)

    def _check_fields(self):
        _ordered(self, "min_lr", "max_lr")
        _ordered(self, "start_lr", "max_lr")
        if self.warmup_steps + self.decay_steps > self.total_steps:
            raise ValueError(
                f"warmup_steps + decay_steps must be <= total_steps = {self.total_steps}, "
                f"got {self.warmup_steps} + {self.decay_steps}"
            )
        if self.warmup_steps:
            _check_shape(self.warmup_shape, self.start_lr, self.max_lr, "warmup_shape")

    def _lr(self, t):
        decay_start = self.total_steps - self.decay_steps
        p = np.clip((t - decay_start) / self.decay_steps, 0.0, 1.0)
        if self.decay == "linear":
            shape = 1.0 - p
        elif self.decay == "cosine":
            shape = (1.0 + np.cos(np.pi * p)) / 2.0
        else:
            shape = 1.0 - np.sqrt(p)
        decayed = self.min_lr + (self.max_lr - self.min_lr) * shape
        # the stable phase is max_lr exactly: min_lr + (max_lr - min_lr) can round one ulp above it
        decayed = np.where(p > 0, decayed, self.max_lr)
        if not self.warmup_steps:
            return decayed
        warmup = _ramp(t, self.warmup_steps, self.start_lr, self.max_lr, self.warmup_shape)
        return np.where(t < self.warmup_steps, warmup, decayed)


# --- convenience constructors: they return a Join, so the repr shows how they are built ------


def _check_warmup(max_lr, total_steps, warmup_steps, min_lr, start_lr, warmup_shape):
    max_lr = _checks.real("max_lr", max_lr, low=0.0, low_open=True, high=MAX_LR)
    warmup_steps = _checks.integer("warmup_steps", warmup_steps, minimum=0, maximum=MAX_STEP)
    total_steps = _checks.integer("total_steps", total_steps, minimum=1, maximum=MAX_STEP)
    if warmup_steps >= total_steps:
        raise ValueError(f"warmup_steps must be < total_steps = {total_steps}, got {warmup_steps}")
    if _checks.real("min_lr", min_lr, low=0.0, high=MAX_LR) > max_lr:
        raise ValueError(f"min_lr must be <= max_lr = {max_lr!r}, got {min_lr!r}")
    if _checks.real("start_lr", start_lr, low=0.0, high=MAX_LR) > max_lr:
        raise ValueError(f"start_lr must be <= max_lr = {max_lr!r}, got {start_lr!r}")
    _checks.choice("warmup_shape", warmup_shape, WARMUP_SHAPES)
    return warmup_steps, total_steps


def _warmup_part(max_lr, warmup_steps, start_lr, warmup_shape):
    if warmup_shape == "linear":
        return Linear(start_lr, max_lr, warmup_steps)  # the repr every notebook shows
    if warmup_shape == "exponential" and start_lr == 0:
        raise ValueError(f"start_lr must be > 0 for warmup_shape='exponential' (a geometric rise cannot "
                         f"start at 0), got {start_lr!r}")
    return Warmup(max_lr, warmup_steps, start_lr, warmup_shape)


def warmup_cosine(max_lr, total_steps, warmup_steps, min_lr=0.0, start_lr=0.0, warmup_shape="linear") -> Join:
    r"""Warmup from ``start_lr`` to ``max_lr``, then cosine to ``min_lr``; T includes warmup.

    .. math:: \eta_t = \text{Warmup}(\eta_{max}, W, \eta_{start}, \text{shape})(t) \text{ for } t < W, \text{ then }
              \text{CosineAnnealing}(\eta_{max}, T - W, \eta_{min})(t - W)

    The warmup is ``Linear(start_lr, max_lr, W)`` (``warmup_shape="linear"``) or ``Warmup`` with
    the ``"cosine"`` or ``"exponential"`` shape. Holds ``min_lr`` after T. With the linear warmup
    it equals Keras ``CosineDecay(start_lr, T - W, alpha=min_lr/max_lr, warmup_target=max_lr,
    warmup_steps=W)``. Goyal et al., 2017; Loshchilov & Hutter, 2017.

    >>> warmup_cosine(1.0, 4, 2).curve(5).round(3).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    warmup_steps, total_steps = _check_warmup(max_lr, total_steps, warmup_steps, min_lr, start_lr, warmup_shape)
    decay = CosineAnnealing(max_lr, total_steps - warmup_steps, min_lr)
    if warmup_steps == 0:
        return Join((decay,), ())
    return Join((_warmup_part(max_lr, warmup_steps, start_lr, warmup_shape), decay), (warmup_steps,))


def warmup_linear(max_lr, total_steps, warmup_steps, min_lr=0.0, start_lr=0.0, warmup_shape="linear") -> Join:
    r"""Warmup from ``start_lr`` to ``max_lr``, then linear decay to ``min_lr``; T includes warmup.

    .. math:: \eta_t = \text{Warmup}(\eta_{max}, W, \eta_{start}, \text{shape})(t) \text{ for } t < W, \text{ then }
              \text{Linear}(\eta_{max}, \eta_{min}, T - W)(t - W)

    The warmup is ``Linear(start_lr, max_lr, W)`` (``warmup_shape="linear"``) or ``Warmup`` with
    the ``"cosine"`` or ``"exponential"`` shape. Holds ``min_lr`` after T. torch:
    ``SequentialLR([LinearLR, LinearLR])``; the BERT fine-tuning recipe. Devlin et al., 2019;
    Defazio et al., 2023.

    >>> warmup_linear(1.0, 4, 2).curve(5).round(3).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    warmup_steps, total_steps = _check_warmup(max_lr, total_steps, warmup_steps, min_lr, start_lr, warmup_shape)
    decay = Linear(max_lr, min_lr, total_steps - warmup_steps)
    if warmup_steps == 0:
        return Join((decay,), ())
    return Join((_warmup_part(max_lr, warmup_steps, start_lr, warmup_shape), decay), (warmup_steps,))


SCHEDULES: dict[str, type] = {
    "constant": Constant,
    "exponential": ExponentialDecay,
    "step": StepDecay,
    "piecewise": PiecewiseConstant,
    "inverse_time": InverseTimeDecay,
    "inverse_sqrt": InverseSqrtDecay,
    "polynomial": PolynomialDecay,
    "linear": Linear,
    "warmup": Warmup,
    "cosine": CosineAnnealing,
    "cosine_restarts": CosineWarmRestarts,
    "onecycle": OneCycle,
    "cyclic": Cyclic,
    "wsd": WarmupStableDecay,
}
"""Short names -> schedule classes, for widgets, the CLI and experiment configs."""

# field name -> metadata of the first SCHEDULES class with that field: for factories and for
# schedules of one's own whose fields carry no metadata (``field_metadata``)
_KNOWN_FIELDS: dict[str, dict] = {}
for _cls in SCHEDULES.values():
    for _f in dataclasses.fields(_cls):
        _KNOWN_FIELDS.setdefault(_f.name, dict(_f.metadata))
del _cls, _f


def known_field(name: str) -> dict:
    """The metadata of the course field called ``name`` (first ``SCHEDULES`` class that has it), or ``{}``.

    >>> known_field("min_lr")["role"]
    'floor'
    """
    return dict(_KNOWN_FIELDS.get(name, {}))
