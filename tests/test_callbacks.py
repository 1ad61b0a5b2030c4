"""Callbacks: order, events, early stopping, divergence guard, custom schedules."""
import math

import pytest
import torch

from lrcourse.callbacks import Callback, DivergenceGuard, EarlyStopping, LambdaSchedule, StopTraining
from lrcourse.data import digits
from lrcourse.models import mlp
from lrcourse.training import fit


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


def test_early_stopping_stops_after_patience_epochs_without_improvement(small):
    train, val = small
    model, opt = sgd(lr=1e-9)  # effectively frozen: the validation loss cannot improve

    h = fit(model, train, val, epochs=10, optimizer=opt, callbacks=[EarlyStopping(patience=2, min_delta=1e-3)],
            progress=False)
    # epoch 0 sets the best; epochs 1 and 2 fail to improve -> stop after 3 epochs
    assert len(h.val_loss) == 3 and "early stopping" in h.stop_reason


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
    h = fit(model, train, epochs=1, optimizer=opt, callbacks=[DivergenceGuard(factor=None)], progress=False)
    finite = all(math.isfinite(x) for x in h.loss)
    assert h.diverged == (not finite)


def test_lambda_schedule_sets_lr_from_step_and_epoch(small):
    train, _ = small
    model, opt = sgd()
    fn = lambda step, epoch: 0.1 * 0.5 ** epoch + 0.001 * step
    h = fit(model, train, epochs=2, optimizer=opt, batch_size=64,
            callbacks=[LambdaSchedule(fn)], progress=False)
    assert h.lr == [fn(s, s // 4) for s in range(8)]


def test_lambda_schedule_rejects_bad_values(small):
    train, _ = small
    model, opt = sgd()
    with pytest.raises(ValueError, match="lr=-1"):
        fit(model, train, epochs=1, optimizer=opt, callbacks=[LambdaSchedule(lambda s, e: -1)], progress=False)


@pytest.mark.parametrize("call, exc, name", [
    (lambda: EarlyStopping(patience=0), ValueError, "patience"),
    (lambda: EarlyStopping(monitor="acc"), ValueError, "monitor"),
    (lambda: EarlyStopping(min_delta=-1), ValueError, "min_delta"),
    (lambda: DivergenceGuard(factor=0.5), ValueError, "factor"),
    (lambda: DivergenceGuard(check_every=0), ValueError, "check_every"),
    (lambda: LambdaSchedule(0.1), TypeError, "fn"),
])
def test_bad_input(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


def test_stop_training_is_an_exception_with_a_message():
    assert str(StopTraining("why")) == "why" and issubclass(StopTraining, Exception)
