"""Plots for the course. Ax in, ax out: every function takes an optional matplotlib Axes,
draws on it and returns it; never calls plt.show().

Without an ``ax`` a new figure is made, so ``plot_x(...)`` alone shows one plot in a notebook,
and ``fig, axes = plt.subplots(1, 2)`` plus ``plot_x(..., ax=axes[0])`` composes figures.
Functions draw what callbacks and experiments recorded; they never train anything.
"""
import numbers

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_schedules", "plot_comparison", "plot_lr_sweep", "plot_history", "plot_range_test", "plot_plateau"]


def _check_num_steps(num_steps):
    if isinstance(num_steps, bool) or not isinstance(num_steps, numbers.Real):
        raise TypeError(f"num_steps must be an integer, got {type(num_steps).__name__}: {num_steps!r}")
    if not float(num_steps).is_integer() or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    return int(num_steps)


def _named_schedules(schedules, labels):
    """[(label, schedule)] from one schedule, a list of them or a {label: schedule} dict."""
    if isinstance(schedules, dict):
        pairs = [(str(k), s) for k, s in schedules.items()]
    elif isinstance(schedules, (list, tuple)):
        pairs = [(repr(s), s) for s in schedules]
    else:
        pairs = [(repr(schedules), schedules)]
    if not pairs:
        raise ValueError(f"schedules must not be empty, got {schedules!r}")
    for label, schedule in pairs:
        if not callable(schedule) or isinstance(schedule, type):
            raise TypeError(f"each schedule must be a callable step -> lr, got {type(schedule).__name__} ({label})")
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(pairs):
            raise ValueError(f"labels must have one entry per schedule ({len(pairs)}), got {len(labels)}: {labels!r}")
        pairs = [(str(label), s) for label, (_, s) in zip(labels, pairs)]
    return pairs


def _lr_curve(schedule, num_steps):
    if hasattr(schedule, "curve"):
        return np.asarray(schedule.curve(num_steps), dtype=float)
    return np.array([schedule(t) for t in range(num_steps)], dtype=float)


_DRAWSTYLES = ("default", "steps", "steps-pre", "steps-mid", "steps-post")


def _lr_twin_axis(ax, x, lr, *, log, color, lw, drawstyle="default"):
    """The LR on a twin y-axis of ``ax`` in ``color`` (log scale if asked and every LR is > 0),
    with one legend on ``ax`` for both axes' lines. Returns the twin axis."""
    lr_ax = ax.twinx()
    lr_ax.plot(x, lr, color=color, lw=lw, drawstyle=drawstyle, label="lr")
    if log and np.nanmin(lr, initial=np.inf) > 0:
        lr_ax.set_yscale("log")
    lr_ax.set_ylabel("learning rate", color=color)
    lr_ax.tick_params(axis="y", colors=color)
    handles = ax.get_legend_handles_labels()[0] + lr_ax.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize="small", loc="upper right")
    return lr_ax


def plot_schedules(schedules, num_steps, ax=None, log=False, labels=None, title=None, drawstyle=None,
                   xlabel="step"):
    """Plot learning rate against step for one schedule, a list, or a ``{label: schedule}`` dict.

    x is ``step`` (0 .. num_steps - 1, the LR of each update), y the learning rate from
    ``schedule.curve(num_steps)`` (or ``schedule(t)`` for a plain function). Each line is
    labelled by ``labels``, the dict key, or the schedule's repr. ``log=True`` puts the LR on
    a log axis (zeros are not drawn there). ``drawstyle`` is matplotlib's: ``"steps-post"`` draws a
    per-epoch schedule as the staircase it is (each LR held until the next step), ``None`` joins the
    points by straight lines. ``xlabel`` names the x-axis (e.g. ``"epoch"`` when one step is one epoch).
    Returns ``ax``.

    >>> from lrcourse.schedules import CosineAnnealing, Linear
    >>> ax = plot_schedules({"cosine": CosineAnnealing(1.0, 10), "linear": Linear(1.0, 0.0, 10)}, 11)
    >>> [line.get_label() for line in ax.get_lines()], round(float(ax.get_lines()[0].get_ydata()[5]), 3)
    (['cosine', 'linear'], 0.5)
    """
    num_steps = _check_num_steps(num_steps)
    pairs = _named_schedules(schedules, labels)
    if drawstyle is not None and drawstyle not in _DRAWSTYLES:
        raise ValueError(f"drawstyle must be None or one of {_DRAWSTYLES}, got {drawstyle!r}")
    if ax is None:
        _, ax = plt.subplots()
    steps = np.arange(num_steps)
    for label, schedule in pairs:
        ax.plot(steps, _lr_curve(schedule, num_steps), label=label, drawstyle=drawstyle or "default")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate")
    if title is not None:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


def plot_comparison(results, ax=None, metric=None):
    """Each schedule at its own best peak LR: mean ± std over seeds of ``metric``, best on top.

    ``results`` is an ``lrcourse.results.Results``; each peak LR is chosen on validation
    accuracy, and x is ``metric`` at that peak (default ``results.report_metric``: test accuracy
    when the runs have it), mean over seeds with the sample std as error bar, one row per
    schedule. Each row is labelled with the peak LR it was picked at: the schedules ran at
    different peaks, on purpose. Returns ``ax``.

    >>> from lrcourse.results import Results
    >>> rows = [{"schedule": s, "peak_lr": 0.1, "seed": k, "val_acc": a + 0.01 * k, "val_loss": 1.0,
    ...          "train_loss": 0.5} for s, a in [("constant", 0.66), ("cosine", 0.71)] for k in (0, 1)]
    >>> ax = plot_comparison(Results(rows))
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['constant (peak 0.1)', 'cosine (peak 0.1)']
    """
    metric = results.report_metric if metric is None else metric
    table = results.table(report=metric)[::-1]  # drawn bottom-up: the best schedule ends on top
    if not table:
        raise ValueError("results must hold at least one run, got none")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.4 * len(table) + 1.4), layout="constrained")
    ys = np.arange(len(table))
    ax.errorbar([e[metric + "_mean"] for e in table], ys, xerr=[e[metric + "_std"] for e in table],
                fmt="o", capsize=4)
    ax.set_yticks(ys, [f"{e['schedule']} (peak {e['peak_lr']:g})" for e in table])
    ax.set_xlabel(f"{metric} (mean ± std over {table[0]['seeds']} seeds)")
    ax.set_title("each schedule at its own best peak LR")
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_lr_sweep(results, ax=None, metric="val_acc"):
    """``metric`` against peak LR (log x) per schedule: mean line, ± std band over seeds, ★ at its best.

    Shows that each schedule has its own optimal peak LR, which is why ``compare`` picks the peak
    per schedule instead of comparing every schedule at one shared peak. Returns ``ax``.

    >>> from lrcourse.results import Results
    >>> rows = [{"schedule": "cosine", "peak_lr": lr, "seed": 0, "val_acc": a}
    ...         for lr, a in [(0.03, 0.65), (0.1, 0.71), (0.3, 0.69)]]
    >>> ax = plot_lr_sweep(Results(rows))
    >>> ax.get_xscale(), ax.get_lines()[0].get_ydata().tolist()
    ('log', [0.65, 0.71, 0.69])
    """
    sweep = results.sweep(metric)
    if not sweep:
        raise ValueError("results must hold at least one run, got none")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    best = results.best(metric)
    for i, (name, points) in enumerate(sweep.items()):
        lrs, means, stds = (np.array(v, dtype=float) for v in zip(*points))
        color = f"C{i % 10}"
        ax.plot(lrs, means, "o-", color=color, label=name, ms=4)
        ax.fill_between(lrs, means - stds, means + stds, color=color, alpha=0.15, lw=0)
        k = int(np.argmin(np.abs(lrs - best[name])))
        ax.plot(lrs[k], means[k], "*", color=color, ms=13, mec="k", mew=0.6)
    ax.set_xscale("log")
    grid = sorted({lr for points in sweep.values() for lr, _, _ in points})
    ax.set_xticks(grid, [f"{lr:g}" for lr in grid])  # label the LRs that were run, nothing else
    ax.minorticks_off()
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel(f"{metric} (mean ± std over seeds)")
    ax.set_title("LR sweep per schedule (★ = its best peak LR)")
    ax.legend(fontsize="small", ncol=2)
    ax.grid(alpha=0.3)
    return ax


def plot_history(history, ax=None, log_loss=False, lr_log=False, title=None):
    """Loss per update (and per-epoch validation loss) with the applied LR on a twin axis.

    ``history`` is the ``History`` returned by ``lrcourse.training.fit`` (or its ``to_dict()``).
    Left axis: the batch loss of every update (thin), the mean training loss and the
    validation loss at each epoch end (markers). Right axis (a ``twinx`` of ``ax``, found in
    ``ax.figure.axes``): the LR applied at each update. NaN-safe: non-finite losses are left
    out of the lines and the y-limits, and a diverged run gets a red line at ``diverged_at``.
    Returns ``ax`` (the loss axis).

    >>> from lrcourse.training import History
    >>> h = History(lr=[0.1, 0.1, 0.05, 0.05], loss=[2.3, 1.9, 1.5, float("nan")],
    ...             train_loss=[2.1, 1.5], val_loss=[2.0, 1.6], epoch_steps=[2, 4],
    ...             diverged=True, diverged_at=3)
    >>> ax = plot_history(h)
    >>> [line.get_label() for line in ax.get_lines()][:3], bool(ax.get_ylim()[1] < 10)
    (['batch loss', 'train loss (epoch mean)', 'val loss'], True)
    """
    h = history.to_dict() if hasattr(history, "to_dict") else history
    if not isinstance(h, dict) or "lr" not in h or "loss" not in h:
        raise TypeError(f"history must be a History (or History.to_dict()), got {type(history).__name__}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4), layout="constrained")

    def finite(values):  # inf would wreck the autoscaling; NaN just leaves a gap
        a = np.asarray(values, dtype=float)
        return np.where(np.isfinite(a), a, np.nan)

    loss = finite(h["loss"])
    steps = np.arange(len(loss))
    ax.plot(steps, loss, lw=0.8, alpha=0.5, color="C0", label="batch loss")
    ends = np.asarray(h.get("epoch_steps") or [], dtype=float) - 1  # the last update of each epoch
    for key, style, label in (("train_loss", "o-", "train loss (epoch mean)"), ("val_loss", "s-", "val loss")):
        values = finite(h.get(key) or [])
        if len(values) and len(values) == len(ends):
            ax.plot(ends, values, style, ms=4, color="C0" if key == "train_loss" else "C1", label=label)
    shown = np.concatenate([loss, finite(h.get("val_loss") or [])])
    shown = shown[np.isfinite(shown)]
    if log_loss and len(shown) and shown.min() > 0:
        ax.set_yscale("log")
    elif len(shown):
        top = float(np.percentile(shown, 99)) * 1.1  # a single spike should not flatten the curve
        ax.set_ylim(min(0.0, float(shown.min())), max(top, float(shown.min()) + 1e-12))
    if h.get("diverged") and h.get("diverged_at") is not None:
        ax.axvline(h["diverged_at"], color="red", ls=":", lw=1.2, label=f"diverged (step {h['diverged_at']})")
    ax.set_xlabel("step (optimizer updates)")
    ax.set_ylabel("loss")

    lr = finite(h["lr"])
    _lr_twin_axis(ax, np.arange(len(lr)), lr, log=lr_log, color="C2", lw=1.5)
    ax.set_title(title if title is not None else "training history")
    ax.grid(alpha=0.3)
    return ax


def plot_range_test(result, ax=None, suggestions=True):
    """Draw an LR range test: loss against LR on a log axis, with each rule's suggestion marked.

    ``result`` is a ``RangeTestResult``. The raw losses are drawn faint, the smoothed loss solid.
    ``suggestions``: True marks every rule of ``result.suggestions()``, a list of rule names marks
    those, False none; each is a dashed vertical line whose legend entry gives its LR. The y-axis is
    clipped to the interesting part: from just below the lowest smoothed loss to just above the
    highest smoothed loss seen *before* that minimum, so the divergence tail cannot squash the curve.

    >>> import numpy as np
    >>> from lrcourse.range_test import RangeTestResult
    >>> lrs = np.logspace(-5, 0, 51); loss = (np.log10(lrs) + 1.5) ** 2 + 1
    >>> ax = plot_range_test(RangeTestResult(lrs, loss, loss, "completed", 51))
    >>> ax.get_xscale(), len(ax.get_legend().get_texts())
    ('log', 6)
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    lrs = np.asarray(result.lrs, dtype=float)
    raw = np.asarray(result.losses, dtype=float)
    smooth = np.asarray(result.smoothed, dtype=float)
    kind = "validation" if getattr(result, "loss_kind", "train") == "val" else "training"
    ax.plot(lrs, raw, color="C0", alpha=0.25, lw=1, label=f"{kind} loss")
    ax.plot(lrs, smooth, color="C0", lw=2, label="smoothed")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"{kind} loss")
    ax.set_title(f"LR range test ({result.stop_reason}, {len(lrs)}/{result.num_steps} steps)")

    finite = np.isfinite(smooth)
    if finite.any():
        low_i = int(np.flatnonzero(finite)[np.argmin(smooth[finite])])
        low, high = smooth[low_i], np.nanmax(np.where(finite[:low_i + 1], smooth[:low_i + 1], np.nan))
        pad = 0.1 * max(high - low, 1e-3 * max(abs(low), 1.0))
        ax.set_ylim(low - pad, high + 3 * pad)

    if suggestions:
        rules = list(result.suggestions()) if suggestions is True else list(suggestions)
        for i, rule in enumerate(rules):
            try:
                lr = result.suggest(rule)
            except ValueError as err:
                if "rule must be one of" in str(err):
                    raise
                continue  # too few finite points to suggest anything: draw the curve alone
            ax.axvline(lr, color=f"C{i + 1}", ls="--", lw=1.2, label=f"{rule}: {lr:.2g}")
    ax.legend(fontsize="small")
    return ax


def plot_plateau(metrics, lrs, ax=None, drops=None, title=None, lr_log=True):
    """A monitored metric per epoch with the plateau rule's LR drops marked and the LR as a staircase.

    ``metrics[k]`` is the value measured at the end of epoch k+1 (drawn at x = k+1); ``lrs[k]`` is
    the LR used *during* epoch k+1, i.e. ``plateau.lr`` before ``plateau.step(metrics[k])``, drawn on
    a twin axis (found in ``ax.figure.axes``) as a staircase over (k, k+1]: a drop decided at the end
    of epoch e shows as a step down at x = e, under its marker. ``drops``: the 1-based epochs whose
    metric triggered a reduction (``▼`` on the metric curve); default: read from ``lrs`` (where the
    next epoch's LR is lower), which misses a drop decided at the very last epoch.
    ``lrcourse.plateau.plateau_trace`` returns both. ``lr_log`` puts the LR on a log axis.
    Returns ``ax`` (the metric axis).

    >>> ax = plot_plateau([3.0, 2.0, 2.5, 2.4, 2.1, 2.2], [1.0, 1.0, 1.0, 1.0, 0.5, 0.5])
    >>> [line.get_label() for line in ax.get_lines()], ax.get_lines()[1].get_xdata().tolist()
    (['metric', 'LR drop'], [4])
    """
    m = np.asarray(metrics, dtype=float)
    lr = np.asarray(lrs, dtype=float)
    if m.ndim != 1 or len(m) == 0:
        raise ValueError(f"metrics must be a non-empty 1-D sequence of numbers, got shape {m.shape}")
    if lr.shape != m.shape:
        raise ValueError(f"lrs must have one LR per metric value ({len(m)}), got shape {lr.shape}")
    if drops is None:
        drops = (np.flatnonzero(lr[1:] < lr[:-1]) + 1).tolist()
    drops = [int(e) for e in drops]
    bad = [e for e in drops if not 1 <= e <= len(m)]
    if bad:
        raise ValueError(f"drops must be epochs in 1..{len(m)} (1-based), got {bad}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    epochs = np.arange(1, len(m) + 1)
    ax.plot(epochs, m, ".-", color="0.35", lw=0.9, ms=4, label="metric")
    ax.plot(drops, m[np.asarray(drops, dtype=int) - 1] if drops else [], "v", color="C3", ms=9,
            ls="none", label="LR drop")
    ax.set_xlabel("epoch")
    ax.set_ylabel("metric (e.g. val loss)")
    # LR of epoch k+1 held over (k, k+1]: repeat the last value so the final epoch has its width
    _lr_twin_axis(ax, np.arange(len(lr) + 1), np.append(lr, lr[-1]), log=lr_log, color="C0", lw=1.6,
                  drawstyle="steps-post")
    ax.set_title(title if title is not None else f"LR drops after epochs {drops}")
    ax.grid(alpha=0.3)
    return ax


def plot_range_test_full(result, ax=None, suggestions=True, window=5, title=None):
    """Draw a range test with its whole descent in view: raw and smoothed loss, and where each is lowest.

    ``plot_range_test`` clips the y-axis to the *smoothed* curve; with a heavily smoothed curve
    (fastai's ``smooth=0.98``) that hides most of the raw descent. Here the y-axis spans the raw
    losses from the start down to their lowest point (the divergence tail is clipped), the raw
    batch losses are drawn as dots, the smoothed loss as a line, and two markers show the lag of the
    moving average: the minimum of the raw curve (running median of ``window`` losses, see
    ``range_test.loss_minima``) and the minimum of the smoothed curve. ``suggestions``: True marks
    every rule of ``result.suggestions()``, a list marks those, False none (dashed vertical lines).
    The legend sits to the right of the axes, off the data. Returns ``ax``.

    >>> import numpy as np
    >>> from lrcourse.range_test import RangeTestResult, ema_smooth
    >>> lrs = np.logspace(-5, 0, 51); loss = (np.log10(lrs) + 1.5) ** 2 + 1
    >>> ax = plot_range_test_full(RangeTestResult(lrs, loss, ema_smooth(loss, 0.9), "completed", 51))
    >>> ax.get_xscale(), bool(ax.get_ylim()[0] < 1.0 < ax.get_ylim()[1])
    ('log', True)
    """
    from lrcourse.range_test import loss_minima

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4), layout="constrained")
    lrs = np.asarray(result.lrs, dtype=float)
    raw = np.asarray(result.losses, dtype=float)
    smooth = np.asarray(result.smoothed, dtype=float)
    kind = "validation" if getattr(result, "loss_kind", "train") == "val" else "batch"
    ax.plot(lrs, raw, ".", color="C0", alpha=0.45, ms=4, label=f"{kind} loss (raw)")
    ax.plot(lrs, smooth, color="C0", lw=2, label=f"smoothed (β = {result.settings.get('smooth', 0.98):g})")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel(f"{'validation' if kind == 'validation' else 'training'} loss")
    ax.set_title(title if title is not None else
                 f"LR range test ({result.stop_reason}, {len(lrs)}/{result.num_steps} steps)")

    finite = np.isfinite(raw) & np.isfinite(smooth)
    if finite.any():
        end = int(np.flatnonzero(~finite)[0]) if (~finite).any() else len(raw)
        minima = loss_minima(result, window=window)
        i_raw = int(np.argmin(np.abs(lrs[:end] - minima["raw"])))
        low = min(raw[:end].min(), smooth[:end].min())
        high = max(raw[:i_raw + 1].max(), smooth[:i_raw + 1].max())
        pad = 0.06 * max(high - low, 1e-3 * max(abs(low), 1.0))
        ax.set_ylim(low - pad, high + 2 * pad)
        for key, marker, text in (("raw", "v", "lowest raw loss (running median)"), ("smoothed", "^", "lowest smoothed loss")):
            lr = minima[key]
            j = int(np.argmin(np.abs(lrs[:end] - lr)))
            y = smooth[j] if key == "smoothed" else np.median(raw[max(0, j - window // 2):j + window // 2 + 1])
            ax.plot([lr], [y], marker, color="k" if key == "raw" else "C3", ms=9, zorder=5, label=f"{text}: {lr:.2g}")

    if suggestions:
        rules = list(result.suggestions()) if suggestions is True else list(suggestions)
        for i, rule in enumerate(rules):
            try:
                lr = result.suggest(rule)
            except ValueError as err:
                if "rule must be one of" in str(err):
                    raise
                continue  # too few finite points to suggest anything: draw the curve alone
            ax.axvline(lr, color=f"C{i + 1}", ls="--", lw=1.2, label=f"{rule}: {lr:.2g}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


def plot_plateau_runs(runs, ax=None, title=None, lr_lim=None):
    """Overlay several plateau-rule runs on one panel: the metric per epoch and each run's LR staircase.

    ``runs``: a sequence of ``(label, metrics, lrs, drops)`` — ``metrics[k]`` measured at the end of
    epoch k+1 (left axis, drawn once per distinct sequence, in greys), ``lrs[k]`` the LR used during
    epoch k+1 (right axis, log, a staircase over (k, k+1] in colour ``C{i}``), ``drops`` the 1-based
    epochs whose metric triggered a reduction (a ``▼`` in the run's colour on its metric curve).
    ``lrcourse.widgets.plateau_trace(metrics, **params)`` returns ``(lrs, drops)``. ``lr_lim``: the
    LR axis limits, e.g. the same ``(lo, hi)`` for every panel of a figure, so that panels compare;
    only the decades are labelled (no minor tick labels). Returns ``ax`` (the metric axis); the LR
    axis is its ``twinx`` (in ``ax.figure.axes``). Use :func:`plot_plateau` for a single run.

    >>> ax = plot_plateau_runs([("p=1", [3.0, 2.0, 2.5, 2.4], [1.0, 1.0, 1.0, 0.5], [3]),
    ...                         ("p=2", [3.0, 2.0, 2.5, 2.4], [1.0, 1.0, 1.0, 1.0], [])], lr_lim=(0.1, 2))
    >>> lr_ax = ax.figure.axes[-1]
    >>> [line.get_label() for line in lr_ax.get_lines()], lr_ax.get_yscale(), [float(y) for y in lr_ax.get_ylim()]
    (['p=1', 'p=2'], 'log', [0.1, 2.0])
    """
    from matplotlib.ticker import LogLocator, NullFormatter

    runs = list(runs)
    if not runs:
        raise ValueError("runs must hold at least one (label, metrics, lrs, drops) tuple, got an empty sequence")
    checked = []
    for i, run in enumerate(runs):
        if not isinstance(run, (tuple, list)) or len(run) != 4:
            raise ValueError(f"runs[{i}] must be a (label, metrics, lrs, drops) tuple, got {run!r:.100}")
        label, metrics, lrs, drops = run
        m, lr = np.asarray(metrics, dtype=float), np.asarray(lrs, dtype=float)
        if m.ndim != 1 or len(m) == 0:
            raise ValueError(f"runs[{i}] ({label}): metrics must be a non-empty 1-D sequence, got shape {m.shape}")
        if lr.shape != m.shape:
            raise ValueError(f"runs[{i}] ({label}): lrs must have one LR per metric value ({len(m)}), got shape {lr.shape}")
        if not np.all(lr > 0):
            raise ValueError(f"runs[{i}] ({label}): lrs must be positive for the log LR axis, got min {lr.min()!r}")
        bad = [int(e) for e in drops if not 1 <= int(e) <= len(m)]
        if bad:
            raise ValueError(f"runs[{i}] ({label}): drops must be epochs in 1..{len(m)} (1-based), got {bad}")
        checked.append((str(label), m, lr, [int(e) for e in drops]))
    if lr_lim is not None and (len(lr_lim) != 2 or not 0 < lr_lim[0] < lr_lim[1]):
        raise ValueError(f"lr_lim must be (lo, hi) with 0 < lo < hi, got {lr_lim!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    lr_ax = ax.twinx()
    drawn = []
    for i, (label, m, lr, drops) in enumerate(checked):
        epochs = np.arange(1, len(m) + 1)
        if not any(len(d) == len(m) and np.array_equal(d, m, equal_nan=True) for d in drawn):
            ax.plot(epochs, m, ".-", color="0.35" if not drawn else "0.7", lw=0.8, ms=3)
            drawn.append(m)
        # the LR of epoch k+1 is held over (k, k+1]: a drop decided after epoch e steps down at x = e
        lr_ax.plot(np.arange(len(lr) + 1), np.append(lr, lr[-1]), drawstyle="steps-post", color=f"C{i}",
                   lw=1.6, label=label)
        ax.plot(drops, m[np.asarray(drops, dtype=int) - 1] if drops else [], "v", color=f"C{i}", ms=8, ls="none")
    lr_ax.set_yscale("log")
    if lr_lim is not None:
        lr_ax.set_ylim(*lr_lim)
    lr_ax.yaxis.set_major_locator(LogLocator(base=10, numticks=4))
    lr_ax.yaxis.set_minor_formatter(NullFormatter())
    lr_ax.set_ylabel("LR (log)")
    ax.set(xlabel="epoch", ylabel="metric (e.g. val loss)")
    if title is not None:
        ax.set_title(title)
    lr_ax.legend(fontsize="small", loc="upper right")
    ax.grid(alpha=0.3)
    return ax


def plot_lr_sweep_grid(results, metric="val_acc", ncols=5, panel_size=(2.6, 2.1)):
    """Small multiples of :func:`plot_lr_sweep`: one panel per schedule, on shared axes.

    Each panel draws its schedule's mean ``metric`` against peak LR (log x) with the ± std band
    over seeds and a ★ at its best peak; every other schedule is a thin grey line behind it, so
    the panel reads "this schedule against the field" without a ten-colour legend. Returns the
    figure; its first ``len(schedules)`` axes are the panels, in the results' order.

    >>> from lrcourse.results import Results
    >>> rows = [{"schedule": s, "peak_lr": lr, "seed": 0, "val_acc": a} for s, pts in
    ...         {"cosine": [(0.1, 0.71), (0.3, 0.69)], "constant": [(0.1, 0.66), (0.3, 0.62)]}.items()
    ...         for lr, a in pts]
    >>> fig = plot_lr_sweep_grid(Results(rows), ncols=2)
    >>> [ax.get_title() for ax in fig.axes[:2]], fig.axes[0].get_xscale()
    (['cosine', 'constant'], 'log')
    """
    sweep = results.sweep(metric)
    if not sweep:
        raise ValueError("results must hold at least one run, got none")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    best = results.best(metric)
    n = len(sweep)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows + 0.4),
                             sharex=True, sharey=True, layout="constrained", squeeze=False)
    curves = {name: [np.array(v, dtype=float) for v in zip(*points)] for name, points in sweep.items()}
    grid = sorted({lr for points in sweep.values() for lr, _, _ in points})
    for i, (ax, (name, (lrs, means, stds))) in enumerate(zip(axes.flat, curves.items())):
        for other, (o_lrs, o_means, _) in curves.items():
            if other != name:
                ax.plot(o_lrs, o_means, "-", color="0.8", lw=0.8, zorder=1)
        color = [f"C{j}" for j in range(10) if j != 7][i % 9]  # C7 is grey: it would vanish among the others
        ax.plot(lrs, means, "o-", color=color, ms=3.5, zorder=3)
        ax.fill_between(lrs, means - stds, means + stds, color=color, alpha=0.2, lw=0, zorder=2)
        k = int(np.argmin(np.abs(lrs - best[name])))
        ax.plot(lrs[k], means[k], "*", color=color, ms=12, mec="k", mew=0.6, zorder=4)
        ax.set_title(name, fontsize="medium")
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    axes.flat[0].set_xticks(grid, [f"{lr:g}" for lr in grid])  # shared: label the LRs that were run
    axes.flat[0].minorticks_off()
    for ax in axes.flat:
        ax.tick_params(axis="x", labelrotation=45, labelsize="small")  # narrow panels: slanted LR labels
    fig.supxlabel("peak learning rate")
    fig.supylabel(f"{metric} (mean ± std over seeds)")
    fig.suptitle("LR sweep per schedule (★ = its best peak LR; grey: the other schedules)")
    return fig
