"""Grading against the source notebook, as nbgrader's autograde does; one fenced-off run per submission.

The source notebook (the teacher's, with nbgrader metadata) defines what is graded: its cells
with ``grade: true``, their ``grade_id`` (the exercise's name) and points. For each submission:

1. nbgrader's ``ClearOutput`` drops every stored output (a forged output counts for nothing);
   nbgrader metadata the source does not know (a new ``grade_id``, a cell worth 100 points, a
   copied check cell without an id) is removed, so such a cell runs but is never graded; the
   flags and points of known cells are reset to the source's; nbgrader's ``DeduplicateIds``
   keeps the last copy of a duplicated id, and nbgrader's ``OverwriteCells`` restores the
   source and type of every locked (check) cell, fed from the source notebook instead of a
   gradebook database.
2. The restored notebook runs in :func:`lrcourse.classroom.sandbox.execute` (nbgrader's
   ``Execute`` settings: errors allowed, each cell interrupted at its timeout), in its own folder
   and process tree, with a memory limit, an output cap and a deadline for the whole notebook.
3. nbgrader's ``LimitOutput`` trims the outputs and nbgrader's ``determine_grade`` scores each
   restored check cell from its own outputs: an error or any stderr output gives 0, a number
   displayed as the cell's result gives that many points (partial credit), no result gives full
   points. lrcourse is stricter where nbgrader guesses: a result that is not a finite number from
   0 to the cell's points (NaN, text, -1, too many points) scores 0 instead of full marks or a
   crash, and a cell that displayed more than one result (a hook forging one) scores 0.

A check cell the submission deleted scores 0 ("missing"); exercises keep the source's names.
Scores never travel through the learner's stdout: printing a fake score line does nothing.
"""
from __future__ import annotations

import copy
import csv
import io
import json
import logging
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import nbformat

from lrcourse._io import write_text_atomic
from lrcourse.classroom import sandbox
from lrcourse.classroom.files import ClassroomError, find_notebooks, read_notebook, table

DEFAULT_MEMORY = 4 * 2**30   # bytes of address space per submission's kernel (torch + a small model fit in 1)
CSV_COLUMNS = ["notebook", "exercise", "cell", "score", "points", "max_points", "status"]
_QUIET = logging.getLogger("lrcourse.classroom.grade")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


@dataclass
class ExerciseScore:
    """One graded cell of one submission.

    ``notebook`` is the submission's path as given (``alice/03_x.ipynb`` and ``bob/03_x.ipynb``
    stay apart); ``exercise`` and ``cell`` (its index) come from the source notebook. ``score``
    is in 0..1 and ``points = score * max_points``; both are None when the submission was not
    graded (interrupted, or manual grading needed): never a silent 0.
    """

    notebook: str
    exercise: str
    cell: int | None
    score: float | None
    max_points: float
    status: str

    @property
    def points(self) -> float | None:
        return None if self.score is None else self.score * self.max_points


def graded_cells(nb: nbformat.NotebookNode) -> list[tuple[int, str, float]]:
    """``(cell_index, grade_id, points)`` of every graded cell (nbgrader ``grade: true``) of a source notebook."""
    cells = []
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if isinstance(meta, dict) and meta.get("grade") and isinstance(meta.get("grade_id"), str):
            cells.append((index, meta["grade_id"], float(meta.get("points", 0))))
    return cells


# ------------------------------------------------------------------------------ restoring cells
class _SourceGradebook:
    """The look-ups nbgrader's OverwriteCells makes in its gradebook, answered from the source notebook."""

    def __init__(self, source: nbformat.NotebookNode):
        self.cells = {c.metadata.nbgrader["grade_id"]: c for c in source.cells
                      if isinstance(c.metadata.get("nbgrader", {}).get("grade_id"), str)}

    def _cell(self, grade_id):
        from nbgrader.api import MissingEntry

        if grade_id not in self.cells:
            raise MissingEntry()
        return self.cells[grade_id]

    def find_source_cell(self, grade_id, notebook_id=None, assignment_id=None):
        from nbgrader import utils

        cell = self._cell(grade_id)
        return SimpleNamespace(name=grade_id, cell_type=cell.cell_type, locked=utils.is_locked(cell),
                               checksum=utils.compute_checksum(cell), source=cell.source)

    def find_graded_cell(self, grade_id, notebook_id=None, assignment_id=None):
        return SimpleNamespace(max_score=float(self._cell(grade_id).metadata.nbgrader.get("points", 0)))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def restore_from_source(submission: nbformat.NotebookNode, source: nbformat.NotebookNode):
    """Return ``(notebook to run, grade_ids of the source found, grade_ids whose locked cell was edited)``."""
    from nbconvert.preprocessors import Preprocessor
    from nbgrader.preprocessors import ClearOutput, DeduplicateIds, OverwriteCells

    class RestoreCells(OverwriteCells):
        def preprocess(self, nb, resources):  # the source notebook instead of a database
            self.gradebook = _SourceGradebook(source)
            self.notebook_id = self.assignment_id = None  # names a database would need
            return Preprocessor.preprocess(self, nb, resources)

    nb = copy.deepcopy(submission)
    ClearOutput().preprocess(nb, {})
    known = {c.metadata.nbgrader["grade_id"]: c for c in source.cells
             if isinstance(c.metadata.get("nbgrader", {}).get("grade_id"), str)}
    edited = set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if not isinstance(grade_id, str) or grade_id not in known:
            del cell.metadata["nbgrader"]  # the source does not grade it: it runs, ungraded
            continue
        original = known[grade_id]
        cell.metadata["nbgrader"] = copy.deepcopy(original.metadata.nbgrader)  # flags and points of the source
        if original.metadata.nbgrader.get("locked") and (cell.source != original.source
                                                         or cell.cell_type != original.cell_type):
            edited.add(grade_id)
    DeduplicateIds(log=_QUIET).preprocess(nb, {})
    RestoreCells(log=_QUIET).preprocess(nb, {})
    found = {c.metadata.nbgrader["grade_id"] for c in nb.cells if "grade_id" in c.metadata.get("nbgrader", {})}
    return nb, found, edited


# ---------------------------------------------------------------------------------- scoring
def _result_problem(cell, max_points: float) -> str:
    """Why the cell's displayed result cannot be a score ("" if it can, or if there is none)."""
    shown = cell.metadata.get("lrcourse", {}).get("results", 0)
    results = [o for o in cell.outputs if o.output_type == "execute_result"]
    if max(shown, len(results)) > 1:
        return f"tampered: the cell displayed {max(shown, len(results))} results"
    if not results:
        return ""
    text = results[0].get("data", {}).get("text/plain", "")
    text = "".join(text) if isinstance(text, list) else str(text)
    try:
        value = float(text)
    except ValueError:
        return f"its result {text[:40]!r} is not a number"
    if not math.isfinite(value) or not 0 <= value <= max_points:
        return f"its result {text[:40]!r} is not a score from 0 to {max_points:g}"
    return ""


def score_cell(cell, max_points: float) -> tuple[float | None, str]:
    """``(score in 0..1 or None, status)`` of one executed, restored graded cell (nbgrader's rule)."""
    from nbgrader.utils import determine_grade

    errors = [o for o in cell.outputs if o.output_type == "error"]
    if not errors:
        problem = _result_problem(cell, max_points)
        if problem:
            return 0.0, f"failed: {problem}"
    points, _ = determine_grade(cell, _QUIET)
    if points is None:
        return None, "needs manual grading"
    score = float(points) / max_points if max_points else 0.0
    if errors:
        names = [str(o.get("ename", "error")) for o in errors]
        return score, "timeout" if "CellTimeoutError" in names else f"error: {names[0]}"
    if any(o.output_type == "stream" and o.get("name") == "stderr" for o in cell.outputs) and score == 0:
        return score, "failed: wrote to stderr"
    return score, "passed" if score >= 1 else "partial" if score > 0 else "failed"


def _rows(label, graded, score, status):
    return [ExerciseScore(label, gid, index, score, pts, status) for index, gid, pts in graded]


def grade_notebook(submission: str | os.PathLike, source, *, timeout=60, deadline=600, memory=DEFAULT_MEMORY,
                   label: str | None = None, data: bytes | None = None, cancel=None) -> list[ExerciseScore]:
    """Grade one submission against ``source`` (a path or a notebook); one row per graded cell of the source.

    A submission that cannot be read, or holds none of the source's graded cells, gets every
    exercise at 0 with the reason; nothing raises for a bad submission. A bad *source* raises
    ClassroomError. ``timeout`` per cell and ``deadline`` per notebook are in seconds (rounded
    up); ``memory`` in bytes (None: no limit). ``data``: the submission's bytes, read earlier.
    """
    source_nb = source if isinstance(source, nbformat.NotebookNode) else read_notebook(source)
    graded = graded_cells(source_nb)
    if not graded:
        raise ClassroomError(f"{source if not isinstance(source, nbformat.NotebookNode) else 'the source'}: "
                             f"no graded cells (nbgrader metadata 'grade: true'); "
                             f"add them with `lrcourse nbgrader-metadata`")
    label = str(submission) if label is None else label
    timeout = sandbox.seconds(timeout)
    try:
        submitted = read_notebook(submission, data)
    except ClassroomError as err:
        return _rows(label, graded, 0.0, f"unreadable: {str(err).split(': ', 1)[-1]}")
    nb, found, edited = restore_from_source(submitted, source_nb)
    if not found & {gid for _, gid, _ in graded}:
        return _rows(label, graded, 0.0, "none of the source's graded cells is in this submission "
                                         "(the wrong notebook?)")
    run = sandbox.execute(nb, Path(submission).name, timeout=timeout, deadline=deadline, memory=memory,
                          allow_errors=True, grading=True, cancel=cancel)
    if run.stopped == "interrupted":
        return _rows(label, graded, None, "interrupted")
    from nbgrader.preprocessors import LimitOutput

    LimitOutput().preprocess(run.nb, {})
    where = {c.metadata.nbgrader["grade_id"]: i for i, c in enumerate(run.nb.cells)
             if "grade_id" in c.metadata.get("nbgrader", {})}
    scores = []
    for index, gid, pts in graded:
        if gid not in where:
            score, status = 0.0, "missing: the check cell was deleted"
        elif where[gid] not in run.ran:
            score, status = 0.0, f"not run: {run.stopped or 'the run stopped before this cell'}"
        else:
            score, status = score_cell(run.nb.cells[where[gid]], pts)
            if gid in edited:
                status += " (edited check cell restored)"
        scores.append(ExerciseScore(label, gid, index, score, pts, status))
    return scores


def grade_submissions(paths, source, *, csv_path=None, json_path=None, timeout=60, deadline=600,
                      memory=DEFAULT_MEMORY, progress: bool = True) -> list[ExerciseScore]:
    """Grade each submission against the source notebook of the same file name in ``source``.

    ``source`` is a folder of source notebooks or one notebook. Every source needed and every
    submission is read before the first submission runs, so a submission that deletes or edits
    files cannot change what the others are graded on. After each learner the CSV/JSON files are
    rewritten atomically with everything known so far, so a crash, a kill or Ctrl-C loses
    nothing already graded. On Ctrl-C (KeyboardInterrupt) the learner being graded is marked
    "interrupted" and those after it "not graded", with no points (never 0); the files are
    written and the KeyboardInterrupt propagates.
    """
    from tqdm.auto import tqdm

    paths = [Path(p) for p in paths]
    snapshot = {}  # every submission read before any runs: one cannot delete or change another's
    for p in paths:
        try:
            snapshot[p] = p.read_bytes()
        except OSError as err:
            snapshot[p] = f"{p}: {err.strerror or err}"
    sources = {p.name: p for p in find_notebooks([source])}
    needed = {}
    for name in sorted({p.name for p in paths} & set(sources)):
        needed[name] = read_notebook(sources[name])
        if not graded_cells(needed[name]):
            raise ClassroomError(f"{sources[name]}: no graded cells (nbgrader metadata 'grade: true'); "
                                 f"add them with `lrcourse nbgrader-metadata`")
    scores = []
    bar = tqdm(paths, unit="nb", disable=not progress, desc="grading")
    try:
        for i, path in enumerate(bar):
            bar.set_postfix_str(str(path), refresh=True)
            if path.name not in needed:
                scores.append(ExerciseScore(str(path), "", None, 0.0, 0.0,
                                            f"no source notebook named {path.name!r} in {source}"))
            elif isinstance(snapshot[path], str):
                scores += _rows(str(path), graded_cells(needed[path.name]), 0.0, f"unreadable: {snapshot[path]}")
            else:
                try:
                    scores += grade_notebook(path, needed[path.name], timeout=timeout, deadline=deadline,
                                             memory=memory, data=snapshot[path])
                except KeyboardInterrupt:
                    scores += _rows(str(path), graded_cells(needed[path.name]), None, "interrupted")
                    for rest in paths[i + 1:]:
                        if rest.name in needed:
                            scores += _rows(str(rest), graded_cells(needed[rest.name]), None,
                                            "not graded: the run was interrupted")
                    raise
                except Exception as err:  # noqa: BLE001 - our own failure: this learner only, and said so
                    scores += _rows(str(path), graded_cells(needed[path.name]), None,
                                    f"not graded: {type(err).__name__}: {str(err)[:200]}")
            write_scores(scores, json_path=json_path, csv_path=csv_path)
    finally:
        bar.close()
        write_scores(scores, json_path=json_path, csv_path=csv_path)
    return scores


# ----------------------------------------------------------------------------------- output
def scores_table(scores: list[ExerciseScore]) -> str:
    """A plain-text table of per-exercise scores with a total line per notebook."""
    rows = [("notebook", "exercise", "score", "points", "status")]
    totals = {}
    for s in scores:
        shown = "-" if s.points is None else f"{s.points:g}"
        rows.append((s.notebook, s.exercise, "-" if s.score is None else f"{s.score:.2f}",
                     f"{shown}/{s.max_points:g}", s.status))
        got, best = totals.get(s.notebook, (0.0, 0.0))
        totals[s.notebook] = (got + (s.points or 0.0), best + s.max_points)
    for name, (got, best) in totals.items():
        rows.append((name, "TOTAL", "", f"{got:g}/{best:g}", ""))
    return table(rows)


def scores_records(scores: list[ExerciseScore]) -> list[dict]:
    """Scores as plain dicts (for JSON/CSV): one per exercise, ``points`` included."""
    return [{**asdict(s), "points": s.points} for s in scores]


def write_scores(scores: list[ExerciseScore], *, json_path=None, csv_path=None) -> None:
    """Write scores as JSON (a list of records) and/or CSV (one row per exercise), each atomically."""
    records = scores_records(scores)
    if csv_path:
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in records)
        write_text_atomic(csv_path, buffer.getvalue())
    if json_path:
        write_text_atomic(json_path, json.dumps(records, indent=1, allow_nan=False) + "\n")
