r"""Learning-rate schedules: frozen, pure ``step -> lr`` callables.

``step`` is the number of optimizer updates already done, 0-based: ``sched(0)`` is the LR of
the first update. Every schedule is a frozen dataclass with no hidden state, so its repr is a
plot title, ``dataclasses.asdict`` is its config, it pickles, compares and hashes, and resuming
is calling it at the saved step. ``curve(n)`` evaluates steps ``0 .. n-1`` at once with numpy.

All LRs are absolute values (``lr``, ``max_lr``, ``min_lr``, ``end_lr``), never fractions.
Counts (``total_steps``, ``warmup_steps``, ``decay_steps``, ``cycle_steps``) are updates.
This module never imports torch; ``lrcourse.torch_bridge`` applies a schedule to an optimizer.

>>> sched = warmup_cosine(max_lr=1.0, total_steps=10, warmup_steps=2)
>>> sched.curve(11).round(3).tolist()
[0.0, 0.5, 1.0, 0.962, 0.854, 0.691, 0.5, 0.309, 0.146, 0.038, 0.0]
"""
from __future__ import annotations

import abc
import math
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Schedule",
    "Constant",
    "ExponentialDecay",
    "StepDecay",
    "PiecewiseConstant",
    "InverseTimeDecay",
    "PolynomialDecay",
    "Linear",
    "CosineAnnealing",
    "CosineWarmRestarts",
    "OneCycle",
    "Cyclic",
    "Join",
    "WarmupStableDecay",
    "warmup_cosine",
    "warmup_linear",
    "SCHEDULES",
    "ReduceLROnPlateau",
]


# --- validation helpers: every message names the parameter and the value received ----------


def _real(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _positive(name, value):
    value_f = _real(name, value)
    if value_f <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value_f


def _non_negative(name, value):
    value_f = _real(name, value)
    if value_f < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value_f


def _integer(name, value, minimum):
    # integral floats (1e4) are accepted for counts a human typed; 10.5 is not a count
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not isinstance(value, numbers.Integral) and not (
        math.isfinite(value) and float(value).is_integer()
    ):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def _choice(name, value, options):
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {options}, got {value!r}")
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _boundaries(name, value):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of integers, got {value!r}")
    out = tuple(_integer(f"{name}[{i}]", b, 1) for i, b in enumerate(value))
    if any(b >= c for b, c in zip(out, out[1:])):
        raise ValueError(f"{name} must be strictly increasing, got {value!r}")
    return out


def _set(obj, name, value):
    object.__setattr__(obj, name, value)  # frozen dataclass: normalise once, in __post_init__


def _check_decay_fields(sched):
    """Validate and normalise ``lr, decay_rate, decay_steps, staircase`` (exponential, inverse time)."""
    _set(sched, "lr", _positive("lr", sched.lr))
    _set(sched, "decay_rate", _positive("decay_rate", sched.decay_rate))
    _set(sched, "decay_steps", _integer("decay_steps", sched.decay_steps, 1))
    if not isinstance(sched.staircase, (bool, np.bool_)):
        raise TypeError(f"staircase must be a bool, got {sched.staircase!r}")
    _set(sched, "staircase", bool(sched.staircase))


def _check_step(step):
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, numbers.Integral):
        raise TypeError(f"step must be an integer, got {step!r}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step!r}")
    return int(step)


# --- the base --------------------------------------------------------------------------------


class Schedule(abc.ABC):
    r"""A pure ``step -> lr`` function; subclasses are frozen dataclasses.

    A subclass implements ``_lr(t)`` once, on an int64 array of steps, and gets ``__call__``
    (one step, validated, a Python float) and ``curve`` (steps ``0 .. n-1``, vectorised).

    >>> isinstance(Constant(0.1), Schedule), Constant(0.1).curve(3).tolist()
    (True, [0.1, 0.1, 0.1])
    """

    __slots__ = ()

    def __call__(self, step) -> float:
        return float(self._lr(np.array([_check_step(step)], dtype=np.int64))[0])

    def curve(self, num_steps) -> np.ndarray:
        """LR of steps ``0 .. num_steps - 1`` as a float64 array (one numpy pass, no loop)."""
        return self._lr(np.arange(_integer("num_steps", num_steps, 0), dtype=np.int64))

    @abc.abstractmethod
    def _lr(self, t: np.ndarray) -> np.ndarray:
        """LR at each step of ``t`` (int64, all >= 0) as a float64 array of the same shape."""


# --- the schedules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Constant(Schedule):
    r"""The same LR at every step.

    .. math:: \eta_t = \eta_0

    where eta_0 is ``lr``. No horizon: it never changes (torch: no scheduler; Keras: a float).
    The baseline every decay is measured against. Bottou, Curtis & Nocedal, 2018.

    >>> [round(Constant(0.1)(t), 3) for t in range(3)]
    [0.1, 0.1, 0.1]
    """

    lr: float

    def __post_init__(self):
        _set(self, "lr", _positive("lr", self.lr))

    def _lr(self, t):
        return np.full(t.shape, self.lr)


@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    r"""Multiply the LR by ``decay_rate`` every ``decay_steps`` updates.

    .. math:: \eta_t = \eta_0 \, \gamma^{t / s} \quad (\text{staircase: } \gamma^{\lfloor t / s \rfloor})

    where t is ``step``, eta_0 ``lr``, gamma ``decay_rate``, s ``decay_steps``. No horizon:
    it keeps decaying. Equals Keras ``ExponentialDecay``; torch ``ExponentialLR(gamma)`` is
    ``decay_steps=1`` and torch ``StepLR`` the staircase. Senior et al., 2013.

    >>> [round(ExponentialDecay(1.0, 0.5, decay_steps=2)(t), 3) for t in range(5)]
    [1.0, 0.707, 0.5, 0.354, 0.25]
    """

    lr: float
    decay_rate: float
    decay_steps: int = 1
    staircase: bool = False

    def __post_init__(self):
        _check_decay_fields(self)

    def _lr(self, t):
        p = t // self.decay_steps if self.staircase else t / self.decay_steps
        return self.lr * self.decay_rate ** p.astype(np.float64)


@dataclass(frozen=True)
class StepDecay(Schedule):
    r"""Multiply the LR by ``gamma`` every ``step_size`` updates (a staircase).

    .. math:: \eta_t = \eta_0 \, \gamma^{\lfloor t / s \rfloor}

    where t is ``step``, eta_0 ``lr``, s ``step_size``, gamma ``gamma``. No horizon: it keeps
    dropping. Equals torch ``StepLR`` and Keras ``ExponentialDecay(staircase=True)``.
    He et al., ResNet, 2016 (divide by 10 at fixed points).

    >>> [round(StepDecay(1.0, step_size=2)(t), 3) for t in range(5)]
    [1.0, 1.0, 0.1, 0.1, 0.01]
    """

    lr: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self):
        _set(self, "lr", _positive("lr", self.lr))
        _set(self, "step_size", _integer("step_size", self.step_size, 1))
        _set(self, "gamma", _positive("gamma", self.gamma))

    def _lr(self, t):
        return self.lr * self.gamma ** (t // self.step_size).astype(np.float64)


@dataclass(frozen=True)
class PiecewiseConstant(Schedule):
    r"""Hold ``values[i]`` from ``boundaries[i-1]`` up to, not including, ``boundaries[i]``.

    .. math:: \eta_t = v_i, \quad i = \#\{j : b_j \le t\}

    where t is ``step``, b ``boundaries`` (the first step of each new value, like torch
    ``MultiStepLR`` milestones), v ``values``. After the last boundary: ``values[-1]`` forever.
    Keras ``PiecewiseConstantDecay`` switches one step later (``step > boundary``).
    Goyal et al., 2017 (divide by 10 at epochs 30, 60, 80).

    >>> [round(PiecewiseConstant((2, 4), (1.0, 0.1, 0.01))(t), 3) for t in range(5)]
    [1.0, 1.0, 0.1, 0.1, 0.01]
    """

    boundaries: tuple
    values: tuple

    def __post_init__(self):
        _set(self, "boundaries", _boundaries("boundaries", self.boundaries))
        if isinstance(self.values, (str, bytes)) or not hasattr(self.values, "__iter__"):
            raise TypeError(f"values must be a sequence of LRs, got {self.values!r}")
        values = tuple(_positive(f"values[{i}]", v) for i, v in enumerate(self.values))
        if len(values) != len(self.boundaries) + 1:
            raise ValueError(
                f"values must have len(boundaries) + 1 = {len(self.boundaries) + 1} entries, "
                f"got {len(values)}: {self.values!r}"
            )
        _set(self, "values", values)

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

    lr: float
    decay_rate: float
    decay_steps: int = 1
    staircase: bool = False

    def __post_init__(self):
        _check_decay_fields(self)

    def _lr(self, t):
        p = t // self.decay_steps if self.staircase else t / self.decay_steps
        return self.lr / (1.0 + self.decay_rate * p.astype(np.float64))


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

    lr: float
    total_steps: int
    end_lr: float = 0.0
    power: float = 1.0

    def __post_init__(self):
        _set(self, "lr", _positive("lr", self.lr))
        _set(self, "total_steps", _integer("total_steps", self.total_steps, 1))
        _set(self, "end_lr", _non_negative("end_lr", self.end_lr))
        _set(self, "power", _positive("power", self.power))
        if self.end_lr > self.lr:
            raise ValueError(f"end_lr must be <= lr = {self.lr!r}, got {self.end_lr!r}")

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

    start_lr: float
    end_lr: float
    total_steps: int

    def __post_init__(self):
        _set(self, "start_lr", _non_negative("start_lr", self.start_lr))
        _set(self, "end_lr", _non_negative("end_lr", self.end_lr))
        _set(self, "total_steps", _integer("total_steps", self.total_steps, 1))
        if self.start_lr == 0 and self.end_lr == 0:
            raise ValueError(f"start_lr and end_lr cannot both be 0, got {self.start_lr!r}")

    def _lr(self, t):
        fraction = np.minimum(t, self.total_steps) / self.total_steps
        # this form is exact at both ends (start + (end - start) * 1 can miss a tiny end_lr)
        return (1.0 - fraction) * self.start_lr + fraction * self.end_lr


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

    lr: float
    total_steps: int
    min_lr: float = 0.0

    def __post_init__(self):
        _set(self, "lr", _positive("lr", self.lr))
        _set(self, "total_steps", _integer("total_steps", self.total_steps, 1))
        _set(self, "min_lr", _non_negative("min_lr", self.min_lr))
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr must be <= lr = {self.lr!r}, got {self.min_lr!r}")

    def _lr(self, t):
        # same operation order as torch (pi * t / T) so both agree to the last bits
        cosine = 1.0 + np.cos(np.pi * np.minimum(t, self.total_steps) / self.total_steps)
        return self.min_lr + (self.lr - self.min_lr) * cosine / 2.0


@dataclass(frozen=True)
class CosineWarmRestarts(Schedule):
    r"""Cosine decay to ``min_lr``, then restart at the peak; cycles grow by ``cycle_mult``.

    .. math:: \eta_t = \eta_{min} + (\eta_0 - \eta_{min})\, d^{\,i} \tfrac12\bigl(1 + \cos\tfrac{\pi t_i}{T_i}\bigr),
              \quad T_i = T_0 m^i

    where t is ``step``, i the index of the current cycle, t_i the steps since it started,
    T_0 ``cycle_steps``, m ``cycle_mult``, d ``peak_decay``, eta_0 ``lr``, eta_min ``min_lr``.
    No horizon: it restarts forever. Equals torch ``CosineAnnealingWarmRestarts(T_0, T_mult,
    eta_min)`` (integer ``cycle_mult``, ``peak_decay=1``) and Keras ``CosineDecayRestarts(t_mul,
    m_mul, alpha=min_lr/lr)``; with a fractional ``cycle_mult`` the cycle is found exactly here,
    while Keras's float32 logarithm can misplace steps next to a restart.
    Loshchilov & Hutter, SGDR, 2017.

    >>> [round(CosineWarmRestarts(1.0, 2, cycle_mult=2)(t), 3) for t in range(7)]
    [1.0, 0.5, 1.0, 0.854, 0.5, 0.146, 1.0]
    """

    lr: float
    cycle_steps: int
    cycle_mult: float = 1
    min_lr: float = 0.0
    peak_decay: float = 1.0

    def __post_init__(self):
        _set(self, "lr", _positive("lr", self.lr))
        _set(self, "cycle_steps", _integer("cycle_steps", self.cycle_steps, 1))
        mult = _real("cycle_mult", self.cycle_mult)
        if mult < 1:
            raise ValueError(f"cycle_mult must be >= 1, got {self.cycle_mult!r}")
        _set(self, "cycle_mult", int(mult) if mult.is_integer() else mult)
        _set(self, "min_lr", _non_negative("min_lr", self.min_lr))
        _set(self, "peak_decay", _positive("peak_decay", self.peak_decay))
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr must be <= lr = {self.lr!r}, got {self.min_lr!r}")
        if self.peak_decay > 1:
            raise ValueError(f"peak_decay must be in (0, 1], got {self.peak_decay!r}")

    def _restarts(self, last: int):
        """Cycle starts up to past step ``last`` and each cycle's length (tables: few cycles).

        Restarts sit at the geometric sums T0 (m^i - 1) / (m - 1); listing them and looking each
        step up is exact, where a logarithm can land one cycle off at a restart.
        """
        m, t0 = self.cycle_mult, self.cycle_steps
        starts = [0.0]
        while starts[-1] <= last:
            starts.append(t0 * (m ** len(starts) - 1) / (m - 1))
        return np.array(starts), t0 * float(m) ** np.arange(len(starts))

    def _shape(self, since_restart, length, peak):
        # written as torch writes it, so both give the same floats (bit for bit in the oracle runs)
        return self.min_lr + (self.lr - self.min_lr) * peak * (1.0 + np.cos(np.pi * since_restart / length)) / 2.0

    def _peaks(self, cycles: int):
        return self.peak_decay ** np.arange(cycles) if self.peak_decay != 1 else np.ones(cycles)

    def _lr(self, t):
        m, t0 = self.cycle_mult, self.cycle_steps
        if m == 1:
            i = t // t0
            since_restart, length = t - i * t0, float(t0)
        else:
            starts, lengths = self._restarts(int(t.max()) if t.size else 0)
            i = np.searchsorted(starts, t, side="right") - 1
            since_restart, length = t - starts[i], lengths[i]
        peak = self._peaks(int(i.max()) + 1 if i.size else 1)[i] if self.peak_decay != 1 else 1.0
        return self._shape(since_restart, length, peak)

    def curve(self, num_steps) -> np.ndarray:
        """LR of steps ``0 .. num_steps - 1``, filled cycle by cycle (no per-step cycle lookup)."""
        n = _integer("num_steps", num_steps, 0)
        out = np.empty(n)
        if self.cycle_mult == 1:
            i = np.arange(-(-n // self.cycle_steps))
            starts, lengths = i * self.cycle_steps, np.full(len(i), float(self.cycle_steps))
        else:
            starts, lengths = self._restarts(max(n - 1, 0))
        peaks = self._peaks(len(starts))
        for k in range(len(starts)):
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
    e_2 = 2pT - 2 first); anneal is cosine (``anneal="cos"``) or linear. ``momentum(step)``
    cycles the other way, ``max_momentum`` -> ``base_momentum`` -> ``max_momentum``.
    Equals torch ``OneCycleLR`` for t < T; holds the final LR from T - 1 on (torch's T-th
    ``step()`` gives a wrong LR, past the end of the anneal, and the next one raises). Smith & Topin, Super-Convergence, 2017.

    >>> [round(OneCycle(1.0, 5, pct_start=0.4, div_factor=10)(t), 3) for t in range(6)]
    [0.1, 1.0, 0.75, 0.25, 0.0, 0.0]
    """

    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    anneal: str = "cos"
    three_phase: bool = False
    base_momentum: float = 0.85
    max_momentum: float = 0.95

    def __post_init__(self):
        _set(self, "max_lr", _positive("max_lr", self.max_lr))
        _set(self, "total_steps", _integer("total_steps", self.total_steps, 1))
        _set(self, "pct_start", _real("pct_start", self.pct_start))
        if not 0 < self.pct_start < 1:
            raise ValueError(f"pct_start must be in (0, 1), got {self.pct_start!r}")
        _set(self, "div_factor", _positive("div_factor", self.div_factor))
        _set(self, "final_div_factor", _positive("final_div_factor", self.final_div_factor))
        _choice("anneal", self.anneal, ("cos", "linear"))
        if not isinstance(self.three_phase, (bool, np.bool_)):
            raise TypeError(f"three_phase must be a bool, got {self.three_phase!r}")
        _set(self, "three_phase", bool(self.three_phase))
        _set(self, "base_momentum", _non_negative("base_momentum", self.base_momentum))
        _set(self, "max_momentum", _non_negative("max_momentum", self.max_momentum))
        if self.base_momentum > self.max_momentum:
            raise ValueError(
                f"base_momentum must be <= max_momentum = {self.max_momentum!r}, "
                f"got {self.base_momentum!r}"
            )
        if self.max_momentum >= 1:
            raise ValueError(f"max_momentum must be < 1, got {self.max_momentum!r}")

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
        return self._momentum(np.arange(_integer("num_steps", num_steps, 0), dtype=np.int64))

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
    gamma^t with gamma ``gamma`` (``"exp_range"``). No horizon: it cycles forever.
    Equals torch ``CyclicLR`` (LR only; no momentum cycling here). Smith, CLR, 2017.

    >>> [round(Cyclic(0.1, 1.0, step_size_up=2)(t), 3) for t in range(6)]
    [0.1, 0.55, 1.0, 0.55, 0.1, 0.55]
    """

    base_lr: float
    max_lr: float
    step_size_up: int = 2000
    step_size_down: int | None = None
    mode: str = "triangular"
    gamma: float = 1.0

    def __post_init__(self):
        _set(self, "base_lr", _positive("base_lr", self.base_lr))
        _set(self, "max_lr", _positive("max_lr", self.max_lr))
        if self.base_lr > self.max_lr:
            raise ValueError(f"base_lr must be <= max_lr = {self.max_lr!r}, got {self.base_lr!r}")
        _set(self, "step_size_up", _integer("step_size_up", self.step_size_up, 1))
        if self.step_size_down is not None:
            _set(self, "step_size_down", _integer("step_size_down", self.step_size_down, 1))
        _choice("mode", self.mode, ("triangular", "triangular2", "exp_range"))
        _set(self, "gamma", _positive("gamma", self.gamma))
        if self.gamma > 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma!r}")

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

    schedules: tuple
    boundaries: tuple

    def __post_init__(self):
        if isinstance(self.schedules, Schedule) or not hasattr(self.schedules, "__iter__"):
            raise TypeError(f"schedules must be a sequence of Schedule, got {self.schedules!r}")
        schedules = tuple(self.schedules)
        for i, s in enumerate(schedules):
            if not isinstance(s, Schedule):
                raise TypeError(f"schedules[{i}] must be a Schedule, got {s!r}")
        if not schedules:
            raise ValueError(f"schedules must not be empty, got {self.schedules!r}")
        _set(self, "schedules", schedules)
        _set(self, "boundaries", _boundaries("boundaries", self.boundaries))
        if len(self.boundaries) != len(schedules) - 1:
            raise ValueError(
                f"boundaries must have len(schedules) - 1 = {len(schedules) - 1} entries, "
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
        n = _integer("num_steps", num_steps, 0)
        edges = (0,) + self.boundaries + (n,)
        pieces = [
            schedule.curve(max(0, min(end, n) - start))
            for schedule, start, end in zip(self.schedules, edges, edges[1:])
        ]
        return np.concatenate(pieces)


@dataclass(frozen=True)
class WarmupStableDecay(Schedule):
    r"""Warm up linearly to ``max_lr``, hold it, then decay to ``min_lr`` over the last ``decay_steps``.

    .. math:: \eta_t = \begin{cases} \eta_{max}\, t / W & t < W \\
              \eta_{min} + (\eta_{max} - \eta_{min})\, f\bigl(\tfrac{\min(t, T) - (T - D)}{D}\bigr) & t \ge W \end{cases}

    where t is ``step``, T ``total_steps`` (warmup included), W ``warmup_steps``, D
    ``decay_steps``, f(p) = 1 - p (``decay="linear"``), (1 + cos pi p)/2 (``"cosine"``) or
    1 - sqrt(p) (``"sqrt"``), clipped to p in [0, 1] so the stable phase is f(0) = 1.
    Holds ``min_lr`` after T. Warmup starts at 0 (``sched(0) == 0`` when W > 0, as Keras's
    warmup from 0). No torch or Keras equivalent. Hu et al., MiniCPM, 2024.

    >>> [round(WarmupStableDecay(1.0, 8, 2, 4)(t), 3) for t in range(9)]
    [0.0, 0.5, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    """

    max_lr: float
    total_steps: int
    warmup_steps: int
    decay_steps: int
    min_lr: float = 0.0
    decay: str = "linear"

    def __post_init__(self):
        _set(self, "max_lr", _positive("max_lr", self.max_lr))
        _set(self, "total_steps", _integer("total_steps", self.total_steps, 1))
        _set(self, "warmup_steps", _integer("warmup_steps", self.warmup_steps, 0))
        _set(self, "decay_steps", _integer("decay_steps", self.decay_steps, 1))
        _set(self, "min_lr", _non_negative("min_lr", self.min_lr))
        _choice("decay", self.decay, ("linear", "cosine", "sqrt"))
        if self.min_lr > self.max_lr:
            raise ValueError(f"min_lr must be <= max_lr = {self.max_lr!r}, got {self.min_lr!r}")
        if self.warmup_steps + self.decay_steps > self.total_steps:
            raise ValueError(
                f"warmup_steps + decay_steps must be <= total_steps = {self.total_steps}, "
                f"got {self.warmup_steps} + {self.decay_steps}"
            )

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
        warmup = self.max_lr * t / max(self.warmup_steps, 1)
        return np.where(t < self.warmup_steps, warmup, decayed)


# --- convenience constructors: they return a Join, so the repr shows how they are built ------


def _check_warmup(max_lr, total_steps, warmup_steps, min_lr, start_lr):
    max_lr = _positive("max_lr", max_lr)
    warmup_steps = _integer("warmup_steps", warmup_steps, 0)
    total_steps = _integer("total_steps", total_steps, 1)
    if warmup_steps >= total_steps:
        raise ValueError(f"warmup_steps must be < total_steps = {total_steps}, got {warmup_steps}")
    if _non_negative("min_lr", min_lr) > max_lr:
        raise ValueError(f"min_lr must be <= max_lr = {max_lr!r}, got {min_lr!r}")
    if _non_negative("start_lr", start_lr) > max_lr:
        raise ValueError(f"start_lr must be <= max_lr = {max_lr!r}, got {start_lr!r}")
    return warmup_steps, total_steps


def warmup_cosine(max_lr, total_steps, warmup_steps, min_lr=0.0, start_lr=0.0) -> Join:
    r"""Linear warmup from ``start_lr`` to ``max_lr``, then cosine to ``min_lr``; T includes warmup.

    .. math:: \eta_t = \text{Linear}(\eta_{start}, \eta_{max}, W)(t) \text{ for } t < W, \text{ then }
              \text{CosineAnnealing}(\eta_{max}, T - W, \eta_{min})(t - W)

    Holds ``min_lr`` after T. Equals Keras ``CosineDecay(start_lr, T - W, alpha=min_lr/max_lr,
    warmup_target=max_lr, warmup_steps=W)``. Goyal et al., 2017; Loshchilov & Hutter, 2017.

    >>> warmup_cosine(1.0, 4, 2).curve(5).round(3).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    warmup_steps, total_steps = _check_warmup(max_lr, total_steps, warmup_steps, min_lr, start_lr)
    decay = CosineAnnealing(max_lr, total_steps - warmup_steps, min_lr)
    if warmup_steps == 0:
        return Join((decay,), ())
    return Join((Linear(start_lr, max_lr, warmup_steps), decay), (warmup_steps,))


def warmup_linear(max_lr, total_steps, warmup_steps, min_lr=0.0, start_lr=0.0) -> Join:
    r"""Linear warmup from ``start_lr`` to ``max_lr``, then linear decay to ``min_lr``; T includes warmup.

    .. math:: \eta_t = \text{Linear}(\eta_{start}, \eta_{max}, W)(t) \text{ for } t < W, \text{ then }
              \text{Linear}(\eta_{max}, \eta_{min}, T - W)(t - W)

    Holds ``min_lr`` after T. torch: ``SequentialLR([LinearLR, LinearLR])``; the BERT
    fine-tuning recipe. Devlin et al., 2019; Defazio et al., 2023.

    >>> warmup_linear(1.0, 4, 2).curve(5).round(3).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    warmup_steps, total_steps = _check_warmup(max_lr, total_steps, warmup_steps, min_lr, start_lr)
    decay = Linear(max_lr, min_lr, total_steps - warmup_steps)
    if warmup_steps == 0:
        return Join((decay,), ())
    return Join((Linear(start_lr, max_lr, warmup_steps), decay), (warmup_steps,))


SCHEDULES: dict[str, type] = {
    "constant": Constant,
    "exponential": ExponentialDecay,
    "step": StepDecay,
    "piecewise": PiecewiseConstant,
    "inverse_time": InverseTimeDecay,
    "polynomial": PolynomialDecay,
    "linear": Linear,
    "cosine": CosineAnnealing,
    "cosine_restarts": CosineWarmRestarts,
    "onecycle": OneCycle,
    "cyclic": Cyclic,
    "wsd": WarmupStableDecay,
}
"""Short names -> schedule classes, for widgets, the CLI and experiment configs."""

from lrcourse.plateau import ReduceLROnPlateau  # noqa: E402  re-exported: the performance-based schedule
