"""lrcourse.classroom: student versions, nbgrader metadata, and the real nbgrader round trip.

Everything runs on tiny notebooks built here; the course notebooks are not needed.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from lrcourse import classroom
from lrcourse.classroom import ClassroomError

v4 = nbformat.v4

SOLUTION = "    return lr * 0.5 ** (step // 10)"


def exercise_notebook(answer=None):
    """A notebook with a function exercise, a value exercise with hidden tests, and a plain cell."""
    nb = v4.new_notebook()
    body = SOLUTION if answer is None else answer
    nb.cells = [
        v4.new_markdown_cell("# Halving\nWrite the schedule."),
        v4.new_code_cell("from lrcourse.exercises import check_schedule, check_value"),
        v4.new_code_cell("def halving(step, lr):\n    ### BEGIN SOLUTION\n" + body + "\n    ### END SOLUTION",
                         outputs=[nbformat.v4.new_output("stream", name="stdout", text="secret\n")],
                         execution_count=3),
        v4.new_code_cell("value = None\n### BEGIN SOLUTION\nvalue = 0.25\n### END SOLUTION"),
        v4.new_code_cell("assert check_value(value, 0.25)\n### BEGIN HIDDEN TESTS\nassert value == 0.25\n"
                         "### END HIDDEN TESTS"),
        v4.new_code_cell("print('untouched')", outputs=[nbformat.v4.new_output("stream", name="stdout",
                                                                             text="untouched\n")],
                         execution_count=5),
    ]
    return nb


# ------------------------------------------------------------------------------ strip_solutions
@pytest.mark.parametrize("source, expected, n", [
    ("a = 1", "a = 1", 0),
    ("### BEGIN SOLUTION\nx = 2\n### END SOLUTION", "# YOUR CODE HERE\nraise NotImplementedError()", 1),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\nprint(f)",
     "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()\nprint(f)", 1),
    ("x = 1\n### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS\ny = 2", "x = 1\ny = 2", 0),
    ("### BEGIN SOLUTION\na\n### END SOLUTION\n### BEGIN SOLUTION\nb\n### END SOLUTION\n",
     "# YOUR CODE HERE\nraise NotImplementedError()\n# YOUR CODE HERE\nraise NotImplementedError()\n", 2),
])
def test_strip_solutions_landmarks(source, expected, n):
    assert classroom.strip_solutions(source) == (expected, n)


@pytest.mark.parametrize("source, fragment", [
    ("### BEGIN SOLUTION\nx = 1", "line 1: 'BEGIN SOLUTION' is never closed"),
    ("x = 1\n### END SOLUTION", "line 2: 'END SOLUTION' without a matching 'BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n### END SOLUTION", "nested"),
    ("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n### END SOLUTION", "nested"),
    ("### BEGIN HIDDEN TESTS\n### END SOLUTION", "without a matching"),
])
def test_bad_markers_raise_naming_where(source, fragment):
    with pytest.raises(ClassroomError, match="^nb.ipynb: cell 4") as info:
        classroom.strip_solutions(source, where="nb.ipynb: cell 4")
    assert fragment in str(info.value)


def test_student_notebook_removes_solutions_keeps_the_rest():
    nb = exercise_notebook()
    before = json.dumps(nb, sort_keys=True)
    student, n = classroom.student_notebook(nb)
    assert json.dumps(nb, sort_keys=True) == before  # input not modified
    assert n == 2
    text = json.dumps(student)
    for secret in ("0.5 **", "value = 0.25", "BEGIN", "END", "assert value == 0.25", "secret"):
        assert secret not in text
    assert student.cells[2].source == ("def halving(step, lr):\n    # YOUR CODE HERE\n"
                                       "    raise NotImplementedError()")
    assert student.cells[2].outputs == [] and student.cells[2].execution_count is None
    for i in (0, 1, 5):
        assert student.cells[i] == nb.cells[i]
    assert classroom.student_notebook(student) == (student, 0)  # idempotent


def test_write_student_versions_idempotent_and_source_untouched(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    nbformat.write(exercise_notebook(), src / "01_a.ipynb")
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell("1 + 1")]), src / "02_b.ipynb")
    snapshot = {p.name: p.read_bytes() for p in src.iterdir()}
    assert classroom.write_student_versions(src, dest) == {"01_a.ipynb": 2, "02_b.ipynb": 0}
    first = {p.name: p.read_bytes() for p in dest.iterdir()}
    classroom.write_student_versions(src, dest)
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == first
    assert {p.name: p.read_bytes() for p in src.iterdir()} == snapshot
    # the student version of the student version is itself
    again = tmp_path / "again"
    assert classroom.write_student_versions(dest, again) == {"01_a.ipynb": 0, "02_b.ipynb": 0}
    assert {p.name: p.read_bytes() for p in again.iterdir()} == first


def test_write_student_versions_refuses_source_folder_and_bad_notebooks(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(exercise_notebook(), src / "01_a.ipynb")
    for dest in (src, src / "student"):
        with pytest.raises(ClassroomError, match="source folder"):
            classroom.write_student_versions(src, dest)
    bad = exercise_notebook()
    bad.cells[3].source = "### BEGIN SOLUTION\nvalue = 0.25"
    nbformat.write(bad, src / "02_bad.ipynb")
    with pytest.raises(ClassroomError, match=r"02_bad.ipynb: cell 3 \('### BEGIN SOLUTION'\)"):
        classroom.write_student_versions(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written when one notebook is bad
    (src / "02_bad.ipynb").write_text("{not json")
    with pytest.raises(ClassroomError, match="02_bad.ipynb: not a readable notebook"):
        classroom.write_student_versions(src, tmp_path / "out")


# ------------------------------------------------------------------------------------ grading
def test_graded_cells_found_statically():
    nb = exercise_notebook()
    nb.cells.append(v4.new_code_cell("# check_value(x, 1) is only a comment"))
    assert classroom.graded_cells(nb) == [(4, "ex1", 1.0, 1)]
    meta = classroom.add_nbgrader_metadata(nb)
    assert [(i, name) for i, name, _, _ in classroom.graded_cells(meta)] == [(4, "test_1")]


# --------------------------------------------------------------------------- nbgrader metadata
def test_add_nbgrader_metadata_marks_solution_and_test_cells():
    nb = exercise_notebook()
    out = classroom.add_nbgrader_metadata(nb, points=2)
    metas = [c.metadata.get("nbgrader") for c in out.cells]
    assert metas[0] is None and metas[1] is None and metas[5] is None
    assert metas[2] == {"grade": False, "grade_id": "solution_1", "locked": False, "schema_version": 3,
                        "solution": True, "task": False}
    assert metas[4] == {"grade": True, "grade_id": "test_1", "locked": True, "schema_version": 3,
                        "solution": False, "task": False, "points": 2}
    assert classroom.add_nbgrader_metadata(out, points=2) == out  # idempotent
    assert classroom.check_nbgrader_metadata(out) == []
    problems = classroom.check_nbgrader_metadata(nb, name="x.ipynb")
    assert len(problems) == 3 and problems[0].startswith("x.ipynb: cell 2")
    quiet = classroom.add_nbgrader_metadata(nb)
    quiet.cells[4].source = "check_value(value, 0.25)"
    assert "assert result.passed" in classroom.check_nbgrader_metadata(quiet)[0]
    dup = classroom.add_nbgrader_metadata(nb)
    dup.cells[3].metadata.nbgrader["grade_id"] = "solution_1"
    assert any("already used" in p for p in classroom.check_nbgrader_metadata(dup))


NBGRADER_MISSING = shutil.which("nbgrader") is None and not (Path(sys.executable).parent / "nbgrader").exists()


@pytest.mark.skipif(NBGRADER_MISSING, reason="nbgrader is not installed")
def test_real_nbgrader_generates_and_autogrades(tmp_path):
    """Our metadata works with nbgrader itself: generate_assignment, then autograde two submissions."""
    pytest.importorskip("nbgrader")
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(textwrap.dedent(f"""\
        c = get_config()
        c.CourseDirectory.course_id = "lrcourse"
        c.CourseDirectory.root = {str(course)!r}
        c.Exchange.root = {str(tmp_path / "exchange")!r}
        c.ExecutePreprocessor.timeout = 60
        """))
    nb = classroom.add_nbgrader_metadata(exercise_notebook())
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, course / "source" / "ps1" / "x.ipynb")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def nbgrader(*args):
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--debug"], cwd=course, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    nbgrader("generate_assignment", "ps1", "--create", "--force")
    released = nbformat.read(course / "release" / "ps1" / "x.ipynb", as_version=4)
    ours, _ = classroom.student_notebook(nb)
    assert [c.source for c in released.cells] == [c.source for c in ours.cells]  # same student version
    solved = nbformat.read(course / "release" / "ps1" / "x.ipynb", as_version=4)
    solved.cells[2].source = solved.cells[2].source.replace(
        "# YOUR CODE HERE\n    raise NotImplementedError()", SOLUTION.strip())
    solved.cells[3].source = solved.cells[3].source.replace(
        "# YOUR CODE HERE\nraise NotImplementedError()", "value = 0.25")
    for student, sub in (("alice", solved), ("bob", released)):
        (course / "submitted" / student / "ps1").mkdir(parents=True)
        nbformat.write(sub, course / "submitted" / student / "ps1" / "x.ipynb")
    nbgrader("autograde", "ps1", "--create", "--force")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: gb.find_submission("ps1", s).score for s in ("alice", "bob")}
        max_score = gb.find_assignment("ps1").max_score
    assert max_score == 1
    assert scores == {"alice": 1.0, "bob": 0.0}
