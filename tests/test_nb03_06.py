"""Library additions made for notebooks 03-06: ``plotting.plot_plateau_runs``."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from matplotlib.ticker import NullFormatter

from lrcourse.plotting import plot_plateau_runs
from lrcourse.widgets import plateau_trace

LOSSES = [3.0, 2.0, 2.5, 2.4, 2.1, 2.2]


def _runs():
    a = plateau_trace(LOSSES, lr=1.0, factor=0.5, patience=1)
    b = plateau_trace(LOSSES, lr=1.0, factor=0.5, patience=3)
    return [("patience=1", LOSSES, *a), ("patience=3", LOSSES, *b)]


def test_draws_each_run_as_a_staircase_with_its_drops():
    ax = plot_plateau_runs(_runs(), title="t")
    lr_ax = ax.figure.axes[-1]
    lines = lr_ax.get_lines()
    assert [line.get_label() for line in lines] == ["patience=1", "patience=3"]
    # the LR of epoch k+1 is held over (k, k+1]: one more x than epochs, last value repeated
    assert lines[0].get_xdata().tolist() == list(range(7))
    assert lines[0].get_ydata().tolist() == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    assert lines[0].get_drawstyle() == "steps-post"
    # metric drawn once (same sequence), then one marker line per run at the drop epochs [4, 6] and []
    metric_lines, markers = ax.get_lines()[0], ax.get_lines()[1:]
    assert metric_lines.get_ydata().tolist() == LOSSES
    assert markers[0].get_xdata().tolist() == [4, 6] and markers[0].get_ydata().tolist() == [2.4, 2.2]
    assert markers[1].get_xdata().tolist() == [6]   # patience 3: the 4th bad epoch in a row
    assert ax.get_title() == "t"
    plt.close(ax.figure)


def test_lr_axis_is_log_shared_limits_and_no_minor_labels():
    ax = plot_plateau_runs(_runs(), lr_lim=(1e-3, 2.0))
    lr_ax = ax.figure.axes[-1]
    assert lr_ax.get_yscale() == "log" and lr_ax.get_ylim() == pytest.approx((1e-3, 2.0))
    assert isinstance(lr_ax.yaxis.get_minor_formatter(), NullFormatter)
    plt.close(ax.figure)


def test_distinct_metric_sequences_are_each_drawn():
    other = [1.0, 0.9, 0.95, 0.97, 0.8, 0.81]
    runs = [("a", LOSSES, *plateau_trace(LOSSES, lr=0.1)), ("b", other, *plateau_trace(other, lr=0.1))]
    ax = plot_plateau_runs(runs)
    metric_lines = [line for line in ax.get_lines() if line.get_marker() == "."]
    assert len(metric_lines) == 2
    plt.close(ax.figure)


def test_draws_on_the_given_axes():
    fig, axes = plt.subplots(1, 2)
    assert plot_plateau_runs(_runs(), ax=axes[1]) is axes[1]
    plt.close(fig)


@pytest.mark.parametrize("runs, match", [
    ([], "at least one"),
    ([("a", LOSSES, [1.0] * 5, [])], "one LR per metric value"),
    ([("a", [], [], [])], "non-empty"),
    ([("a", LOSSES, [1.0] * 6, [7])], "drops must be epochs in 1..6"),
    ([("a", LOSSES, [0.0] * 6, [])], "positive"),
    ([("a", LOSSES)], "tuple"),
])
def test_bad_runs_name_the_problem(runs, match):
    with pytest.raises(ValueError, match=match):
        plot_plateau_runs(runs)
    plt.close("all")


@pytest.mark.parametrize("lr_lim", [(1.0, 0.1), (0.0, 1.0), (1.0,)])
def test_bad_lr_lim(lr_lim):
    with pytest.raises(ValueError, match="lr_lim"):
        plot_plateau_runs(_runs(), lr_lim=lr_lim)
    plt.close("all")
