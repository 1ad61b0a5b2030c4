"""Callbacks: order, events, early stopping, divergence guard, custom schedules."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lrcourse.callbacks import Callback, DivergenceGuard, EarlyStopping, LambdaSchedule
from lrcourse.data import digits
from lrcourse.models import mlp
from lrcourse.torch_bridge import set_lr
from lrcourse.training import fit, load_checkpoint


@pytest.fixture(scope="module")
def small():
    ds = digits(device="cpu")
    return (ds.train[0][:256], ds.train[1][:256]), (ds.val[0][:128], ds.val[1][:128])


def sgd(lr=0.1):
    model = mlp(64, hidden=(16,))
    return model, torch.optim.SGD(model.parameters(), lr=lr)


def test_events_fire_in_order_and_callbacks_sorted_by_order(small):
    train, val = small
    log = []

    class Rec(Callback):
        def __init__(self, name, order):
            self.name, self.order = name, order
        def before_fit(self, t): log.append((self.name, "before_fit"))
        def before_epoch(self, t): log.append((self.name, "before_epoch", t.epoch))
        def before_batch(self, t): log.append((self.name, "before_batch", t.step))
        def after_batch(self, t): log.append((self.name, "after_batch", t.step))
        def after_epoch(self, t): log.append((self.name, "after_epoch", len(t.history.val_loss)))
        def after_fit(self, t): log.append((self.name, "after_fit"))

    model, opt = sgd()
    fit(model, train, val, epochs=2, optimizer=opt, batch_size=128, callbacks=[Rec("b", 5), Rec("a", -5)],
        progress=False)
    a = [e[1:] for e in log if e[0] == "a"]
    assert a == [("before_fit",), ("before_epoch", 0), ("before_batch", 0), ("after_batch", 1),
                 ("before_batch", 1), ("after_batch", 2), ("after_epoch", 1), ("before_epoch", 1),
                 ("before_batch", 2), ("after_batch", 3), ("before_batch", 3), ("after_batch", 4),
                 ("after_epoch", 2), ("after_fit",)]
    assert [e[0] for e in log[:2]] == ["a", "b"]


# --- EarlyStopping: a pure step(metric) core, checked against Keras 3 -----------------------------

class _KerasModel:  # all keras.callbacks.EarlyStopping touches on the model
    stop_training = False


def keras_stop_epoch(values, patience, min_delta, mode):
    """The epoch at whose end Keras 3's EarlyStopping stops, or None."""
    import keras

    cb = keras.callbacks.EarlyStopping(monitor="m", min_delta=min_delta, patience=patience, mode=mode)
    model = _KerasModel()
    cb.set_model(model)
    cb.on_train_begin()
    for epoch, value in enumerate(values):
        cb.on_epoch_end(epoch, {"m": value})
        if model.stop_training:
            return epoch
    return None


def our_stop_epoch(values, patience, min_delta, monitor):
    es = EarlyStopping(patience=patience, min_delta=min_delta, monitor=monitor)
    return next((epoch for epoch, value in enumerate(values) if es.step(value)), None)


# dyadic values (k/8): exact in float32 (Keras compares in float32 tensors) and float64 alike
_metric = st.integers(0, 40).map(lambda k: k / 8)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(_metric, min_size=1, max_size=25), patience=st.integers(1, 5),
       min_delta=st.sampled_from([0.0, 0.125, 0.25, 0.5, 1.0]),
       monitor=st.sampled_from(["val_loss", "train_loss", "val_acc"]))
def test_early_stopping_stops_when_keras_does(values, patience, min_delta, monitor):
    mode = "max" if monitor == "val_acc" else "min"
    assert our_stop_epoch(values, patience, min_delta, monitor) == keras_stop_epoch(values, patience, min_delta, mode)


@pytest.mark.parametrize("monitor, values, expected", [
    # min_delta=0.1, min mode: 0.95 is not an improvement on 1.0 (less than 0.1 lower), 0.8 is
    ("val_loss", [1.0, 0.95, 0.8, 0.75, 0.72], 4),
    ("train_loss", [1.0, 0.95, 0.8, 0.75, 0.72], 4),
    # max mode: a rising accuracy improves; 0.5 -> 0.55 is within min_delta
    ("val_acc", [0.5, 0.55, 0.7, 0.75, 0.79], 4),
    ("val_acc", [0.5, 0.7, 0.9, 1.0, 1.1], None),
])
def test_early_stopping_landmarks_min_delta_and_mode(monitor, values, expected):
    # landmarks that kill the mutants "ignores min_delta" (it would never stop) and "always minimises"
    assert our_stop_epoch(values, 2, 0.1, monitor) == expected
    assert our_stop_epoch(values, 2, 0.0, monitor) is None  # every value improves when min_delta is 0


def test_early_stopping_nan_never_improves_unlike_keras():
    # the one documented difference: Keras takes a first NaN as its best, after which nothing improves
    assert our_stop_epoch([float("nan"), 1.0, 0.5], 1, 0.0, "val_loss") == 0
    assert keras_stop_epoch([float("nan"), 1.0, 0.5], 1, 0.0, "min") == 1
    assert our_stop_epoch([1.0, float("nan"), 0.5, 0.4], 2, 0.0, "val_loss") is None


def test_early_stopping_in_fit_stops_on_val_acc_and_train_loss(small):
    train, val = small
    for monitor in ("val_acc", "train_loss"):
        model, opt = sgd(lr=1e-9)  # effectively frozen: nothing improves after the first epoch
        es = EarlyStopping(patience=2, monitor=monitor, min_delta=1e-3)  # per-epoch means move in the last bits
        h = fit(model, train, val, epochs=10, optimizer=opt, callbacks=[es], progress=False)
        assert len(h.val_loss) == 3 and h.stop_reason.startswith(f"early stopping: {monitor} did not improve")
        assert es.best == getattr(h, monitor)[0] and es.wait == 2


def test_early_stopping_needs_val(small):
    train, _ = small
    model, opt = sgd()
    with pytest.raises(ValueError, match="validation"):
        fit(model, train, epochs=1, optimizer=opt, callbacks=[EarlyStopping(2)], progress=False)


def test_divergence_guard_stops_within_the_epoch(small):
    train, _ = small
    model, opt = sgd(lr=100.0)
    guard = DivergenceGuard(factor=4.0, check_every=1)
    h = fit(model, train, epochs=3, optimizer=opt, callbacks=[guard], progress=False)
    assert h.diverged and h.stop_reason.startswith("diverged")
    assert len(h.loss) == h.diverged_at + 1  # stopped right after the bad update
    assert not h.loss[h.diverged_at] <= 4.0 * h.loss[0]
    assert h.train_loss == []  # no complete epoch


def test_divergence_guard_none_factor_ignores_finite_explosions(small):
    train, _ = small
    model, opt = sgd(lr=20.0)
    h = fit(model, train, epochs=2, optimizer=opt, callbacks=[DivergenceGuard(factor=None)], progress=False)
    assert all(math.isfinite(x) for x in h.loss) and max(h.loss) > 10 * h.loss[0]  # a finite spike happened...
    assert not h.diverged and len(h.train_loss) == 2  # ...and ran on; the default guard (10x) stops it:
    model, opt = sgd(lr=20.0)
    assert fit(model, train, epochs=2, optimizer=opt, progress=False).diverged


def test_a_guard_of_your_own_replaces_the_default_one_even_a_subclass(small):
    train, _ = small

    class Quiet(DivergenceGuard):
        pass

    for guard in (DivergenceGuard(factor=None, check_every="epoch"), Quiet(factor=None)):
        model, opt = sgd(lr=20.0)
        assert not fit(model, train, epochs=2, optimizer=opt, callbacks=[guard], progress=False).diverged


def test_divergence_at_the_epoch_end_keeps_the_last_good_checkpoint(small, tmp_path):
    train, _ = small

    class Explode(Callback):  # a huge LR from the second epoch on
        def before_batch(self, trainer):
            if trainer.epoch == 1:
                set_lr(trainer.optimizer, 1e4)

    model, opt = sgd(lr=0.1)
    h = fit(model, train, epochs=3, optimizer=opt, callbacks=[Explode()], checkpoint_path=tmp_path / "c.pt",
            progress=False)
    assert h.diverged and len(h.train_loss) == 2 and h.diverged_at >= 4  # stopped at the end of epoch 1
    assert load_checkpoint(tmp_path / "c.pt")["epoch"] == 1  # epoch 1 was not checkpointed


def test_lambda_schedule_sets_lr_from_step_and_epoch(small):
    train, _ = small
    model, opt = sgd()
    def fn(step, epoch):
        return 0.1 * 0.5 ** epoch + 0.001 * step

    h = fit(model, train, epochs=2, optimizer=opt, batch_size=64,
            callbacks=[LambdaSchedule(fn)], progress=False)
    assert h.lr == [fn(s, s // 4) for s in range(8)]


def test_lambda_schedule_rejects_bad_values(small):
    train, _ = small
    model, opt = sgd()
    with pytest.raises(ValueError, match="lr=-1"):
        fit(model, train, epochs=1, optimizer=opt, callbacks=[LambdaSchedule(lambda s, e: -1)], progress=False)


@pytest.mark.parametrize("call, exc, message", [
    (lambda: EarlyStopping(patience=0), ValueError, "patience must be >= 1, got 0"),
    (lambda: EarlyStopping(patience=1.5), ValueError, "patience must be an integer, got 1.5"),
    (lambda: EarlyStopping(patience="2"), TypeError, "patience must be an integer, got str"),
    (lambda: EarlyStopping(monitor="acc"), ValueError, "monitor must be one of .*'acc'"),
    (lambda: EarlyStopping(monitor=None), TypeError, "monitor must be a str"),
    (lambda: EarlyStopping(min_delta=-1), ValueError, "min_delta must be >= 0, got -1"),
    (lambda: EarlyStopping(min_delta=True), TypeError, "min_delta must be a real number, got bool"),
    (lambda: EarlyStopping(min_delta=float("nan")), ValueError, "min_delta must be finite, got nan"),
    (lambda: DivergenceGuard(factor=0.5), ValueError, "factor must be > 1, got 0.5"),
    (lambda: DivergenceGuard(factor="10"), TypeError, "factor must be a real number, got str"),
    (lambda: DivergenceGuard(check_every=0), ValueError, "check_every must be >= 1, got 0"),
    (lambda: DivergenceGuard(check_every="batch"), TypeError, "check_every must be an integer, got str"),
    (lambda: LambdaSchedule(0.1), TypeError, "fn must be a callable"),
])
def test_bad_input_names_the_parameter_and_the_value(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_numpy_scalars_are_accepted():
    es = EarlyStopping(patience=np.int64(2), min_delta=np.float32(0.5))
    assert es.patience == 2 and es.min_delta == 0.5 and DivergenceGuard(np.float64(4.0), np.int64(3)).check_every == 3
