"""Hand-out: student versions, nbgrader metadata, and check cells that end in their score.

Student versions follow nbgrader's own rule (``ClearSolutions``, ``ClearHiddenTests``,
``ClearOutput`` in ``nbgrader generate_assignment``), so both tools hand out the same cells:

- a line *containing* ``BEGIN SOLUTION`` opens a solution region and becomes the stub
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` at that line's indentation; every line up
  to and including the next line containing ``END SOLUTION`` is dropped. So
  ``### BEGIN SOLUTION (write below)``, ``### END SOLUTION:`` and ``y = 1  ### BEGIN SOLUTION``
  are markers too, and the inline code on a marker line goes with it;
- lines from ``BEGIN HIDDEN TESTS`` to ``END HIDDEN TESTS`` are removed;
- a cell marked ``solution`` in its nbgrader metadata but without markers becomes the stub whole;
- every output and execution count is cleared.

lrcourse is stricter than nbgrader where nbgrader would leak or guess: a near-miss marker
(``### begin solution``, ``###  BEGIN  SOLUTION``, ``#BEGIN_SOLUTION``), a marker in a markdown
or raw cell, an ``END`` without its ``BEGIN`` and nested regions are errors naming the file,
the cell and the line.

An nbgrader *test* cell (a check) ends in its score, a number from 0 to its points, so nbgrader
gives partial credit natively (``nbgrader.utils.determine_grade``) and ``lrcourse grade`` reads the
same number::

    # NBVAL_CHECK_OUTPUT
    result = check_schedule(my_linear, Linear(start_lr=0.1, end_lr=0.0, total_steps=50))
    result.score  # your points out of 1

``# NBVAL_CHECK_OUTPUT`` makes nbval compare the stored ``1.0``, so a broken teacher solution
still fails the test suite although the cell no longer raises. :func:`convert_check_cells`
rewrites the older ``assert result.passed`` form into this one.

>>> print(strip_solutions("def f(step):\\n    ### BEGIN SOLUTION (write below)\\n    return 0.1\\n"
...                       "    ### END SOLUTION")[0])
def f(step):
    # YOUR CODE HERE
    raise NotImplementedError()
"""
from __future__ import annotations

import ast
import copy
import os
import re
from pathlib import Path

import nbformat

from lrcourse._io import write_text_atomic
from lrcourse.classroom.files import ClassroomError, find_notebooks, first_line, read_notebook, writable_dir

BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"              # nbgrader's delimiters
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")             # nbgrader's python stub
TEXT_STUB = "YOUR ANSWER HERE"                                                # nbgrader's text stub
# Something after a '#' that reads like a marker; if no exact delimiter is on the line, it is a near miss.
_NEAR_MISS = re.compile(r"#+[ \t]*(begin|end)[\s_-]*(solution|hidden[\s_-]*tests?)\b", re.I)
CHECK_CALL = re.compile(r"\bcheck_(schedule|value|choice|layerwise_groups)\s*\(")
NBVAL_CHECK = "# NBVAL_CHECK_OUTPUT"


# ------------------------------------------------------------------------------ student versions
def _marker(line: str) -> str | None:
    """Which delimiter a line holds, by nbgrader's substring rule (BEGIN wins on a line with both)."""
    for delimiter in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN):
        if delimiter in line:
            return delimiter
    return None


def _regions(source: str, where: str, cell_type: str = "code") -> list[tuple[str, int, int]]:
    """``(kind, begin_line, end_line)`` per marked region; near misses, misplaced or unbalanced markers raise."""
    regions, open_ = [], None
    for i, line in enumerate(source.split("\n")):
        what = _marker(line)
        if what is None:
            near = _NEAR_MISS.search(line)
            if near:
                raise ClassroomError(f"{where}: line {i + 1}: {near.group(0).strip()!r} looks like a marker but "
                                     f"is not one (nbgrader needs exactly 'BEGIN SOLUTION', 'END SOLUTION', "
                                     f"'BEGIN HIDDEN TESTS' or 'END HIDDEN TESTS'); write e.g. '### BEGIN SOLUTION'")
            continue
        if cell_type != "code":
            raise ClassroomError(f"{where}: line {i + 1}: '{what}' in a {cell_type} cell; solutions and hidden "
                                 f"tests go in code cells (put a written answer's prompt and answer in cells "
                                 f"of their own, with nbgrader metadata)")
        kind = "solution" if what.endswith("SOLUTION") else "hidden tests"
        if what.startswith("BEGIN"):
            if open_ is not None:
                raise ClassroomError(f"{where}: line {i + 1}: '{what}' inside an open "
                                     f"'{_begin(open_[0])}' (line {open_[1] + 1}); regions cannot be nested")
            open_ = (kind, i)
        else:
            if open_ is None or open_[0] != kind:
                raise ClassroomError(f"{where}: line {i + 1}: '{what}' without a matching '{_begin(kind)}'")
            regions.append((kind, open_[1], i))
            open_ = None
    if open_ is not None:
        raise ClassroomError(f"{where}: line {open_[1] + 1}: '{_begin(open_[0])}' is never closed "
                             f"(no '{_begin(open_[0]).replace('BEGIN', 'END')}')")
    return regions


def _begin(kind: str) -> str:
    return BEGIN_SOLUTION if kind == "solution" else BEGIN_HIDDEN


def _clear(source: str, begin: str, end: str, stub) -> str:
    """nbgrader's loop (``ClearSolutions._replace_solution_region``), line for line."""
    new, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
            if stub is not None:
                indent = re.match(r"\s*", line).group(0)
                new += [indent + s for s in stub]
        elif end in line:
            inside = False
        elif not inside:
            new.append(line)
    return "\n".join(new)


def strip_solutions(source: str, *, cell_type: str = "code", where: str = "cell") -> tuple[str, int]:
    """Return ``(student_source, number_of_solution_regions)`` for one cell's source.

    >>> strip_solutions("x = 1\\n### BEGIN HIDDEN TESTS\\nassert x == 1\\n### END HIDDEN TESTS")
    ('x = 1', 0)
    """
    regions = _regions(source, where, cell_type)
    if not regions:
        return source, 0
    text = _clear(source, BEGIN_SOLUTION, END_SOLUTION, CODE_STUB)
    text = _clear(text, BEGIN_HIDDEN, END_HIDDEN, None)
    return text, sum(kind == "solution" for kind, _, _ in regions)


def clear_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Clear every output and execution count in place, with the preprocessor nbgrader uses."""
    from nbconvert.preprocessors import ClearOutputPreprocessor

    ClearOutputPreprocessor().preprocess(nb, {})
    return nb


def student_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> tuple[nbformat.NotebookNode, int]:
    """Return ``(student_copy, number_of_exercises)``; ``nb`` itself is not modified.

    An exercise is a cell with a solution region, or an nbgrader ``solution`` cell.
    """
    nb = copy.deepcopy(nb)
    exercises = 0
    for index, cell in enumerate(nb.cells):
        where = f"{name}: cell {index} ({first_line(cell.source)!r})"
        new, n = strip_solutions(cell.source, cell_type=cell.cell_type, where=where)
        if n == 0 and cell.metadata.get("nbgrader", {}).get("solution"):  # nbgrader: the whole cell is the answer
            stub = "\n".join(CODE_STUB) if cell.cell_type == "code" else TEXT_STUB
            # ...unless it is a hand-out's cell already (its stub in place): the student version of a
            # student version is itself, so the template lines kept around the stub survive
            new, n = (cell.source if stub in cell.source else stub), 1
        exercises += n > 0
        cell.source = new
    return clear_outputs(nb), exercises


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def write_student_versions(src: str | os.PathLike, dest: str | os.PathLike) -> dict[str, int]:
    """Write the student version of every notebook in ``src`` (a folder or one notebook) to ``dest``.

    Returns ``{notebook_name: number_of_exercises}``. Every notebook is checked before anything
    is written, so a malformed one leaves ``dest`` as it was; ``src`` is only read, and each file
    is written atomically. Running it again gives identical files.
    """
    src, dest = Path(src), Path(dest)
    if not src.exists():
        raise ClassroomError(f"{src}: no such notebook or folder")
    src_dir = src if src.is_dir() else src.parent
    if _inside(dest, src_dir):
        raise ClassroomError(f"refusing to write student versions into the source folder "
                             f"({dest} is inside {src_dir}); choose another DEST")
    if dest.suffix == ".ipynb" or dest.is_file():
        raise ClassroomError(f"{dest}: DEST is the folder the student notebooks go to, not a notebook")
    students = {}
    for path in find_notebooks([src]):
        students[path.name] = student_notebook(read_notebook(path), name=str(path))
    writable_dir(dest)
    for filename, (nb, _) in students.items():
        write_text_atomic(dest / filename, nbformat.writes(nb) + "\n")
    return {filename: n for filename, (_, n) in students.items()}


# ---------------------------------------------------------------------------------- nbgrader
def _is_check_cell(cell) -> bool:
    code = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith("#"))
    return cell.cell_type == "code" and bool(CHECK_CALL.search(code))


def is_test_cell(cell) -> bool:
    """An nbgrader "autograder tests" cell: graded code, not a solution."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def add_nbgrader_metadata(nb: nbformat.NotebookNode, *, points: float = 1) -> nbformat.NotebookNode:
    """Return a copy of ``nb`` with ``metadata.nbgrader`` on every solution and test cell.

    Solution cells (with ``### BEGIN SOLUTION``) become nbgrader "autograded answer" cells;
    exercise checks and cells with hidden tests become locked "autograder tests" worth
    ``points``. Existing ``grade_id``/``points`` are kept, so applying it twice changes nothing.
    """
    nb = copy.deepcopy(nb)
    counters = {"solution": 0, "test": 0}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type not in ("code", "markdown"):
            continue
        regions = _regions(cell.source, f"cell {index}", cell.cell_type)
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


# ------------------------------------------------------------------ check cells end in their score
def _points_text(points) -> str:
    return f"{float(points):g}"


def score_line(expression: str, points) -> str:
    """The last line of a check cell: ``expression`` (a Result) scaled to the cell's points."""
    scale = "" if float(points) == 1 else f" * {_points_text(points)}"
    return f"{expression}.score{scale}  # your points out of {_points_text(points)}"


def _is_check_call(node) -> bool:
    func = getattr(node, "func", None)
    name = getattr(func, "id", None) or getattr(func, "attr", None) or ""
    return isinstance(node, ast.Call) and name.startswith("check_")


def _score_parts(node) -> tuple[ast.AST, float] | None:
    """For ``X.score``, ``X.score * N`` or ``N * X.score`` return ``(X, N)`` (N = 1 for the first); else None."""
    if isinstance(node, ast.Attribute) and node.attr == "score":
        return node.value, 1.0
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for a, b in ((node.left, node.right), (node.right, node.left)):
            if (isinstance(a, ast.Attribute) and a.attr == "score" and isinstance(b, ast.Constant)
                    and isinstance(b.value, (int, float)) and not isinstance(b.value, bool)):
                return a.value, float(b.value)
    return None


def _last_statement(source: str):
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None, "cannot be parsed as Python (an IPython magic?)"
    if not tree.body:
        return None, "has no code"
    return tree.body[-1], ""


def _check_results(tree_source: str) -> set[str]:
    """Names assigned from a ``check_*(...)`` call anywhere in the cell."""
    names = set()
    for node in ast.walk(ast.parse(tree_source)):
        if isinstance(node, ast.Assign) and _is_check_call(node.value):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _converted_source(source: str, points) -> tuple[str | None, str]:
    """The check cell ending in its score, or ``(None, why not)``; unchanged cells return themselves."""
    last, why = _last_statement(source)
    if last is None:
        return None, why
    lines = source.split("\n")
    score = _score_parts(last.value) if isinstance(last, ast.Expr) else None
    if score is not None:
        if score[1] == float(points):
            return source, ""
        new = score_line(ast.get_source_segment(source, score[0]), points)  # the points changed
    elif isinstance(last, ast.Assert) and last.msg is None:
        test = last.test
        if (isinstance(test, ast.Attribute) and test.attr == "passed" and isinstance(test.value, ast.Name)
                and test.value.id in _check_results(source)):
            new = score_line(test.value.id, points)
        elif _is_check_call(test):
            new = score_line(ast.get_source_segment(source, test), points)
        else:
            return None, (f"ends in `{ast.get_source_segment(source, last).splitlines()[0]}`: all-or-nothing; "
                          f"for partial credit end it with a number from 0 to its points")
    else:
        return None, "does not end in `assert result.passed` or `assert check_...(...)`"
    body = lines[:last.lineno - 1] + [" " * last.col_offset + new] + lines[last.end_lineno:]
    if NBVAL_CHECK not in (ln.strip() for ln in body):
        body.insert(0, NBVAL_CHECK)
    while body and not body[-1].strip():
        body.pop()
    return "\n".join(body), ""


def convert_check_cells(nb: nbformat.NotebookNode, name: str = "notebook") -> tuple[nbformat.NotebookNode, list[str]]:
    """Return ``(copy, notes)``: every nbgrader test cell rewritten to end in its score.

    ``result = check_...(...)`` + ``assert result.passed`` ends in ``result.score`` instead, and
    ``assert check_...(...)`` in ``check_...(...).score`` (times the cell's points when they are
    not 1), each with ``# NBVAL_CHECK_OUTPUT``. A cell whose stored outputs show that it ran
    without an error (the assert held, so its score was 1) gets the output the new last line
    prints, so the notebook stays consistent without re-running it. Other endings are left as
    they are and reported in ``notes``: they still grade, all or nothing. Idempotent.
    """
    nb = copy.deepcopy(nb)
    notes = []
    for index, cell in enumerate(nb.cells):
        if not is_test_cell(cell):
            continue
        points = cell.metadata.nbgrader.get("points", 1)
        where = f"{name}: cell {index} ({first_line(cell.source)!r})"
        new, why = _converted_source(cell.source, points)
        if new is None:
            notes.append(f"{where}: left as it is: it {why}")
            continue
        if new == cell.source:
            continue
        ran_clean = isinstance(cell.get("execution_count"), int) and not any(
            out.output_type in ("error", "execute_result") for out in cell.outputs)
        cell.source = new
        if ran_clean:
            cell.outputs.append(nbformat.v4.new_output("execute_result", execution_count=cell.execution_count,
                                                       data={"text/plain": repr(1.0 * points)}))
        notes.append(f"{where}: now ends in its score")
    return nb, notes


def check_nbgrader_metadata(nb: nbformat.NotebookNode, name: str = "notebook") -> list[str]:
    """List what nbgrader would reject or mis-grade; an empty list means the notebook is ready."""
    problems, ids = [], {}
    expected = add_nbgrader_metadata(nb)
    for index, (cell, want) in enumerate(zip(nb.cells, expected.cells)):
        got = cell.metadata.get("nbgrader")
        where = f"{name}: cell {index} ({first_line(cell.source)!r})"
        if "nbgrader" in want.metadata and got is None:
            problems.append(f"{where}: needs nbgrader metadata")
            continue
        if got is None:
            continue
        for key in ("grade", "grade_id", "locked", "schema_version", "solution", "task"):
            if key not in got:
                problems.append(f"{where}: metadata.nbgrader lacks {key!r}")
        if got.get("grade") and "points" not in got:
            problems.append(f"{where}: graded cell lacks 'points'")
        if "nbgrader" in want.metadata and got.get("solution") != want.metadata.nbgrader["solution"]:
            problems.append(f"{where}: 'solution' should be {want.metadata.nbgrader['solution']}")
        if is_test_cell(cell) and "points" in got:
            problems += [f"{where}: {p}" for p in _check_cell_problems(cell.source, got["points"])]
        gid = got.get("grade_id")
        if gid in ids:
            problems.append(f"{where}: grade_id {gid!r} already used by cell {ids[gid]}")
        ids[gid] = index
    return problems


def _check_cell_problems(source: str, points) -> list[str]:
    """A test cell must end in its score (with nbval watching it) or fail loudly (assert / raise)."""
    last, why = _last_statement(source)
    if last is None:
        return [] if why.startswith("cannot") else [f"test cell {why}"]
    if isinstance(last, ast.Expr):
        score = _score_parts(last.value)
        if score is None:
            return ["ends in an expression that is not its score: nbgrader gives full marks for any such "
                    "output; end it with `result.score` (run `lrcourse nbgrader-metadata` to convert)"]
        problems, scale = [], score[1]
        if scale != float(points):
            problems.append(f"ends in a score out of {scale:g} but is worth {_points_text(points)} points")
        if NBVAL_CHECK not in (ln.strip() for ln in source.split("\n")):
            problems.append(f"ends in its score but lacks '{NBVAL_CHECK}': nbval would not notice a broken "
                            f"solution")
        return problems
    if not any(isinstance(node, (ast.Assert, ast.Raise)) for node in ast.walk(ast.parse(source))):
        return ["neither ends in its score nor asserts: nbgrader gives full marks to any cell that does not "
                "raise; end it with `result.score` (run `lrcourse nbgrader-metadata` to convert)"]
    return []


def prepare_for_nbgrader(nb: nbformat.NotebookNode, name: str = "notebook") -> tuple[nbformat.NotebookNode, list[str]]:
    """nbgrader metadata on every solution and check cell, then check cells converted to end in their score."""
    return convert_check_cells(add_nbgrader_metadata(nb), name)


def write_notebook(nb: nbformat.NotebookNode, path: str | os.PathLike) -> None:
    """Write a notebook atomically: a crash or Ctrl-C leaves the old file or the new one, never half."""
    write_text_atomic(path, nbformat.writes(nb) + "\n")
