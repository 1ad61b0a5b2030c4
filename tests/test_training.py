"""fit: learns, applies schedules exactly, stops cleanly on divergence, resumes bitwise."""
import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lrcourse.callbacks import Callback, StopTraining
from lrcourse.data import Batches, digits
from lrcourse.models import mlp
from lrcourse.plateau import ReduceLROnPlateau
from lrcourse.schedules import CosineAnnealing, ExponentialDecay, OneCycle, StepDecay, warmup_cosine
from lrcourse.training import History, evaluate, fit, load_checkpoint


@pytest.fixture(scope="module")
def small():
    """A 320-sample digits subset: 5 batches of 64 per epoch, quick on 2 cores."""
    ds = digits(device="cpu")
    return (ds.train[0][:320], ds.train[1][:320]), (ds.val[0][:160], ds.val[1][:160])


def model_and_sgd(lr=0.1, momentum=0.0, seed=0):
    model = mlp(64, hidden=(32,), seed=seed)
    return model, torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


def test_loss_decreases_on_digits():
    ds = digits(device="cpu")
    model, opt = model_and_sgd(lr=0.1, momentum=0.9)
    h = fit(model, ds.train, ds.val, epochs=3, optimizer=opt, progress=False)
    assert h.val_loss[-1] < 0.5 * h.val_loss[0] and h.train_loss[-1] < h.train_loss[0]
    assert len(h.loss) == len(h.lr) == 51 and h.epoch_steps == [17, 34, 51]
    assert len(h.val_acc) == len(h.epoch_time) == 3 and h.val_acc[-1] > 0.8
    assert not h.diverged and h.stop_reason is None


@pytest.mark.parametrize("schedule", [
    CosineAnnealing(0.5, total_steps=10),
    ExponentialDecay(0.3, decay_rate=0.5, decay_steps=4),
    StepDecay(0.4, step_size=3, gamma=0.1),
    OneCycle(0.5, total_steps=15),
    warmup_cosine(0.5, total_steps=15, warmup_steps=3),
], ids=repr)
def test_recorded_lr_equals_the_schedule(small, schedule):
    train, _ = small
    model, opt = model_and_sgd(momentum=0.9)
    h = fit(model, train, epochs=3, optimizer=opt, schedule=schedule, progress=False)
    assert h.lr == [schedule(t) for t in range(15)]


def test_onecycle_momentum_is_applied(small):
    train, _ = small
    model, opt = model_and_sgd(momentum=0.9)
    sched = OneCycle(0.5, total_steps=5)
    seen = []

    class Spy(Callback):
        def after_batch(self, trainer):
            seen.append(trainer.optimizer.param_groups[0]["momentum"])

    h = fit(model, train, epochs=1, optimizer=opt, schedule=sched, callbacks=[Spy()], progress=False)
    assert seen == [sched.momentum(t) for t in range(5)]
    assert h.momentum == seen  # History records the momentum applied at each update


def test_history_momentum_is_beta1_for_adam_and_empty_without_momentum(small):
    train, _ = small
    model = mlp(64, hidden=(16,))
    h = fit(model, train, epochs=1, optimizer=torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.8, 0.99)),
            schedule=OneCycle(1e-3, total_steps=5), progress=False)
    assert h.momentum == OneCycle(1e-3, total_steps=5).momentum_curve(5).tolist()
    h = fit(model, train, epochs=1, optimizer=torch.optim.Adagrad(model.parameters(), lr=1e-2), progress=False)
    assert h.momentum == [] and len(h.lr) == 5


def test_step_per_epoch_is_a_staircase(small):
    train, _ = small
    model, opt = model_and_sgd()
    sched = ExponentialDecay(0.4, decay_rate=0.5, decay_steps=1)
    h = fit(model, train, epochs=3, optimizer=opt, schedule=sched, step_per="epoch", progress=False)
    assert h.lr == [0.4] * 5 + [0.2] * 5 + [0.1] * 5


def test_plateau_reduces_exactly_when_torch_does(small):
    train, val = small
    model, opt = model_and_sgd(lr=0.5)
    plateau = ReduceLROnPlateau(0.5, factor=0.5, patience=0, threshold=0.2)
    h = fit(model, train, val, epochs=4, optimizer=opt, schedule=plateau, progress=False)
    # the oracle: torch's scheduler fed the same validation losses
    twin = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(twin, factor=0.5, patience=0, threshold=0.2)
    expected = []
    for vl in h.val_loss:
        expected += [twin.param_groups[0]["lr"]] * 5
        ref.step(vl)
    assert h.lr == expected
    assert len(set(h.lr)) > 1  # a reduction happened, so the comparison means something


def test_torch_scheduler_per_batch_and_per_epoch(small):
    train, _ = small
    model, opt = model_and_sgd(lr=0.4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    h = fit(model, train, epochs=2, optimizer=opt, schedule=sched, step_per="epoch", progress=False)
    assert h.lr == [0.4] * 5 + [0.2] * 5
    model, opt = model_and_sgd(lr=0.4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.4, total_steps=10)
    h = fit(model, train, epochs=2, optimizer=opt, schedule=sched, progress=False)
    ours = OneCycle(0.4, total_steps=10)
    assert h.lr == pytest.approx([ours(t) for t in range(10)], rel=1e-12)


def test_torch_onecycle_with_wrong_horizon_is_refused(small):
    train, _ = small
    model, opt = model_and_sgd()
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.4, total_steps=10)  # 10 = 2 epochs x 5 batches
    with pytest.raises(ValueError, match="total_steps=10.*step_per='epoch'.*step_per='batch'.*build it with total_steps=2"):
        fit(model, train, epochs=2, optimizer=opt, schedule=sched, step_per="epoch", progress=False)


def test_divergence_at_lr_100_is_flagged_and_fit_returns(small):
    train, val = small
    model, opt = model_and_sgd(lr=100.0)
    h = fit(model, train, val, epochs=3, optimizer=opt, progress=False)
    assert h.diverged and h.diverged_at is not None and "diverged" in h.stop_reason
    first = h.loss[0]
    assert all(x <= 10 * first for x in h.loss[:h.diverged_at])
    assert not h.loss[h.diverged_at] <= 10 * first  # above 10x the first loss, or NaN
    assert len(h.train_loss) < 3  # it stopped instead of running on


def test_nan_loss_is_flagged_even_without_explosion(small):
    train, _ = small
    model, opt = model_and_sgd()

    class Poison(Callback):
        def after_batch(self, trainer):
            if trainer.step == 7:
                with torch.no_grad():
                    trainer.model[1].weight.fill_(float("nan"))

    h = fit(model, train, epochs=3, optimizer=opt, callbacks=[Poison()], progress=False)
    assert h.diverged and h.diverged_at == 7 and math.isnan(h.loss[7]) and len(h.train_loss) == 2


def test_dataloader_input_works(small):
    train, val = small
    model, opt = model_and_sgd(lr=0.5)
    dl = DataLoader(TensorDataset(*train), batch_size=32, shuffle=True)
    h = fit(model, dl, DataLoader(TensorDataset(*val), batch_size=50), epochs=2, optimizer=opt, progress=False)
    assert len(h.lr) == 20 and h.val_loss[-1] < h.val_loss[0]
    model, opt = model_and_sgd(lr=0.5)  # tensors for training, a DataLoader for validation
    mixed = fit(model, train, DataLoader(TensorDataset(*val), batch_size=50), epochs=1, optimizer=opt,
                progress=False)
    assert len(mixed.val_loss) == 1 and 0 <= mixed.val_acc[0] <= 1


def test_batches_input_and_optimizer_factory(small):
    train, _ = small
    model = mlp(64, hidden=(32,))
    h = fit(model, Batches(*train, batch_size=100), epochs=1,
            optimizer=lambda params: torch.optim.SGD(params, lr=0.2), progress=False)
    assert h.lr == [0.2] * 4


def test_same_seed_same_run_different_seed_different_run(small):
    train, val = small
    runs = []
    for seed in (0, 0, 1):
        model, opt = model_and_sgd(momentum=0.9)
        h = fit(model, train, val, epochs=2, optimizer=opt, seed=seed, progress=False)
        runs.append((weights(model), h.loss))
    assert all(torch.equal(a, b) for a, b in zip(runs[0][0], runs[1][0])) and runs[0][1] == runs[1][1]
    assert runs[0][1] != runs[2][1]


def test_fit_leaves_global_rng_alone(small):
    train, _ = small
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    model, opt = model_and_sgd()
    fit(model, train, epochs=1, optimizer=opt, progress=False)
    assert torch.equal(torch.rand(2), expected)


def test_resume_is_bitwise_identical(small, tmp_path):
    train, val = small
    sched = warmup_cosine(0.5, total_steps=30, warmup_steps=5)
    model, opt = model_and_sgd(momentum=0.9)
    full = fit(model, train, val, epochs=6, optimizer=opt, schedule=sched, progress=False)
    reference = weights(model)

    path = tmp_path / "run.pt"
    model, opt = model_and_sgd(momentum=0.9)
    fit(model, train, val, epochs=3, optimizer=opt, schedule=sched, progress=False, checkpoint_path=path)
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 3 and ckpt["step"] == 15 and ckpt["schedule"]["class"] == "Join"
    model, opt = model_and_sgd(momentum=0.9, seed=7)  # fresh model, other init: all must come from the file
    resumed = fit(model, train, val, epochs=6, optimizer=opt, schedule=sched, progress=False, resume_from=path)
    assert all(torch.equal(a, b) for a, b in zip(weights(model), reference))
    assert resumed.lr == full.lr and resumed.loss == full.loss and resumed.val_loss == full.val_loss
    assert not list(tmp_path.glob("*.tmp"))


def test_resume_with_plateau_restores_its_state(small, tmp_path):
    train, val = small
    def mk():
        return ReduceLROnPlateau(0.5, factor=0.5, patience=0, threshold=0.2)

    model, opt = model_and_sgd()
    full = fit(model, train, val, epochs=4, optimizer=opt, schedule=mk(), progress=False)
    model, opt = model_and_sgd()
    fit(model, train, val, epochs=2, optimizer=opt, schedule=mk(), progress=False, checkpoint_path=tmp_path / "p.pt")
    model, opt = model_and_sgd()
    resumed = fit(model, train, val, epochs=4, optimizer=opt, schedule=mk(), progress=False,
                  resume_from=tmp_path / "p.pt")
    assert resumed.lr == full.lr


def test_checkpoint_from_another_model_or_corrupt_file_is_a_clear_error(small, tmp_path):
    train, _ = small
    path = tmp_path / "c.pt"
    model, opt = model_and_sgd()
    fit(model, train, epochs=1, optimizer=opt, progress=False, checkpoint_path=path)
    other = mlp(64, hidden=(16,))
    with pytest.raises(ValueError, match="different model"):
        fit(other, train, epochs=2, optimizer=torch.optim.SGD(other.parameters(), lr=0.1),
            progress=False, resume_from=path)
    path.write_bytes(path.read_bytes()[:200])
    model, opt = model_and_sgd()
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        fit(model, train, epochs=2, optimizer=opt, progress=False, resume_from=path)


def test_stop_training_from_a_callback(small):
    train, _ = small

    class StopAt7(Callback):
        def after_batch(self, trainer):
            if trainer.step == 7:
                raise StopTraining("enough")

    model, opt = model_and_sgd()
    h = fit(model, train, epochs=3, optimizer=opt, callbacks=[StopAt7()], progress=False)
    assert h.stop_reason == "enough" and len(h.loss) == len(h.lr) == 7 and len(h.train_loss) == 1


def test_output_shape_mismatch_is_explained(small):
    train, _ = small
    model = mlp(64, hidden=(8,), out_features=3)
    with pytest.raises(ValueError, match=r"output of shape \(64, 3\).*out_features"):
        fit(model, train, epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"epochs": 0}, ValueError, "epochs must be >= 1, got 0"),
    ({"epochs": 1.5}, ValueError, "epochs must be an integer, got 1.5"),
    ({"epochs": "2"}, TypeError, "epochs must be an integer, got str '2'"),
    ({"epochs": True}, TypeError, "epochs must be an integer, got bool"),
    ({"batch_size": 0}, ValueError, "batch_size must be >= 1, got 0"),
    ({"batch_size": None}, TypeError, "batch_size must be an integer, got NoneType"),
    ({"seed": -1}, ValueError, "seed must be >= 0, got -1"),
    ({"step_per": "iteration"}, ValueError, "step_per must be one of .*'iteration'"),
    ({"step_per": 1}, TypeError, "step_per must be a str"),
    ({"amp": "yes"}, TypeError, "amp must be True or False"),
    ({"loss_fn": 3}, TypeError, "loss_fn must be a callable"),
    ({"schedule": lambda step: 0.1}, TypeError, "LambdaSchedule"),
    ({"schedule": ReduceLROnPlateau(0.1)}, ValueError, "val"),
    ({"optimizer": "sgd"}, TypeError, "optimizer"),
    ({"callbacks": [print]}, TypeError, "callbacks"),
    ({"device": "tpu"}, ValueError, "device must name a device like 'cpu', 'cuda' or 'mps', got 'tpu'"),
    ({"device": 3}, TypeError, "device must be a device name"),
])
def test_bad_input(small, kwargs, exc, match):
    train, _ = small
    model, opt = model_and_sgd()
    args = {"epochs": 1, "optimizer": opt, "progress": False, **kwargs}
    with pytest.raises(exc, match=match):
        fit(model, train, **args)


def test_numpy_and_0d_torch_scalars_are_accepted(small):
    train, val = small
    model, opt = model_and_sgd()
    h = fit(model, train, val, epochs=np.int64(2), batch_size=np.int32(64), seed=torch.tensor(0), optimizer=opt,
            progress=False)
    model, opt = model_and_sgd()
    assert h.loss == fit(model, train, val, epochs=2, optimizer=opt, progress=False).loss


def test_optimizer_of_another_model_is_refused(small):
    train, _ = small
    model, _ = model_and_sgd()
    _, other_opt = model_and_sgd()
    with pytest.raises(ValueError, match="optimizer does not hold"):
        fit(model, train, epochs=1, optimizer=other_opt, progress=False)


def test_data_on_another_device_is_refused(small):
    train, _ = small
    model, opt = model_and_sgd()
    meta = (train[0].to("meta"), train[1].to("meta"))
    with pytest.raises(ValueError, match="train data is on meta"):
        fit(model, meta, epochs=1, optimizer=opt, device="cpu", progress=False)


def test_history_round_trip():
    h = History(lr=[0.1, 0.2], loss=[2.0, float("nan")], diverged=True, diverged_at=1, stop_reason="x")
    back = History.from_dict(h.to_dict())
    assert back.lr == h.lr and back.diverged_at == 1 and math.isnan(back.loss[1])
    with pytest.raises(ValueError, match="from_dict"):
        History.from_dict({"nonsense": 1})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fit_with_amp():
    ds = digits(device="cuda")
    model = mlp(64, hidden=(32,))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    h = fit(model, ds.train, ds.val, epochs=2, optimizer=opt, device="cuda", amp=True, progress=False)
    assert next(model.parameters()).device.type == "cuda" and h.val_loss[-1] < h.val_loss[0]


def test_torch_reduce_on_plateau_is_stepped_on_val_loss(small):
    train, val = small
    model, opt = model_and_sgd(lr=0.5)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0, threshold=0.2)
    h = fit(model, train, val, epochs=4, optimizer=opt, schedule=sched, progress=False)
    model, opt = model_and_sgd(lr=0.5)
    ours = fit(model, train, val, epochs=4, optimizer=opt, progress=False,
               schedule=ReduceLROnPlateau(0.5, factor=0.5, patience=0, threshold=0.2))
    assert h.lr == ours.lr and len(set(h.lr)) > 1


def test_progress_bar_runs(small, capsys):
    train, _ = small
    model, opt = model_and_sgd()
    h = fit(model, train, epochs=2, optimizer=opt, progress=True)
    assert len(h.train_loss) == 2
    assert "fit" in capsys.readouterr().err


def test_empty_training_data_is_refused(small):
    model, opt = model_and_sgd()
    empty = DataLoader(TensorDataset(torch.zeros(0, 64), torch.zeros(0, dtype=torch.long)), batch_size=4)
    with pytest.raises(ValueError, match="no batches"):
        fit(model, empty, epochs=1, optimizer=opt, progress=False)


@pytest.mark.parametrize("make", [
    lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=20),
    lambda opt: __import__("lrcourse.torch_bridge", fromlist=["ScheduleLR"]).ScheduleLR(
        opt, CosineAnnealing(0.5, total_steps=20)),
], ids=["OneCycleLR", "ScheduleLR"])
def test_resume_with_a_torch_scheduler_is_bitwise_identical(small, tmp_path, make):
    train, _ = small
    model, opt = model_and_sgd(momentum=0.9)
    full = fit(model, train, epochs=4, optimizer=opt, schedule=make(opt), progress=False)
    reference = weights(model)

    class Interrupt(Callback):  # a run of 4 epochs that dies after its 2nd checkpoint
        def after_epoch(self, trainer):
            if trainer.epoch == 1:
                raise StopTraining("interrupted")

    model, opt = model_and_sgd(momentum=0.9)
    fit(model, train, epochs=4, optimizer=opt, schedule=make(opt), progress=False,
        checkpoint_path=tmp_path / "t.pt", callbacks=[Interrupt()])
    assert load_checkpoint(tmp_path / "t.pt")["epoch"] == 2
    model, opt = model_and_sgd(momentum=0.9)
    resumed = fit(model, train, epochs=4, optimizer=opt, schedule=make(opt), progress=False,
                  resume_from=tmp_path / "t.pt")
    assert resumed.lr == full.lr and all(torch.equal(a, b) for a, b in zip(weights(model), reference))


def test_resume_with_another_schedule_is_refused(small, tmp_path):
    train, _ = small
    model, opt = model_and_sgd()
    fit(model, train, epochs=1, optimizer=opt, schedule=CosineAnnealing(0.5, 10), progress=False,
        checkpoint_path=tmp_path / "s.pt")
    model, opt = model_and_sgd()
    with pytest.raises(ValueError, match="trained with schedule"):
        fit(model, train, epochs=2, optimizer=opt, schedule=CosineAnnealing(0.4, 10), progress=False,
            resume_from=tmp_path / "s.pt")


def test_assert_follows_checks_every_update_per_batch_and_per_epoch():
    from lrcourse.schedules import CosineAnnealing, ExponentialDecay

    ds = digits(device="cpu")
    sched = CosineAnnealing(0.1, 3 * ds.steps_per_epoch(64))
    model, opt = model_and_sgd(lr=0.1)
    h = fit(model, ds.train, epochs=3, optimizer=opt, schedule=sched, progress=False)
    h.assert_follows(sched)
    with pytest.raises(AssertionError, match="first difference at step 1"):
        h.assert_follows(CosineAnnealing(0.1, 10))
    stair = ExponentialDecay(0.1, 0.5, 1)
    model, opt = model_and_sgd(lr=0.1)
    h = fit(model, ds.train, epochs=3, optimizer=opt, schedule=stair, step_per="epoch", progress=False)
    h.assert_follows(stair, step_per="epoch")
    with pytest.raises(AssertionError, match="does not follow"):
        h.assert_follows(stair)  # per batch it would have decayed every update


def test_evaluate_accepts_a_split_tuple():
    ds = digits(device="cpu")
    model, _ = model_and_sgd(lr=0.1)
    from lrcourse.data import Batches

    assert evaluate(model, ds.test) == evaluate(model, Batches(*ds.test, batch_size=1024, shuffle=False))


# --- horizons (reliability SWR-8): a course schedule is checked like torch's OneCycleLR ----------

@pytest.mark.parametrize("schedule, step_per, match", [
    # 3 epochs x 5 batches = 15 updates
    (OneCycle(0.5, total_steps=4), "batch", r"OneCycle.*total_steps=4.*steps it 15 times; build it with total_steps=15"),
    (OneCycle(0.5, total_steps=30), "batch", "build it with total_steps=15"),
    (OneCycle(0.5, total_steps=15), "epoch", r"steps it 3 times; step it per batch \(step_per='batch'"),
    (CosineAnnealing(0.5, total_steps=15), "epoch", "step it per batch"),
    (warmup_cosine(0.5, total_steps=15, warmup_steps=3), "epoch", "step it per batch"),
])
def test_a_course_schedule_whose_horizon_does_not_fit_the_run_is_refused(small, schedule, step_per, match):
    train, _ = small
    model, opt = model_and_sgd(momentum=0.9)
    before = weights(model)
    with pytest.raises(ValueError, match=match):
        fit(model, train, epochs=3, optimizer=opt, schedule=schedule, step_per=step_per, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, weights(model)))  # refused before any update


@pytest.mark.parametrize("schedule, step_per", [
    (OneCycle(0.5, total_steps=15), "batch"),
    (OneCycle(0.5, total_steps=3), "epoch"),  # a horizon in epochs, stepped per epoch
    (CosineAnnealing(0.5, total_steps=10), "batch"),  # shorter than the run: holds min_lr, as documented
    (CosineAnnealing(0.5, total_steps=100), "batch"),  # longer: the run ends before the schedule
    (CosineAnnealing(0.5, total_steps=3), "epoch"),
    (warmup_cosine(0.5, total_steps=15, warmup_steps=0), "batch"),  # a Join of one schedule
])
def test_horizons_that_fit_or_differ_on_purpose_are_accepted(small, schedule, step_per):
    train, _ = small
    model, opt = model_and_sgd(momentum=0.9)
    h = fit(model, train, epochs=3, optimizer=opt, schedule=schedule, step_per=step_per, progress=False)
    h.assert_follows(schedule, step_per=step_per)


def test_a_torch_horizon_stepped_per_epoch_is_refused(small):
    train, _ = small
    model, opt = model_and_sgd()
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=15)  # 15 = 3 epochs x 5 batches
    with pytest.raises(ValueError, match="T_max=15.*step it per batch"):
        fit(model, train, epochs=3, optimizer=opt, schedule=sched, step_per="epoch", progress=False)


def test_onecycle_on_an_optimizer_without_momentum_is_refused_before_training(small):
    train, _ = small
    model = mlp(64, hidden=(8,))
    opt = torch.optim.Adagrad(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="cycles the momentum, but Adagrad has neither"):
        fit(model, train, epochs=3, optimizer=opt, schedule=OneCycle(0.1, 15), progress=False)


# --- every schedule kind applies exactly epochs x batches updates ------------------------------

@pytest.mark.parametrize("kind", ["none", "course", "course_epoch", "plateau", "torch_batch", "torch_epoch",
                                  "torch_plateau", "dataloader"])
def test_fit_makes_exactly_epochs_times_batches_updates(small, kind):
    train, val = small
    model, opt = model_and_sgd(lr=0.1)
    steps = []
    opt.register_step_post_hook(lambda optimizer, args, kwargs: steps.append(optimizer.param_groups[0]["lr"]))
    schedule, step_per, data = None, "batch", train
    if kind == "course":
        schedule = CosineAnnealing(0.1, 20)
    elif kind == "course_epoch":
        schedule, step_per = ExponentialDecay(0.1, 0.5), "epoch"
    elif kind == "plateau":
        schedule = ReduceLROnPlateau(0.1, patience=0, threshold=0.5)
    elif kind == "torch_batch":
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=20)
    elif kind == "torch_epoch":
        schedule, step_per = torch.optim.lr_scheduler.StepLR(opt, 1, 0.5), "epoch"
    elif kind == "torch_plateau":
        schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, threshold=0.5)
    elif kind == "dataloader":
        data = DataLoader(TensorDataset(*train), batch_size=80)
    h = fit(model, data, val, epochs=4, optimizer=opt, schedule=schedule, step_per=step_per, progress=False)
    batches = 4 if kind == "dataloader" else 5
    assert len(steps) == len(h.lr) == len(h.loss) == 4 * batches and h.epoch_steps == [batches * e for e in (1, 2, 3, 4)]
    assert steps == h.lr  # the LR recorded is the one each update ran at


# --- validation and data errors, before any training ------------------------------------------

def _untouched_by(call, model):
    before = weights(model)
    call()
    return all(torch.equal(a, b) for a, b in zip(before, weights(model)))


@pytest.mark.parametrize("val, exc, match", [
    ((torch.zeros(0, 64), torch.zeros(0, dtype=torch.long)), ValueError, "val is empty"),
    (DataLoader(TensorDataset(torch.zeros(0, 64), torch.zeros(0, dtype=torch.long)), batch_size=8), ValueError,
     "val is empty"),
    ("labels", ValueError, r"val labels must be class indices in \[0, 10\).*found 12"),
    ("labels_loader", ValueError, "loss_fn could not compare .* val targets"),
])
def test_bad_validation_data_is_refused_before_training(small, val, exc, match):
    train, (Xv, yv) = small
    if val == "labels":
        X7, y7 = Xv.repeat(7, 1), yv.repeat(7)  # 1120 samples: more than one validation batch (1024)
        val = (X7, torch.where(torch.arange(len(y7)) == 1100, 12, y7))  # one label out of range, in the 2nd batch
    elif val == "labels_loader":
        val = DataLoader(TensorDataset(Xv, yv + 10), batch_size=32)
    model, opt = model_and_sgd()

    def call():
        with pytest.raises(exc, match=match):
            fit(model, train, val, epochs=1, optimizer=opt, progress=False)

    assert _untouched_by(call, model)


class _Stream(torch.utils.data.IterableDataset):
    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)


@pytest.mark.parametrize("dataset, exc, match", [
    (_Stream([]), ValueError, "train yielded no batches: its DataLoader is empty"),
    (_Stream([{"x": torch.zeros(64), "y": torch.tensor(1)}] * 8), TypeError, r"train yields dict batches \(keys \['x', 'y'\]\)"),
    (_Stream([(torch.zeros(64), torch.tensor(1), torch.tensor(0))] * 8), ValueError,
     "train yields batches of 3 items; fit needs exactly 2"),
    (_Stream([(torch.zeros(64), "cat")] * 8), TypeError, r"train yields \(Tensor, tuple\) batches"),
])
def test_dataloader_edge_cases_are_clear_errors(small, dataset, exc, match):
    model, opt = model_and_sgd()
    with pytest.raises(exc, match=match):
        fit(model, DataLoader(dataset, batch_size=4), epochs=1, optimizer=opt, progress=False)


def test_evaluate_accepts_a_list_of_batches_and_refuses_empty_data():
    ds = digits(device="cpu")
    model, _ = model_and_sgd()
    X, y = ds.test
    whole = evaluate(model, ds.test)
    halves = evaluate(model, [(X[:200], y[:200]), (X[200:], y[200:])])
    assert halves[1] == whole[1] and halves[0] == pytest.approx(whole[0], rel=1e-6)
    assert evaluate(model, [ds.test]) == whole  # notebooks pass [(X, y)]
    with pytest.raises(ValueError, match="no samples"):
        evaluate(model, (X[:0], y[:0]))


def test_evaluate_ignores_label_minus_100_as_the_loss_does():
    """Review (cosmetic): cross-entropy ignores label -100 (ignore_index); val_acc counted it as wrong."""
    ds = digits(device="cpu")
    model, _ = model_and_sgd()
    X, y = ds.test
    loss, acc = evaluate(model, (X[:100], y[:100]))
    masked = y[:200].clone()
    masked[100:] = -100  # the second half is unlabelled
    assert evaluate(model, (X[:200], masked))[1] == acc
    assert math.isnan(evaluate(model, (X[:10], torch.full((10,), -100)))[1])  # nothing labelled: no accuracy


# --- optimizers that set their own step: schedule-free, learning-rate-free (issue 17) ----------

def test_schedule_free_validation_is_at_the_evaluation_weights(small):
    import schedulefree

    train, val = small
    model = mlp(64, hidden=(32,))
    opt = schedulefree.SGDScheduleFree(model.parameters(), lr=0.5, warmup_steps=4)
    h = fit(model, train, val, epochs=3, optimizer=opt, progress=False)
    assert opt.param_groups[0]["train_mode"] is False  # fit leaves it in eval mode...
    assert evaluate(model, val)[0] == h.val_loss[-1]  # ...so the returned model is the one validated
    opt.train()  # the training point y differs from the evaluation point x: evaluating it is the pitfall
    assert evaluate(model, val)[0] != h.val_loss[-1]
    assert h.effective_lr == [0.5 * min(1.0, (k + 1) / 4) for k in range(15)] and h.lr == [0.5] * 15


def test_optimizer_train_and_eval_are_called_around_every_epoch(small):
    train, val = small
    calls = []

    class Modal(torch.optim.SGD):
        def train(self):
            calls.append("train")

        def eval(self):
            calls.append("eval")

        def step(self, closure=None):
            calls.append("step")
            return super().step(closure)

    class Validated(Callback):
        def after_validate(self, trainer):
            calls.append("validated")

    model = mlp(64, hidden=(8,))
    fit(model, train, val, epochs=2, batch_size=160, optimizer=Modal(model.parameters(), lr=0.1),
        callbacks=[Validated()], progress=False)
    epoch = ["train", "step", "step", "eval", "validated"]
    assert calls == epoch + epoch + ["eval"]


def _manual_d_times_lr(make_opt, train, epochs, batch_size=64):
    """The oracle: a hand-written loop over fit's batches, reading d x lr before each step."""
    model = mlp(64, hidden=(32,))
    opt = make_opt(model.parameters())
    batches = Batches(*train, batch_size=batch_size, seed=0)
    out = []
    for epoch in range(epochs):
        batches.set_epoch(epoch)
        for xb, yb in batches:
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            out.append(opt.param_groups[0]["d"] * opt.param_groups[0]["lr"])
            opt.step()
    return out


@pytest.mark.parametrize("make_opt", [
    lambda params: __import__("prodigyopt").Prodigy(params, lr=1.0),
    lambda params: __import__("dadaptation").DAdaptAdam(params, lr=1.0),
], ids=["Prodigy", "DAdaptAdam"])
def test_lr_free_optimizers_record_d_times_lr(small, make_opt):
    train, _ = small
    model = mlp(64, hidden=(32,))
    h = fit(model, train, epochs=2, optimizer=make_opt(model.parameters()), progress=False)
    expected = _manual_d_times_lr(make_opt, train, 2)
    assert h.effective_lr == expected and len(set(expected)) > 2  # d grew: the comparison means something
    assert h.lr == [1.0] * 10


def test_plain_optimizers_record_no_effective_lr_and_one_group_no_group_lrs(small):
    train, _ = small
    model, opt = model_and_sgd()
    h = fit(model, train, epochs=1, optimizer=opt, schedule=CosineAnnealing(0.1, 5), progress=False)
    assert h.effective_lr == [] and h.group_lrs == [] and h.lr == CosineAnnealing(0.1, 5).curve(5).tolist()


# --- param groups (issue 13) -----------------------------------------------------------------

def _groups(model, lrs=(0.1, 0.001)):
    first, last = model[1], model[3]
    return torch.optim.SGD([{"params": first.parameters(), "lr": lrs[0]}, {"params": last.parameters(), "lr": lrs[1]}])


def test_group_lrs_records_every_group_per_update(small):
    train, _ = small
    model = mlp(64, hidden=(32,))
    opt = _groups(model)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    h = fit(model, train, epochs=2, optimizer=opt, schedule=sched, progress=False)
    assert len(h.group_lrs) == 10 and [g[0] for g in h.group_lrs] == h.lr
    twin = _groups(mlp(64, hidden=(32,)))  # torch's own scheduler, driven by hand: the oracle
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(twin, T_max=10)
    expected = []
    for _ in range(10):
        expected.append([g["lr"] for g in twin.param_groups])
        twin.step()
        ref.step()
    assert h.group_lrs == expected


def test_a_course_schedule_keeps_the_groups_ratios_like_torch(small):
    train, _ = small
    model = mlp(64, hidden=(32,))
    opt = _groups(model)
    h = fit(model, train, epochs=2, optimizer=opt, schedule=CosineAnnealing(0.1, 10), progress=False)
    twin = _groups(mlp(64, hidden=(32,)))
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(twin, T_max=10)
    expected = []
    for _ in range(10):
        expected.append([g["lr"] for g in twin.param_groups])
        twin.step()
        ref.step()
    # torch computes the cosine recursively: equal to the last bit or two, not bitwise
    assert np.allclose(h.lr, [g[0] for g in expected], rtol=1e-12, atol=0)
    assert np.allclose(h.group_lrs, expected, rtol=1e-12, atol=0)  # group 1 keeps its 1:100 ratio


# --- reuse by a data-parallel wrapper (issue 18) ----------------------------------------------

def test_a_callback_can_make_a_process_non_main_and_reduce_the_epoch_losses(small, tmp_path):
    train, _ = small

    class Worker(Callback):
        def before_fit(self, trainer):
            trainer.is_main = False
            trainer.reduce_losses = lambda losses: losses * 0 + 7.0  # stands in for an all-reduce mean

    model, opt = model_and_sgd()
    h = fit(model, train, epochs=2, optimizer=opt, callbacks=[Worker()], checkpoint_path=tmp_path / "w.pt",
            progress=False)
    assert h.loss == [7.0] * 10 and h.train_loss == [7.0, 7.0]
    assert not (tmp_path / "w.pt").exists()  # only the main process writes checkpoints


def test_every_course_schedule_is_applied_exactly_as_its_call(small, monkeypatch):
    """fit looks the LR up in a curve computed once per run: it must be schedule(t), bit for bit,
    also past the precomputed part (a DataLoader of unknown length, a very long run)."""
    from lrcourse import schedules as S
    from lrcourse.adapters import CourseSchedule

    train, _ = small
    every_kind = [
        S.Constant(0.1), S.ExponentialDecay(0.3, 0.9), S.ExponentialDecay(0.3, 0.5, 4, staircase=True),
        S.StepDecay(0.4, 4, 0.5), S.PiecewiseConstant((3, 9), (0.3, 0.1, 0.01)), S.InverseTimeDecay(0.3, 0.5, 2),
        S.PolynomialDecay(0.3, 12, 0.01, 2.0), S.Linear(0.01, 0.3, 15), S.CosineAnnealing(0.5, 15, 0.01),
        S.CosineWarmRestarts(0.5, 3, cycle_mult=1.7, min_lr=0.01), S.OneCycle(0.5, 15, three_phase=True),
        S.Cyclic(0.01, 0.3, 3), S.warmup_cosine(0.5, 15, 4), S.WarmupStableDecay(0.3, 15, 3, 5, decay="cosine"),
    ]
    assert {type(s) for s in every_kind} >= {S.Constant, S.Join, S.WarmupStableDecay, S.Cyclic, S.OneCycle}
    monkeypatch.setattr(CourseSchedule, "PRECOMPUTED", 7)  # steps 7.. take the schedule(t) path
    for schedule in every_kind:
        model, opt = model_and_sgd(momentum=0.9)
        h = fit(model, train, epochs=3, optimizer=opt, schedule=schedule, progress=False)
        assert h.lr == [schedule(t) for t in range(15)], schedule
        if isinstance(schedule, OneCycle):
            assert h.momentum == [schedule.momentum(t) for t in range(15)]


def test_every_module_trains_in_train_mode_and_is_validated_in_eval_mode(small):
    train, val = small
    model, opt = model_and_sgd()
    model[2].eval()  # a submodule left in eval mode: fit still trains all of it in train mode
    modes = []

    class Spy(Callback):
        def before_batch(self, trainer):
            modes.append(all(m.training for m in trainer.model.modules()))

    fit(model, train, val, epochs=2, optimizer=opt, callbacks=[Spy()], progress=False)
    assert modes == [True] * 10 and model.training
