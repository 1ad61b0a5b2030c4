"""lrcourse.recipes: each recipe scales its schedule to the budget; make_run counts the updates."""
import numpy as np
import pytest

from lrcourse import schedules as S
from lrcourse.recipes import ALIASES, RECIPES, make_run, recipe


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_peaks_at_peak_lr_and_fits_the_budget(name):
    sched = RECIPES[name](0.5, 200)
    lrs = [sched(t) for t in range(200)]
    assert max(lrs) == pytest.approx(0.5, rel=1e-3), "the peak LR of the grid is the schedule's peak"
    if name == "constant":
        assert sched(200) == 0.5
    else:
        assert sched(200) <= 0.1 * 0.5 + 1e-12, f"{name} should be at peak/10 or below at the horizon"
    assert RECIPES[name].__doc__, "every recipe says what it builds"


def test_multistep_recipe_divides_by_ten_at_half_and_three_quarters():
    s = RECIPES["multistep"](1.0, 100)
    assert [s(t) for t in (49, 50, 74, 75, 99)] == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01])


def test_no_recipe_name_means_another_schedule_than_in_SCHEDULES():
    """RECIPES["step"] used to build a PiecewiseConstant while SCHEDULES["step"] is StepDecay."""
    for name in set(RECIPES) & set(S.SCHEDULES):
        assert isinstance(RECIPES[name](0.1, 100), S.SCHEDULES[name]), name
    assert "step" not in list(RECIPES) and "multistep" in RECIPES


def test_the_old_name_step_still_works_but_is_not_listed():
    assert ALIASES == {"step": "multistep"}
    assert RECIPES["step"] is RECIPES["multistep"] is recipe("step")
    assert RECIPES["step"](1.0, 100) == RECIPES["multistep"](1.0, 100)
    assert make_run("step", 0.1, 2, 100).schedule == make_run("multistep", 0.1, 2, 100).schedule
    with pytest.raises(KeyError):
        RECIPES["nope"]
    with pytest.raises(ValueError, match="valid names are"):
        recipe("nope")


def test_cosine_restarts_recipe_restarts_twice_within_budget():
    s = RECIPES["cosine_restarts"](1.0, 700)
    restarts = [t for t in range(1, 700) if s(t) > s(t - 1)]
    assert restarts == [100, 300]


def test_make_run_scales_the_recipe_to_the_update_count():
    run = make_run("onecycle", 0.3, epochs=4, data=1437, batch_size=64)
    assert (run.steps_per_epoch, run.total_steps) == (23, 92)
    assert run.schedule == RECIPES["onecycle"](0.3, 92)

    class FakeData:
        train = (None, list(range(100)))
    assert make_run("cosine", 0.1, 2, FakeData(), batch_size=30).total_steps == 8
    numpy_args = make_run("cosine", np.float32(0.5), np.int64(2), np.int64(100), batch_size=np.int64(30))
    assert numpy_args.total_steps == 8 and type(numpy_args.peak_lr) is float


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(schedule_name="nope"), ValueError, "schedule_name"), (dict(peak_lr=0.0), ValueError, "peak_lr"),
    (dict(peak_lr="0.1"), TypeError, "peak_lr"), (dict(epochs=0), ValueError, "epochs"),
    (dict(data=0), ValueError, "data"), (dict(data=True), ValueError, "data"),
])
def test_make_run_bad_input(kwargs, error, words):
    args = dict(schedule_name="cosine", peak_lr=0.1, epochs=2, data=100) | kwargs
    with pytest.raises(error, match=words):
        make_run(**args)
