"""The library pieces notebooks 00-02 added: ``theory.least_squares_gaps``, ``range_test.ema_smooth``,
``resmooth`` and ``loss_minima``, ``plotting.plot_range_test_full`` and ``widgets.range_test_explorer``;
and the review findings those notebooks fix that a test can see in the notebook files."""
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lrcourse.data import digits
from lrcourse.models import mlp
from lrcourse.plotting import plot_range_test, plot_range_test_full
from lrcourse.range_test import RangeTestResult, ema_smooth, loss_minima, lr_range_test, resmooth
from lrcourse.theory import least_squares_gaps, least_squares_L

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- least_squares_gaps
def _problem(seed=0, n=40, d=6, k=3, zero_column=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if zero_column:
        X[:, 0] = 0.0  # rank-deficient, like digits' always-blank pixels
    return X, rng.standard_normal((n, k))


def test_least_squares_gaps_equal_the_plain_loss_difference():
    """Oracle: GD written on the data itself, and f(W) - f* from the loss definition."""
    X, Y = _problem(zero_column=True)
    lr = 0.5 * 2 / least_squares_L(X)
    loss = lambda W: 0.5 * np.mean(np.sum((X @ W - Y) ** 2, axis=1))  # noqa: E731
    f_star = loss(np.linalg.pinv(X) @ Y)
    W, want = np.zeros((X.shape[1], Y.shape[1])), []
    for _ in range(30):
        W = W - lr * X.T @ (X @ W - Y) / len(X)
        want.append(loss(W) - f_star)
    np.testing.assert_allclose(least_squares_gaps(X, Y, lr, 30), want, rtol=1e-7, atol=1e-12)


def test_least_squares_gaps_landmark_one_over_L_solves_the_steep_direction_in_one_step():
    # G = diag(0.5, 2): at lr = 1/L = 0.5 the steep coordinate is exact after one step, the flat one
    # shrinks by 1 - 0.5 * 0.5 = 0.75 per step, so the gap shrinks by 0.75**2 per step
    X, y = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([1.0, 1.0])
    gaps = least_squares_gaps(X, y, lr=0.5, steps=4)
    np.testing.assert_allclose(gaps[1:] / gaps[:-1], 0.5625)
    assert gaps[0] == pytest.approx(0.5 * 0.5 * 0.75**2)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), factor=st.floats(0.05, 0.98))
def test_least_squares_gaps_never_rise_below_the_limit(seed, factor):
    X, Y = _problem(seed)
    gaps = least_squares_gaps(X, Y, factor * 2 / least_squares_L(X), 50)
    assert np.all(gaps >= -1e-12) and np.all(np.diff(gaps) <= 1e-12 * max(1.0, gaps[0]))


def test_least_squares_gaps_diverge_above_the_limit():
    X, Y = _problem(3)
    gaps = least_squares_gaps(X, Y, 1.05 * 2 / least_squares_L(X), 400)
    assert gaps[-1] > 1e6 * gaps[0]


@pytest.mark.parametrize("kwargs, match", [
    (dict(X=np.ones(3), Y=np.ones(3)), "X must be a non-empty 2-D array"),
    (dict(X=np.ones((3, 2)), Y=np.ones(4)), "Y must have one row per row of X"),
    (dict(lr=-0.1), "lr must be a non-negative finite number"),
    (dict(lr=float("nan")), "lr must be a non-negative finite number"),
    (dict(steps=0), "steps must be a positive integer"),
    (dict(steps=2.5), "steps must be a positive integer"),
    (dict(steps=True), "steps must be a positive integer"),
])
def test_least_squares_gaps_bad_input(kwargs, match):
    args = dict(X=np.eye(3), Y=np.ones(3), lr=0.1, steps=5) | kwargs
    with pytest.raises(ValueError, match=match):
        least_squares_gaps(**args)


# ----------------------------------------------------------------------------- ema_smooth, resmooth, loss_minima
@pytest.fixture(scope="module")
def ds():
    return digits(device="cpu")


def _test(ds, *, momentum=0.9, seed=0, **kwargs):
    model = mlp(ds.num_features, out_features=ds.num_classes, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)
    return lr_range_test(model, ds.train, optimizer=opt, seed=seed, progress=False, **kwargs)


def test_ema_smooth_is_bitwise_what_the_range_test_records(ds):
    for smooth in (0.98, 0.5, 0.0):
        res = _test(ds, smooth=smooth)
        assert np.array_equal(ema_smooth(res.losses, smooth), res.smoothed)


def test_ema_smooth_landmarks():
    assert ema_smooth([3.0, 1.0, 2.0], 0.0).tolist() == [3.0, 1.0, 2.0]          # beta = 0: the losses
    np.testing.assert_allclose(ema_smooth(np.full(20, 2.5), 0.9), 2.5)          # bias-corrected: no warm-up dip
    assert np.isnan(ema_smooth([1.0, np.nan, 1.0], 0.5)[1:]).all()              # NaN poisons the rest


@pytest.mark.parametrize("smooth", [1.0, -0.1, "0.9", True, None])
def test_ema_smooth_bad_input(smooth):
    with pytest.raises(ValueError, match="smooth must be a number in"):
        ema_smooth([1.0, 2.0], smooth)


@pytest.mark.parametrize("momentum", [0.9, 0.0])
@pytest.mark.parametrize("smooth, diverge_factor", [(0.98, 4.0), (0.9, 4.0), (0.5, 4.0), (0.0, 4.0), (0.7, 2.0),
                                                    (0.98, None)])
def test_resmooth_is_exactly_a_new_test_with_that_rule(ds, momentum, smooth, diverge_factor):
    """Oracle: re-reading a test recorded without a stop rule == running the test with the rule."""
    recorded = _test(ds, momentum=momentum, diverge_factor=None)
    direct = _test(ds, momentum=momentum, smooth=smooth, diverge_factor=diverge_factor)
    again = resmooth(recorded, smooth, diverge_factor)
    assert again.stop_reason == direct.stop_reason and len(again.lrs) == len(direct.lrs)
    assert np.array_equal(again.lrs, direct.lrs) and np.array_equal(again.losses, direct.losses)
    assert np.array_equal(again.smoothed, direct.smoothed)
    assert again.suggestions() == direct.suggestions()
    assert again.settings["smooth"] == smooth and again.settings["diverge_factor"] == diverge_factor


def test_resmooth_refuses_to_invent_losses_after_an_early_stop():
    lrs = np.logspace(-3, 0, 5)
    stopped = RangeTestResult(lrs, np.array([2.0, 1.0, 0.5, 1.5, 2.5]), np.zeros(5), "diverged", 10)
    with pytest.raises(ValueError, match="record it with diverge_factor=None"):
        resmooth(stopped, 0.9, 4.0)       # the lagging average would not have stopped within 5 steps
    assert resmooth(stopped, 0.0, 2.0).stop_reason == "diverged"   # stops inside the record: fine


def test_resmooth_stops_at_a_non_finite_loss():
    res = RangeTestResult(np.logspace(-3, 0, 4), np.array([2.0, 1.0, np.inf, 3.0]), np.zeros(4), "completed", 4)
    out = resmooth(res, 0.5)
    assert out.stop_reason == "non_finite" and len(out.lrs) == 3


@pytest.mark.parametrize("factor", [1.0, 0.5, True, "4"])
def test_resmooth_bad_diverge_factor(factor):
    res = RangeTestResult(np.logspace(-3, 0, 4), np.ones(4), np.ones(4), "completed", 4)
    with pytest.raises(ValueError, match="diverge_factor must be a number > 1 or None"):
        resmooth(res, 0.5, factor)


def test_loss_minima_show_the_lag_of_a_heavy_average(ds):
    for momentum in (0.9, 0.0):
        m = loss_minima(_test(ds, momentum=momentum))
        assert m["smoothed"] > m["raw"]          # fastai's 0.98 finds the bottom late


def test_loss_minima_ignore_the_non_finite_tail_and_check_window():
    lrs = np.logspace(-3, 0, 6)
    res = RangeTestResult(lrs, np.array([2.0, 1.0, 0.5, 0.7, np.nan, -5.0]), np.array([2, 1.5, 1, 0.8, np.nan, -9]),
                          "non_finite", 6)
    assert loss_minima(res, window=1) == {"raw": lrs[2], "smoothed": lrs[3]}
    for window in (0, 1.5, True):
        with pytest.raises(ValueError, match="window must be an integer >= 1"):
            loss_minima(res, window=window)


# ----------------------------------------------------------------------------- plot_range_test_full
def test_plot_range_test_full_shows_the_raw_descent_that_plot_range_test_clips(ds):
    """The review's finding: y-limits from the smoothed curve hide the raw loss's descent."""
    res = _test(ds)
    raw_low = np.nanmin(res.losses)
    old = plot_range_test(res)
    new = plot_range_test_full(res)
    assert old.get_ylim()[0] > raw_low            # the old plot cuts the raw minimum off ...
    assert new.get_ylim()[0] < raw_low            # ... the new one shows it
    labels = [t.get_text() for t in new.get_legend().get_texts()]
    assert any(t.startswith("lowest raw loss") for t in labels) and any(t.startswith("lowest smoothed") for t in labels)
    assert sum(t.split(":")[0] in res.suggestions() for t in labels) == 4
    plt.close("all")


def test_plot_range_test_full_without_suggestions_and_with_a_non_finite_tail():
    lrs = np.logspace(-5, 0, 30)
    loss = np.r_[np.linspace(2.3, 1.0, 25), [3.0, 9.0, np.inf, np.nan, np.nan]]
    res = RangeTestResult(lrs, loss, ema_smooth(loss, 0.5), "non_finite", 30)
    ax = plot_range_test_full(res, suggestions=False, title="t")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_title() == "t" and not any(t.startswith("valley") for t in labels)
    lo, hi = ax.get_ylim()
    assert lo < 1.0 and 2.3 < hi < 9.0            # the explosion is clipped, the descent is in view
    plt.close("all")


# ----------------------------------------------------------------------------- range_test_explorer
def test_range_test_explorer_moves_smoothing_without_training_again(ds):
    pytest.importorskip("ipywidgets")
    from lrcourse.widgets import range_test_explorer

    box = range_test_explorer("digits", momentum=0.9)
    first = box.result
    assert first.suggestions() == _test(ds).suggestions()          # the same test as the notebook's
    recorded = box.result.losses
    box.controls["smooth"].value = 0.6
    assert box.result.settings["smooth"] == 0.6
    direct = _test(ds, smooth=0.6)
    assert np.array_equal(box.result.smoothed, direct.smoothed) and box.result.stop_reason == direct.stop_reason
    assert np.array_equal(box.result.losses, recorded[:len(box.result.losses)])
    box.controls["momentum"].value = 0.0                            # a new optimizer: a new test
    assert np.array_equal(box.result.losses, _test(ds, momentum=0.0, smooth=0.6).losses)
    status = box.children[1].value
    assert "lag" in status and "suggestions" in status


def test_range_test_explorer_reruns_for_a_new_sweep(ds):
    pytest.importorskip("ipywidgets")
    from lrcourse.widgets import range_test_explorer

    box = range_test_explorer("digits", momentum=0.0)
    box.controls["num_steps"].value = 40
    box.controls["start_lr"].value = 1e-4
    direct = _test(ds, momentum=0.0, num_steps=40, start_lr=1e-4)
    assert box.result.num_steps == 40 and np.array_equal(box.result.losses, direct.losses)
    assert box.result.lrs[0] == pytest.approx(1e-4)


def test_range_test_explorer_works_at_the_ends_of_its_sliders():
    pytest.importorskip("ipywidgets")
    from lrcourse.widgets import range_test_explorer

    box = range_test_explorer("digits")
    for name in ("end_lr", "start_lr", "smooth", "momentum"):
        for end in ("min", "max"):
            box.controls[name].value = getattr(box.controls[name], end)
            assert "⚠" not in box.children[1].value, (name, end, box.children[1].value)


@pytest.mark.parametrize("data, error", [("cifar", ValueError), (3, TypeError)])
def test_range_test_explorer_names_a_bad_dataset(data, error):
    pytest.importorskip("ipywidgets")
    from lrcourse.widgets import range_test_explorer

    with pytest.raises(error, match="data must be"):
        range_test_explorer(data)


# ----------------------------------------------------------------------------- the notebooks themselves
def _text(name):
    nb = json.loads((ROOT / "notebooks" / name).read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"])


def test_review_fixes_visible_in_the_notebooks():
    nb00, nb01, nb02 = (_text(n) for n in ("00_start_here.ipynb", "01_learning_rate_sensitivity.ipynb",
                                           "02_lr_range_test.ipynb"))
    assert "LRCOURSE_SEED_OFFSET" in nb00 and "lrcourse student" in nb00 and "randint" in nb00
    assert "torch.randint(" not in nb00                        # the tour walks through epochs now
    assert "np.einsum" not in nb01 and "least_squares_gaps" in nb01
    assert "progressive sharpening" in nb01.lower() and "catapult" in nb01
    assert "theory does locate the edge" not in nb01 and "gradient noise lowers the ceiling" not in nb01
    assert "Silva" in nb02 and "Marques" not in nb02
    assert "2/3 of the way" not in nb02 and "half-way" in nb02
    assert "range_test_explorer(" in nb02 and "plot_range_test_full(" in nb02
    assert "0.79" not in nb02 and "locates the cliff" not in nb02
