"""The ``lrcourse`` command: open, run, grade and hand out the course; quick experiments.

::

    lrcourse lab                          # JupyterLab on notebooks/00_start_here.ipynb
    lrcourse run [NB...] --out build      # execute headless -> HTML pages + index.html
    lrcourse find-lr --data digits        # LR range test, suggestions, plot
    lrcourse compare --schedules cosine,onecycle --seeds 3
    lrcourse student notebooks/ student/  # solutions and hidden tests removed
    lrcourse grade submitted/ --source notebooks/ --csv scores.csv
    lrcourse nbgrader-metadata notebooks/ # nbgrader metadata; check cells end in their score
    lrcourse doctor                       # what is installed, which device, which kernel

Bad input gives one ``lrcourse <command>: error: ...`` line on stderr and exit status 2; a
failed notebook run gives exit status 1. The notebook logic lives in ``lrcourse.classroom``;
this module is only the argument parsing and printing.
"""
from __future__ import annotations

import argparse
import importlib
import math
import os
import subprocess
import sys
from pathlib import Path

from lrcourse.results import text_table as _table  # the one aligned-columns printer


class UsageError(Exception):
    """Bad input: reported as one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block: the user asked for one clear line
        raise UsageError(f"{message} (see '{self.prog} --help')")


def course_root() -> Path:
    """The course folder: the current directory if it has ``notebooks/``, else the package's parent."""
    here = Path.cwd()
    if (here / "notebooks").is_dir():
        return here
    return Path(__file__).resolve().parent.parent


def _require(module: str, purpose: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise UsageError(f"{purpose} needs {module.split('.')[0]!r}, which is not importable ({err}); "
                         f"install it, e.g. pip install -e '.[test,lab]'") from None


def _csv_list(text: str, kind=str, name: str = "value") -> list:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise UsageError(f"--{name} needs a comma-separated list, got {text!r}")
    try:
        return [kind(t) for t in items]
    except ValueError:
        raise UsageError(f"--{name} must be a comma-separated list of {kind.__name__}s, got {text!r}") from None


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
        return value
    parse.__name__ = kind.__name__
    return parse


def _ranged(kind, low=None, high=None, high_open=False):
    """An argparse type: a finite ``kind`` in [low, high] (``high_open``: high excluded)."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text!r}")
        if high is not None and (value >= high if high_open else value > high):
            raise argparse.ArgumentTypeError(f"must be {'<' if high_open else '<='} {high}, got {text!r}")
        return value
    parse.__name__ = kind.__name__
    return parse


def _out_dir(path: str) -> Path:
    from lrcourse.classroom import ClassroomError, _make_dir

    try:
        _make_dir(Path(path))
    except ClassroomError as err:
        raise UsageError(str(err)) from None
    return Path(path)


# ----------------------------------------------------------------------------------- commands
def cmd_lab(args) -> int:
    _require("jupyterlab", "lrcourse lab")
    root = course_root()
    start = root / "notebooks" / "00_start_here.ipynb"
    target = start if start.exists() else root / "notebooks"
    cmd = [sys.executable, "-m", "jupyterlab", str(target.relative_to(root))]
    if args.port:
        cmd += ["--port", str(args.port)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd += ["--allow-root"]  # containers and CI often run as root; JupyterLab refuses without it
    if args.dry_run:
        print(" ".join(cmd), f"(in {root})")
        return 0
    return subprocess.call(cmd, cwd=root)


def _seconds(text: str) -> int:
    """A time limit for run/grade: a finite number of seconds > 0, rounded up to whole seconds."""
    from lrcourse.classroom import ClassroomError, seconds

    try:
        return seconds(text.strip(), "value")
    except ClassroomError as err:
        raise argparse.ArgumentTypeError(f"expected {str(err).split('must be ', 1)[-1]}") from None


def _gib(text: str) -> float:
    """A memory limit in GiB: a finite number >= 0 (0: no limit)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of GiB, got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number of GiB >= 0, got {text!r}")
    return value


def cmd_run(args) -> int:
    from lrcourse import classroom

    paths = classroom.find_notebooks(args.notebooks, course_root() / "notebooks")
    out = _out_dir(args.out)
    try:
        results = classroom.run_notebooks(paths, out, timeout=args.timeout, deadline=args.deadline,
                                          jobs=args.jobs, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"lrcourse run: interrupted; what finished is in {out / 'index.html'}", file=sys.stderr)
        raise
    rows = [("notebook", "seconds", "status")] + [(r.notebook, f"{r.seconds:.1f}", r.status) for r in results]
    print(_table(rows))
    print(f"HTML: {out / 'index.html'}")
    failed = [r for r in results if r.status != "ok"]
    for r in failed:
        print(f"lrcourse run: {r.notebook} failed at {r.error}", file=sys.stderr)
    return 1 if failed else 0


def _figure(*shape, **kwargs):
    """A matplotlib figure drawn off-screen (the Agg backend: a file, never a window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*shape, **kwargs)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


# Files are written before anything is printed: `lrcourse find-lr | head` keeps the plot.
def cmd_find_lr(args) -> int:
    from lrcourse import experiments, models, plotting, range_test

    out = _out_dir(args.out)
    ds = experiments.load_data(args.data, device=None)
    model = models.mlp(ds.num_features, hidden=tuple(args.hidden), out_features=ds.num_classes,
                       seed=args.seed).to(ds.train[0].device)
    opt = experiments.make_optimizer(args.optimizer, model.parameters(), lr=1e-3, momentum=args.momentum)
    result = range_test.lr_range_test(model, ds.train, optimizer=opt, batch_size=args.batch_size,
                                      num_steps=args.steps, seed=args.seed, progress=not args.no_progress)
    fig, ax = _figure(figsize=(6, 4))
    plotting.plot_range_test(result, ax=ax)
    ax.set_title(f"LR range test: {args.data}, mlp, {args.optimizer}")
    png = out / f"find_lr_{args.data}_{args.optimizer}.png"
    _save(fig, png)
    print(f"{result!r}")
    rows = [("rule", "suggested lr")] + [(rule, f"{lr:.3g}") for rule, lr in result.suggestions().items()]
    print(_table(rows))
    print(f"plot: {png}")
    return 0


def cmd_compare(args) -> int:
    from lrcourse import experiments, plotting

    out = _out_dir(args.out)
    schedules = _csv_list(args.schedules, str, "schedules")
    lrs = _csv_list(args.lrs, float, "lrs")
    try:
        res = experiments.compare(schedules, lrs, seeds=tuple(range(args.seeds)), data=args.data,
                                  hidden=tuple(args.hidden), epochs=args.epochs, batch_size=args.batch_size,
                                  optimizer=args.optimizer, cache_dir=args.cache, n_jobs=args.jobs,
                                  progress=not args.no_progress)
    except (ValueError, TypeError) as err:  # an unknown schedule name, a bad LR: the user's input
        raise UsageError(str(err)) from None
    csv_path = out / "compare.csv"
    res.to_csv(csv_path)
    fig, (ax1, ax2) = _figure(1, 2, figsize=(12, 4), layout="constrained")
    plotting.plot_lr_sweep(res, ax=ax1)  # each schedule's own best peak, chosen on val (the star)
    plotting.plot_comparison(res, ax=ax2)  # and what it reaches there, on test
    fig.suptitle(f"{args.data}: {len(schedules)} schedules x {len(lrs)} peak LRs x {args.seeds} seeds, "
                 f"{args.epochs} epochs")
    png = out / "compare.png"
    _save(fig, png)
    print(res.to_markdown())
    print(f"CSV: {csv_path}\nplot: {png}")
    return 0


def cmd_student(args) -> int:
    from lrcourse import classroom

    counts = classroom.write_student_versions(args.src, args.dest)
    rows = [("notebook", "exercises")] + [(name, str(n)) for name, n in counts.items()]
    print(_table(rows))
    print(f"{len(counts)} student notebooks written to {args.dest}")
    return 0


_NOT_GRADED = ("unreadable", "no source", "not graded", "none of the source")


def cmd_grade(args) -> int:
    from lrcourse import classroom

    source = Path(args.source) if args.source else course_root() / "notebooks"
    if not source.exists():
        raise UsageError(f"--source {source}: no such folder or notebook (the teacher's notebooks, with "
                         f"nbgrader metadata)")
    paths = classroom.find_notebooks(args.notebooks, recursive=True)
    targets = [Path(t) for t in (args.csv, args.json) if t]
    if len(targets) == 2 and targets[0].resolve() == targets[1].resolve():
        raise UsageError("--csv and --json name the same file")
    for target in targets:
        classroom.writable_file(target)  # a folder or an unwritable place fails before any grading
    memory = None if args.memory == 0 else int(args.memory * 2**30)
    try:
        scores = classroom.grade_submissions(paths, source, csv_path=args.csv, json_path=args.json,
                                             timeout=args.timeout, deadline=args.deadline, memory=memory,
                                             progress=not args.no_progress)
    except KeyboardInterrupt:
        written = " and ".join(map(str, targets)) or "no file (give --csv or --json)"
        print(f"lrcourse grade: interrupted; learners graded so far are in {written}", file=sys.stderr)
        raise
    print(classroom.scores_table(scores))
    bad = sorted({s.notebook for s in scores if s.status.startswith(_NOT_GRADED)})
    for name in bad:
        status = next(s.status for s in scores if s.notebook == name)
        print(f"lrcourse grade: {name}: {status}", file=sys.stderr)
    return 1 if bad else 0


def cmd_nbgrader_metadata(args) -> int:
    from lrcourse import classroom

    paths = classroom.find_notebooks([args.src])
    problems = []
    for path in paths:
        nb = classroom.read_notebook(path)
        if args.check:
            problems += classroom.check_nbgrader_metadata(nb, name=str(path))
            continue
        new, notes = classroom.prepare_for_nbgrader(nb, name=str(path))
        if new != nb:
            classroom.write_notebook(new, path)  # atomically: a crash leaves the old notebook whole
            print(f"updated {path}")
        else:
            print(f"unchanged {path}")
        for note in notes:
            print(f"  {note}")
    for p in problems:
        print(p)
    if args.check:
        print(f"{len(paths)} notebooks checked, {len(problems)} problems")
    return 1 if problems else 0


def _version(module: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return None


def _kernel_line() -> tuple[bool, str]:
    try:
        from jupyter_client.kernelspec import KernelSpecManager
    except ImportError:
        return False, "jupyter_client not installed: no notebook kernels"
    here = os.path.realpath(sys.executable)
    found = []
    for name, folder in KernelSpecManager().find_kernel_specs().items():
        try:
            argv0 = KernelSpecManager().get_kernel_spec(name).argv[0]
        except Exception:  # noqa: BLE001 - one broken kernel spec must not stop the doctor
            continue
        # jupyter_client runs a bare "python"/"python3" with the interpreter that runs Jupyter,
        # so such a spec inside this environment's prefix means this interpreter too.
        bare = argv0 in ("python", "python3") and os.path.realpath(folder).startswith(os.path.realpath(sys.prefix))
        if bare or os.path.realpath(argv0) == here or (
                os.path.sep not in argv0 and os.path.realpath(__import__("shutil").which(argv0) or "") == here):
            found.append(name)
    if found:
        return True, f"Jupyter kernel {', '.join(found)!s} runs this interpreter ({sys.executable})"
    return False, (f"no Jupyter kernel runs this interpreter; fix: {sys.executable} -m ipykernel install "
                   f"--sys-prefix --name python3")


def cmd_doctor(args) -> int:
    ok, bad = "✓", "✗"
    lines = [(True, f"python {sys.version.split()[0]} ({sys.executable})")]
    for pkg, needed in [("lrcourse", True), ("torch", True), ("numpy", True), ("matplotlib", True),
                        ("ipywidgets", True), ("tqdm", True), ("scikit-learn", True), ("mnist1d", True),
                        ("jupyterlab", False), ("nbclient", False), ("nbconvert", False),
                        ("nbgrader", False), ("keras", False)]:
        v = _version(pkg)
        lines.append((v is not None, f"{pkg} {v}" if v else
                      f"{pkg} not installed" + ("" if needed else " (optional)")))
    try:
        from lrcourse.device import get_device

        device = get_device()
        lines.append((True, f"device: {device} (set LRCOURSE_DEVICE to override)"))
    except Exception as err:  # noqa: BLE001 - a broken torch install or a bad LRCOURSE_DEVICE: report it
        lines.append((False, f"device: {type(err).__name__}: {err}"))
    lines.append(_kernel_line())
    widgets = _version("jupyterlab_widgets")
    lines.append((widgets is not None, f"ipywidgets front end: jupyterlab_widgets {widgets}" if widgets else
                  "ipywidgets front end (jupyterlab_widgets) not installed: sliders will not render in "
                  "JupyterLab; pip install jupyterlab_widgets"))
    for good, text in lines:
        print(f"{ok if good else bad} {text}")
    return 0


# ------------------------------------------------------------------------------------ parser
OPTIMIZERS = ("sgd", "adam", "adamw")  # = lrcourse.experiments.OPTIMIZERS (a test checks), without importing torch


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lrcourse", description="Learning rates and LR schedules, hands on: the course's command.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    no_progress = {"action": "store_true", "help": "no progress bar"}

    s = sub.add_parser("lab", help="open the course in JupyterLab",
                       description="Open JupyterLab on notebooks/00_start_here.ipynb (from the course folder).")
    s.add_argument("--port", type=_ranged(int, 1, 65535), help="port for the Jupyter server (1-65535)")
    s.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    s.set_defaults(func=cmd_lab)

    s = sub.add_parser("run", help="execute notebooks headless into HTML",
                       description="Execute notebooks in a fresh kernel (this interpreter) and write one HTML "
                                   "page each plus index.html. The source notebooks are never modified. "
                                   "Exit status 1 if any notebook fails.")
    s.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="notebooks or folders (default: notebooks/)")
    s.add_argument("--out", default="build", help="output folder (default: build)")
    s.add_argument("--timeout", type=_seconds, default=600,
                   help="per-cell timeout in seconds, rounded up (default: 600)")
    s.add_argument("--deadline", type=_seconds, default=None,
                   help="time limit for each whole notebook in seconds (default: none)")
    s.add_argument("--jobs", type=_positive(int), default=1, help="notebooks run at once (default: 1)")
    s.add_argument("--no-progress", **no_progress)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("find-lr", help="LR range test: suggestions and a plot",
                       description="Run an LR range test on an MLP, print every rule's suggestion, save the plot.")
    s.add_argument("--data", choices=["digits", "mnist1d"], default="digits")
    s.add_argument("--model", choices=["mlp"], default="mlp")
    s.add_argument("--hidden", type=_positive(int), nargs="+", default=[128, 128], help="hidden widths")
    s.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    s.add_argument("--momentum", type=_ranged(float, 0, 1, high_open=True), default=0.9,
                   help="SGD momentum, in [0, 1) (default: 0.9)")
    s.add_argument("--batch-size", type=_positive(int), default=64)
    s.add_argument("--steps", type=_ranged(int, 2), default=100, help="updates in the sweep, >= 2 (default: 100)")
    s.add_argument("--seed", type=_ranged(int, 0), default=0, help="seed, >= 0 (default: 0)")
    s.add_argument("--out", default="build", help="folder for the plot (default: build)")
    s.add_argument("--no-progress", **no_progress)
    s.set_defaults(func=cmd_find_lr)

    s = sub.add_parser("compare", help="compare schedules, each at its own best peak LR",
                       description="Train every schedule at every peak LR with several seeds "
                                   "(lrcourse.experiments.compare); print the table, save CSV and plot.")
    s.add_argument("--data", choices=["digits", "mnist1d"], default="mnist1d")
    s.add_argument("--schedules", default="constant,cosine,onecycle,exponential",
                   help="comma-separated recipe names (default: constant,cosine,onecycle,exponential)")
    s.add_argument("--lrs", default="0.01,0.03,0.1,0.3", help="peak-LR grid (default: 0.01,0.03,0.1,0.3)")
    s.add_argument("--seeds", type=_positive(int), default=3, help="number of seeds (default: 3)")
    s.add_argument("--epochs", type=_positive(int), default=30)
    s.add_argument("--hidden", type=_positive(int), nargs="+", default=[256, 256], help="hidden widths")
    s.add_argument("--batch-size", type=_positive(int), default=64)
    s.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    s.add_argument("--jobs", type=_positive(int), default=1, help="runs trained at once (default: 1)")
    s.add_argument("--cache", default=None, help="folder to reuse finished runs from")
    s.add_argument("--out", default="build", help="folder for compare.csv and compare.png (default: build)")
    s.add_argument("--no-progress", **no_progress)
    s.set_defaults(func=cmd_compare)

    s = sub.add_parser("student", help="write student versions (solutions and hidden tests removed)",
                       description="Copy every notebook of SRC to DEST with solution regions replaced by "
                                   "'raise NotImplementedError()', hidden tests removed and those cells' outputs "
                                   "cleared; other cells are kept as they are. SRC is never modified.")
    s.add_argument("src", metavar="SRC", help="a notebook or a folder of notebooks")
    s.add_argument("dest", metavar="DEST", help="output folder (not inside SRC)")
    s.set_defaults(func=cmd_student)

    s = sub.add_parser("grade", help="grade submissions against the source notebooks",
                       description="Grade each submission against the source notebook of the same file name "
                                   "(--source): the source's check cells, points and exercise names are "
                                   "restored over the submission's (nbgrader's autograde rule), each submission "
                                   "runs in its own folder and process group with a memory limit, an output cap, "
                                   "a per-cell timeout and a per-notebook deadline, and each check cell's "
                                   "displayed score counts (partial credit). Scores are written after every "
                                   "learner. Exit status 1 if a submission could not be graded, 130 on Ctrl-C.")
    s.add_argument("notebooks", nargs="+", metavar="SUBMISSION",
                   help="submitted notebooks, or folders searched recursively (e.g. submitted/<learner>/)")
    s.add_argument("--source", metavar="DIR",
                   help="folder (or one notebook) of the source notebooks (default: the course's notebooks/)")
    s.add_argument("--csv", metavar="F", help="write scores as CSV to F (rewritten after each learner)")
    s.add_argument("--json", metavar="F", help="write scores as JSON to F (rewritten after each learner)")
    s.add_argument("--timeout", type=_seconds, default=60, help="per-cell timeout in seconds, rounded up (default: 60)")
    s.add_argument("--deadline", type=_seconds, default=600,
                   help="time limit for each whole submission in seconds (default: 600)")
    s.add_argument("--memory", type=_gib, default=4.0,
                   help="memory (address space) per submission in GiB; 0 for no limit (default: 4)")
    s.add_argument("--no-progress", **no_progress)
    s.set_defaults(func=cmd_grade)

    s = sub.add_parser("nbgrader-metadata", help="add or verify nbgrader cell metadata",
                       description="Add metadata.nbgrader to solution and check cells of the notebooks in SRC "
                                   "and make each check cell end in its score ('assert result.passed' becomes "
                                   "'result.score', with '# NBVAL_CHECK_OUTPUT'), rewriting each notebook "
                                   "atomically in place; or with --check only report what is missing or would "
                                   "mis-grade (exit 1 if anything). Running it twice changes nothing.")
    s.add_argument("src", metavar="SRC", help="a notebook or a folder of notebooks")
    s.add_argument("--check", action="store_true", help="verify only; change nothing")
    s.set_defaults(func=cmd_nbgrader_metadata)

    s = sub.add_parser("doctor", help="check the environment",
                       description="Print versions, the device, the Jupyter kernel and the widget front end.")
    s.set_defaults(func=cmd_doctor)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lrcourse`` command; returns the exit status."""
    from lrcourse.classroom import ClassroomError

    parser = build_parser()
    prog = "lrcourse"
    try:
        args = parser.parse_args(argv)
        prog = f"lrcourse {args.command}"
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows up here, where it is handled, not at interpreter exit
        return status
    except (UsageError, ClassroomError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lrcourse find-lr | head`: the reader has gone, nobody to tell
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit-time flush must not fail
        return 141  # as a program stopped by SIGPIPE
    except OSError as err:  # a folder that vanished, a disk that filled up: say which file
        where = f"{err.filename}: " if err.filename else ""
        print(f"{prog}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
