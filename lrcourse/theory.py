r"""Stability theory: why an LR above 2/L blows up, and how to measure L.

On a quadratic bowl :math:`f(x) = \tfrac12 x^\top A x` gradient descent is linear,

.. math:: x_{t+1} = (I - \eta A)\,x_t ,

so along an eigenvector with eigenvalue :math:`\lambda` the coordinate is multiplied by
:math:`1 - \eta\lambda` every step. With ``L`` the largest eigenvalue: for
:math:`\eta < 1/L` it shrinks monotonically, for :math:`1/L < \eta < 2/L` it shrinks while
flipping sign (oscillation), and for :math:`\eta > 2/L` it grows (divergence).
For a network the local ``L`` is the *sharpness*, the top eigenvalue of the Hessian of the
loss, measured here by power iteration on Hessian-vector products.

Two 2-D functions to watch it happen (``lrcourse.widgets.lr_explorer`` draws them):
:data:`FUNCTIONS`, :func:`gd_trajectory`, and :func:`classify` / :func:`describe_run`, which name
what a trajectory does.

>>> classify(gd_trajectory("quadratic", lr=0.9 * 2 / 10.0, steps=100))
'converges'

torch is imported only by :func:`sharpness`: the quadratic theory runs without it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lrcourse import _checks
from lrcourse.seeding import course_seed


def stability_limit(L: float) -> float:
    r"""The largest stable GD learning rate on a quadratic with top eigenvalue ``L``: :math:`2/L`.

    >>> stability_limit(4.0)
    0.5
    """
    return 2.0 / _checks.positive("L", L)


def _as_matrix(A) -> np.ndarray:
    """A square symmetric matrix, or the diagonal matrix of a 1-D array of eigenvalues."""
    A = np.asarray(A, dtype=float)
    if A.ndim == 1:
        return np.diag(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be a square matrix or a 1-D array of eigenvalues, got shape {A.shape}")
    return A


def quadratic_gd(A, x0, lr: float, steps: int) -> np.ndarray:
    r"""Run GD on :math:`f(x) = \tfrac12 x^\top A x`; return the trajectory, shape ``(steps + 1, d)``.

    :math:`x_{t+1} = x_t - \eta A x_t` with :math:`\eta` = ``lr``. ``A`` is a symmetric matrix or a
    1-D array of eigenvalues (a diagonal bowl). Row 0 is ``x0``; nothing is clipped, so a divergent
    run overflows to ``inf`` (numpy warnings silenced).

    >>> quadratic_gd([1.0], [1.0], lr=1.5, steps=3)[:, 0].tolist()   # 1 - 1.5 = -0.5 per step
    [1.0, -0.5, 0.25, -0.125]
    """
    A = _as_matrix(A)
    x = np.asarray(x0, dtype=float).reshape(-1)
    if x.shape[0] != A.shape[0]:
        raise ValueError(f"x0 must have length {A.shape[0]}, got {x.shape[0]}")
    lr = _checks.non_negative("lr", lr)
    steps = _checks.integer("steps", steps, minimum=0)
    traj = np.empty((steps + 1, x.shape[0]))
    traj[0] = x
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            x = x - lr * (A @ x)
            traj[t + 1] = x
    return traj


def least_squares_L(X) -> float:
    r"""Top eigenvalue of :math:`X^\top X / n`: the ``L`` of the least-squares loss :math:`\tfrac1{2n}\|Xw - y\|^2`.

    Uses ``eigvalsh`` on the symmetric Gram matrix (stable for rank-deficient ``X``, such as
    digits' constant-zero pixels; solve for the optimum with ``np.linalg.pinv``, not ``lstsq``).

    >>> round(least_squares_L([[1.0, 0.0], [0.0, 2.0]]), 3)   # diag(1, 4) / 2
    2.0
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
    return float(np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1])


def _hvp(loss_fn, params, vec):
    import torch

    grads = torch.autograd.grad(loss_fn(), params, create_graph=True)
    dot = sum((g * v).sum() for g, v in zip(grads, vec))
    return torch.autograd.grad(dot, params)


def sharpness(model, loss_fn, batch, iters: int = 50, tol: float = 1e-6, seed: int = 0) -> float:
    r"""Top Hessian eigenvalue (largest :math:`|\lambda|`, with its sign) of the loss on ``batch``.

    Power iteration :math:`v \leftarrow Hv / \|Hv\|` with Hessian-vector products from double
    backward; the estimate is the Rayleigh quotient :math:`v^\top H v`. It stops after ``iters``
    iterations or when the estimate changes by less than ``tol`` (relative). Power iteration finds
    the eigenvalue of largest *magnitude*: networks have negative eigenvalues too, so a negative
    result means the most curved direction is a saddle direction. ``batch`` is ``(X, y)``;
    ``loss_fn(model(X), y)`` is differentiated twice. The model is left unchanged.

    >>> import torch
    >>> m = torch.nn.Linear(2, 1, bias=False)
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0]]); y = torch.zeros(2, 1)
    >>> round(sharpness(m, torch.nn.MSELoss(), (X, y)), 3)   # H = 2 X^T X / n = diag(1, 4)
    4.0
    """
    import torch

    iters = _checks.integer("iters", iters, minimum=1)
    X, y = batch
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    gen = torch.Generator(device="cpu").manual_seed(course_seed(seed))
    vec = [torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device) for p in params]
    norm = torch.sqrt(sum((v * v).sum() for v in vec))
    vec = [v / norm for v in vec]
    closure = lambda: loss_fn(model(X), y)  # noqa: E731
    estimate = None
    for _ in range(iters):
        hv = _hvp(closure, params, vec)
        new = float(sum((h * v).sum() for h, v in zip(hv, vec)))  # Rayleigh quotient, |v| = 1
        norm = torch.sqrt(sum((h * h).sum() for h in hv))
        if norm == 0:
            return 0.0
        vec = [h / norm for h in hv]
        if estimate is not None and abs(new - estimate) <= tol * max(abs(new), 1e-12):
            return new
        estimate = new
    return estimate


# ------------------------------------------------------------------ GD on two 2-D functions
#: Test functions: top curvature ``L`` (at the minimum), the minimum, a start point, a step count
#: that shows the behaviour, and a plot window ``((x0, x1), (y0, y1))``.
FUNCTIONS = {
    "quadratic": {"L": 10.0, "minimum": (0.0, 0.0), "x0": (-1.8, 1.6), "steps": 40,
                  "window": ((-2.2, 2.2), (-2.0, 2.0))},
    "rosenbrock": {"L": 1001.6, "minimum": (1.0, 1.0), "x0": (-0.8, 0.4), "steps": 1000,
                   "window": ((-1.5, 1.6), (-0.6, 1.6))},
}
_QUADRATIC_EIGS = (10.0, 1.0)  # f(x, y) = (10 x^2 + y^2) / 2: L = 10, condition number 10


def surface(fn_name: str, x, y):
    r"""The value of test function ``fn_name`` at ``(x, y)`` (arrays broadcast): what a contour plot draws.

    "quadratic": :math:`(10x^2 + y^2)/2`; "rosenbrock": :math:`(1-x)^2 + 100(y-x^2)^2`.

    >>> surface("quadratic", 1.0, 1.0), surface("rosenbrock", 1.0, 1.0)
    (5.5, 0.0)
    """
    _checks.choice("fn_name", fn_name, FUNCTIONS)
    if fn_name == "quadratic":
        return 0.5 * (_QUADRATIC_EIGS[0] * x ** 2 + _QUADRATIC_EIGS[1] * y ** 2)
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


def gd_trajectory(fn_name: str, lr: float, steps: int, x0: Sequence[float] | None = None) -> np.ndarray:
    r"""Gradient descent :math:`x_{t+1} = x_t - \eta \nabla f(x_t)`; the points, shape ``(steps + 1, 2)``.

    ``fn_name``: "quadratic" (:math:`f = (10x^2 + y^2)/2`, L = 10, stable iff lr < 2/L = 0.2) or
    "rosenbrock" (:math:`(1-x)^2 + 100(y-x^2)^2`, L ≈ 1001.6 at the minimum (1, 1), larger on the
    way there). A run that blows up (|x| > 1e6) is cut there: the rest of the rows are NaN.

    >>> gd_trajectory("quadratic", 0.1, 2, x0=(1.0, 1.0)).round(3).tolist()
    [[1.0, 1.0], [0.0, 0.9], [0.0, 0.81]]
    """
    _checks.choice("fn_name", fn_name, FUNCTIONS)
    lr = _checks.non_negative("lr", lr)
    steps = _checks.integer("steps", steps, minimum=0)
    x0 = np.asarray(FUNCTIONS[fn_name]["x0"] if x0 is None else x0, dtype=float)
    if fn_name == "quadratic":
        traj = quadratic_gd(list(_QUADRATIC_EIGS), x0, lr, steps)
    else:
        traj = np.full((steps + 1, 2), np.nan)
        traj[0] = p = x0
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(steps):
                x, y = p
                grad = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
                p = p - lr * grad
                traj[t + 1] = p
                if not np.all(np.isfinite(p)) or np.abs(p).max() > 1e6:
                    break
    bad = ~np.isfinite(traj).all(axis=1) | (np.abs(np.nan_to_num(traj, nan=0.0)).max(axis=1) > 1e6)
    if bad.any():
        traj[np.argmax(bad):] = np.nan
    return traj


def classify(trajectory: np.ndarray, minimum: Sequence[float] | None = None) -> str:
    """"converges", "oscillates" (flips back and forth without getting closer) or "diverges".

    Compares the size r of the last point's error with the error halfway through the run: the
    distance to ``minimum`` when given, else the step length. Non-finite points or r > 1.05:
    diverges; r < 0.95: converges; otherwise converges (slowly) unless successive moves flip
    direction, which is oscillation (at exactly lr = 2/L the top-curvature coordinate flips sign
    forever at constant size).

    >>> [classify(gd_trajectory("quadratic", k * 0.2, 100)) for k in (0.5, 1.0, 1.1)]
    ['converges', 'oscillates', 'diverges']
    """
    traj = np.asarray(trajectory, dtype=float)
    if traj.ndim != 2 or len(traj) < 3:
        raise ValueError(f"trajectory must have shape (steps + 1, d) with steps >= 2, got {traj.shape}")
    if not np.isfinite(traj).all():
        return "diverges"
    moves = np.diff(traj, axis=0)
    if minimum is not None:
        size = np.linalg.norm(traj - np.asarray(minimum, dtype=float), axis=1)[1:]
    else:
        size = np.linalg.norm(moves, axis=1)
    half, end = size[len(size) // 2], size[-1]
    scale = max(size.max(), 1e-300)
    if end <= 1e-9 * scale:
        return "converges"
    ratio = end / half if half > 1e-12 * scale else np.inf
    if ratio > 1.05:
        return "diverges"
    if ratio < 0.95:
        return "converges"
    flips = np.einsum("ij,ij->i", moves[:-1], moves[1:]) < 0
    return "oscillates" if flips[len(flips) // 2:].mean() > 0.5 else "converges"


def describe_run(fn_name: str, lr: float, trajectory: np.ndarray) -> str:
    """The readout: ``"lr = 0.90 × 2/L: converges, oscillating"``.

    >>> describe_run("quadratic", 0.18, gd_trajectory("quadratic", 0.18, 100))
    'lr = 0.18 = 0.90 × 2/L: converges, oscillating'
    """
    limit = 2.0 / FUNCTIONS[fn_name]["L"]
    verdict = classify(trajectory, FUNCTIONS[fn_name]["minimum"] if fn_name == "rosenbrock" else None)
    where = " (L at the minimum)" if fn_name == "rosenbrock" else ""
    text = f"lr = {lr:.3g} = {lr / limit:.2f} × 2/L{where}: {verdict}"
    if verdict == "converges":
        # oscillating: some coordinate flips sign at most of its moves (the fast one dies out first)
        moves = np.diff(trajectory, axis=0)[: max(2, len(trajectory) // 4)]
        flips = (np.sign(moves[:-1]) * np.sign(moves[1:]) < 0).mean(axis=0)
        text += ", oscillating" if flips.max() > 0.5 else ", monotonically"
    return text

def least_squares_gaps(X, Y, lr: float, steps: int) -> np.ndarray:
    r"""Full-batch GD on least squares from :math:`W_0 = 0`; return :math:`f(W_t) - f^*` for t = 1 .. ``steps``.

    The loss is :math:`f(W) = \frac{1}{2n}\lVert XW - Y\rVert^2` (``Y`` one column per output, or a
    vector). Its gradient :math:`X^\top(XW - Y)/n = GW - C` needs only the Gram matrix
    :math:`G = X^\top X/n` and :math:`C = X^\top Y/n`, so a step costs :math:`d^2 k` multiplications
    instead of a pass over the data: :math:`W_{t+1} = W_t - \eta\,(G W_t - C)`. The gap is computed
    without the cancellation of :math:`f(W) - f^*` as a difference of two nearly equal numbers:

    .. math:: f(W) - f^* = \tfrac12 \operatorname{tr}\!\left((W - W^*)^\top G\, (W - W^*)\right),

    exact for any minimiser :math:`W^*` (here ``pinv(X) @ Y``, also when ``X`` is rank-deficient),
    because the normal equations :math:`G W^* = C` hold there. Entry t-1 is the gap after t steps.
    Nothing is clipped: above the stability limit :math:`2/L` the gap grows without bound (to inf).

    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]]); y = np.array([1.0, 1.0])   # G = diag(0.5, 2), L = 2
    >>> least_squares_gaps(X, y, lr=0.5, steps=3).round(4).tolist()   # 1/L: steep part solved in one step
    [0.1406, 0.0791, 0.0445]
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
    if Y.shape[:1] != X.shape[:1] or Y.ndim not in (1, 2):
        raise ValueError(f"Y must have one row per row of X ({X.shape[0]}), got shape {Y.shape}")
    if not np.isfinite(lr) or lr < 0:
        raise ValueError(f"lr must be a non-negative finite number, got {lr!r}")
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    Y2 = Y.reshape(len(Y), -1)
    n = X.shape[0]
    G, C = X.T @ X / n, X.T @ Y2 / n
    W_star = np.linalg.pinv(X) @ Y2
    W = np.zeros_like(W_star)
    gaps = np.empty(int(steps))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(int(steps)):
            W = W - lr * (G @ W - C)
            D = W - W_star
            gaps[t] = 0.5 * np.sum(D * (G @ D))  # = tr(D^T G D) / 2
    return gaps
