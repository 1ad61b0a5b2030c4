"""lrcourse.distributed: data-parallel fit under torchrun (gloo on the CPU).

The property: world size 2 with ``--batch-size 32`` is the same optimisation as world size 1
with ``--batch-size 64`` over the same sample order (same LR at every update, losses equal to
float rounding). Resuming a 2-process run from rank 0's checkpoint is bitwise the
uninterrupted run. Bad arguments fail on every rank with one clear line, without a hang.

Process start-up dominates (about 3 s of CPU per process), so the torchrun launches run once
per module, two at a time.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from lrcourse import distributed as D
from lrcourse.data import Batches
from lrcourse.models import mlp
from lrcourse.training import fit

ARGS = ["--data", "digits", "--epochs", "2", "--lr", "0.1", "--schedule", "cosine", "--seed", "0", "--hidden", "32"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def torchrun(nproc, *args):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "lrcourse.distributed", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def finish(proc, timeout=240):
    out, err = proc.communicate(timeout=timeout)  # a hang fails the test here, it does not block the suite
    return proc.returncode, out + err


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """World-2 runs: uninterrupted (2 epochs), first half (1 epoch), the resumed half; bad arguments."""
    tmp = tmp_path_factory.mktemp("ddp")
    full = torchrun(2, *ARGS, "--batch-size", "32", "--checkpoint", str(tmp / "full.pt"),
                    "--out", str(tmp / "full.json"))
    half = torchrun(2, *ARGS, "--batch-size", "32", "--stop-after", "1", "--checkpoint", str(tmp / "half.pt"),
                    "--out", str(tmp / "half.json"))
    bad = torchrun(2, *ARGS, "--batch-size", "32", "--warmup-epochs", "5", "--out", str(tmp / "bad.json"))
    results = {"half": finish(half)}
    resumed = torchrun(2, *ARGS, "--batch-size", "32", "--checkpoint", str(tmp / "resumed.pt"), "--resume",
                       str(tmp / "half.pt"), "--out", str(tmp / "resumed.json"))
    results |= {"full": finish(full), "bad": finish(bad, timeout=120), "resumed": finish(resumed)}
    for name in ("full", "half", "resumed"):
        rc, log = results[name]
        assert rc == 0, f"torchrun ({name}) failed:\n{log[-3000:]}"
    return tmp, results


def test_two_processes_at_batch_32_are_one_process_at_batch_64(launched, tmp_path):
    tmp, _ = launched
    two = json.loads((tmp / "full.json").read_text())
    assert main([*ARGS, "--batch-size", "64", "--out", str(tmp_path / "one.json")]) == 0  # python -m, no torchrun
    one = json.loads((tmp_path / "one.json").read_text())
    assert (two["world_size"], two["backend"], two["global_batch_size"]) == (2, "gloo", 64)
    assert (one["world_size"], one["backend"], one["global_batch_size"]) == (1, None, 64)
    assert len(two["lr"]) == len(one["lr"]) == 2 * 17  # ceil(1079 / 64) updates per epoch
    assert two["lr"] == one["lr"]  # bitwise: the schedule counts updates, the same on every rank
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5)
    np.testing.assert_allclose(two["val_loss"], one["val_loss"], rtol=1e-5)
    assert len(two["val_acc"]) == 2 and abs(two["val_acc"][-1] - one["val_acc"][-1]) <= 1 / 359


def main(argv):
    return D.main(argv)


def test_resuming_rank_0s_checkpoint_is_bitwise_the_uninterrupted_run(launched):
    tmp, _ = launched
    full, resumed = (json.loads((tmp / f"{n}.json").read_text()) for n in ("full", "resumed"))
    for key in ("lr", "loss", "train_loss", "val_loss", "val_acc", "epoch_steps"):
        assert resumed[key] == full[key], key
    a, b = (torch.load(tmp / f"{n}.pt", weights_only=True) for n in ("full", "resumed"))
    assert a["epoch"] == b["epoch"] == 2
    assert a["model"].keys() == b["model"].keys() and not any(k.startswith("module.") for k in a["model"])
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_a_two_process_checkpoint_resumes_in_one_process_with_the_same_global_batch(launched, tmp_path):
    tmp, _ = launched
    out = tmp_path / "one.json"
    assert main([*ARGS, "--batch-size", "64", "--resume", str(tmp / "half.pt"), "--out", str(out)]) == 0
    one, two = json.loads(out.read_text()), json.loads((tmp / "full.json").read_text())
    assert one["world_size"] == 1 and one["lr"] == two["lr"]
    assert one["loss"][:17] == two["loss"][:17]  # the first epoch: restored from the 2-process run
    np.testing.assert_allclose(one["loss"][17:], two["loss"][17:], rtol=1e-5)  # the second: trained here


def test_bad_arguments_fail_on_every_rank_without_a_hang(launched):
    _, results = launched
    rc, log = results["bad"]
    assert rc != 0
    for rank in (0, 1):
        assert f"[rank {rank}] lrcourse.distributed: error: --warmup-epochs 5 is" in log, log[-2000:]


@pytest.mark.parametrize("argv, words", [
    (["--lr", "-0.1"], "argument --lr: lr must be"),
    (["--lr", "x"], "argument --lr: needs a number, got 'x'"),
    (["--batch-size", "0"], "batch_size must be"),
    (["--schedule", "nope"], "argument --schedule: invalid choice"),
    (["--epochs", "1", "--warmup-epochs", "1"], "--warmup-epochs 1 is 17 updates, not fewer than the run's 17"),
    (["--seed", "0", "1", "--checkpoint", "c.pt"], "--checkpoint/--resume need a single run"),
    (["--world-sizes", "2"], "--world-sizes 2: this launch has only 1 process"),
    (["--resume", "missing.pt"], "--resume missing.pt: no such file"),
    ([], "the following arguments are required: --out"),
])
def test_bad_arguments_are_one_line_and_exit_status_2(argv, words, capsys, tmp_path):
    extra = [] if argv == [] else ["--out", str(tmp_path / "x.json")]
    assert D.main(["--batch-size", "64", *argv, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("[rank 0] lrcourse.distributed: error: ") and words in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("n, batch_size, world_size", [(10, 2, 2), (11, 3, 2), (1079, 32, 4), (5, 2, 3), (7, 4, 1)])
def test_the_ranks_slices_make_up_the_single_process_batches(n, batch_size, world_size):
    X, y = torch.arange(n, dtype=torch.float32)[:, None], torch.arange(n)
    one = Batches(X, y, batch_size * world_size, seed=3)
    shards = [D.ShardedBatches(X, y, batch_size, r, world_size, seed=3) for r in range(world_size)]
    for epoch in (0, 1):
        for b in (one, *shards):
            b.set_epoch(epoch)
        expected = [yb.tolist() for _, yb in one]
        per_rank = [list(s) for s in shards]
        weights = [[] for _ in shards]
        for r, s in enumerate(shards):  # the weight of each slice, read while iterating
            weights[r] = [s.weight for _ in s]
            assert s.weight == 1.0  # reset after the epoch: validation sees plain losses
        assert all(len(p) == len(expected) == len(s) for p, s in zip(per_rank, shards))
        for i, batch in enumerate(expected):
            assert sum((per_rank[r][i][1].tolist() for r in range(world_size)), []) == batch
            m, sizes = len(batch), [len(per_rank[r][i][1]) for r in range(world_size)]
            assert max(sizes) - min(sizes) <= 1
            for r in range(world_size):
                assert weights[r][i] == (1.0 if m == batch_size * world_size else sizes[r] * world_size / m)


@torch.no_grad()
def test_the_weighted_slice_losses_average_to_the_global_batch_loss():
    torch.manual_seed(0)
    X, y = torch.randn(11, 4), torch.randint(0, 3, (11,))
    model = torch.nn.Linear(4, 3)
    shards = [D.ShardedBatches(X, y, 2, r, 3, shuffle=False) for r in range(3)]
    full = Batches(X, y, 6, shuffle=False)
    for i, (xb, yb) in enumerate(full):
        losses = []
        for s in shards:
            xs, ys = list(iter(s))[i]
            s.weight = 1.0 if len(yb) == 6 else len(ys) * 3 / len(yb)
            losses.append(D._ShardLoss(torch.nn.functional.cross_entropy, s)(model(xs), ys))
        assert float(sum(losses) / 3) == pytest.approx(float(torch.nn.functional.cross_entropy(model(xb), yb)),
                                                        rel=1e-6)


def test_one_process_is_plain_fit_bitwise():
    X, y = torch.rand(100, 5), torch.randint(0, 3, (100,))
    runs = []
    for how in ("fit", "fit_distributed"):
        model = mlp(5, hidden=(8,), out_features=3, seed=1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        if how == "fit":
            h = fit(model, (X, y), epochs=2, optimizer=opt, batch_size=16, seed=4, progress=False)
        else:
            h = D.fit_distributed(model, (X, y), epochs=2, optimizer=opt, batch_size=16, seed=4)
        runs.append((h.loss, h.lr, [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][2], runs[1][2]))


def test_backend_follows_the_device():
    assert D.backend_for("cpu") == "gloo" and D.backend_for(torch.device("cuda", 0)) == "nccl"
    assert D.rank_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            D.rank_device("cuda")


def test_command_and_its_options():
    cmd = D.command(4, lr=[0.1], lr_scaling=["none", "linear"], world_sizes=[1, 2, 4], progress=True, out="r.json")
    assert cmd[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4"]
    assert cmd[5:] == ["-m", "lrcourse.distributed", "--lr", "0.1", "--lr-scaling", "none", "linear",
                       "--world-sizes", "1", "2", "4", "--progress", "--out", "r.json"]
    assert D.command(1, out="r.json") == [sys.executable, "-m", "lrcourse.distributed", "--out", "r.json"]
    with pytest.raises(TypeError, match="unknown option"):
        D.command(2, learning_rate=0.1)
    with pytest.raises(ValueError, match="nproc"):
        D.command(0)


def test_launch_reports_a_failed_launch():
    with pytest.raises(RuntimeError, match="(?s)exited with status 2:.*batch_size must be"):
        D.launch(1, batch_size=0, timeout=120)


def test_warmup_schedule():
    assert D.warmup_schedule("cosine", 0.4, 10) == D.RECIPES["cosine"](0.4, 10)
    s = D.warmup_schedule("cosine", 0.4, 10, 4)
    assert [round(s(t), 3) for t in (0, 2, 4, 10)] == [0.0, 0.2, 0.4, 0.0]
    with pytest.raises(ValueError, match="warmup_steps must be < total_steps = 10"):
        D.warmup_schedule("cosine", 0.4, 10, 10)
