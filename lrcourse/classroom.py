"""Classroom kit: student versions, headless runs to HTML, grading, and nbgrader metadata.

The course notebooks carry their own solutions. Four markers, each a comment on its own line
in a code cell, say what a learner must not see:

- ``### BEGIN SOLUTION`` / ``### END SOLUTION``: replaced in the student version by the same
  stub nbgrader writes (``# YOUR CODE HERE`` then ``raise NotImplementedError()``, indented like
  the ``BEGIN`` line), so lrcourse and nbgrader hand out identical student cells.
- ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``: removed, markers included.

An *exercise check* is a code cell that calls one of ``lrcourse.exercises``' ``check_*``
functions; each returns a ``Result`` with ``score`` in 0..1. Grading runs a submission in a
fresh kernel (this interpreter, never the notebook's kernelspec), records every ``Result``
those functions return, and scores each check cell as the mean over its calls; a call that never
returned (error, timeout, missing import) counts 0. A cell with nbgrader metadata
``grade: true`` and no check call scores full points when it runs without error (nbgrader's rule).

>>> src = "def f(step):\\n    ### BEGIN SOLUTION\\n    return 0.1\\n    ### END SOLUTION"
>>> print(strip_solutions(src)[0])
def f(step):
    # YOUR CODE HERE
    raise NotImplementedError()
"""
from __future__ import annotations

import copy
import csv
import html
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")  # nbgrader's python stub
TEXT_STUB = "YOUR ANSWER HERE"                                     # nbgrader's markdown stub
_MARKER = re.compile(r"^(?P<indent>[ \t]*)#+[ \t]*(?P<what>(BEGIN|END) (SOLUTION|HIDDEN TESTS))[ \t]*$")
CHECK_CALL = re.compile(r"\bcheck_(schedule|value|choice)\s*\(")
GRADE_PREFIX = "LRCOURSE_GRADE "                                   # the probe cells' output line


class ClassroomError(ValueError):
    """A notebook cannot be processed; the message names the file and, where known, the cell."""


# ------------------------------------------------------------------------------------- reading
def read_notebook(path: str | os.PathLike) -> nbformat.NotebookNode:
    """Read a notebook as nbformat 4, turning every failure into one ClassroomError line."""
    path = Path(path)
    if not path.is_file():
        raise ClassroomError(f"{path}: no such notebook")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # invalid JSON, wrong schema, unreadable file: all the same to a user
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ClassroomError(f"{path}: not a readable notebook ({first})") from None


def find_notebooks(paths, default_dir: Path | None = None) -> list[Path]:
    """Expand files and folders to notebooks in course order (by file name); reject unknown paths."""
    if not paths:
        if default_dir is None or not default_dir.is_dir():
            raise ClassroomError("no notebooks given and no notebooks/ folder found "
                                 "(run from the course folder or name the notebooks)")
        paths = [default_dir]
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.glob("*.ipynb") if not q.name.startswith("."))
        elif p.is_file() and p.suffix == ".ipynb":
            found.append(p)
        elif p.exists():
            raise ClassroomError(f"{p}: not a notebook (expected a .ipynb file or a folder)")
        else:
            raise ClassroomError(f"{p}: no such notebook or folder")
    if not found:
        raise ClassroomError(f"no .ipynb files in {', '.join(map(str, paths))}")
    return found


def _first_line(source: str) -> str:
    """The cell's first line that says something (nbval markers such as ``# NBVAL_SKIP`` skipped)."""
    lines = [ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("# NBVAL_")]
    return lines[0] if lines else "<empty cell>"


# ------------------------------------------------------------------------------ student versions
def _regions(source: str, where: str) -> list[tuple[str, int, int]]:
    """Return ``(kind, begin_line, end_line)`` per marked region; unbalanced or nested -> error."""
    regions, open_ = [], None
    for i, line in enumerate(source.splitlines()):
        m = _MARKER.match(line)
        if not m:
            continue
        what = m["what"]
        kind = "solution" if what.endswith("SOLUTION") else "hidden tests"
        if what.startswith("BEGIN"):
            if open_ is not None:
                raise ClassroomError(f"{where}: line {i + 1}: '{what}' inside an open "
                                     f"'{_begin(open_[0])}' (line {open_[1] + 1}); "
                                     f"regions cannot be nested")
            open_ = (kind, i)
        else:
            if open_ is None or open_[0] != kind:
                raise ClassroomError(f"{where}: line {i + 1}: '{what}' without a matching "
                                     f"'{_begin(kind)}'")
            regions.append((kind, open_[1], i))
            open_ = None
    if open_ is not None:
        raise ClassroomError(f"{where}: line {open_[1] + 1}: '{_begin(open_[0])}' is never closed "
                             f"(no '{_begin(open_[0]).replace('BEGIN', 'END')}')")
    return regions


def _begin(kind: str) -> str:
    return BEGIN_SOLUTION if kind == "solution" else BEGIN_HIDDEN


def strip_solutions(source: str, *, cell_type: str = "code", where: str = "cell") -> tuple[str, int]:
    """Return ``(student_source, number_of_solution_regions)`` for one cell's source.

    Solution regions become nbgrader's stub at the ``BEGIN`` line's indentation (markdown:
    ``YOUR ANSWER HERE``); hidden-test regions disappear. Unmarked lines are kept byte for byte.

    >>> strip_solutions("x = 1\\n### BEGIN HIDDEN TESTS\\nassert x == 1\\n### END HIDDEN TESTS")
    ('x = 1', 0)
    """
    regions = _regions(source, where)
    if not regions:
        return source, 0
    lines = source.splitlines(keepends=True)
    out, pos = [], 0
    for kind, begin, end in regions:
        out += lines[pos:begin]
        if kind == "solution":
            indent = _MARKER.match(lines[begin].rstrip("\r\n"))["indent"]
            stub = CODE_STUB if cell_type == "code" else (TEXT_STUB,)
            newline = "\n" if lines[end].endswith("\n") else ""  # the END line's own line ending
            out.append("\n".join(indent + s for s in stub) + newline)
        pos = end + 1
    out += lines[pos:]
    text = "".join(out)
    if text.endswith("\n") and not source.endswith("\n"):
        text = text[:-1]  # a removed last region must not leave a dangling newline
    return text, sum(kind == "solution" for kind, _, _ in regions)


def student_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> tuple[nbformat.NotebookNode, int]:
    """Return ``(student_copy, number_of_exercises)``; ``nb`` itself is not modified.

    An exercise is a cell with at least one solution region. Changed cells lose their outputs
    (and execution count); every other cell is kept exactly as it was.
    """
    nb = copy.deepcopy(nb)
    exercises = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type not in ("code", "markdown"):
            continue
        where = f"{name}: cell {index} ({_first_line(cell.source)!r})"
        new, n = strip_solutions(cell.source, cell_type=cell.cell_type, where=where)
        exercises += n > 0
        if new != cell.source:
            cell.source = new
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
    return nb, exercises


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def write_student_versions(src: str | os.PathLike, dest: str | os.PathLike) -> dict[str, int]:
    """Write the student version of every notebook in ``src`` (a folder or one notebook) to ``dest``.

    Returns ``{notebook_name: number_of_exercises}``. Every notebook is checked before anything
    is written, so a malformed one leaves ``dest`` as it was; ``src`` is only read. Running it
    again gives identical files (the student version of a student version is itself).
    """
    src, dest = Path(src), Path(dest)
    if not src.exists():
        raise ClassroomError(f"{src}: no such notebook or folder")
    src_dir = src if src.is_dir() else src.parent
    if _inside(dest, src_dir):
        raise ClassroomError(f"refusing to write student versions into the source folder "
                             f"({dest} is inside {src_dir}); choose another DEST")
    paths = find_notebooks([src])
    students = {}
    for path in paths:
        nb = read_notebook(path)
        students[path.name] = student_notebook(nb, name=str(path))
    _make_dir(dest)
    for filename, (nb, _) in students.items():
        nbformat.write(nb, dest / filename)
    return {filename: n for filename, (_, n) in students.items()}


def _make_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".lrcourse-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ClassroomError(f"{folder}: cannot write to this folder ({err.strerror or err})") from None


# ---------------------------------------------------------------------------------- nbgrader
def _is_check_cell(cell) -> bool:
    code = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith("#"))
    return cell.cell_type == "code" and bool(CHECK_CALL.search(code))


def add_nbgrader_metadata(nb: nbformat.NotebookNode, *, points: float = 1) -> nbformat.NotebookNode:
    """Return a copy of ``nb`` with ``metadata.nbgrader`` on every solution and test cell.

    Solution cells (with ``### BEGIN SOLUTION``) become nbgrader "autograded answer" cells;
    exercise checks and cells with hidden tests become locked "autograder tests" worth
    ``points``. Existing ``grade_id``/``points`` are kept, so applying it twice changes nothing.
    nbgrader scores a test cell by its errors: write checks as ``assert check_...(...)``.
    """
    nb = copy.deepcopy(nb)
    counters = {"solution": 0, "test": 0}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type not in ("code", "markdown"):
            continue
        regions = _regions(cell.source, f"cell {index}")
        solution = any(kind == "solution" for kind, _, _ in regions)
        test = cell.cell_type == "code" and not solution and (
            _is_check_cell(cell) or any(kind == "hidden tests" for kind, _, _ in regions))
        if not (solution or test):
            continue
        kind = "solution" if solution else "test"
        counters[kind] += 1
        old = dict(cell.metadata.get("nbgrader", {}))
        meta = {"grade": test, "grade_id": old.get("grade_id") or f"{kind}_{counters[kind]}",
                "locked": test, "schema_version": 3, "solution": solution, "task": False}
        if test:
            meta["points"] = old.get("points", points)
        cell.metadata["nbgrader"] = meta
    return nb


def check_nbgrader_metadata(nb: nbformat.NotebookNode, name: str = "notebook") -> list[str]:
    """List what nbgrader would reject or mis-grade; an empty list means the notebook is ready."""
    problems, ids = [], {}
    expected = add_nbgrader_metadata(nb)
    for index, (cell, want) in enumerate(zip(nb.cells, expected.cells)):
        got = cell.metadata.get("nbgrader")
        where = f"{name}: cell {index} ({_first_line(cell.source)!r})"
        if "nbgrader" in want.metadata and got is None:
            problems.append(f"{where}: needs nbgrader metadata")
        elif got is not None:
            for key in ("grade", "grade_id", "locked", "schema_version", "solution", "task"):
                if key not in got:
                    problems.append(f"{where}: metadata.nbgrader lacks {key!r}")
            if got.get("grade") and "points" not in got:
                problems.append(f"{where}: graded cell lacks 'points'")
            if "nbgrader" in want.metadata and got.get("solution") != want.metadata.nbgrader["solution"]:
                problems.append(f"{where}: 'solution' should be {want.metadata.nbgrader['solution']}")
            if got.get("grade") and _is_check_cell(cell) and "assert" not in cell.source:
                problems.append(f"{where}: nbgrader scores a test cell by its errors, and a failed check "
                                f"only prints: end the cell with `assert result.passed`")
            gid = got.get("grade_id")
            if gid in ids:
                problems.append(f"{where}: grade_id {gid!r} already used by cell {ids[gid]}")
            ids[gid] = index
    return problems


# ---------------------------------------------------------------------------------- kernels
def kernel_manager():
    """A KernelManager for this interpreter's ipykernel, whatever the notebook's kernelspec says.

    So ``lrcourse run`` and ``grade`` use the environment lrcourse is installed in, like
    ``nbval --nbval-current-env``.
    """
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class _CurrentEnv(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                          **ipykernel.kernelspec.get_kernel_dict())

    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=_CurrentEnv())


# The kernel process's own log (e.g. "running over TCP without encryption") is noise here;
# cell output, errors included, arrives over the Jupyter protocol, not this stream.
_QUIET = {"stderr": subprocess.DEVNULL}


def _client(nb, path: Path, timeout: float, allow_errors: bool, **hooks):
    from nbclient import NotebookClient

    return NotebookClient(nb, km=kernel_manager(), timeout=timeout, allow_errors=allow_errors,
                          interrupt_on_timeout=allow_errors, startup_timeout=120,
                          resources={"metadata": {"path": str(path.parent.resolve())}}, **hooks)


# ------------------------------------------------------------------------------ headless runs
@dataclass
class RunResult:
    """One notebook run by :func:`execute_notebook`: ``status`` is "ok" or "failed"."""

    notebook: str
    seconds: float
    status: str
    error: str = ""            # one line: "cell 3 (`plt.plot(x)`): ZeroDivisionError: ..."
    html: str = ""             # file name of the HTML page, relative to the output folder
    cell: int | None = None    # index of the failing cell in the notebook


def _error_summary(nb, index: int | None, err: BaseException) -> str:
    if index is None:
        return f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
    cell = nb.cells[index]
    reason = ""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            reason = f"{out.get('ename')}: {out.get('evalue', '')}"
    if not reason:
        if type(err).__name__ == "CellTimeoutError":
            reason = "timed out"
        else:
            reason = type(err).__name__
    return f"cell {index} (`{_first_line(cell.source)}`): {reason.strip().splitlines()[0]}"


def execute_notebook(path: str | os.PathLike, *, timeout: float = 600,
                     on_cell=None) -> tuple[RunResult, nbformat.NotebookNode]:
    """Run a copy of a notebook top to bottom in a fresh kernel; stop at the first error.

    ``timeout`` is per cell, in seconds. ``on_cell(index, total)`` is called as each cell starts.
    The source file is never written.
    """
    path = Path(path)
    nb = read_notebook(path)
    current = {"index": None}

    def start(cell, cell_index):
        current["index"] = cell_index
        if on_cell is not None:
            on_cell(cell_index, len(nb.cells))

    t0 = time.perf_counter()
    try:
        _client(nb, path, timeout, allow_errors=False, on_cell_start=start).execute(**_QUIET)
    except Exception as err:  # CellExecutionError, CellTimeoutError, DeadKernelError, startup
        seconds = time.perf_counter() - t0
        return RunResult(path.name, seconds, "failed", _error_summary(nb, current["index"], err),
                         cell=current["index"]), nb
    return RunResult(path.name, time.perf_counter() - t0, "ok"), nb


def notebook_html(nb: nbformat.NotebookNode) -> str:
    """The executed notebook as one self-contained HTML page (plots inline as data URIs)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    return body


def _run_one(args):
    path, out, timeout = args
    result, nb = execute_notebook(path, timeout=timeout)
    result.html = Path(path).with_suffix(".html").name
    (Path(out) / result.html).write_text(notebook_html(nb), encoding="utf-8")
    return result


def run_notebooks(paths, out: str | os.PathLike, *, timeout: float = 600, jobs: int = 1,
                  progress: bool = True) -> list[RunResult]:
    """Execute notebooks into ``out``: one HTML page each plus ``index.html``, in course order.

    ``jobs > 1`` runs that many notebooks at once, each in its own process and kernel.
    """
    from tqdm.auto import tqdm

    paths = [Path(p) for p in paths]
    for p in paths:
        read_notebook(p)  # fail on a bad file before starting any kernel
    out = Path(out)
    _make_dir(out)
    results = []
    bar = tqdm(total=len(paths), unit="nb", disable=not progress, file=sys.stderr)
    if jobs <= 1:
        for p in paths:
            def on_cell(i, n, name=p.name):
                bar.set_postfix_str(f"{name} cell {i + 1}/{n}", refresh=True)
            result, nb = execute_notebook(p, timeout=timeout, on_cell=on_cell)
            result.html = p.with_suffix(".html").name
            (out / result.html).write_text(notebook_html(nb), encoding="utf-8")
            results.append(result)
            bar.update(1)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the parent may hold torch threads and an event loop
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for result in pool.map(_run_one, [(str(p), str(out), timeout) for p in paths]):
                results.append(result)
                bar.set_postfix_str(result.notebook, refresh=False)
                bar.update(1)
    bar.close()
    write_index(results, out)
    return results


def write_index(results: list[RunResult], out: Path) -> Path:
    """Write ``index.html``: one row per notebook with a link, run time and status."""
    rows = "\n".join(
        f"<tr><td><a href=\"{html.escape(r.html)}\">{html.escape(r.notebook)}</a></td>"
        f"<td>{r.seconds:.1f}</td><td class=\"{r.status}\">{r.status}</td>"
        f"<td>{html.escape(r.error)}</td></tr>" for r in results)
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>lrcourse: executed notebooks</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:.3em .8em;text-align:left}}
.ok{{color:#080}} .failed{{color:#b00;font-weight:bold}}</style></head>
<body><h1>lrcourse: executed notebooks</h1>
<p>Generated {time.strftime('%Y-%m-%d %H:%M:%S')}; total {sum(r.seconds for r in results):.1f} s.</p>
<table><tr><th>notebook</th><th>seconds</th><th>status</th><th>error</th></tr>
{rows}
</table></body></html>
"""
    path = Path(out) / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------- grading
# Runs first in the kernel: every lrcourse.exercises.check_* also records its Result in a
# private module, so a learner rebinding names in the notebook cannot lose the records.
_SETUP = r'''
def _lrcourse_grading_setup():
    import functools, json, sys, types
    g = types.ModuleType("_lrcourse_grading")
    g.results, g.depth = [], 0
    def report():
        print(%r + json.dumps(g.results))
        g.results.clear()
    g.report = report
    sys.modules["_lrcourse_grading"] = g
    def wrap(fn):
        @functools.wraps(fn)
        def check(*args, **kwargs):
            g.depth += 1
            try:
                result = fn(*args, **kwargs)
            finally:
                g.depth -= 1
            if g.depth == 0:  # a check calling another check counts once
                score = getattr(result, "score", None)
                if score is None:
                    score = float(bool(getattr(result, "passed", result)))
                g.results.append({"check": fn.__name__, "score": float(score),
                                  "passed": bool(getattr(result, "passed", score >= 1))})
            return result
        return check
    try:
        import lrcourse, lrcourse.exercises as ex
    except Exception as err:
        print("lrcourse grading: cannot import lrcourse.exercises:", err, file=sys.stderr)
        return
    for name in [n for n in dir(ex) if n.startswith("check_")]:
        orig = getattr(ex, name)
        if callable(orig):
            new = wrap(orig)
            for mod in (ex, lrcourse):
                if getattr(mod, name, None) is orig:
                    setattr(mod, name, new)
_lrcourse_grading_setup()
del _lrcourse_grading_setup
''' % GRADE_PREFIX
_PROBE = '__import__("sys").modules["_lrcourse_grading"].report()'


@dataclass
class ExerciseScore:
    """One graded cell of one submission; ``score`` is in 0..1, ``points = score * max_points``.

    ``notebook`` is the path as given, so ``alice/ps1/x.ipynb`` and ``bob/ps1/x.ipynb`` stay apart.
    """

    notebook: str
    exercise: str
    cell: int
    score: float
    max_points: float
    status: str
    checks: list = field(default_factory=list)

    @property
    def points(self) -> float:
        return self.score * self.max_points


def graded_cells(nb: nbformat.NotebookNode) -> list[tuple[int, str, float, int]]:
    """``(cell_index, exercise_name, max_points, number_of_check_calls)`` per graded cell.

    Graded: cells that call a ``check_*`` function, and nbgrader ``grade: true`` code cells.
    Names are nbgrader ``grade_id`` where present, otherwise ``ex1``, ``ex2``, ... in order.
    """
    cells, k = [], 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        code = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith("#"))
        calls = len(CHECK_CALL.findall(code))
        if calls or (meta.get("grade") and not meta.get("solution")):
            k += 1
            cells.append((index, meta.get("grade_id") or f"ex{k}", float(meta.get("points", 1)), calls))
    return cells


def grade_notebook(path: str | os.PathLike, *, timeout: float = 60) -> list[ExerciseScore]:
    """Run a submission (errors allowed, ``timeout`` s per cell) and score every graded cell.

    A cell that raises, runs past the timeout (it is interrupted) or needs a missing module
    scores 0 and the run goes on. A dead kernel scores 0 for all cells not reached.
    """
    path = Path(path)
    nb = read_notebook(path)
    graded = graded_cells(nb)
    by_cell = {index: (name, pts, calls) for index, name, pts, calls in graded}
    # Build the notebook actually run: setup cell, then each cell, a probe after each graded one.
    run = nbformat.v4.new_notebook(metadata=nb.metadata)
    run.cells.append(nbformat.v4.new_code_cell(_SETUP))
    origin = {}  # index in `run` -> ("cell" | "probe", index in `nb`)
    for index, cell in enumerate(nb.cells):
        origin[len(run.cells)] = ("cell", index)
        run.cells.append(copy.deepcopy(cell))
        if index in by_cell:
            origin[len(run.cells)] = ("probe", index)
            run.cells.append(nbformat.v4.new_code_cell(_PROBE))
    status = {}  # index in `nb` -> "ok" / "error: Name" / "timeout"

    def executed(cell, cell_index, execute_reply):
        kind, index = origin.get(cell_index, ("setup", None))
        if kind != "cell" or index not in by_cell:
            return
        content = (execute_reply or {}).get("content", {})
        if content.get("status") == "error":
            # On a timeout nbclient interrupts the kernel: the cell ends in KeyboardInterrupt.
            status[index] = "timeout" if content.get("ename") == "KeyboardInterrupt" else \
                f"error: {content.get('ename', 'error')}"
        else:
            status[index] = "ok"

    kernel_note = ""
    try:
        _client(run, path, timeout, allow_errors=True, on_cell_executed=executed).execute(**_QUIET)
    except Exception as err:  # DeadKernelError or a kernel that never started
        kernel_note = f"not run ({type(err).__name__})"
    recorded = {}
    for i, cell in enumerate(run.cells):
        kind, index = origin.get(i, ("setup", None))
        if kind != "probe":
            continue
        for out in cell.get("outputs", []):
            for line in out.get("text", "").splitlines() if out.get("output_type") == "stream" else []:
                if line.startswith(GRADE_PREFIX):
                    recorded[index] = json.loads(line[len(GRADE_PREFIX):])
    scores = []
    for index, name, pts, calls in graded:
        checks = recorded.get(index, [])
        cell_status = status.get(index, kernel_note or "not run")
        if calls:
            n = max(calls, len(checks))
            score = sum(c["score"] for c in checks) / n if checks else 0.0
        else:
            score = 1.0 if cell_status == "ok" else 0.0
        if cell_status == "ok" and calls:
            cell_status = ("no check ran" if not checks else "passed" if score >= 1
                           else "partial" if score > 0 else "failed")
        scores.append(ExerciseScore(str(path), name, index, min(max(score, 0.0), 1.0), pts,
                                    cell_status, checks))
    return scores


def scores_table(scores: list[ExerciseScore]) -> str:
    """A plain-text table of per-exercise scores with a total line per notebook."""
    rows = [("notebook", "exercise", "cell", "score", "points", "status")]
    totals = {}
    for s in scores:
        rows.append((s.notebook, s.exercise, str(s.cell), f"{s.score:.2f}",
                     f"{s.points:g}/{s.max_points:g}", s.status))
        got, best = totals.get(s.notebook, (0.0, 0.0))
        totals[s.notebook] = (got + s.points, best + s.max_points)
    for name, (got, best) in totals.items():
        rows.append((name, "TOTAL", "", "", f"{got:g}/{best:g}", ""))
    return _table(rows)


def _table(rows) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def scores_records(scores: list[ExerciseScore]) -> list[dict]:
    """Scores as plain dicts (for JSON/CSV): one per exercise, ``points`` included."""
    return [{**{k: v for k, v in asdict(s).items() if k != "checks"}, "points": s.points,
             "checks": s.checks} for s in scores]


def write_scores(scores: list[ExerciseScore], *, json_path=None, csv_path=None) -> None:
    """Write scores as JSON (a list of records) and/or CSV (one row per exercise)."""
    records = scores_records(scores)
    if json_path:
        Path(json_path).write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    if csv_path:
        cols = ["notebook", "exercise", "cell", "score", "points", "max_points", "status"]
        with open(csv_path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(records)
