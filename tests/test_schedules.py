"""Unit and property tests for lrcourse.schedules: landmarks, properties, value semantics, bad input.

The oracle comparisons against torch and Keras live in test_schedule_oracles.py.
"""
import dataclasses
import math
import pickle
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lrcourse import schedules as schedules_module
from lrcourse.schedules import (
    SCHEDULES,
    Constant,
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
    Schedule,
    StepDecay,
    Warmup,
    WarmupStableDecay,
    field_metadata,
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
    # zero LRs where they mean something: a frozen group, a pause, a floor, a cyclic base
    Constant(0.0),
    PiecewiseConstant([10, 20], [0.1, 0.0, 0.01]),
    Cyclic(0.0, 1.0, 4),
    InverseSqrtDecay(1.0, 10),
    Join([Linear(0.1, 1.0, 9), InverseSqrtDecay(1.0, 10)], [9]),  # the "Noam" schedule, W = 10
    Warmup(1.0, 10),
    Warmup(1.0, 10, 0.1, "cosine"),
    Warmup(1.0, 10, 0.01, "exponential"),
    CosineWarmRestarts(1.0, 3, 2.68),   # a restart at 3.0000000000000004 in floats: step 3 exactly
    CosineWarmRestarts(1.0, 5, 2, 0.1, max_cycles=2),
    CosineWarmRestarts(1.0, 4, 1.5, max_cycles=3),
    OneCycle(1.0, 40, cycle_momentum=False),
    OneCycle(1.0, 40, 0.5, three_phase=True),
    warmup_cosine(1.0, 50, 5, warmup_shape="cosine"),
    warmup_linear(1.0, 50, 5, start_lr=0.01, warmup_shape="exponential"),
    WarmupStableDecay(1.0, 50, 10, 10, warmup_shape="cosine"),
    WarmupStableDecay(1.0, 50, 10, 10, start_lr=0.01, warmup_shape="exponential"),
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
    assert set(SCHEDULES) == {"constant", "exponential", "step", "piecewise", "inverse_time", "inverse_sqrt",
                              "polynomial", "linear", "warmup", "cosine", "cosine_restarts", "onecycle", "cyclic",
                              "wsd"}
    classes = {obj for obj in vars(schedules_module).values()
               if isinstance(obj, type) and issubclass(obj, Schedule) and obj not in (Schedule, Join)}
    assert set(SCHEDULES.values()) == classes
    assert {type(s) for s in EXAMPLES} >= classes  # every schedule is in EXAMPLES: each test above covers it


def test_reduce_lr_on_plateau_is_re_exported_but_is_no_schedule():
    from lrcourse.plateau import ReduceLROnPlateau

    assert schedules_module.ReduceLROnPlateau is ReduceLROnPlateau
    assert ReduceLROnPlateau not in SCHEDULES.values() and not issubclass(ReduceLROnPlateau, Schedule)


# --- field metadata: one description of each field drives validation, explorers and samplers ----


@pytest.mark.parametrize("cls", list(SCHEDULES.values()), ids=list(SCHEDULES))
def test_every_field_says_what_it_is(cls):
    roles = {"lr", "floor", "count", "real", "choice", "flag", "boundaries", "values"}
    for name, meta in field_metadata(cls).items():
        assert meta.get("role") in roles, (cls.__name__, name)
        if meta["role"] in ("lr", "floor", "real"):
            lo, hi = meta["range"]
            assert lo < hi and (not meta["log"] or lo > 0), (cls.__name__, name)
        if meta["role"] == "choice":
            assert dataclasses.fields(cls)[[f.name for f in dataclasses.fields(cls)].index(name)].default \
                in meta["options"]


def test_validation_comes_from_the_metadata_of_a_schedule_of_ones_own():
    @dataclasses.dataclass(frozen=True)
    class Mine(Schedule):
        lr: float = dataclasses.field(metadata={"role": "lr", "low": 0.0, "low_open": True})
        steps: int = dataclasses.field(default=10, metadata={"role": "count", "minimum": 1, "maximum": 100})
        plain: object = None  # no metadata: no validation

        def _lr(self, t):
            return np.full(t.shape, self.lr)

    assert Mine(np.float32(0.5), np.int64(3)).steps == 3 and type(Mine(1, 3.0).lr) is float
    with pytest.raises(ValueError, match="lr must be > 0, got 0"):
        Mine(0)
    with pytest.raises(ValueError, match="steps must be <= 100"):
        Mine(1.0, 101)
    with pytest.raises(TypeError, match="steps must be an integer"):
        Mine(1.0, "3")


def test_field_metadata_of_a_factory_comes_from_the_course_fields_of_the_same_name():
    meta = field_metadata(warmup_cosine)
    assert meta["max_lr"]["role"] == "lr" and meta["total_steps"]["role"] == "count"
    assert meta["min_lr"]["role"] == "floor" and meta["warmup_shape"]["options"] == ("linear", "cosine", "exponential")


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


def test_zero_lrs_are_allowed_where_they_mean_something():
    assert Constant(0).curve(3).tolist() == [0.0, 0.0, 0.0]  # a frozen param group
    pause = PiecewiseConstant([2, 4], [0.1, 0.0, 0.1])
    assert pause.curve(6).tolist() == [0.1, 0.1, 0.0, 0.0, 0.1, 0.1]
    assert Cyclic(0, 1.0, 2).curve(5).tolist() == [0.0, 0.5, 1.0, 0.5, 0.0]
    assert CosineAnnealing(1.0, 4, 0)(4) == Linear(0, 1.0, 4)(0) == 0.0


def test_step_decay_is_exponential_decay_staircase_under_torch_names():
    for lr, size, gamma in [(0.5, 7, 0.3), (1.0, 1, 0.9), (3.0, 13, 0.5)]:
        assert StepDecay(lr, size, gamma).curve(100).tolist() == \
            ExponentialDecay(lr, gamma, size, staircase=True).curve(100).tolist()


def test_inverse_sqrt_halves_at_three_decay_steps_and_keeps_falling_as_one_over_sqrt_t():
    sched = InverseSqrtDecay(2.0, 10)
    assert sched(0) == 2.0 and sched(30) == pytest.approx(1.0) and sched(990) == pytest.approx(0.2)
    assert sched(10**12) == pytest.approx(2.0 / math.sqrt(1 + 10**11))  # no horizon


def test_noam_schedule_is_linear_warmup_then_inverse_sqrt_from_step_w_minus_one():
    # Vaswani et al. 2017: lr = d^-0.5 min(n^-0.5, n W^-1.5), n = step + 1
    d, w = 512, 40
    peak = d**-0.5 * w**-0.5
    noam = Join([Linear(peak / w, peak, w - 1), InverseSqrtDecay(peak, w)], [w - 1])
    paper = [d**-0.5 * min((t + 1) ** -0.5, (t + 1) * w**-1.5) for t in range(400)]
    np.testing.assert_allclose(noam.curve(400), paper, rtol=1e-12)


@pytest.mark.parametrize("shape, midpoint", [("linear", 0.55), ("cosine", 0.55), ("exponential", math.sqrt(0.1))])
def test_warmup_shapes_start_end_and_midpoint(shape, midpoint):
    sched = Warmup(1.0, 10, 0.1, shape)
    curve = sched.curve(15)
    assert curve[0] == pytest.approx(0.1) and curve[5] == pytest.approx(midpoint) and np.all(curve[10:] == 1.0)
    assert np.all(np.diff(curve) >= 0)


def test_cosine_warmup_is_flat_at_both_ends_exponential_spends_its_steps_low():
    cos, lin, exp = (Warmup(1.0, 100, 0.01, shape).curve(101) for shape in ("cosine", "linear", "exponential"))
    assert cos[1] - cos[0] < lin[1] - lin[0] and cos[100] - cos[99] < lin[100] - lin[99]
    assert np.all(exp[1:100] < lin[1:100])


@pytest.mark.parametrize("shape", ["linear", "cosine", "exponential"])
def test_wsd_warmup_shape_equals_a_join_of_warmup_constant_decay(shape):
    wsd = WarmupStableDecay(2.0, 100, 10, 30, 0.2, start_lr=0.02, warmup_shape=shape)
    join = Join([Warmup(2.0, 10, 0.02, shape), Constant(2.0), Linear(2.0, 0.2, 30)], [10, 70])
    np.testing.assert_allclose(wsd.curve(120), join.curve(120), rtol=1e-12)
    assert warmup_cosine(2.0, 50, 10, start_lr=0.02, warmup_shape=shape).curve(10).tolist() == \
        Warmup(2.0, 10, 0.02, shape).curve(10).tolist() if shape != "linear" else True


def test_wsd_linear_warmup_from_zero_keeps_its_old_floats():
    curve = WarmupStableDecay(0.3, 100, 7, 10).curve(7)
    assert curve.tolist() == [0.3 * t / 7 for t in range(7)]  # max_lr * t / W, bit for bit


def test_warm_restarts_cycle_limit_holds_min_lr_after_the_last_cycle():
    for mult in (1, 2, 1.5):
        limited = CosineWarmRestarts(1.0, 4, mult, 0.1, 0.5, max_cycles=2)
        free = CosineWarmRestarts(1.0, 4, mult, 0.1, 0.5)
        end = int(math.ceil(4 + 4 * mult))  # two cycles
        curve = limited.curve(60)
        assert curve[:end].tolist() == free.curve(end).tolist()
        assert np.all(curve[end:] == 0.1) and limited(10**9) == 0.1
        assert curve.tolist() == [limited(t) for t in range(60)]


def test_warm_restarts_restart_at_the_issue_example():
    # 3 * (2.68 - 1) / (2.68 - 1) is 3.0000000000000004 in floats; the restart is at step 3
    sched = CosineWarmRestarts(1.0, 3, cycle_mult=2.68)
    assert [round(sched(t), 3) for t in (2, 3, 4)] == [0.25, 1.0, 0.962]
    assert sched.curve(5)[2:].round(3).tolist() == [0.25, 1.0, 0.962]


def test_onecycle_three_phase_past_half_is_refused_and_half_still_works():
    with pytest.raises(ValueError, match="pct_start must be <= 0.5 with three_phase=True"):
        OneCycle(0.1, 10, pct_start=0.6, three_phase=True)
    sched = OneCycle(0.1, 10, pct_start=0.5, three_phase=True)
    curve = sched.curve(16)
    assert np.all(curve[9:] == curve[9]) and curve[9] == pytest.approx(0.1 / 25 / 1e4)
    assert OneCycle(0.1, 10, pct_start=0.9).curve(16)[9:].tolist() == [0.1 / 25 / 1e4] * 7


def test_onecycle_cycle_momentum_is_a_visible_field():
    assert OneCycle(0.1, 10).cycle_momentum is True and "cycle_momentum=True" in repr(OneCycle(0.1, 10))
    off = OneCycle(0.1, 10, cycle_momentum=False)
    assert off != OneCycle(0.1, 10) and off.curve(10).tolist() == OneCycle(0.1, 10).curve(10).tolist()


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


def _restart_steps(cycle, mult, limit):
    """The restart points that are whole steps, computed exactly (mult is the decimal the user typed)."""
    out, start, length = [], Fraction(0), Fraction(cycle)
    for i in range(1, 200):
        start += length
        length *= mult
        if start > limit:
            break
        if start.denominator == 1:
            out.append((i, int(start)))
    return out


@settings(max_examples=300, deadline=None)
@given(cycle=st.integers(1, 100), hundredths=st.integers(101, 399), floor=st.sampled_from([0.0, 0.1]),
       decay=st.sampled_from([1.0, 0.7]))
@example(cycle=3, hundredths=268, floor=0.0, decay=1.0)   # the issue: 3.0000000000000004
@example(cycle=25, hundredths=268, floor=0.0, decay=1.0)  # 25 * 3.68 = 92.00000000000001
def test_warm_restarts_every_restart_step_has_the_peak_lr(cycle, hundredths, floor, decay):
    mult = hundredths / 100
    sched = CosineWarmRestarts(1.0, cycle, mult, floor, decay)
    restarts = _restart_steps(cycle, Fraction(hundredths, 100), 3000)
    assert restarts and restarts[0] == (1, cycle)  # the first restart is always a whole step
    curve = sched.curve(restarts[-1][1] + 1)
    whole = {0} | {step for _, step in restarts}
    for i, step in restarts:
        peak = floor + (1.0 - floor) * decay**i
        assert sched(step) == pytest.approx(peak, rel=1e-12) and curve[step] == sched(step), (i, step)
        if step - 1 not in whole:  # the step before ends the previous cycle, at its bottom
            assert sched(step - 1) <= floor + (1.0 - floor) * decay ** (i - 1) * 0.5 + 1e-12


@settings(max_examples=300, deadline=None)
@given(cycle=st.integers(1, 100), mult=st.floats(1.01, 3.99))
def test_warm_restarts_first_restart_is_at_cycle_steps_for_any_float_mult(cycle, mult):
    sched = CosineWarmRestarts(1.0, cycle, mult)
    assert sched(cycle) == 1.0 and sched.curve(cycle + 1)[cycle] == 1.0


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
    # huge but finite: refused up front, or named when they overflow
    (lambda: StepDecay(1.0, step_size=1e308), ValueError, "step_size"),
    (lambda: Constant(10**400), ValueError, "lr"),
    (lambda: CosineAnnealing(1e308, 10), ValueError, "lr"),
    (lambda: ExponentialDecay(1.0, 1e308)(3), ValueError, "decay_rate"),
    (lambda: ExponentialDecay(1.0, 1e308).curve(5), ValueError, "decay_rate"),
    (lambda: StepDecay(1.0, 1, gamma=1e308)(3), ValueError, "gamma"),
    (lambda: Constant(0.1)(2**63), ValueError, "step"),
    (lambda: Constant(0.1)(np.uint64(2**64 - 1)), ValueError, "step"),
    (lambda: Constant(0.1)(np.float64(3.0)), TypeError, "step"),
    (lambda: PiecewiseConstant(np.array(5), [1, 0.1]), TypeError, "boundaries"),
    (lambda: PiecewiseConstant([10], 0.1), TypeError, "values"),
    (lambda: OneCycle(1.0, 100, pct_start=0.6, three_phase=True), ValueError, "pct_start"),
    (lambda: OneCycle(1.0, 100, cycle_momentum=1), TypeError, "cycle_momentum"),
    (lambda: Cyclic(-0.1, 1.0), ValueError, "base_lr"),
    (lambda: InverseSqrtDecay(0.0, 10), ValueError, "lr"),
    (lambda: InverseSqrtDecay(1.0, 0), ValueError, "decay_steps"),
    (lambda: InverseSqrtDecay(1.0, 2.5), ValueError, "decay_steps"),
    (lambda: Warmup(1.0, 0), ValueError, "warmup_steps"),
    (lambda: Warmup(1.0, 10, 2.0), ValueError, "start_lr"),
    (lambda: Warmup(1.0, 10, shape="exponential"), ValueError, "start_lr"),
    (lambda: Warmup(1.0, 10, 5e-324, shape="exponential"), ValueError, "start_lr"),
    (lambda: Warmup(1.0, 10, shape="step"), ValueError, "shape"),
    (lambda: CosineWarmRestarts(1.0, 10, max_cycles=0), ValueError, "max_cycles"),
    (lambda: CosineWarmRestarts(1.0, 10, max_cycles=1.5), ValueError, "max_cycles"),
    (lambda: WarmupStableDecay(1.0, 100, 10, 10, warmup_shape="exponential"), ValueError, "start_lr"),
    (lambda: WarmupStableDecay(1.0, 100, 10, 10, warmup_shape="quadratic"), ValueError, "warmup_shape"),
    (lambda: WarmupStableDecay(1.0, 100, 10, 10, start_lr=2.0), ValueError, "start_lr"),
    (lambda: warmup_cosine(1.0, 10, 3, warmup_shape="exponential"), ValueError, "start_lr"),
    (lambda: warmup_linear(1.0, 10, 3, warmup_shape="quadratic"), ValueError, "warmup_shape"),
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
