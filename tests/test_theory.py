"""Stability theory: sharpness by power iteration, GD on a quadratic around 2/L."""
import numpy as np
import pytest
import torch

from lrcourse.theory import (
    FUNCTIONS,
    classify,
    describe_run,
    gd_trajectory,
    least_squares_L,
    quadratic_gd,
    sharpness,
    stability_limit,
    surface,
)


class Bowl(torch.nn.Module):
    """forward() returns 0.5 x^T A x, so the Hessian w.r.t. x is exactly A."""

    def __init__(self, A):
        super().__init__()
        self.register_buffer("A", torch.as_tensor(A, dtype=torch.float64))
        self.x = torch.nn.Parameter(torch.ones(self.A.shape[0], dtype=torch.float64))

    def forward(self, _inputs):
        return 0.5 * self.x @ self.A @ self.x


def _random_spd(eigs, seed):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(len(eigs), len(eigs))))
    return Q @ np.diag(eigs) @ Q.T


def _value(out, _y):
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sharpness_equals_top_eigenvalue_of_quadratic(seed):
    eigs = np.array([7.3, 3.0, 1.0, 0.5, 0.1])
    model = Bowl(_random_spd(eigs, seed))
    lam = sharpness(model, _value, (None, None), iters=500, tol=1e-12, seed=seed)
    assert lam == pytest.approx(7.3, rel=1e-4)


def test_sharpness_reports_sign_of_largest_magnitude():
    model = Bowl(_random_spd([-5.0, 2.0, 1.0], 3))
    lam = sharpness(model, _value, (None, None), iters=500, tol=1e-12)
    assert lam == pytest.approx(-5.0, rel=1e-4)


def test_sharpness_of_least_squares_matches_closed_form_and_leaves_model_unchanged():
    torch.manual_seed(0)
    X = torch.randn(64, 5)
    y = torch.randn(64, 1)
    model = torch.nn.Linear(5, 1)
    before = [p.detach().clone() for p in model.parameters()]
    lam = sharpness(model, torch.nn.MSELoss(), (X, y), iters=300, tol=1e-10)
    Xb = np.hstack([X.numpy(), np.ones((64, 1))])  # bias is a column of ones
    assert lam == pytest.approx(2 * least_squares_L(Xb), rel=1e-4)  # MSE = (1/n)|r|^2, H = 2X^T X/n
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.fixture
def bowl():
    A = _random_spd([4.0, 1.0, 0.25], 7)
    return A, stability_limit(4.0)


def test_gd_converges_just_below_two_over_L(bowl):
    A, limit = bowl
    traj = quadratic_gd(A, [1.0, -2.0, 0.5], 0.99 * limit, 3000)
    assert np.linalg.norm(traj[-1]) < 1e-3 * np.linalg.norm(traj[0])


def test_gd_diverges_just_above_two_over_L(bowl):
    A, limit = bowl
    traj = quadratic_gd(A, [1.0, -2.0, 0.5], 1.01 * limit, 3000)
    assert np.linalg.norm(traj[-1]) > 1e3 * np.linalg.norm(traj[0])


def test_gd_oscillates_between_one_and_two_over_L_and_not_below():
    eigs = np.array([4.0, 1.0])  # diagonal bowl: coordinate 0 is the top direction
    osc = quadratic_gd(eigs, [1.0, 1.0], 1.5 / 4.0, 20)[:, 0]
    assert np.all(np.sign(osc[1:]) == -np.sign(osc[:-1]))  # sign flips every step
    mono = quadratic_gd(eigs, [1.0, 1.0], 0.5 / 4.0, 20)[:, 0]
    assert np.all(mono > 0) and np.all(np.diff(mono) < 0)


@pytest.mark.parametrize("factor, converges", [(0.99, True), (1.01, False)])
def test_least_squares_on_digits_converges_iff_lr_below_two_over_L(factor, converges):
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.data - digits.data.mean(0)) / (digits.data.std(0) + 1e-8)  # rank-deficient
    y = (digits.target == 3).astype(float)
    w_star = np.linalg.pinv(X) @ y  # pinv, not lstsq (SCIENCE.md)
    lr = factor * stability_limit(least_squares_L(X))
    # least squares is the bowl A = X^T X / n around w*; iterate on the error w - w*
    traj = quadratic_gd(X.T @ X / len(X), -w_star, lr, 2000)
    ratio = np.linalg.norm(traj[-1]) / np.linalg.norm(traj[0])
    assert (ratio < 1.0) == converges
    assert (ratio > 1e6) == (not converges)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: stability_limit(0.0), "L"),
        (lambda: stability_limit(float("nan")), "L"),
        (lambda: quadratic_gd([1.0], [1.0, 2.0], 0.1, 3), "x0"),
        (lambda: quadratic_gd([1.0], [1.0], -0.1, 3), "lr"),
        (lambda: quadratic_gd([1.0], [1.0], 0.1, 2.5), "steps"),
        (lambda: quadratic_gd(np.ones((2, 3)), [1.0, 1.0], 0.1, 3), "A"),
        (lambda: least_squares_L(np.ones(3)), "X"),
        (lambda: sharpness(torch.nn.Linear(2, 1), torch.nn.MSELoss(), (None, None), iters=0), "iters"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# --- gradient descent on the two 2-D test functions ------------------------------------------------
def test_quadratic_trajectory_is_the_closed_form():
    lr, x0 = 0.15, np.array([-1.8, 1.6])
    traj = gd_trajectory("quadratic", lr, 10, x0)
    t = np.arange(11)[:, None]
    np.testing.assert_allclose(traj, x0 * (1 - lr * np.array([10.0, 1.0])) ** t)


@pytest.mark.parametrize("fraction, verdict", [(0.3, "converges"), (0.9, "converges"), (0.99, "converges"),
                                               (1.0, "oscillates"), (1.02, "diverges"), (1.5, "diverges")])
def test_classify_around_two_over_L(fraction, verdict):
    limit = 2 / FUNCTIONS["quadratic"]["L"]
    assert classify(gd_trajectory("quadratic", fraction * limit, 150)) == verdict


def test_readout_says_oscillating_only_above_one_over_L():
    assert describe_run("quadratic", 0.18, gd_trajectory("quadratic", 0.18, 60)) == \
        "lr = 0.18 = 0.90 × 2/L: converges, oscillating"
    assert describe_run("quadratic", 0.08, gd_trajectory("quadratic", 0.08, 60)).endswith("converges, monotonically")
    assert describe_run("quadratic", 0.3, gd_trajectory("quadratic", 0.3, 60)).endswith("diverges")


def test_rosenbrock_minimum_is_a_fixed_point_and_blowups_are_cut():
    np.testing.assert_allclose(gd_trajectory("rosenbrock", 0.001, 5, x0=(1.0, 1.0)), np.ones((6, 2)))
    far = gd_trajectory("rosenbrock", 0.01, 50)
    assert np.isnan(far[-1]).all() and classify(far, (1, 1)) == "diverges"
    assert classify(gd_trajectory("rosenbrock", 0.001, 500), (1.0, 1.0)) == "converges"


@pytest.mark.parametrize("args, words", [(("cubic", 0.1, 5), "fn_name"), (("quadratic", -1.0, 5), "lr"),
                                         (("quadratic", 0.1, 2.5), "steps")])
def test_gd_trajectory_bad_input(args, words):
    with pytest.raises(ValueError, match=words):
        gd_trajectory(*args)


def test_surface_is_zero_at_each_minimum_and_positive_elsewhere():
    for name, spec in FUNCTIONS.items():
        assert surface(name, *spec["minimum"]) == 0.0
        assert surface(name, *spec["x0"]) > 0.0
    with pytest.raises(ValueError, match="fn_name"):
        surface("cubic", 0.0, 0.0)


def test_theory_imports_torch_only_for_sharpness():
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None\n"
            "from lrcourse.theory import classify, gd_trajectory, stability_limit\n"
            "assert classify(gd_trajectory('quadratic', 0.1, 50)) == 'converges' and stability_limit(4.0) == 0.5\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
