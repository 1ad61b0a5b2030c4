"""plot_plateau: metric per epoch, LR drops marked, LR staircase on a twin axis; ax in / ax out."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lrcourse.plotting import plot_plateau
from lrcourse.widgets import plateau_trace

METRICS = [3.0, 2.0, 2.5, 2.4, 2.1, 2.2]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_returns_the_given_ax_and_draws_metric_drops_and_lr_staircase():
    lrs, drops = plateau_trace(METRICS, lr=1.0, factor=0.5, patience=1)
    fig, ax = plt.subplots()
    assert plot_plateau(METRICS, lrs, ax=ax, drops=drops) is ax
    metric, marks = ax.get_lines()
    assert metric.get_xdata().tolist() == [1, 2, 3, 4, 5, 6] and metric.get_ydata().tolist() == METRICS
    assert marks.get_xdata().tolist() == drops == [4, 6]
    assert marks.get_ydata().tolist() == [2.4, 2.2]
    (lr_ax,) = [a for a in fig.axes if a is not ax]
    stair = lr_ax.get_lines()[0]
    assert stair.get_drawstyle() == "steps-post" and lr_ax.get_yscale() == "log"
    # LR of epoch k+1 over (k, k+1]: x = 0..6, the last value repeated for the last epoch's width
    assert stair.get_xdata().tolist() == list(range(7))
    assert stair.get_ydata().tolist() == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    assert ax.get_xlabel() == "epoch" and "[4, 6]" in ax.get_title()


def test_drops_default_to_where_the_lr_goes_down():
    ax = plot_plateau(METRICS, [1.0, 1.0, 1.0, 1.0, 0.5, 0.5], title="t", lr_log=False)
    assert ax.get_lines()[1].get_xdata().tolist() == [4] and ax.get_title() == "t"
    lr_ax = [a for a in ax.figure.axes if a is not ax][0]
    assert lr_ax.get_yscale() == "linear"


def test_no_drop_draws_no_marker():
    ax = plot_plateau([3.0, 2.0, 1.0], [0.1, 0.1, 0.1])
    assert len(ax.get_lines()[1].get_xdata()) == 0


@pytest.mark.parametrize("metrics, lrs, drops, words", [
    ([], [], None, "metrics"),
    ([1.0, 2.0], [0.1], None, "lrs"),
    ([1.0, 2.0], [0.1, 0.1], [3], "drops"),
    ([1.0, 2.0], [0.1, 0.1], [0], "drops"),
])
def test_bad_input_names_the_parameter(metrics, lrs, drops, words):
    with pytest.raises(ValueError, match=words):
        plot_plateau(metrics, lrs, drops=drops)


def test_never_shows(monkeypatch):
    def fail():
        raise AssertionError("plot_plateau called plt.show()")

    monkeypatch.setattr(plt, "show", fail)
    plot_plateau(METRICS, np.full(len(METRICS), 0.1))
