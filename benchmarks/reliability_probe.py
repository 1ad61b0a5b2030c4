"""Re-run the reliability review's scenarios against the current code; print held/failed per scenario.

The review (issue 19) probed the landed code with 126 scenarios: hostile inputs to the public API,
checkpoints and resume, grading and hand-outs, the command line, and the compare cache. This script
rebuilds each scenario from its reproducer and checks the behaviour the review asked for: a clear
error, a correct result, nothing lost, nothing hanging. A scenario that raises something unexpected
counts as failed, with the exception as its detail.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reliability_probe.py            # everything (~7 CPU-min)
    .venv/bin/python benchmarks/reliability_probe.py --area api,cli               # some areas
    .venv/bin/python benchmarks/reliability_probe.py --only SWR-9,CRASH-14        # ids (prefix match)
    .venv/bin/python benchmarks/reliability_probe.py --json probe.json            # also write the rows

Areas: api (schedules, fit, range test, compare arguments, exercises, bridge, plateau),
checkpoint, classroom (grade, student, nbgrader-metadata), cli, cache (compare cache, concurrency).
Exit status 0 when every scenario held, 1 otherwise. docs/evidence/reliability.md has the table.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import io
import json
import math
import os
import pickle
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from dataclasses import field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

v4 = nbformat.v4
PY = sys.executable
WORK = Path(tempfile.mkdtemp(prefix="lrcourse-probe-"))
SCENARIOS = []


class Failed(Exception):
    """The scenario's expected behaviour did not hold; the message says what happened instead."""


def scenario(area: str, sid: str, title: str):
    def register(fn):
        SCENARIOS.append((area, sid, title, fn))
        return fn
    return register


def expect(condition, detail: str) -> None:
    if not condition:
        raise Failed(detail)


def short(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:110]}"


def refused(fn, *, kinds=(TypeError, ValueError), match: str | None = None) -> str:
    """Held when ``fn()`` raises one of ``kinds`` (whose message matches ``match``): a clear error."""
    try:
        got = fn()
    except kinds as err:
        if match and not re.search(match, str(err), re.I | re.S):
            raise Failed(f"unclear message: {short(err)}") from None
        return short(err)
    except Exception as err:  # noqa: BLE001  (the wrong kind of error is the finding)
        raise Failed(f"wrong error: {short(err)}") from None
    raise Failed(f"accepted, returned {str(got)[:80]!r}")


def refused_all(cases, **kw) -> str:
    """Every ``(label, fn)`` refused; the failures named."""
    bad = []
    for label, fn in cases:
        try:
            refused(fn, **kw)
        except Failed as f:
            bad.append(f"{label}: {f}")
    expect(not bad, "; ".join(bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""))
    return f"{len(cases)} cases refused with a clear error"


def sh(args, *, timeout=300, cwd=None, env=None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd or WORK, env=env, **kw)


def lrcourse(*args, **kw) -> subprocess.CompletedProcess:
    return sh([PY, "-m", "lrcourse", *map(str, args)], **kw)


def cli_main(*argv) -> tuple[int, str]:
    """``lrcourse ARGV`` in this process: (exit status, stderr)."""
    from lrcourse import cli

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = cli.main([str(a) for a in argv])
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
    return rc, err.getvalue()


# ================================================================================ helpers: training
@functools.cache
def digits():
    from lrcourse.data import digits as load

    return load(device="cpu")


def net(seed=0, hidden=(16,)):
    from lrcourse.models import mlp

    return mlp(64, hidden, 10, seed=seed)


def sgd(model, lr=0.1, **kw):
    return torch.optim.SGD(model.parameters(), lr=lr, **kw)


def two_group_sgd(model):
    """SGD with two param groups a factor 10 apart: the first layer at 0.01, the rest at 0.1."""
    rest = [p for m in list(model)[1:] for p in m.parameters()]
    return torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.01}, {"params": rest, "lr": 0.1}], lr=0.1)


def small_fit(**kw):
    from lrcourse.training import fit

    ds = digits()
    model = kw.pop("model", None) or net()
    opt = kw.pop("optimizer", None) or sgd(model)
    kw.setdefault("epochs", 1)
    kw.setdefault("progress", False)
    train = kw.pop("train", (ds.train[0][:256], ds.train[1][:256]))
    return fit(model, train, kw.pop("val", None), optimizer=opt, **kw)


# ======================================================================================= area: api
HOSTILE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "negative": -1.0, "bool": True, "str": "0.1",
           "None": None, "complex": 1j, "list": [0.1], "tensor": torch.tensor([0.1, 0.2])}


def _schedule_classes():
    from lrcourse.exercises import _typical_params
    from lrcourse.schedules import SCHEDULES

    return [(cls, _typical_params(cls)) for cls in SCHEDULES.values()]


def _field_grid(kinds):
    bad, n = [], 0
    for cls, params in _schedule_classes():
        for name, value in params.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not kinds(name, value):
                continue
            for label, hostile in HOSTILE.items():
                if label == "negative" and ("min" in name or "start" in name or "end" in name):
                    continue  # a floor of -1 is refused too, but some fields legitimately allow 0
                n += 1
                try:
                    cls(**{**params, name: hostile})
                    bad.append(f"{cls.__name__}.{name}={label} accepted")
                except (TypeError, ValueError) as err:
                    if name not in str(err) and label not in ("list", "tensor"):
                        bad.append(f"{cls.__name__}.{name}={label}: message names no field")
                except Exception as err:  # noqa: BLE001
                    bad.append(f"{cls.__name__}.{name}={label}: {short(err)}")
    expect(not bad, "; ".join(bad[:3]) + f" ({len(bad)} of {n})")
    return f"{n} field x value combinations refused, naming the field"


@scenario("api", "P01-lr-fields", "schedules: hostile LR values (NaN, inf, <0, bool, str, None, complex, list, tensor)")
def _():
    return _field_grid(lambda name, v: isinstance(v, float))


@scenario("api", "P01-count-fields", "schedules: hostile step counts")
def _():
    return _field_grid(lambda name, v: isinstance(v, int))


@scenario("api", "P01-steps", "schedules: float/bool/str/negative steps refused")
def _():
    from lrcourse.schedules import CosineAnnealing

    s = CosineAnnealing(0.1, 10)
    return refused_all([(repr(t), lambda t=t: s(t)) for t in (1.5, True, "3", -1, None)])


@scenario("api", "P01-numpy", "schedules: numpy scalars and Fractions accepted and normalised; eq/hash/pickle")
def _():
    from fractions import Fraction

    from lrcourse.schedules import CosineAnnealing

    a, b = CosineAnnealing(np.float32(0.5), np.int64(10)), CosineAnnealing(Fraction(1, 2), 10)
    expect(a == b and hash(a) == hash(b) and pickle.loads(pickle.dumps(a)) == a, f"{a!r} != {b!r}")
    expect(a(np.int64(3)) == a(3), "numpy step differs")
    return repr(a)


@scenario("api", "P01-curve", "schedules: curve(n) == [s(t) for t in range(n)] on edge configs, total_steps=1")
def _():
    bad = 0
    for cls, params in _schedule_classes():
        s = cls(**params)
        bad += not np.allclose(s.curve(40), [s(t) for t in range(40)], rtol=1e-12, atol=0)
        if "total_steps" in params:
            try:
                one = cls(**{**params, "total_steps": 1})
                one(0), one(5)
            except (TypeError, ValueError):
                pass  # a schedule whose other counts do not fit one step may refuse it
    expect(bad == 0, f"{bad} schedules: curve differs from calls")
    return f"{len(_schedule_classes())} classes"


@scenario("api", "P02-onecycle-torch", "OneCycle == torch OneCycleLR (LR and momentum) on edge configs")
def _():
    from lrcourse.schedules import OneCycle

    configs = [dict(total_steps=1), dict(total_steps=2), dict(total_steps=10, pct_start=0.5),
               dict(total_steps=100, three_phase=True), dict(total_steps=7, pct_start=0.01),
               dict(total_steps=50, anneal_strategy="linear"), dict(total_steps=30, div_factor=1.0)]
    worst = 0.0
    for c in configs:
        kw = {k: v for k, v in c.items() if k != "total_steps"}
        s = OneCycle(0.1, c["total_steps"], **{("anneal" if k == "anneal_strategy" else k): v for k, v in kw.items()})
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
        sch = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=c["total_steps"], **kw)
        for t in range(c["total_steps"]):
            lr, mom = opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]
            worst = max(worst, abs(lr - s(t)) / 0.1, abs(mom - s.momentum(t)))
            opt.step()
            sch.step()
    expect(worst < 1e-9, f"largest difference {worst:.2e}")
    return f"{len(configs)} configs, max rel. diff {worst:.1e}"


@scenario("api", "SWR-9", "OneCycle(three_phase=True, pct_start>0.5): refused, or holds the final LR past T")
def _():
    from lrcourse.schedules import OneCycle

    try:
        s = OneCycle(0.1, 10, pct_start=0.6, three_phase=True)
    except ValueError as err:
        return "refused: " + short(err)
    tail = [s(t) for t in range(10, 16)] + [s(10**6)]
    expect(len(set(tail)) == 1 and tail[0] == s(9), f"past T: {tail}")
    return "holds"


@scenario("api", "SWR-7-bridge", "ScheduleLR keeps the LR ratio of two param groups")
def _():
    from lrcourse.schedules import CosineAnnealing
    from lrcourse.torch_bridge import ScheduleLR

    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a], "lr": 0.01}, {"params": [b], "lr": 0.1}], lr=0.1)
    sch = ScheduleLR(opt, CosineAnnealing(0.1, 4))
    lrs = []
    for _ in range(3):
        lrs.append(tuple(g["lr"] for g in opt.param_groups))
        opt.step()
        sch.step()
    expect(all(abs(h / bb - 10) < 1e-9 for bb, h in lrs), f"{lrs}")
    return f"{[tuple(round(x, 4) for x in p) for p in lrs]}"


@scenario("api", "SWR-7-fit", "fit(schedule=...) keeps the ratio of two param groups")
def _():
    from lrcourse.schedules import CosineAnnealing

    model = net()
    opt = two_group_sgd(model)
    small_fit(model=model, optimizer=opt, schedule=CosineAnnealing(0.1, 8))
    low, high = (g["lr"] for g in opt.param_groups)
    expect(high == 0 and low == 0 or abs(high / low - 10) < 1e-6, f"final lrs {low}, {high}")
    return f"final lrs {low:.3g}, {high:.3g}"


@scenario("api", "SWR-7-plateau", "ReduceLROnPlateau in fit keeps the ratio of two param groups")
def _():
    from lrcourse.plateau import ReduceLROnPlateau

    model = net()
    opt = two_group_sgd(model)
    ds = digits()
    small_fit(model=model, optimizer=opt, schedule=ReduceLROnPlateau(0.1), val=ds.val)
    low, high = (g["lr"] for g in opt.param_groups)
    expect(abs(high / low - 10) < 1e-6, f"final lrs {low}, {high}")
    return f"final lrs {low:.3g}, {high:.3g}"


@scenario("api", "SWR-8-short", "fit: a OneCycle shorter than the run is refused before training")
def _():
    from lrcourse.schedules import OneCycle

    return refused(lambda: small_fit(epochs=4, batch_size=64, schedule=OneCycle(0.1, 4)), kinds=(ValueError,),
                   match="total_steps|horizon")


@scenario("api", "SWR-8-per-epoch", "fit: a per-update OneCycle stepped per epoch is refused")
def _():
    from lrcourse.schedules import OneCycle

    return refused(lambda: small_fit(epochs=4, batch_size=64, step_per="epoch", schedule=OneCycle(0.1, 16)),
                   kinds=(ValueError,), match="epoch")


@scenario("api", "SWR-8-torch", "fit: a torch OneCycleLR shorter than the run is refused (held before)")
def _():
    model = net()
    opt = sgd(model)
    sch = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=4)
    return refused(lambda: small_fit(model=model, optimizer=opt, epochs=4, schedule=sch), kinds=(ValueError,))


@scenario("api", "SWR-10", "fit: an empty validation set is an error, not NaN")
def _():
    ds = digits()
    return refused(lambda: small_fit(val=(ds.val[0][:0], ds.val[1][:0])), kinds=(ValueError,), match="empty")


@scenario("api", "SWR-11-api", "range test that stopped after a few steps: suggest() refuses")
def _():
    from lrcourse.range_test import lr_range_test

    model = net()
    ds = digits()
    res = lr_range_test(model, ds.train, optimizer=sgd(model, momentum=0.9), start_lr=10.0, end_lr=1e6,
                        num_steps=30, progress=False)  # diverges within a few steps, like --momentum nan
    try:
        got = res.suggest()
    except (ValueError, RuntimeError) as err:
        return f"stopped after {len(res.lrs)} steps; " + short(err)
    finite = int(np.isfinite(np.asarray(res.losses)).sum())
    expect(finite >= 10, f"suggested {got:.3g} from {finite} finite points without a word")
    return f"{finite} finite points"


@scenario("api", "SWR-13", "compare/build_configs: hidden=(1.7,), True, '32', 0, (), 32 refused")
def _():
    from lrcourse.experiments import build_configs

    def make(h):
        return lambda: build_configs(["constant"], [0.1], [0], data="digits", hidden=h, epochs=1)

    return refused_all([(repr(h), make(h)) for h in [(1.7,), (True,), ("32",), (0,), 32]])


@scenario("api", "CRASH-8", "fit on a DataLoader over an empty IterableDataset / dicts / 3-tuples: clear errors")
def _():
    from torch.utils.data import DataLoader, IterableDataset

    X, y = digits().train

    class Empty(IterableDataset):
        def __iter__(self):
            return iter([])

    class Dicts(IterableDataset):
        def __iter__(self):
            return iter({"x": X[i], "y": y[i]} for i in range(8))

    class Triples(IterableDataset):
        def __iter__(self):
            return iter((X[i], y[i], 0) for i in range(8))

    return refused_all([(c.__name__, lambda c=c: small_fit(train=DataLoader(c(), batch_size=4)))
                        for c in (Empty, Dicts, Triples)], kinds=(ValueError, TypeError))


@scenario("api", "CRASH-9", "numpy scalars accepted by fit, lr_range_test, compare, plateau, ScheduleLR")
def _():
    from lrcourse.experiments import build_configs
    from lrcourse.plateau import ReduceLROnPlateau
    from lrcourse.range_test import lr_range_test
    from lrcourse.schedules import CosineAnnealing
    from lrcourse.torch_bridge import ScheduleLR

    ds = digits()
    model = net()
    small_fit(model=model, epochs=np.int64(1), batch_size=np.int64(64), seed=np.int64(0))
    lr_range_test(model, ds.train, optimizer=sgd(model), start_lr=np.float32(1e-5), smooth=np.float32(0.9),
                  num_steps=np.int64(5), progress=False)
    build_configs(["constant"], [np.float32(0.1)], np.arange(2), data="digits", hidden=(8,), epochs=np.int64(1))
    ReduceLROnPlateau(np.float32(0.1), patience=np.int64(2))
    sch = ScheduleLR(sgd(model), CosineAnnealing(0.1, 10))
    state = sch.state_dict()
    state["step"] = np.int64(3)
    sch.load_state_dict(state)
    return "all accepted"


@scenario("api", "CRASH-11", "validation labels out of range: refused before training, clearly")
def _():
    ds = digits()
    yv = ds.val[1].clone()
    yv[0] = 10
    msg = refused(lambda: small_fit(val=(ds.val[0], yv)), kinds=(ValueError,), match="val labels|class")
    return msg


@scenario("api", "CRASH-13", "range test 1e-300..1e300; compare(target_acc='0.5'): errors naming the argument")
def _():
    from lrcourse.experiments import build_configs
    from lrcourse.range_test import lr_range_test

    model = net()
    ds = digits()
    return refused_all([
        ("range 1e-300..1e300", lambda: lr_range_test(model, ds.train, optimizer=sgd(model), start_lr=1e-300,
                                                     end_lr=1e300, num_steps=10, progress=False)),
        ("target_acc='0.5'", lambda: build_configs(["constant"], [0.1], [0], data="digits", hidden=(8,), epochs=1,
                                                   target_acc="0.5")),
    ], match="start_lr|end_lr|range|target_acc")


@scenario("api", "CRASH-14", "check_value(inf), check_choice(list for a single choice): a verdict, not a crash")
def _():
    from lrcourse.exercises import check_choice, check_value

    with contextlib.redirect_stdout(io.StringIO()):
        a = check_value(float("inf"), 0.5)
        b = check_choice(["a", "b"], "b", {"a": "no"})
    expect(not a.passed and not b.passed, f"{a!r} {b!r}")
    return "both fail with a message"


@scenario("api", "COSM-huge", "huge but finite parameters and steps: clear errors naming the field")
def _():
    from lrcourse.schedules import CosineAnnealing, ExponentialDecay, PiecewiseConstant, StepDecay

    def call(make, t=0):
        return lambda: make()(t)

    return refused_all([
        ("StepDecay(step_size=1e308)", call(lambda: StepDecay(0.1, 1e308))),
        ("CosineAnnealing(lr=1e308)", call(lambda: CosineAnnealing(1e308, 10))),
        ("ExponentialDecay(decay_rate=1e308)", call(lambda: ExponentialDecay(0.1, 10, 1e308), 3)),
        ("lr=10**400", call(lambda: CosineAnnealing(10**400, 10))),
        ("step 2**63", call(lambda: CosineAnnealing(0.1, 10), 2**63)),
        ("step np.uint64", call(lambda: CosineAnnealing(0.1, 10), np.uint64(2**63))),
        ("boundaries=tensor(5)", call(lambda: PiecewiseConstant(torch.tensor(5), [0.1, 0.01]))),
    ], kinds=(TypeError, ValueError, OverflowError), match=r"lr|step|size|rate|bound|large|finite")


@scenario("api", "COSM-ignore-index", "labels of -100 (ignored by the loss) are not counted in val_acc")
def _():
    from lrcourse.training import evaluate

    ds = digits()
    model = net()
    X, y = ds.val
    masked = y[:200].clone()
    masked[100:] = -100
    a, b = evaluate(model, (X[:100], y[:100]))[1], evaluate(model, (X[:200], masked))[1]
    expect(a == b, f"val_acc {b:.3f} with -100 labels, {a:.3f} without them")
    return f"val_acc {a:.3f} both ways"


@scenario("api", "COSM-plateau-str", "ReduceLROnPlateau.step('1.5') refused")
def _():
    from lrcourse.plateau import ReduceLROnPlateau

    return refused(lambda: ReduceLROnPlateau(0.1).step("1.5"), match="metric")


def _fit_bad_inputs():
    from lrcourse.schedules import CosineAnnealing

    ds = digits()
    X, y = ds.train[0][:64], ds.train[1][:64]
    other = net(seed=1)
    return [
        ("empty train", lambda: small_fit(train=(X[:0], y[:0]))),
        ("mismatched X/y", lambda: small_fit(train=(X, y[:10]))),
        ("float y", lambda: small_fit(train=(X, y.float()))),
        ("2-D y", lambda: small_fit(train=(X, y[:, None]))),
        ("train label 10", lambda: small_fit(train=(X, torch.full_like(y, 10)))),
        ("no parameters", lambda: small_fit(model=torch.nn.Flatten(), optimizer=sgd(other))),
        ("optimizer of another model", lambda: small_fit(optimizer=sgd(other))),
        ("step_per='step'", lambda: small_fit(step_per="step")),
        ("device='gpu9'", lambda: small_fit(device="gpu9")),
        ("loss_fn=3", lambda: small_fit(loss_fn=3)),
        ("callbacks=[3]", lambda: small_fit(callbacks=[3])),
        ("schedule='cosine'", lambda: small_fit(schedule="cosine")),
        ("epochs=0", lambda: small_fit(epochs=0)),
        ("batch_size=0", lambda: small_fit(batch_size=0)),
        ("schedule of str steps", lambda: small_fit(schedule=CosineAnnealing(0.1, "8"))),
    ]


@scenario("api", "P03-bad-input", "fit: bad data, models, optimizers, step_per, device, loss_fn, callbacks, schedules")
def _():
    return refused_all(_fit_bad_inputs(), kinds=(TypeError, ValueError, RuntimeError))


@scenario("api", "P03-nan-data", "fit: NaN data is marked diverged")
def _():
    X, y = digits().train
    X = X[:128].clone()
    X[0, 0] = math.nan
    h = small_fit(train=(X, y[:128]))
    expect(h.diverged, f"diverged={h.diverged}")
    return "diverged"


@scenario("api", "P03-tensor-lr", "fit with Adam(lr=tensor) works")
def _():
    model = net()
    h = small_fit(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=torch.tensor(0.01)))
    return f"train_loss {h.train_loss[-1]:.3f}"


@scenario("api", "P04-range-test-bad", "lr_range_test: bad arguments and empty data refused")
def _():
    from lrcourse.range_test import lr_range_test

    ds = digits()
    model = net()
    X, y = ds.train
    return refused_all([
        ("empty", lambda: lr_range_test(model, (X[:0], y[:0]), optimizer=sgd(model), progress=False)),
        ("empty val", lambda: lr_range_test(model, ds.train, optimizer=sgd(model), val=(X[:0], y[:0]),
                                            progress=False)),
        ("start>end", lambda: lr_range_test(model, ds.train, optimizer=sgd(model), start_lr=1, end_lr=1e-3,
                                            progress=False)),
        ("num_steps=1", lambda: lr_range_test(model, ds.train, optimizer=sgd(model), num_steps=1, progress=False)),
        ("smooth=1", lambda: lr_range_test(model, ds.train, optimizer=sgd(model), smooth=1.0, progress=False)),
        ("mode='log'", lambda: lr_range_test(model, ds.train, optimizer=sgd(model), mode="log", progress=False)),
    ])


@scenario("api", "P04-compare-bad", "compare arguments: bad schedules, lrs, seeds, data, epochs refused")
def _():
    from lrcourse.experiments import build_configs

    def bc(*a, **kw):
        return lambda: build_configs(*a, **{"data": "digits", "hidden": (8,), "epochs": 1, **kw})

    return refused_all([
        ("unknown schedule", bc(["nope"], [0.1], [0])), ("lrs []", bc(["constant"], [], [0])),
        ("lr nan", bc(["constant"], [math.nan], [0])), ("lr -1", bc(["constant"], [-1.0], [0])),
        ("seed -1", bc(["constant"], [0.1], [-1])), ("seed 1.5", bc(["constant"], [0.1], [1.5])),
        ("data", bc(["constant"], [0.1], [0], data="imagenet")), ("epochs 0", bc(["constant"], [0.1], [0], epochs=0)),
        ("optimizer", bc(["constant"], [0.1], [0], optimizer="lion9")),
    ], kinds=(TypeError, ValueError, KeyError))


@scenario("api", "P12-exercises", "exercises.check_*: wrong types give a verdict, never a crash")
def _():
    from lrcourse.exercises import check_choice, check_schedule, check_value
    from lrcourse.schedules import CosineAnnealing

    bad = []
    with contextlib.redirect_stdout(io.StringIO()):
        for label, fn in [("value None", lambda: check_value(None, 1.0)), ("value 'x'", lambda: check_value("x", 1.0)),
                          ("value nan", lambda: check_value(math.nan, 1.0)),
                          ("value tensor", lambda: check_value(torch.tensor([1.0, 2.0]), 1.0)),
                          ("choice dict", lambda: check_choice({"a": 1}, "a")),
                          ("schedule None", lambda: check_schedule(None, CosineAnnealing)),
                          ("schedule raising", lambda: check_schedule(lambda **k: 1 / 0, CosineAnnealing))]:
            try:
                r = fn()
                if r.passed:
                    bad.append(f"{label} passed")
            except Exception as err:  # noqa: BLE001
                bad.append(f"{label}: {short(err)}")
    expect(not bad, "; ".join(bad))
    return "7 wrong answers: each a failed verdict"


@scenario("api", "P12-state-dicts", "ScheduleLR/ReduceLROnPlateau state dicts round-trip; schedule_from_config")
def _():
    from lrcourse.plateau import ReduceLROnPlateau
    from lrcourse.schedules import SCHEDULES, Join, warmup_cosine
    from lrcourse.torch_bridge import ScheduleLR, schedule_config, schedule_from_config

    for cls, params in _schedule_classes():
        s = cls(**params)
        expect(schedule_from_config(schedule_config(s)) == s, f"{cls.__name__} config round trip")
    j = warmup_cosine(0.1, 100, 10)
    expect(isinstance(j, Join) and schedule_from_config(schedule_config(j)) == j, "Join round trip")
    model = net()
    a = ScheduleLR(sgd(model), j)
    for _ in range(5):
        a.optimizer.step()
        a.step()
    b = ScheduleLR(sgd(model), j)
    b.load_state_dict(a.state_dict())
    expect(b.get_last_lr() == a.get_last_lr(), "ScheduleLR state")
    p = ReduceLROnPlateau(0.1, patience=0)
    for m in (1.0, 2.0, 3.0):
        p.step(m)
    q = ReduceLROnPlateau(0.1, patience=0)
    q.load_state_dict(p.state_dict())
    expect(q.lr == p.lr, "plateau state")
    return f"{len(SCHEDULES)} classes, Join, plateau"


@scenario("api", "P12-join", "Join/PiecewiseConstant: length and order checks")
def _():
    from lrcourse.schedules import Constant, Join, PiecewiseConstant

    return refused_all([("Join lengths", lambda: Join([Constant(0.1), Constant(0.2)], [5, 3])),
                        ("Join empty", lambda: Join([], [])),
                        ("Piecewise order", lambda: PiecewiseConstant([5, 3], [0.1, 0.2, 0.3])),
                        ("Piecewise lengths", lambda: PiecewiseConstant([5], [0.1]))])


@scenario("api", "P12-set-lr", "set_lr: bad values and per-group lists of the wrong length refused")
def _():
    from lrcourse.torch_bridge import set_lr

    opt = sgd(net())
    return refused_all([(repr(v), lambda v=v: set_lr(opt, v)) for v in (math.nan, -1.0, "0.1", [0.1, 0.2], None)])


# ================================================================================ area: checkpoint
CKPT_WORKER = textwrap.dedent("""\
    import sys, torch
    from lrcourse.data import digits
    from lrcourse.models import mlp
    from lrcourse.schedules import CosineAnnealing
    from lrcourse.training import fit
    ds = digits(device="cpu")
    m = mlp(64, (256, 256), 10, seed=0)
    fit(m, ds.train, epochs=400, batch_size=256, optimizer=torch.optim.SGD(m.parameters(), lr=0.05),
        schedule=CosineAnnealing(0.05, 2000), progress=False, checkpoint_path=sys.argv[1])
""")


@functools.cache
def killed_checkpoints(kills=8):
    """SIGKILL a training run that checkpoints every epoch at random moments; return (loadable, leftovers)."""
    from lrcourse.training import load_checkpoint

    folder = WORK / "kills"
    folder.mkdir()
    (folder / "worker.py").write_text(CKPT_WORKER)
    path = folder / "ckpt.pt"
    rng = random.Random(0)
    loadable, started = 0, 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for _ in range(kills):
        proc = subprocess.Popen([PY, str(folder / "worker.py"), str(path)], env=env, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        while not path.exists() and time.monotonic() - t0 < 120:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.kill()
        proc.wait()
        started += 1
        try:
            load_checkpoint(path)
            loadable += 1
        except Exception:  # noqa: BLE001
            pass
    leftovers = [p.name for p in folder.iterdir() if p.name not in ("worker.py", "ckpt.pt")]
    return loadable, started, leftovers


@scenario("checkpoint", "P06-sigkill", "SIGKILL during checkpoint writes leaves a loadable checkpoint")
def _():
    loadable, n, _ = killed_checkpoints()
    expect(loadable == n, f"{loadable}/{n} loadable")
    return f"{loadable}/{n} loadable"


@scenario("checkpoint", "COSM-tmp-leftovers", "SIGKILL during checkpointing leaves no *.tmp files behind")
def _():
    _, n, leftovers = killed_checkpoints()
    expect(not leftovers, f"{len(leftovers)} left after {n} kills: {leftovers[:2]}")
    return f"none after {n} kills"


def _ckpt_run(path=None, resume=None, epochs=4, schedule=None, **kw):
    from lrcourse.schedules import CosineAnnealing

    model = kw.pop("model", None) or net(hidden=(8,))
    opt = kw.pop("optimizer", None) or sgd(model, momentum=0.9)
    h = small_fit(model=model, optimizer=opt, epochs=epochs, batch_size=kw.pop("batch_size", 64),
                  schedule=schedule if schedule is not None else CosineAnnealing(0.1, 16),
                  checkpoint_path=path, resume_from=resume, **kw)
    return model, h


@functools.cache
def saved_checkpoint():
    path = WORK / "two_epochs.pt"
    _ckpt_run(path, epochs=2)
    return path


@scenario("checkpoint", "P06-resume-bitwise", "resuming is bitwise equal to an uninterrupted run")
def _():
    whole, h1 = _ckpt_run(epochs=4)
    resumed, h2 = _ckpt_run(resume=saved_checkpoint(), epochs=4)
    same = all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()))
    expect(same and h1.lr == h2.lr and h1.val_loss == h2.val_loss if h1.val_loss else same, "weights differ")
    return "weights, lr and losses equal"


@scenario("checkpoint", "P06-corrupt-files", "truncated, empty, zero-filled, JSON, foreign files refused clearly")
def _():
    from lrcourse.training import load_checkpoint

    good = saved_checkpoint().read_bytes()
    cases = {"truncated": good[: len(good) // 2], "empty": b"", "zeros": bytes(4096), "json": b'{"a": 1}'}
    paths = []
    for name, data in cases.items():
        (WORK / f"{name}.pt").write_bytes(data)
        paths.append((name, WORK / f"{name}.pt"))
    torch.save({"weights": torch.zeros(3)}, WORK / "foreign.pt")
    paths.append(("foreign", WORK / "foreign.pt"))
    return refused_all([(n, lambda p=p: load_checkpoint(p)) for n, p in paths], kinds=(ValueError,))


@scenario("checkpoint", "P06-malicious-pickle", "a malicious pickle is refused and its payload never runs")
def _():
    from lrcourse.training import load_checkpoint

    marker = WORK / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with open(WORK / "evil.pkl", "wb") as f:
        pickle.dump({"format": 1, "x": Evil()}, f)
    torch.save({"x": Evil()}, WORK / "evil.pt")
    msg = refused_all([("plain", lambda: load_checkpoint(WORK / "evil.pkl")),
                       ("torch zip", lambda: load_checkpoint(WORK / "evil.pt"))], kinds=(ValueError,))
    expect(not marker.exists(), "the payload ran")
    return msg


@scenario("checkpoint", "P06-different-run", "a different model, schedule or seed is refused")
def _():
    from lrcourse.schedules import CosineAnnealing

    p = saved_checkpoint()
    return refused_all([
        ("model", lambda: small_fit(model=net(hidden=(9,)), epochs=4, schedule=CosineAnnealing(0.1, 16),
                                    resume_from=p)),
        ("schedule", lambda: _ckpt_run(resume=p, schedule=CosineAnnealing(0.2, 16))),
        ("seed", lambda: _ckpt_run(resume=p, seed=1)),
    ], kinds=(ValueError,))


@scenario("checkpoint", "SWR-14-epochs", "resume with fewer epochs than done is refused")
def _():
    return refused(lambda: _ckpt_run(resume=saved_checkpoint(), epochs=1), kinds=(ValueError,), match="epochs")


@scenario("checkpoint", "SWR-14-step-per", "resume with another step_per is refused")
def _():
    from lrcourse.schedules import Constant

    path = WORK / "constant.pt"  # a schedule without a horizon: only the changed setting can refuse it
    _ckpt_run(path, epochs=2, schedule=Constant(0.1))
    return refused(lambda: _ckpt_run(resume=path, schedule=Constant(0.1), step_per="epoch"), kinds=(ValueError,),
                   match="step_per")


@scenario("checkpoint", "SWR-14-batch-size", "resume with another batch_size is refused")
def _():
    return refused(lambda: _ckpt_run(resume=saved_checkpoint(), batch_size=32), kinds=(ValueError,),
                   match="batch")


@scenario("checkpoint", "SWR-14-data", "resume on different data is refused")
def _():
    ds = digits()
    return refused(lambda: _ckpt_run(resume=saved_checkpoint(), train=(ds.train[0][256:512], ds.train[1][256:512])),
                   kinds=(ValueError,), match="data")


@scenario("checkpoint", "SWR-14-optimizer", "resume with other optimizer hyper-parameters is refused")
def _():
    def run():
        model = net(hidden=(8,))
        return _ckpt_run(resume=saved_checkpoint(), model=model, optimizer=sgd(model, lr=0.001, momentum=0.9))

    return refused(run, kinds=(ValueError,), match="lr|optimizer")


@scenario("checkpoint", "SWR-14-torch-scheduler", "resume of a torch StepLR with another step_size is refused")
def _():
    path = WORK / "steplr.pt"

    def run(step_size, resume=None):
        model = net(hidden=(8,))
        opt = sgd(model)
        return small_fit(model=model, optimizer=opt, epochs=2 if resume is None else 4,
                         schedule=torch.optim.lr_scheduler.StepLR(opt, step_size=step_size),
                         checkpoint_path=None if resume else path, resume_from=resume)

    run(100)
    return refused(lambda: run(2, resume=path), kinds=(ValueError,), match="step_size|schedule")


@scenario("checkpoint", "SWR-15", "200 single-bit flips: every change is detected or harmless")
def _():
    from lrcourse.training import load_checkpoint

    good = saved_checkpoint().read_bytes()
    ref = load_checkpoint(saved_checkpoint())
    rng = random.Random(0)
    detected = harmless = silent = 0
    for _ in range(200):
        data = bytearray(good)
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
        (WORK / "flip.pt").write_bytes(bytes(data))
        try:
            got = load_checkpoint(WORK / "flip.pt")
        except Exception:  # noqa: BLE001
            detected += 1
            continue
        same = pickle.dumps(_plain(got)) == pickle.dumps(_plain(ref))
        harmless += same
        silent += not same
    expect(silent == 0, f"{silent} flips loaded with different contents ({detected} detected, {harmless} harmless)")
    return f"{detected} detected, {harmless} harmless, 0 silent"


def _plain(x):
    if isinstance(x, torch.Tensor):
        return ("tensor", str(x.dtype), tuple(x.shape), x.detach().cpu().numpy().tobytes())
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


@scenario("checkpoint", "CRASH-2", "a non-dataclass schedule is identified without a memory address (resumable)")
def _():
    from lrcourse.schedules import Schedule

    class Flat(Schedule):
        def _lr(self, t):
            return np.full(np.shape(t), 0.1)

    path = WORK / "plain.pt"
    _ckpt_run(path, epochs=2, schedule=Flat())
    try:
        _ckpt_run(resume=path, epochs=4, schedule=Flat())
    except ValueError as err:
        expect(" at 0x" not in str(err), short(err))
        raise Failed(short(err)) from None
    return "resumed with a new instance"


@scenario("checkpoint", "CRASH-10", "resume an SGD checkpoint with Adam; a forged checkpoint: clear messages")
def _():
    def adam():
        model = net(hidden=(8,))
        return _ckpt_run(resume=saved_checkpoint(), model=model, optimizer=torch.optim.Adam(model.parameters(), lr=0.1))

    torch.save({"format": 1}, WORK / "forged.pt")
    return refused_all([("adam", adam),
                        ("forged", lambda: _ckpt_run(resume=WORK / "forged.pt"))],
                       kinds=(ValueError,), match="optimizer|Adam|SGD|checkpoint|format")


@scenario("checkpoint", "CRASH-12", "fit(checkpoint_path=<a directory>) is refused before training")
def _():
    t0 = time.process_time()
    msg = refused(lambda: _ckpt_run(WORK, epochs=3), kinds=(ValueError, IsADirectoryError), match="director|folder")
    expect(time.process_time() - t0 < 5, "refused only after training")
    return msg


# ================================================================================= area: classroom
def source_notebook():
    """Two exercises, each a check cell worth 1 point (as tests/test_classroom.py builds it)."""
    from lrcourse import classroom

    nb = v4.new_notebook(cells=[
        v4.new_code_cell("from lrcourse.exercises import check_value, check_choice"),
        v4.new_code_cell("answer = None\n### BEGIN SOLUTION\nanswer = 0.9 ** 10\n### END SOLUTION"),
        v4.new_code_cell("result = check_value(answer, 0.9 ** 10)\nassert result.passed"),
        v4.new_code_cell("choice = None\n### BEGIN SOLUTION\nchoice = 'b'\n### END SOLUTION"),
        v4.new_code_cell("assert check_choice(choice, 'b')"),
    ])
    return classroom.prepare_for_nbgrader(nb)[0]


def wrong(nb):
    nb = copy.deepcopy(nb)
    nb.cells[1].source, nb.cells[3].source = "answer = 0.5", "choice = 'a'"
    return nb


def with_cell(nb, index, source):
    nb = copy.deepcopy(nb)
    nb.cells.insert(index, v4.new_code_cell(source))
    return nb


FORGED = 'LRCOURSE_GRADE [{"check": "check_value", "score": 1.0, "passed": true}]'


def class_a(src):
    """Forged, edited and broken submissions (SWR-3/4/5, DATA-1, and what held)."""
    subs = {"alice_solved": src, "bob_wrong": wrong(src)}
    subs["forge_post_run_cell"] = with_cell(wrong(src), 0, "get_ipython().events.register('post_run_cell', "
                                            f"lambda r: print({FORGED!r}))")
    subs["forge_thread"] = with_cell(wrong(src), 0, "import threading, time\ndef spam():\n    while True:\n"
                                     f"        print({FORGED!r}, flush=True); time.sleep(0.001)\n"
                                     "threading.Thread(target=spam, daemon=True).start()")
    subs["forge_report"] = with_cell(wrong(src), 0, "import _lrcourse_grading as g\n"
                                     f"g.report = lambda: print({FORGED!r})")
    subs["forge_nan"] = with_cell(wrong(src), 1, "from lrcourse.exercises import Result\n"
                                  "def check_value(*a, **k):\n    return Result(True, float('nan'), '')")
    subs["forge_displayhook"] = with_cell(wrong(src), 0, "get_ipython().events.register('pre_run_cell', "
                                          "lambda info: get_ipython().displayhook(1.0))")
    nb = wrong(src)
    nb.cells[2].source = "result = check_value(1, 1)\nresult.score"
    subs["edited_check"] = nb
    nb = wrong(src)
    for _ in range(10):
        nb.cells.append(v4.new_code_cell("check_value(1, 1).score"))
    subs["extra_checks"] = nb
    nb = wrong(src)
    bonus = v4.new_code_cell("pass")
    bonus.metadata["nbgrader"] = {"grade": True, "grade_id": "bonus", "locked": True, "points": 100,
                                  "schema_version": 3, "solution": False, "task": False}
    nb.cells.append(bonus)
    subs["bonus_100"] = nb
    nb = copy.deepcopy(src)
    del nb.cells[2]
    subs["deleted_check"] = nb
    nb = wrong(src)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade"):
            c.outputs = [v4.new_output("execute_result", data={"text/plain": "1.0"}, execution_count=1)]
            c.execution_count = 1
    subs["prefilled_outputs"] = nb
    subs["empty_notebook"] = v4.new_notebook()
    subs["wrong_notebook"] = v4.new_notebook(cells=[v4.new_code_cell("print('hello')")])
    data = json.loads(nbformat.writes(src))
    data["cells"].append({"cell_type": "bogus", "source": "x", "metadata": {}})
    subs["cell_type_bogus"] = json.dumps(data)
    subs["not_json"] = "{not json"
    subs["empty_file"] = ""
    data = json.loads(nbformat.writes(src))
    data["nbformat"] = 99
    subs["nbformat_99"] = json.dumps(data)
    data = json.loads(nbformat.writes(src))
    data["cells"][1]["source"] = 123
    subs["source_is_number"] = json.dumps(data)
    data = json.loads(nbformat.writes(src))
    data["cells"] = {"0": data["cells"][0]}
    subs["cells_as_dict"] = json.dumps(data)
    data = json.loads(nbformat.writes(src))
    for i in (0, 1, 3):
        del data["cells"][i]["metadata"]
    subs["missing_metadata"] = json.dumps(data)
    subs["nbformat_3"] = nbformat.writes(nbformat.convert(copy.deepcopy(src), 3))
    nb = copy.deepcopy(src)
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    subs["r_kernelspec"] = nb
    nb = wrong(src)
    for c in nb.cells:
        if not c.metadata.get("nbgrader", {}).get("grade"):
            c.source += "\nraise ValueError('every cell fails')"
    subs["exception_every_cell"] = nb
    subs["sys_exit"] = with_cell(src, 0, "import sys\nsys.exit(3)")
    subs["os_exit"] = with_cell(src, 3, "import os\nos._exit(0)")
    subs["plain_loop"] = with_cell(src, 3, "while True:\n    pass")
    subs["big_print"] = with_cell(src, 0, "print('x' * 50_000_000)")
    subs["reads_instructor_files"] = with_cell(src, 0, f"import pathlib\nleak = pathlib.Path({str(WORK)!r})"
                                               f".joinpath('a', 'source', 'ex.ipynb').read_text()\n"
                                               f"pathlib.Path({str(WORK / 'leaked')!r}).write_text(leak)")
    subs["plants_package"] = with_cell(src, 0, "import os\nos.makedirs('lrcourse', exist_ok=True)\n"
                                       "open('lrcourse/__init__.py', 'w').write('raise SystemExit(\"planted\")')\n"
                                       "open('../lrcourse_planted.txt', 'w').write('x')")
    subs["ünï cøde 🎓 space"] = src
    subs["zoe_solved_last"] = src
    return subs


def write_class(folder: Path, submissions: dict) -> list:
    paths = []
    for learner, nb in submissions.items():
        path = folder / "submitted" / learner / "ex.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(nb) if isinstance(nb, str) else nbformat.write(nb, path)
        paths.append(path)
    return paths


def by_learner(records):
    out = {}
    for r in records:
        out.setdefault(Path(r["notebook"]).parent.name, {})[r["exercise"]] = (r["points"], r["max_points"],
                                                                             r["status"])
    return out


@functools.cache
def graded_a():
    """Class A, graded once through the command line (rc, stderr, records, seconds)."""
    folder = WORK / "a"
    src = source_notebook()
    (folder / "source").mkdir(parents=True)
    nbformat.write(src, folder / "source" / "ex.ipynb")
    write_class(folder, class_a(src))
    t0 = time.monotonic()
    proc = lrcourse("grade", folder / "submitted", "--source", folder / "source", "--csv", folder / "s.csv",
                    "--json", folder / "s.json", "--timeout", "2.5", "--no-progress", timeout=1500, cwd=folder)
    records = json.loads((folder / "s.json").read_text()) if (folder / "s.json").exists() else []
    return proc.returncode, proc.stderr, by_learner(records), time.monotonic() - t0


def learner(name):
    rc, err, got, _ = graded_a()
    expect(got, f"no scores at all (rc {rc}): {err.strip()[-150:]}")
    expect(name in got, f"no row for {name!r}")
    return got[name]


def total(rows):
    return sum(p or 0 for p, _, _ in rows.values()), sum(m for _, m, _ in rows.values())


def score_is(name, want):
    rows = learner(name)
    got = total(rows)
    expect(got == want, f"{got[0]:g}/{got[1]:g}: " + "; ".join(s for _, _, s in rows.values())[:120])
    return f"{got[0]:g}/{got[1]:g}"


def row_with_reason(name):
    rows = learner(name)
    expect(all(p == 0 for p, _, _ in rows.values()), f"{rows}")
    return next(iter(rows.values()))[2][:100]


for _sid, _name, _want, _title in [
    ("P07-solved", "alice_solved", (2, 2), "a solved submission scores 2/2"),
    ("P07-wrong", "bob_wrong", (0, 2), "a wrong submission scores 0/2"),
    ("SWR-3-post-run-cell", "forge_post_run_cell", (0, 2), "a post_run_cell hook printing a grade line: 0/2"),
    ("SWR-3-thread", "forge_thread", (0, 2), "a thread printing grade lines: 0/2"),
    ("SWR-3-report", "forge_report", (0, 2), "replacing the grading module's report(): 0/2"),
    ("SWR-3-nan", "forge_nan", (0, 2), "a check returning a NaN score: 0/2, never nan"),
    ("SWR-3-displayhook", "forge_displayhook", (0, 2), "a hook displaying a forged result: 0/2"),
    ("SWR-4-edited", "edited_check", (0, 2), "check cell edited to check_value(1, 1): restored, 0/2"),
    ("SWR-4-extra", "extra_checks", (0, 2), "10 extra check cells: ignored, 0/2"),
    ("SWR-4-bonus", "bonus_100", (0, 2), "a cell with nbgrader metadata worth 100 points: 0/2"),
    ("SWR-4-deleted", "deleted_check", (1, 2), "a deleted check cell scores 0, the other kept: 1/2"),
    ("P07-prefilled", "prefilled_outputs", (0, 2), "forged outputs stored in the submission are ignored"),
    ("P07-nbformat-3", "nbformat_3", (2, 2), "an nbformat 3 submission is converted and graded"),
    ("P07-missing-metadata", "missing_metadata", (2, 2), "cells without metadata are graded"),
    ("P07-r-kernelspec", "r_kernelspec", (2, 2), "an R kernelspec runs in the course environment"),
    ("P07-exceptions", "exception_every_cell", (0, 2), "an exception in every cell: 0/2, grading goes on"),
    ("P07-sys-exit", "sys_exit", (2, 2), "sys.exit in a cell is contained"),
    ("P07-plain-loop", "plain_loop", (2, 2), "a plain infinite loop times out; grading goes on"),
    ("P07-50MB-print", "big_print", (2, 2), "a single 50 MB print"),
    ("P09-unicode-path", "ünï cøde 🎓 space", (2, 2), "a path with spaces, unicode and emoji"),
    ("DATA-1-next-learner", "zoe_solved_last", (2, 2), "the learner after all the broken ones is graded"),
]:
    scenario("classroom", _sid, _title)(lambda _name=_name, _want=_want: score_is(_name, _want))

for _sid, _name, _title in [
    ("SWR-5-empty", "empty_notebook", "an empty notebook gets rows with 0 and the reason"),
    ("SWR-5-wrong-notebook", "wrong_notebook", "the wrong notebook gets rows with 0 and the reason"),
    ("SWR-5-bogus-cell-type", "cell_type_bogus", "an unknown cell_type gets rows with 0 and the reason"),
    ("SWR-5-not-json", "not_json", "a non-JSON file gets rows"),
    ("P07-empty-file", "empty_file", "an empty file gets rows"),
    ("SWR-5-nbformat-99", "nbformat_99", "nbformat 99 gets rows"),
    ("DATA-1-source-number", "source_is_number", "a cell whose source is a number gets rows; nothing aborts"),
    ("P07-cells-dict", "cells_as_dict", "'cells' as a dict gets rows"),
    ("P07-os-exit", "os_exit", "os._exit (dead kernel): 0 with a reason for the cells after it"),
]:
    scenario("classroom", _sid, _title)(lambda _name=_name: row_with_reason(_name) if _name != "os_exit"
                                        else _os_exit())


def _os_exit():
    rows = learner("os_exit")
    expect(rows["test_1"][0] == 1 and rows["test_2"][0] == 0, f"{rows}")
    return rows["test_2"][2][:100]


@scenario("classroom", "DATA-1-exit", "one broken class: exit status 0/1 with every row written, nothing aborts")
def _():
    rc, err, got, secs = graded_a()
    expect(rc in (0, 1) and len(got) == len(class_a(source_notebook())), f"rc {rc}, {len(got)} learners: {err[-200:]}")
    return f"rc {rc}, {len(got)} learners in {secs:.0f} s"


@scenario("classroom", "SEC-read-instructor-files", "a submission cannot read the instructor's files")
def _():
    learner("reads_instructor_files")
    expect(not (WORK / "leaked").exists(), "it read the source notebook (needs a container: docs/instructors.md)")
    return "not readable"


@scenario("classroom", "SEC-planted-package", "a planted lrcourse/ package lands outside the submissions folder")
def _():
    learner("plants_package")
    subs = WORK / "a" / "submitted"
    planted = [p for p in subs.rglob("lrcourse_planted.txt")] + [p for p in subs.rglob("lrcourse") if p.is_dir()]
    expect(not planted, f"planted {planted[:2]}")
    return "only in its own temporary folder"


def class_b(folder, src):
    pids, csv_path = folder / "pids", folder / "scores.csv"
    fine = folder / "submitted" / "e_fine" / "ex.ipynb"
    killer = with_cell(src, 0, f"import os, signal\nos.remove({str(fine)!r})\nos.kill(os.getppid(), signal.SIGKILL)")
    sleepers = with_cell(src, 0, textwrap.dedent(f"""\
        import os, subprocess, time
        log = open({str(pids)!r}, "a")
        a = subprocess.Popen(["sleep", "300"]); b = subprocess.Popen(["sleep", "300"], start_new_session=True)
        print(a.pid, b.pid, file=log, flush=True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                print(os.getpid(), file=log, flush=True)
                time.sleep(8)
                open({str(csv_path)!r}, "w").write("forged")
            os._exit(0)
        time.sleep(0.5)"""))
    flood = with_cell(src, 1, "while True:\n    print('x' * 10000)")
    hog = with_cell(src, 1, "hog = bytearray(3 * 2**30)")
    ignore = with_cell(src, 3, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")
    swallow = with_cell(src, 3, "while True:\n    try:\n        while True:\n            pass\n"
                        "    except KeyboardInterrupt:\n        pass")
    return {"a_killer": killer, "b_sleepers": sleepers, "c_flood": flood, "c_hog": hog, "d_ignore_sigint": ignore,
            "d_swallow_interrupt": swallow, "e_fine": src}


@functools.cache
def graded_b():
    """Class B, graded once in this process: (records by learner, grader RSS growth MiB, seconds, folder)."""
    import psutil

    from lrcourse import classroom

    folder = WORK / "b"
    src = source_notebook()
    (folder / "source").mkdir(parents=True)
    nbformat.write(src, folder / "source" / "ex.ipynb")
    paths = write_class(folder, class_b(folder, src))
    import nbconvert.preprocessors  # noqa: F401  (imports are not leaks)
    import nbgrader.preprocessors  # noqa: F401

    me = psutil.Process()
    rss = me.memory_info().rss
    t0 = time.monotonic()
    scores = classroom.grade_submissions(paths, folder / "source", csv_path=folder / "scores.csv", timeout=3,
                                         memory=2**30, progress=False)
    secs = time.monotonic() - t0
    grown = (me.memory_info().rss - rss) / 2**20
    time.sleep(9)  # the daemon would have forged scores.csv by now
    return by_learner(classroom.scores_records(scores)), grown, secs, folder


@scenario("classroom", "DATA-2", "a submission that SIGKILLs its parent does not kill the grader")
def _():
    got = graded_b()[0]
    expect("e_fine" in got and total(got["e_fine"]) == (2, 2), f"{got.get('e_fine')}")
    return got["a_killer"]["test_1"][2][:90]


@scenario("classroom", "DATA-3", "a submission deleting another's file: the other is still graded")
def _():
    got, _, _, folder = graded_b()
    expect(total(got["e_fine"]) == (2, 2), f"{got['e_fine']}")
    return "deleted, yet graded from the copy read before" if not (folder / "submitted/e_fine/ex.ipynb").exists() \
        else "not deleted (ran elsewhere)"


@scenario("classroom", "DATA-4-sleepers", "processes started by a submission do not outlive it")
def _():
    import psutil

    folder = graded_b()[3]
    pids = [int(p) for p in (folder / "pids").read_text().split()]
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    for p in alive:
        os.kill(p, signal.SIGKILL)
    expect(not alive and len(pids) == 3, f"{len(alive)} of {len(pids)} still running (killed now)")
    return f"{len(pids)} started, none left"


@scenario("classroom", "DATA-4-forged-csv", "a detached daemon cannot overwrite the finished scores.csv")
def _():
    folder = graded_b()[3]
    expect((folder / "scores.csv").read_text().startswith("notebook,"), "scores.csv was forged")
    return "scores.csv intact"


@scenario("classroom", "DATA-5", "a print flood does not exhaust the grader's memory")
def _():
    got, grown, _, _ = graded_b()
    expect(grown < 300, f"grader grew {grown:.0f} MiB")
    return f"grader grew {grown:.0f} MiB; flood learner {total(got['c_flood'])[0]:g}/2"


@scenario("classroom", "P07-memory-limit", "a 3 GiB allocation hits the memory limit; grading goes on")
def _():
    got = graded_b()[0]
    expect(total(got["c_hog"]) == (2, 2), f"{got['c_hog']}")
    return "MemoryError in the learner's kernel only"


@scenario("classroom", "HANG-1-sig-ign", "a cell ignoring SIGINT does not hang grading")
def _():
    got, _, secs, _ = graded_b()
    expect(got["d_ignore_sigint"]["test_1"][0] == 1, f"{got['d_ignore_sigint']}")
    return got["d_ignore_sigint"]["test_2"][2][:90] + f" (class of 7 in {secs:.0f} s)"


@scenario("classroom", "HANG-1-swallow", "a loop swallowing KeyboardInterrupt does not hang grading")
def _():
    got = graded_b()[0]
    expect(got["d_swallow_interrupt"]["test_1"][0] == 1, f"{got['d_swallow_interrupt']}")
    return got["d_swallow_interrupt"]["test_2"][2][:90]


@scenario("classroom", "HANG-1-deadline", "a notebook deadline bounds N cells x timeout; what finished is kept")
def _():
    from lrcourse import classroom

    src = source_notebook()
    slow = with_cell(src, 3, "import time\ntime.sleep(600)")
    (WORK / "slow").mkdir()
    nbformat.write(slow, WORK / "slow" / "ex.ipynb")
    t0 = time.monotonic()
    rows = by_learner(classroom.scores_records(classroom.grade_notebook(WORK / "slow" / "ex.ipynb", src,
                                                                         timeout=900, deadline=20)))["slow"]
    secs = time.monotonic() - t0
    expect(rows["test_1"][0] == 1 and rows["test_2"][0] == 0 and secs < 120, f"{rows} in {secs:.0f} s")
    return f"{rows['test_2'][2][:70]} ({secs:.0f} s)"


@scenario("classroom", "DATA-2-sigstop", "a submission that SIGSTOPs its parent does not hang the grader")
def _():
    src = source_notebook()
    folder = WORK / "stop"
    (folder / "source").mkdir(parents=True)
    nbformat.write(src, folder / "source" / "ex.ipynb")
    write_class(folder, {"a_stop": with_cell(src, 0, "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)"),
                         "b_fine": src})
    try:
        proc = lrcourse("grade", folder / "submitted", "--source", folder / "source", "--json", folder / "s.json",
                        "--timeout", "5", "--deadline", "30", "--no-progress", timeout=240)
    except subprocess.TimeoutExpired:
        raise Failed("grading hung for 240 s") from None
    got = by_learner(json.loads((folder / "s.json").read_text()))
    expect(total(got["b_fine"]) == (2, 2), f"rc {proc.returncode}: {got}")
    return got["a_stop"]["test_1"][2][:90]


def _ctrl_c(command, folder, marker):
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}, cwd=folder)
    t0 = time.monotonic()
    while not marker.exists() and time.monotonic() - t0 < 300 and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise Failed("still running 120 s after Ctrl-C") from None
    return proc.returncode, err


@scenario("classroom", "SWR-2", "Ctrl-C during grade: exit 130, finished learners written, the current 'interrupted'")
def _():
    src = source_notebook()
    folder = WORK / "ctrlc"
    (folder / "source").mkdir(parents=True)
    nbformat.write(src, folder / "source" / "ex.ipynb")
    marker = folder / "pid"
    write_class(folder, {"s1": src, "s2": with_cell(src, 3, f"import os, time\nopen({str(marker)!r}, 'w')"
                                                             f".write(str(os.getpid()))\ntime.sleep(600)"), "s3": src})
    rc, err = _ctrl_c([PY, "-m", "lrcourse", "grade", str(folder / "submitted"), "--source", str(folder / "source"),
                       "--csv", str(folder / "s.csv"), "--no-progress"], folder, marker)
    text = (folder / "s.csv").read_text() if (folder / "s.csv").exists() else ""
    rows = {(Path(r.split(",")[0]).parent.name, r.split(",")[1]): r.split(",")[-1] for r in text.splitlines()[1:]}
    expect(rc == 130 and rows.get(("s1", "test_1")) == "passed" and rows.get(("s2", "test_1")) == "interrupted",
           f"rc {rc}, rows {rows}")
    return f"rc 130; s2 {rows[('s2', 'test_1')]}, s3 {rows.get(('s3', 'test_1'))}"


@scenario("classroom", "SWR-6-variants", "student: marker variants ('(write below)', ':', inline) never leak")
def _():
    from lrcourse.classroom import ClassroomError, strip_solutions

    bad = []
    for source in ["### BEGIN SOLUTION (write your code below)\nx = 'SECRET'\n### END SOLUTION (done)",
                   "### BEGIN SOLUTION:\nx = 'SECRET'\n### END SOLUTION:",
                   "y = 1  ### BEGIN SOLUTION\nx = 'SECRET'\ny = 2  ### END SOLUTION",
                   "### begin solution\nx = 'SECRET'\n### end solution",
                   "###  BEGIN  SOLUTION\nx = 'SECRET'\n###  END  SOLUTION"]:
        try:
            out, _ = strip_solutions(source)
            if "SECRET" in out:
                bad.append(source.splitlines()[0])
        except ClassroomError:
            pass
    expect(not bad, f"leaked: {bad}")
    return "5 variants stripped or refused"


@scenario("classroom", "SWR-6-outputs", "student: every output cleared, as nbgrader's generate_assignment does")
def _():
    from lrcourse.classroom import student_notebook

    nb = source_notebook()
    nb.cells.append(v4.new_code_cell("print(answer)", outputs=[v4.new_output("stream", text="0.348\n")],
                                     execution_count=9))
    out, _ = student_notebook(nb)
    kept = [c for c in out.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
    expect(not kept, f"{len(kept)} cells keep outputs")
    return "all cleared"


@scenario("classroom", "SWR-6-raw-cell", "student: markers in a raw or markdown cell are refused, not copied")
def _():
    from lrcourse.classroom import ClassroomError, student_notebook

    nb = source_notebook()
    nb.cells.append(v4.new_raw_cell("### BEGIN SOLUTION\nSECRET\n### END SOLUTION"))
    try:
        out, _ = student_notebook(nb)
    except ClassroomError as err:
        return short(err)
    expect("SECRET" not in nbformat.writes(out), "leaked from a raw cell")
    return "stripped"


@functools.cache
def student_folders():
    src = WORK / "course"
    src.mkdir()
    nbformat.write(source_notebook(), src / "01_x.ipynb")
    return src


@scenario("classroom", "P08-idempotent", "student: idempotent; student(student(x)) == student(x); source unchanged")
def _():
    from lrcourse.classroom import write_student_versions

    src = student_folders()
    before = (src / "01_x.ipynb").read_bytes()
    write_student_versions(src, WORK / "s1")
    write_student_versions(src, WORK / "s2")
    write_student_versions(WORK / "s1", WORK / "s3")
    a, b, c = ((WORK / d / "01_x.ipynb").read_bytes() for d in ("s1", "s2", "s3"))
    expect(a == b == c and (src / "01_x.ipynb").read_bytes() == before, "differs")
    return "identical"


@scenario("classroom", "P08-refuse-dest", "student refuses DEST == SRC, inside SRC, symlinks into SRC, src/../src")
def _():
    from lrcourse.classroom import ClassroomError, write_student_versions

    src = student_folders()
    link = WORK / "link"
    if not link.exists():
        link.symlink_to(src)
    return refused_all([("same", lambda: write_student_versions(src, src)),
                        ("inside", lambda: write_student_versions(src, src / "out")),
                        ("symlink", lambda: write_student_versions(src, link)),
                        ("src/../src", lambda: write_student_versions(src, src / ".." / src.name)),
                        ("SRC symlink", lambda: write_student_versions(link, src / "x"))],
                       kinds=(ClassroomError, ValueError))


@scenario("classroom", "COSM-student-file-dest", "student nb.ipynb out.ipynb: refused, not a folder out.ipynb/")
def _():
    rc, err = cli_main("student", student_folders() / "01_x.ipynb", WORK / "out.ipynb")
    expect(rc == 2 and not (WORK / "out.ipynb").exists(), f"rc {rc}; created {'a folder' if (WORK / 'out.ipynb').is_dir() else 'nothing'}")
    return err.strip()[:100]


@scenario("classroom", "DATA-8", "nbgrader-metadata: SIGKILL mid-rewrite never leaves a broken notebook (3 kills)")
def _():
    nb = source_notebook()
    for c in nb.cells:
        c.metadata.pop("nbgrader", None)
    nb.cells.append(v4.new_code_cell("x = 1", outputs=[v4.new_output("stream", text="y" * 30_000_000)]))
    path = WORK / "big" / "01_big.ipynb"
    path.parent.mkdir()
    bad = []
    for delay in (0.6, 1.2, 2.0):
        nbformat.write(nb, path)
        proc = subprocess.Popen([PY, "-m", "lrcourse", "nbgrader-metadata", str(path)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
        time.sleep(delay)
        proc.kill()
        proc.wait()
        try:
            nbformat.read(path, 4)
        except Exception as err:  # noqa: BLE001
            bad.append(f"after {delay} s: {short(err)}")
    leftovers = [p.name for p in path.parent.iterdir() if p.name != path.name]
    expect(not bad and not leftovers, f"{bad} {leftovers}")
    return "3/3 readable, no leftovers"


@scenario("classroom", "DATA-7", "scores are written after each learner, atomically")
def _():
    import inspect

    from lrcourse.classroom import grade

    src = inspect.getsource(grade.grade_submissions) + inspect.getsource(grade.write_scores)
    expect("write_text_atomic" in src and src.count("write_scores(") >= 2, "written once / not atomically")
    return "rewritten atomically after each learner (as SWR-2 shows on Ctrl-C)"


# ======================================================================================= area: cli
NB_OK = v4.new_notebook(cells=[v4.new_code_cell("x = 1")])


@functools.cache
def cli_folder():
    folder = WORK / "cli"
    folder.mkdir()
    nbformat.write(NB_OK, folder / "a_ok.ipynb")
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell("import time\ntime.sleep(6)")]), folder / "b_slow.ipynb")
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell("1 / 0")]), folder / "c_fail.ipynb")
    src = WORK / "cli_src"
    src.mkdir()
    nbformat.write(source_notebook(), src / "ex.ipynb")
    nbformat.write(source_notebook(), folder / "ex.ipynb")
    return folder


@scenario("cli", "SWR-1-grade", "grade --timeout 2.5: rounded (or refused up front), never 0 for everyone")
def _():
    f = cli_folder()
    proc = lrcourse("grade", f / "ex.ipynb", "--source", WORK / "cli_src", "--json", f / "t.json", "--timeout", "2.5",
                    "--no-progress", timeout=300)
    if proc.returncode == 2:
        return "refused: " + proc.stderr.strip()[:80]
    got = by_learner(json.loads((f / "t.json").read_text()))
    expect(total(next(iter(got.values()))) == (2, 2), f"rc {proc.returncode}: {got}")
    return "2/2 with --timeout 2.5"


@scenario("cli", "SWR-1-api", "grade_notebook(timeout=2.5 / nan / inf / 1e-9): rounded or refused")
def _():
    from lrcourse.classroom import ClassroomError, sandbox

    expect(sandbox.seconds(2.5) == 3, "2.5 not rounded")
    return refused_all([(repr(v), lambda v=v: sandbox.seconds(v)) for v in (math.nan, math.inf, 0, -1, "x", True)],
                       kinds=(ClassroomError,)).replace("cases", "bad values") + "; 2.5 -> 3"


@scenario("cli", "CRASH-4", "run --timeout 2.5 runs the notebooks")
def _():
    f = cli_folder()
    proc = lrcourse("run", f / "a_ok.ipynb", "--out", WORK / "run1", "--timeout", "2.5", "--no-progress")
    expect(proc.returncode == 0, f"rc {proc.returncode}: {proc.stderr.strip()[-150:]}")
    return "rc 0"


@scenario("cli", "CRASH-5", "Ctrl-C during run: exit 130, nothing after it runs")
def _():
    folder = WORK / "runc"
    folder.mkdir()
    marker = folder / "started"
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell(f"import time\nopen({str(marker)!r}, 'w')\n"
                                                           f"time.sleep(600)")]), folder / "a.ipynb")
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell(f"open({str(folder / 'ran_b')!r}, 'w')")]),
                   folder / "b.ipynb")
    rc, err = _ctrl_c([PY, "-m", "lrcourse", "run", str(folder / "a.ipynb"), str(folder / "b.ipynb"), "--out",
                       str(folder / "out"), "--no-progress"], folder, marker)
    expect(rc == 130 and not (folder / "ran_b").exists(), f"rc {rc}, b ran: {(folder / 'ran_b').exists()}")
    return "rc 130, b not run"


@scenario("cli", "SWR-16", "two runs into the same --out: index.html lists every notebook")
def _():
    f = cli_folder()
    out = WORK / "shared_out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    a = subprocess.Popen([PY, "-m", "lrcourse", "run", str(f / "a_ok.ipynb"), str(f / "b_slow.ipynb"), "--out",
                          str(out), "--no-progress"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    b = subprocess.Popen([PY, "-m", "lrcourse", "run", str(f / "c_fail.ipynb"), "--out", str(out), "--no-progress"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    a.wait(300)
    b.wait(300)
    index = (out / "index.html").read_text()
    missing = [n for n in ("a_ok", "b_slow", "c_fail") if n not in index]
    expect(not missing, f"index.html lacks {missing}")
    return "all three listed"


@scenario("cli", "CRASH-6", "two processes checking one output folder at once: no spurious failures")
def _():
    code = ("import sys; from lrcourse.classroom import writable_dir\nbad = 0\n"
            "for _ in range(300):\n    try: writable_dir(sys.argv[1])\n    except Exception: bad += 1\nprint(bad)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([PY, "-c", code, str(WORK / "race")], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    bad = sum(int(p.communicate(timeout=300)[0].strip() or 1) for p in procs)
    expect(bad == 0, f"{bad} spurious failures of 600")
    return "0 of 600"


@scenario("cli", "CRASH-3", "find-lr --steps 1 / --momentum -1 / nan / 5 / --seed -1: one line, exit 2")
def _():
    bad = []
    for args in (["--steps", "1"], ["--momentum", "-1"], ["--momentum", "nan"], ["--momentum", "5"], ["--seed", "-1"]):
        rc, err = cli_main("find-lr", *args)
        if rc != 2 or len(err.strip().splitlines()) != 1:
            bad.append(f"{args}: rc {rc}")
    expect(not bad, "; ".join(bad))
    return "5 refused"


@scenario("cli", "SWR-11-cli", "find-lr on a run that diverges in a few steps: no confident suggestions")
def _():
    proc = lrcourse("find-lr", "--hidden", "8", "--steps", "30", "--momentum", "0.99", "--optimizer", "sgd",
                    "--out", WORK / "flr", "--no-progress", timeout=300)
    # a sweep that reaches its end is fine; one that stopped early must say so instead of suggesting
    if proc.returncode != 0:
        expect(proc.returncode in (1, 2) and len(proc.stderr.strip().splitlines()) <= 2, proc.stderr[-200:])
        return "refused: " + proc.stderr.strip()[:90]
    return "completed: " + " ".join(proc.stdout.split())[:90]


P09_BAD_ARGS = [
    ["grade"], ["grade", "nope.ipynb"], ["grade", "{f}/ex.ipynb", "--timeout", "0"],
    ["grade", "{f}/ex.ipynb", "--timeout", "x"], ["grade", "{f}/ex.ipynb", "--deadline", "-1"],
    ["grade", "{f}/ex.ipynb", "--memory", "-1"], ["grade", "{f}/ex.ipynb", "--source", "nope"],
    ["run", "nope.ipynb"], ["run", "{f}/a_ok.ipynb", "--jobs", "0"], ["run", "{f}/a_ok.ipynb", "--timeout", "nan"],
    ["run", "{f}/a_ok.ipynb", "--out", "{f}/a_ok.ipynb"], ["run", "{f}/a_ok.ipynb/"],
    ["compare", "--schedules", "nope"], ["compare", "--lrs", "x"], ["compare", "--lrs", "-1"], ["compare", "--seeds", "0"],
    ["compare", "--epochs", "0"], ["compare", "--jobs", "0"], ["compare", "--hidden", "0"], ["compare", "--data", "x"],
    ["find-lr", "--batch-size", "0"], ["find-lr", "--hidden"], ["student", "{f}/a_ok.ipynb"],
    ["student", "nope", "{w}/st"], ["nbgrader-metadata", "nope"], ["lab", "--port", "99999"], ["frobnicate"],
]


@scenario("cli", "P09-bad-args", "missing/invalid arguments: one line, exit 2")
def _():
    f = cli_folder()
    bad = []
    for args in P09_BAD_ARGS:
        argv = [a.format(f=f, w=WORK) for a in args]
        rc, err = cli_main(*argv)
        if rc != 2 or len(err.strip().splitlines()) != 1:
            bad.append(f"{' '.join(args)}: rc {rc}, {len(err.strip().splitlines())} lines")
    expect(not bad, "; ".join(bad[:3]) + (f" (+{len(bad) - 3})" if len(bad) > 3 else ""))
    return f"{len(P09_BAD_ARGS)} cases"


@scenario("cli", "COSM-trailing-slash", "run nb.ipynb/ (a trailing slash on a file) is refused")
def _():
    rc, err = cli_main("run", f"{cli_folder()}/a_ok.ipynb/", "--out", WORK / "ts")
    expect(rc == 2, f"rc {rc}")
    return err.strip()[:100]


@scenario("cli", "COSM-port", "lab --port 99999 is refused")
def _():
    rc, err = cli_main("lab", "--port", "99999", "--dry-run")
    expect(rc == 2, f"rc {rc}")
    return err.strip()[:80]


@scenario("cli", "DATA-6", "grade --csv <a directory> / --json <dir> fail before any grading")
def _():
    f = cli_folder()
    bad = []
    for flag in ("--csv", "--json"):
        t0 = time.monotonic()
        rc, err = cli_main("grade", f / "ex.ipynb", "--source", WORK / "cli_src", flag, WORK, "--no-progress")
        if rc != 2 or time.monotonic() - t0 > 5:
            bad.append(f"{flag}: rc {rc} after {time.monotonic() - t0:.0f} s")
    expect(not bad, "; ".join(bad))
    return "refused up front"


@scenario("cli", "P09-out-is-file", "--out that is a file, read-only --out/--csv parents: refused up front")
def _():
    f = cli_folder()
    checks = [cli_main("run", f / "a_ok.ipynb", "--out", f / "a_ok.ipynb")[0] == 2,
              cli_main("grade", f / "ex.ipynb", "--source", WORK / "cli_src", "--csv", f / "a_ok.ipynb" / "s.csv")[0]
              == 2]
    if os.geteuid() == 0:
        ro = "as root: permission bits not testable"
    else:
        (WORK / "ro").mkdir()
        os.chmod(WORK / "ro", 0o555)
        checks.append(cli_main("run", f / "a_ok.ipynb", "--out", WORK / "ro" / "x")[0] == 2)
        ro = "read-only parent refused"
    expect(all(checks), f"{checks}")
    return f"file as --out refused; {ro}"


@scenario("cli", "COSM-broken-pipe", "find-lr | head ends quietly, no 'Broken pipe' error line")
def _():
    proc = sh(["bash", "-c", f"{PY} -m lrcourse find-lr --hidden 8 --steps 20 --out {WORK / 'bp'} --no-progress "
                             f"| head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}"], timeout=300)
    expect("Broken pipe" not in proc.stderr, proc.stderr.strip()[-120:])
    return f"rc {proc.stdout.strip()}"


# ===================================================================================== area: cache
def _my_schedule(divide=1.0, hidden_field=False):
    from dataclasses import dataclass as dc

    from lrcourse.schedules import Schedule

    if hidden_field:
        @dc(frozen=True)
        class Hidden(Schedule):
            lr: float
            total_steps: int
            scale: float = field(default=1.0, repr=False)

            def _lr(self, t):
                return np.full(np.shape(t), self.lr / self.scale)
        return Hidden

    @dc(frozen=True)
    class Mine(Schedule):
        lr: float
        total_steps: int

        def _lr(self, t):
            return np.full(np.shape(t), self.lr / divide)
    Mine.__qualname__ = Mine.__name__ = "Mine"
    return Mine


def _compare(schedules, cache, **kw):
    from lrcourse.experiments import compare

    return compare(schedules, [0.1], [0], data="digits", hidden=(8,), epochs=1, cache_dir=cache, progress=False, **kw)


def _val_acc(res):
    return [round(float(r["final_val_acc"] if "final_val_acc" in r else r["val_acc"]), 6) for r in _rows(res)]


def _rows(res):
    return list(res.rows)


@scenario("cache", "SWR-12-code", "editing a user-defined schedule's formula changes the cache key")
def _():
    cache = WORK / "cache12"
    mine = _my_schedule()
    a = _compare({"mine": lambda lr, T: mine(lr, T)}, cache)
    mine._lr = lambda self, t: np.full(np.shape(t), self.lr / 100)
    b = _compare({"mine": lambda lr, T: mine(lr, T)}, cache)
    c = _compare({"mine": lambda lr, T: mine(lr, T)}, None)
    expect(_val_acc(b) == _val_acc(c), f"cached {_val_acc(b)} vs fresh {_val_acc(c)} (before the edit {_val_acc(a)})")
    return f"{_val_acc(a)} -> {_val_acc(b)}"


@scenario("cache", "SWR-12-repr-false", "a field(repr=False) is part of the cache key")
def _():
    cache = WORK / "cache12b"
    hidden = _my_schedule(hidden_field=True)
    a = _compare({"h": lambda lr, T: hidden(lr, T, 1.0)}, cache)
    b = _compare({"h": lambda lr, T: hidden(lr, T, 100.0)}, cache)
    expect(_val_acc(a) != _val_acc(b), f"same result {_val_acc(a)} for scale 1 and 100")
    return f"{_val_acc(a)} vs {_val_acc(b)}"


@scenario("cache", "SWR-12-params", "changing parameters or lrcourse's code changes the key (held before)")
def _():
    from lrcourse.experiments import build_configs

    a = build_configs(["cosine"], [0.1], [0], data="digits", hidden=(8,), epochs=1)[0].key()
    b = build_configs(["cosine"], [0.2], [0], data="digits", hidden=(8,), epochs=1)[0].key()
    c = build_configs(["cosine"], [0.1], [0], data="digits", hidden=(8,), epochs=2)[0].key()
    expect(len({a, b, c}) == 3, "same key")
    return "3 distinct keys"


def _cache_files(cache):
    return [p for p in Path(cache).rglob("output.pkl")]


@scenario("cache", "SWR-12-tampered", "a tampered cache row (another config's labels) is recomputed, not shown")
def _():
    import joblib

    cache = WORK / "cache_t"
    _compare(["constant"], cache)
    (out,) = _cache_files(cache)
    row = joblib.load(out)
    row["schedule"], row["peak_lr"] = "cosine", 9.0
    joblib.dump(row, out)
    b = _compare(["constant"], cache)
    expect(_rows(b)[0]["schedule"] == "constant" and _rows(b)[0]["peak_lr"] == 0.1, f"{_rows(b)[0]}")
    return "recomputed"


@scenario("cache", "CRASH-7", "a cache row without val_acc or with curves {} is a miss, not a KeyError")
def _():
    import joblib

    cache = WORK / "cache_7"
    a = _compare(["constant"], cache)
    (out,) = _cache_files(cache)
    bad = []
    for damage in (lambda r: r.update(curves={}), lambda r: r.pop("val_acc", None) or r["curves"].pop("val_acc")):
        row = joblib.load(out)
        damage(row)
        joblib.dump(row, out)
        try:
            b = _compare(["constant"], cache)
            if _val_acc(b) != _val_acc(a):
                bad.append("different result")
        except Exception as err:  # noqa: BLE001
            bad.append(short(err))
    expect(not bad, "; ".join(bad))
    return "recomputed twice"


@scenario("cache", "P05-corrupt", "truncated, empty, binary, list-valued cache files are recomputed")
def _():
    cache = WORK / "cache_c"
    a = _compare(["constant"], cache)
    (out,) = _cache_files(cache)
    good = out.read_bytes()
    bad = []
    for data in (good[: len(good) // 2], b"", os.urandom(200), pickle.dumps([1, 2])):
        out.write_bytes(data)
        try:
            if _val_acc(_compare(["constant"], cache)) != _val_acc(a):
                bad.append("different")
        except Exception as err:  # noqa: BLE001
            bad.append(short(err))
    expect(not bad, "; ".join(bad))
    return "4 damaged files recomputed"


@scenario("cache", "DATA-9", "compare with a cache folder it cannot write fails before the first run")
def _():
    from lrcourse.experiments import compare

    t0 = time.process_time()
    if os.geteuid() == 0:
        # root writes anywhere; a folder under a regular file cannot be created by anyone
        (WORK / "plainfile").write_text("x")
        target = WORK / "plainfile" / "cache"
        how = "a folder under a file (running as root)"
    else:
        target = WORK / "ro_cache"
        target.mkdir()
        os.chmod(target, 0o555)
        how = "a read-only folder"
    msg = refused(lambda: compare(["constant"], [0.1], [0], data="digits", hidden=(8,), epochs=3, cache_dir=target,
                                  progress=False), kinds=(PermissionError, OSError, ValueError))
    expect(time.process_time() - t0 < 3, "failed only after training")
    return f"{how}: {msg[:80]}"


CONCURRENT = textwrap.dedent("""\
    import json, sys
    from lrcourse.experiments import compare
    r = compare(["constant", "cosine"], [0.05, 0.1], [0], data="digits", hidden=(8,), epochs=1,
                cache_dir=sys.argv[1], progress=False)
    print(json.dumps([[x["schedule"], x["peak_lr"], round(float(x["val_acc"]), 9)] for x in r.rows]))
""")


@scenario("cache", "P05-concurrent", "two compares into one cache at once: rows identical to an uncached run")
def _():
    (WORK / "conc.py").write_text(CONCURRENT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([PY, str(WORK / "conc.py"), str(WORK / "cache_cc")], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    expect(all(p.returncode == 0 for p in procs), outs[0][1][-200:] + outs[1][1][-200:])
    fresh = sh([PY, str(WORK / "conc.py"), str(WORK / "cache_fresh")], timeout=600).stdout
    leftovers = [p for p in (WORK / "cache_cc").rglob("*") if p.is_file() and ".tmp" in p.name]
    expect(outs[0][0] == outs[1][0] == fresh and not leftovers, "rows differ or temporary files left")
    return "identical, no leftovers"


@scenario("cache", "P05-sigkill", "SIGKILL during a cached compare: no temporary files, the re-run identical")
def _():
    script = WORK / "conc.py"
    script.write_text(CONCURRENT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cache = WORK / "cache_kill"
    proc = subprocess.Popen([PY, str(script), str(cache)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while not _cache_files(cache) and time.monotonic() - t0 < 300 and proc.poll() is None:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    leftovers = [p.name for p in cache.rglob("*") if p.is_file() and (".tmp" in p.name or p.name.startswith("tmp"))]
    again = sh([PY, str(script), str(cache)], timeout=600).stdout
    fresh = sh([PY, str(script), str(WORK / "cache_fresh2")], timeout=600).stdout
    expect(not leftovers and again == fresh, f"leftovers {leftovers}; same={again == fresh}")
    return "consistent"


SPAWN_NB = [
    "from dataclasses import dataclass\nimport numpy as np\nfrom lrcourse.schedules import Schedule\n"
    "from lrcourse.experiments import compare\n"
    "@dataclass(frozen=True)\nclass Mine(Schedule):\n    lr: float\n    total_steps: int\n"
    "    def _lr(self, t):\n        return np.full(np.shape(t), self.lr)",
    "try:\n    r = compare({'mine': lambda lr, T: Mine(lr, T)}, [0.1], [0, 1], data='digits', hidden=(8,), epochs=1,\n"
    "                n_jobs=2, progress=False)\n    print('OK', len(r))\nexcept Exception as e:\n"
    "    print('ERR', type(e).__name__, str(e).splitlines()[0] if str(e) else '')",
]


@scenario("cache", "CRASH-1", "compare(n_jobs=2) with a schedule defined in a notebook works or says why")
def _():
    from nbclient import NotebookClient

    nb = v4.new_notebook(cells=[v4.new_code_cell(s) for s in SPAWN_NB])
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(WORK)}}).execute()
    text = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    expect(text.startswith("OK") or (text.startswith("ERR") and "BrokenProcessPool" not in text), text[:150])
    return text.strip()[:100]


@scenario("cache", "P13-ctrl-c", "Ctrl-C in compare --jobs 2: exit 130 promptly, the cache consistent")
def _():
    folder = WORK / "cc_sigint"
    folder.mkdir()
    marker = folder / "cache"
    proc_cmd = [PY, "-m", "lrcourse", "compare", "--data", "digits", "--schedules", "constant,cosine", "--lrs",
                "0.05,0.1", "--seeds", "2", "--epochs", "20", "--hidden", "32", "--jobs", "2", "--cache", str(marker),
                "--out", str(folder / "out"), "--no-progress"]
    t0 = time.monotonic()
    rc, err = _ctrl_c(proc_cmd, folder, marker)
    secs = time.monotonic() - t0
    expect(rc == 130, f"rc {rc}: {err.strip()[-150:]}")
    return f"rc 130 ({secs:.0f} s from start incl. Ctrl-C)"


# ========================================================================================= runner
AREAS = ("api", "checkpoint", "classroom", "cli", "cache")


def run(selected):
    rows = []
    for area, sid, title, fn in selected:
        t0 = time.monotonic()
        try:
            detail, held = fn() or "", True
        except Failed as f:
            detail, held = str(f), False
        except Exception as err:  # noqa: BLE001
            detail, held = "unexpected " + short(err), False
            if os.environ.get("PROBE_DEBUG"):
                traceback.print_exc()
        rows.append({"area": area, "id": sid, "scenario": title, "held": held, "detail": " ".join(str(detail).split()),
                     "seconds": round(time.monotonic() - t0, 1)})
        print(f"{'held  ' if held else 'FAILED'} {sid:<26} {rows[-1]['detail'][:110]}", file=sys.stderr, flush=True)
    return rows


def markdown(rows) -> str:
    lines = ["| area | scenario | result | detail |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['area']} | {r['id']}: {r['scenario']} | {'held' if r['held'] else '**failed**'} | "
                     f"{r['detail'].replace('|', '/')[:160]} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--area", help=f"comma-separated areas ({', '.join(AREAS)})")
    p.add_argument("--only", help="comma-separated scenario ids or id prefixes (SWR-14, CRASH-1, P07-)")
    p.add_argument("--json", metavar="F", help="also write the rows as JSON to F")
    p.add_argument("--markdown", action="store_true", help="print the table as markdown")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = p.parse_args(argv)
    selected = SCENARIOS
    if args.area:
        areas = set(args.area.split(","))
        unknown = areas - set(AREAS)
        if unknown:
            p.error(f"unknown area(s) {sorted(unknown)}; choose from {', '.join(AREAS)}")
        selected = [s for s in selected if s[0] in areas]
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        selected = [s for s in selected if any(s[1] == w or s[1].startswith(w) for w in wanted)]
    if args.list:
        for area, sid, title, _ in selected:
            print(f"{area:<10} {sid:<26} {title}")
        return 0
    if not selected:
        p.error("no scenario selected")
    t0, c0 = time.monotonic(), time.process_time()
    try:
        rows = run(selected)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    children = os.times()
    cpu = time.process_time() - c0 + children.children_user + children.children_system
    held = sum(r["held"] for r in rows)
    if args.markdown:
        print(markdown(rows))
    else:
        width = max(len(r["id"]) for r in rows)
        print(f"{'scenario':<{width}}  result  detail")
        for r in rows:
            print(f"{r['id']:<{width}}  {'held  ' if r['held'] else 'FAILED'}  {r['detail'][:120]}")
    by_area = {}
    for r in rows:
        a = by_area.setdefault(r["area"], [0, 0])
        a[0 if r["held"] else 1] += 1
    print("\n" + "  ".join(f"{a}: {h} held, {f} failed" for a, (h, f) in by_area.items()))
    print(f"TOTAL {len(rows)} scenarios: {held} held, {len(rows) - held} failed "
          f"({time.monotonic() - t0:.0f} s wall, {cpu:.0f} CPU-s incl. children; {platform.node()}, "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "held": held, "failed": len(rows) - held,
                                               "wall_s": round(time.monotonic() - t0), "cpu_s": round(cpu)},
                                              indent=1) + "\n")
    return 0 if held == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
