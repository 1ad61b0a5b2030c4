"""One seed offset for the whole course: ``LRCOURSE_SEED_OFFSET=K`` redraws every random choice.

A training run is a function of its seeds *and* of the CPU it runs on: another CPU rounds a
few last bits differently, and a few hundred updates later the run looks as if its seeds had
been redrawn. So a conclusion that holds for one draw of the seeds but not for another was
never established. To check that, every seed the course uses goes through :func:`course_seed`,
which adds the offset K read from the environment variable ``LRCOURSE_SEED_OFFSET`` (default
0, which changes nothing):

- data: the digits split, MNIST-1D's generation and split, ``spirals``;
- models: ``mlp``/``cnn1d`` initial weights;
- training: ``fit(seed=)`` (shuffling, dropout), ``Batches``, ``lr_range_test``,
  ``experiments.compare(seeds=)``, ``theory.sharpness``;
- a notebook's own seeds: :func:`set_seed` instead of ``torch.manual_seed``.

What is *not* shifted: the random parameters an exercise check draws and the synthetic curves
of the explorers (they illustrate, they are not evidence).

Run a notebook with ``LRCOURSE_SEED_OFFSET=7 jupyter lab`` (or ``make replicate``) and every
asserted claim must still hold. Nothing here imports torch at import time.

>>> course_seed(3) == 3 + seed_offset()
True
>>> with use_offset(100):
...     course_seed(3)
103
"""
from __future__ import annotations

import contextlib
import os
import platform
import random

import numpy as np

ENV_VAR = "LRCOURSE_SEED_OFFSET"

_override: int | None = None  # set by use_offset(); wins over the environment variable


def _check_seed(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def seed_offset() -> int:
    """The offset K added to every seed: ``$LRCOURSE_SEED_OFFSET`` (an integer >= 0; default 0).

    Inside ``with use_offset(k):`` it is ``k`` instead (how a worker process or a Dask worker
    reproduces the offset a grid of runs was built with).
    """
    if _override is not None:
        return _override
    text = os.environ.get(ENV_VAR, "").strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{ENV_VAR} must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise ValueError(f"{ENV_VAR} must be an integer >= 0, got {text!r}")
    return value


@contextlib.contextmanager
def use_offset(k: int):
    """Use offset ``k`` instead of the environment variable inside the ``with`` block."""
    global _override
    k = _check_seed("offset", k)
    before, _override = _override, k
    try:
        yield k
    finally:
        _override = before


def course_seed(seed: int) -> int:
    """``seed + seed_offset()``: the seed actually handed to a random number generator."""
    return _check_seed("seed", seed) + seed_offset()


def set_seed(seed: int = 0) -> int:
    """Seed Python's, NumPy's and torch's global generators with ``course_seed(seed)``; return it.

    The one call a notebook makes instead of ``torch.manual_seed(0); np.random.seed(0)``.
    """
    s = course_seed(seed)
    random.seed(s)
    np.random.seed(s % 2**32)
    import torch  # here, not at the top: this module stays importable without torch

    torch.manual_seed(s)
    return s


def environment_report(device=None) -> str:
    """One line for a notebook's setup cell: seed offset, versions and the CPU kernels in use.

    Single runs differ between machines because their CPUs round differently; this line says
    which machine (and which draw of the seeds) the stored outputs came from.
    """
    import torch

    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # torch < 2.1
        capability = "unknown"
    where = f" · device {device}" if device is not None else ""
    return (f"seed offset {seed_offset()} ({ENV_VAR}) · python {platform.python_version()} · "
            f"torch {torch.__version__} · numpy {np.__version__} · CPU capability {capability}{where}")
