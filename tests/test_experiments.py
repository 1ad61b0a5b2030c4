"""lrcourse.experiments: the schedules x LRs x seeds grid, its cache, its parallel runs, its tables.

Training runs are tiny (digits, one hidden layer of 16, 2 epochs) so the whole file takes seconds.
"""
import concurrent.futures
import csv
import dataclasses
import io
import math
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest

from lrcourse import experiments as E
from lrcourse.experiments import RECIPES, Results, compare
from lrcourse.schedules import Schedule

TINY = dict(data="digits", hidden=(16,), epochs=2, batch_size=64, progress=False)


def _strip(rows):
    """Rows without the wall time, the one column that legitimately differs between runs."""
    return [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]


# --- runs: seeding, LR trace ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    return compare(["constant", "cosine"], lrs=[0.05, 0.2], seeds=[0, 1], target_acc=0.5, **TINY)


def test_grid_shape_and_columns(small):
    assert len(small.rows) == 2 * 2 * 2
    assert small.schedules == ["constant", "cosine"]
    steps = 2 * math.ceil(len(E.load_data("digits").train[1]) / 64)
    for r in small.rows:
        assert r["updates"] == steps
        assert len(r["curves"]["val_acc"]) == 2
        assert 0.0 <= r["val_acc"] <= 1.0 and r["min_val_loss"] <= r["val_loss"]
        assert r["epochs_to_target"] in (None, 1, 2)
        assert r["diverged"] is False


def test_same_config_gives_identical_rows_and_seeds_differ(small):
    again = compare(["constant", "cosine"], lrs=[0.05, 0.2], seeds=[0, 1], target_acc=0.5, **TINY)
    assert _strip(again.rows) == _strip(small.rows)
    seed0, seed1 = small.select("cosine", 0.2)
    assert seed0["curves"]["train_loss"] != seed1["curves"]["train_loss"]


def test_lr_trace_mismatch_raises(monkeypatch):
    real = E._intended
    monkeypatch.setattr(E, "_intended", lambda s, n: [v * (1 + 1e-3) for v in real(s, n)])
    with pytest.raises(RuntimeError, match="applied LR differs from the schedule at step 0"):
        compare(["cosine"], lrs=[0.1], seeds=[0], **TINY)


def test_user_factories_by_mapping_and_by_function():
    def halved(peak_lr, total_steps):
        return RECIPES["linear"](peak_lr / 2, total_steps)

    a = compare({"half": halved}, lrs=[0.2], seeds=[0], **TINY)
    b = compare([halved], lrs=[0.2], seeds=[0], **TINY)
    c = compare(["linear"], lrs=[0.1], seeds=[0], **TINY)
    assert a.schedules == ["half"] and b.schedules == ["halved"]
    assert a.rows[0]["curves"] == b.rows[0]["curves"] == c.rows[0]["curves"]


def test_per_schedule_lr_grids():
    res = compare(["constant", "cosine"], lrs={"constant": [0.05], "cosine": [0.1, 0.2]}, seeds=[0], **TINY)
    assert res.lrs("constant") == [0.05] and res.lrs("cosine") == [0.1, 0.2]


# --- cache -----------------------------------------------------------------------------------


def _entries(cache_dir):
    """The cached runs' output files (joblib.Memory's layout: one folder per key)."""
    return sorted(Path(cache_dir).rglob("output.pkl"))


def test_cache_reuses_runs_and_recomputes_corrupt_files(tmp_path, monkeypatch):
    original = E.run_one
    first = compare(["constant", "cosine"], lrs=[0.1], seeds=[0, 1], cache_dir=tmp_path, **TINY)
    assert first.computed == 4 and len(_entries(tmp_path)) == 4

    def must_not_train(config):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(E, "run_one", must_not_train)
    second = compare(["constant", "cosine"], lrs=[0.1], seeds=[0, 1], cache_dir=tmp_path, **TINY)
    assert second.computed == 0 and second.rows == first.rows

    # a new target accuracy is computed from the cached curves, not by retraining
    third = compare(["constant", "cosine"], lrs=[0.1], seeds=[0, 1], cache_dir=tmp_path, target_acc=0.01, **TINY)
    assert [r["epochs_to_target"] for r in third.rows] == [1, 1, 1, 1]

    calls = []
    monkeypatch.setattr(E, "run_one", lambda config: calls.append(config) or original(config))
    truncated, malformed, relabelled = _entries(tmp_path)[:3]
    truncated.write_bytes(truncated.read_bytes()[:20])
    row = joblib.load(malformed)
    del row["val_acc"], row["curves"]["val_acc"]  # a readable entry that is not a row: a miss, never a KeyError
    joblib.dump(row, malformed)
    row = joblib.load(relabelled)
    row["peak_lr"] *= 2  # a row whose labels are not its config's is not trusted either
    joblib.dump(row, relabelled)
    fourth = compare(["constant", "cosine"], lrs=[0.1], seeds=[0, 1], cache_dir=tmp_path, **TINY)
    assert len(calls) == 3 and fourth.computed == 3
    assert _strip(fourth.rows) == _strip(first.rows)
    calls.clear()
    fifth = compare(["constant", "cosine"], lrs=[0.1], seeds=[0, 1], cache_dir=tmp_path, **TINY)
    assert not calls and fifth.computed == 0, "the bad entries were replaced"
    assert not [p for p in Path(tmp_path).rglob("*") if "tmp" in p.name.lower()], "no temporary files left"


@dataclasses.dataclass(frozen=True)
class Tenth(Schedule):
    """A learner's own schedule class (its source is in no module the cache key hashes)."""

    lr: float
    total_steps: int

    def _lr(self, t):
        return np.full(t.shape, self.lr)


def test_cache_key_follows_the_code_of_a_user_schedule(tmp_path, monkeypatch):
    args = dict(schedules={"mine": Tenth}, lrs=[0.1], seeds=[0], cache_dir=tmp_path, **TINY)
    first = compare(**args)
    monkeypatch.setattr(Tenth, "_lr", lambda self, t: np.full(t.shape, self.lr / 10))  # the learner edits it
    second = compare(**args)
    assert second.computed == 1, "the edited schedule reused the old runs"
    assert second.rows[0]["config"] != first.rows[0]["config"]
    assert second.rows[0]["curves"] != first.rows[0]["curves"]


def test_an_unwritable_cache_fails_before_the_first_run(tmp_path, monkeypatch):
    monkeypatch.setattr(E, "run_one", lambda config: pytest.fail("trained before checking the cache folder"))
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file, not a folder")
    with pytest.raises(PermissionError, match="cache_dir"):
        compare(["constant"], lrs=[0.1], seeds=[0], cache_dir=not_a_folder, **TINY)
    if os.geteuid() != 0:  # root writes into read-only folders
        read_only = tmp_path / "ro"
        read_only.mkdir(mode=0o555)
        with pytest.raises(PermissionError, match="cannot be written"):
            compare(["constant"], lrs=[0.1], seeds=[0], cache_dir=read_only, **TINY)


CONCURRENT = """
import sys
from lrcourse.experiments import compare
compare(["constant", "cosine", "linear"], lrs=[0.1, 0.2], seeds=[0], data="digits", hidden=(8,), epochs=1,
        cache_dir=sys.argv[1], progress=False)
"""


def test_two_compares_into_one_cache_never_corrupt_it(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(tmp_path)], env={**os.environ, "OMP_NUM_THREADS": "1"})
             for _ in range(2)]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    args = dict(lrs=[0.1, 0.2], seeds=[0], data="digits", hidden=(8,), epochs=1, progress=False)
    cached = compare(["constant", "cosine", "linear"], cache_dir=tmp_path, **args)
    assert cached.computed == 0 and len(_entries(tmp_path)) == 6
    assert _strip(cached.rows) == _strip(compare(["constant", "cosine", "linear"], **args).rows)


def test_cache_key_changes_with_config():
    base = E.build_configs(["cosine"], [0.1], [0], **{k: v for k, v in TINY.items() if k != "progress"})[0]
    keys = {base.key()}
    for change in (dict(seed=1), dict(peak_lr=0.2), dict(epochs=3), dict(momentum=0.0), dict(hidden=(8,))):
        keys.add(E.RunConfig(**{**base.__dict__, **change}).key())
    assert len(keys) == 6
    assert E.RunConfig(**{**base.__dict__, "target_acc": 0.9}).key() == base.key()


# --- parallel: joblib workers, any Executor, a Dask cluster ----------------------------------------


def test_n_jobs_2_gives_the_same_rows_as_n_jobs_1(small):
    """Slowish (starts two worker processes, each importing torch), but it is the contract."""
    par = compare(["constant", "cosine"], lrs=[0.05, 0.2], seeds=[0, 1], target_acc=0.5, n_jobs=2, **TINY)
    assert _strip(par.rows) == _strip(small.rows)


def test_any_process_executor_gives_the_same_rows(small):
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        res = compare(["constant", "cosine"], lrs=[0.05, 0.2], seeds=[0, 1], target_acc=0.5, executor=pool, **TINY)
    assert _strip(res.rows) == _strip(small.rows) and res.computed == 8


def test_dask_cluster_gives_the_same_rows(small):
    """Issue 18: the grid on a Dask cluster (two worker processes here) equals the local run."""
    import distributed  # the 'scale' extra, also in 'test'
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        res = compare(["constant", "cosine"], lrs=[0.05, 0.2], seeds=[0, 1], target_acc=0.5,
                      executor=client.get_executor(), **TINY)
    assert _strip(res.rows) == _strip(small.rows)


@pytest.mark.parametrize("make, n_jobs, error, words", [
    (lambda: "dask", 1, TypeError, "concurrent.futures.Executor"),
    (lambda: concurrent.futures.ThreadPoolExecutor(1), 1, ValueError, "threads of one process"),
    (lambda: concurrent.futures.ProcessPoolExecutor(1), 2, ValueError, "not both"),
])
def test_bad_executor(make, n_jobs, error, words):
    executor = make()
    with pytest.raises(error, match=words):
        compare(["constant"], lrs=[0.1], seeds=[0], n_jobs=n_jobs, executor=executor, **TINY)
    if hasattr(executor, "shutdown"):
        executor.shutdown()


def test_runs_started_from_threads_of_one_process_take_turns(small):
    """A Dask worker with several threads calls run_one concurrently: the rows must not change."""
    configs = E.build_configs(["constant", "cosine"], [0.05, 0.2], [0, 1], target_acc=0.5,
                              **{k: v for k, v in TINY.items() if k != "progress"})
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        rows = list(pool.map(E.run_one, configs))
    assert _strip(rows) == _strip(small.rows)


NOTEBOOK_CLASS = """
import dataclasses
import numpy as np
from lrcourse.experiments import compare
from lrcourse.schedules import Schedule

@dataclasses.dataclass(frozen=True)
class Halving(Schedule):   # defined in __main__, as in a notebook: spawned workers cannot import it
    lr: float
    total_steps: int
    def _lr(self, t):
        return np.where(t < self.total_steps // 2, self.lr, self.lr / 2)

args = dict(lrs=[0.1], seeds=[0, 1], data="digits", hidden=(8,), epochs=1, progress=False)
strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]
assert strip(compare({"halving": Halving}, n_jobs=2, **args).rows) == strip(compare({"halving": Halving}, **args).rows)
print("same rows")
"""


def test_n_jobs_with_a_schedule_class_defined_in_main():
    """A notebook's own schedule class reaches the workers (cloudpickle), in a `python -c` __main__."""
    out = subprocess.run([sys.executable, "-c", NOTEBOOK_CLASS], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0 and "same rows" in out.stdout, out.stderr[-3000:]


# --- tables on hand-made rows -----------------------------------------------------------------


def _row(schedule, lr, seed, acc, loss=None, ett=None, diverged=False):
    return {"schedule": schedule, "peak_lr": lr, "seed": seed, "val_acc": acc,
            "val_loss": 1 - acc if loss is None else loss, "train_loss": 0.5 * (1 - acc),
            "min_val_loss": 0.0, "epochs_to_target": ett, "diverged": diverged, "updates": 10,
            "wall_time": 0.1, "curves": {"train_loss": [1.0, 0.5], "val_loss": [1.0, 0.6], "val_acc": [acc / 2, acc]}}


HAND = Results([
    # "a": the single best seed is at lr 1.0, but the best *mean* is at lr 0.1
    _row("a", 0.1, 0, 0.70, ett=2), _row("a", 0.1, 1, 0.72, ett=1),
    _row("a", 1.0, 0, 0.90), _row("a", 1.0, 1, 0.30, diverged=True),
    # "b": best at its larger LR, better than "a" overall; lower loss at the smaller LR
    _row("b", 0.01, 0, 0.60, loss=0.1), _row("b", 0.01, 1, 0.62, loss=0.1),
    _row("b", 0.1, 0, 0.80), _row("b", 0.1, 1, 0.76),
    # "c": a NaN run never wins
    _row("c", 0.1, 0, float("nan")), _row("c", 0.3, 0, 0.5),
])


def test_best_picks_each_schedules_highest_mean():
    assert HAND.best() == {"a": 0.1, "b": 0.1, "c": 0.3}
    assert HAND.best("val_loss") == {"a": 0.1, "b": 0.01, "c": 0.3}, "a loss is minimised"


def test_table_mean_std_sorted_and_epochs_to_target():
    table = HAND.table()
    assert [e["schedule"] for e in table] == ["b", "a", "c"]
    b, a = table[0], table[1]
    assert b["val_acc_mean"] == pytest.approx(0.78) and b["val_acc_std"] == pytest.approx(0.02 * math.sqrt(2))
    assert a["epochs_to_target"] == 1.5 and a["reached"] == 2 and a["diverged"] == 0
    assert b["epochs_to_target"] is None and b["reached"] == 0


def test_sweep_and_curves():
    sweep = HAND.sweep()
    assert [lr for lr, _, _ in sweep["a"]] == [0.1, 1.0]
    assert sweep["a"][1][1] == pytest.approx(0.6)
    cur = HAND.curves("a")  # at its best LR
    assert cur["seeds"] == [0, 1] and cur["val_acc"] == [[0.35, 0.7], [0.36, 0.72]]
    with pytest.raises(ValueError, match="peak_lr"):
        HAND.curves("a", 0.5)
    with pytest.raises(ValueError, match="schedule"):
        HAND.curves("zzz", 0.1)


def test_markdown_is_aligned_and_csv_round_trips(tmp_path):
    text = HAND.to_markdown()
    lines = text.splitlines()
    assert len(lines) == 2 + 3 and len({len(line) for line in lines}) == 1
    assert "0.780 ± 0.028" in lines[2] and str(HAND) == text
    path = tmp_path / "runs.csv"
    HAND.to_csv(path)
    back = list(csv.DictReader(io.StringIO(path.read_text())))
    assert len(back) == len(HAND.rows) and float(back[2]["val_acc"]) == 0.9 and "curves" not in back[0]


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, param", [
    (dict(schedules=["cosine", "nope"]), "schedules"),
    (dict(schedules=[]), "schedules"),
    (dict(lrs=[]), "lrs"),
    (dict(lrs=[0.1, 0.0]), "lrs"),
    (dict(lrs=[-1.0]), "lrs"),
    (dict(lrs=[float("nan")]), "lrs"),
    (dict(lrs={"other": [0.1]}), "lrs"),
    (dict(seeds=[]), "seeds"),
    (dict(seeds=[0.5]), "seeds"),
    (dict(seeds=[-1]), "seeds"),
    (dict(seeds=[0, 0]), "seeds"),
    (dict(lrs=[0.1, 0.1]), "lrs"),
    (dict(epochs=0), "epochs"),
    (dict(epochs=1.5), "epochs"),
    (dict(batch_size=0), "batch_size"),
    (dict(data="cifar"), "data"),
    (dict(optimizer="lion"), "optimizer"),
    (dict(target_acc=1.5), "target_acc"),
    (dict(n_jobs=0), "n_jobs"),
    (dict(hidden=(1.7,)), "hidden"),
    (dict(hidden=(0,)), "hidden"),
    (dict(momentum=float("nan")), "momentum"),
    (dict(weight_decay=-1.0), "weight_decay"),
])
def test_bad_input_names_the_parameter(kwargs, param):
    args = dict(schedules=["cosine"], lrs=[0.1], seeds=[0], data="digits", epochs=1, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=param):
        compare(**args)


@pytest.mark.parametrize("kwargs, param", [
    (dict(hidden=32), "hidden"),
    (dict(hidden="32"), "hidden"),
    (dict(target_acc="0.5"), "target_acc"),
    (dict(epochs="2"), "epochs"),
    (dict(seeds=[True]), "seeds"),
    (dict(lrs=["0.1"]), "lrs"),
    (dict(data=None), "data"),
])
def test_wrong_types_raise_type_errors_naming_the_parameter(kwargs, param):
    args = dict(schedules=["cosine"], lrs=[0.1], seeds=[0], data="digits", epochs=1, progress=False)
    args.update(kwargs)
    with pytest.raises(TypeError, match=param):
        compare(**args)


def test_numpy_scalars_are_accepted_as_python_numbers():
    plain = E.build_configs(["cosine"], [0.1], [0, 1], data="digits", hidden=(16,), epochs=2, target_acc=0.5)
    numpy = E.build_configs(["cosine"], [np.float64(0.1)], np.arange(2), data="digits", hidden=np.array([16]),
                            epochs=np.int64(2), target_acc=np.float32(0.5))
    assert [c.key() for c in numpy] == [c.key() for c in plain]
    assert type(numpy[0].epochs) is int and type(numpy[0].seed) is int and type(numpy[0].hidden[0]) is int
    as_float32 = E.build_configs(["cosine"], [np.float32(0.1)], [0], data="digits", epochs=1)[0]
    assert type(as_float32.peak_lr) is float


def test_unknown_schedule_lists_the_valid_names():
    with pytest.raises(ValueError, match="onecycle"):
        compare(["cosin"], lrs=[0.1], seeds=[0], data="digits", epochs=1, progress=False)


# --- plots -----------------------------------------------------------------------------------


def test_plots_draw_every_schedule_at_its_best_lr(small):
    import matplotlib.pyplot as plt

    from lrcourse.plotting import plot_comparison, plot_lr_sweep

    fig, (a, b) = plt.subplots(1, 2)
    assert plot_comparison(small, ax=a) is a and plot_lr_sweep(small, ax=b) is b
    best = small.best()
    labels = [t.get_text() for t in a.get_yticklabels()]
    assert sorted(labels) == sorted(f"{s} (peak {lr:g})" for s, lr in best.items())
    mean_lines = [line for line in b.get_lines() if line.get_label() in best]
    assert [line.get_xdata().tolist() for line in mean_lines] == [[0.05, 0.2]] * 2
    assert b.get_xscale() == "log"
    loss = plot_comparison(small, metric="val_loss")
    assert "val_loss" in loss.get_xlabel()
    plt.close("all")


# --- choose on val, report on test; the seed offset --------------------------------------------


def test_rows_report_the_test_split(small):
    for r in small.rows:
        assert 0.0 <= r["test_acc"] <= 1.0 and r["test_loss"] > 0 and r["seed_offset"] == 0
    assert small.report_metric == "test_acc"
    table = small.table()
    assert all("test_acc_mean" in e and "test_acc_std" in e for e in table)
    means = [e["test_acc_mean"] for e in table]
    assert means == sorted(means, reverse=True)  # ordered by the reported (test) accuracy
    assert "test acc" in small.to_markdown()


def test_peak_is_chosen_on_val_not_on_test():
    # test prefers lr 1.0, val prefers lr 0.1: the table must report test at the val choice
    rows = [{"schedule": "a", "peak_lr": lr, "seed": s, "val_acc": va, "val_loss": 1.0, "train_loss": 0.5,
             "test_acc": te, "test_loss": 1.0}
            for lr, va, te in [(0.1, 0.8, 0.6), (1.0, 0.7, 0.9)] for s in (0, 1)]
    res = Results(rows)
    assert res.best() == {"a": 0.1}
    assert res.table()[0]["peak_lr"] == 0.1 and res.table()[0]["test_acc_mean"] == pytest.approx(0.6)


def test_verdict_pairs_each_schedule_at_its_own_peak_by_seed():
    rows = []
    for s in range(4):
        rows.append({"schedule": "cosine", "peak_lr": 0.5, "seed": s, "val_acc": 0.7, "test_acc": 0.70 + 0.01 * s})
        rows.append({"schedule": "cosine", "peak_lr": 1.0, "seed": s, "val_acc": 0.1, "test_acc": 0.99})
        rows.append({"schedule": "constant", "peak_lr": 0.25, "seed": s, "val_acc": 0.6, "test_acc": 0.65 + 0.01 * s})
    v = Results(rows).verdict("cosine", "constant")
    assert v.paired and v.n == 4 and v.diff == pytest.approx(0.05) and v.outcome == "A better"
    assert v.metric == "test_acc" and v.winner == "cosine"
    with pytest.raises(ValueError, match="schedule must be one of"):
        Results(rows).verdict("cosine", "linear")


def test_seed_offset_is_captured_in_the_config_and_changes_the_runs(monkeypatch):
    base = compare(["constant"], lrs=[0.1], seeds=[0], **TINY)
    monkeypatch.setenv("LRCOURSE_SEED_OFFSET", "1")
    configs = E.build_configs(["constant"], [0.1], [0], data="digits", hidden=(16,), epochs=2)
    assert configs[0].seed_offset == 1
    shifted = compare(["constant"], lrs=[0.1], seeds=[0], **TINY)
    assert shifted.rows[0]["seed_offset"] == 1
    assert shifted.rows[0]["curves"] != base.rows[0]["curves"]  # a new draw: data split, init, shuffling
    # the captured offset wins over the environment in whichever process runs the config
    monkeypatch.setenv("LRCOURSE_SEED_OFFSET", "0")
    again = E.run_one(configs[0])
    assert again["curves"] == shifted.rows[0]["curves"] and again["test_acc"] == shifted.rows[0]["test_acc"]
    assert configs[0].key() != E.build_configs(["constant"], [0.1], [0], data="digits", hidden=(16,), epochs=2)[0].key()


def test_sweep_grid_has_one_panel_per_schedule_with_its_own_line_and_star(small):
    import matplotlib.pyplot as plt

    from lrcourse.plotting import plot_lr_sweep_grid

    fig = plot_lr_sweep_grid(small, ncols=1)
    sweep, best = small.sweep("val_acc"), small.best()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == list(sweep)
    for ax, (name, points) in zip(panels, sweep.items()):
        lrs, means, _ = (list(v) for v in zip(*points))
        grey, own, star = ax.get_lines()[:-2], ax.get_lines()[-2], ax.get_lines()[-1]
        assert own.get_xdata().tolist() == lrs and own.get_ydata().tolist() == means
        assert star.get_xdata().tolist() == [best[name]] and star.get_marker() == "*"
        assert len(grey) == len(sweep) - 1  # every other schedule, in grey, behind it
    plt.close(fig)
    with pytest.raises(ValueError, match="ncols"):
        plot_lr_sweep_grid(small, ncols=0)
