"""LR range test: exact restore, early stop, cycling, suggestion rules, bad input."""
import math

import numpy as np
import pytest
import torch

from lrcourse.data import Batches
from lrcourse.range_test import (
    RULES,
    RangeTestResult,
    lr_range_test,
    minimum_over_10,
    steepest,
    sweep_lrs,
    sweep_schedule,
    valley,
)
from lrcourse.schedules import ExponentialDecay, Linear


def _data(n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 6, generator=g)
    y = (X[:, 0] + X[:, 1] > 0).long()
    return X, y


def _bn_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 2))


def _warm_optimizer(model, data, kind="sgd"):
    """An optimizer with live state (momentum buffers / Adam moments) and its own LR."""
    if kind == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    X, y = data
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    return opt


def _snapshot(model, opt):
    return ({k: v.clone() for k, v in model.state_dict().items()},
            {id_: {k: (v.clone() if torch.is_tensor(v) else v) for k, v in s.items()}
             for id_, s in opt.state_dict()["state"].items()},
            [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups],
            model.training)


def _assert_bitwise_equal(before, model, opt):
    params, state, groups, training = before
    now = model.state_dict()
    assert now.keys() == params.keys()
    for k in params:
        assert torch.equal(now[k], params[k]), k  # includes BatchNorm running stats and counter
    now_state = opt.state_dict()["state"]
    assert now_state.keys() == state.keys()
    for id_ in state:
        for k, v in state[id_].items():
            assert torch.equal(now_state[id_][k], v) if torch.is_tensor(v) else now_state[id_][k] == v
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == groups
    assert model.training == training
    # the optimizer must still drive the model's own parameter tensors
    assert [p for g in opt.param_groups for p in g["params"]] == list(model.parameters())


# ----------------------------------------------------------------------------- restore
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_restore_is_bitwise_after_a_normal_run(kind):
    data, model = _data(), _bn_model()
    opt = _warm_optimizer(model, data, kind)
    model.eval()  # the mode is restored too
    before = _snapshot(model, opt)
    res = lr_range_test(model, data, optimizer=opt, start_lr=1e-5, end_lr=1e-2, num_steps=20,
                        batch_size=32, progress=False)
    assert res.stop_reason == "completed" and len(res.lrs) == 20
    _assert_bitwise_equal(before, model, opt)


def test_restore_is_bitwise_after_divergence():
    data, model = _data(), _bn_model()
    opt = _warm_optimizer(model, data)
    before = _snapshot(model, opt)
    res = lr_range_test(model, data, optimizer=opt, start_lr=1e-3, end_lr=1e6, num_steps=60,
                        batch_size=32, progress=False)
    assert res.stop_reason in ("diverged", "non_finite")
    _assert_bitwise_equal(before, model, opt)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_restore_is_bitwise_after_an_exception_in_the_loss(error):
    data, model = _data(), _bn_model()
    opt = _warm_optimizer(model, data)
    before = _snapshot(model, opt)
    calls = []

    def failing_loss(out, y):
        calls.append(1)
        if len(calls) == 5:
            raise error("boom")
        return torch.nn.functional.cross_entropy(out, y)

    with pytest.raises(error, match="boom"):
        lr_range_test(model, data, optimizer=opt, loss_fn=failing_loss, start_lr=1e-2, end_lr=10.0,
                      num_steps=20, batch_size=32, progress=False)
    assert len(calls) == 5  # four updates were really made before the failure
    _assert_bitwise_equal(before, model, opt)


def test_fresh_optimizer_gets_no_momentum_buffers_from_the_test():
    data, model = _data(), _bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    lr_range_test(model, data, optimizer=opt, num_steps=10, progress=False)
    assert len(opt.state) == 0 and opt.param_groups[0]["lr"] == 0.1


# ----------------------------------------------------------------------------- the run
def test_early_stop_on_an_exploding_problem():
    X = torch.randn(256, 1) * 10
    y = 3 * X
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = lr_range_test(model, (X, y), optimizer=opt, loss_fn=torch.nn.MSELoss(), start_lr=1e-6,
                        end_lr=10.0, num_steps=100, progress=False)
    assert res.stop_reason in ("diverged", "non_finite")
    assert len(res.lrs) < 100
    assert len(res.lrs) == len(res.losses) == len(res.smoothed)
    if res.stop_reason == "diverged":
        assert res.smoothed[-1] > 4.0 * np.min(res.smoothed[:-1])


def test_recorded_lrs_are_the_ones_the_optimizer_used():
    seen = []

    class Spy(torch.optim.SGD):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    data, model = _data(), _bn_model()
    res = lr_range_test(model, data, optimizer=Spy(model.parameters(), lr=0.1), num_steps=15,
                        diverge_factor=None, progress=False)
    assert seen == res.lrs.tolist() == sweep_lrs(1e-7, 10.0, 15).tolist()


def test_smoothing_is_the_bias_corrected_ema():
    data, model = _data(), _bn_model()
    res = lr_range_test(model, data, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                        num_steps=12, end_lr=0.1, smooth=0.9, progress=False)
    avg, expected = 0.0, []
    for t, loss in enumerate(res.losses):
        avg = 0.9 * avg + 0.1 * loss
        expected.append(avg / (1 - 0.9 ** (t + 1)))
    np.testing.assert_allclose(res.smoothed, expected, rtol=1e-12)
    assert res.smoothed[0] == pytest.approx(res.losses[0])  # bias correction: no pull towards 0


def test_cycles_and_reshuffles_when_fewer_batches_than_steps():
    X = torch.arange(10.0).reshape(10, 1)
    y = torch.zeros(10, dtype=torch.long)
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(1, 2)

        def forward(self, x):
            seen.append(x[:, 0].tolist())
            return self.lin(x * 0)

    model = Recorder()
    res = lr_range_test(model, (X, y), optimizer=torch.optim.SGD(model.parameters(), lr=0.1), batch_size=5,
                        start_lr=1e-4, end_lr=1e-3, num_steps=7, progress=False)
    assert res.stop_reason == "completed" and len(res.lrs) == 7  # 2 batches per pass, 7 steps
    passes = [sorted(seen[i] + seen[i + 1]) for i in (0, 2, 4)]
    assert all(p == [float(v) for v in range(10)] for p in passes)  # every pass sees every sample once
    assert len({tuple(seen[i]) for i in (0, 2, 4)}) > 1  # and is reshuffled


def test_accepts_batches_and_a_dataloader():
    X, y = _data()
    model = _bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=50, shuffle=True)
    for train in (Batches(X, y, batch_size=50), loader):
        res = lr_range_test(model, train, optimizer=opt, num_steps=8, progress=False)
        assert len(res.lrs) == 8


def test_validation_variant_records_the_validation_loss():
    train, val = _data(seed=0), _data(n=64, seed=1)
    model = _bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = lr_range_test(model, train, optimizer=opt, val=val, mode="linear", start_lr=1e-3, end_lr=0.5,
                        num_steps=6, smooth=0.0, progress=False)
    assert res.loss_kind == "val" and res.mode == "linear"
    np.testing.assert_allclose(res.smoothed, res.losses)  # smooth=0: no smoothing
    # the first recorded loss is the validation loss after the first update
    fresh = _bn_model()
    opt2 = torch.optim.SGD(fresh.parameters(), lr=1e-3)
    from lrcourse.data import as_batches
    Xb, yb = next(iter(as_batches(train, batch_size=64, seed=0)))
    torch.nn.functional.cross_entropy(fresh(Xb), yb).backward()
    opt2.step()
    fresh.eval()
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(fresh(val[0]), val[1]).item()
    assert res.losses[0] == pytest.approx(expected, rel=1e-5)


# ----------------------------------------------------------------------------- the sweep
@pytest.mark.parametrize("start, end, n", [(1e-7, 10.0, 100), (1e-3, 1.0, 2), (0.05, 3.0, 37)])
def test_exp_sweep_equals_the_course_schedule_and_the_closed_form(start, end, n):
    lrs = sweep_lrs(start, end, n)
    course = ExponentialDecay(start, end / start, decay_steps=n - 1)
    assert lrs.tolist() == [course(t) for t in range(n)]
    closed = [start * (end / start) ** (t / (n - 1)) for t in range(n)]
    np.testing.assert_allclose(lrs, closed, rtol=1e-12)
    assert lrs[0] == start and lrs[-1] == pytest.approx(end, rel=1e-12)


def test_linear_sweep_equals_the_course_schedule():
    assert sweep_schedule(0.01, 1.0, 11, "linear") == Linear(0.01, 1.0, 10)
    np.testing.assert_allclose(sweep_lrs(0.01, 1.0, 11, "linear"), np.linspace(0.01, 1.0, 11), rtol=1e-12)


# ----------------------------------------------------------------------------- suggestion rules
LRS = np.logspace(-5, 1, 61)  # 10 points per decade
LOG = np.log10(LRS)


def _result(losses, lrs=LRS):
    return RangeTestResult(lrs, np.asarray(losses), np.asarray(losses), "completed", len(lrs))


def test_steepest_finds_the_inflection_of_a_sigmoid_drop():
    curve = 2.0 - np.tanh(2 * (LOG + 2))  # steepest at lr = 1e-2
    assert np.log10(steepest(LRS, curve)) == pytest.approx(-2.0, abs=0.11)


def test_minimum_over_10_of_a_parabola():
    curve = (LOG - (-1.0)) ** 2 + 1  # minimum at 0.1
    assert minimum_over_10(LRS, curve) == pytest.approx(0.01, rel=1e-9)


def test_valley_is_two_thirds_down_the_longest_decrease():
    # a low rising plateau (indices 0..19), a strict decrease 3.0 -> 1.0 over indices 20..50, a rise.
    # The longest decreasing run is exactly 20..50 (31 points). After fastai's trim (first 6 points,
    # last 5) it ends at window index 44; fastai's start = end - length = 13 (one before the run),
    # sections = 31/3, idx = 13 + 10 + 5 = 28 -> curve index 34, i.e. lr = 10**(-5 + 3.4).
    curve = np.r_[np.linspace(2.0, 2.1, 20), np.linspace(3.0, 1.0, 31), np.linspace(1.5, 6.0, 10)]
    assert valley(LRS, curve) == LRS[34]
    assert valley(LRS, curve) == pytest.approx(10**-1.6)


def test_default_rule_is_the_more_cautious_of_steepest_over_3_and_minimum_over_6():
    # drop at 1e-2, minimum near 0.3: steepest/3 (~3e-3) is the smaller one
    early = 2.0 - np.tanh(2 * (LOG + 2)) + 0.5 * np.maximum(LOG + 0.5, 0) ** 2
    res = _result(early)
    s = res.suggestions()
    assert list(s) == list(RULES)
    assert s["default"] == res.suggest() == pytest.approx(steepest(LRS, early) / 3, rel=1e-12)
    assert np.log10(s["default"]) == pytest.approx(-2 - np.log10(3), abs=0.11)
    # the steepest drop right at the cliff (Adam-like): minimum/6 is the smaller one
    cliff = 3.0 - 0.2 * (LOG + 5) - np.tanh(8 * (LOG + 1)) + 200 * np.maximum(LOG + 0.9, 0) ** 2
    res = _result(cliff)
    minimum = LRS[np.argmin(cliff)]
    assert 0.08 < minimum < 0.15 and 0.08 < steepest(LRS, cliff) < 0.12
    assert res.suggest() == pytest.approx(minimum / 6, rel=1e-12)


@pytest.mark.parametrize("rule", RULES)
def test_non_finite_losses_do_not_break_the_rules(rule):
    curve = 2.0 - np.tanh(2 * (LOG + 2)) + 0.5 * np.maximum(LOG + 0.5, 0) ** 2  # steepest at 1e-2
    clean = _result(curve).suggest(rule)
    broken = curve.copy()
    broken[50:] = np.nan  # the run blew up at lr 1: everything after is garbage
    broken[48] = np.inf
    lr = _result(broken).suggest(rule)
    assert math.isfinite(lr) and LRS[0] / 10 <= lr < LRS[48]
    if rule in ("steepest", "default"):  # the steep drop is far from the broken tail
        assert lr == clean


def test_a_curve_that_is_all_nan_raises_a_clear_error():
    with pytest.raises(ValueError, match="finite loss"):
        _result(np.full(61, np.nan)).suggest()


def test_unknown_rule_lists_the_valid_ones():
    with pytest.raises(ValueError, match="steepest.*minimum_over_10.*valley"):
        _result((LOG + 1.0) ** 2).suggest("slide")


# ----------------------------------------------------------------------------- bad input
def _call(**overrides):
    data, model = _data(), _bn_model()
    kwargs = dict(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), num_steps=5, progress=False)
    kwargs.update(overrides)
    train = kwargs.pop("train", data)
    model = kwargs.pop("model", model)
    return lr_range_test(model, train, **kwargs)


def _nan_model():
    model = _bn_model()
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    return model


@pytest.mark.parametrize(
    "overrides, exc, message",
    [
        (dict(start_lr=1.0, end_lr=0.1), ValueError, "start_lr must be smaller than end_lr"),
        (dict(start_lr=0.1, end_lr=0.1), ValueError, "start_lr must be smaller than end_lr"),
        (dict(start_lr=0.0), ValueError, "start_lr must be > 0, got 0.0"),
        (dict(start_lr=-1e-3), ValueError, "start_lr must be > 0, got -0.001"),
        (dict(start_lr="1e-3"), TypeError, "start_lr must be a real number, got str"),
        (dict(start_lr=True), TypeError, "start_lr must be a real number, got bool"),
        (dict(end_lr=float("inf")), ValueError, "end_lr must be finite, got inf"),
        (dict(start_lr=1e-300, end_lr=1e300), ValueError, "end_lr / start_lr must be a finite ratio"),
        (dict(num_steps=1), ValueError, "num_steps must be >= 2, got 1"),
        (dict(num_steps=10.5), ValueError, "num_steps must be an integer, got 10.5"),
        (dict(num_steps="10"), TypeError, "num_steps must be an integer, got str"),
        (dict(mode="cosine"), ValueError, "mode must be one of .*'cosine'"),
        (dict(mode=1), TypeError, "mode must be a str"),
        (dict(smooth=1.0), ValueError, "smooth must be < 1, got 1.0"),
        (dict(smooth=-0.1), ValueError, "smooth must be >= 0, got -0.1"),
        (dict(smooth=float("nan")), ValueError, "smooth must be finite, got nan"),
        (dict(diverge_factor=0.5), ValueError, "diverge_factor must be > 1, got 0.5"),
        (dict(diverge_factor="4"), TypeError, "diverge_factor must be a real number"),
        (dict(train=(torch.zeros(0, 6), torch.zeros(0, dtype=torch.long))), ValueError, "train yields no batches"),
        (dict(model=_nan_model()), ValueError, "non-finite values in '0.weight'"),
        (dict(optimizer="sgd"), TypeError, "optimizer must be a torch.optim.Optimizer"),
        (dict(batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
    ],
)
def test_bad_input_raises_naming_the_parameter_and_the_value(overrides, exc, message):
    with pytest.raises(exc, match=message):
        _call(**overrides)


def test_numpy_and_0d_torch_scalars_are_accepted():
    res = _call(start_lr=np.float32(1e-5), end_lr=torch.tensor(1e-2), num_steps=np.int64(6), smooth=np.float64(0.5),
                diverge_factor=np.float32(4.0), batch_size=np.int64(32))
    assert len(res.lrs) == 6 and res.lrs[0] == pytest.approx(1e-5)


def test_a_sweep_that_died_after_a_few_steps_suggests_nothing():
    # the reliability probe's case: momentum nan makes the loss NaN after a few updates; the old code
    # still printed four confident suggestions from 3 points
    data, model = _data(), _bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=float("nan"))
    res = lr_range_test(model, data, optimizer=opt, num_steps=30, progress=False)
    assert res.stop_reason == "non_finite" and len(res.lrs) < 10
    for rule in RULES:
        with pytest.raises(ValueError, match=r"no LR to suggest: .* recorded \d finite loss.*of 30 steps, "
                                             r"stop_reason='non_finite'"):
            res.suggest(rule)
    with pytest.raises(ValueError, match="no LR to suggest"):
        res.suggestions()


def test_a_loss_that_never_falls_suggests_nothing():
    rising = _result(1.0 + np.linspace(0, 1, 61) ** 2)
    with pytest.raises(ValueError, match="never fell below its first value"):
        rising.suggest()
    with pytest.raises(ValueError, match="never fell below"):
        steepest(LRS, 1.0 + LOG - LOG[0])  # the module-level rules refuse it too
    assert _result(np.r_[np.full(9, 2.0), np.full(52, np.nan)]).stop_reason == "completed"
    with pytest.raises(ValueError, match="recorded 9 finite"):
        _result(np.r_[np.linspace(2, 1, 9), np.full(52, np.nan)]).suggest()
    assert math.isfinite(_result(np.r_[np.linspace(2, 1, 10), np.full(51, np.nan)]).suggest("minimum_over_10"))


# ----------------------------------------------------------------------------- the plot
def test_plot_range_test_marks_every_rule_and_clips_the_divergence_tail():
    import matplotlib.pyplot as plt

    from lrcourse.plotting import plot_range_test

    curve = 2.0 - np.tanh(2 * (LOG + 2)) + 50 * np.maximum(LOG + 0.5, 0) ** 2  # tail up to ~1e2
    losses = curve.copy()
    losses[-1] = np.nan
    res = RangeTestResult(LRS, losses, curve, "non_finite", 70)
    fig, ax = plt.subplots()
    assert plot_range_test(res, ax=ax) is ax
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    for rule, lr in res.suggestions().items():
        assert f"{rule}: {lr:.2g}" in labels
    low, high = ax.get_ylim()
    assert low < curve.min() and 3.0 < high < 5.0  # the start plateau (~3) shown, the tail (~50) cut
    fig2, ax2 = plt.subplots()
    plot_range_test(res, ax=ax2, suggestions=False)
    assert len(ax2.get_lines()) == 2
    with pytest.raises(ValueError, match="rule must be one of"):
        plot_range_test(res, ax=ax2, suggestions=["slide"])
    plt.close("all")


# ----------------------------------------------------------------------------- the sweep is fit
def test_a_schedule_free_optimizer_is_put_in_train_mode_and_restored():
    import schedulefree

    data, model = _data(), _bn_model()
    opt = schedulefree.SGDScheduleFree(model.parameters(), lr=0.1)  # refuses step() outside train mode
    opt.train()
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(data[0]), data[1]).backward()
        opt.step()
    opt.eval()
    before = _snapshot(model, opt)
    res = lr_range_test(model, data, optimizer=opt, start_lr=1e-4, end_lr=1.0, num_steps=15, progress=False)
    assert len(res.lrs) == 15
    _assert_bitwise_equal(before, model, opt)
    assert opt.param_groups[0]["train_mode"] is False


def test_dropout_is_seeded_and_the_global_rng_left_alone():
    def run(seed):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.Dropout(0.5), torch.nn.ReLU(), torch.nn.Linear(32, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        torch.manual_seed(123)
        expected = torch.rand(1)
        torch.manual_seed(123)
        res = lr_range_test(model, _data(), optimizer=opt, num_steps=10, diverge_factor=None, progress=False, seed=seed)
        assert torch.equal(torch.rand(1), expected)  # the caller's random stream is untouched
        return res.losses.tolist()

    assert run(0) == run(0) and run(0) != run(1)


def test_the_recorded_loss_is_fits_batch_loss_and_lrs_fits_history():
    from lrcourse.training import fit

    data, model = _data(), _bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    res = lr_range_test(model, data, optimizer=opt, start_lr=1e-4, end_lr=1.0, num_steps=9, batch_size=32,
                        diverge_factor=None, progress=False, seed=2)
    h = fit(model, data, epochs=3, optimizer=opt, batch_size=32, schedule=sweep_schedule(1e-4, 1.0, 9), seed=2,
            progress=False)  # 4 batches per epoch: the sweep cycles the data the same way
    assert res.lrs.tolist() == h.lr[:9] and res.losses.tolist() == h.loss[:9]
