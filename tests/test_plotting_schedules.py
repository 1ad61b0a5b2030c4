"""plot_schedules: ax in / ax out, one line per schedule, y data equal to the schedule."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lrcourse.plotting import plot_schedules
from lrcourse.schedules import CosineAnnealing, OneCycle, StepDecay, warmup_cosine


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_returns_the_given_ax_and_draws_on_it():
    fig, ax = plt.subplots()
    out = plot_schedules(CosineAnnealing(1.0, 10), 20, ax=ax)
    assert out is ax
    assert len(ax.get_lines()) == 1
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "learning rate"


def test_without_ax_makes_a_new_one():
    ax = plot_schedules(CosineAnnealing(1.0, 10), 5)
    assert isinstance(ax, matplotlib.axes.Axes)


def test_one_line_per_schedule_with_the_schedule_values():
    schedules = [CosineAnnealing(1.0, 30), OneCycle(0.5, 30), warmup_cosine(0.8, 30, 5), StepDecay(0.3, 7, 0.5)]
    ax = plot_schedules(schedules, 40)
    lines = ax.get_lines()
    assert len(lines) == len(schedules)
    for line, schedule in zip(lines, schedules):
        assert line.get_xdata().tolist() == list(range(40))
        assert line.get_ydata().tolist() == [schedule(t) for t in range(40)]
        assert line.get_label() == repr(schedule)


def test_dict_keys_and_labels_name_the_lines():
    ax = plot_schedules({"cos": CosineAnnealing(1.0, 10), "step": StepDecay(1.0, 3)}, 10)
    assert [line.get_label() for line in ax.get_lines()] == ["cos", "step"]
    ax = plot_schedules([CosineAnnealing(1.0, 10), StepDecay(1.0, 3)], 10, labels=["a", "b"], title="two")
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert ax.get_title() == "two"


def test_plain_function_falls_back_to_calling_it():
    ax = plot_schedules(lambda step: 1.0 / (1 + step), 6)
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [1.0 / (1 + t) for t in range(6)])


def test_log_scale_only_when_asked():
    assert plot_schedules(CosineAnnealing(1.0, 10, min_lr=0.01), 10, log=True).get_yscale() == "log"
    assert plot_schedules(CosineAnnealing(1.0, 10), 10).get_yscale() == "linear"


@pytest.mark.parametrize("num_steps", [0, -5, 2.5])
def test_bad_num_steps_raises_value_error(num_steps):
    with pytest.raises(ValueError, match="num_steps"):
        plot_schedules(CosineAnnealing(1.0, 10), num_steps)


@pytest.mark.parametrize("num_steps", ["10", None, True])
def test_non_number_num_steps_raises_type_error(num_steps):
    with pytest.raises(TypeError, match="num_steps"):
        plot_schedules(CosineAnnealing(1.0, 10), num_steps)


def test_bad_schedules_and_labels():
    with pytest.raises(ValueError, match="schedules"):
        plot_schedules([], 10)
    with pytest.raises(TypeError, match="float"):
        plot_schedules([0.1], 10)
    with pytest.raises(ValueError, match="labels"):
        plot_schedules([CosineAnnealing(1.0, 10)], 10, labels=["a", "b"])


def test_never_shows(monkeypatch):
    def fail():
        raise AssertionError("plot_schedules called plt.show()")

    monkeypatch.setattr(plt, "show", fail)
    plot_schedules(CosineAnnealing(1.0, 10), 10)


def test_drawstyle_steps_post_draws_a_staircase_and_default_joins_points():
    per_epoch = StepDecay(0.3, 2, 0.5)
    ax = plot_schedules(per_epoch, 6, drawstyle="steps-post", xlabel="epoch")
    line = ax.get_lines()[0]
    assert line.get_drawstyle() == "steps-post" and ax.get_xlabel() == "epoch"
    assert line.get_ydata().tolist() == [per_epoch(t) for t in range(6)]
    # the drawn path holds each LR until the next epoch: 2 vertices per point but the last
    path = line._get_transformed_path().get_fully_transformed_path().vertices
    assert len(path) == 2 * 6 - 1
    plain = plot_schedules(per_epoch, 6).get_lines()[0]
    assert plain.get_drawstyle() == "default" and plot_schedules(per_epoch, 6).get_xlabel() == "step"


def test_bad_drawstyle_names_the_parameter():
    with pytest.raises(ValueError, match="drawstyle"):
        plot_schedules(StepDecay(0.3, 2, 0.5), 6, drawstyle="stairs")
