"""Unit and property tests for lrcourse.schedules: landmarks, properties, value semantics, bad input.

The oracle comparisons against torch and Keras live in test_schedule_oracles.py.
"""
import dataclasses
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrcourse import schedules as schedules_module
from lrcourse.schedules import (
    SCHEDULES,
    Constant,
    CosineAnnealing,
    CosineWarmRestarts,
    Cyclic,
    ExponentialDecay,
    InverseTimeDecay,
    Join,
    Linear,
    OneCycle,
    PiecewiseConstant,
    PolynomialDecay,
    Schedule,
    StepDecay,
    WarmupStableDecay,
    warmup_cosine,
    warmup_linear,
)

EXAMPLES = [
    Constant(0.1),
    ExponentialDecay(1.0, 0.9),
    ExponentialDecay(1.0, 0.5, 10, staircase=True),
    StepDecay(0.5, 7, 0.3),
    PiecewiseConstant([10, 20], [1, 0.1, 0.01]),
    InverseTimeDecay(1.0, 0.5, 5),
    InverseTimeDecay(1.0, 0.5, 5, staircase=True),
    PolynomialDecay(1.0, 30, 0.01, 2.0),
    Linear(0.0, 1.0, 10),
    Linear(1.0, 0.1, 25),
    CosineAnnealing(1.0, 30, 0.1),
    CosineWarmRestarts(1.0, 5, 2),
    CosineWarmRestarts(1.0, 4, 1.5, 0.1, 0.7),
    OneCycle(1.0, 40),
    OneCycle(1.0, 40, 0.4, anneal="linear", three_phase=True),
    OneCycle(1.0, 10, pct_start=0.1, three_phase=True),  # phases of zero length: torch divides by 0
    Cyclic(0.1, 1.0, 5),
    Cyclic(0.1, 1.0, 3, 7, "triangular2"),
    Cyclic(0.1, 1.0, 4, mode="exp_range", gamma=0.95),
    Join([Constant(1.0), StepDecay(1.0, 5, 0.5), CosineAnnealing(0.5, 10)], [10, 25]),
    warmup_cosine(1.0, 50, 5, 0.01),
    warmup_linear(1.0, 50, 5, start_lr=0.1),
    warmup_cosine(1.0, 50, 0),
    WarmupStableDecay(1.0, 50, 5, 10),
    WarmupStableDecay(1.0, 50, 0, 20, 0.1, "cosine"),
    WarmupStableDecay(1.0, 50, 5, 45, decay="sqrt"),
]
IDS = [f"{i}-{type(s).__name__}" for i, s in enumerate(EXAMPLES)]
every_schedule = pytest.mark.parametrize("sched", EXAMPLES, ids=IDS)


# --- every schedule ------------------------------------------------------------------------------


@every_schedule
def test_curve_equals_calling_each_step(sched):
    curve = sched.curve(80)
    assert curve.dtype == np.float64 and curve.shape == (80,)
    np.testing.assert_allclose(curve, [sched(t) for t in range(80)], rtol=1e-15, atol=0)
    assert sched.curve(0).shape == (0,)


@every_schedule
def test_values_are_finite_and_non_negative(sched):
    curve = sched.curve(500)
    assert np.all(np.isfinite(curve)) and np.all(curve >= 0)
    assert isinstance(sched(3), float)


@every_schedule
def test_value_semantics_repr_equality_hash_pickle(sched):
    rebuilt = eval(repr(sched), vars(schedules_module))
    assert rebuilt == sched and hash(rebuilt) == hash(sched) and repr(rebuilt) == repr(sched)
    assert pickle.loads(pickle.dumps(sched)) == sched
    assert isinstance(sched, Schedule)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sched.total_steps = 3


@every_schedule
def test_asdict_is_the_config(sched):
    config = dataclasses.asdict(sched)
    if isinstance(sched, Join):  # nested schedules become dicts: a config, not constructor args
        assert len(config["schedules"]) == len(sched.schedules)
    else:
        assert type(sched)(**config) == sched


@every_schedule
def test_negative_or_non_integer_step_is_rejected(sched):
    with pytest.raises(ValueError, match=r"step must be >= 0, got -1"):
        sched(-1)
    with pytest.raises(TypeError, match="step"):
        sched(1.5)
    with pytest.raises(TypeError, match="step"):
        sched(True)
    assert sched(np.int64(7)) == sched(7) == sched(np.uint16(7))


def test_equal_parameters_equal_schedules_and_different_ones_differ():
    assert CosineAnnealing(1, 10) == CosineAnnealing(1.0, 10.0, 0)
    assert CosineAnnealing(1.0, 10) != CosineAnnealing(1.0, 11)
    assert Constant(1.0) != Linear(1.0, 1.0, 10)
    assert len({CosineAnnealing(1, 10), CosineAnnealing(1.0, 10), Constant(1.0)}) == 2


def test_registry_maps_short_names_to_every_schedule_class():
    assert set(SCHEDULES) == {"constant", "exponential", "step", "piecewise", "inverse_time", "polynomial",
                              "linear", "cosine", "cosine_restarts", "onecycle", "cyclic", "wsd"}
    classes = {obj for obj in vars(schedules_module).values()
               if isinstance(obj, type) and issubclass(obj, Schedule) and obj not in (Schedule, Join)}
    assert set(SCHEDULES.values()) == classes


# --- landmarks -------------------------------------------------------------------------------------


def test_constant_is_lr_at_every_step():
    assert np.all(Constant(0.3).curve(1000) == 0.3)


def test_exponential_halves_every_decay_steps():
    sched = ExponentialDecay(1.0, 0.5, decay_steps=10)
    assert sched(10) == pytest.approx(0.5) and sched(20) == pytest.approx(0.25)
    assert sched(5) == pytest.approx(0.5**0.5)


def test_exponential_staircase_holds_within_each_block():
    curve = ExponentialDecay(1.0, 0.5, 10, staircase=True).curve(30)
    assert np.all(curve[:10] == 1.0) and np.all(curve[10:20] == 0.5) and np.all(curve[20:] == 0.25)


def test_step_decay_drops_by_gamma_at_each_multiple_of_step_size():
    sched = StepDecay(1.0, 3, 0.1)
    assert [sched(t) for t in (0, 2, 3, 5, 6)] == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])


def test_piecewise_boundary_is_the_first_step_of_the_new_value():
    sched = PiecewiseConstant([10, 20], [1, 0.1, 0.01])
    assert (sched(9), sched(10), sched(19), sched(20), sched(10**9)) == (1.0, 0.1, 0.1, 0.01, 0.01)


def test_piecewise_accepts_lists_and_stores_tuples():
    sched = PiecewiseConstant([10, 20], [1, 0.1, 0.01])
    assert sched.boundaries == (10, 20) and sched.values == (1.0, 0.1, 0.01)
    assert sched == PiecewiseConstant((10, 20), (1.0, 0.1, 0.01))


def test_inverse_time_halves_when_decay_rate_times_progress_is_one():
    assert InverseTimeDecay(2.0, decay_rate=0.5, decay_steps=4)(8) == pytest.approx(1.0)
    assert InverseTimeDecay(2.0, 0.5, 4, staircase=True)(7) == pytest.approx(2.0 / 1.5)


def test_polynomial_with_power_one_is_linear():
    np.testing.assert_allclose(PolynomialDecay(1.0, 20, 0.1).curve(30), Linear(1.0, 0.1, 20).curve(30), rtol=1e-12)


def test_polynomial_holds_end_lr_after_total_steps():
    assert np.all(PolynomialDecay(1.0, 20, 0.05, 3.0).curve(40)[20:] == 0.05)


def test_linear_warmup_reaches_end_lr_at_total_steps_and_holds():
    curve = Linear(0.0, 1.0, 10).curve(15)
    assert curve[0] == 0.0 and curve[5] == 0.5 and np.all(curve[10:] == 1.0)


def test_cosine_is_half_way_at_half_total_steps():
    assert CosineAnnealing(1.0, 10, 0.2)(5) == pytest.approx(0.6)


def test_cosine_holds_min_lr_after_total_steps():
    assert np.all(CosineAnnealing(1.0, 10, 0.2).curve(100)[10:] == 0.2)


def test_warm_restarts_return_to_the_decayed_peak_at_each_restart():
    sched = CosineWarmRestarts(1.0, 3, cycle_mult=2, min_lr=0.1, peak_decay=0.5)
    for i, start in enumerate([0, 3, 9, 21, 45]):
        assert sched(start) == pytest.approx(0.1 + 0.9 * 0.5**i)
        assert sched(start - 1) < sched(start) if start else True


def test_warm_restarts_fractional_mult_restarts_at_geometric_sums():
    sched = CosineWarmRestarts(1.0, 4, cycle_mult=1.5)  # cycles of 4, 6, 9, 13.5: restarts at 4, 10, 19, 32.5
    assert [sched(t) for t in (4, 10, 19)] == [1.0, 1.0, 1.0]
    assert sched(32) < 0.05 and sched(33) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5 / 20.25)))


def test_onecycle_starts_at_max_lr_over_div_factor():
    assert OneCycle(1.0, 100, div_factor=20)(0) == pytest.approx(0.05)


def test_onecycle_peaks_at_pct_start():
    curve = OneCycle(2.0, 100, pct_start=0.3).curve(100)
    assert int(np.argmax(curve)) == 29 and curve[29] == 2.0  # end of phase 1: pct_start * T - 1


def test_onecycle_ends_at_max_lr_over_div_factor_times_final_div_factor_and_holds():
    curve = OneCycle(1.0, 100, div_factor=25, final_div_factor=1e4).curve(150)
    assert curve[99] == pytest.approx(1.0 / 25 / 1e4) and np.all(curve[99:] == curve[99])


def test_onecycle_momentum_is_lowest_where_the_lr_peaks():
    sched = OneCycle(1.0, 100)
    assert sched.momentum(0) == 0.95 and sched.momentum(29) == 0.85 and sched.momentum(99) == pytest.approx(0.95)
    np.testing.assert_allclose(sched.momentum_curve(100), [sched.momentum(t) for t in range(100)], rtol=1e-15)


def test_onecycle_with_zero_length_phases_starts_at_the_peak():
    curve = OneCycle(1.0, 10, pct_start=0.1, three_phase=True).curve(12)
    assert curve[0] == 1.0 and np.all(np.isfinite(curve)) and curve[9] == pytest.approx(1.0 / 25 / 1e4)


def test_onecycle_three_phase_is_back_at_the_start_lr_at_twice_pct_start():
    sched = OneCycle(1.0, 100, pct_start=0.3, three_phase=True)
    assert sched(58) == pytest.approx(sched(0)) and sched(99) == pytest.approx(1.0 / 25 / 1e4)


def test_cyclic_triangle_goes_base_max_base():
    sched = Cyclic(0.1, 1.0, step_size_up=4, step_size_down=6)
    assert [sched(t) for t in (0, 4, 10, 14)] == pytest.approx([0.1, 1.0, 0.1, 1.0])


def test_cyclic_triangular2_halves_the_amplitude_every_cycle():
    sched = Cyclic(0.0 + 1e-9, 1.0, 5, mode="triangular2")
    assert [sched(5 + 10 * k) for k in range(3)] == pytest.approx([1.0, 0.5, 0.25], rel=1e-6)


def test_cyclic_exp_range_scales_the_amplitude_by_gamma_to_the_step():
    sched = Cyclic(0.1, 1.1, 5, mode="exp_range", gamma=0.9)
    assert sched(15) == pytest.approx(0.1 + 0.9**15)


def test_join_later_schedule_counts_steps_from_its_own_start():
    cosine = CosineAnnealing(1.0, 10)
    sched = Join([Constant(0.5), cosine], [5])
    assert [sched(5 + k) for k in range(12)] == [cosine(k) for k in range(12)]
    assert sched(4) == 0.5


def test_join_curve_shorter_than_the_first_boundary():
    sched = Join([Constant(0.5), Constant(0.1)], [10])
    assert sched.curve(3).tolist() == [0.5, 0.5, 0.5]


def test_warmup_cosine_repr_shows_how_it_is_built():
    assert repr(warmup_cosine(1.0, 100, 10)) == (
        "Join(schedules=(Linear(start_lr=0.0, end_lr=1.0, total_steps=10), "
        "CosineAnnealing(lr=1.0, total_steps=90, min_lr=0.0)), boundaries=(10,))")
    assert warmup_cosine(1.0, 100, 0) == Join([CosineAnnealing(1.0, 100)], [])


def test_wsd_warms_up_holds_then_decays_to_min_lr_and_holds():
    curve = WarmupStableDecay(1.0, 100, 10, 20, min_lr=0.1).curve(120)
    assert curve[0] == 0.0 and curve[5] == 0.5
    assert np.all(curve[10:81] == 1.0) and curve[90] == pytest.approx(0.55) and np.all(curve[100:] == 0.1)


@pytest.mark.parametrize("decay, midpoint", [("linear", 0.5), ("cosine", 0.5), ("sqrt", 1 - math.sqrt(0.5))])
def test_wsd_decay_shapes_at_the_middle_of_the_decay(decay, midpoint):
    assert WarmupStableDecay(1.0, 100, 0, 20, decay=decay)(90) == pytest.approx(midpoint)


def test_wsd_linear_equals_a_join_of_linear_constant_linear():
    wsd = WarmupStableDecay(2.0, 100, 10, 30, 0.2)
    join = Join([Linear(0.0, 2.0, 10), Constant(2.0), Linear(2.0, 0.2, 30)], [10, 70])
    np.testing.assert_allclose(wsd.curve(120), join.curve(120), rtol=1e-12)


# --- properties --------------------------------------------------------------------------------------

lrs = st.floats(1e-4, 10.0)
fractions = st.floats(0.0, 1.0)
props = settings(max_examples=30, deadline=None)


def is_non_increasing(x):
    return bool(np.all(np.diff(x) <= 1e-12 * np.max(np.abs(x))))


@props
@given(lr=lrs, total=st.integers(1, 200), floor=fractions, power=st.floats(0.2, 5.0))
def test_decays_stay_between_end_and_start_and_never_rise(lr, total, floor, power):
    for sched in (CosineAnnealing(lr, total, floor * lr), PolynomialDecay(lr, total, floor * lr, power),
                  Linear(lr, floor * lr, total), WarmupStableDecay(lr, total, 0, total, floor * lr, "sqrt")):
        curve = sched.curve(total + 50)
        assert is_non_increasing(curve)
        assert curve[0] == pytest.approx(lr) and curve[-1] == pytest.approx(floor * lr, abs=1e-12)
        assert np.all(curve <= lr * (1 + 1e-12)) and np.all(curve >= floor * lr * (1 - 1e-12))


@props
@given(lr=lrs, rate=st.floats(0.01, 1.0), steps=st.integers(1, 50), staircase=st.booleans())
def test_exponential_and_inverse_time_never_rise(lr, rate, steps, staircase):
    assert is_non_increasing(ExponentialDecay(lr, rate, steps, staircase).curve(300))
    assert is_non_increasing(InverseTimeDecay(lr, rate, steps, staircase).curve(300))


@props
@given(max_lr=lrs, total=st.integers(10, 400), pct=st.floats(0.1, 0.9), div=st.floats(1.0, 100.0),
       anneal=st.sampled_from(["cos", "linear"]))
def test_onecycle_rises_to_max_lr_then_falls(max_lr, total, pct, div, anneal):
    curve = OneCycle(max_lr, total, pct, div, anneal=anneal).curve(total + 10)
    peak = int(np.argmax(curve))
    assert curve[peak] <= max_lr * (1 + 1e-12) and np.all(curve > 0)
    assert np.all(np.diff(curve[: peak + 1]) >= 0) and is_non_increasing(curve[peak:])


@props
@given(base=lrs, ratio=st.floats(1.0, 100.0), up=st.integers(1, 30), down=st.integers(1, 30),
       mode=st.sampled_from(["triangular", "triangular2", "exp_range"]), gamma=st.floats(0.5, 1.0))
def test_cyclic_stays_between_base_lr_and_max_lr(base, ratio, up, down, mode, gamma):
    curve = Cyclic(base, base * ratio, up, down, mode, gamma).curve(300)
    assert np.all(curve >= base * (1 - 1e-12)) and np.all(curve <= base * ratio * (1 + 1e-12))


@props
@given(lr=lrs, cycle=st.integers(1, 30), mult=st.floats(1.0, 3.0), floor=fractions, decay=st.floats(0.1, 1.0))
def test_warm_restarts_stay_between_min_lr_and_lr_and_restart_at_the_peak(lr, cycle, mult, floor, decay):
    sched = CosineWarmRestarts(lr, cycle, mult, floor * lr, decay)
    curve = sched.curve(300)
    assert np.all(curve >= floor * lr * (1 - 1e-12)) and np.all(curve <= lr * (1 + 1e-12))
    rises = np.flatnonzero(np.diff(curve) > 1e-12 * lr) + 1  # only at restarts
    assert len(rises) <= 300 // cycle + 1


@props
@given(max_lr=lrs, total=st.integers(2, 300), data=st.data(), floor=fractions, start=fractions)
def test_warmup_joins_are_continuous_at_the_boundary(max_lr, total, data, floor, start):
    warmup = data.draw(st.integers(1, total - 1))
    for sched in (warmup_cosine(max_lr, total, warmup, floor * max_lr, start * max_lr),
                  warmup_linear(max_lr, total, warmup, floor * max_lr, start * max_lr)):
        first, second = sched.schedules
        assert first(warmup) == pytest.approx(second(0))  # the warmup ends where the decay starts
        assert sched(warmup) == pytest.approx(max_lr) and sched(total + 5) == pytest.approx(floor * max_lr, abs=1e-12)
        np.testing.assert_allclose(sched.curve(total + 5), [sched(t) for t in range(total + 5)], rtol=1e-15)


@props
@given(max_lr=lrs, total=st.integers(2, 300), data=st.data(), floor=fractions,
       decay=st.sampled_from(["linear", "cosine", "sqrt"]))
def test_wsd_stays_below_max_lr_and_rises_then_falls(max_lr, total, data, floor, decay):
    warmup = data.draw(st.integers(0, total - 1))
    decay_steps = data.draw(st.integers(1, total - warmup))
    curve = WarmupStableDecay(max_lr, total, warmup, decay_steps, floor * max_lr, decay).curve(total + 5)
    assert np.all(curve <= max_lr) and np.all(np.diff(curve[: warmup + 1]) >= 0)
    assert is_non_increasing(curve[warmup:]) and curve[-1] == pytest.approx(floor * max_lr, abs=1e-12)


# --- bad input ---------------------------------------------------------------------------------------

BAD = [
    (lambda: Constant(0), ValueError, "lr"),
    (lambda: Constant(-1.0), ValueError, "lr"),
    (lambda: Constant(float("nan")), ValueError, "lr"),
    (lambda: Constant(float("inf")), ValueError, "lr"),
    (lambda: Constant("0.1"), TypeError, "lr"),
    (lambda: Constant(True), TypeError, "lr"),
    (lambda: ExponentialDecay(1.0, 0.0), ValueError, "decay_rate"),
    (lambda: ExponentialDecay(1.0, -0.5), ValueError, "decay_rate"),
    (lambda: ExponentialDecay(1.0, 0.5, 0), ValueError, "decay_steps"),
    (lambda: ExponentialDecay(1.0, 0.5, 2.5), ValueError, "decay_steps"),
    (lambda: ExponentialDecay(1.0, 0.5, staircase="yes"), TypeError, "staircase"),
    (lambda: StepDecay(1.0, 0), ValueError, "step_size"),
    (lambda: StepDecay(1.0, 10, gamma=0), ValueError, "gamma"),
    (lambda: PiecewiseConstant([20, 10], [1, 0.1, 0.01]), ValueError, "boundaries"),
    (lambda: PiecewiseConstant([10, 10], [1, 0.1, 0.01]), ValueError, "boundaries"),
    (lambda: PiecewiseConstant([10.5], [1, 0.1]), ValueError, "boundaries[0]"),
    (lambda: PiecewiseConstant([0], [1, 0.1]), ValueError, "boundaries[0]"),
    (lambda: PiecewiseConstant(10, [1, 0.1]), TypeError, "boundaries"),
    (lambda: PiecewiseConstant([10], [1, 0.1, 0.01]), ValueError, "values"),
    (lambda: PiecewiseConstant([10], [1, -0.1]), ValueError, "values[1]"),
    (lambda: InverseTimeDecay(1.0, 0), ValueError, "decay_rate"),
    (lambda: PolynomialDecay(1.0, 0), ValueError, "total_steps"),
    (lambda: PolynomialDecay(1.0, 10, end_lr=2.0), ValueError, "end_lr"),
    (lambda: PolynomialDecay(1.0, 10, end_lr=-0.1), ValueError, "end_lr"),
    (lambda: PolynomialDecay(1.0, 10, power=0), ValueError, "power"),
    (lambda: Linear(-1.0, 1.0, 10), ValueError, "start_lr"),
    (lambda: Linear(0.0, 0.0, 10), ValueError, "start_lr"),
    (lambda: Linear(0.0, 1.0, 0), ValueError, "total_steps"),
    (lambda: CosineAnnealing(1.0, 0), ValueError, "total_steps"),
    (lambda: CosineAnnealing(1.0, 10, min_lr=2.0), ValueError, "min_lr"),
    (lambda: CosineAnnealing(1.0, 10, min_lr=-1e-3), ValueError, "min_lr"),
    (lambda: CosineAnnealing(1.0, "10"), TypeError, "total_steps"),
    (lambda: CosineWarmRestarts(1.0, 0), ValueError, "cycle_steps"),
    (lambda: CosineWarmRestarts(1.0, 10, cycle_mult=0.5), ValueError, "cycle_mult"),
    (lambda: CosineWarmRestarts(1.0, 10, peak_decay=1.5), ValueError, "peak_decay"),
    (lambda: CosineWarmRestarts(1.0, 10, min_lr=3.0), ValueError, "min_lr"),
    (lambda: OneCycle(1.0, 0), ValueError, "total_steps"),
    (lambda: OneCycle(1.0, 100, pct_start=0), ValueError, "pct_start"),
    (lambda: OneCycle(1.0, 100, pct_start=1.0), ValueError, "pct_start"),
    (lambda: OneCycle(1.0, 100, anneal="cosine"), ValueError, "anneal"),
    (lambda: OneCycle(1.0, 100, div_factor=0), ValueError, "div_factor"),
    (lambda: OneCycle(1.0, 100, final_div_factor=-1), ValueError, "final_div_factor"),
    (lambda: OneCycle(1.0, 100, base_momentum=0.99), ValueError, "base_momentum"),
    (lambda: OneCycle(1.0, 100, max_momentum=1.0), ValueError, "max_momentum"),
    (lambda: OneCycle(1.0, 100, three_phase=1), TypeError, "three_phase"),
    (lambda: Cyclic(1.0, 0.1), ValueError, "base_lr"),
    (lambda: Cyclic(0.1, 1.0, mode="sawtooth"), ValueError, "mode"),
    (lambda: Cyclic(0.1, 1.0, step_size_up=0), ValueError, "step_size_up"),
    (lambda: Cyclic(0.1, 1.0, step_size_down=0), ValueError, "step_size_down"),
    (lambda: Cyclic(0.1, 1.0, gamma=1.5), ValueError, "gamma"),
    (lambda: Join([Constant(1.0)], [10]), ValueError, "boundaries"),
    (lambda: Join([Constant(1.0), Constant(0.1)], []), ValueError, "boundaries"),
    (lambda: Join([Constant(1.0), lambda t: 0.1], [10]), TypeError, "schedules[1]"),
    (lambda: Join([], []), ValueError, "schedules"),
    (lambda: Join([Constant(1.0), Constant(0.1), Constant(0.01)], [10, 5]), ValueError, "boundaries"),
    (lambda: WarmupStableDecay(1.0, 100, 50, 60), ValueError, "warmup_steps + decay_steps"),
    (lambda: WarmupStableDecay(1.0, 100, 10, 0), ValueError, "decay_steps"),
    (lambda: WarmupStableDecay(1.0, 100, -1, 10), ValueError, "warmup_steps"),
    (lambda: WarmupStableDecay(1.0, 100, 10, 10, decay="exp"), ValueError, "decay"),
    (lambda: WarmupStableDecay(1.0, 100, 10, 10, min_lr=2.0), ValueError, "min_lr"),
    (lambda: warmup_cosine(1.0, 10, 10), ValueError, "warmup_steps"),
    (lambda: warmup_linear(1.0, 10, 3, min_lr=5.0), ValueError, "min_lr"),
    (lambda: warmup_cosine(1.0, 10, 3, start_lr=5.0), ValueError, "start_lr"),
    (lambda: warmup_cosine(0.0, 10, 3), ValueError, "max_lr"),
    (lambda: Constant(0.1).curve(-1), ValueError, "num_steps"),
]


@pytest.mark.parametrize("make, error, name", BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_input_raises_naming_the_parameter_and_the_value(make, error, name):
    with pytest.raises(error) as info:
        make()
    message = str(info.value)
    assert message.startswith(name) and "got" in message


@settings(max_examples=40, deadline=None)
@given(cycle=st.integers(1, 30), mult=st.sampled_from([1, 2, 3, 1.5, 2.7]), floor=st.floats(0.0, 0.9),
       decay=st.floats(0.3, 1.0), n=st.integers(0, 400))
def test_warm_restarts_curve_filled_cycle_by_cycle_equals_each_step_exactly(cycle, mult, floor, decay, n):
    sched = CosineWarmRestarts(0.1, cycle, mult, 0.1 * floor, decay)
    assert sched.curve(n).tolist() == [sched(t) for t in range(n)]


def test_wsd_stable_phase_is_max_lr_exactly():
    # found by hypothesis: min_lr + (max_lr - min_lr) rounded one ulp above max_lr
    max_lr = 6.356418142296536
    sched = WarmupStableDecay(max_lr, 2, 0, 1, 0.1 * max_lr, "linear")
    assert sched(0) == max_lr and sched.curve(7).max() == max_lr
