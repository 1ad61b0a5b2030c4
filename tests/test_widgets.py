"""Widgets: the pure parts (specs, builders, torch code, GD classification, run scaling) and
smoke tests that build each widget, move its controls and check that figures do not pile up."""
import dataclasses
import math
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from lrcourse import schedules as S
from lrcourse.experiments import RECIPES
from lrcourse.widgets import (
    _step_default,  # the param-spec helper under test
    build_schedule,
    lr_explorer,
    param_specs,
    plateau_explorer,
    plateau_trace,
    preset_specs,
    schedule_curves,
    schedule_explorer,
    schedule_name,
    synthetic_val_loss,
    torch_equivalent,
    training_explorer,
)


# --- param_specs / build_schedule ----------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(S.SCHEDULES))
def test_param_specs_cover_every_field_and_their_defaults_build(name):
    cls = S.SCHEDULES[name]
    specs = param_specs(cls, num_steps=500)
    assert [p.name for p in specs] == [f.name for f in dataclasses.fields(cls)]
    for p in specs:
        assert p.kind in ("lr", "float", "int", "optional_int", "bool", "choice", "sequence")
        if p.kind == "lr":
            assert p.log and p.min <= p.default <= p.max
        if p.kind in ("float", "int", "optional_int"):
            assert p.min <= p.default <= p.max, p
        if p.kind == "int":
            assert isinstance(p.default, int) and p.max == 500
        if p.kind == "choice":
            assert p.default in p.options
    sched, error = build_schedule(name, {p.name: p.default for p in specs})
    assert error is None and isinstance(sched, cls)


def test_param_specs_kinds_for_known_fields():
    kinds = {p.name: (p.kind, p.log) for p in param_specs(S.OneCycle, 1000)}
    assert kinds["max_lr"] == ("lr", True) and kinds["total_steps"] == ("int", False)
    assert kinds["anneal"][0] == "choice" and kinds["three_phase"][0] == "bool"
    assert kinds["final_div_factor"] == ("float", True) and kinds["cycle_momentum"][0] == "bool"
    restarts = {p.name: p for p in param_specs(S.CosineWarmRestarts, 1000)}
    assert restarts["max_cycles"].kind == "choice" and restarts["max_cycles"].default is None
    assert restarts["cycle_steps"].default == 150  # its metadata's share of the horizon
    wsd = {p.name: p for p in param_specs(S.WarmupStableDecay, 1000)}
    assert wsd["warmup_shape"].options == S.WARMUP_SHAPES and (wsd["warmup_steps"].min, wsd["decay_steps"].min) == (0, 1)
    assert (wsd["warmup_steps"].default, wsd["decay_steps"].default) == (50, 200)
    cyclic = {p.name: p for p in param_specs(S.Cyclic, 1000)}
    assert (cyclic["gamma"].min, cyclic["gamma"].max) == (0.99, 1.0) and cyclic["step_size_down"].kind == "optional_int"
    assert cyclic["base_lr"].kind == "lr" and cyclic["step_size_up"].default == 125
    with pytest.raises(TypeError, match="cls"):
        param_specs(S.CosineAnnealing(0.1, 10))
    with pytest.raises(ValueError, match="num_steps"):
        param_specs(S.CosineAnnealing, 1)


def test_param_specs_of_a_schedule_of_ones_own_need_no_special_case():
    @dataclasses.dataclass(frozen=True)
    class Mine(S.Schedule):
        max_lr: float          # no metadata: found by name among the course fields
        warmup_steps: int
        sharpness: float = 2.0  # unknown to the course: a control from its type
        label: str = "x"

        def _lr(self, t):
            return np.full(t.shape, self.max_lr)

    specs = {p.name: p for p in param_specs(Mine, 200)}
    assert specs["max_lr"].kind == "lr" and specs["warmup_steps"].kind == "int"
    assert specs["sharpness"].kind == "float" and specs["sharpness"].min <= 2.0 <= specs["sharpness"].max
    assert specs["label"].kind == "choice" and specs["label"].options == ("x",)
    assert _step_default("Mine", "anything_steps", 100) == 10  # no KeyError for an unknown count


@pytest.mark.parametrize("name, params, words", [
    ("wsd", dict(max_lr=0.1, total_steps=100, warmup_steps=60, decay_steps=50), "warmup_steps + decay_steps"),
    ("cyclic", dict(base_lr=0.5, max_lr=0.1), "base_lr must be <= max_lr"),
    ("piecewise", dict(boundaries="10, 20", values="0.1, 0.01"), "values must have len(boundaries) + 1"),
    ("piecewise", dict(boundaries="10, x", values="0.1, 0.01, 0.001"), "boundaries must be numbers"),
    ("cosine", dict(lr=0.1), "total_steps"),
    ("nope", {}, "unknown schedule 'nope'"),
])
def test_build_schedule_returns_a_message_not_a_traceback(name, params, words):
    sched, error = build_schedule(name, params)
    assert sched is None and words in error


def test_build_schedule_converts_widget_values():
    sched, error = build_schedule("piecewise", {"boundaries": "10, 20", "values": "0.1, 0.01, 0.001"})
    assert error is None and sched == S.PiecewiseConstant((10, 20), (0.1, 0.01, 0.001))
    sched, _ = build_schedule("cyclic", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5, "step_size_down": 0})
    assert sched.step_size_down is None


# --- torch_equivalent --------------------------------------------------------------------------
def test_torch_equivalent_strings():
    assert torch_equivalent(S.CosineAnnealing(0.1, 1000, 0.0)).splitlines() == [
        "optimizer = torch.optim.SGD(params, lr=0.1)",
        "scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=1000, eta_min=0.0)"
        "  # rises again after T_max; the course schedule holds min_lr"]
    assert torch_equivalent(S.StepDecay(0.1, 30, 0.5)).endswith("StepLR(optimizer, step_size=30, gamma=0.5)")
    assert torch_equivalent(S.ExponentialDecay(0.1, 0.9)).endswith("ExponentialLR(optimizer, gamma=0.9)")
    assert torch_equivalent(S.ExponentialDecay(0.1, 0.9, 10)).endswith("ExponentialLR(optimizer, gamma=0.9 ** (1 / 10))")
    assert torch_equivalent(S.ExponentialDecay(0.1, 0.9, 10, True)).endswith("StepLR(optimizer, step_size=10, gamma=0.9)")
    code = torch_equivalent(S.InverseTimeDecay(0.1, 0.5))
    assert "ScheduleLR(optimizer, InverseTimeDecay(lr=0.1, decay_rate=0.5" in code and "torch has no" in code


def _run_code(code, steps):
    params = [torch.zeros(1, requires_grad=True)]
    ns = {"torch": torch, "params": params}
    exec(code, ns)  # noqa: S102 - running the generated torch code is the test
    opt, sched, lrs = ns["optimizer"], ns["scheduler"], []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    return np.array(lrs)


@pytest.mark.parametrize("schedule, steps", [
    (S.CosineAnnealing(0.1, 50, 0.001), 51),          # torch rises again after T_max: compare up to it
    (S.StepDecay(0.3, 7, 0.5), 40),
    (S.ExponentialDecay(0.1, 0.9), 40),
    (S.ExponentialDecay(0.1, 0.5, 8), 40),
    (S.ExponentialDecay(0.1, 0.5, 8, staircase=True), 40),
    (S.PiecewiseConstant((10, 25), (0.1, 0.01, 0.001)), 40),
    (S.PolynomialDecay(0.1, 30, 0.0, 2.0), 30),
    (S.Linear(0.01, 0.1, 20), 30),
    (S.Linear(0.1, 0.01, 20), 30),
    (S.CosineWarmRestarts(0.1, 10, 2, 0.001), 60),
    (S.OneCycle(0.1, 50), 50),
    (S.Cyclic(0.01, 0.1, 5, 3, "triangular2"), 40),
    (S.Constant(0.05), 5),
    (S.WarmupStableDecay(0.1, 40, 5, 10), 45),         # no torch equivalent: through ScheduleLR
    (S.InverseTimeDecay(0.1, 0.5, 4), 20),
    (S.InverseSqrtDecay(0.1, 8), 40),                  # LambdaLR with the formula
    (S.Warmup(0.1, 10, 0.01), 20),                     # LinearLR
    (S.Warmup(0.1, 10, 0.01, "cosine"), 20),           # through ScheduleLR
    (S.CosineWarmRestarts(0.1, 5, 2, max_cycles=2), 30),
    (S.warmup_cosine(0.1, 40, 5), 45),                 # a Join: its parts imported too
])
def test_torch_equivalent_code_gives_the_same_lrs(schedule, steps):
    lrs = _run_code(torch_equivalent(schedule), steps)
    np.testing.assert_allclose(lrs, schedule.curve(steps), rtol=1e-9, atol=1e-12)


# --- schedule_curves --------------------------------------------------------------------------
def test_schedule_curves_lr_and_momentum():
    one, cos = schedule_curves([S.OneCycle(0.1, 40), S.CosineAnnealing(0.1, 40)], 50)
    np.testing.assert_array_equal(one["lr"], S.OneCycle(0.1, 40).curve(50))
    assert one["momentum"] is not None and math.isclose(one["momentum"][0], 0.95)
    assert cos["momentum"] is None and cos["label"] == "CosineAnnealing(lr=0.1, total_steps=40)"


# --- the pure parts live in theory / plateau / recipes; the notebooks import them from here too -----
def test_the_pure_parts_are_re_exported_for_the_notebooks():
    from lrcourse import plateau, recipes, theory, widgets

    for module, names in [(theory, ["FUNCTIONS", "gd_trajectory", "classify", "describe_run"]),
                          (plateau, ["plateau_trace", "synthetic_val_loss"]), (recipes, ["Run", "make_run"])]:
        for name in names:
            assert getattr(widgets, name) is getattr(module, name), name


# --- widget smoke tests ----------------------------------------------------------------------------
def _lines(widget):
    return widget.figure.axes[0].get_lines()


def test_schedule_explorer_updates_overlays_and_reports_errors():
    before = plt.get_fignums()
    w = schedule_explorer(num_steps=200)
    for name in S.SCHEDULES:
        w.controls["schedule"].value = name
        assert "scheduler = " in w.children[2].value
    w.controls["schedule"].value = "cosine"
    params_box = w.children[1]
    params_box.children[0].value = 0.5  # lr slider, by position as a notebook user would reach it
    np.testing.assert_allclose(_lines(w)[-1].get_ydata(), S.CosineAnnealing(0.5, 200).curve(200))
    assert "CosineAnnealingLR(optimizer, T_max=200" in w.children[2].value
    w.controls["add"].click()
    w.controls["lr"].value = 0.2
    assert len(_lines(w)) == 2
    w.controls["clear"].click()
    assert len(_lines(w)) == 1
    w.controls["schedule"].value = "onecycle"
    assert len(w.figure.axes) == 2  # momentum on a second axis
    w.controls["schedule"].value = "wsd"
    w.controls["warmup_steps"].value = 190
    assert "⚠" in w.children[2].value and "warmup_steps + decay_steps" in w.children[2].value
    assert plt.get_fignums() == before


def test_lr_explorer_readout_follows_the_slider():
    before = plt.get_fignums()
    w = lr_explorer()
    assert "0.90 × 2/L: converges, oscillating" in w.children[2].value
    w.controls["lr"].value = 0.25
    assert "1.25 × 2/L: diverges" in w.children[2].value
    w.controls["function"].value = "rosenbrock"
    assert "(L at the minimum)" in w.children[2].value and w.controls["steps"].value == 1000
    assert plt.get_fignums() == before


def test_training_explorer_trains_and_keeps_the_previous_run():
    before = plt.get_fignums()
    w = training_explorer(hidden=(16,))
    w.controls["epochs"].value = 1
    w.controls["train"].click()
    w.controls["schedule"].value = "linear"
    w.controls["peak_lr"].value = 0.05
    w.controls["train"].click()
    (run1, h1), (run2, h2) = w.runs
    assert run2.schedule == RECIPES["linear"](0.05, run2.total_steps)
    np.testing.assert_allclose(h2.lr, run2.schedule.curve(run2.total_steps))  # the applied LR is the schedule
    assert "epoch 1/1" in w.children[2].value
    grey = [line for line in w.figure.axes[0].get_lines() if line.get_color() == "0.75"]
    assert len(grey) == 1 and len(grey[0].get_ydata()) == len(h1.loss)
    assert plt.get_fignums() == before


def test_importing_widgets_does_not_import_ipywidgets():
    code = "import sys, lrcourse.widgets; print(sorted(m for m in ('ipywidgets', 'IPython') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# --- schedule_explorer presets -------------------------------------------------------------------
def test_schedule_name_and_its_bad_input():
    assert schedule_name(S.CosineAnnealing(0.1, 10)) == "cosine" and schedule_name(S.OneCycle) == "onecycle"
    with pytest.raises(ValueError, match="schedule"):
        schedule_name(S.warmup_cosine(0.1, 100, 10))  # a Join: no slider set for it


def test_preset_specs_set_defaults_and_widen_ranges():
    specs = {p.name: p for p in preset_specs(param_specs(S.Cyclic, 100), dict(
        base_lr=0.001, max_lr=30.0, step_size_up=250, step_size_down=None, mode="exp_range", gamma=0.95))}
    assert (specs["max_lr"].default, specs["max_lr"].max, specs["max_lr"].kind) == (30.0, 30.0, "lr")
    assert (specs["step_size_up"].default, specs["step_size_up"].max) == (250, 250)
    assert specs["step_size_down"].default == 0 and specs["mode"].default == "exp_range"
    assert (specs["gamma"].default, specs["gamma"].min) == (0.95, 0.95)
    for p in specs.values():
        if p.kind in ("lr", "float", "int", "optional_int"):
            assert p.min <= p.default <= p.max, p
    lin = {p.name: p for p in preset_specs(param_specs(S.Linear, 100), {"start_lr": 0.0})}
    assert (lin["start_lr"].kind, lin["start_lr"].log, lin["start_lr"].min) == ("float", False, 0.0)
    pw = {p.name: p for p in preset_specs(param_specs(S.PiecewiseConstant, 100), {"boundaries": (5, 9)})}
    assert pw["boundaries"].default == "5, 9"
    with pytest.raises(ValueError, match="values must name fields"):
        preset_specs(param_specs(S.StepDecay, 100), {"T_max": 3})


@pytest.mark.parametrize("schedule, num_steps", [
    (S.StepDecay(0.1, 10, 0.5), 60),
    (S.Linear(0.0, 0.3, 80), 100),                       # start_lr 0: off a log slider
    (S.Cyclic(0.001, 0.05, 30, None, "exp_range", 0.995), 200),
    (S.PiecewiseConstant((10, 25), (0.1, 0.02, 0.004)), 40),
    (S.OneCycle(0.3, 500, pct_start=0.25, anneal="linear", three_phase=True), 300),  # total_steps > num_steps
    (S.CosineWarmRestarts(0.2, 15, 2, 0.001, 0.8), 100),
])
def test_schedule_explorer_starts_at_the_given_schedule(schedule, num_steps):
    before = plt.get_fignums()
    for w in (schedule_explorer(schedule, num_steps=num_steps),
              schedule_explorer(schedule=schedule, num_steps=num_steps)):
        assert w.controls["schedule"].value == schedule_name(schedule)
        assert w.schedule() == schedule
        np.testing.assert_allclose(_lines(w)[-1].get_ydata(), schedule.curve(num_steps))
        assert "⚠" not in w.children[2].value
    assert plt.get_fignums() == before


def test_schedule_explorer_name_and_params_and_sliders_still_move():
    w = schedule_explorer(["cosine", "linear"], num_steps=60, name="step", params={"lr": 0.2, "step_size": 10})
    assert list(w.controls["schedule"].options) == ["cosine", "linear", "step"]  # added to the offered names
    assert w.schedule() == S.StepDecay(0.2, 10)  # gamma keeps its default
    w.controls["gamma"].value = 0.5
    assert w.schedule() == S.StepDecay(0.2, 10, 0.5)
    w.controls["schedule"].value = "cosine"  # another class: its defaults
    assert w.schedule() == S.CosineAnnealing(0.1, 60)
    assert schedule_explorer(num_steps=50).controls["schedule"].value == "constant"  # unchanged default


@pytest.mark.parametrize("kwargs, words", [
    (dict(name="nope"), "name must be one of"),
    (dict(params={"lr": 0.1}), "params needs name"),
    (dict(schedule=S.Constant(0.1), name="constant"), "not both"),
    (dict(name="step", params={"T_max": 3}), "values must name fields"),
    (dict(schedule=S.warmup_cosine(0.1, 100, 10)), "schedule must be an instance"),
])
def test_schedule_explorer_preset_bad_input(kwargs, words):
    with pytest.raises(ValueError, match=words):
        schedule_explorer(num_steps=50, **kwargs)


# --- plateau_trace / plateau_explorer ------------------------------------------------------------
def test_plateau_trace_hand_computed():
    # abs threshold 0.05, patience 1, cooldown 1, floor 0.3. Epoch by epoch (best, bad epochs):
    # 1: 1.0 best | 2: 0.9 < 1.0-0.05 best | 3: 0.95 bad 1 | 4: 0.92 bad 2 > 1 -> lr 0.5, cooldown 1
    # 5: bad, forgotten in cooldown | 6: bad 1 | 7: bad 2 -> lr max(0.25, 0.3) = 0.3, cooldown 1
    # 8: forgotten | 9: bad 1 | 10: bad 2 -> max(0.15, 0.3) = 0.3: no change, so no drop
    metrics = [1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.94, 0.95, 0.96, 0.97]
    lrs, drops = plateau_trace(metrics, lr=1.0, factor=0.5, patience=1, threshold=0.05, threshold_mode="abs",
                               cooldown=1, min_lr=0.3)
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3]
    assert drops == [4, 7]
    # rel 0.05 of 0.9 is 0.045: epoch 2 still improves, the same drops
    assert plateau_trace(metrics, lr=1.0, factor=0.5, patience=1, threshold=0.05, cooldown=1, min_lr=0.3)[1] == [4, 7]
    # a drop decided at the last epoch is reported though no epoch uses its LR
    assert plateau_trace([1.0, 1.0, 1.0], lr=1.0, patience=1) == ([1.0, 1.0, 1.0], [3])


def test_plateau_trace_equals_torch_on_random_settings():
    rng = np.random.default_rng(0)
    for _ in range(20):
        metrics = (1 + np.exp(-np.arange(30) / 5) + 0.05 * rng.standard_normal(30)).tolist()
        kw = dict(factor=float(rng.uniform(0.1, 0.9)), patience=int(rng.integers(0, 5)),
                  threshold=float(10 ** rng.uniform(-4, -1)), threshold_mode=str(rng.choice(["rel", "abs"])),
                  cooldown=int(rng.integers(0, 4)), min_lr=float(rng.choice([0.0, 0.01])))
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
        want = []
        for m in metrics:
            want.append(opt.param_groups[0]["lr"])
            sched.step(m)
        lrs, drops = plateau_trace(metrics, lr=0.1, **kw)
        assert lrs == pytest.approx(want, rel=1e-12), kw
        last = [30] if opt.param_groups[0]["lr"] < want[-1] else []  # a drop at the last epoch
        assert drops == [e for e in range(1, 30) if want[e] < want[e - 1]] + last


@pytest.mark.parametrize("metrics, error, words", [(3.0, TypeError, "metrics"), ("abc", TypeError, "metrics"),
                                                   ([], ValueError, "metrics")])
def test_plateau_trace_bad_input(metrics, error, words):
    with pytest.raises(error, match=words):
        plateau_trace(metrics)
    with pytest.raises(ValueError, match="factor"):
        plateau_trace([1.0], factor=2.0)


def test_synthetic_val_loss_is_seeded_and_noise_free_at_zero():
    a, b = synthetic_val_loss(20, seed=3), synthetic_val_loss(20, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, synthetic_val_loss(20, seed=4))
    e = np.arange(1, 21)
    np.testing.assert_allclose(synthetic_val_loss(20, noise=0.0), 0.5 + 1.5 * np.exp(-e / 6))
    with pytest.raises(ValueError, match="num_epochs"):
        synthetic_val_loss(0)
    with pytest.raises(ValueError, match="noise"):
        synthetic_val_loss(5, noise=-1.0)


def test_plateau_explorer_follows_the_sliders():
    before = plt.get_fignums()
    w = plateau_explorer()
    values, lrs, drops = w.trace()
    np.testing.assert_array_equal(values, synthetic_val_loss(40, 0.02, 0))
    assert (lrs, drops) == plateau_trace(values, lr=0.1, factor=0.5, patience=2, threshold=1e-4)
    assert f"after epochs <b>{drops}</b>" in w.children[1].value
    w.controls["patience"].value = 15
    assert len(w.trace()[2]) < len(drops)
    w.controls["threshold_mode"].value = "abs"
    w.controls["cooldown"].value = 3
    w.controls["min_lr"].value = 0.02
    w.controls["seed"].value = 5
    values, lrs, drops = w.trace()
    np.testing.assert_array_equal(values, synthetic_val_loss(40, 0.02, 5))
    assert (lrs, drops) == plateau_trace(values, lr=0.1, factor=0.5, patience=15, threshold=1e-4,
                                         threshold_mode="abs", cooldown=3, min_lr=0.02)
    assert "threshold_mode='abs'" in w.children[1].value
    assert plt.get_fignums() == before


def test_plateau_explorer_on_the_users_metrics():
    acc = [0.5, 0.6, 0.6, 0.6, 0.6, 0.7]
    w = plateau_explorer(acc, lr=1.0, mode="max")
    assert "noise" not in w.controls and "seed" not in w.controls
    w.controls["patience"].value = 1
    assert w.trace()[1:] == plateau_trace(acc, lr=1.0, mode="max", factor=0.5, patience=1)
    assert w.trace()[2] == [4]
    marks = w.figure.axes[0].get_lines()[1]
    assert marks.get_xdata().tolist() == [4]
    with pytest.raises(ValueError, match="mode"):
        plateau_explorer(acc, mode="up")
    with pytest.raises(ValueError, match="metrics"):
        plateau_explorer([])


def test_schedule_explorer_code_line_has_no_slider_float_noise():
    # sliders land on values like 0.30199999999999994 or 10 ** 1.4 = 25.118864315095795
    import re

    w = schedule_explorer(num_steps=200)
    w.controls["schedule"].value = "onecycle"
    w.controls["pct_start"].value = 0.30199999999999994
    code = w.children[2].value
    assert "pct_start=0.302" in code
    assert not re.search(r"\d\.\d{7,}", code), code


@pytest.mark.parametrize("name", sorted(S.SCHEDULES))
def test_every_float_slider_has_its_default_on_the_grid_the_browser_snaps_to(name):
    # noUiSlider snaps a value to min + k * step; a default off the grid (0.3 -> 0.302) would
    # silently show another schedule than the class default
    import math

    import ipywidgets

    from lrcourse.widgets import _control

    for spec in param_specs(S.SCHEDULES[name]):
        control = _control(spec, ipywidgets)
        if isinstance(control, ipywidgets.FloatLogSlider):
            k = (math.log10(spec.default) - control.min) / control.step
        elif isinstance(control, ipywidgets.FloatSlider):
            k = (spec.default - control.min) / control.step
        else:
            continue
        assert abs(k - round(k)) < 1e-6, (spec.name, control.min, control.step)
        assert control.value == pytest.approx(spec.default, rel=1e-12)
