"""torch_bridge: set_lr/set_momentum, ScheduleLR against schedules and torch's OneCycleLR, resume."""
import math

import pytest
import torch

from lrcourse.plateau import ReduceLROnPlateau
from lrcourse.schedules import (
    Constant,
    CosineAnnealing,
    CosineWarmRestarts,
    Cyclic,
    ExponentialDecay,
    InverseTimeDecay,
    Linear,
    OneCycle,
    PiecewiseConstant,
    PolynomialDecay,
    StepDecay,
    WarmupStableDecay,
    warmup_cosine,
)
from lrcourse.torch_bridge import (
    ScheduleLR,
    get_lr,
    get_momentum,
    has_momentum,
    schedule_config,
    schedule_from_config,
    set_lr,
    set_momentum,
)

# torch warns when scheduler.step() runs before optimizer.step(); the normal loop must not.
pytestmark = [
    # (the message is a regex: keep it to plain words)
    pytest.mark.filterwarnings("error:Detected call of:UserWarning"),
    pytest.mark.filterwarnings("error:Seems like:UserWarning"),
]

SCHEDULES = [
    Constant(0.1),
    ExponentialDecay(0.5, 0.9, decay_steps=3, staircase=True),
    StepDecay(0.5, 4, 0.5),
    PiecewiseConstant((3, 7), (0.3, 0.1, 0.01)),
    InverseTimeDecay(0.5, 0.5),
    PolynomialDecay(0.5, 10, 0.01, 2.0),
    Linear(0.0, 0.5, 6),
    CosineAnnealing(0.5, 12, 0.01),
    CosineWarmRestarts(0.5, 4, 2),
    OneCycle(1.0, 20),
    Cyclic(0.01, 0.5, 3),
    WarmupStableDecay(0.5, 20, 2, 5),
    warmup_cosine(0.5, 20, 4),
]
ids = [type(s).__name__ for s in SCHEDULES]


def tiny_problem(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    return model, x, y


def train(optimizer, scheduler, model, x, y, num_steps):
    """The usual PyTorch loop; records the LR (and momentum) each update actually used."""
    lrs, momenta = [], []
    for _ in range(num_steps):
        lrs.append(get_lr(optimizer))
        momenta.append(get_momentum(optimizer) if has_momentum(optimizer) else None)
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        scheduler.step()
    return lrs, momenta


@pytest.mark.parametrize("schedule", SCHEDULES, ids=ids)
def test_loop_applies_exactly_the_schedule(schedule):
    model, x, y = tiny_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=123.0, momentum=0.9)
    scheduler = ScheduleLR(optimizer, schedule)
    assert get_lr(optimizer) == schedule(0)  # set at construction, before the first update
    lrs, _ = train(optimizer, scheduler, model, x, y, 25)
    assert lrs == [schedule(t) for t in range(25)]
    assert scheduler.steps_done == 25
    assert scheduler.get_last_lr() == [schedule(25)]


def test_plain_function_schedule_works():
    model, x, y = tiny_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = ScheduleLR(optimizer, lambda step: 0.1 / (1 + step))
    lrs, _ = train(optimizer, scheduler, model, x, y, 5)
    assert lrs == [0.1 / (1 + t) for t in range(5)]
    assert scheduler.state_dict() == {"schedule": None, "step": 5}


def test_every_param_group_gets_the_same_absolute_lr():
    model, x, y = tiny_problem()
    optimizer = torch.optim.SGD([{"params": [model.weight], "lr": 5.0}, {"params": [model.bias]}], lr=1.0)
    schedule = CosineAnnealing(0.2, 4)
    scheduler = ScheduleLR(optimizer, schedule)
    for t in range(5):
        assert [g["lr"] for g in optimizer.param_groups] == [schedule(t)] * 2
        optimizer.step()
        scheduler.step()


def test_wrong_order_still_warns_so_the_filter_can_fail():
    model, _, _ = tiny_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = ScheduleLR(optimizer, Constant(0.1))
    with pytest.raises(UserWarning, match="Detected call of"):
        scheduler.step()  # before any optimizer.step(): the filter turns the warning into an error


# ---- OneCycle: LRs and momenta as torch's OneCycleLR ------------------------------------

ONECYCLE_CASES = [
    (dict(max_lr=1.0, total_steps=30), "sgd"),
    (dict(max_lr=0.5, total_steps=23, pct_start=0.45, anneal="linear"), "sgd"),
    (dict(max_lr=0.5, total_steps=30, three_phase=True, base_momentum=0.8, max_momentum=0.9), "adam"),
    (dict(max_lr=0.01, total_steps=17, div_factor=10.0, final_div_factor=100.0), "adamw"),
]
OPTIMIZERS = {
    "sgd": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
    "adam": lambda params: torch.optim.Adam(params, lr=0.1, betas=(0.9, 0.99)),
    "adamw": lambda params: torch.optim.AdamW(params, lr=0.1),
}


@pytest.mark.parametrize("kwargs, opt_name", ONECYCLE_CASES)
def test_onecycle_lrs_and_momenta_equal_torch_onecyclelr(kwargs, opt_name):
    n = kwargs["total_steps"]
    model, x, y = tiny_problem()
    optimizer = OPTIMIZERS[opt_name](model.parameters())
    torch_kwargs = dict(kwargs)
    torch_kwargs["anneal_strategy"] = torch_kwargs.pop("anneal", "cos")
    torch_kwargs["pct_start"] = float(torch_kwargs.get("pct_start", 0.3))
    reference = torch.optim.lr_scheduler.OneCycleLR(optimizer, **torch_kwargs)
    # torch raises if stepped past total_steps, so take n - 1 scheduler steps.
    expected_lrs, expected_momenta = train(optimizer, reference, model, x, y, n - 1)

    model, x, y = tiny_problem()
    optimizer = OPTIMIZERS[opt_name](model.parameters())
    scheduler = ScheduleLR(optimizer, OneCycle(**kwargs))
    assert scheduler.cycle_momentum
    lrs, momenta = train(optimizer, scheduler, model, x, y, n - 1)
    assert lrs == pytest.approx(expected_lrs, rel=1e-12, abs=0)
    assert momenta == pytest.approx(expected_momenta, rel=1e-12, abs=1e-15)
    if opt_name != "sgd":
        assert optimizer.param_groups[0]["betas"][1] == reference.optimizer.param_groups[0]["betas"][1]


def test_onecycle_with_an_optimizer_without_momentum_drives_only_the_lr():
    model, _, _ = tiny_problem()
    optimizer = torch.optim.Adagrad(model.parameters(), lr=1.0)
    scheduler = ScheduleLR(optimizer, OneCycle(1.0, 10))
    assert not scheduler.cycle_momentum
    with pytest.raises(ValueError, match="Adagrad"):
        ScheduleLR(optimizer, OneCycle(1.0, 10), cycle_momentum=True)
    with pytest.raises(ValueError, match="CosineAnnealing"):
        ScheduleLR(torch.optim.SGD(model.parameters(), lr=1.0), CosineAnnealing(1.0, 4), cycle_momentum=True)


def test_cycle_momentum_false_leaves_momentum_alone():
    model, x, y = tiny_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.7)
    scheduler = ScheduleLR(optimizer, OneCycle(1.0, 10), cycle_momentum=False)
    _, momenta = train(optimizer, scheduler, model, x, y, 5)
    assert momenta == [0.7] * 5


# ---- resume: state_dict -> torch.save -> torch.load(weights_only=True) -------------------


@pytest.mark.parametrize("schedule", [OneCycle(1.0, 20), warmup_cosine(0.5, 20, 4), PiecewiseConstant((3, 7), (0.3, 0.1, 0.01))])
@pytest.mark.parametrize("rebuild", [False, True])
def test_resume_from_weights_only_checkpoint_continues_the_sequence(tmp_path, schedule, rebuild):
    model, x, y = tiny_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    whole_lrs, whole_momenta = train(optimizer, ScheduleLR(optimizer, schedule), model, x, y, 18)

    model, x, y = tiny_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    scheduler = ScheduleLR(optimizer, schedule)
    head_lrs, head_momenta = train(optimizer, scheduler, model, x, y, 7)
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": model.state_dict(), "scheduler": scheduler.state_dict()}, path)

    checkpoint = torch.load(path, weights_only=True)
    model2 = torch.nn.Linear(3, 1)
    model2.load_state_dict(checkpoint["model"])
    optimizer2 = torch.optim.SGD(model2.parameters(), lr=99.0, momentum=0.0)  # fresh, wrong values
    if rebuild:
        scheduler2 = ScheduleLR.from_state_dict(optimizer2, checkpoint["scheduler"])
        assert scheduler2.schedule == schedule
    else:
        scheduler2 = ScheduleLR(optimizer2, schedule)
        scheduler2.load_state_dict(checkpoint["scheduler"])
    assert scheduler2.steps_done == 7
    tail_lrs, tail_momenta = train(optimizer2, scheduler2, model2, x, y, 11)
    assert head_lrs + tail_lrs == whole_lrs
    if hasattr(schedule, "momentum"):
        assert head_momenta + tail_momenta == whole_momenta


def test_load_state_dict_rejects_a_different_schedule_and_bad_state():
    model, _, _ = tiny_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    saved = ScheduleLR(optimizer, CosineAnnealing(0.5, 10)).state_dict()
    other = ScheduleLR(optimizer, CosineAnnealing(0.5, 20))
    with pytest.raises(ValueError, match="differs"):
        other.load_state_dict(saved)
    with pytest.raises(ValueError, match="step"):
        other.load_state_dict({"schedule": None, "step": -1})
    with pytest.raises(ValueError, match="no schedule config"):
        ScheduleLR.from_state_dict(optimizer, {"schedule": None, "step": 3})


@pytest.mark.parametrize("schedule", SCHEDULES, ids=ids)
def test_schedule_config_round_trip(tmp_path, schedule):
    config = schedule_config(schedule)
    path = tmp_path / "config.pt"
    torch.save(config, path)
    rebuilt = schedule_from_config(torch.load(path, weights_only=True))
    assert rebuilt == schedule
    assert rebuilt.curve(30).tolist() == schedule.curve(30).tolist()


def test_schedule_from_config_rejects_unknown_classes():
    with pytest.raises(ValueError, match="os.system"):
        schedule_from_config({"class": "os.system", "config": {}})
    with pytest.raises(ValueError, match="config"):
        schedule_from_config({"lr": 0.1})


# ---- bad input and the small helpers ------------------------------------------------------


def test_schedule_lr_rejects_non_schedules_naming_the_type():
    model, _, _ = tiny_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    with pytest.raises(TypeError, match="float"):
        ScheduleLR(optimizer, 0.1)
    with pytest.raises(TypeError, match="ReduceLROnPlateau"):
        ScheduleLR(optimizer, ReduceLROnPlateau(0.1))
    with pytest.raises(TypeError, match="class CosineAnnealing"):
        ScheduleLR(optimizer, CosineAnnealing)
    with pytest.raises(TypeError, match="Linear"):
        ScheduleLR(model, Constant(0.1))


def test_schedule_giving_a_bad_lr_raises_naming_the_step():
    model, _, _ = tiny_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    with pytest.raises(ValueError, match="step 0"):
        ScheduleLR(optimizer, lambda step: -0.1)


def test_set_lr_and_get_lr():
    model, _, _ = tiny_problem()
    optimizer = torch.optim.SGD([{"params": [model.weight]}, {"params": [model.bias], "lr": 3.0}], lr=1.0)
    set_lr(optimizer, 0.25)
    assert [g["lr"] for g in optimizer.param_groups] == [0.25, 0.25]
    assert get_lr(optimizer) == 0.25
    # A tensor LR is filled in place, keeping its identity.
    tensor_optimizer = torch.optim.Adam(model.parameters(), lr=torch.tensor(0.01))
    lr_tensor = tensor_optimizer.param_groups[0]["lr"]
    set_lr(tensor_optimizer, 0.5)
    assert tensor_optimizer.param_groups[0]["lr"] is lr_tensor and get_lr(tensor_optimizer) == 0.5


@pytest.mark.parametrize(
    "value, error",
    [(-0.1, ValueError), (math.nan, ValueError), (math.inf, ValueError), ("0.1", TypeError), (None, TypeError), (True, TypeError)],
)
def test_set_lr_bad_values(value, error):
    model, _, _ = tiny_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    with pytest.raises(error, match="lr"):
        set_lr(optimizer, value)
    assert get_lr(optimizer) == 1.0
    with pytest.raises(TypeError, match="Linear"):
        set_lr(model, 0.1)


def test_set_momentum_sgd_adam_and_neither():
    model, _, _ = tiny_problem()
    sgd = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    set_momentum(sgd, 0.8)
    assert sgd.param_groups[0]["momentum"] == 0.8 and get_momentum(sgd) == 0.8
    adam = torch.optim.Adam(model.parameters(), betas=(0.9, 0.95))
    set_momentum(adam, 0.85)
    assert adam.param_groups[0]["betas"] == (0.85, 0.95)
    with pytest.raises(ValueError, match="Adagrad"):
        set_momentum(torch.optim.Adagrad(model.parameters()), 0.9)
    for bad in (1.0, -0.1, math.nan):
        with pytest.raises(ValueError, match="momentum"):
            set_momentum(sgd, bad)
