"""Oracle tests: torch's schedulers and Keras 3's schedules compute the same curves.

torch computes in float64 Python floats, so the comparison is tight (rtol 1e-9). torch's
scheduler is driven as in a training loop: read ``param_groups[0]["lr"]`` before each
``scheduler.step()``, so entry t is the LR of update t, our ``sched(t)``. Keras computes in
float32, so rtol 2e-6, with an absolute floor of 1e-6 * lr for values that come out of a
float32 cancellation (``1 + cos`` near pi, where float32 keeps about 1e-7 of lr).
Documented differences are tested too: they are part of the contract.
"""
import math
import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first keras import

import keras
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as tl

from lrcourse.schedules import (
    CosineAnnealing,
    CosineWarmRestarts,
    Cyclic,
    ExponentialDecay,
    InverseSqrtDecay,
    InverseTimeDecay,
    Join,
    Linear,
    OneCycle,
    PiecewiseConstant,
    PolynomialDecay,
    StepDecay,
    Warmup,
    WarmupStableDecay,
    warmup_cosine,
    warmup_linear,
)
from lrcourse.torch_bridge import torch_lr_curve

ks = keras.optimizers.schedules
TORCH_RTOL = 1e-9
KERAS_RTOL = 2e-6

lrs = st.floats(1e-4, 10.0)
fractions = st.floats(0.0, 0.9)  # min_lr / lr
fast = settings(max_examples=30, deadline=None)


def torch_curve(make_scheduler, num_steps, lr=1.0, optimizer="sgd", read="lr"):
    """What the optimizer sees at updates 0 .. num_steps-1 (``torch_bridge.torch_lr_curve``)."""
    return torch_lr_curve(make_scheduler, num_steps, lr, optimizer=optimizer, read=read)


def keras_curve(schedule, num_steps):
    return np.array([float(schedule(step)) for step in range(num_steps)])


def assert_keras_close(ours, theirs, lr):
    np.testing.assert_allclose(ours, theirs, rtol=KERAS_RTOL, atol=1e-6 * lr)


# --- exponential, step, piecewise, inverse time ----------------------------------------------


@fast
@given(lr=lrs, gamma=st.floats(0.9, 0.9999), n=st.integers(1, 300))
def test_exponential_matches_torch_exponential_lr(lr, gamma, n):
    ours = ExponentialDecay(lr, gamma).curve(n)
    np.testing.assert_allclose(ours, torch_curve(lambda o: tl.ExponentialLR(o, gamma), n, lr), rtol=TORCH_RTOL)


@fast
@given(lr=lrs, gamma=st.floats(0.05, 0.99), size=st.integers(1, 30), n=st.integers(1, 200))
def test_exponential_staircase_and_step_decay_match_torch_step_lr(lr, gamma, size, n):
    theirs = torch_curve(lambda o: tl.StepLR(o, size, gamma), n, lr)
    np.testing.assert_allclose(ExponentialDecay(lr, gamma, size, staircase=True).curve(n), theirs, rtol=TORCH_RTOL)
    np.testing.assert_allclose(StepDecay(lr, size, gamma).curve(n), theirs, rtol=TORCH_RTOL)


@fast
@given(lr=lrs, rate=st.floats(0.95, 0.9999), decay_steps=st.integers(1, 20), staircase=st.booleans())
def test_exponential_matches_keras(lr, rate, decay_steps, staircase):
    ours = ExponentialDecay(lr, rate, decay_steps, staircase)
    theirs = ks.ExponentialDecay(lr, decay_steps, rate, staircase=staircase)
    assert_keras_close(ours.curve(150), keras_curve(theirs, 150), lr)


milestone_sets = st.lists(st.integers(1, 120), min_size=1, max_size=5, unique=True).map(sorted)


@fast
@given(lr=lrs, gamma=st.floats(0.05, 0.9), milestones=milestone_sets)
def test_piecewise_matches_torch_multistep_lr(lr, gamma, milestones):
    values = [lr * gamma**i for i in range(len(milestones) + 1)]
    ours = PiecewiseConstant(milestones, values).curve(150)
    theirs = torch_curve(lambda o: tl.MultiStepLR(o, milestones, gamma), 150, lr)
    np.testing.assert_allclose(ours, theirs, rtol=TORCH_RTOL)


@fast
@given(lr=lrs, milestones=milestone_sets)
def test_piecewise_keras_switches_one_step_later(lr, milestones):
    values = [lr / 2**i for i in range(len(milestones) + 1)]
    ours = PiecewiseConstant(milestones, values).curve(150)
    theirs = keras_curve(ks.PiecewiseConstantDecay(milestones, values), 150)
    # Keras holds values[i] while step <= boundary: its step t is our step t - 1
    assert_keras_close(ours[:-1], theirs[1:], lr)
    for b in milestones:  # and at each boundary the two really differ
        assert not math.isclose(ours[b], theirs[b], rel_tol=1e-3)


@fast
@given(lr=lrs, rate=st.floats(0.01, 5.0), decay_steps=st.integers(1, 20), staircase=st.booleans())
def test_inverse_time_matches_keras(lr, rate, decay_steps, staircase):
    ours = InverseTimeDecay(lr, rate, decay_steps, staircase)
    theirs = ks.InverseTimeDecay(lr, decay_steps, rate, staircase=staircase)
    assert_keras_close(ours.curve(150), keras_curve(theirs, 150), lr)


# --- polynomial, linear, cosine ---------------------------------------------------------------


@fast
@given(lr=lrs, total=st.integers(1, 200), power=st.floats(0.3, 4.0))
def test_polynomial_matches_torch_polynomial_lr(lr, total, power):
    ours = PolynomialDecay(lr, total, power=power).curve(total + 20)
    theirs = torch_curve(lambda o: tl.PolynomialLR(o, total, power), total + 20, lr)
    np.testing.assert_allclose(ours, theirs, rtol=TORCH_RTOL, atol=1e-15 * lr)


@fast
@given(lr=lrs, total=st.integers(1, 200), power=st.floats(0.3, 4.0), end=fractions)
def test_polynomial_matches_keras(lr, total, power, end):
    ours = PolynomialDecay(lr, total, end * lr, power)
    theirs = ks.PolynomialDecay(lr, total, end * lr, power, cycle=False)
    assert_keras_close(ours.curve(total + 20), keras_curve(theirs, total + 20), lr)


@fast
@given(lr=lrs, factor=st.floats(0.01, 1.0), total=st.integers(1, 200), warmup=st.booleans())
def test_linear_matches_torch_linear_lr(lr, factor, total, warmup):
    if warmup:  # torch scales a base LR: start at factor * base, end at base
        ours = Linear(factor * lr, lr, total)
        make = lambda o: tl.LinearLR(o, start_factor=factor, end_factor=1.0, total_iters=total)  # noqa: E731
    else:
        ours = Linear(lr, factor * lr, total)
        make = lambda o: tl.LinearLR(o, start_factor=1.0, end_factor=factor, total_iters=total)  # noqa: E731
    np.testing.assert_allclose(ours.curve(total + 20), torch_curve(make, total + 20, lr), rtol=TORCH_RTOL)


@fast
@given(lr=lrs, total=st.integers(1, 300), floor=fractions)
def test_cosine_matches_torch_cosine_annealing_lr_up_to_total_steps(lr, total, floor):
    ours = CosineAnnealing(lr, total, floor * lr).curve(total + 1)
    theirs = torch_curve(lambda o: tl.CosineAnnealingLR(o, total, floor * lr), total + 1, lr)
    # torch's recursive form loses relative accuracy where the LR nears 0: absolute floor
    np.testing.assert_allclose(ours, theirs, rtol=TORCH_RTOL, atol=1e-14 * lr)


@fast
@given(lr=lrs, total=st.integers(1, 300), floor=fractions)
def test_cosine_matches_keras_cosine_decay(lr, total, floor):
    ours = CosineAnnealing(lr, total, floor * lr).curve(total + 20)
    theirs = keras_curve(ks.CosineDecay(lr, total, alpha=floor), total + 20)
    assert_keras_close(ours, theirs, lr)


def test_cosine_after_total_steps_torch_rises_ours_holds_min_lr():
    ours = CosineAnnealing(1.0, 10, min_lr=0.1).curve(20)
    theirs = torch_curve(lambda o: tl.CosineAnnealingLR(o, 10, eta_min=0.1), 20, 1.0)
    assert np.all(ours[10:] == 0.1)
    assert np.all(np.diff(theirs[10:]) > 0)  # torch continues the cosine: back up toward lr


# --- restarts, 1cycle, cyclic ------------------------------------------------------------------


@fast
@given(lr=lrs, cycle=st.integers(1, 40), mult=st.integers(1, 3), floor=fractions)
def test_warm_restarts_match_torch(lr, cycle, mult, floor):
    ours = CosineWarmRestarts(lr, cycle, mult, floor * lr).curve(300)
    theirs = torch_curve(lambda o: tl.CosineAnnealingWarmRestarts(o, cycle, mult, floor * lr), 300, lr)
    np.testing.assert_allclose(ours, theirs, rtol=TORCH_RTOL)


@fast
@given(lr=lrs, cycle=st.integers(1, 20), mult=st.integers(1, 3), floor=fractions, cycles=st.integers(1, 4))
def test_warm_restarts_with_a_cycle_limit_match_torch_until_the_limit_then_hold_min_lr(lr, cycle, mult, floor,
                                                                                      cycles):
    ours = CosineWarmRestarts(lr, cycle, mult, floor * lr, max_cycles=cycles).curve(400)
    end = cycle * (mult**cycles - 1) // (mult - 1) if mult > 1 else cycle * cycles
    theirs = torch_curve(lambda o: tl.CosineAnnealingWarmRestarts(o, cycle, mult, floor * lr), 400, lr)
    np.testing.assert_allclose(ours[:end], theirs[:min(end, 400)], rtol=TORCH_RTOL)
    assert np.all(ours[end:] == floor * lr)


def test_warm_restarts_torch_step_with_an_epoch_rounds_its_log_one_cycle_early():
    # torch's step(epoch) finds the cycle with int(math.log(...)): log10(1000) = 2.9999999999999996
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = tl.CosineAnnealingWarmRestarts(opt, T_0=1, T_mult=10)
    opt.step()
    scheduler.step(111)  # a restart: 1 + 10 + 100 = 111
    assert opt.param_groups[0]["lr"] < 1e-12  # torch: the end of the cycle before
    assert CosineWarmRestarts(1.0, 1, 10)(111) == 1.0  # ours: the restart, at the peak


@fast
@given(lr=lrs, cycle=st.integers(1, 40), mult=st.sampled_from([1.0, 2.0, 3.0]),
       floor=fractions, decay=st.floats(0.3, 1.0))
def test_warm_restarts_match_keras_cosine_decay_restarts(lr, cycle, mult, floor, decay):
    ours = CosineWarmRestarts(lr, cycle, mult, floor * lr, decay).curve(300)
    theirs = keras_curve(ks.CosineDecayRestarts(lr, cycle, t_mul=mult, m_mul=decay, alpha=floor), 300)
    # Keras gets the position in the cycle from t/T0 in float32: an error of about 1e-7 * t/T0
    # in the cosine's argument (3.5e-6 at t/T0 = 33), so the tolerance grows with the step
    atol = 1e-6 * lr * (1 + np.arange(300) / cycle)
    assert np.all(np.abs(ours - theirs) <= KERAS_RTOL * np.abs(theirs) + atol), np.max(np.abs(ours - theirs) - atol)


@fast
@given(lr=lrs, cycle=st.integers(2, 40), mult=st.floats(1.1, 2.5), floor=fractions, decay=st.floats(0.3, 1.0))
def test_warm_restarts_fractional_mult_match_keras_away_from_restarts(lr, cycle, mult, floor, decay):
    sched = CosineWarmRestarts(lr, cycle, mult, floor * lr, decay)
    ours = sched.curve(300)
    theirs = keras_curve(ks.CosineDecayRestarts(lr, cycle, t_mul=mult, m_mul=decay, alpha=floor), 300)
    # Keras finds the cycle with a float32 log: next to a restart it can pick the wrong one
    starts = [cycle * (mult**i - 1) / (mult - 1) for i in range(60)]
    near = np.array([min(abs(t - s) for s in starts) < 1e-3 * max(t, 1) + 1e-3 for t in range(300)])
    # and it gets the position in the cycle as (t/T0 - restart sum) / m^i in float32: an error
    # of about 1e-7 * t/T0 in the cosine's argument, so the tolerance grows with the step
    atol = 1e-6 * lr * (1 + np.arange(300) / cycle)
    assert np.all(np.abs(ours - theirs)[~near] <= KERAS_RTOL * np.abs(theirs[~near]) + atol[~near])


onecycle_params = dict(
    max_lr=lrs,
    total=st.integers(10, 300),
    pct=st.floats(0.05, 0.95),
    div=st.floats(2.0, 50.0),
    final_div=st.floats(2.0, 1e4),
    anneal=st.sampled_from(["cos", "linear"]),
    three=st.booleans(),
)


def _torch_onecycle(max_lr, total, pct, div, final_div, anneal, three):
    return lambda o: tl.OneCycleLR(o, max_lr, total_steps=total, pct_start=pct, div_factor=div,
                                   final_div_factor=final_div, anneal_strategy=anneal, three_phase=three)


@settings(max_examples=40, deadline=None)
@given(**onecycle_params)
def test_onecycle_lr_and_momentum_match_torch_one_cycle_lr(max_lr, total, pct, div, final_div, anneal, three):
    assume(abs(pct * total - 1) > 1e-6)  # torch divides by zero when a phase is 0 steps long
    assume(not (three and pct > 0.5))  # refused here: torch never reaches its third phase (test below)
    ours = OneCycle(max_lr, total, pct, div, final_div, anneal, three)
    make = _torch_onecycle(max_lr, total, pct, div, final_div, anneal, three)
    np.testing.assert_allclose(ours.curve(total), torch_curve(make, total, max_lr), rtol=TORCH_RTOL)
    momentum = torch_curve(make, total, max_lr, read="momentum")
    np.testing.assert_allclose(ours.momentum_curve(total), momentum, rtol=TORCH_RTOL)
    assert ours.momentum(total - 1) == pytest.approx(momentum[-1], rel=TORCH_RTOL)


@settings(max_examples=25, deadline=None)
@given(**onecycle_params)
def test_onecycle_momentum_is_torch_adam_beta1(max_lr, total, pct, div, final_div, anneal, three):
    assume(abs(pct * total - 1) > 1e-6)
    assume(not (three and pct > 0.5))
    ours = OneCycle(max_lr, total, pct, div, final_div, anneal, three)
    make = _torch_onecycle(max_lr, total, pct, div, final_div, anneal, three)
    beta1 = torch_curve(make, total, max_lr, optimizer="adam", read="momentum")
    np.testing.assert_allclose(ours.momentum_curve(total), beta1, rtol=TORCH_RTOL)


def test_onecycle_after_total_steps_torch_raises_ours_holds_the_final_lr():
    with pytest.raises(ValueError, match="total steps"):
        torch_curve(lambda o: tl.OneCycleLR(o, 1.0, total_steps=20), 21, 1.0)
    curve = OneCycle(1.0, 20).curve(40)
    assert np.all(curve[19:] == 1.0 / 25 / 1e4)


def test_onecycle_three_phase_past_half_torch_never_reaches_the_final_lr_so_it_is_refused():
    total = 20
    theirs = torch_curve(lambda o: tl.OneCycleLR(o, 1.0, total_steps=total, pct_start=0.6, three_phase=True),
                         total, 1.0)
    final = 1.0 / 25 / 1e4
    # torch's second phase ends at 2 * 0.6 * 20 - 2 = 22 > 19: its last LR is still on the way down to 0.04
    assert theirs[-1] > 0.04 and theirs.min() > 100 * final
    with pytest.raises(ValueError, match="pct_start"):
        OneCycle(1.0, total, pct_start=0.6, three_phase=True)
    ours = OneCycle(1.0, total, pct_start=0.5, three_phase=True).curve(total)
    np.testing.assert_allclose(ours, torch_curve(lambda o: tl.OneCycleLR(o, 1.0, total_steps=total, pct_start=0.5,
                                                                          three_phase=True), total, 1.0), rtol=1e-9)
    assert ours[-1] == pytest.approx(final)


@settings(max_examples=40, deadline=None)
@given(base=lrs, ratio=st.floats(1.0, 100.0), up=st.integers(1, 40), down=st.none() | st.integers(1, 40),
       mode=st.sampled_from(["triangular", "triangular2", "exp_range"]), gamma=st.floats(0.9, 1.0))
def test_cyclic_matches_torch_cyclic_lr(base, ratio, up, down, mode, gamma):
    ours = Cyclic(base, base * ratio, up, down, mode, gamma).curve(300)
    make = lambda o: tl.CyclicLR(o, base, base * ratio, up, down, mode, gamma, cycle_momentum=False)  # noqa: E731
    np.testing.assert_allclose(ours, torch_curve(make, 300, base), rtol=TORCH_RTOL)


# --- inverse square root, warmup shapes ----------------------------------------------------------


@fast
@given(lr=lrs, decay_steps=st.integers(1, 200))
def test_inverse_sqrt_matches_torch_lambda_lr(lr, decay_steps):
    theirs = torch_curve(lambda o: tl.LambdaLR(o, lambda t: 1 / math.sqrt(1 + t / decay_steps)), 500, lr)
    np.testing.assert_allclose(InverseSqrtDecay(lr, decay_steps).curve(500), theirs, rtol=TORCH_RTOL)


@fast
@given(d_model=st.sampled_from([64, 256, 512, 1024]), warmup=st.integers(2, 400), factor=st.floats(0.5, 2.0))
def test_noam_join_matches_the_transformer_schedule_in_torch_lambda_lr(d_model, warmup, factor):
    # Vaswani et al. 2017, as a LambdaLR factor of lr=1: the step number n is step + 1
    def noam(step):
        n = step + 1
        return factor * d_model**-0.5 * min(n**-0.5, n * warmup**-1.5)

    peak = factor * d_model**-0.5 * warmup**-0.5
    ours = Join([Linear(peak / warmup, peak, warmup - 1), InverseSqrtDecay(peak, warmup)], [warmup - 1])
    n = 3 * warmup + 50
    np.testing.assert_allclose(ours.curve(n), torch_curve(lambda o: tl.LambdaLR(o, noam), n, 1.0), rtol=TORCH_RTOL)


@fast
@given(peak=lrs, start=st.floats(0.001, 0.9), warmup=st.integers(1, 100))
def test_warmup_shapes_match_torch_schedulers_up_to_the_end_of_the_warmup(peak, start, warmup):
    n = warmup + 1
    cosine = torch_curve(lambda o: tl.CosineAnnealingLR(o, T_max=warmup, eta_min=peak), n, start * peak)
    np.testing.assert_allclose(Warmup(peak, warmup, start * peak, "cosine").curve(n), cosine, rtol=TORCH_RTOL)
    gamma = (1 / start) ** (1 / warmup)
    exponential = torch_curve(lambda o: tl.ExponentialLR(o, gamma), n, start * peak)
    np.testing.assert_allclose(Warmup(peak, warmup, start * peak, "exponential").curve(n), exponential,
                               rtol=TORCH_RTOL)
    linear = torch_curve(lambda o: tl.LinearLR(o, start_factor=start, total_iters=warmup), n, peak)
    np.testing.assert_allclose(Warmup(peak, warmup, start * peak).curve(n), linear, rtol=TORCH_RTOL)


@fast
@given(peak=lrs, start=st.floats(0.01, 0.9), warmup=st.integers(1, 100))
def test_warmup_shapes_match_keras_cosine_and_exponential_decay_run_upwards(peak, start, warmup):
    # Keras lets both rise: CosineDecay with alpha > 1, ExponentialDecay with decay_rate > 1
    n = warmup + 1
    cosine = keras_curve(ks.CosineDecay(start * peak, warmup, alpha=1 / start), n)
    assert_keras_close(Warmup(peak, warmup, start * peak, "cosine").curve(n), cosine, peak)
    exponential = keras_curve(ks.ExponentialDecay(start * peak, warmup, 1 / start), n)
    assert_keras_close(Warmup(peak, warmup, start * peak, "exponential").curve(n), exponential, peak)


@fast
@given(peak=lrs, start=st.floats(0.01, 1.0), warmup=st.integers(1, 50), total=st.integers(1, 150),
       floor=fractions, shape=st.sampled_from(["cosine", "exponential"]))
def test_warmup_cosine_with_a_shaped_warmup_matches_torch_sequential_lr(peak, start, warmup, total, floor, shape):
    ours = warmup_cosine(peak, warmup + total, warmup, floor * peak, start * peak, warmup_shape=shape)

    def make(o):
        first = (tl.CosineAnnealingLR(o, T_max=warmup, eta_min=peak) if shape == "cosine"
                 else tl.ExponentialLR(o, (1 / start) ** (1 / warmup)))
        # SequentialLR hands over at the milestone from each scheduler's base LR: scale the decay to peak
        decay = tl.LambdaLR(o, lambda t: (floor + (1 - floor) * (1 + math.cos(math.pi * min(t, total) / total)) / 2)
                            / start)
        return tl.SequentialLR(o, [first, decay], milestones=[warmup])

    n = warmup + total + 5
    np.testing.assert_allclose(ours.curve(n), torch_curve(make, n, start * peak), rtol=1e-9, atol=1e-14 * peak)


def test_wsd_exponential_warmup_reaches_max_lr_as_torch_exponential_lr():
    ours = WarmupStableDecay(0.5, 100, 20, 30, start_lr=0.005, warmup_shape="exponential").curve(21)
    theirs = torch_curve(lambda o: tl.ExponentialLR(o, 100 ** (1 / 20)), 21, 0.005)
    np.testing.assert_allclose(ours, theirs, rtol=TORCH_RTOL)
    assert warmup_linear(0.5, 100, 20, start_lr=0.005, warmup_shape="exponential").curve(21).tolist() == \
        Warmup(0.5, 20, 0.005, "exponential").curve(21).tolist()


# --- Join ---------------------------------------------------------------------------------------


@fast
@given(peak=lrs, start=st.floats(0.01, 1.0), warmup=st.integers(1, 50), total=st.integers(1, 200), floor=fractions)
def test_join_warmup_cosine_matches_torch_sequential_lr(peak, start, warmup, total, floor):
    ours = Join([Linear(start * peak, peak, warmup), CosineAnnealing(peak, total, floor * peak)], [warmup])
    make = lambda o: tl.SequentialLR(o, [  # noqa: E731
        tl.LinearLR(o, start_factor=start, end_factor=1.0, total_iters=warmup),
        tl.CosineAnnealingLR(o, total, floor * peak)], milestones=[warmup])
    n = warmup + total + 1
    np.testing.assert_allclose(ours.curve(n), torch_curve(make, n, peak), rtol=TORCH_RTOL, atol=1e-14 * peak)


@fast
@given(lr=lrs, gamma=st.floats(0.9, 0.999), size=st.integers(1, 20),
       cuts=st.lists(st.integers(1, 100), min_size=2, max_size=2, unique=True).map(sorted))
def test_join_of_three_matches_torch_sequential_lr(lr, gamma, size, cuts):
    ours = Join([Linear(lr / 10, lr, cuts[0]), ExponentialDecay(lr, gamma), StepDecay(lr, size, 0.5)], cuts)
    make = lambda o: tl.SequentialLR(o, [  # noqa: E731
        tl.LinearLR(o, start_factor=0.1, total_iters=cuts[0]),
        tl.ExponentialLR(o, gamma),
        tl.StepLR(o, size, 0.5)], milestones=cuts)
    np.testing.assert_allclose(ours.curve(150), torch_curve(make, 150, lr), rtol=TORCH_RTOL)


@fast
@given(peak=lrs, start=st.floats(0.0, 1.0), warmup=st.integers(1, 50), total=st.integers(1, 200), floor=fractions)
def test_join_warmup_cosine_matches_keras_cosine_decay_with_warmup(peak, start, warmup, total, floor):
    ours = warmup_cosine(peak, warmup + total, warmup, floor * peak, start * peak)
    assert ours == Join([Linear(start * peak, peak, warmup), CosineAnnealing(peak, total, floor * peak)], [warmup])
    theirs = ks.CosineDecay(start * peak, total, alpha=floor, warmup_target=peak, warmup_steps=warmup)
    n = warmup + total + 10
    assert_keras_close(ours.curve(n), keras_curve(theirs, n), peak)
