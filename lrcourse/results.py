r"""Results of a schedule comparison: tidy rows in, choices, tables and verdicts out.

:class:`Results` holds one row per run (``lrcourse.experiments.compare`` makes them) and answers
the questions a comparison asks, with the protocol built in: each schedule's peak LR is
**chosen on validation** (:meth:`Results.best`) and the figures at that peak are **reported on
test** (:meth:`Results.table`, :meth:`Results.verdict`).

Also the course's two small table printers, so that no notebook or command formats one by hand:
:func:`text_table` (aligned plain columns) and :func:`print_verdicts` (claims with their
verdicts and the evidence, as a Markdown table).

Pure Python: no torch here, so results can be read, tabulated and plotted anywhere.
"""
from __future__ import annotations

import csv
import io
import math
import os
import statistics
from collections.abc import Sequence

from lrcourse._io import write_text_atomic
from lrcourse.evidence import Verdict, compare_arms

__all__ = ["Results", "SCALARS", "text_table", "markdown_table", "verdict_rows", "print_verdicts"]

SCALARS = ("schedule", "peak_lr", "seed", "seed_offset", "val_acc", "val_loss", "test_acc", "test_loss",
           "train_loss", "min_val_loss", "epochs_to_target", "diverged", "updates", "wall_time")
_SUMMARISED = ("val_acc", "val_loss", "test_acc", "test_loss", "train_loss")


# ------------------------------------------------------------------------------------ tables
def text_table(rows: Sequence[Sequence]) -> str:
    """Rows of cells as left-aligned columns two spaces apart (the first row is usually the header).

    >>> print(text_table([("rule", "suggested lr"), ("steepest", "0.031"), ("valley", "0.1")]))
    rule      suggested lr
    steepest  0.031
    valley    0.1
    """
    rows = [[str(c) for c in r] for r in rows]
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """An aligned Markdown table: every line the same width, so it reads as text too.

    >>> print(markdown_table(["schedule", "acc"], [["cosine", "0.71"], ["constant", "0.66"]]))
    | schedule | acc  |
    |----------|------|
    | cosine   | 0.71 |
    | constant | 0.66 |
    """
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    bad = [r for r in cells if len(r) != len(cells[0])]
    if bad:
        raise ValueError(f"rows must have {len(cells[0])} cells like the header, got {bad[0]!r}")
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]

    def line(r):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def _evidence(v: Verdict) -> str:
    kind = "paired" if v.paired else "unpaired"
    z = f"{v.z:+.1f}" if math.isfinite(v.z) else ("+inf" if v.z > 0 else "-inf")  # no "|z|": a Markdown cell
    return f"{v.metric}: {v.name_a} − {v.name_b} = {v.diff:+.3f} ± {v.se:.3f} SE (n = {v.n} {kind}, z = {z})"


def verdict_rows(claims) -> list[tuple[str, str, str]]:
    """``(claim, verdict, evidence)`` text rows from :class:`~lrcourse.evidence.Verdict` objects,
    ``(claim, Verdict)`` pairs or ``(claim, verdict text, evidence text)`` triples."""
    rows = []
    for item in claims:
        if isinstance(item, Verdict):
            rows.append((f"{item.name_a} vs {item.name_b}", item.text, _evidence(item)))
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], Verdict):
            rows.append((str(item[0]), item[1].text, _evidence(item[1])))
        elif isinstance(item, (tuple, list)) and len(item) == 3:
            rows.append(tuple(str(c) for c in item))
        else:
            raise TypeError(f"claims must hold Verdicts, (claim, Verdict) pairs or (claim, verdict, evidence) "
                            f"triples, got {item!r}")
    return rows


def print_verdicts(claims) -> None:
    """Print claims with their verdicts and the evidence as one aligned Markdown table.

    ``claims``: :class:`~lrcourse.evidence.Verdict` objects (the claim is "A vs B"), ``(claim,
    Verdict)`` pairs, or ``(claim, verdict, evidence)`` text triples for a claim decided another
    way (or not tested). A verdict comes from code, never from the author's keyboard.

    >>> from lrcourse.evidence import compare_arms
    >>> v = compare_arms({0: 0.71, 1: 0.70, 2: 0.72}, {0: 0.66, 1: 0.66, 2: 0.67}, names=("cosine", "const"))
    >>> print_verdicts([("decay beats constant", v), ("CLR helps larger models", "not tested", "one model size")])
    | claim                   | verdict       | evidence                                                               |
    |-------------------------|---------------|------------------------------------------------------------------------|
    | decay beats constant    | cosine better | test_acc: cosine − const = +0.047 ± 0.003 SE (n = 3 paired, z = +14.0) |
    | CLR helps larger models | not tested    | one model size                                                         |
    """
    table = markdown_table(["claim", "verdict", "evidence"], verdict_rows(claims))
    if _in_notebook():  # JupyterLab renders the Markdown as a table (text wraps inside its cells)
        from IPython.display import display

        display({"text/markdown": table, "text/plain": table}, raw=True)
    else:
        print(table)


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell), False in a terminal, a script or a doctest."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


# ----------------------------------------------------------------------------------- results
def _mean(xs: list[float]) -> float:
    return statistics.fmean(xs) if xs else math.nan


def _std(xs: list[float]) -> float:
    """Sample standard deviation (n - 1); 0 for a single value."""
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def _lower_is_better(metric: str) -> bool:
    return "loss" in metric


class Results:
    """Tidy results of :func:`lrcourse.experiments.compare`: ``rows``, one dict per run, plus summaries.

    Scalar columns: schedule, peak_lr, seed, seed_offset, val_acc, val_loss, test_acc, test_loss,
    train_loss (final epoch), min_val_loss, epochs_to_target (None if never), diverged, updates,
    wall_time; ``curves`` holds the per-epoch train_loss, val_loss and val_acc. ``computed``:
    runs trained (not cached).

    The protocol: each schedule's peak LR is **chosen on val** (:meth:`best`), and the figures
    at that peak are **reported on test** (:meth:`table`, :meth:`verdict`).

    >>> rows = [{"schedule": "a", "peak_lr": lr, "seed": s, "val_acc": acc, "val_loss": 1 - acc}
    ...         for lr, s, acc in [(0.1, 0, 0.6), (0.1, 1, 0.8), (1.0, 0, 0.5), (1.0, 1, 0.6)]]
    >>> res = Results(rows)
    >>> res.best()
    {'a': 0.1}
    >>> t = res.table()[0]; round(t["val_acc_mean"], 3), round(t["val_acc_std"], 3)
    (0.7, 0.141)
    """

    def __init__(self, rows: Sequence[dict], computed: int | None = None):
        self.rows = list(rows)
        self.computed = len(self.rows) if computed is None else computed

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"Results({len(self.rows)} runs, schedules={self.schedules})"

    @property
    def schedules(self) -> list[str]:
        """Schedule names in first-seen order."""
        return list(dict.fromkeys(r["schedule"] for r in self.rows))

    def lrs(self, schedule: str) -> list[float]:
        """The peak LRs tried for ``schedule``, ascending."""
        return sorted({r["peak_lr"] for r in self.rows if r["schedule"] == schedule})

    def select(self, schedule: str, peak_lr: float | None = None) -> list[dict]:
        """The rows of ``schedule`` (at ``peak_lr`` if given), in seed order."""
        if schedule not in self.schedules:
            raise ValueError(f"schedule must be one of {self.schedules}, got {schedule!r}")
        rows = [r for r in self.rows if r["schedule"] == schedule
                and (peak_lr is None or math.isclose(r["peak_lr"], peak_lr, rel_tol=1e-9))]
        if not rows:
            raise ValueError(f"peak_lr {peak_lr!r} was not run for {schedule!r}; tried {self.lrs(schedule)}")
        return sorted(rows, key=lambda r: r["seed"])

    def sweep(self, metric: str = "val_acc") -> dict[str, list[tuple[float, float, float]]]:
        """Per schedule, ``(peak_lr, mean, std)`` of ``metric`` over seeds, by ascending peak LR."""
        out = {}
        for name in self.schedules:
            out[name] = []
            for lr in self.lrs(name):
                xs = [float(r[metric]) for r in self.select(name, lr)]
                out[name].append((lr, _mean(xs), _std(xs)))
        return out

    def best(self, metric: str = "val_acc") -> dict[str, float]:
        """Each schedule's own best peak LR: highest mean ``metric`` over seeds (lowest for a loss).

        A NaN mean (a diverged seed) never wins.
        """
        sign = -1.0 if _lower_is_better(metric) else 1.0
        out = {}
        for name, points in self.sweep(metric).items():
            scored = [(sign * m if not math.isnan(m) else -math.inf, lr) for lr, m, _ in points]
            out[name] = max(scored, key=lambda p: p[0])[1]
        return out

    @property
    def report_metric(self) -> str:
        """``"test_acc"`` when the runs were evaluated on a test split, else ``"val_acc"``."""
        return "test_acc" if self.rows and all("test_acc" in r for r in self.rows) else "val_acc"

    def table(self, metric: str = "val_acc", report: str | None = None) -> list[dict]:
        """One row per schedule at its best peak LR (chosen by ``metric``), sorted by ``report``.

        Columns: schedule, peak_lr, seeds, ``_mean`` and ``_std`` over seeds of val_acc,
        val_loss, test_acc, test_loss and train_loss (those the runs have), reached (seeds
        that reached ``target_acc``), epochs_to_target (mean over those seeds only, None if
        none), diverged (count). ``report`` (default :attr:`report_metric`) orders the rows,
        best first.
        """
        out = []
        for name, lr in self.best(metric).items():
            rows = self.select(name, lr)
            entry = {"schedule": name, "peak_lr": lr, "seeds": len(rows)}
            for col in _SUMMARISED:
                xs = [float(r[col]) for r in rows if col in r]
                if xs or col in ("val_acc", "val_loss", "train_loss"):
                    entry[col + "_mean"], entry[col + "_std"] = _mean(xs), _std(xs)
            reached = [r["epochs_to_target"] for r in rows if r.get("epochs_to_target") is not None]
            entry["reached"] = len(reached)
            entry["epochs_to_target"] = _mean(reached) if reached else None
            entry["diverged"] = sum(bool(r.get("diverged", False)) for r in rows)
            out.append(entry)
        report = self.report_metric if report is None else report
        sign = 1.0 if _lower_is_better(report) else -1.0
        key = report + "_mean"
        return sorted(out, key=lambda e: math.inf if math.isnan(e.get(key, math.nan)) else sign * e[key])

    def verdict(self, a: str, b: str, metric: str | None = None, select: str = "val_acc", **kwargs) -> Verdict:
        """Schedule ``a`` against ``b``, each at its own best peak (chosen by ``select``), paired by seed.

        ``metric`` (default :attr:`report_metric`) is compared with
        :func:`lrcourse.evidence.compare_arms`; ``kwargs`` go to it (``margin``, ``tie_tol``).
        """
        metric = self.report_metric if metric is None else metric
        best = self.best(select)
        arms = []
        for name in (a, b):
            if name not in best:
                raise ValueError(f"schedule must be one of {self.schedules}, got {name!r}")
            arms.append({r["seed"]: float(r[metric]) for r in self.select(name, best[name])})
        return compare_arms(arms[0], arms[1], names=(a, b), higher_is_better=not _lower_is_better(metric),
                            metric=metric, **kwargs)

    def curves(self, schedule: str, peak_lr: float | None = None) -> dict[str, list[list[float]]]:
        """Per-epoch curves of ``schedule`` at ``peak_lr`` (default: its best), one list per seed.

        Keys: ``seeds``, ``train_loss``, ``val_loss``, ``val_acc`` (a diverged run may be shorter).
        """
        if peak_lr is None:
            peak_lr = self.best()[schedule] if schedule in self.schedules else None
        rows = self.select(schedule, peak_lr)
        out = {"seeds": [r["seed"] for r in rows]}
        for k in ("train_loss", "val_loss", "val_acc"):
            out[k] = [list(r["curves"][k]) for r in rows]
        return out

    def to_markdown(self, metric: str = "val_acc") -> str:
        """The :meth:`table` as an aligned Markdown table (mean ± sample std over seeds).

        The peak LR is chosen on ``metric`` (validation); test columns are the reported figures.
        """
        head = ["schedule", "peak LR", "val acc", "test acc", "test loss", "train loss", "epochs to target",
                "diverged"]

        def pm(e, col, digits=3):
            if col + "_mean" not in e:
                return "-"
            return f"{e[col + '_mean']:.{digits}f} ± {e[col + '_std']:.{digits}f}"

        body = []
        for e in self.table(metric):
            n = e["seeds"]
            ett = "-" if e["epochs_to_target"] is None else f"{e['epochs_to_target']:.1f} ({e['reached']}/{n})"
            body.append([e["schedule"], f"{e['peak_lr']:g}", pm(e, "val_acc"), pm(e, "test_acc"), pm(e, "test_loss"),
                         pm(e, "train_loss", 4), ett, f"{e['diverged']}/{n}"])
        return markdown_table(head, body)

    __str__ = to_markdown

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """The scalar columns of every run as CSV (curves left out); written atomically to ``path`` if given."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=SCALARS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: ("" if r.get(k) is None else r.get(k, "")) for k in SCALARS})
        text = buf.getvalue()
        if path is not None:
            write_text_atomic(path, text)
        return text

    def to_pandas(self):
        """The scalar columns as a pandas DataFrame (pandas is optional: imported only here)."""
        import pandas as pd

        return pd.DataFrame([{k: r.get(k) for k in SCALARS} for r in self.rows])
