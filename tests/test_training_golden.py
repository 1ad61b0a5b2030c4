"""Golden histories: ``fit`` reproduces, bit for bit, what it recorded before it was refactored.

Each run below covers one path through ``fit``: every kind of schedule (none, course schedule,
course plateau, torch scheduler, torch plateau), stepped per batch and per epoch, resume from a
checkpoint, DataLoader input, and the built-in and custom callbacks. ``tests/golden/fit.json``
holds what the original loop recorded (History fields except ``epoch_time``, and a SHA-256 of the
final weights). On the machine that recorded it (same torch, CPU capability and architecture),
everything must be equal bit for bit; elsewhere another CPU's rounding is a fresh draw, so only
the shape of each run and the LRs of runs whose LRs do not depend on measured losses are compared.

Re-record (only when a change of results is intended, and say so in the commit):
``LRCOURSE_RECORD_GOLDEN=1 .venv/bin/python -m pytest -p no:xdist tests/test_training_golden.py``
"""
import hashlib
import json
import math
import os
import platform
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lrcourse.callbacks import Callback, DivergenceGuard, EarlyStopping, LambdaSchedule, StopTraining
from lrcourse.data import Batches, digits
from lrcourse.models import mlp
from lrcourse.plateau import ReduceLROnPlateau
from lrcourse.range_test import lr_range_test
from lrcourse.schedules import ExponentialDecay, OneCycle, warmup_cosine
from lrcourse.training import fit

GOLDEN = Path(__file__).parent / "golden" / "fit.json"
FIELDS = ("lr", "loss", "momentum", "train_loss", "val_loss", "val_acc", "epoch_steps", "diverged",
          "diverged_at", "stop_reason")
RECORD = os.environ.get("LRCOURSE_RECORD_GOLDEN") == "1"


def environment():
    return {"torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability(),
            "machine": platform.machine()}


def data():
    ds = digits(device="cpu")  # 320 train samples: 5 batches of 64 per epoch
    return (ds.train[0][:320], ds.train[1][:320]), (ds.val[0][:160], ds.val[1][:160])


def sgd(lr=0.1, momentum=0.9, seed=0):
    model = mlp(64, hidden=(32,), seed=seed)
    return model, torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)


def digest(model):
    h = hashlib.sha256()
    for p in model.state_dict().values():
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class StopAfter(Callback):
    """Simulate a crash after the checkpoint of epoch ``epochs`` was written."""

    def __init__(self, epochs):
        self.epochs = epochs

    def after_epoch(self, trainer):
        if trainer.epoch + 1 == self.epochs:
            raise StopTraining("interrupted")


class StopAtStep(Callback):
    def after_batch(self, trainer):
        if trainer.step == 7:
            raise StopTraining("enough")


# --- the runs: name -> function(tmp_path) -> (History, model) ---------------------------------


def plain(schedule=None, *, lr=0.1, momentum=0.9, epochs=3, val=True, **kwargs):
    def run(tmp):
        train, v = data()
        model, opt = sgd(lr, momentum)
        sched = schedule(opt) if callable(schedule) and not hasattr(schedule, "curve") else schedule
        return fit(model, train, v if val else None, epochs=epochs, optimizer=opt, schedule=sched,
                   progress=False, **kwargs), model
    return run


def adam_onecycle(tmp):
    train, val = data()
    model = mlp(64, hidden=(32,), seed=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    return fit(model, train, val, epochs=3, optimizer=opt, schedule=OneCycle(3e-3, 15), progress=False), model


def adagrad(tmp):
    train, _ = data()
    model = mlp(64, hidden=(32,), seed=2)
    return fit(model, train, epochs=2, optimizer=torch.optim.Adagrad(model.parameters(), lr=0.05),
               progress=False), model


def resumed(make_schedule, *, val=True, lr=0.1):
    def run(tmp):
        train, v = data()
        v = v if val else None
        path = tmp / "run.pt"
        model, opt = sgd(lr)
        fit(model, train, v, epochs=6, optimizer=opt, schedule=make_schedule(opt), progress=False,
            checkpoint_path=path, callbacks=[StopAfter(3)])
        model, opt = sgd(lr, seed=7)  # another init: everything must come from the checkpoint
        return fit(model, train, v, epochs=6, optimizer=opt, schedule=make_schedule(opt), progress=False,
                   resume_from=path, checkpoint_path=path), model
    return run


def dataloaders(tmp):
    train, val = data()
    model, opt = sgd(0.2)
    dl = DataLoader(TensorDataset(*train), batch_size=32, shuffle=True)
    return fit(model, dl, DataLoader(TensorDataset(*val), batch_size=50), epochs=2, optimizer=opt,
               progress=False, seed=3), model


def batches(tmp):
    train, _ = data()
    model = mlp(64, hidden=(32,), seed=4)
    return fit(model, Batches(*train, batch_size=100, seed=5), epochs=2,
               optimizer=lambda params: torch.optim.SGD(params, lr=0.2), progress=False), model


RUNS = {
    "constant": plain(),
    "constant_no_val_no_momentum": plain(momentum=0.0, val=False, batch_size=48, seed=1),
    "course_per_batch": plain(warmup_cosine(0.5, total_steps=15, warmup_steps=3)),
    "course_onecycle_adam": adam_onecycle,
    "course_per_epoch": plain(ExponentialDecay(0.4, decay_rate=0.5, decay_steps=1), step_per="epoch"),
    "course_plateau": plain(ReduceLROnPlateau(0.5, factor=0.5, patience=0, threshold=0.2), lr=0.5, epochs=5),
    "torch_per_batch": plain(lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.4, total_steps=15)),
    "torch_per_epoch": plain(lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
                             lr=0.4, step_per="epoch"),
    "torch_plateau": plain(lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=0, threshold=0.2), lr=0.5, epochs=5),
    "no_momentum_optimizer": adagrad,
    "resume_course": resumed(lambda opt: warmup_cosine(0.5, total_steps=30, warmup_steps=5)),
    "resume_plateau": resumed(lambda opt: ReduceLROnPlateau(0.5, factor=0.5, patience=0, threshold=0.2), lr=0.5),
    "resume_torch": resumed(lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.4, total_steps=30),
                            val=False),
    "resume_constant": resumed(lambda opt: None),
    "dataloaders": dataloaders,
    "batches_and_factory": batches,
    "early_stopping": plain(callbacks=[EarlyStopping(patience=1, min_delta=0.05)], lr=0.02, momentum=0.0,
                            epochs=10),
    "early_stopping_train_loss": plain(callbacks=[EarlyStopping(patience=2, monitor="train_loss", min_delta=0.02)],
                                       lr=0.01, momentum=0.0, epochs=10),
    "diverges_epoch_check": plain(lr=100.0, momentum=0.0),
    "diverges_guard": plain(callbacks=[DivergenceGuard(factor=4.0)], lr=100.0, momentum=0.0),
    "guard_none_lets_spikes_run": plain(callbacks=[DivergenceGuard(factor=None)], lr=20.0, momentum=0.0,
                                        epochs=2, val=False),
    "lambda_schedule": plain(callbacks=[LambdaSchedule(lambda s, e: 0.2 * 0.5 ** e + 0.001 * s)]),
    "stop_from_callback": plain(callbacks=[StopAtStep()]),
}
# runs whose LRs do not depend on a measured loss: their LRs must agree on any machine
LOSS_FREE_LRS = {"constant", "constant_no_val_no_momentum", "course_per_batch", "course_onecycle_adam",
                 "course_per_epoch", "torch_per_batch", "torch_per_epoch", "no_momentum_optimizer",
                 "resume_course", "resume_torch", "resume_constant", "dataloaders", "batches_and_factory",
                 "lambda_schedule", "stop_from_callback"}


def range_test_run(end_lr):
    train, _ = data()
    model, opt = sgd(0.1)
    res = lr_range_test(model, train, optimizer=opt, start_lr=1e-4, end_lr=end_lr, num_steps=40,
                        batch_size=32, progress=False, seed=1)
    return {"lrs": res.lrs.tolist(), "losses": res.losses.tolist(), "smoothed": res.smoothed.tolist(),
            "stop_reason": res.stop_reason}


def record(name, tmp):
    if name.startswith("range_test"):
        return range_test_run(1e4 if name == "range_test_diverges" else 10.0)
    h, model = RUNS[name](tmp)
    out = {f: getattr(h, f) for f in FIELDS}
    out["weights"] = digest(model)
    return out


def same(a, b):
    """Bitwise equality of JSON-like values, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture(scope="module")
def golden():
    if RECORD:
        store = {"environment": environment(), "runs": {}}
        yield store["runs"]
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
        return
    store = json.loads(GOLDEN.read_text())
    store["runs"]["__env_matches__"] = store["environment"] == environment()
    store["runs"]["__env__"] = store["environment"]
    yield store["runs"]


@pytest.mark.parametrize("name", [*RUNS, "range_test", "range_test_diverges"])
def test_fit_reproduces_the_golden_history(name, golden, tmp_path):
    got = json.loads(json.dumps(record(name, tmp_path)))  # the same JSON round trip as the file
    if RECORD:
        golden[name] = got
        return
    want = golden[name]
    if golden["__env_matches__"]:
        for key in want:
            assert same(got[key], want[key]), f"{name}: {key} differs from the golden run"
        return
    # another machine: the shape of the run, and LRs that no measured loss steers
    for key in ("epoch_steps", "stop_reason", "diverged") if not name.startswith("range_test") else ("stop_reason",):
        assert got[key] == want[key], f"{name}: {key}"
    if name in LOSS_FREE_LRS:
        assert got["lr"] == pytest.approx(want["lr"], rel=1e-12)
