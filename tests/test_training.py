"""fit: learns, applies schedules exactly, stops cleanly on divergence, resumes bitwise."""
import math

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
    mk = lambda: ReduceLROnPlateau(0.5, factor=0.5, patience=0, threshold=0.2)
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
    ({"epochs": 0}, ValueError, "epochs"),
    ({"step_per": "iteration"}, ValueError, "step_per"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"schedule": lambda step: 0.1}, TypeError, "LambdaSchedule"),
    ({"schedule": ReduceLROnPlateau(0.1)}, ValueError, "val"),
    ({"optimizer": "sgd"}, TypeError, "optimizer"),
    ({"callbacks": [print]}, TypeError, "callbacks"),
])
def test_bad_input(small, kwargs, exc, match):
    train, _ = small
    model, opt = model_and_sgd()
    args = {"epochs": 1, "optimizer": opt, "progress": False, **kwargs}
    with pytest.raises(exc, match=match):
        fit(model, train, **args)


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
