"""ReduceLROnPlateau: torch oracle (any metric sequence), Keras differences, state, bad input."""
import math
import os
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lrcourse.plateau import ReduceLROnPlateau

os.environ.setdefault("KERAS_BACKEND", "torch")

# Keras's torch backend converts tensors with an old-style __array__; not our concern.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def torch_plateau_lrs(metrics, lr, **kwargs):
    """LRs (and final state) from torch's own ReduceLROnPlateau driving an SGD optimizer."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **kwargs)
    lrs = []
    for metric in metrics:
        scheduler.step(metric)
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs, scheduler


def course_lrs(metrics, lr, **kwargs):
    plateau = ReduceLROnPlateau(lr, **kwargs)
    return [plateau.step(metric) for metric in metrics], plateau


def same_float(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


# Metrics: plateaus (repeated grid values), noise, spikes and non-finite values.
metric_values = st.one_of(
    st.sampled_from([1.0, 0.5, 0.25, 0.0, -0.5]),
    st.floats(-2.0, 2.0),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)
plateau_kwargs = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(["min", "max"]),
        "factor": st.floats(0.01, 0.99),
        "patience": st.integers(0, 4),
        "threshold": st.sampled_from([0.0, 1e-4, 0.01, 0.5]),
        "threshold_mode": st.sampled_from(["rel", "abs"]),
        "cooldown": st.integers(0, 3),
        "eps": st.sampled_from([0.0, 1e-8, 1e-3, 0.1]),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    metrics=st.lists(metric_values, max_size=40),
    lr=st.floats(1e-3, 10.0),
    min_lr_fraction=st.sampled_from([0.0, 0.01, 0.5, 1.0]),
    kwargs=plateau_kwargs,
)
def test_matches_torch_for_any_metric_sequence(metrics, lr, min_lr_fraction, kwargs):
    kwargs["min_lr"] = lr * min_lr_fraction
    expected, scheduler = torch_plateau_lrs(metrics, lr, **kwargs)
    got, plateau = course_lrs(metrics, lr, **kwargs)
    assert len(got) == len(expected)
    for step, (a, b) in enumerate(zip(got, expected)):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0), (step, a, b)
    assert plateau.num_bad_epochs == scheduler.num_bad_epochs
    assert plateau.cooldown_counter == scheduler.cooldown_counter
    assert same_float(plateau.best, scheduler.best)


def torch_plateau_group_lrs(metrics, lrs, **kwargs):
    """Every group's LR after each epoch, torch's ReduceLROnPlateau driving an SGD with one group per LR."""
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    optimizer = torch.optim.SGD(groups, lr=lrs[0])
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **kwargs)
    out = []
    for metric in metrics:
        scheduler.step(metric)
        out.append(tuple(g["lr"] for g in optimizer.param_groups))
    return out


@settings(max_examples=100, deadline=None)
@given(
    metrics=st.lists(metric_values, max_size=40),
    lrs=st.lists(st.sampled_from([0.0, 1e-6, 1e-3, 0.01, 0.1, 1.0]), min_size=2, max_size=4),
    floors=st.sampled_from(["zero", "scalar", "list"]),
    kwargs=plateau_kwargs,
)
def test_one_lr_per_group_matches_torch_group_by_group(metrics, lrs, floors, kwargs):
    min_lr = {"zero": 0.0, "scalar": min(lrs), "list": [lr * 0.01 for lr in lrs]}[floors]
    expected = torch_plateau_group_lrs(metrics, lrs, min_lr=min_lr, **kwargs)
    plateau = ReduceLROnPlateau(lrs, min_lr=min_lr, **kwargs)
    got = [plateau.step(m) for m in metrics]
    assert got == expected  # the same floats: the same operations in the same order


@settings(max_examples=60, deadline=None)
@given(metrics=st.lists(metric_values, max_size=25), kwargs=plateau_kwargs)
def test_one_lr_through_set_lr_keeps_the_groups_ratios_as_torch_while_no_floor_is_reached(metrics, kwargs):
    from lrcourse.torch_bridge import get_lrs, set_lr

    kwargs["eps"] = 0.0  # no group's drop is skipped: the ratio rule then equals torch's per-group rule
    lrs = [0.1, 0.001, 0.01]
    expected = torch_plateau_group_lrs(metrics, lrs, **kwargs)
    optimizer = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs])
    plateau = ReduceLROnPlateau(lrs[0], **kwargs)
    for metric, theirs in zip(metrics, expected):
        set_lr(optimizer, plateau.step(metric))
        assert get_lrs(optimizer) == pytest.approx(theirs, rel=1e-12, abs=0)


def test_one_lr_and_a_floor_differs_from_torch_where_the_docstring_says():
    from lrcourse.torch_bridge import get_lrs, set_lr

    lrs, metrics = [1.0, 0.01], [1.0] * 4
    theirs = torch_plateau_group_lrs(metrics, lrs, factor=0.1, patience=0, min_lr=0.001)
    assert theirs[-1] == pytest.approx((0.001, 0.001))  # torch: every group stops at min_lr
    optimizer = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs])
    plateau = ReduceLROnPlateau(1.0, factor=0.1, patience=0, min_lr=0.001)
    for metric in metrics:
        set_lr(optimizer, plateau.step(metric))
    assert get_lrs(optimizer) == pytest.approx([0.001, 0.00001])  # the ratio-scaled group stops lower
    per_group = ReduceLROnPlateau(lrs, factor=0.1, patience=0, min_lr=0.001)
    assert [per_group.step(m) for m in metrics][-1] == theirs[-1]


def test_per_group_state_round_trip_and_shape_checks():
    plateau = ReduceLROnPlateau([0.1, 0.0], factor=0.5, patience=0, min_lr=[0.01, 0.0])
    assert plateau.lr == (0.1, 0.0) and plateau.step(1.0) == (0.1, 0.0) and plateau.step(1.0) == (0.05, 0.0)
    resumed = ReduceLROnPlateau(**plateau.config)
    resumed.load_state_dict(plateau.state_dict())
    assert resumed.lr == (0.05, 0.0) and resumed.initial_lr == (0.1, 0.0)
    with pytest.raises(ValueError, match="state_dict\\['lr'\\]"):
        ReduceLROnPlateau(0.1).load_state_dict(plateau.state_dict())
    with pytest.raises(TypeError, match="min_lr"):
        ReduceLROnPlateau(0.1, min_lr=[0.0])
    with pytest.raises(ValueError, match="min_lr"):
        ReduceLROnPlateau([0.1, 0.2], min_lr=[0.0])
    with pytest.raises(ValueError, match=r"min_lr\[1\]"):
        ReduceLROnPlateau([0.1, 0.2], min_lr=[0.0, 0.3])


def test_numpy_scalars_are_accepted_everywhere():
    import numpy as np

    plateau = ReduceLROnPlateau(np.float32(0.5), factor=np.float64(0.5), patience=np.int64(2), cooldown=np.int32(1),
                                min_lr=np.float32(0.0), threshold=np.float64(0.0), eps=np.float32(0.0))
    assert plateau.patience == 2 and type(plateau.patience) is int and plateau.lr == 0.5
    state = dict(plateau.state_dict(), num_bad_epochs=np.int64(1), lr=np.float64(0.25))
    plateau.load_state_dict(state)
    assert plateau.num_bad_epochs == 1 and plateau.lr == 0.25


def test_landmarks_patience_counts_bad_epochs_beyond_patience():
    # patience=2: the third bad epoch in a row triggers the reduction.
    lrs, _ = course_lrs([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], 1.0, factor=0.5, patience=2)
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]


def test_nan_is_a_bad_epoch_and_never_becomes_best():
    plateau = ReduceLROnPlateau(1.0, factor=0.5, patience=0)
    assert plateau.step(0.7) == 1.0
    assert plateau.step(math.nan) == 0.5
    assert plateau.best == 0.7
    assert plateau.step(0.6) == 0.5  # a real improvement still counts after a NaN


def test_min_lr_is_a_floor_and_eps_skips_tiny_reductions():
    lrs, plateau = course_lrs([1.0] * 8, 1.0, factor=0.1, patience=0, min_lr=0.005)
    assert lrs == pytest.approx([1.0, 0.1, 0.01, 0.005, 0.005, 0.005, 0.005, 0.005])
    # A reduction of exactly eps or less is skipped (torch: old - new > eps).
    lrs, _ = course_lrs([1.0] * 4, 1.0, factor=0.5, patience=0, eps=0.5)
    assert lrs == [1.0, 1.0, 1.0, 1.0]


def test_accepts_tensor_and_numpy_metrics_and_rejects_strings():
    import numpy as np

    plateau = ReduceLROnPlateau(1.0, patience=0)
    plateau.step(torch.tensor(0.5))
    plateau.step(np.float32(0.4))
    assert plateau.best == pytest.approx(0.4)
    for bad in ("low", "1.5", None, True, [0.5]):
        with pytest.raises(TypeError, match="metric"):
            plateau.step(bad)
    assert plateau.best == pytest.approx(0.4) and plateau.num_bad_epochs == 0  # nothing recorded


# ---- state -------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(metrics=st.lists(metric_values, min_size=1, max_size=30), data=st.data(), kwargs=plateau_kwargs)
def test_state_dict_round_trip_continues_the_same_sequence(metrics, data, kwargs):
    split = data.draw(st.integers(0, len(metrics)))
    whole, _ = course_lrs(metrics, 0.3, **kwargs)
    first = ReduceLROnPlateau(0.3, **kwargs)
    head = [first.step(m) for m in metrics[:split]]
    state = first.state_dict()
    assert all(type(v) in (int, float) for v in state.values())
    resumed = ReduceLROnPlateau(**first.config)
    resumed.load_state_dict(pickle.loads(pickle.dumps(state)))
    tail = [resumed.step(m) for m in metrics[split:]]
    assert head + tail == whole


def test_state_dict_loads_with_torch_weights_only(tmp_path):
    plateau = ReduceLROnPlateau(0.1, factor=0.5, patience=1, cooldown=2)
    for metric in [1.0, 1.0, 1.0, 1.0]:
        plateau.step(metric)
    path = tmp_path / "plateau.pt"
    torch.save({"plateau": plateau.state_dict(), "config": plateau.config}, path)
    loaded = torch.load(path, weights_only=True)
    resumed = ReduceLROnPlateau(**loaded["config"])
    resumed.load_state_dict(loaded["plateau"])
    assert resumed.state_dict() == plateau.state_dict()
    assert [resumed.step(m) for m in [2.0, 2.0, 2.0]] == [plateau.step(m) for m in [2.0, 2.0, 2.0]]


def test_load_state_dict_rejects_wrong_keys_and_values():
    plateau = ReduceLROnPlateau(0.1)
    with pytest.raises(ValueError, match="state_dict"):
        plateau.load_state_dict({"lr": 0.1})
    bad = dict(plateau.state_dict(), num_bad_epochs=-1)
    with pytest.raises(ValueError, match="num_bad_epochs"):
        plateau.load_state_dict(bad)


def test_repr_shows_config_and_state():
    plateau = ReduceLROnPlateau(0.1, factor=0.5, patience=0)
    plateau.step(1.0)
    plateau.step(2.0)
    text = repr(plateau)
    assert "factor=0.5" in text and "patience=0" in text
    assert "lr=0.05" in text and "best=1.0" in text


# ---- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, name, error",
    [
        ({"lr": 0.0}, "lr", ValueError),
        ({"lr": -1.0}, "lr", ValueError),
        ({"lr": math.inf}, "lr", ValueError),
        ({"lr": math.nan}, "lr", ValueError),
        ({"lr": "0.1"}, "lr", TypeError),
        ({"lr": [0.1, -0.1]}, "lr[1]", ValueError),
        ({"factor": 1.0}, "factor", ValueError),
        ({"factor": 0.0}, "factor", ValueError),
        ({"factor": 1.5}, "factor", ValueError),
        ({"patience": -1}, "patience", ValueError),
        ({"patience": 2.5}, "patience", ValueError),
        ({"patience": True}, "patience", TypeError),
        ({"mode": "auto"}, "mode", ValueError),
        ({"mode": None}, "mode", TypeError),
        ({"threshold_mode": "relative"}, "threshold_mode", ValueError),
        ({"threshold": -0.1}, "threshold", ValueError),
        ({"cooldown": -1}, "cooldown", ValueError),
        ({"min_lr": -0.1}, "min_lr", ValueError),
        ({"min_lr": 0.2}, "min_lr", ValueError),
        ({"eps": -1.0}, "eps", ValueError),
    ],
)
def test_bad_input_raises_naming_parameter_and_value(kwargs, name, error):
    arguments = {"lr": 0.1, **kwargs}
    with pytest.raises(error) as info:
        ReduceLROnPlateau(**arguments)
    message = str(info.value)
    value = kwargs[name.split("[")[0]]
    value = value[int(name[-2])] if "[" in name else value
    assert message.startswith(name)
    assert repr(value) in message


# ---- Keras differences: drive the real callback ---------------------------------------


@pytest.fixture(scope="module")
def keras_model():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    return model


def keras_plateau_lrs(model, metrics, lr=1.0, **kwargs):
    """LRs after each epoch from ``keras.callbacks.ReduceLROnPlateau`` (no training needed)."""
    import keras

    model.optimizer.learning_rate = lr
    callback = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", mode="min", **kwargs)
    callback.set_model(model)
    callback.on_train_begin()
    lrs = []
    for epoch, metric in enumerate(metrics):
        callback.on_epoch_end(epoch, logs={"val_loss": metric})
        lrs.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    return lrs


def test_keras_reduces_one_epoch_earlier_for_the_same_patience(keras_model):
    metrics = [3.0, 2.0, 2.5, 2.4, 2.1, 2.2]
    ours, _ = course_lrs(metrics, 1.0, factor=0.5, patience=1, threshold=0.0)
    theirs = keras_plateau_lrs(keras_model, metrics, factor=0.5, patience=1, min_delta=0.0)
    assert ours == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
    assert theirs == pytest.approx([1.0, 1.0, 0.5, 0.25, 0.125, 0.0625], rel=1e-6)
    # Keras patience p behaves like our patience p - 1 here.
    shifted, _ = course_lrs(metrics, 1.0, factor=0.5, patience=0, threshold=0.0)
    assert theirs == pytest.approx(shifted, rel=1e-6)


def test_keras_min_delta_is_absolute_where_torch_default_is_relative(keras_model):
    # Improvements of 0.03 on a loss of 1000: above Keras's absolute 1e-4, below torch's
    # default relative 1e-4 (that is 0.1 here).
    metrics = [1000.0, 999.95, 999.92, 999.89]
    ours, _ = course_lrs(metrics, 1.0, factor=0.5, patience=1)
    theirs = keras_plateau_lrs(keras_model, metrics, factor=0.5, patience=2)
    assert ours == [1.0, 1.0, 0.5, 0.5]
    assert theirs == pytest.approx([1.0, 1.0, 1.0, 1.0], rel=1e-6)
    absolute, _ = course_lrs(metrics, 1.0, factor=0.5, patience=1, threshold_mode="abs")
    assert theirs == pytest.approx(absolute, rel=1e-6)


def test_keras_cooldown_is_one_epoch_shorter(keras_model):
    metrics = [1.0] * 6
    ours, _ = course_lrs(metrics, 1.0, factor=0.5, patience=0, cooldown=1)
    theirs = keras_plateau_lrs(keras_model, metrics, factor=0.5, patience=1, cooldown=1)
    assert ours == [1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    # Keras's cooldown=1 ends before the next epoch is judged: no pause at all.
    assert theirs == pytest.approx([1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125], rel=1e-6)


def test_keras_takes_a_first_nan_as_best_and_never_improves_again(keras_model):
    metrics = [math.nan, 1.0, 0.9, 0.8]
    ours, _ = course_lrs(metrics, 1.0, factor=0.5, patience=0, threshold=0.0)
    theirs = keras_plateau_lrs(keras_model, metrics, factor=0.5, patience=1, min_delta=0.0)
    assert ours == [0.5, 0.5, 0.5, 0.5]
    assert theirs == pytest.approx([1.0, 0.5, 0.25, 0.125], rel=1e-6)


@settings(max_examples=15, deadline=None)
@given(
    metrics=st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, 2.0]), max_size=20),
    patience=st.integers(1, 3),
)
def test_keras_equals_ours_with_patience_minus_one_and_abs_threshold(keras_model, metrics, patience):
    # The mapping holds for finite metrics, no cooldown and no min_lr/eps floor in reach.
    theirs = keras_plateau_lrs(keras_model, metrics, factor=0.5, patience=patience, min_delta=0.0)
    ours, _ = course_lrs(metrics, 1.0, factor=0.5, patience=patience - 1, threshold=0.0, threshold_mode="abs")
    assert theirs == pytest.approx(ours, rel=1e-6)
