"""One validation rule for the whole library: every public function checks its arguments here.

- a value of the wrong **type** raises ``TypeError``; a value of the right type but outside its
  range raises ``ValueError``;
- the message names the parameter and repeats the value received:
  ``"epochs must be >= 1, got 0"``;
- numbers may be Python numbers, NumPy scalars or 0-d torch tensors (``np.int64(3)``,
  ``torch.tensor(0.1)``); ``bool`` is never a number (``True`` is not an epoch count);
- counts accept integral floats a human typed (``1e4``) but not ``10.5``.

Nothing here imports torch: a 0-d tensor is recognised by its ``item()`` and ``ndim``.

>>> integer("epochs", 3.0, minimum=1), real("lr", 0.1, low=0, low_open=True)
(3, 0.1)
>>> integer("epochs", 0, minimum=1)
Traceback (most recent call last):
ValueError: epochs must be >= 1, got 0
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["real", "positive", "non_negative", "fraction", "integer", "boolean", "choice", "scalar"]


def scalar(value):
    """A 0-d torch tensor or 1-element NumPy array -> its Python number; anything else unchanged."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item") and not isinstance(value, np.generic):
        return value.item()
    return value


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def real(name: str, value, *, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number in [low, high] (``low_open``/``high_open``: exclude the end)."""
    value = scalar(value)
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    try:
        x = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be finite, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (x <= low if low_open else x < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low:g}, got {value!r}")
    if high is not None and (x >= high if high_open else x > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high:g}, got {value!r}")
    return x


def positive(name: str, value) -> float:
    """A finite number > 0."""
    return real(name, value, low=0, low_open=True)


def non_negative(name: str, value) -> float:
    """A finite number >= 0."""
    return real(name, value, low=0)


def fraction(name: str, value) -> float:
    """A number strictly between 0 and 1."""
    return real(name, value, low=0, high=1, low_open=True, high_open=True)


def integer(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (or an integral float such as ``1e4``) in [minimum, maximum]."""
    value = scalar(value)
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if not isinstance(value, numbers.Integral) and not (math.isfinite(value) and float(value).is_integer()):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    n = int(value)
    if minimum is not None and n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and n > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    return n


def boolean(name: str, value) -> bool:
    """``True`` or ``False`` (or a NumPy bool); not 0/1, not a string."""
    if not _is_bool(value):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def choice(name: str, value, options) -> str:
    """One of the strings in ``options``."""
    options = tuple(options)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {options}, got {type(value).__name__} {value!r}")
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value
