"""Self-checking exercises: right answers pass, each typical mistake gets its own hint, nothing leaks."""
import inspect
import math

import pytest

from lrcourse import exercises
from lrcourse.exercises import Result, check_choice, check_schedule, check_value, sample_params
from lrcourse.schedules import SCHEDULES, CosineAnnealing, ExponentialDecay, StepDecay, warmup_cosine


# --- learner answers, right and typically wrong -----------------------------------------------
def cosine_right(step, lr, total_steps, min_lr=0.0):
    t = min(step, total_steps)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t / total_steps))


def cosine_no_clamp(step, lr, total_steps, min_lr=0.0):
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * step / total_steps))


def cosine_late(step, lr, total_steps, min_lr=0.0):
    return cosine_right(max(step - 1, 0), lr, total_steps, min_lr)


def cosine_early(step, lr, total_steps, min_lr=0.0):
    return cosine_right(step + 1, lr, total_steps, min_lr)


def cosine_fraction(step, lr, total_steps, min_lr=0.0):
    return cosine_right(step, lr, total_steps, min_lr) / lr


def cosine_none(step, lr, total_steps, min_lr=0.0):
    cosine_right(step, lr, total_steps, min_lr)  # forgot return


def cosine_divides_by_step(step, lr, total_steps, min_lr=0.0):
    return lr / step


def cosine_todo(step, lr, total_steps, min_lr=0.0):
    raise NotImplementedError


def exp_wrong_base(step, lr, decay_rate, decay_steps=1, staircase=False):
    return lr * decay_rate ** step  # t where the formula has t / decay_steps


def exp_right(step, lr, decay_rate, decay_steps=1, staircase=False):
    e = step // decay_steps if staircase else step / decay_steps
    return lr * decay_rate ** e


def exp_never_floors(step, lr, decay_rate, decay_steps=1, staircase=False):
    return lr * decay_rate ** (step / decay_steps)


def step_per_epoch(step, lr, step_size, gamma=0.1):
    return lr * gamma ** ((step // 10) // step_size)  # treated steps as epochs of 10 batches


class StepDecayClass:  # the "callable built from params" form
    def __init__(self, lr, step_size, gamma=0.1):
        self.lr, self.step_size, self.gamma = lr, step_size, gamma

    def __call__(self, step):
        return self.lr * self.gamma ** (step // self.step_size)


def warmup_cosine_right(step, max_lr, total_steps, warmup_steps, min_lr=0.0):
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    return cosine_right(step - warmup_steps, max_lr, total_steps - warmup_steps, min_lr)


def warmup_cosine_restarts_clock(step, max_lr, total_steps, warmup_steps, min_lr=0.0):
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    return cosine_right(step, max_lr, total_steps, min_lr)  # forgot to shift and shorten the decay


def hint_of(result):
    return result.message.split("Hint:", 1)[1] if "Hint:" in result.message else ""


# --- check_schedule ------------------------------------------------------------------------------
def test_right_answer_passes_and_says_so(capsys):
    r = check_schedule(cosine_right, CosineAnnealing)
    assert r.passed and r.score == 1.0 and bool(r)
    assert capsys.readouterr().out.startswith("✓ All 6 checks passed")


@pytest.mark.parametrize("learner, reference", [
    (exp_right, ExponentialDecay), (StepDecayClass, StepDecay), (cosine_right, CosineAnnealing(0.5, 7, 0.01)),
])
def test_right_answers_in_every_accepted_form_pass(learner, reference):
    assert check_schedule(learner, reference, verbose=False).passed


def test_reference_as_plain_callable_and_learner_without_params():
    sched = StepDecay(0.1, 5, 0.5)
    assert check_schedule(lambda t: 0.1 * 0.5 ** (t // 5), sched, verbose=False).passed
    assert check_schedule(lambda t: 0.1 * 0.5 ** (t // 5), sched, num_steps=40, verbose=False).checks == 1


@pytest.mark.parametrize("learner, reference, words", [
    (cosine_no_clamp, CosineAnnealing, "after total_steps=100"),
    (cosine_late, CosineAnnealing, "one step late"),
    (cosine_early, CosineAnnealing, "one step early"),
    (cosine_fraction, CosineAnnealing, "fraction of the LR"),
    (exp_wrong_base, ExponentialDecay(0.1, 0.9, 10), "used the raw step t where the formula has t / decay_steps"),
    (exp_never_floors, ExponentialDecay(0.1, 0.9, 10, staircase=True), "staircase=True"),
    (step_per_epoch, StepDecay(0.1, 3, 0.5), "10x too slow: per-epoch vs per-step"),
    (cosine_none, CosineAnnealing, "returned None"),
    (lambda step, lr, total_steps: lr, CosineAnnealing, "same value at every step"),
    (cosine_divides_by_step, CosineAnnealing, "division by zero"),
])
def test_each_typical_mistake_gets_its_hint(learner, reference, words):
    r = check_schedule(learner, reference, verbose=False)
    assert not r.passed and r.score < 1
    assert words in hint_of(r), r.message


def test_factory_reference_with_params():
    params = dict(max_lr=0.1, total_steps=100, warmup_steps=10)
    r = check_schedule(warmup_cosine_right, warmup_cosine, params=params, verbose=False)
    assert r.passed and r.checks == 6
    r = check_schedule(warmup_cosine_restarts_clock, warmup_cosine, params=params, verbose=False)
    assert r.message.startswith("✗ warmup_cosine(max_lr=0.1, total_steps=100, warmup_steps=10), step 10")
    assert "right during the warmup (steps 0..9)" in hint_of(r)


def test_failure_message_names_params_step_expected_and_got():
    r = check_schedule(cosine_no_clamp, CosineAnnealing(1.0, 10), random_params=0, verbose=False)
    first = r.message.splitlines()[0]
    assert "CosineAnnealing(lr=1.0, total_steps=10, min_lr=0.0)" in first
    assert "step 11" in first and "expected 0" in first and "got 0.0244717" in first


def test_exception_is_type_and_message_never_a_traceback():
    r = check_schedule(cosine_divides_by_step, CosineAnnealing, verbose=False)
    assert "ZeroDivisionError: float division by zero" in r.message
    assert "Traceback" not in r.message and "File " not in r.message


def test_not_implemented_is_not_attempted_with_score_zero(capsys):
    r = check_schedule(cosine_todo, CosineAnnealing)
    out = capsys.readouterr().out
    assert (r.passed, r.score, r.attempted) == (False, 0.0, False)
    assert "Not attempted yet" in out and "Traceback" not in out


def test_score_is_the_fraction_of_parameter_sets_right():
    # wrong only when staircase=True: the score counts the sets where staircase was drawn True
    r = check_schedule(exp_never_floors, ExponentialDecay, random_params=9, seed=1, verbose=False)
    sets = [ExponentialDecay(**exercises._typical_params(ExponentialDecay))]
    import random
    rng = random.Random(1)
    sets += [ExponentialDecay(**sample_params(ExponentialDecay, rng)) for _ in range(9)]
    wrong = sum(s.staircase and s.decay_steps > 1 for s in sets)
    assert r.checks == 10 and r.failures == wrong and 0 < wrong < 10
    assert r.score == pytest.approx((10 - wrong) / 10)
    assert f"{10 - wrong} of 10 parameter sets right" in r.message


def test_wrong_parameter_names_get_a_friendly_message():
    r = check_schedule(lambda step, lr, T: lr, CosineAnnealing, verbose=False)
    assert not r.passed and "name the parameters like the course schedule's" in r.message


def test_messages_never_leak_the_solution():
    source = inspect.getsource(CosineAnnealing)
    mistakes = [cosine_no_clamp, cosine_late, cosine_fraction, cosine_none, lambda step, lr, total_steps: 0.0]
    for learner in mistakes:
        msg = check_schedule(learner, CosineAnnealing, verbose=False).message
        assert not any(code in msg for code in ("cos(", "np.", "math.", "def ", "min(step"))
        assert not any(line.strip() and line.strip() in msg for line in source.splitlines() if len(line.strip()) > 20)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_course_schedule_checks_itself_and_samples_valid_params(name):
    import random
    cls = SCHEDULES[name]
    assert check_schedule(cls, cls, random_params=3, verbose=False).passed
    drawn = sample_params(cls, random.Random(0))
    assert drawn is not None and cls(**drawn) is not None


def test_ranges_override_sampling():
    import random
    rng = random.Random(0)
    for _ in range(5):
        p = sample_params(StepDecay, rng, ranges={"gamma": (0.4, 0.6), "step_size": [7]})
        assert 0.4 <= p["gamma"] <= 0.6 and p["step_size"] == 7


def test_result_repr_is_short():
    assert repr(Result(True, 1.0, "✓")) == "Result(passed=True, score=1.00)"


# --- check_value and check_choice ----------------------------------------------------------------
def test_check_value_right_wrong_and_blank(capsys):
    assert check_value(0.349, 0.9 ** 10).passed
    r = check_value(0.9 ** 9, 0.9 ** 10, mistakes={0.9 ** 9: "that is after 9 epochs"})
    assert not r.passed and "after 9 epochs" in r.message
    r = check_value(3.487, 0.9 ** 10, hint="gamma ** epochs")
    assert "factor of 10^1" in r.message and "too high" in r.message and "gamma ** epochs" in r.message
    assert "0.348" not in r.message  # the expected value is never shown
    r = check_value(None, 0.5)
    assert not r.attempted and r.score == 0
    assert check_value("abc", 0.5, verbose=False).message.startswith("✗ Your answer should be a number")
    capsys.readouterr()


def test_check_choice_single_and_multiple():
    notes = {"a": "Keras steps per batch.", "b": "torch steps per epoch.", "c": "No."}
    assert check_choice(" B) ", "b", notes, verbose=False).passed
    r = check_choice("a", "b", notes, verbose=False)
    assert not r.passed and "Keras steps per batch." in r.message and "torch steps" not in r.message
    assert "not one of the options" in check_choice("z", "b", notes, verbose=False).message
    r = check_choice({"a"}, {"a", "b"}, notes, verbose=False)
    assert not r.passed and r.score == 0.5 and "1 right option(s) still missing" in r.message
    assert check_choice(["b", "A"], {"a", "b"}, notes, verbose=False).passed
    assert not check_choice("", "b", notes, verbose=False).attempted


# --- plain callable references and partly shifted curves ------------------------------------------
def halving_every_5(t):  # a plain reference with no docstring (a lambda would do too)
    return 0.1 * 0.5 ** (t // 5)


def halving_wrong_from_12(t):
    return 0.1 * 0.5 ** (t // 5) if t < 12 else 0.07


def test_plain_callable_reference_fallback_does_not_mention_a_docstring():
    for reference in (halving_every_5, lambda t: 0.1 * 0.5 ** (t // 5)):
        r = check_schedule(halving_wrong_from_12, reference, num_steps=30, verbose=False)
        assert not r.passed and "right up to step 11" in hint_of(r)
        assert "docstring" not in r.message, r.message
    # a schedule class or instance has a docstring: there the hint points to it
    r = check_schedule(lambda step, lr, step_size, gamma: halving_wrong_from_12(step), StepDecay(0.1, 5, 0.5),
                       num_steps=30, verbose=False)
    assert "docstring's" in hint_of(r), r.message


def test_plain_callable_with_its_own_docstring_may_point_to_it():
    def reference(t):
        """0.1 halved every 5 steps."""
        return 0.1 * 0.5 ** (t // 5)

    r = check_schedule(halving_wrong_from_12, reference, num_steps=30, verbose=False)
    assert "docstring's" in hint_of(r)


def warmup_cosine_decay_late(step, max_lr, total_steps, warmup_steps, min_lr=0.0):
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    return cosine_right(step - warmup_steps - 1, max_lr, total_steps - warmup_steps, min_lr)


def warmup_cosine_decay_early(step, max_lr, total_steps, warmup_steps, min_lr=0.0):
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    return cosine_right(step - warmup_steps + 1, max_lr, total_steps - warmup_steps, min_lr)


@pytest.mark.parametrize("learner, word, sign", [(warmup_cosine_decay_late, "late", "-"),
                                                 (warmup_cosine_decay_early, "early", "+")])
def test_one_step_off_in_one_phase_only_is_diagnosed(learner, word, sign):
    params = dict(max_lr=0.1, total_steps=100, warmup_steps=10)
    # not the whole curve: the warmup is right, so the whole-curve shift test cannot fire
    assert check_schedule(warmup_cosine_right, warmup_cosine, params=params, verbose=False).passed
    r = check_schedule(learner, warmup_cosine, params=params, verbose=False)
    assert not r.passed and r.score == 0
    hint = hint_of(r)
    assert f"one step {word}" in hint and f"step t{sign}1" in hint and "steps 0..9 are right" in hint, r.message
    assert "warmup_steps" in hint


def test_a_shift_at_only_a_few_of_the_wrong_steps_is_not_called_one_step_late():
    # wrong after the horizon (no clamp): a shifted reference explains none of those steps
    r = check_schedule(cosine_no_clamp, CosineAnnealing(1.0, 10), random_params=0, verbose=False)
    assert "one step" not in hint_of(r) and "after total_steps=10" in hint_of(r)
    assert exercises._shifted_misses([1.0, 2.0, 9.0, 9.0], [1.0, 1.0, 2.0, 3.0], range(4),
                                      lambda t: float(t), 1e-6, 3.0, -1) == []
    assert exercises._shifted_misses([0.0, 0.0, 1.0, 2.0], [0.0, 1.0, 2.0, 3.0], range(4),
                                     lambda t: float(t), 1e-6, 3.0, -1) == [1, 2, 3]


def test_warmup_hint_names_the_first_wrong_step_not_the_end_of_warmup():
    from lrcourse.schedules import WarmupStableDecay

    ref = WarmupStableDecay(0.1, total_steps=200, warmup_steps=20, decay_steps=60, decay="sqrt")

    def linear_cooldown(step):  # right warmup and plateau, linear instead of sqrt decay
        return WarmupStableDecay(0.1, total_steps=200, warmup_steps=20, decay_steps=60)(step)

    r = check_schedule(linear_cooldown, ref, verbose=False)
    assert not r.passed
    first = next(t for t in range(200) if abs(linear_cooldown(t) - ref(t)) > 1e-9 * 0.1)
    assert first > 20 and f"first wrong at step {first}" in hint_of(r), r.message


# --- answers that used to crash instead of getting a verdict (reliability CRASH-14) -----------------
@pytest.mark.parametrize("answer", [float("inf"), float("-inf"), float("nan")])
def test_check_value_of_a_non_finite_answer_is_a_verdict(answer):
    r = check_value(answer, 0.5, hint="gamma ** epochs", verbose=False)
    assert not r.passed and r.attempted and "not a finite number" in r.message and "gamma ** epochs" in r.message


def test_check_choice_with_a_list_for_a_one_answer_question_is_a_verdict():
    notes = {"a": "Keras steps per batch.", "b": "torch steps per epoch."}
    r = check_choice(["a", "b"], "b", notes, verbose=False)
    assert not r.passed and "one answer" in r.message and "a, b" in r.message
    assert check_choice(["b"], "b", notes, verbose=False).passed  # one item: that item
    r = check_choice([["a"]], {"a"}, notes, verbose=False)
    assert not r.passed and "should be an option" in r.message
    r = check_choice("a", "b", {"a": "", "b": "right"}, hint="look at section 3.5", verbose=False)
    assert not r.passed and r.message.endswith("Hint: look at section 3.5")


# --- per-exercise hint overrides ----------------------------------------------------------------
def hint_line(result):
    return hint_of(result).split("\n")[0].strip()


def momentum_same_way_as_lr(step, lr, total_steps, min_lr=0.0):
    return min_lr + (lr - min_lr) * (1 - math.cos(math.pi * min(step, total_steps) / total_steps)) / 2


@pytest.mark.parametrize("learner, key", [
    (cosine_late, "late"), (cosine_early, "early"), (cosine_fraction, "fraction"), (cosine_no_clamp, "horizon"),
    (momentum_same_way_as_lr, "first_step"), (cosine_none, "none"), (cosine_divides_by_step, "error"),
])
def test_hint_override_replaces_the_generic_hint_of_that_mistake_only(learner, key):
    generic = check_schedule(learner, CosineAnnealing(0.5, 10), random_params=0, verbose=False)
    text = "a hint written for this exercise."
    r = check_schedule(learner, CosineAnnealing(0.5, 10), random_params=0, verbose=False, hints={key: text})
    assert hint_line(r) == text != hint_line(generic)
    other = [k for k in exercises.HINT_KEYS if k != key][0]
    r = check_schedule(learner, CosineAnnealing(0.5, 10), random_params=0, verbose=False, hints={other: text})
    assert hint_line(r) == hint_line(generic)


def test_hint_override_keys_are_checked():
    with pytest.raises(ValueError, match="HINT_KEYS"):
        check_schedule(cosine_right, CosineAnnealing, hints={"one_step_late": "x"}, verbose=False)


def test_keras_piecewise_with_less_than_gets_the_early_key():
    # notebook 13: Keras keeps values[i] while step <= boundary; `<` switches one step early
    def keras_reference(boundaries, values):
        return lambda step: values[sum(step > b for b in boundaries)]

    def less_than(step, boundaries, values):
        return values[sum(step >= b for b in boundaries)]

    text = "Keras keeps values[i] while step <= boundaries[i]: compare with <=, not <."
    r = check_schedule(less_than, keras_reference, params=dict(boundaries=(30, 60), values=(0.1, 0.01, 0.001)),
                       hints={"early": text}, verbose=False)
    assert not r.passed and hint_line(r) == text


# --- the samplers read the schedules' field metadata -------------------------------------------
def test_sampled_sets_are_the_ones_drawn_before_the_metadata_refactor():
    import random

    from lrcourse.schedules import CosineWarmRestarts, ExponentialDecay, WarmupStableDecay

    # recorded with the name-based samplers this replaced: the notebooks' random sets stay the same
    assert sample_params(ExponentialDecay, random.Random(3)) == {
        "lr": 0.0052, "decay_rate": 0.22, "decay_steps": 20, "staircase": True}
    assert sample_params(CosineWarmRestarts, random.Random(1)) == {
        "lr": 0.0025, "cycle_steps": 6, "cycle_mult": 2, "min_lr": 4.9e-06, "peak_decay": 0.74, "max_cycles": None}
    drawn = sample_params(WarmupStableDecay, random.Random(0))
    assert drawn["start_lr"] == 0.0 and drawn["warmup_shape"] == "linear"  # new fields stay fixed


def test_a_schedule_of_ones_own_without_metadata_is_sampled_by_field_name():
    import dataclasses
    import random

    import numpy as np

    from lrcourse.schedules import Schedule

    @dataclasses.dataclass(frozen=True)
    class Rsqrt(Schedule):  # as notebook 12's reference
        max_lr: float
        warmup_steps: int

        def _lr(self, t):
            return self.max_lr * np.sqrt(self.warmup_steps / np.maximum(t + 1.0, self.warmup_steps))

    drawn = [sample_params(Rsqrt, random.Random(s), base={"max_lr": 0.01, "warmup_steps": 40}) for s in range(5)]
    assert len({d["max_lr"] for d in drawn}) > 1 and len({d["warmup_steps"] for d in drawn}) > 1
    assert exercises._typical_params(Rsqrt) == {"max_lr": 0.1, "warmup_steps": 10}
