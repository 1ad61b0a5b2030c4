"""Self-checking exercises: compare a learner's answer with the course's, explain the first mistake.

Three checks, each prints a short, kind verdict and returns a :class:`Result`
(``passed``, ``score`` in 0..1, ``message``; truthy when passed, so ``assert check_...(...)``
works for autograding):

- ``check_schedule(learner, reference)``: a schedule written from scratch against the course
  schedule, on a fixed parameter set and a few random ones, at every step up to past the horizon.
  ``learner`` is either a function ``fn(step, **params) -> lr`` whose parameter names are the
  reference's field names (``def my_cosine(step, lr, total_steps, min_lr=0.0)``), or a class /
  factory ``Cls(**params)`` returning a ``step -> lr`` callable. Only the fields the learner
  accepts are passed and varied; the others keep the reference's values. ``reference`` is a
  schedule class (``CosineAnnealing``), an instance (``CosineAnnealing(0.1, 100)``: its values are
  the fixed set), a factory function with ``params`` (``warmup_cosine, params=dict(max_lr=0.1,
  total_steps=100, warmup_steps=10)``: random sets vary its arguments too), or any plain
  ``step -> lr`` callable without ``params`` (checked as is, no random sets).
- ``check_value(answer, expected)``: a "compute this number" question.
- ``check_choice(answer, correct, explanations)``: multiple choice.

A failure message names the parameters, the step, the expected and the returned value, and a hint
picked from typical mistakes (off by one step, a fraction instead of an absolute LR, ``t`` where the
formula has ``t / decay_steps``, per-epoch vs per-step, no clamp after the horizon, staircase,
``None``, an exception; the keys of ``HINT_KEYS``). ``check_schedule(..., hints={key: text})``
replaces a hint's words for one exercise, where the generic ones would mislead (a momentum
schedule, a Keras reference). It never shows the solution's code. Random parameter sets are drawn
from the schedules' field metadata (``sample_params``; ``lrcourse.schedules.field_metadata``). A template that still raises
``NotImplementedError`` is "not attempted yet" (score 0), never a traceback.

>>> import math
>>> from lrcourse.schedules import CosineAnnealing
>>> def my_cosine(step, lr, total_steps, min_lr=0.0):
...     t = min(step, total_steps)
...     return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t / total_steps))
>>> r = check_schedule(my_cosine, CosineAnnealing)
✓ All 6 checks passed (6 parameter sets, 528 steps).
>>> r.passed, r.score
(True, 1.0)
>>> def no_clamp(step, lr, total_steps, min_lr=0.0):
...     return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * step / total_steps))
>>> check_schedule(no_clamp, CosineAnnealing(1.0, 10), random_params=0).score
✗ CosineAnnealing(lr=1.0, total_steps=10, min_lr=0.0), step 11: expected 0, got 0.0244717.
  Hint: your values are right up to step 10 and wrong after total_steps=10: the formula only covers 0..total_steps; what should the LR be after it? (the docstring says what happens past the horizon)
  0 of 1 parameter sets right (score 0.00).
0.0
>>> check_value(0.9 ** 10, 0.3487).passed
✓ Correct.
True
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lrcourse.schedules import field_metadata, known_field

__all__ = ["Result", "check_schedule", "check_value", "check_choice", "sample_params", "HINT_KEYS"]

NOT_ATTEMPTED = ("⋯ Not attempted yet: replace `raise NotImplementedError` with your code, "
                 "then run this cell again.")

_MAX_STEPS = 2000                                                # keep a check under ~0.1 s

#: the typical mistakes ``check_schedule`` recognises, in the order it tries them; ``hints={key: text}``
#: replaces a hint's text for one exercise (e.g. a momentum exercise, or a reference that is not
#: a course schedule, where the generic words "the LR" or "the course values" would mislead)
HINT_KEYS = (
    "error",          # the learner's code raised
    "none",           # returned None
    "not_a_number",   # returned a container or a string
    "non_finite",     # returned NaN or inf
    "constant",       # the same value at every step
    "late",           # every value one step late (the LR of step t-1 at step t)
    "early",          # every value one step early (the LR of step t+1 at step t)
    "fraction",       # a multiplier of the starting LR instead of an absolute LR
    "staircase",      # staircase=True and False swapped
    "raw_step",       # the raw step t where the formula has t / <period>
    "late_in_phase",  # one step late in one part of the curve
    "early_in_phase", # one step early in one part of the curve
    "horizon",        # right up to total_steps, wrong after it
    "warmup",         # right during the warmup, wrong after it
    "too_fast",       # the right shape k times too fast (per epoch vs per step)
    "too_slow",       # the right shape k times too slow
    "scale",          # every value the same multiple of the expected one
    "first_step",     # already step 0 differs
    "formula",        # none of the above: compare the formula term by term
)


@dataclass(frozen=True)
class Result:
    """Outcome of a check: ``passed``, ``score`` (fraction of checks right, 0..1), ``message``."""

    passed: bool
    score: float
    message: str
    checks: int = 1
    failures: int = 0
    attempted: bool = True

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:  # short: the message itself was already printed
        return f"Result(passed={self.passed}, score={self.score:.2f})"


def _finish(result: Result, verbose: bool) -> Result:
    if verbose:
        print(result.message)
    return result


def _is_blank(answer: Any) -> bool:
    return answer is None or answer is Ellipsis or answer is NotImplemented or (
        isinstance(answer, str) and not answer.strip())


# ----------------------------------------------------------------------------- values and choices
def check_value(answer: Any, expected: float, *, rtol: float = 1e-2, hint: str | None = None,
                mistakes: Mapping[float, str] | None = None, verbose: bool = True) -> Result:
    """Check a numeric answer within relative tolerance ``rtol``; never print ``expected``.

    ``mistakes`` maps values a typical wrong reasoning gives to an explanation, e.g.
    ``{0.9 ** 9: "that is after 9 updates: count the first epoch too"}``.

    >>> check_value(0.5, 0.3487, hint="gamma is applied once per epoch").passed
    ✗ Not quite: 0.5 is too high. Hint: gamma is applied once per epoch
    False
    """
    if _is_blank(answer):
        return _finish(Result(False, 0.0, NOT_ATTEMPTED.replace(
            "replace `raise NotImplementedError` with your code", "fill in your answer"),
            attempted=False), verbose)
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return _finish(Result(False, 0.0, f"✗ Your answer should be a number, got "
                              f"{type(answer).__name__} {answer!r}."), verbose)
    if not math.isfinite(value):
        return _finish(Result(False, 0.0, f"✗ Not quite: your answer is {value}, not a finite number: look for a "
                              "division by zero or an overflow." + (f" Hint: {hint}" if hint else "")), verbose)
    if _close(value, expected, rtol):
        return _finish(Result(True, 1.0, "✓ Correct."), verbose)
    for wrong, why in (mistakes or {}).items():
        if _close(value, wrong, rtol):
            return _finish(Result(False, 0.0, f"✗ Not quite: {why}"), verbose)
    side = "too high" if value > expected else "too low"
    text = f"✗ Not quite: {value:.4g} is {side}."
    if value and expected and value * expected > 0:
        ratio = math.log10(abs(value / expected))
        if abs(ratio - round(ratio)) < 0.01 and round(ratio) != 0:
            text += f" It is off by a factor of 10^{round(ratio)}: check the units and the decimal point."
    if hint:
        text += f" Hint: {hint}"
    return _finish(Result(False, 0.0, text), verbose)


def _norm_choice(x: Any) -> Any:
    if isinstance(x, str):
        return x.strip().strip(").").strip().lower()
    return x


def check_choice(answer: Any, correct: Any, explanations: Mapping[Any, str] | None = None, *,
                 hint: str | None = None, verbose: bool = True) -> Result:
    """Check a multiple-choice answer (``"b"``), or a set of answers when ``correct`` is a set.

    ``explanations`` maps each option to why it is right or wrong; the picked option's is shown.
    ``hint`` is added to a wrong answer's message (after the option's explanation, if any).

    >>> check_choice("B", "b", {"a": "Keras steps per batch.", "b": "torch steps per epoch."}).passed
    ✓ Correct: torch steps per epoch.
    True
    """
    if _is_blank(answer) or (isinstance(answer, (set, list, tuple, frozenset)) and not answer):
        return _finish(Result(False, 0.0, NOT_ATTEMPTED.replace(
            "replace `raise NotImplementedError` with your code", "pick an answer"),
            attempted=False), verbose)
    notes = {_norm_choice(k): v for k, v in (explanations or {}).items()}
    multi = isinstance(correct, (set, list, tuple, frozenset))
    if not multi and isinstance(answer, (set, list, tuple, frozenset)):
        if len(answer) != 1:
            options = f": one of {', '.join(sorted(map(str, notes)))}" if notes else ""
            return _finish(Result(False, 0.0, f"✗ This question has one answer; pick a single option{options}, "
                                  f"not {len(answer)}."), verbose)
        answer = next(iter(answer))
    items = answer if multi and isinstance(answer, (set, list, tuple, frozenset)) else [answer]
    if not all(isinstance(_norm_choice(a), (str, int, float, bool, type(None))) for a in items):
        return _finish(Result(False, 0.0, f"✗ Your answer should be an option such as 'a', got "
                              f"{type(answer).__name__} {answer!r}."), verbose)
    tail = f" Hint: {hint}" if hint else ""
    want = {_norm_choice(c) for c in correct} if multi else _norm_choice(correct)
    picked = ({_norm_choice(a) for a in answer} if isinstance(answer, (set, list, tuple, frozenset))
              else {_norm_choice(answer)}) if multi else _norm_choice(answer)
    options = set(notes)
    unknown = (picked if multi else {picked}) - options if options else set()
    if unknown:
        return _finish(Result(False, 0.0, f"✗ {', '.join(map(repr, sorted(unknown, key=str)))} is not one "
                              f"of the options: {', '.join(sorted(map(str, options)))}."), verbose)
    if picked == want:
        why = " ".join(notes[p] for p in sorted(picked, key=str) if p in notes) if multi else notes.get(picked, "")
        return _finish(Result(True, 1.0, "✓ Correct" + (f": {why}" if why else ".")), verbose)
    if multi:
        wrong = sorted(picked - want, key=str)
        text = "✗ Not quite."
        if wrong:
            text += " " + " ".join(f"{w}: {notes.get(w, 'not right.')}" for w in wrong)
        if want - picked:
            text += f" {len(want - picked)} right option(s) still missing."
        score = len(picked & want) / len(picked | want)
        return _finish(Result(False, score, text + tail), verbose)
    why = notes.get(picked)
    return _finish(Result(False, 0.0, (f"✗ Not quite: {why}" if why else "✗ Not quite, try again.") + tail), verbose)


# ----------------------------------------------------------------------------- schedules
def check_schedule(learner: Callable, reference: Any, *, params: Mapping[str, Any] | None = None,
                   num_steps: int | None = None, random_params: int = 5, seed: int = 0,
                   rtol: float = 1e-6, ranges: Mapping[str, Any] | None = None,
                   hints: Mapping[str, str] | None = None, verbose: bool = True) -> Result:
    """Compare ``learner`` with the course ``reference`` schedule at every step; explain the first miss.

    learner:       ``fn(step, **params) -> lr``, or ``Cls(**params)`` returning ``step -> lr``.
    reference:     a schedule class, a schedule instance, a factory ``f(**params) -> schedule``
                   (with ``params``), or a plain ``step -> lr`` callable (without ``params``).
    params:        the fixed parameter set (default: the instance's values, or typical values).
    num_steps:     steps 0..num_steps-1 are checked (default: a bit past the schedule's horizon).
    random_params: how many random parameter sets besides the fixed one (see :func:`sample_params`).
    ranges:        per-field sampling override: ``(lo, hi)`` uniform, or a list to choose from.
    rtol:          relative tolerance per value.
    hints:         ``{mistake: text}`` replacing the hint shown for that mistake in this exercise;
                   the mistakes are the keys of :data:`HINT_KEYS`.

    Score = fraction of parameter sets right at every step.

    >>> def late(step, lr, total_steps, min_lr=0.0):
    ...     return CosineAnnealing(lr, total_steps, min_lr)(max(step - 1, 0))
    >>> from lrcourse.schedules import CosineAnnealing
    >>> check_schedule(late, CosineAnnealing(1.0, 10), random_params=0,
    ...                hints={"late": "the first update already uses lr."}).score
    ✗ CosineAnnealing(lr=1.0, total_steps=10, min_lr=0.0), step 1: expected 0.975528, got 1.
      Hint: the first update already uses lr.
      0 of 1 parameter sets right (score 0.00).
    0.0
    """
    unknown = sorted(set(hints or {}) - set(HINT_KEYS))
    if unknown:
        raise ValueError(f"hints must use the keys of HINT_KEYS ({', '.join(HINT_KEYS)}), got {unknown}")
    cls, fixed = _reference_parts(reference, params)
    accepted, problem = _accepted_names(learner, fixed)
    if problem:
        return _finish(Result(False, 0.0, "✗ " + problem), verbose)
    sets = [fixed]
    if cls is not None and accepted:
        rng = random.Random(seed)
        for _ in range(random_params):
            drawn = sample_params(cls, rng, ranges=ranges, base=fixed, vary=accepted)
            if drawn is not None:
                sets.append(drawn)
    # A plain callable reference may have no docstring: then hints must not send the learner to one.
    documented = cls is not None or (inspect.isfunction(reference) and bool(inspect.getdoc(reference)))
    roles = field_metadata(cls) if cls is not None else {}
    failures, first, n_steps = 0, None, 0
    for values in sets:
        ref = cls(**values) if cls is not None else reference
        steps = range(num_steps if num_steps is not None else _default_num_steps(values))
        n_steps += len(steps)
        rebuild = (lambda values=values, **changes: cls(**{**values, **changes})) if cls is not None else None
        outcome = _run_one(learner, {k: v for k, v in values.items() if k in accepted}, ref, steps, rtol,
                           values, rebuild, documented=documented, roles=roles)
        if outcome == "not attempted":
            return _finish(Result(False, 0.0, NOT_ATTEMPTED, len(sets), len(sets), attempted=False), verbose)
        if outcome is not None:
            failures += 1
            if first is None:
                first = (values, ref, steps, outcome)
    score = (len(sets) - failures) / len(sets)
    if first is None:
        return _finish(Result(True, 1.0, f"✓ All {len(sets)} checks passed ({len(sets)} parameter sets, "
                              f"{n_steps} steps).", len(sets), 0), verbose)
    values, ref, steps, (step, got, expected, (key, hint)) = first
    hint = (hints or {}).get(key, hint)
    if cls is None:
        name = getattr(reference, "__name__", "the reference")
    elif inspect.isclass(cls):
        name = repr(ref)
    else:  # a factory: its call reads better than the Join it returns
        name = f"{cls.__name__}({', '.join(f'{k}={v!r}' for k, v in values.items())})"

    head = f"✗ {name}, step {step}: " + (f"expected {expected:.6g}, got {got}." if isinstance(got, str)
                                         else f"expected {expected:.6g}, got {got:.6g}.")
    text = f"{head}\n  Hint: {hint}\n  {len(sets) - failures} of {len(sets)} parameter sets right (score {score:.2f})."
    return _finish(Result(False, score, text, len(sets), failures), verbose)


def _reference_parts(reference: Any, params: Mapping[str, Any] | None) -> tuple[Callable | None, dict]:
    """(schedule class or factory, or None; fixed parameter dict) for any accepted form of ``reference``."""
    if inspect.isclass(reference) and dataclasses.is_dataclass(reference):
        fixed = dict(params) if params is not None else _typical_params(reference)
        return reference, fixed
    if dataclasses.is_dataclass(reference):
        fixed = {f.name: getattr(reference, f.name) for f in dataclasses.fields(reference)}
        fixed.update(params or {})
        return type(reference), fixed
    if callable(reference) and params is not None and not inspect.isclass(reference):
        return reference, dict(params)  # a factory such as warmup_cosine
    if callable(reference):
        return None, {}
    raise TypeError(f"reference must be a schedule class, instance or callable, got {reference!r}")


def _accepted_names(learner: Callable, fixed: Mapping[str, Any]) -> tuple[set, str | None]:
    """Field names the learner takes as keywords, or a friendly message about its signature."""
    if not callable(learner):
        return set(), f"Your answer should be a function or a class, got {type(learner).__name__}."
    try:
        sig = inspect.signature(learner)
    except (TypeError, ValueError):
        return set(fixed), None
    ps = list(sig.parameters.values())
    if not inspect.isclass(learner):
        positional = [p for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
        if not positional:
            return set(), "Your function must take the step as its first argument: def f(step, ...)."
        ps = [p for p in ps if p is not positional[0]]
    if any(p.kind is p.VAR_KEYWORD for p in ps):
        return set(fixed), None
    names = {p.name for p in ps if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    missing = [p.name for p in ps if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               and p.name not in fixed]
    if missing:
        return set(), (f"Your function takes {', '.join(missing)}, but the check passes only "
                       f"{', '.join(fixed) or 'the step'}: name the parameters like the course schedule's.")
    return names & set(fixed), None


def _default_num_steps(values: Mapping[str, Any]) -> int:
    """A bit past the horizon, so behaviour after ``total_steps`` (the clamp) is checked too."""
    ints = [v for k, v in values.items() if isinstance(v, int) and not isinstance(v, bool)
            and (k.endswith("steps") or k.startswith("step_size"))]
    horizon = values.get("total_steps")
    if not isinstance(horizon, int):
        horizon = 12 * max(ints, default=10)  # long enough to see a 10x per-epoch slip
    for v in values.values():  # boundaries of piecewise / joined schedules
        if isinstance(v, (list, tuple)) and v and all(isinstance(b, int) for b in v):
            horizon = max(horizon, max(v) + 3)
    return int(min(_MAX_STEPS, max(20, horizon + max(3, horizon // 4))))


def _fields(factory: Callable) -> list[tuple[str, Any]]:
    """(name, default or MISSING) of a schedule class's fields or a factory function's arguments."""
    if inspect.isclass(factory) and dataclasses.is_dataclass(factory):
        return [(f.name, f.default if f.default is not dataclasses.MISSING else
                 f.default_factory() if f.default_factory is not dataclasses.MISSING  # type: ignore[misc]
                 else dataclasses.MISSING) for f in dataclasses.fields(factory)]
    return [(p.name, dataclasses.MISSING if p.default is p.empty else p.default)
            for p in inspect.signature(factory).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _role(name: str, roles: Mapping[str, dict]) -> str | None:
    """A field's role from the reference's metadata, else from a course field of the same name."""
    return (roles.get(name) or known_field(name)).get("role")


def _periods(params: Mapping[str, Any], roles: Mapping[str, dict]) -> list[str]:
    """Step-count fields a formula divides the step by (decay_steps, step_size, ...), the horizon last."""
    meta = {name: roles.get(name) or known_field(name) for name in params}
    counts = [n for n, m in meta.items() if m.get("role") == "count" and not m.get("optional")
              and m.get("minimum", 1) >= 1]
    return sorted(counts, key=lambda n: meta[n].get("sample") == ("horizon",))


def _typical_params(cls: Callable) -> dict:
    """Each field's default, or its metadata's ``typical`` value when it has none: a readable fixed set."""
    out = {}
    meta = field_metadata(cls)
    for name, default in _fields(cls):
        if default is not dataclasses.MISSING:
            out[name] = default
        elif meta[name].get("typical") is not None:
            out[name] = meta[name]["typical"]
    try:
        cls(**out)
    except (TypeError, ValueError):
        return sample_params(cls, random.Random(0), base=out) or out
    return out


def _sigfig(x: float, digits: int = 2) -> float:
    return float(f"{x:.{digits}g}")


def sample_params(cls: Callable, rng: random.Random, *, ranges: Mapping[str, Any] | None = None,
                  base: Mapping[str, Any] | None = None, vary: set | None = None,
                  tries: int = 50) -> dict | None:
    """A random valid parameter set for schedule class (or factory) ``cls``, 2-significant-digit values.

    Each field is drawn as its metadata's ``sample`` says (``lrcourse.schedules.field_metadata``):
    peak LRs log-uniform in [1e-3, 1], floors 0 or a fraction of the peak, the horizon up to 120
    steps, other counts up to a third of it, rates and factors in their ranges; fields with no
    ``sample``, not in ``vary`` or of unknown role keep ``base``'s value. Sets the constructor
    rejects (``ValueError``) are redrawn; ``None`` after ``tries``.
    """
    base = dict(_typical_params(cls) if base is None else base)
    meta = field_metadata(cls)
    for _ in range(tries):
        out = dict(base)
        peak = _sigfig(10 ** rng.uniform(-3, 0))
        total = rng.randint(10, 120)
        for name, _default in _fields(cls):
            if vary is not None and name not in vary:
                continue
            if ranges and name in ranges:
                spec = ranges[name]
                if isinstance(spec, list):
                    out[name] = rng.choice(spec)
                else:
                    lo, hi = spec
                    out[name] = rng.randint(lo, hi) if isinstance(lo, int) and isinstance(hi, int) \
                        else _sigfig(rng.uniform(lo, hi), 3)
                continue
            value = _draw(meta[name].get("sample"), base.get(name), peak, total, rng)
            if value is not _KEEP:
                out[name] = value
        if all(k in out for k, default in _fields(cls) if default is dataclasses.MISSING):
            try:
                cls(**out)
                return out
            except (TypeError, ValueError):
                continue
    return None


_KEEP = object()


def _draw(spec: tuple | None, current: Any, peak: float, total: int, rng: random.Random) -> Any:
    """One field's random value as its metadata's ``sample`` spec says, or ``_KEEP``.

    Specs: ``("peak",)``; ``("below_peak", a, b)``: peak / 10^U(a, b); ``("floor",)``: 0 or
    peak * 10^U(-3, -0.5); ``("horizon",)``: the set's total steps; ``("count", lo)``: an integer in
    [lo, total/3]; ``("optional_count", lo)``: that or None; ``("uniform", a, b)``;
    ``("log10", a, b)``: 10^U(a, b); ``("choice", options)``; ``("coin",)``; ``("boundaries",)`` and
    ``("values",)``: as many as ``current`` has.
    """
    if spec is None:
        return _KEEP
    kind = spec[0]
    if kind == "peak":
        return peak
    if kind == "below_peak":
        return _sigfig(peak / 10 ** rng.uniform(spec[1], spec[2]))
    if kind == "floor":
        return rng.choice([0.0, _sigfig(peak * 10 ** rng.uniform(-3, -0.5))])
    if kind == "horizon":
        return total
    if kind == "count" and isinstance(current, int) and not isinstance(current, bool):
        return rng.randint(spec[1], max(spec[1], total // 3))
    if kind == "optional_count":
        return rng.choice([None, rng.randint(spec[1], max(spec[1], total // 3))])
    if kind == "uniform" and isinstance(current, (int, float)) and not isinstance(current, bool):
        return _sigfig(rng.uniform(spec[1], spec[2]))
    if kind == "log10":
        return _sigfig(10 ** rng.uniform(spec[1], spec[2]))
    if kind == "choice":
        return rng.choice(list(spec[1]))
    if kind == "coin":
        return rng.random() < 0.5
    if kind == "boundaries" and isinstance(current, (list, tuple)):
        return tuple(sorted(rng.sample(range(1, total), len(current))))
    if kind == "values" and isinstance(current, (list, tuple)):
        return tuple(_sigfig(peak * 10 ** -rng.uniform(0, 3)) for _ in current)
    return _KEEP


# ----------------------------------------------------------------------------- one parameter set
def _close(got: float, expected: float, rtol: float, scale: float = 0.0) -> bool:
    return abs(got - expected) <= rtol * abs(expected) + max(1e-12, 1e-6 * rtol * scale)


def _run_one(learner: Callable, kwargs: dict, ref: Callable, steps: range, rtol: float,
             values: Mapping[str, Any], rebuild: Callable | None, *, documented: bool = True,
             roles: Mapping[str, dict] | None = None):
    """None if right at every step, "not attempted", or (step, got, expected, (key, hint)) of the first miss."""
    try:
        fn = learner(**kwargs) if inspect.isclass(learner) else (lambda t: learner(t, **kwargs))
    except NotImplementedError:
        return "not attempted"
    except Exception as exc:  # noqa: BLE001 - the learner's code: report it, never a traceback
        return steps[0], f"an error ({_describe(exc)}) when built", float(ref(steps[0])), ("error", _exception_hint(exc))
    expected = [float(ref(t)) for t in steps]
    scale = max((abs(e) for e in expected), default=0.0)
    got: list[float] = []
    for t, e in zip(steps, expected):
        try:
            value = fn(t)
        except NotImplementedError:
            return "not attempted"
        except Exception as exc:  # noqa: BLE001
            return t, f"an error: {_describe(exc)}", e, ("error", _exception_hint(exc))
        if value is None:
            return t, "None", e, ("none", "your function returned None: is a `return` missing?")
        try:
            value = float(value)
        except (TypeError, ValueError):
            return t, f"a {type(value).__name__}", e, ("not_a_number", "return one number (the LR at this step), "
                                                           "not a container.")
        if math.isnan(value) or math.isinf(value):
            return t, str(value), e, ("non_finite", "look for a division by zero or a huge power "
                                      "(e.g. 0/0 when a step count is 0, or a rate above 1).")
        got.append(value)
    misses = [i for i, (g, e) in enumerate(zip(got, expected)) if not _close(g, e, rtol, scale)]
    if not misses:
        return None
    i = misses[0]
    hint = _diagnose(got, expected, list(steps), ref, rtol, scale, i, values, rebuild, documented=documented,
                     roles=roles)
    return steps[i], got[i], expected[i], hint


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _exception_hint(exc: BaseException) -> str:
    if isinstance(exc, ZeroDivisionError):
        return "a division by zero: at step 0, or with a step count of 0? Look at what you divide by."
    if isinstance(exc, TypeError) and "argument" in str(exc):
        return "check your function's parameters: def f(step, <the schedule's field names>)."
    if isinstance(exc, (NameError, AttributeError)):
        return "a name is undefined: did you import math (math.cos, math.pi) or misspell a parameter?"
    return "your code raised an exception; run it by hand on the step above to see where."


def _diagnose(got, expected, steps, ref, rtol, scale, first, params, rebuild, *, documented=True,
              roles: Mapping[str, dict] | None = None) -> tuple:
    """``(key, hint)`` for the most likely typical mistake (a key of HINT_KEYS); ``first`` indexes the first miss.

    ``documented``: the reference has a docstring the hints may point to (False for a plain callable).
    ``roles``: the reference's field metadata (``field_metadata``); field names say the rest.
    """
    roles = roles or {}

    def matches(f, idx=None) -> bool:
        idx = range(len(steps)) if idx is None else idx
        try:
            return all(_close(got[i], float(f(steps[i])), rtol, scale) for i in idx)
        except Exception:  # noqa: BLE001 - a shifted step outside the reference's domain
            return False

    if len(set(got)) == 1 and len(set(expected)) > 1:
        return "constant", ("your function returns the same value at every step: does the formula use the step? "
                "(and is the step passed as the first argument?)")
    later = [i for i in range(len(steps)) if steps[i] >= 1]
    if later and matches(lambda t: ref(t - 1), later):
        return "late", ("your values are the course values one step late (you return the LR of step t-1 at step t). "
                "Steps are 0-based: step 0 is the first update, so sched(0) is the starting LR.")
    if matches(lambda t: ref(t + 1)):
        return "early", ("your values are the course values one step early (you return the LR of step t+1 at step t): "
                "did you add 1 to the step? Steps are 0-based, sched(0) is the starting LR.")
    peak = next((v for k, v in params.items() if _role(k, roles) == "lr" and isinstance(v, (int, float)) and v), None)
    if peak and all(_close(g * peak, e, rtol, scale) for g, e in zip(got, expected)):
        return "fraction", ("you returned a fraction of the LR (a multiplier, like LambdaLR's lr_lambda); "
                "return the absolute LR: multiply by the starting LR.")
    if isinstance(params.get("staircase"), bool) and rebuild is not None:
        flipped = rebuild(staircase=not params["staircase"])
        if matches(flipped):
            return "staircase", ("with staircase=True the exponent is the whole number of periods, floor(step / decay_steps); "
                    "with staircase=False it is the fraction step / decay_steps. You did the other one.")
    for name in _periods(params, roles):
        k = params.get(name)
        if isinstance(k, int) and k > 1 and matches(lambda t, k=k: ref(t * k)):
            return "raw_step", (f"your curve moves {k}x too fast: it looks like you used the raw step t where the "
                    f"formula has t / {name} (here t / {k}).")
    for shift, word, sign in ((-1, "late", "-"), (1, "early", "+")):
        hits = _shifted_misses(got, expected, steps, ref, rtol, scale, shift)
        if hits:
            right = (f"steps 0..{steps[first] - 1} are right, then " if first > 0 else "")
            return f"{word}_in_phase", (f"{right}your values are the course values one step {word} at {len(hits)} of the "
                    f"{_count_misses(got, expected, rtol, scale)} steps that differ (steps {steps[hits[0]]}.."
                    f"{steps[hits[-1]]}: you return the LR of step t{sign}1 at step t). Look at how that part of "
                    "the curve counts its steps: each phase starts at its own step 0 (e.g. step - warmup_steps).")
    horizon = params.get("total_steps")
    if isinstance(horizon, int) and steps[first] >= horizon and first > 0:
        where = " (the docstring says what happens past the horizon)" if documented else ""
        return "horizon", (f"your values are right up to step {steps[first] - 1} and wrong after total_steps={horizon}: "
                f"the formula only covers 0..total_steps; what should the LR be after it?{where}")
    warmup = params.get("warmup_steps")
    if isinstance(warmup, int) and 0 < warmup <= steps[first]:
        return "warmup", (f"your values are right during the warmup (steps 0..{warmup - 1}) and first wrong at step "
                f"{steps[first]}: check the phase after warmup: from which step does it count, and over how "
                "many steps does it run?")
    for k in (10, 100, 2, 4, 5, 3, 8, 16, 20, 25, 32, 50, 64):  # most common factors first
        if matches(lambda t, k=k: ref(t * k)):
            return "too_fast", (f"your curve has the right shape but runs {k}x too fast: per-epoch vs per-step? "
                    "Course schedules count optimizer updates (steps), not epochs.")
        if matches(lambda t, k=k: ref(t // k)):
            return "too_slow", (f"your curve has the right shape but runs {k}x too slow: per-epoch vs per-step? "
                    "Course schedules count optimizer updates (steps), not epochs.")
    ratios = [g / e for g, e in zip(got, expected) if e]
    if ratios and len(ratios) == len(expected) and all(_close(r, ratios[0], 1e-6) for r in ratios):
        return "scale", (f"every value is {ratios[0]:.3g}x the expected one: the shape is right, "
                "check the starting value (which LR parameter multiplies the formula?).")
    if first == 0:
        return "first_step", "already step 0 differs: check the starting value first (sched(0) is the LR of the first update)."
    if not documented:
        return "formula", (f"your values are right up to step {steps[first] - 1}; work out the expected value at the step "
                "above by hand from the task's formula and compare it with each term of yours.")
    return "formula", (f"your values are right up to step {steps[first] - 1}; compare your formula with the "
            "docstring's, term by term, at the step above.")


def _count_misses(got, expected, rtol, scale) -> int:
    return sum(not _close(g, e, rtol, scale) for g, e in zip(got, expected))


def _shifted_misses(got, expected, steps, ref, rtol, scale, shift) -> list[int]:
    """Indices of the wrong values that equal the reference at ``step + shift``, when they are most of them.

    "Most" is at least 2/3 of the wrong values: a learner one step off in only one phase (the decay
    after a warmup, one half of a cycle) is wrong nowhere else, so nearly all its misses match.
    """
    misses = [i for i, (g, e) in enumerate(zip(got, expected)) if not _close(g, e, rtol, scale)]
    hits = []
    for i in misses:
        if steps[i] + shift < 0:
            continue
        try:
            if _close(got[i], float(ref(steps[i] + shift)), rtol, scale):
                hits.append(i)
        except Exception:  # noqa: BLE001 - a shifted step outside the reference's domain
            continue
    return hits if misses and 3 * len(hits) >= 2 * len(misses) else []
