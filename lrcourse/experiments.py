r"""Schedules x peak LRs x seeds -> tidy results: the controlled comparison, as a function.

A fair schedule comparison gives every schedule the same budget (``epochs``), model, data,
optimizer and seeds, scales each schedule to that budget (``lrcourse.recipes``), and lets each
schedule pick **its own** best peak LR from a grid: schedules have different optimal peaks, so
one shared peak LR decides the ranking before training starts (notebook 10 measures this).
``compare`` runs that grid, chooses each schedule's peak on the validation split and reports it
on the test split (choosing and reporting on the same samples would inflate the winner):

>>> res = compare(["constant", "cosine"], lrs=[0.03, 0.1], seeds=[0, 1],
...               data="digits", hidden=(32,), epochs=2, progress=False)   # doctest: +SKIP
>>> print(res)                                                           # doctest: +SKIP

Each run is a pure function of its :class:`RunConfig` (``run_one(config) -> dict``), so runs
can be cached on disk (``cache_dir``, a ``joblib.Memory``), run in worker processes
(``n_jobs``, ``joblib.Parallel``) or on any ``concurrent.futures.Executor`` (a Dask cluster's
``client.get_executor()``), and the rows are the same wherever they ran. Seeds are shifted by
``LRCOURSE_SEED_OFFSET`` (``lrcourse.seeding``): the offset in force when the grid is built is
stored in each config, so any worker reproduces it. A run also checks that the LR the optimizer
actually applied at every update equals the intended schedule, and raises if it does not.

The tables and verdicts live in ``lrcourse.results`` (:class:`Results`, re-exported here), the
recipes in ``lrcourse.recipes`` (:data:`RECIPES`, re-exported here).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import math
import numbers
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import torch

import lrcourse
from lrcourse import _checks
from lrcourse import schedules as S
from lrcourse.data import as_batches, digits, mnist1d
from lrcourse.models import ACTIVATIONS, mlp
from lrcourse.recipes import RECIPES, recipe
from lrcourse.results import SCALARS, Results
from lrcourse.seeding import seed_offset, use_offset
from lrcourse.training import evaluate, fit

__all__ = ["RunConfig", "run_one", "build_configs", "compare", "load_data", "steps_per_epoch", "make_optimizer",
           "epochs_to_target", "DATASETS", "OPTIMIZERS", "RECIPES", "Results", "SCALARS"]

DATASETS = ("digits", "mnist1d")
OPTIMIZERS = ("sgd", "adam", "adamw")


# --------------------------------------------------------------------------------------------
# Data and optimizer by name
# --------------------------------------------------------------------------------------------


def load_data(name: str, device="cpu"):
    """The dataset called ``name`` (one of :data:`DATASETS`) with the current seed offset.

    Each (name, offset, device) is built once per process (MNIST-1D takes about a second).
    ``device="cpu"`` by default: the comparison's tiny models are reproducible in any process
    there; ``None`` means ``get_device()``.
    """
    _checks.choice("data", name, DATASETS)
    return _load_data(name, seed_offset(), None if device is None else str(device))


@functools.lru_cache(maxsize=8)
def _load_data(name: str, offset: int, device: str | None):
    with use_offset(offset):
        return {"digits": digits, "mnist1d": mnist1d}[name](device=device)


def steps_per_epoch(data: str, batch_size: int) -> int:
    """Optimizer updates per epoch on dataset ``data``: ``ceil(n_train / batch_size)`` (last batch kept)."""
    return load_data(data).steps_per_epoch(batch_size)


def make_optimizer(name: str, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
    """``torch.optim`` optimizer ``name`` (one of :data:`OPTIMIZERS`) over ``params``.

    ``momentum`` is SGD's (Adam and AdamW keep their default betas); ``weight_decay`` is L2 in
    the gradient for SGD and Adam, decoupled for AdamW (Loshchilov & Hutter 2019).
    """
    _checks.choice("optimizer", name, OPTIMIZERS)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run; ``run_one(config)`` is a pure function of it.

    ``schedule`` is the schedule already scaled to the run (a ``lrcourse.schedules`` schedule);
    ``name`` is the label it is reported under; ``seed_offset`` the ``LRCOURSE_SEED_OFFSET`` in
    force when the grid was built (so a worker anywhere reproduces the run).
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
    seed_offset: int = 0

    def key(self) -> str:
        """The cache key: a hash of the config, the schedule's values over the run and the code.

        ``target_acc`` is left out (it is computed from the curves, not trained for).
        """
        d = dataclasses.asdict(self)
        d.pop("target_acc")
        d["schedule"] = _schedule_id(self.schedule, self.total_steps())
        d["versions"] = _versions()
        blob = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def total_steps(self) -> int:
        return self.epochs * steps_per_epoch(self.data, self.batch_size)


def _intended(schedule, n: int) -> list[float]:
    """The schedule's LR at steps 0 .. n-1 (vectorised when it is an lrcourse ``Schedule``)."""
    if hasattr(schedule, "curve"):
        return [float(x) for x in schedule.curve(n)]
    return [float(schedule(t)) for t in range(n)]


def _schedule_id(schedule, total_steps: int) -> str:
    """What a run sees of its schedule: class, repr and the values it applies over the run.

    ``fit`` reads a schedule only through its LR (and, for OneCycle, its momentum) at steps
    0 .. T-1, so hashing those values identifies it exactly: editing the formula of a schedule
    class defined in a notebook (whose source is in no module the key hashes) changes the key,
    and so does a field hidden from the repr.
    """
    values = _intended(schedule, total_steps)
    if callable(getattr(schedule, "momentum", None)):
        values += [float(schedule.momentum(t)) for t in range(total_steps)]
    digest = hashlib.sha256(",".join(map(repr, values)).encode()).hexdigest()
    cls = type(schedule)
    return f"{cls.__module__}.{cls.__qualname__}:{schedule!r}:{digest}"


#: Modules that cannot change a run's numbers (they only read or show results): their source
#: is left out of the cache key. Every other module of the package is in, so a new module a run
#: uses invalidates cached runs when it changes without anyone having to list it here.
_NOT_IN_A_RUN = {"__init__", "__main__", "cli", "classroom", "exercises", "evidence", "plotting", "results",
                 "widgets"}


@functools.lru_cache(maxsize=1)
def _versions() -> dict:
    package = Path(lrcourse.__file__).parent
    code = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        if parts[0] not in _NOT_IN_A_RUN:
            code.update("/".join(parts).encode() + b"\0" + path.read_bytes())
    return {"lrcourse": lrcourse.__version__, "torch": torch.__version__, "code": code.hexdigest()[:16]}


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


def run_one(config: RunConfig) -> dict:
    """Train one model as ``config`` says; return its row (a dict of plain numbers and lists).

    Single-threaded, so the result is the same in any process, with any ``n_jobs`` and on any
    executor. Seeds are shifted by ``config.seed_offset``. Raises RuntimeError if the LR applied
    at some update differs from ``config.schedule(step)``.
    """
    with _ONE_RUN_PER_PROCESS:  # e.g. a Dask worker with several threads: the runs take turns
        return _run_one(config)


#: torch's random state and thread count belong to the process, so two runs at once in one
#: process (threads) would not be reproducible.
_ONE_RUN_PER_PROCESS = threading.Lock()


def _run_one(config: RunConfig) -> dict:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with use_offset(config.seed_offset):  # the offset the grid was built with, in any process
            ds = load_data(config.data)
            model = mlp(ds.num_features, hidden=config.hidden, out_features=ds.num_classes,
                        activation=config.activation, seed=config.seed)
            opt = make_optimizer(config.optimizer, model.parameters(), config.peak_lr, config.momentum,
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

    applied = [float(x) for x in hist.lr]
    intended = _intended(config.schedule, len(applied))
    bad = [t for t, (a, b) in enumerate(zip(applied, intended)) if not math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)]
    if bad:
        t = bad[0]
        raise RuntimeError(f"applied LR differs from the schedule at step {t}: {applied[t]!r} != {intended[t]!r} "
                           f"({len(bad)} of {len(applied)} updates differ; schedule {config.schedule!r})")

    curves = {k: [float(x) for x in getattr(hist, k)] for k in ("train_loss", "val_loss", "val_acc")}
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
                try:
                    items.append((s, recipe(s)))  # the name as given: an old alias keeps its label
                except ValueError as err:
                    raise ValueError(f"schedules: {err}") from None
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


def _is_number(x) -> bool:
    return isinstance(_checks.scalar(x), numbers.Number) and not isinstance(x, (str, bytes))


def _check_lrs(lrs, label="lrs") -> list[float]:
    lrs = [lrs] if _is_number(lrs) else list(lrs)
    if not lrs:
        raise ValueError(f"{label} must hold at least one peak LR, got {lrs!r}")
    lrs = [_checks.positive(label, lr) for lr in lrs]
    if len(set(lrs)) != len(lrs):
        raise ValueError(f"{label} must not repeat a peak LR, got {lrs!r}")
    return lrs


def _check_seeds(seeds) -> list[int]:
    seeds = [seeds] if _is_number(seeds) else list(seeds)
    if not seeds:
        raise ValueError(f"seeds must hold at least one seed, got {seeds!r}")
    seeds = [_checks.integer("seeds", s, minimum=0) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must not repeat a seed, got {seeds!r}")
    return seeds


def _check_hidden(hidden) -> tuple[int, ...]:
    if _is_number(hidden) or isinstance(hidden, (str, bytes)) or not isinstance(hidden, Iterable):
        raise TypeError(f"hidden must be a sequence of layer widths such as (32,) or (256, 256), "
                        f"got {type(hidden).__name__} {hidden!r}")
    return tuple(_checks.integer(f"hidden[{i}]", h, minimum=1) for i, h in enumerate(hidden))


def _check_settings(settings: dict) -> dict:
    """The run settings of ``compare``, checked and normalised to plain Python values."""
    s = dict(settings)
    s["data"] = _checks.choice("data", s.get("data", "mnist1d"), DATASETS)
    s["hidden"] = _check_hidden(s.get("hidden", (256, 256)))
    s["activation"] = _checks.choice("activation", s.get("activation", "relu"), ACTIVATIONS)
    s["epochs"] = _checks.integer("epochs", s.get("epochs", 30), minimum=1)
    s["batch_size"] = _checks.integer("batch_size", s.get("batch_size", 64), minimum=1)
    s["optimizer"] = _checks.choice("optimizer", s.get("optimizer", "sgd"), OPTIMIZERS)
    s["momentum"] = _checks.real("momentum", s.get("momentum", 0.9), low=0, high=1, high_open=True)
    s["weight_decay"] = _checks.non_negative("weight_decay", s.get("weight_decay", 0.0))
    if s.get("target_acc") is not None:
        s["target_acc"] = _checks.real("target_acc", s["target_acc"], low=0, high=1, low_open=True)
    unknown = sorted(set(s) - {f.name for f in dataclasses.fields(RunConfig)})
    if unknown:
        raise TypeError(f"unknown run settings {unknown}")
    return s


def build_configs(schedules, lrs, seeds, **settings) -> list[RunConfig]:
    """The grid of :class:`RunConfig`, schedule-major, then peak LR, then seed (``compare``'s order).

    ``settings`` are :class:`RunConfig` fields (``data``, ``hidden``, ``epochs``, ...); numpy
    scalars are accepted and stored as Python numbers.
    """
    factories = _resolve_schedules(schedules)
    if isinstance(lrs, Mapping):
        missing = [n for n in factories if n not in lrs]
        if missing:
            raise ValueError(f"lrs is a mapping but has no grid for {missing}; keys given: {list(lrs)}")
        grids = {n: _check_lrs(lrs[n], f"lrs[{n!r}]") for n in factories}
    else:
        grid = _check_lrs(lrs)
        grids = {n: grid for n in factories}
    seeds = _check_seeds(seeds)
    settings = _check_settings(settings)

    total = settings["epochs"] * steps_per_epoch(settings["data"], settings["batch_size"])
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


# --------------------------------------------------------------------------------------------
# The cache: a joblib.Memory in cache_dir, read and written by the process that calls compare
# --------------------------------------------------------------------------------------------


def _remember(key: str, row: dict | None) -> dict:
    """What the cache stores under ``key``: the row it is given (``row`` is not part of the hash).

    Called with ``row=None`` only to read an entry back: if the entry is missing or unreadable,
    joblib calls this function, which raises, so nothing is stored for a miss.
    """
    if row is None:
        raise LookupError(f"no cached run {key}")
    return row


def _open_cache(cache_dir):
    """The cache in ``cache_dir`` (created), or None; fails now if the folder cannot be written."""
    if cache_dir is None:
        return None
    from joblib import Memory

    folder = Path(cache_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".lrcourse-write-test-")  # a unique name: safe with 2 runs
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise PermissionError(f"cache_dir {str(folder)!r} cannot be written ({err.strerror or err}): "
                              "choose a folder you can write to, or cache_dir=None") from None
    store = Memory(folder, verbose=0).cache(_remember, ignore=["row"])
    store.check_call_in_cache("", None)  # records _remember's code in the folder: joblib compares it on every read
    return store


def _is_row(row, config: RunConfig, key: str) -> bool:
    """A complete row of ``config``: every column, the three curves, and the config's own labels."""
    return (isinstance(row, dict) and row.get("config") == key and all(k in row for k in SCALARS)
            and isinstance(row.get("curves"), dict)
            and all(isinstance(row["curves"].get(k), list) for k in ("train_loss", "val_loss", "val_acc"))
            and (row["schedule"], row["peak_lr"], row["seed"], row["seed_offset"], row.get("schedule_repr"))
            == (config.name, config.peak_lr, config.seed, config.seed_offset, repr(config.schedule)))


def _cache_read(store, config: RunConfig, key: str) -> dict | None:
    """The cached row, or None: absent, unreadable or malformed entries are misses (and recomputed)."""
    if store is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joblib warns about an unreadable entry before calling _remember
            row = store(key, None)
    except LookupError:
        return None
    return row if _is_row(row, config, key) else None


def _cache_write(store, key: str, row: dict) -> None:
    if store is not None:
        store.call(key, row)  # call, not store(...): replaces a malformed entry (written atomically by joblib)


# --------------------------------------------------------------------------------------------
# Running the grid: in this process, in joblib's worker processes or on any Executor
# --------------------------------------------------------------------------------------------


def _indexed_run(i: int, config: RunConfig) -> tuple[int, dict]:
    return i, run_one(config)


def _run_all(configs: list[RunConfig], n_jobs: int, executor) -> Iterator[tuple[int, dict]]:
    """``(index, row)`` for each config, in the order the runs finish."""
    if executor is not None:
        futures = {executor.submit(run_one, cfg): i for i, cfg in enumerate(configs)}
        try:
            for fut in concurrent.futures.as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:  # an error or Ctrl-C: the runs not started yet are not started
                fut.cancel()
    elif n_jobs == 1 or len(configs) <= 1:
        for i, cfg in enumerate(configs):
            yield i, run_one(cfg)
    else:
        # loky workers: started once and reused by later calls; arguments travel by cloudpickle,
        # so a schedule class defined in a notebook reaches them too
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=min(n_jobs, len(configs)), return_as="generator_unordered")
        yield from parallel(delayed(_indexed_run)(i, cfg) for i, cfg in enumerate(configs))


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
    executor: concurrent.futures.Executor | None = None,
    progress: bool = True,
) -> Results:
    """Train every schedule at every peak LR with every seed; return the tidy :class:`Results`.

    ``schedules``: names from :data:`RECIPES`, factories ``(peak_lr, total_steps) -> schedule``
    (named by ``__name__``), or a mapping name -> factory. Each is scaled to the run's budget,
    ``total_steps = epochs * ceil(n_train / batch_size)`` updates, and stepped per batch.
    ``lrs``: the grid of peak LRs, shared, or a mapping name -> grid. ``seeds``: model-init and
    shuffling seeds. ``target_acc``: report the first epoch reaching this validation accuracy.
    ``optimizer``: "sgd" (with ``momentum``), "adam" or "adamw"; ``weight_decay`` for all three.

    ``cache_dir``: reuse runs stored there (a ``joblib.Memory``, written only by this process;
    the key hashes the config, the schedule's LR values over the run, the torch version and the
    source of the modules a run uses). joblib stores pickles: use a cache folder only if you trust
    whoever wrote into it. ``n_jobs > 1``: that many worker processes (``joblib``'s loky backend, one torch
    thread each). ``executor``: any ``concurrent.futures.Executor`` of processes instead, e.g. a
    Dask cluster's ``Client(...).get_executor()`` (its workers need lrcourse installed). The rows
    are identical in every case.
    """
    n_jobs = _checks.integer("n_jobs", n_jobs, minimum=1)
    if executor is not None:
        if not isinstance(executor, concurrent.futures.Executor):
            raise TypeError(f"executor must be a concurrent.futures.Executor (e.g. a Dask client.get_executor()), "
                            f"got {type(executor).__name__} {executor!r}")
        if isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise ValueError("executor must spread the runs over processes: threads of one process take turns "
                             "(torch's random state and thread count belong to the process), so a thread pool "
                             "gains nothing; use a ProcessPoolExecutor or a Dask cluster of worker processes")
        if n_jobs != 1:
            raise ValueError(f"give n_jobs or executor, not both: the executor decides the parallelism, "
                             f"got n_jobs={n_jobs}")
    configs = build_configs(schedules, lrs, seeds, data=data, hidden=hidden, activation=activation,
                            epochs=epochs, batch_size=batch_size, optimizer=optimizer, momentum=momentum,
                            weight_decay=weight_decay, target_acc=target_acc)
    store = _open_cache(cache_dir)
    keys = [cfg.key() for cfg in configs]
    rows: list[dict | None] = [_cache_read(store, cfg, key) for cfg, key in zip(configs, keys)]
    for row in rows:
        if row is not None:  # a new target accuracy is read off the cached curves, not trained for
            row["epochs_to_target"] = epochs_to_target(row["curves"]["val_acc"], target_acc)
    todo = [i for i, row in enumerate(rows) if row is None]

    from tqdm.auto import tqdm

    with tqdm(total=len(configs), initial=len(configs) - len(todo), desc="runs", disable=not progress) as bar:
        for j, row in _run_all([configs[i] for i in todo], n_jobs, executor):
            i = todo[j]
            row["config"] = keys[i]
            _cache_write(store, keys[i], row)  # as soon as it is known: an interruption loses nothing done
            rows[i] = row
            bar.update(1)
    return Results(rows, computed=len(todo))
