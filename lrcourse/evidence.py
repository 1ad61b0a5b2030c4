r"""Claims as computed verdicts: is arm A better than arm B, beyond the seed-to-seed noise?

A notebook never types "A beats B". It measures both arms over several seeds, calls
:func:`compare_arms`, prints the :class:`Verdict` and asserts only verdicts with a wide margin.

**Paired** (both arms ran with the same seeds, so seed k fixes the same initial weights and data
order in both): the differences :math:`d_k = a_k - b_k` are what vary, and

.. math:: \bar d = \frac1n \sum_k d_k, \qquad \mathrm{SE} = \frac{s_d}{\sqrt n}

with :math:`s_d` the sample standard deviation of the :math:`d_k` (n - 1). **Unpaired**:
:math:`\bar d = \bar a - \bar b` and :math:`\mathrm{SE} = \sqrt{s_a^2/n_a + s_b^2/n_b}` (Welch).
The 95% confidence interval is :math:`\bar d \pm t_{0.975,\nu}\,\mathrm{SE}` (ν = n - 1 paired,
Welch-Satterthwaite unpaired).

The verdict, with :math:`z = \bar d / \mathrm{SE}` counted in the direction "A better":

- ``"A better"`` if :math:`z \ge` ``margin`` (default 3 standard errors); ``"B better"`` if
  :math:`z \le -` ``margin``;
- ``"tie"`` if ``tie_tol`` is given and the whole confidence interval lies inside
  :math:`(-\text{tie\_tol}, +\text{tie\_tol})`: the arms are equal *to that tolerance*;
- else ``"not established at this scale"``: an honest outcome, not a failure. Not detecting a
  difference is not evidence of equality; more seeds (or a larger effect) could decide it.

Why 3 standard errors and not the usual 2: with 3-5 seeds the SE itself is uncertain, and a
claim asserted in a notebook must survive *any* draw of the seeds (``LRCOURSE_SEED_OFFSET``).

>>> v = compare_arms({0: 0.71, 1: 0.70, 2: 0.72}, {0: 0.66, 1: 0.66, 2: 0.67}, names=("cosine", "constant"))
>>> v.outcome, v.winner, round(v.diff, 3), v.n, v.paired
('A better', 'cosine', 0.047, 3, True)
>>> compare_arms([0.70, 0.72, 0.69], [0.71, 0.69, 0.70], paired=True).outcome
'not established at this scale'
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

OUTCOMES = ("A better", "B better", "tie", "not established at this scale")


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`compare_arms`; ``str(v)`` is the line a notebook prints.

    ``diff`` is mean(A) - mean(B) as measured (a positive ``diff`` favours A when higher is
    better); ``z`` is ``diff / se`` signed so that positive always favours A.
    """

    name_a: str
    name_b: str
    diff: float
    se: float
    n: int
    paired: bool
    ci: tuple[float, float]
    z: float
    outcome: str
    margin: float
    tie_tol: float | None
    higher_is_better: bool
    metric: str
    word: str = "better"  # how the winner is said: "better" for a quality, "larger" for a size

    @property
    def winner(self) -> str | None:
        """The better arm's name, or None (a tie or not established)."""
        return {"A better": self.name_a, "B better": self.name_b}.get(self.outcome)

    @property
    def established(self) -> bool:
        """True for "A better", "B better" or "tie": the data decided something."""
        return self.outcome != "not established at this scale"

    @property
    def text(self) -> str:
        """The verdict in words: "cosine better", "tie within ±0.01", "not established at this scale"."""
        if self.winner is not None:
            return f"{self.winner} {self.word}"
        if self.outcome == "tie":
            return f"tie within ±{self.tie_tol:g}"
        return self.outcome

    def __str__(self) -> str:
        kind = "paired seeds" if self.paired else "seeds per arm (unpaired)"
        lo, hi = self.ci
        zs = "inf" if math.isinf(self.z) else f"{abs(self.z):.1f}"
        return (f"{self.metric}: {self.name_a} − {self.name_b} = {self.diff:+.3f} ± {self.se:.3f} SE "
                f"(95% CI {lo:+.3f} … {hi:+.3f}, n = {self.n} {kind}) → {self.text} "
                f"(|z| = {zs}, threshold {self.margin:g} SE)")


def _values(x, label: str) -> np.ndarray:
    arr = np.asarray(list(x.values()) if isinstance(x, Mapping) else list(x), dtype=float)
    if arr.ndim != 1 or len(arr) < 2:
        raise ValueError(f"{label} must hold at least 2 measurements (one per seed), got {len(arr)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{label} must hold finite numbers, got {arr.tolist()}")
    return arr


def _t_quantile(df: float) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (scipy, imported lazily)."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def compare_arms(a, b, *, names: Sequence[str] = ("A", "B"), paired: bool | None = None,
                 margin: float = 3.0, tie_tol: float | None = None, higher_is_better: bool = True,
                 metric: str = "test_acc", word: str = "better") -> Verdict:
    """Compare arm ``a`` with arm ``b`` over seeds; return a :class:`Verdict` (see the module doc).

    ``a``, ``b``: one measurement per seed, as a mapping ``{seed: value}`` or a sequence.
    ``paired``: None pairs by seed when both are mappings with the same seeds (else unpaired);
    True pairs sequences by position (they must have the same length). ``margin``: standard
    errors needed for "A better"/"B better". ``tie_tol``: declare a tie when the 95% CI lies
    within ±``tie_tol`` (None: never). ``higher_is_better``: False for a loss. ``metric``: the
    label printed. ``word``: how the winner is said, "better" (default) for a quality; for a size
    that is neither good nor bad (a spike, a barrier) say "larger".

    >>> compare_arms({0: 3.1, 1: 2.9, 2: 3.4}, {0: 1.0, 1: 1.1, 2: 0.9}, names=("burst", "healthy"),
    ...              metric="spike size", word="larger").text
    'burst larger'
    """
    if len(names) != 2 or not all(isinstance(n, str) for n in names):
        raise ValueError(f"names must be two strings, got {names!r}")
    if not isinstance(word, str) or not word.strip():
        raise ValueError(f"word must be a non-empty string such as 'better' or 'larger', got {word!r}")
    if isinstance(margin, bool) or not isinstance(margin, (int, float, np.floating)) or not margin > 0:
        raise ValueError(f"margin must be a positive number of standard errors, got {margin!r}")
    if tie_tol is not None and (isinstance(tie_tol, bool) or not isinstance(tie_tol, (int, float, np.floating))
                                or not tie_tol > 0 or not math.isfinite(tie_tol)):
        raise ValueError(f"tie_tol must be None or a positive finite number, got {tie_tol!r}")
    if paired is None:
        paired = isinstance(a, Mapping) and isinstance(b, Mapping) and set(a) == set(b)
    if paired and isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) != set(b):
            raise ValueError(f"paired=True needs the same seeds in both arms, got {sorted(a)} and {sorted(b)}")
        keys = sorted(a)
        a, b = {k: a[k] for k in keys}, {k: b[k] for k in keys}
    xa, xb = _values(a, f"{names[0]} (a)"), _values(b, f"{names[1]} (b)")

    if paired:
        if len(xa) != len(xb):
            raise ValueError(f"paired=True needs one value per seed in both arms, got {len(xa)} and {len(xb)}")
        d = xa - xb
        n = len(d)
        diff, se, df = float(d.mean()), float(d.std(ddof=1) / math.sqrt(n)), n - 1
    else:
        va, vb = xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)
        n = min(len(xa), len(xb))
        diff, se = float(xa.mean() - xb.mean()), float(math.sqrt(va + vb))
        denom = va**2 / (len(xa) - 1) + vb**2 / (len(xb) - 1)  # Welch-Satterthwaite
        df = (va + vb) ** 2 / denom if denom > 0 else n - 1

    half = _t_quantile(df) * se
    ci = (diff - half, diff + half)
    signed = diff if higher_is_better else -diff
    z = signed / se if se > 0 else (math.copysign(math.inf, signed) if signed != 0 else 0.0)
    if z >= margin:
        outcome = "A better"
    elif z <= -margin:
        outcome = "B better"
    elif tie_tol is not None and -tie_tol < ci[0] and ci[1] < tie_tol:
        outcome = "tie"
    else:
        outcome = "not established at this scale"
    return Verdict(names[0], names[1], diff, se, n, bool(paired), ci, z, outcome, float(margin), tie_tol,
                   higher_is_better, metric, word)
