r"""Schedules x peak LRs x seeds -> tidy results: the controlled comparison, as a function.

A fair schedule comparison gives every schedule the same budget (``epochs``), model, data,
optimizer and seeds, scales each schedule to that budget, and lets each schedule pick **its
own** best peak LR from a grid: schedules have different optimal peaks, so one shared peak LR
decides the ranking before training starts (notebook 10 measures this). ``compare`` runs that
grid, chooses each schedule's peak on the validation split and reports it on the test split
(choosing and reporting on the same samples would inflate the winner):

>>> res = compare(["constant", "cosine"], lrs=[0.03, 0.1], seeds=[0, 1],
...               data="digits", hidden=(32,), epochs=2, progress=False)   # doctest: +SKIP
>>> print(res)                                                           # doctest: +SKIP

Each run is a pure function of its :class:`RunConfig` (``run_one(config) -> dict``), so runs
can be cached on disk (``cache_dir``), run in parallel (``n_jobs``) and compared row by row.
Seeds are shifted by ``LRCOURSE_SEED_OFFSET`` (``lrcourse.seeding``): the offset in force when
the grid is built is stored in each config, so worker processes reproduce it.
A run also checks that the LR the optimizer actually applied at every update equals the
intended schedule, and raises if it does not.
"""
from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import functools
import hashlib
import io
import json
import math
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from lrcourse import schedules as S
from lrcourse.evidence import Verdict, compare_arms
from lrcourse.seeding import seed_offset, use_offset

# --------------------------------------------------------------------------------------------
# Recipes: a schedule scaled to a run, from (peak LR, number of updates)
# --------------------------------------------------------------------------------------------


def constant(peak_lr: float, total_steps: int):
    """The peak LR throughout: the control every decay is measured against.

    >>> constant(0.1, 100)(99)
    0.1
    """
    return S.Constant(lr=peak_lr)


def step(peak_lr: float, total_steps: int):
    """Divide by 10 at 50% and again at 75% of the budget (the classic ResNet recipe).

    >>> [round(step(1.0, 100)(t), 3) for t in (49, 50, 75)]
    [1.0, 0.1, 0.01]
    """
    b1, b2 = round(0.5 * total_steps), round(0.75 * total_steps)
    return S.PiecewiseConstant(boundaries=(b1, b2), values=(peak_lr, peak_lr / 10, peak_lr / 100))


def exponential(peak_lr: float, total_steps: int):
    r"""Smooth exponential decay to 1% of the peak at the end: :math:`\eta_t = \eta_0\,0.01^{t/T}`.

    >>> [round(exponential(1.0, 100)(t), 3) for t in (0, 50, 100)]
    [1.0, 0.1, 0.01]
    """
    return S.ExponentialDecay(lr=peak_lr, decay_rate=0.01, decay_steps=total_steps)


def cosine(peak_lr: float, total_steps: int):
    """Cosine annealing from the peak to 0 over the budget (Loshchilov & Hutter 2017).

    >>> [round(cosine(1.0, 100)(t), 3) for t in (0, 50, 100)]
    [1.0, 0.5, 0.0]
    """
    return S.CosineAnnealing(lr=peak_lr, total_steps=total_steps)


def linear(peak_lr: float, total_steps: int):
    """Linear decay from the peak to 0 over the budget (Defazio et al. 2023).

    >>> [round(linear(1.0, 100)(t), 3) for t in (0, 50, 100)]
    [1.0, 0.5, 0.0]
    """
    return S.Linear(start_lr=peak_lr, end_lr=0.0, total_steps=total_steps)


def polynomial(peak_lr: float, total_steps: int):
    r"""Polynomial decay with power 2 to 0: :math:`\eta_t = \eta_0 (1 - t/T)^2`.

    >>> [round(polynomial(1.0, 100)(t), 3) for t in (0, 50, 100)]
    [1.0, 0.25, 0.0]
    """
    return S.PolynomialDecay(lr=peak_lr, total_steps=total_steps, end_lr=0.0, power=2.0)


def onecycle(peak_lr: float, total_steps: int):
    """1cycle (Smith & Topin 2017) with the library defaults: warm up to the peak, anneal far below.

    >>> round(max(onecycle(1.0, 100)(t) for t in range(100)), 3)
    1.0
    """
    return S.OneCycle(max_lr=peak_lr, total_steps=total_steps)


def wsd(peak_lr: float, total_steps: int):
    """Warmup-stable-decay (Hu et al. 2024) without warmup: hold the peak, decay to 0 in the last 20%.

    No warmup, so that it differs from ``constant`` only by its decay phase.

    >>> [round(wsd(1.0, 100)(t), 3) for t in (0, 79, 100)]
    [1.0, 1.0, 0.0]
    """
    decay_steps = max(1, round(0.2 * total_steps))
    return S.WarmupStableDecay(max_lr=peak_lr, total_steps=total_steps, warmup_steps=0, decay_steps=decay_steps)


def cyclic(peak_lr: float, total_steps: int):
    """Triangular CLR (Smith 2017): 4 full cycles between peak/10 and the peak, ending at peak/10.

    >>> [round(cyclic(1.0, 80)(t), 3) for t in (0, 10, 20)]
    [0.1, 1.0, 0.1]
    """
    return S.Cyclic(base_lr=peak_lr / 10, max_lr=peak_lr, step_size_up=max(1, round(total_steps / 8)))


def cosine_restarts(peak_lr: float, total_steps: int):
    """SGDR (Loshchilov & Hutter 2017): 3 cosine cycles of lengths c, 2c, 4c with 7c >= the budget.

    >>> s = cosine_restarts(1.0, 70)
    >>> [round(s(t), 3) for t in (0, 10, 30, 69)]   # restarts at 10 and 30
    [1.0, 1.0, 1.0, 0.002]
    """
    return S.CosineWarmRestarts(lr=peak_lr, cycle_steps=max(1, math.ceil(total_steps / 7)), cycle_mult=2)


#: The standard recipes, name -> ``factory(peak_lr, total_steps) -> schedule``. Shared by the
#: notebooks and the CLI; each factory's docstring says exactly what it builds.
RECIPES: dict[str, Callable] = {
    f.__name__: f
    for f in (constant, step, exponential, cosine, linear, polynomial, onecycle, wsd, cyclic, cosine_restarts)
}

DATASETS = ("digits", "mnist1d")
OPTIMIZERS = ("sgd", "adam", "adamw")


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run; ``run_one(config)`` is a pure function of it.

    ``schedule`` is the schedule already scaled to the run (a frozen dataclass from
    ``lrcourse.schedules``); ``name`` is the label it is reported under.
    """

    name: str
    schedule: Callable
    peak_lr: float
    seed: int
    data: str = "mnist1d"
    hidden: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    target_acc: float | None = None
    seed_offset: int = 0  # LRCOURSE_SEED_OFFSET when the grid was built

    def key(self) -> str:
        """A hash of the config (target_acc excluded: it is computed from the curves) and versions."""
        d = dataclasses.asdict(self)
        d.pop("target_acc")
        d["schedule"] = _schedule_id(self.schedule, self.total_steps())
        d["versions"] = _versions()
        blob = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def total_steps(self) -> int:
        return self.epochs * steps_per_epoch(self.data, self.batch_size)


def _schedule_id(schedule, total_steps: int) -> str:
    """A stable text for a schedule: its repr for a dataclass, else its LR values over the run."""
    if dataclasses.is_dataclass(schedule):
        return repr(schedule)
    values = ",".join(repr(v) for v in _intended(schedule, total_steps))
    return type(schedule).__qualname__ + ":" + hashlib.sha256(values.encode()).hexdigest()


#: The modules a run's result depends on: their source is part of the cache key, so editing
#: the training loop (not only bumping a version) invalidates cached runs.
_RUN_MODULES = ("experiments", "training", "callbacks", "models", "data", "schedules", "torch_bridge", "device")


@functools.lru_cache(maxsize=1)
def _versions() -> dict:
    import importlib

    import torch

    import lrcourse

    code = hashlib.sha256()
    for name in _RUN_MODULES:
        code.update(Path(importlib.import_module(f"lrcourse.{name}").__file__).read_bytes())
    return {"lrcourse": lrcourse.__version__, "torch": torch.__version__, "code": code.hexdigest()[:16]}


def load_data(name: str):
    """The dataset called ``name`` with the current seed offset (MNIST-1D takes about a second
    to make, so each (name, offset) is built once per process)."""
    if name not in DATASETS:
        raise ValueError(f"data must be one of {DATASETS}, got {name!r}")
    return _load_data(name, seed_offset())


@functools.lru_cache(maxsize=8)
def _load_data(name: str, offset: int):
    from lrcourse import data

    with use_offset(offset):
        return getattr(data, name)(device="cpu")  # CPU: tiny models, reproducible in any process


def steps_per_epoch(data: str, batch_size: int) -> int:
    """Optimizer updates per epoch: ``ceil(n_train / batch_size)`` (the last batch may be short)."""
    n = len(load_data(data).train[1])
    return math.ceil(n / batch_size)


def _make_optimizer(name: str, params, lr: float, momentum: float, weight_decay: float):
    import torch

    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def epochs_to_target(val_acc: Sequence[float], target_acc: float | None) -> int | None:
    """The first epoch (1-based) whose validation accuracy reaches ``target_acc``; None if never.

    >>> epochs_to_target([0.5, 0.7, 0.9, 0.8], 0.7), epochs_to_target([0.5], 0.9)
    (2, None)
    """
    if target_acc is None:
        return None
    for epoch, acc in enumerate(val_acc, start=1):
        if acc >= target_acc:
            return epoch
    return None


def _as_float_list(xs) -> list[float]:
    return [float(x) for x in xs]


def _intended(schedule, n: int) -> list[float]:
    """The schedule's LR at steps 0 .. n-1 (vectorised when it is an lrcourse ``Schedule``)."""
    if hasattr(schedule, "curve"):
        return _as_float_list(schedule.curve(n))
    return [float(schedule(t)) for t in range(n)]


def run_one(config: RunConfig) -> dict:
    """Train one model as ``config`` says; return its row (a dict of plain numbers and lists).

    Single-threaded, so the result is the same in any process and with any ``n_jobs``. Seeds are
    shifted by ``config.seed_offset``. Raises RuntimeError if the LR applied at some update
    differs from ``config.schedule(step)``.
    """
    import torch

    from lrcourse.data import as_batches
    from lrcourse.models import mlp
    from lrcourse.training import evaluate, fit

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with use_offset(config.seed_offset):  # the offset the grid was built with, in any process
            ds = load_data(config.data)
            model = mlp(ds.num_features, hidden=config.hidden, out_features=ds.num_classes,
                        activation=config.activation, seed=config.seed)
            opt = _make_optimizer(config.optimizer, model.parameters(), config.peak_lr, config.momentum,
                                  config.weight_decay)
            start = time.perf_counter()
            hist = fit(model, ds.train, ds.val, epochs=config.epochs, optimizer=opt,
                       batch_size=config.batch_size, schedule=config.schedule, step_per="batch",
                       device="cpu", progress=False, seed=config.seed)
            wall = time.perf_counter() - start
            # reported figures come from the test split, which no choice (peak LR, schedule) has seen
            test_loss, test_acc = evaluate(model, as_batches(ds.test, batch_size=1024, shuffle=False))
    finally:
        torch.set_num_threads(threads)

    applied = _as_float_list(hist.lr)
    intended = _intended(config.schedule, len(applied))
    bad = [t for t, (a, b) in enumerate(zip(applied, intended)) if not math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)]
    if bad:
        t = bad[0]
        raise RuntimeError(f"applied LR differs from the schedule at step {t}: {applied[t]!r} != {intended[t]!r} "
                           f"({len(bad)} of {len(applied)} updates differ; schedule {config.schedule!r})")

    curves = {k: _as_float_list(getattr(hist, k)) for k in ("train_loss", "val_loss", "val_acc")}
    val_loss = curves["val_loss"]
    return {
        "schedule": config.name,
        "peak_lr": float(config.peak_lr),
        "seed": int(config.seed),
        "val_acc": curves["val_acc"][-1] if curves["val_acc"] else math.nan,
        "val_loss": val_loss[-1] if val_loss else math.nan,
        "train_loss": curves["train_loss"][-1] if curves["train_loss"] else math.nan,
        "min_val_loss": min((v for v in val_loss if not math.isnan(v)), default=math.nan),
        "test_acc": test_acc,
        "test_loss": test_loss,
        "seed_offset": int(config.seed_offset),
        "epochs_to_target": epochs_to_target(curves["val_acc"], config.target_acc),
        "diverged": bool(hist.diverged),
        "updates": len(applied),
        "wall_time": wall,
        "config": config.key(),
        "schedule_repr": repr(config.schedule),
        "curves": curves,
    }


# --------------------------------------------------------------------------------------------
# Cache: one small JSON file per run, keyed by the config hash, written atomically
# --------------------------------------------------------------------------------------------


def _cache_path(cache_dir, key: str) -> Path:
    return Path(cache_dir) / f"run-{key}.json"


def _cache_read(cache_dir, key: str) -> dict | None:
    """The cached row, or None if absent or unreadable (a corrupt file is recomputed)."""
    path = _cache_path(cache_dir, key)
    try:
        row = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(row, dict) or row.get("config") != key or "curves" not in row:
        return None
    return row


def _cache_write(cache_dir, key: str, row: dict) -> None:
    """Write via a temporary file and ``os.replace`` so a reader never sees half a file."""
    path = _cache_path(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(row, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------------------------


def _resolve_schedules(schedules) -> dict[str, Callable]:
    """Names, factories or a name -> factory mapping -> an ordered name -> factory dict."""
    if isinstance(schedules, str) or callable(schedules):
        schedules = [schedules]
    if isinstance(schedules, Mapping):
        items = list(schedules.items())
    else:
        items = []
        for s in schedules:
            if isinstance(s, str):
                if s not in RECIPES:
                    raise ValueError(f"schedules: unknown schedule {s!r}; valid names are {sorted(RECIPES)} "
                                     "(or pass a factory peak_lr, total_steps -> schedule)")
                items.append((s, RECIPES[s]))
            elif callable(s):
                items.append((getattr(s, "__name__", repr(s)), s))
            else:
                raise TypeError(f"schedules must hold names or factories, got {s!r}")
    if not items:
        raise ValueError(f"schedules must not be empty, got {schedules!r}")
    out = {}
    for name, factory in items:
        if not callable(factory):
            raise TypeError(f"schedules[{name!r}] must be a factory peak_lr, total_steps -> schedule, got {factory!r}")
        if name in out:
            raise ValueError(f"schedules: duplicate name {name!r}")
        out[str(name)] = factory
    return out


def _check_lrs(lrs, label="lrs") -> list[float]:
    lrs = [lrs] if isinstance(lrs, (int, float)) else list(lrs)
    if not lrs:
        raise ValueError(f"{label} must hold at least one peak LR, got {lrs!r}")
    for lr in lrs:
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"{label} must hold positive finite numbers, got {lr!r}")
    if len(set(lrs)) != len(lrs):
        raise ValueError(f"{label} must not repeat a peak LR, got {lrs!r}")
    return [float(lr) for lr in lrs]


def build_configs(schedules, lrs, seeds, **settings) -> list[RunConfig]:
    """The grid of :class:`RunConfig`, schedule-major, then peak LR, then seed (``compare``'s order)."""
    factories = _resolve_schedules(schedules)
    if isinstance(lrs, Mapping):
        missing = [n for n in factories if n not in lrs]
        if missing:
            raise ValueError(f"lrs is a mapping but has no grid for {missing}; keys given: {list(lrs)}")
        grids = {n: _check_lrs(lrs[n], f"lrs[{n!r}]") for n in factories}
    else:
        grid = _check_lrs(lrs)
        grids = {n: grid for n in factories}
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    if not seeds:
        raise ValueError(f"seeds must hold at least one seed, got {seeds!r}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ValueError(f"seeds must hold non-negative integers, got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must not repeat a seed, got {seeds!r}")
    epochs = settings.get("epochs", 30)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    batch_size = settings.get("batch_size", 64)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if settings.get("data", "mnist1d") not in DATASETS:
        raise ValueError(f"data must be one of {DATASETS}, got {settings.get('data')!r}")
    if settings.get("optimizer", "sgd") not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {settings.get('optimizer')!r}")
    target = settings.get("target_acc")
    if target is not None and not (0 < target <= 1):
        raise ValueError(f"target_acc must be in (0, 1] or None, got {target!r}")
    settings["hidden"] = tuple(int(h) for h in settings.get("hidden", (256, 256)))

    total = epochs * steps_per_epoch(settings.get("data", "mnist1d"), batch_size)
    offset = seed_offset()
    configs = []
    for name, factory in factories.items():
        for lr in grids[name]:
            sched = factory(lr, total)
            if not isinstance(sched, S.Schedule):
                raise TypeError(f"schedules[{name!r}] must return an lrcourse Schedule (e.g. a Join or a "
                                f"CosineAnnealing), got {type(sched).__name__}")
            for seed in seeds:
                configs.append(RunConfig(name=name, schedule=sched, peak_lr=lr, seed=seed, seed_offset=offset,
                                         **settings))
    return configs


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def compare(
    schedules,
    lrs,
    seeds=(0, 1, 2),
    *,
    data: str = "mnist1d",
    hidden: Sequence[int] = (256, 256),
    activation: str = "relu",
    epochs: int = 30,
    batch_size: int = 64,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    target_acc: float | None = None,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int = 1,
    progress: bool = True,
) -> "Results":
    """Train every schedule at every peak LR with every seed; return the tidy :class:`Results`.

    ``schedules``: names from :data:`RECIPES`, factories ``(peak_lr, total_steps) -> schedule``
    (named by ``__name__``), or a mapping name -> factory. Each is scaled to the run's budget,
    ``total_steps = epochs * ceil(n_train / batch_size)`` updates, and stepped per batch.
    ``lrs``: the grid of peak LRs, shared, or a mapping name -> grid. ``seeds``: model-init and
    shuffling seeds. ``target_acc``: report the first epoch reaching this validation accuracy.
    ``cache_dir``: reuse runs stored there (one JSON per run, keyed by a hash of the config, the
    torch version and the source of the modules a run uses). ``n_jobs > 1``: a process pool (spawned, one thread each); the rows
    are identical for any ``n_jobs``.
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be an integer >= 1, got {n_jobs!r}")
    configs = build_configs(schedules, lrs, seeds, data=data, hidden=hidden, activation=activation,
                            epochs=epochs, batch_size=batch_size, optimizer=optimizer, momentum=momentum,
                            weight_decay=weight_decay, target_acc=target_acc)
    keys = [cfg.key() for cfg in configs]
    rows: list[dict | None] = [None] * len(configs)
    todo = []
    for i, cfg in enumerate(configs):
        cached = _cache_read(cache_dir, keys[i]) if cache_dir is not None else None
        if cached is not None:
            cached["epochs_to_target"] = epochs_to_target(cached["curves"]["val_acc"], target_acc)
            rows[i] = cached
        else:
            todo.append(i)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(configs), initial=len(configs) - len(todo), desc="runs", disable=not progress)

    def done(i: int, row: dict) -> None:
        row["config"] = keys[i]  # the key as this process sees it (a worker hashes the source anew)
        rows[i] = row
        if cache_dir is not None:
            _cache_write(cache_dir, keys[i], row)
        bar.update(1)

    try:
        if n_jobs == 1 or len(todo) <= 1:
            for i in todo:
                done(i, run_one(configs[i]))
        else:
            ctx = multiprocessing.get_context("spawn")  # fork after torch threads started can hang
            with concurrent.futures.ProcessPoolExecutor(min(n_jobs, len(todo)), mp_context=ctx,
                                                        initializer=_init_worker) as pool:
                futures = {pool.submit(run_one, configs[i]): i for i in todo}
                for fut in concurrent.futures.as_completed(futures):
                    done(futures[fut], fut.result())
    finally:
        bar.close()
    return Results(rows, computed=len(todo))


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

SCALARS = ("schedule", "peak_lr", "seed", "seed_offset", "val_acc", "val_loss", "test_acc", "test_loss",
           "train_loss", "min_val_loss", "epochs_to_target", "diverged", "updates", "wall_time")
_SUMMARISED = ("val_acc", "val_loss", "test_acc", "test_loss", "train_loss")


def _mean(xs: list[float]) -> float:
    return statistics.fmean(xs) if xs else math.nan


def _std(xs: list[float]) -> float:
    """Sample standard deviation (n - 1); 0 for a single value."""
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def _lower_is_better(metric: str) -> bool:
    return "loss" in metric


class Results:
    """Tidy results of :func:`compare`: ``rows``, one dict per run, plus summaries.

    Scalar columns: schedule, peak_lr, seed, seed_offset, val_acc, val_loss, test_acc, test_loss,
    train_loss (final epoch), min_val_loss, epochs_to_target (None if never), diverged, updates,
    wall_time; ``curves`` holds the per-epoch train_loss, val_loss and val_acc. ``computed``:
    runs trained (not cached).

    The protocol: each schedule's peak LR is **chosen on val** (:meth:`best`), and the figures
    at that peak are **reported on test** (:meth:`table`, :meth:`verdict`).

    >>> rows = [{"schedule": "a", "peak_lr": lr, "seed": s, "val_acc": acc, "val_loss": 1 - acc}
    ...         for lr, s, acc in [(0.1, 0, 0.6), (0.1, 1, 0.8), (1.0, 0, 0.5), (1.0, 1, 0.6)]]
    >>> res = Results(rows)
    >>> res.best()
    {'a': 0.1}
    >>> t = res.table()[0]; round(t["val_acc_mean"], 3), round(t["val_acc_std"], 3)
    (0.7, 0.141)
    """

    def __init__(self, rows: Sequence[dict], computed: int | None = None):
        self.rows = list(rows)
        self.computed = len(self.rows) if computed is None else computed

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"Results({len(self.rows)} runs, schedules={self.schedules})"

    @property
    def schedules(self) -> list[str]:
        """Schedule names in first-seen order."""
        return list(dict.fromkeys(r["schedule"] for r in self.rows))

    def lrs(self, schedule: str) -> list[float]:
        """The peak LRs tried for ``schedule``, ascending."""
        return sorted({r["peak_lr"] for r in self.rows if r["schedule"] == schedule})

    def select(self, schedule: str, peak_lr: float | None = None) -> list[dict]:
        """The rows of ``schedule`` (at ``peak_lr`` if given), in seed order."""
        if schedule not in self.schedules:
            raise ValueError(f"schedule must be one of {self.schedules}, got {schedule!r}")
        rows = [r for r in self.rows if r["schedule"] == schedule
                and (peak_lr is None or math.isclose(r["peak_lr"], peak_lr, rel_tol=1e-9))]
        if not rows:
            raise ValueError(f"peak_lr {peak_lr!r} was not run for {schedule!r}; tried {self.lrs(schedule)}")
        return sorted(rows, key=lambda r: r["seed"])

    def sweep(self, metric: str = "val_acc") -> dict[str, list[tuple[float, float, float]]]:
        """Per schedule, ``(peak_lr, mean, std)`` of ``metric`` over seeds, by ascending peak LR."""
        out = {}
        for name in self.schedules:
            out[name] = []
            for lr in self.lrs(name):
                xs = [float(r[metric]) for r in self.select(name, lr)]
                out[name].append((lr, _mean(xs), _std(xs)))
        return out

    def best(self, metric: str = "val_acc") -> dict[str, float]:
        """Each schedule's own best peak LR: highest mean ``metric`` over seeds (lowest for a loss).

        A NaN mean (a diverged seed) never wins.
        """
        sign = -1.0 if _lower_is_better(metric) else 1.0
        out = {}
        for name, points in self.sweep(metric).items():
            scored = [(sign * m if not math.isnan(m) else -math.inf, lr) for lr, m, _ in points]
            out[name] = max(scored, key=lambda p: p[0])[1]
        return out

    @property
    def report_metric(self) -> str:
        """``"test_acc"`` when the runs were evaluated on a test split, else ``"val_acc"``."""
        return "test_acc" if self.rows and all("test_acc" in r for r in self.rows) else "val_acc"

    def table(self, metric: str = "val_acc", report: str | None = None) -> list[dict]:
        """One row per schedule at its best peak LR (chosen by ``metric``), sorted by ``report``.

        Columns: schedule, peak_lr, seeds, ``_mean`` and ``_std`` over seeds of val_acc,
        val_loss, test_acc, test_loss and train_loss (those the runs have), reached (seeds
        that reached ``target_acc``), epochs_to_target (mean over those seeds only, None if
        none), diverged (count). ``report`` (default :attr:`report_metric`) orders the rows,
        best first.
        """
        out = []
        for name, lr in self.best(metric).items():
            rows = self.select(name, lr)
            entry = {"schedule": name, "peak_lr": lr, "seeds": len(rows)}
            for col in _SUMMARISED:
                xs = [float(r[col]) for r in rows if col in r]
                if xs or col in ("val_acc", "val_loss", "train_loss"):
                    entry[col + "_mean"], entry[col + "_std"] = _mean(xs), _std(xs)
            reached = [r["epochs_to_target"] for r in rows if r.get("epochs_to_target") is not None]
            entry["reached"] = len(reached)
            entry["epochs_to_target"] = _mean(reached) if reached else None
            entry["diverged"] = sum(bool(r.get("diverged", False)) for r in rows)
            out.append(entry)
        report = self.report_metric if report is None else report
        sign = 1.0 if _lower_is_better(report) else -1.0
        key = report + "_mean"
        return sorted(out, key=lambda e: math.inf if math.isnan(e.get(key, math.nan)) else sign * e[key])

    def verdict(self, a: str, b: str, metric: str | None = None, select: str = "val_acc", **kwargs) -> Verdict:
        """Schedule ``a`` against ``b``, each at its own best peak (chosen by ``select``), paired by seed.

        ``metric`` (default :attr:`report_metric`) is compared with
        :func:`lrcourse.evidence.compare_arms`; ``kwargs`` go to it (``margin``, ``tie_tol``).
        """
        metric = self.report_metric if metric is None else metric
        best = self.best(select)
        arms = []
        for name in (a, b):
            if name not in best:
                raise ValueError(f"schedule must be one of {self.schedules}, got {name!r}")
            arms.append({r["seed"]: float(r[metric]) for r in self.select(name, best[name])})
        return compare_arms(arms[0], arms[1], names=(a, b), higher_is_better=not _lower_is_better(metric),
                            metric=metric, **kwargs)

    def curves(self, schedule: str, peak_lr: float | None = None) -> dict[str, list[list[float]]]:
        """Per-epoch curves of ``schedule`` at ``peak_lr`` (default: its best), one list per seed.

        Keys: ``seeds``, ``train_loss``, ``val_loss``, ``val_acc`` (a diverged run may be shorter).
        """
        if peak_lr is None:
            peak_lr = self.best()[schedule] if schedule in self.schedules else None
        rows = self.select(schedule, peak_lr)
        out = {"seeds": [r["seed"] for r in rows]}
        for k in ("train_loss", "val_loss", "val_acc"):
            out[k] = [list(r["curves"][k]) for r in rows]
        return out

    def to_markdown(self, metric: str = "val_acc") -> str:
        """The :meth:`table` as an aligned Markdown table (mean ± sample std over seeds).

        The peak LR is chosen on ``metric`` (validation); test columns are the reported figures.
        """
        head = ["schedule", "peak LR", "val acc", "test acc", "test loss", "train loss", "epochs to target",
                "diverged"]
        body = []

        def pm(e, col, digits=3):
            if col + "_mean" not in e:
                return "-"
            return f"{e[col + '_mean']:.{digits}f} ± {e[col + '_std']:.{digits}f}"

        for e in self.table(metric):
            n = e["seeds"]
            ett = "-" if e["epochs_to_target"] is None else f"{e['epochs_to_target']:.1f} ({e['reached']}/{n})"
            body.append([e["schedule"], f"{e['peak_lr']:g}", pm(e, "val_acc"), pm(e, "test_acc"), pm(e, "test_loss"),
                         pm(e, "train_loss", 4), ett, f"{e['diverged']}/{n}"])
        widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]

        def line(cells):
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

        sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([line(head), sep] + [line(r) for r in body])

    __str__ = to_markdown

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """The scalar columns of every run as CSV (curves left out); written to ``path`` if given."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=SCALARS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: ("" if r.get(k) is None else r.get(k, "")) for k in SCALARS})
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_pandas(self):
        """The scalar columns as a pandas DataFrame (pandas is optional: imported only here)."""
        import pandas as pd

        return pd.DataFrame([{k: r.get(k) for k in SCALARS} for r in self.rows])
