"""lrcourse.optimizers: EvaluateAt, recompute_batchnorm, lr_range (notebook 15)."""
import math

import pytest
import torch
from torch import nn

from lrcourse.data import digits
from lrcourse.models import mlp
from lrcourse.optimizers import EvaluateAt, lr_range, recompute_batchnorm
from lrcourse.training import evaluate, fit


@pytest.fixture(scope="module")
def small():
    ds = digits(device="cpu")
    return ds.train[0][:320], ds.train[1][:320]


# --- lr_range -----------------------------------------------------------------------------------

def test_lr_range_interpolates_each_edge_in_log_lr():
    r = lr_range([0.01, 0.1, 1.0, 10.0], [0.5, 0.8, 0.75, 0.5], tolerance=0.1)
    # left: 0.8 at 1e-1, 0.5 at 1e-2, threshold 0.7 -> 1/3 of the way down: 10**(-1 - 1/3)
    assert math.isclose(r.low, 10 ** (-1 - 1 / 3)) and math.isclose(r.high, 10 ** (0 + 0.05 / 0.25))
    assert math.isclose(r.decades, math.log10(r.high / r.low))
    assert (r.best_lr, r.best_score, r.clipped_low, r.clipped_high) == (0.1, 0.8, False, False)


def test_lr_range_stops_at_a_diverged_run_and_marks_the_grid_ends():
    r = lr_range([0.1, 1.0, 10.0], [0.79, 0.8, float("nan")], tolerance=0.05)
    assert (r.low, r.high, r.clipped_low, r.clipped_high) == (0.1, 1.0, True, False)
    assert math.isclose(r.decades, 1.0)


def test_lr_range_zero_tolerance_is_a_point_and_the_range_is_contiguous():
    assert lr_range([0.1, 1.0, 10.0], [0.7, 0.8, 0.6], tolerance=0.0).decades == 0.0
    # a point inside the tolerance beyond a dip below it is not part of the range
    r = lr_range([0.01, 0.1, 1.0, 10.0], [0.8, 0.5, 0.79, 0.8], tolerance=0.05)
    assert r.best_lr == 0.01 and r.high < 0.1


@pytest.mark.parametrize("lrs, scores", [([1.0, 0.1], [0.5, 0.6]), ([0.0, 1.0], [0.5, 0.6]), ([0.1, 1.0], [0.5]),
                                         ([0.1, 1.0], [float("nan")] * 2)])
def test_lr_range_refuses_bad_input(lrs, scores):
    with pytest.raises(ValueError):
        lr_range(lrs, scores, tolerance=0.1)


def test_lr_range_refuses_a_negative_tolerance():
    with pytest.raises(ValueError, match="tolerance"):
        lr_range([0.1, 1.0], [0.5, 0.6], tolerance=-0.1)


# --- EvaluateAt -----------------------------------------------------------------------------------

def test_evaluate_at_records_the_chosen_epochs_at_the_schedule_free_evaluation_point(small):
    import schedulefree

    model = mlp(64, hidden=(16,))
    opt = schedulefree.SGDScheduleFree(model.parameters(), lr=0.5)
    cb = EvaluateAt(small, epochs=(1, 3))
    h = fit(model, small, small, epochs=3, optimizer=opt, callbacks=[cb], progress=False)
    assert sorted(cb.results) == [1, 3]
    assert cb.results[3] == evaluate(model, small)  # the returned model is at x, in eval mode
    assert cb.results[1][0] == h.val_loss[0]  # same data as validation: the same weights were evaluated


def test_evaluate_at_refuses_no_epochs():
    with pytest.raises(ValueError, match="epochs"):
        EvaluateAt(None, epochs=())


# --- recompute_batchnorm --------------------------------------------------------------------------

def test_recompute_batchnorm_gives_the_plain_mean_and_variance_of_the_data():
    torch.manual_seed(0)
    X = torch.randn(300, 4) * 3 + 1
    model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2))
    model.eval()
    used = recompute_batchnorm(model, (X, torch.zeros(300, dtype=torch.long)), batch_size=300)
    bn = model[0]
    assert used == 1 and not model.training and bn.momentum == 0.1
    assert torch.allclose(bn.running_mean, X.mean(0), atol=1e-5)
    assert torch.allclose(bn.running_var, X.var(0, unbiased=True), atol=1e-4)


def test_recompute_batchnorm_limits_the_batches_and_ignores_models_without_batchnorm():
    X, y = torch.randn(100, 4), torch.zeros(100, dtype=torch.long)
    model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2))
    assert recompute_batchnorm(model, (X, y), num_batches=2, batch_size=10) == 2
    assert torch.allclose(model[0].running_mean, X[:20].mean(0), atol=1e-6)  # an equal-weight average of 2
    assert model.training
    assert recompute_batchnorm(mlp(4, hidden=(3,)), (X, y)) == 0
