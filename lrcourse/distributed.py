r"""Data-parallel training: ``fit`` under torch's ``DistributedDataParallel``, launched by ``torchrun``.

One command trains on any number of processes, on one machine or several::

    torchrun --standalone --nproc_per_node=2 -m lrcourse.distributed --data digits --epochs 2 \
        --batch-size 32 --lr 0.1 --schedule cosine --seed 0 --out run.json
    python -m lrcourse.distributed --data digits --epochs 2 --batch-size 64 ...   # one process

What each of the ``W`` processes (ranks) does, and why the result is one ordinary run:

- **Backend**: NCCL when the ranks train on CUDA, gloo on the CPU, chosen from the device.
- **Data**: every rank holds the whole training set and draws the same shuffled order from
  ``(seed, epoch)`` (as ``Batches``). Update i uses the i-th *global* batch of
  ``G = W x batch_size`` samples of that order; rank r takes its r-th slice
  (:class:`ShardedBatches`). The last, partial global batch is split as evenly as possible.
- **Gradients**: DDP averages them over the ranks during ``backward``. Each rank's loss is the
  mean over its slice times ``n_r W / m`` (``n_r`` samples of the ``m`` in the global batch: 1
  except on an uneven last batch), so the average is exactly the gradient of the mean loss over
  the global batch. Hence the property this module is tested on: ``W`` processes with
  ``batch_size=b`` run the same optimisation as one process with ``batch_size=W b`` over the
  same sample order (same LR at every update, losses equal to float rounding).
- **Schedule**: a function of the update count, the same on every rank; an epoch has
  ``ceil(n / G)`` updates, so more ranks at a fixed ``batch_size`` means fewer, larger updates.
- **History**: the batch losses stay on the device and are all-reduced (averaged over ranks) once
  per epoch, not per update; every rank's ``History`` is complete; rank 0 writes the results.
- **Checkpoints**: rank 0 writes them (``lrcourse.checkpoint``), every rank resumes from the
  file. They hold the plain model's weights and the *global* batch size, so a checkpoint also
  resumes at another world size with the same global batch.
- **Errors**: arguments are checked before any process talks to another, so a bad one gives the
  same one-line error on every rank and exit status 2; if one rank fails later, ``torchrun``
  stops the others.

``--lr``, ``--lr-scaling``, ``--warmup-epochs`` and ``--seed`` take several values: the launch
then trains the whole grid, one run after the other, so process start-up (about 3 s of CPU per
process: ``import torch``, and the first optimizer imports ``torch._dynamo``) is paid once.
``--world-sizes 1 2 4`` also trains the grid on the first 1 and 2 processes of a 4-process
launch (the others wait): a scaling study in one launch. ``command()`` and ``launch()`` run it from Python (a notebook).

>>> b = ShardedBatches(torch.arange(10.0), torch.arange(10), batch_size=2, rank=1, world_size=2, shuffle=False)
>>> len(b), b.batch_size, [y.tolist() for _, y in b]    # global batches [0..3], [4..7], [8, 9]
(3, 4, [[2, 3], [6, 7], [9]])
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from lrcourse import _checks
from lrcourse import schedules as S
from lrcourse._io import write_text_atomic
from lrcourse.callbacks import Callback, StopTraining
from lrcourse.data import Batches, _epoch_seed
from lrcourse.recipes import RECIPES, recipe
from lrcourse.seeding import course_seed, seed_offset
from lrcourse.training import History, evaluate, fit

__all__ = ["ShardedBatches", "backend_for", "rank_device", "world", "fit_distributed", "warmup_schedule", "LR_SCALINGS",
           "shared_data",
           "train", "main", "command", "launch", "read_runs", "OPTIONS"]

PROG = "lrcourse.distributed"


# --- who am I ------------------------------------------------------------------------------------


def world(group=None) -> tuple[int, int]:
    """``(rank, world_size)`` in ``group`` (default: all processes); ``(0, 1)`` without a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(group), dist.get_world_size(group)
    return 0, 1


def backend_for(device) -> str:
    """The ``torch.distributed`` backend for ranks training on ``device``: NCCL on CUDA, gloo elsewhere.

    >>> backend_for("cpu"), backend_for("cuda:1")
    ('gloo', 'nccl')
    """
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def rank_device(prefer=None, local_rank: int = 0) -> torch.device:
    """The device of the rank with ``local_rank`` on its machine: ``cuda:local_rank`` if CUDA is there.

    ``prefer="cpu"`` forces the CPU, ``"cuda"`` demands CUDA (ValueError without it). Apple's MPS
    is not used: DDP does not run on it, so those ranks train on the CPU.
    """
    if prefer is not None:
        prefer = _checks.choice("device", str(prefer), ("cpu", "cuda"))
    if prefer == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but CUDA is not available on this machine")
    if prefer != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


# --- the data: one slice of every global batch per rank -------------------------------------------


class ShardedBatches(Batches):
    """Rank ``rank``'s slices of the global batches of ``world_size x batch_size`` samples.

    Every rank draws the same order as ``Batches(X, y, world_size * batch_size, seed=seed)``
    (a pure function of ``(course_seed(seed), epoch)``; call ``set_epoch``) and cuts global batch
    i into ``world_size`` contiguous slices (``torch.tensor_split``: equal, except on a partial
    last batch, where they differ by at most one sample; a slice may then be empty). The union
    of the slices of update i over the ranks is global batch i of the single-process order.

    ``batch_size`` is the *global* batch (what one update averages over, so ``len()`` is the
    number of updates per epoch, as for ``Batches``); ``local_batch_size`` is this rank's.
    ``weight`` is ``n_r * world_size / m`` for the slice yielded last (``n_r`` of the ``m``
    samples of its global batch): what the rank's mean loss is multiplied by so that the
    average over ranks is the mean over the global batch. It is 1.0 for every full batch.

    >>> [[y.tolist() for _, y in ShardedBatches(torch.arange(5.0), torch.arange(5), 2, r, 2, shuffle=False)]
    ...  for r in (0, 1)]
    [[[0, 1], [4]], [[2, 3], []]]
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int = 32, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True, seed: int = 0):
        world_size = _checks.integer("world_size", world_size, minimum=1)
        rank = _checks.integer("rank", rank, minimum=0, maximum=world_size - 1)
        local = _checks.integer("batch_size", batch_size, minimum=1)
        super().__init__(X, y, batch_size=local * world_size, shuffle=shuffle, seed=seed)
        self.rank, self.world_size, self.local_batch_size = rank, world_size, local
        self.weight = 1.0

    def __iter__(self):
        n, global_bs, w = self.X.shape[0], self.batch_size, self.world_size
        if self.shuffle:
            g = torch.Generator().manual_seed(_epoch_seed(course_seed(self.seed), self.epoch))
            order = torch.randperm(n, generator=g).to(self.X.device)
        else:
            order = torch.arange(n, device=self.X.device)
        try:
            for i in range(len(self)):
                batch = order[i * global_bs:(i + 1) * global_bs]
                idx = torch.tensor_split(batch, w)[self.rank]
                m = len(batch)
                self.weight = 1.0 if m == global_bs else len(idx) * w / m
                yield self.X[idx], self.y[idx]
        finally:
            self.weight = 1.0  # validation and anything else after the epoch see plain losses

    def __repr__(self) -> str:
        return (f"ShardedBatches(n={self.X.shape[0]}, batch_size={self.local_batch_size} per rank x "
                f"{self.world_size} ranks, rank={self.rank}, shuffle={self.shuffle}, seed={self.seed})")


class _ShardLoss:
    """``loss_fn`` times the slice's weight: the ranks' average is the global batch's mean loss."""

    def __init__(self, fn, batches: ShardedBatches):
        self.fn, self.batches = fn, batches

    def __call__(self, output, y):
        weight = self.batches.weight
        if weight == 1.0:
            return self.fn(output, y)
        if len(y) == 0:  # an empty slice of a short last batch: no loss, but a gradient (of zeros) for DDP
            return output.sum() * 0.0
        return self.fn(output, y) * weight


class _DDP(DistributedDataParallel):
    """DDP whose ``state_dict`` is the wrapped model's: its checkpoints load into the plain model."""

    def state_dict(self, *args, **kwargs):
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.module.load_state_dict(state_dict, strict=strict, assign=assign)


class _DataParallel(Callback):
    """Tells ``fit`` which process writes (rank 0) and how to average the epoch's losses over ranks."""

    order = -100

    def __init__(self, rank: int, world_size: int, group=None):
        self.rank, self.world_size, self.group = rank, world_size, group

    def before_fit(self, trainer):
        trainer.is_main = self.rank == 0
        if self.world_size > 1:
            trainer.reduce_losses = self.mean_over_ranks

    def mean_over_ranks(self, losses: torch.Tensor) -> torch.Tensor:
        losses = losses.clone()
        dist.all_reduce(losses, op=dist.ReduceOp.SUM, group=self.group)  # one collective per epoch (gloo has no AVG)
        return losses / self.world_size


def fit_distributed(model: nn.Module, train, val=None, *, epochs: int, optimizer, batch_size: int = 32,
                    loss_fn=None, callbacks=(), device=None, progress: bool = False, seed: int = 0, group=None,
                    **fit_kwargs) -> History:
    """``fit`` on this rank's shard of ``train``, the model wrapped in DDP when there are several ranks.

    Call it on every rank with the same arguments (after ``torch.distributed.init_process_group``;
    without a process group it is plain ``fit`` over the same batches, world size 1).
    ``train``: the whole ``(X, y)`` training set on every rank; ``batch_size``: per rank (the
    global batch is ``world_size x batch_size``); ``optimizer``: built on ``model.parameters()``
    (or a factory). Other keywords (``schedule``, ``step_per``, ``checkpoint_path``,
    ``resume_from``, ...) are ``fit``'s; checkpoints are written by rank 0 only. ``model`` is
    trained in place; the returned ``History`` is the same on every rank, its losses averaged
    over the ranks. ``group``: train on the processes of this ``torch.distributed`` group only
    (default: all of them); only they call this function.
    """
    if not (isinstance(train, (tuple, list)) and len(train) == 2 and all(isinstance(t, torch.Tensor) for t in train)):
        raise TypeError(f"train must be an (X, y) tuple of tensors (the whole training set, on every rank), "
                        f"got {type(train).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    rank, world_size = world(group)
    device = torch.device(device) if device is not None else train[0].device
    batches = ShardedBatches(train[0].to(device), train[1].to(device), batch_size, rank, world_size, seed=seed)
    model.to(device)
    net = model
    if world_size > 1:
        net = _DDP(model, device_ids=[device.index] if device.type == "cuda" else None, process_group=group)
    loss = _ShardLoss(nn.functional.cross_entropy if loss_fn is None else loss_fn, batches)
    return fit(net, batches, val, epochs=epochs, optimizer=optimizer, loss_fn=loss, batch_size=batches.batch_size,
               callbacks=[_DataParallel(rank, world_size, group), *callbacks], device=device,
               progress=progress and rank == 0, seed=seed, **fit_kwargs)


# --- one run of the command line ------------------------------------------------------------------


def warmup_schedule(name: str, peak_lr: float, total_steps: int, warmup_steps: int = 0):
    """Recipe ``name`` scaled to ``total_steps`` updates, after a linear warmup from 0 over ``warmup_steps``.

    The warmup is part of ``total_steps``; without one it is the recipe itself.

    >>> warmup_schedule("cosine", 1.0, 4, 2).curve(5).round(3).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    make = recipe(name)
    total_steps = _checks.integer("total_steps", total_steps, minimum=1)
    warmup_steps = _checks.integer("warmup_steps", warmup_steps, minimum=0)
    if warmup_steps >= total_steps:
        raise ValueError(f"warmup_steps must be < total_steps = {total_steps} updates, got {warmup_steps}")
    if warmup_steps == 0:
        return make(peak_lr, total_steps)
    return S.Join((S.Linear(0.0, peak_lr, warmup_steps), make(peak_lr, total_steps - warmup_steps)), (warmup_steps,))


#: How the peak LR grows with the world size W (``--lr-scaling``): ``--lr`` is the LR of one
#: process's batch; "linear" multiplies it by W (Goyal et al., 2017), "sqrt" by sqrt(W)
#: (Krizhevsky, 2014), "none" keeps it.
LR_SCALINGS = {"none": lambda w: 1.0, "linear": float, "sqrt": math.sqrt}


def _plan(config: dict, n_train: int, world_size: int) -> dict:
    """Global batch, peak LR, updates per epoch, warmup and total updates, and the schedule of one run."""
    global_bs = config["batch_size"] * world_size
    per_epoch = -(-n_train // global_bs)
    total = config["epochs"] * per_epoch
    warmup = round(config["warmup_epochs"] * per_epoch)
    peak = config["lr"] * LR_SCALINGS[config.get("lr_scaling", "none")](world_size)
    schedule = warmup_schedule(config["schedule"], peak, total, warmup)
    return {"global_batch_size": global_bs, "peak_lr": peak, "steps_per_epoch": per_epoch, "total_steps": total,
            "warmup_steps": warmup, "schedule": schedule}


def shared_data(name: str, group=None):
    """Dataset ``name`` (``lrcourse.experiments.DATASETS``) on the CPU, built by rank 0 and sent to the others.

    The course's datasets are small, and building one (scikit-learn's loader, MNIST-1D's
    generator) costs a process more than receiving it; every rank also gets the very same
    tensors. Without a process group it is ``load_data(name)``.
    """
    from lrcourse.experiments import load_data

    rank, world_size = world(group)
    if world_size == 1:
        return load_data(name)
    box = [load_data(name) if rank == 0 else None]
    dist.broadcast_object_list(box, src=dist.get_global_rank(group, 0) if group is not None else 0, group=group)
    return box[0]


class _StopAfter(Callback):
    """End the run after ``epochs`` epochs (its schedule still spans all of them): a run cut short."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def after_epoch(self, trainer):
        if trainer.epoch + 1 >= self.epochs:
            raise StopTraining(f"stopped after {self.epochs} epoch(s) (--stop-after)")


def train(config: dict, *, data=None, device=None, group=None, checkpoint_path=None, resume_from=None,
          stop_after=None, progress=False) -> dict:
    """Train one run of the command line on every rank of ``group``; return its record (a JSON-ready dict).

    ``config`` holds the command's settings (``data``, ``epochs``, ``batch_size`` per rank, ``lr``,
    ``lr_scaling``, ``schedule``, ``warmup_epochs``, ``seed``, ``optimizer``, ``momentum``, ``weight_decay``,
    ``hidden``); ``data`` the dataset it names (default: ``shared_data``). The record: the
    config, ``world_size``, ``global_batch_size``, ``peak_lr``, ``steps_per_epoch``, ``warmup_steps``,
    ``total_steps``, ``lr`` and ``loss`` per update, ``train_loss``, ``val_loss``, ``val_acc``,
    ``epoch_time`` and ``epoch_steps`` per epoch, ``test_loss``/``test_acc`` at the end (rank 0
    only; NaN elsewhere) and ``samples_per_s`` (training samples over the median epoch time,
    validation included). ``stop_after``: end after that many epochs, as if interrupted (the
    checkpoint then resumes the run).
    """
    from lrcourse.experiments import make_optimizer
    from lrcourse.models import mlp

    rank, world_size = world(group)
    device = torch.device(device) if device is not None else rank_device()
    ds = data if data is not None else shared_data(config["data"], group)
    train_set, val_set, test_set = ((X.to(device), y.to(device)) for X, y in (ds.train, ds.val, ds.test))
    plan = _plan(config, len(train_set[1]), world_size)
    model = mlp(ds.num_features, hidden=tuple(config["hidden"]), out_features=ds.num_classes, seed=config["seed"])
    optimizer = make_optimizer(config["optimizer"], model.parameters(), plan["peak_lr"], config["momentum"],
                               config["weight_decay"])
    history = fit_distributed(model, train_set, val_set, epochs=config["epochs"], optimizer=optimizer,
                              batch_size=config["batch_size"], schedule=plan["schedule"], device=device,
                              seed=config["seed"], group=group, progress=progress, checkpoint_path=checkpoint_path,
                              resume_from=resume_from, callbacks=[_StopAfter(stop_after)] if stop_after else [])
    history.assert_follows(plan["schedule"], rtol=1e-6)  # the LR applied is the LR intended, on every rank
    test_loss, test_acc = evaluate(model, test_set) if rank == 0 else (math.nan, math.nan)  # no collective
    times = history.epoch_time
    return {
        "config": dict(config), "seed_offset": seed_offset(), "world_size": world_size,
        "backend": dist.get_backend(group) if world_size > 1 else None, "device": str(device),
        **{k: v for k, v in plan.items() if k != "schedule"}, "schedule_repr": repr(plan["schedule"]),
        **history.to_dict(), "test_loss": test_loss, "test_acc": test_acc, "train_samples": len(train_set[1]),
        "samples_per_s": len(train_set[1]) / statistics.median(times) if times else math.nan,
    }


# --- the command line -----------------------------------------------------------------------------


class UsageError(Exception):
    """Bad arguments: one line on every rank's stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see 'python -m {PROG} --help')")


def _arg(kind, name, **bounds):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"needs {what}, got {text!r}") from None
        try:
            return (_checks.integer if kind is int else _checks.real)(name, value, **bounds)
        except (TypeError, ValueError) as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    parse.__name__ = kind.__name__
    return parse


def _parser() -> argparse.ArgumentParser:
    from lrcourse.experiments import DATASETS, OPTIMIZERS

    p = _Parser(prog=f"python -m {PROG}", description="Train one run (or a grid of runs) data-parallel on every "
                "process torchrun starts; rank 0 writes the results as JSON.")
    p.add_argument("--data", default="digits", choices=DATASETS)
    p.add_argument("--epochs", type=_arg(int, "epochs", minimum=1), default=2)
    p.add_argument("--batch-size", type=_arg(int, "batch_size", minimum=1), default=32,
                   help="per process; the global batch is world size x this")
    p.add_argument("--lr", type=_arg(float, "lr", low=0.0, low_open=True), nargs="+", default=[0.1],
                   help="peak LR for one process's batch (several: a grid)")
    p.add_argument("--lr-scaling", nargs="+", choices=list(LR_SCALINGS), default=["none"],
                   help="the peak LR at world size W: --lr times W (linear), sqrt(W), or 1 (none); several: a grid")
    p.add_argument("--schedule", default="cosine", choices=list(RECIPES), help="a recipe scaled to the run")
    p.add_argument("--warmup-epochs", type=_arg(float, "warmup_epochs", low=0.0), nargs="+", default=[0.0],
                   help="linear warmup from 0, in epochs (rounded to updates; several: a grid)")
    p.add_argument("--seed", type=_arg(int, "seed", minimum=0), nargs="+", default=[0], help="several: a grid")
    p.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS)
    p.add_argument("--momentum", type=_arg(float, "momentum", low=0.0, high=1.0, high_open=True), default=0.9)
    p.add_argument("--weight-decay", type=_arg(float, "weight_decay", low=0.0), default=0.0)
    p.add_argument("--hidden", type=_arg(int, "hidden", minimum=1), nargs="+", default=[256, 256])
    p.add_argument("--world-sizes", type=_arg(int, "world_sizes", minimum=1), nargs="+", default=None,
                   help="train the grid at each of these world sizes, on the first W processes of the launch "
                        "(the others wait): one launch for a scaling study; default: all processes")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: CUDA if present, else CPU")
    p.add_argument("--checkpoint", default=None, help="checkpoint file, written by rank 0 after every epoch")
    p.add_argument("--resume", default=None, help="continue from this checkpoint")
    p.add_argument("--stop-after", type=_arg(int, "stop_after", minimum=1), default=None,
                   help="end after this many epochs, as if interrupted (resume it with --resume)")
    p.add_argument("--out", required=True, help="JSON file written by rank 0")
    p.add_argument("--progress", action="store_true", help="a progress bar on rank 0")
    return p


#: The command's options, as ``command()`` and ``launch()`` take them (keyword arguments).
OPTIONS = ("data", "epochs", "batch_size", "lr", "lr_scaling", "schedule", "warmup_epochs", "seed", "optimizer",
           "momentum", "weight_decay", "hidden", "world_sizes", "device", "checkpoint", "resume", "stop_after", "out",
           "progress")


def _configs(args, launched: int) -> tuple[list[dict], list[int]]:
    """The runs the arguments ask for (a grid over ``--lr``, ``--warmup-epochs``, ``--seed``) and the
    world sizes to train them at, checked against the ``launched`` processes."""
    from lrcourse.experiments import steps_per_epoch

    fixed = {k: getattr(args, k) for k in ("data", "epochs", "batch_size", "schedule", "optimizer", "momentum",
                                           "weight_decay", "hidden")}
    configs = [{**fixed, "lr": lr, "lr_scaling": how, "warmup_epochs": w, "seed": s}
               for lr, how, w, s in itertools.product(args.lr, args.lr_scaling, args.warmup_epochs, args.seed)]
    sizes = list(dict.fromkeys(args.world_sizes or [launched]))
    too_many = [w for w in sizes if w > launched]
    if too_many:
        raise UsageError(f"--world-sizes {' '.join(map(str, too_many))}: this launch has only {launched} "
                         f"process(es) (torchrun --nproc_per_node=... x --nnodes=...)")
    if len(configs) * len(sizes) > 1 and (args.checkpoint or args.resume):
        raise UsageError("--checkpoint/--resume need a single run: give one value each to --lr, --lr-scaling, "
                         "--warmup-epochs, --seed and --world-sizes")
    if args.resume is not None and not Path(args.resume).is_file():
        raise UsageError(f"--resume {args.resume}: no such file")
    for size in sizes:
        per_epoch = steps_per_epoch(args.data, args.batch_size * size)
        for c in configs:
            warmup = round(c["warmup_epochs"] * per_epoch)
            if warmup >= c["epochs"] * per_epoch:
                raise UsageError(f"--warmup-epochs {c['warmup_epochs']:g} is {warmup} updates, not fewer than "
                                 f"the run's {c['epochs'] * per_epoch} ({c['epochs']} epochs x {per_epoch} updates "
                                 f"of {args.batch_size * size} samples at world size {size})")
    return configs, sizes


def _distinct(configs: list[dict], world_size: int) -> list[dict]:
    """The configs that train something new at ``world_size``: two LR scalings that give the same peak LR
    (every scaling at world size 1) are one run, recorded under the first scaling given."""
    seen, out = set(), []
    for c in configs:
        key = tuple(sorted({**c, "lr_scaling": None, "lr": c["lr"] * LR_SCALINGS[c["lr_scaling"]](world_size)}.items(),
                           key=lambda kv: kv[0]))
        key = repr(key)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lrcourse.distributed`` (under ``torchrun`` on every rank): parse, train, write ``--out``."""
    rank, launched = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    try:
        args = _parser().parse_args(argv)
        configs, sizes = _configs(args, launched)  # every check before any process talks to another
        device = rank_device(args.device, int(os.environ.get("LOCAL_RANK", "0")))
    except (UsageError, ValueError, TypeError) as err:
        print(f"[rank {rank}] {PROG}: error: {err}", file=sys.stderr)
        return 2
    owns_group = "WORLD_SIZE" in os.environ and not dist.is_initialized()
    if owns_group:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend_for(device))
    try:
        rank, launched = world()
        data, runs = shared_data(args.data), []
        for size in sizes:
            # the first `size` processes train; new_group is called by every process, members or not
            group = None if size == launched else dist.new_group(list(range(size)))
            if rank < size:
                runs += [train(c, data=data, device=device, group=group, checkpoint_path=args.checkpoint,
                               resume_from=args.resume, stop_after=args.stop_after, progress=args.progress)
                         for c in _distinct(configs, size)]
            if size < launched:
                dist.barrier()  # the others wait for them
        if rank == 0:
            write_text_atomic(args.out, json.dumps(runs[0] if len(runs) == 1 else runs))
    finally:
        if owns_group:
            dist.destroy_process_group()
    return 0


# --- from Python: the command line, and a launch that returns the runs ----------------------------


def _flags(options: dict) -> list[str]:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; the options are {list(OPTIONS)}")
    out = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if key == "progress":
            out += [flag] if _checks.boolean("progress", value) else []
        elif value is not None:
            values = list(value) if isinstance(value, (list, tuple, range)) else [value]
            out += [flag, *(str(v) for v in values)]
    return out


def command(nproc: int = 1, **options) -> list[str]:
    """The command line that trains with ``nproc`` processes on this machine (a list for ``subprocess``).

    ``options`` are the command's (:data:`OPTIONS`; a list gives several values). ``nproc=1``
    runs the module directly; more go through ``torchrun --standalone`` (``python -m
    torch.distributed.run``, the same program).

    >>> " ".join(command(2, lr=[0.1, 0.2], out="run.json")[1:])
    '-m torch.distributed.run --standalone --nproc_per_node=2 -m lrcourse.distributed --lr 0.1 0.2 --out run.json'
    """
    nproc = _checks.integer("nproc", nproc, minimum=1)
    launcher = [] if nproc == 1 else ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    return [sys.executable, *launcher, "-m", PROG, *_flags(options)]


def read_runs(path) -> list[dict]:
    """The runs a launch wrote to ``path``: always a list (one run is a list of one)."""
    data = json.loads(Path(path).read_text())
    return [data] if isinstance(data, dict) else data


def launch(nproc: int = 1, *, timeout: float = 600, **options) -> list[dict]:
    """Run ``command(nproc, **options)`` in worker processes, wait, and return its runs (``read_runs``).

    The workers inherit the environment (``LRCOURSE_SEED_OFFSET`` included) with one thread
    each. ``out`` defaults to a temporary file, removed afterwards. A failed launch raises
    RuntimeError with the end of its error output.
    """
    with tempfile.TemporaryDirectory(prefix="lrcourse-ddp-") as tmp:
        options = {"out": str(Path(tmp) / "run.json"), **options}
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(command(nproc, **options), capture_output=True, text=True, timeout=timeout, env=env)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise RuntimeError(f"{nproc} process(es) exited with status {done.returncode}:\n{tail}")
        return read_runs(options["out"])


if __name__ == "__main__":
    sys.exit(main())
