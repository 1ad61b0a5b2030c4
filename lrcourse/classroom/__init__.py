"""Classroom kit: hand out student versions, run notebooks headless to HTML, grade submissions.

- :mod:`~lrcourse.classroom.assign`: student versions (nbgrader's solution-clearing rule, near-miss
  markers refused), nbgrader metadata, and check cells that end in their score.
- :mod:`~lrcourse.classroom.run`: every notebook top to bottom into HTML pages and ``index.html``.
- :mod:`~lrcourse.classroom.grade`: submissions graded against the source notebook, as nbgrader's
  autograde does, each in its own :mod:`~lrcourse.classroom.sandbox` (folder, process tree,
  memory and output limits, deadline).
- :mod:`~lrcourse.classroom.files`: strict notebook reading, output folder checks.

The ``lrcourse`` command's ``student``, ``run``, ``grade`` and ``nbgrader-metadata`` are thin
wrappers around these functions; docs/instructors.md says what grading protects against.
"""
from lrcourse.classroom.assign import (
    CODE_STUB,
    TEXT_STUB,
    add_nbgrader_metadata,
    check_nbgrader_metadata,
    clear_outputs,
    convert_check_cells,
    is_test_cell,
    prepare_for_nbgrader,
    score_line,
    strip_solutions,
    student_notebook,
    write_notebook,
    write_student_versions,
)
from lrcourse.classroom.files import (
    ClassroomError,
    _make_dir,  # noqa: F401  (cli.py's shared _out_dir imports it)
    find_notebooks,
    read_notebook,
    table,
    writable_dir,
    writable_file,
)
from lrcourse.classroom.grade import (
    DEFAULT_MEMORY,
    ExerciseScore,
    grade_notebook,
    grade_submissions,
    graded_cells,
    restore_from_source,
    score_cell,
    scores_records,
    scores_table,
    write_scores,
)
from lrcourse.classroom.run import RunResult, execute_notebook, notebook_html, run_notebooks, write_index
from lrcourse.classroom.sandbox import Execution, execute, seconds

__all__ = [
    "CODE_STUB", "TEXT_STUB", "add_nbgrader_metadata", "check_nbgrader_metadata", "clear_outputs",
    "convert_check_cells", "is_test_cell", "prepare_for_nbgrader", "score_line", "strip_solutions",
    "student_notebook", "write_notebook", "write_student_versions",
    "ClassroomError", "find_notebooks", "read_notebook", "table", "writable_dir", "writable_file",
    "DEFAULT_MEMORY", "ExerciseScore", "grade_notebook", "grade_submissions", "graded_cells",
    "restore_from_source", "score_cell", "scores_records", "scores_table", "write_scores",
    "RunResult", "execute_notebook", "notebook_html", "run_notebooks", "write_index",
    "Execution", "execute", "seconds",
]
