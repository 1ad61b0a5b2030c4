"""The course notebooks as documents: the notebook standard, student versions, grading.

nbval (``pytest --nbval-lax notebooks/``) runs every notebook; these tests check what nbval
cannot see: that each notebook has the parts the standard asks for, that it was committed
executed in order, and that the classroom kit handles the real notebooks (student versions
with no solution left, nbgrader accepts them, a solved notebook scores full marks and its
student version zero).
"""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from lrcourse import classroom

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPECTED = [
    "00_start_here", "01_learning_rate_sensitivity", "02_lr_range_test", "03_exponential_decay",
    "04_piecewise_constant", "05_performance_scheduling", "06_one_cycle",
    "07_cosine_annealing_and_warm_restarts", "08_cyclical_learning_rates", "09_polynomial_decay",
    "10_comparing_schedules", "11_warmup_and_modern_schedules", "12_best_practices_and_custom_callbacks",
    "13_schedules_in_pytorch_and_keras",
    "14_fine_tuning_and_discriminative_lrs",
    "15_schedule_free_and_lr_free",
    "16_large_batches_across_processes",
]


def read(path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def markdown(nb):
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


# a file a notebook names: a Markdown link target, or a word ending in .md / .ipynb
FILE_MENTION = re.compile(r"\]\((?!https?://|#|mailto:)([^)\s]+)\)|([\w./-]+\.(?:md|ipynb))\b")


def named_files(text):
    text = re.sub(r"https?://[^\s)>\]]+", "", text)  # web addresses are not repository files
    for link, word in FILE_MENTION.findall(text):
        yield (link or word).split("#")[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_notebook_names_only_files_a_learner_can_open(path):
    """Every file a notebook cites exists in the repository (no internal team files)."""
    nb = read(path)
    text = "\n".join(c.source for c in nb.cells)
    for team_file in ("SCIENCE.md", "DESIGN.md"):
        assert team_file not in text, f"{path.name} cites {team_file}, which is not shipped with the course"
    missing = [name for name in named_files(text)
               if name and not any((base / name).exists() for base in (ROOT, path.parent, ROOT / "docs"))]
    assert not missing, f"{path.name} names files that are not in the repository: {missing}"


def test_named_files_finds_links_and_file_names():
    text = "see [the evidence](../docs/evidence.md#table) and 02_lr_range_test.ipynb, not [x](https://a.b/c.md)"
    assert list(named_files(text)) == ["../docs/evidence.md", "02_lr_range_test.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_markdown_has_no_control_characters(path):
    """A LaTeX backslash eaten by a JSON escape (\\r in \\right, \\t in \\text) leaves a control character."""
    for i, cell in enumerate(read(path).cells):
        if cell.cell_type == "markdown":
            bad = sorted({repr(ch) for ch in cell.source if ord(ch) < 32 and ch != "\n"})
            assert not bad, f"{path.name} cell {i}: control characters {bad} (a LaTeX backslash eaten?)"


def test_the_course_has_every_notebook_in_order():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


def test_every_notebook_is_on_the_course_maps():
    """Notebook 00's map, the README's table and docs/instructors.md each name every notebook."""
    start_here = "\n".join(c.source for c in read(ROOT / "notebooks" / "00_start_here.ipynb").cells)
    readme = (ROOT / "README.md").read_text()
    instructors = (ROOT / "docs" / "instructors.md").read_text()
    for stem in EXPECTED:
        assert f"]({stem}.ipynb)" in start_here, f"00_start_here's map does not link {stem}"
        assert f"](notebooks/{stem}.ipynb)" in readme, f"README's table does not link {stem}"
        assert f"`{stem}`" in instructors, f"docs/instructors.md does not list {stem}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_notebook_follows_the_standard(path):
    nb = read(path)
    number = path.stem[:2]
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {number}"), "title cell '# NN ...'"
    intro = first.source.lower()
    assert "objective" in intro or "you will" in intro or "learn" in intro, "learning objectives"
    assert re.search(r"\d+\s*min", intro), "time to complete"
    setup = code_cells(nb)[0].source
    assert "lrcourse" in setup and "get_device()" in setup, "first code cell: lrcourse imports and the device"
    assert "set_seed(" in setup and "environment_report(" in setup, \
        "first code cell: set_seed (the seed offset applies) and environment_report (offset, versions, CPU)"
    sources = "\n".join(c.source for c in code_cells(nb))
    assert "torch.manual_seed(" not in sources and "np.random.seed(" not in sources, \
        "seeds go through lrcourse.seeding (set_seed / course_seed), so LRCOURSE_SEED_OFFSET reaches them"
    assert "import *" not in "\n".join(c.source for c in code_cells(nb)), "explicit imports only"
    text = markdown(nb).lower()
    assert "takeaway" in text, "key takeaways"
    assert "reference" in text and re.search(r"\b(19|20)\d\d\b", text), "references with years"
    sources = "\n".join(c.source for c in code_cells(nb))
    assert "_explorer(" in sources or "interact(" in sources, "an interactive widget"
    assert "### BEGIN SOLUTION" in sources and re.search(r"check_(schedule|value|choice)\(", sources), \
        "an exercise with a solution and an automatic check"
    assert "# NBVAL_CHECK_OUTPUT" in sources, "deterministic results are output-checked"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_notebook_is_committed_executed_in_order_without_errors(path):
    nb = read(path)
    cells = code_cells(nb)
    counts = [c.execution_count for c in cells]
    assert all(isinstance(n, int) for n in counts), "every code cell executed (restart and run all)"
    assert counts == list(range(counts[0], counts[0] + len(counts))), "executed top to bottom, once"
    for c in cells:
        for out in c.outputs:
            assert out.output_type != "error", f"stored error in cell {c.source[:60]!r}"
    assert path.stat().st_size < 1_500_000, "images small enough to read on a code host"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_check_cells_fail_loudly_and_carry_nbgrader_metadata(path):
    nb = read(path)
    assert classroom.check_nbgrader_metadata(nb, path.name) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_student_version_has_no_solution_left(path):
    nb = read(path)
    student, exercises = classroom.student_notebook(nb, path.name)
    assert exercises >= 1
    solutions = []
    for cell in nb.cells:
        solutions += re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S)
    text = "\n".join(c.source for c in student.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text  # nbgrader chokes on either
    exercise_cells = "\n".join(s.source for c, s in zip(nb.cells, student.cells) if "### BEGIN SOLUTION" in c.source)
    for solution in solutions:
        for line in solution.strip().splitlines():
            assert line.strip() not in exercise_cells, f"solution line left in the student version: {line!r}"
    assert "\n".join(c.source for c in code_cells(student)).count("raise NotImplementedError()") == len(solutions)
    # everything but the solution cells is untouched
    changed = [i for i, (a, b) in enumerate(zip(nb.cells, student.cells)) if a.source != b.source]
    assert all("### BEGIN SOLUTION" in nb.cells[i].source for i in changed)


def test_grading_the_start_notebook_full_marks_solved_zero_for_the_student_version(tmp_path):
    """The real notebook, its check cells converted to end in their score (what
    ``lrcourse nbgrader-metadata`` writes), through ``lrcourse grade``: the teacher's version scores
    every check, the generated student version none (the run goes on after each NotImplementedError)."""
    source, notes = classroom.prepare_for_nbgrader(read(ROOT / "notebooks" / "00_start_here.ipynb"))
    assert not any("left as it is" in note for note in notes)
    nbformat.write(source, tmp_path / "00_start_here.ipynb")
    student, _ = classroom.student_notebook(source)
    paths = []
    for learner, nb in (("teacher", source), ("student", student)):
        (tmp_path / learner).mkdir()
        nbformat.write(nb, tmp_path / learner / "00_start_here.ipynb")
        paths.append(tmp_path / learner / "00_start_here.ipynb")
    scores = classroom.grade_submissions(paths, tmp_path / "00_start_here.ipynb", timeout=300, progress=False)
    teacher = [s for s in scores if "teacher" in s.notebook]
    student = [s for s in scores if "student" in s.notebook]
    assert teacher and len(teacher) == len(student) == len(classroom.graded_cells(source))
    assert all(s.points == s.max_points and s.status == "passed" for s in teacher), classroom.scores_table(scores)
    assert all(s.points == 0 for s in student), classroom.scores_table(scores)


def test_nbgrader_accepts_every_course_notebook(tmp_path):
    """``nbgrader generate_assignment`` on the real notebooks gives our student versions."""
    pytest.importorskip("nbgrader")
    course = tmp_path / "course"
    source = course / "source" / "lr"
    source.mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(textwrap.dedent(f"""\
        c = get_config()
        c.CourseDirectory.course_id = "lrcourse"
        c.CourseDirectory.root = {str(course)!r}
        c.Exchange.root = {str(tmp_path / "exchange")!r}
        """))
    for path in NOTEBOOKS:
        nbformat.write(read(path), source / path.name)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "lr", "--create", "--force"],
                          cwd=course, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for path in NOTEBOOKS:
        released = read(course / "release" / "lr" / path.name)
        ours, _ = classroom.student_notebook(read(path), path.name)
        assert [c.source for c in released.cells] == [c.source for c in ours.cells], path.name
