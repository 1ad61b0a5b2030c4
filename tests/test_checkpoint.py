"""Checkpoints: refused before training when unwritable, refused on resume when the run differs,
damage detected by the checksum, malicious pickles refused, SIGKILL mid-write harmless."""
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from lrcourse.checkpoint import FORMAT, checksum, load_checkpoint
from lrcourse.data import digits
from lrcourse.models import mlp
from lrcourse.plateau import ReduceLROnPlateau
from lrcourse.schedules import CosineAnnealing, Schedule
from lrcourse.training import fit


@pytest.fixture(scope="module")
def small():
    ds = digits(device="cpu")  # 320 train samples: 5 batches of 64
    return (ds.train[0][:320], ds.train[1][:320]), (ds.val[0][:160], ds.val[1][:160])


def sgd(lr=0.1, momentum=0.9, seed=0):
    model = mlp(64, hidden=(16,), seed=seed)
    return model, torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)


@pytest.fixture(scope="module")
def saved(small, tmp_path_factory):
    """A checkpoint after 2 of 4 epochs, cosine schedule, SGD momentum."""
    train, val = small
    path = tmp_path_factory.mktemp("ckpt") / "run.pt"
    model, opt = sgd()
    fit(model, train, val, epochs=2, optimizer=opt, schedule=CosineAnnealing(0.1, 20), checkpoint_path=path,
        progress=False)
    return path


def resume(small, path, *, epochs=4, lr=0.1, momentum=0.9, schedule="cosine", data=None, **kwargs):
    train, val = small
    model, opt = sgd(lr, momentum)
    schedule = CosineAnnealing(0.1, 20) if schedule == "cosine" else schedule
    return fit(model, data or train, val, epochs=epochs, optimizer=kwargs.pop("optimizer", opt), schedule=schedule,
               resume_from=path, progress=False, **kwargs)


def test_the_same_settings_resume(small, saved):
    h = resume(small, saved)
    assert len(h.lr) == 20 and h.epoch_steps == [5, 10, 15, 20]


# --- settings that differ are refused, each named -----------------------------------------------

@pytest.mark.parametrize("change, match", [
    (dict(epochs=1), "epochs=1, but the checkpoint has already done 2 epochs: pass epochs >= 2"),
    (dict(step_per="epoch", schedule=CosineAnnealing(0.1, 4)), "step_per: checkpoint 'batch', now 'epoch'"),
    (dict(batch_size=32), r"batch size: checkpoint 64, now 32; batches per epoch: checkpoint 5, now 10"),
    (dict(data="other"), r"training data \(fingerprint\): checkpoint '\(320, 64\)x\(320,\) sha256:"),
    (dict(seed=3), r"shuffled with seed 0 \(seed \+ LRCOURSE_SEED_OFFSET\), fit got 3"),
    (dict(lr=0.001), r"optimizer hyper-parameters \(as built\): param_groups\[0\].lr: checkpoint 0.1, now 0.001"),
    (dict(momentum=0.5), r"param_groups\[0\].momentum: checkpoint 0.9, now 0.5"),
    (dict(optimizer="adam"), "was trained with optimizer SGD, fit got Adam"),
    (dict(schedule=CosineAnnealing(0.2, 20)), r"was trained with schedule 'CosineAnnealing\(lr=0.1, .*but fit got "
                                              r"'CosineAnnealing\(lr=0.2.* \(lr: checkpoint 0.1, now 0.2\)"),
    (dict(schedule=None), "was trained with schedule 'CosineAnnealing.*but fit got None"),
])
def test_a_resume_with_other_settings_is_refused_naming_the_difference(small, saved, change, match):
    train, _ = small
    if change.get("data") == "other":
        change["data"] = (train[0] + 0.5, train[1])
    if change.get("optimizer") == "adam":
        change["optimizer"] = lambda params: torch.optim.Adam(params, lr=0.1)
    with pytest.raises(ValueError, match=f"resume_from=.* cannot continue this run: .*{match}"):
        resume(small, saved, **change)


def test_every_difference_is_named_at_once(small, saved):
    with pytest.raises(ValueError, match="step_per.*batch size.*optimizer hyper-parameters"):
        resume(small, saved, step_per="epoch", batch_size=32, lr=0.5, schedule=CosineAnnealing(0.1, 4))


def test_a_torch_scheduler_with_other_arguments_is_refused(small, tmp_path):
    train, _ = small
    model, opt = sgd()
    fit(model, train, epochs=1, optimizer=opt, schedule=torch.optim.lr_scheduler.StepLR(opt, step_size=100),
        checkpoint_path=tmp_path / "s.pt", progress=False)
    model, opt = sgd()
    with pytest.raises(ValueError, match=r"was trained with schedule 'StepLR'.*\(step_size: checkpoint 100, now 2\)"):
        fit(model, train, epochs=2, optimizer=opt, schedule=torch.optim.lr_scheduler.StepLR(opt, step_size=2),
            resume_from=tmp_path / "s.pt", progress=False)
    model, opt = sgd()  # the same arguments resume
    h = fit(model, train, epochs=2, optimizer=opt, schedule=torch.optim.lr_scheduler.StepLR(opt, step_size=100),
            resume_from=tmp_path / "s.pt", progress=False)
    assert len(h.lr) == 10


def test_a_plateau_with_other_arguments_is_refused(small, tmp_path):
    train, val = small
    model, opt = sgd()
    fit(model, train, val, epochs=1, optimizer=opt, schedule=ReduceLROnPlateau(0.1, patience=2),
        checkpoint_path=tmp_path / "p.pt", progress=False)
    model, opt = sgd()
    with pytest.raises(ValueError, match=r"\(patience: checkpoint 2, now 3\)"):
        fit(model, train, val, epochs=2, optimizer=opt, schedule=ReduceLROnPlateau(0.1, patience=3),
            resume_from=tmp_path / "p.pt", progress=False)


class Plain(Schedule):
    """A schedule that is not a dataclass: its default repr holds a memory address."""

    def __init__(self, lr):
        self.lr = lr

    def _lr(self, t):
        return np.full(t.shape, self.lr)


def test_a_non_dataclass_schedule_is_identified_without_a_memory_address(small, tmp_path):
    train, _ = small
    model, opt = sgd()
    fit(model, train, epochs=1, optimizer=opt, schedule=Plain(0.1), checkpoint_path=tmp_path / "n.pt", progress=False)
    config = load_checkpoint(tmp_path / "n.pt")["schedule"]
    assert config == {"class": "Plain", "config": {"lr": 0.1}, "repr": "Plain(lr=0.1)"}
    model, opt = sgd()  # a new instance, as a new process would build it
    assert len(fit(model, train, epochs=2, optimizer=opt, schedule=Plain(0.1), resume_from=tmp_path / "n.pt",
                   progress=False).lr) == 10
    model, opt = sgd()
    with pytest.raises(ValueError, match=r"Plain\(lr=0.1\).*Plain\(lr=0.2\)"):
        fit(model, train, epochs=2, optimizer=opt, schedule=Plain(0.2), resume_from=tmp_path / "n.pt", progress=False)


# --- checkpoint_path is checked before training ------------------------------------------------

def test_a_folder_as_checkpoint_path_is_refused_before_training(small, tmp_path):
    train, _ = small
    model, opt = sgd()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="checkpoint_path=.* is a folder: give a file name"):
        fit(model, train, epochs=1, optimizer=opt, checkpoint_path=tmp_path, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


# --- damaged, forged and malicious files ------------------------------------------------------

def test_single_bit_flips_are_detected(saved, tmp_path):
    """Every flip either makes the file unreadable/refused, or leaves its contents exactly as they were.

    (Flips in the zip container's padding or unused header fields change nothing that is loaded.)
    """
    data = saved.read_bytes()
    good = load_checkpoint(saved)
    rng = random.Random(0)
    refused = 0
    for offset in rng.sample(range(len(data)), 120):
        flipped = bytearray(data)
        flipped[offset] ^= 1 << rng.randrange(8)
        path = tmp_path / "flip.pt"
        path.write_bytes(bytes(flipped))
        try:
            loaded = load_checkpoint(path)
        except ValueError:
            refused += 1
            continue
        assert checksum({k: v for k, v in loaded.items() if k != "checksum"}) == good["checksum"], offset
    assert refused > 60  # most bytes are tensor data: those flips must be caught


def test_a_changed_tensor_value_is_caught_by_the_checksum(saved, tmp_path):
    ckpt = torch.load(saved, weights_only=True)
    ckpt["model"]["1.weight"][0, 0] += 1e-3  # as a flipped bit in the tensor data would
    torch.save(ckpt, tmp_path / "edited.pt")
    with pytest.raises(ValueError, match="is damaged: its contents do not match their checksum"):
        load_checkpoint(tmp_path / "edited.pt")


@pytest.mark.parametrize("payload, match", [
    ({"format": FORMAT}, "an incomplete lrcourse checkpoint: it has no model, model_class, optimizer"),
    ({"format": "lrcourse-checkpoint-1", "model": {}}, "from an older lrcourse; start a new run"),
    ({"weights": torch.ones(2)}, "is not an lrcourse checkpoint"),
    ([1, 2, 3], "is not an lrcourse checkpoint"),
])
def test_forged_or_foreign_files_are_refused_with_a_clear_message(small, tmp_path, payload, match):
    train, _ = small
    torch.save(payload, tmp_path / "f.pt")
    model, opt = sgd()
    with pytest.raises(ValueError, match=match):
        fit(model, train, epochs=1, optimizer=opt, resume_from=tmp_path / "f.pt", progress=False)


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = None


def test_a_malicious_pickle_is_refused_and_never_runs(small, tmp_path):
    global MARKER
    MARKER = tmp_path / "pwned"
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"format": FORMAT, "model": _Exploit()}, f)
    torch.save({"format": FORMAT, "model": _Exploit()}, tmp_path / "evil_zip.pt")
    for name in ("evil.pt", "evil_zip.pt"):
        with pytest.raises(ValueError, match="not a readable checkpoint"):
            load_checkpoint(tmp_path / name)
    assert not MARKER.exists()


# --- SIGKILL while writing ----------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, torch
    from lrcourse.models import mlp
    from lrcourse.training import fit
    torch.manual_seed(0)
    X, y = torch.randn(64, 512), torch.randint(0, 10, (64,))
    model = mlp(512, hidden=(1024, 1024))  # a checkpoint of about 20 MB: writing it takes a while
    print("ready", flush=True)
    fit(model, (X, y), epochs=10**6, optimizer=torch.optim.SGD(model.parameters(), lr=1e-3),
        checkpoint_path=sys.argv[1], progress=False)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_while_writing_always_leaves_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "k.pt"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(1)
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline().strip() == b"ready"
        deadline = time.time() + 60
        while not path.exists() and time.time() < deadline:  # at least one checkpoint written
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))  # then kill at a random moment, often mid-write
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert load_checkpoint(path)["epoch"] >= 1
