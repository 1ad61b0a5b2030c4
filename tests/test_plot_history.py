"""plot_history draws a real run, diverged or not, without crashing on NaN."""
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from lrcourse.data import digits
from lrcourse.models import mlp
from lrcourse.plotting import plot_history
from lrcourse.schedules import CosineAnnealing
from lrcourse.training import fit


def run(lr, schedule=None):
    ds = digits(device="cpu")
    model = mlp(64, hidden=(16,))
    return fit(model, (ds.train[0][:256], ds.train[1][:256]), (ds.val[0][:128], ds.val[1][:128]),
               epochs=2, optimizer=torch.optim.SGD(model.parameters(), lr=lr), schedule=schedule, progress=False)


def test_plot_history_of_a_scheduled_run_shows_the_lr_applied():
    h = run(0.1, CosineAnnealing(0.1, total_steps=8))
    fig, ax = plt.subplots()
    assert plot_history(h, ax=ax) is ax
    lr_ax = [a for a in fig.axes if a is not ax][0]
    assert lr_ax.get_lines()[0].get_ydata().tolist() == h.lr
    assert ax.get_lines()[0].get_ydata().tolist() == h.loss
    plt.close(fig)


def test_plot_history_of_a_diverged_run_is_nan_safe():
    h = run(1e6)
    assert h.diverged
    h.loss[-1] = math.nan  # make sure a NaN is present whatever the divergence looked like
    ax = plot_history(h.to_dict(), log_loss=True)
    lo, hi = ax.get_ylim()
    assert np.isfinite([lo, hi]).all()
    assert any("diverged" in line.get_label() for line in ax.get_lines())
    plt.close(ax.figure)
