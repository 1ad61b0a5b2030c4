"""The ``lrcourse`` command, through its real entry points (``python -m lrcourse`` and the script).

Kernels take seconds to start, so only a few tiny notebooks are executed: by ``run`` (a plot,
a failure, a shared output folder and Ctrl-C) and by ``grade`` (solved, and looping + wrong);
tests/test_classroom.py grades the hostile submissions.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from lrcourse import cli

v4 = nbformat.v4
COMMANDS = ["lab", "run", "find-lr", "compare", "student", "grade", "nbgrader-metadata", "doctor"]


def lrcourse(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "lrcourse", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def script():
    found = Path(sys.executable).parent / "lrcourse"
    return str(found) if found.exists() else shutil.which("lrcourse")


# ------------------------------------------------------------------------------------- help
def test_help_through_both_entry_points():
    proc = lrcourse("--help")
    assert proc.returncode == 0
    for name in COMMANDS:
        assert name in proc.stdout
    if script() is None:
        pytest.skip("the lrcourse console script is not installed (pip install -e .)")
    proc = subprocess.run([script(), "doctor", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "usage: lrcourse doctor" in proc.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: lrcourse {command}" in capsys.readouterr().out


# -------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("argv, fragment", [
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["run", "nope.ipynb"], "nope.ipynb: no such notebook or folder"),
    (["grade"], "the following arguments are required"),
    (["run", "--jobs", "0", "x.ipynb"], "must be > 0"),
    (["student", "missing_src", "out"], "missing_src: no such notebook or folder"),
])
def test_bad_input_is_one_line_on_stderr(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_unwritable_output_folder(tmp_path, capsys):
    nb = tmp_path / "a.ipynb"
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell("1")]), nb)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert cli.main(["run", str(nb), "--out", str(blocker / "build")]) == 2
    err = capsys.readouterr().err
    assert "cannot write to this folder" in err and err.count("\n") == 1


def test_missing_optional_dependency_is_one_line(monkeypatch, capsys):
    real = cli.importlib.import_module

    def fake(name, *a):
        if name == "jupyterlab":
            raise ImportError("No module named 'jupyterlab'")
        return real(name, *a)

    monkeypatch.setattr(cli.importlib, "import_module", fake)
    assert cli.main(["lab", "--dry-run"]) == 2
    assert "lrcourse lab: error: lrcourse lab needs 'jupyterlab'" in capsys.readouterr().err


def test_lab_dry_run_prints_the_command(capsys):
    assert cli.main(["lab", "--dry-run", "--port", "8899"]) == 0
    out = capsys.readouterr().out
    assert "-m jupyterlab notebooks" in out and "--port 8899" in out


# ------------------------------------------------------------------------------------- run
def test_run_writes_html_with_embedded_plot_and_reports_failing_cell(tmp_path):
    src = tmp_path / "nbs"
    src.mkdir()
    plot = v4.new_notebook(cells=[
        v4.new_markdown_cell("# A plot"),
        v4.new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"),
    ])
    bad = v4.new_notebook(cells=[v4.new_code_cell("x = 1"),
                                 v4.new_code_cell("y = x / 0  # boom\nprint(y)"),
                                 v4.new_code_cell("print('never')")])
    nbformat.write(plot, src / "01_plot.ipynb")
    nbformat.write(bad, src / "02_bad.ipynb")
    snapshot = {p.name: p.read_bytes() for p in src.iterdir()}
    proc = lrcourse("run", src, "--out", tmp_path / "build", "--timeout", 120, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "02_bad.ipynb failed at cell 1 (`y = x / 0  # boom`): ZeroDivisionError" in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["notebook", "seconds", "status"]
    assert lines[1].split()[0::2] == ["01_plot.ipynb", "ok"] and lines[2].split()[0::2] == ["02_bad.ipynb", "failed"]
    html = (tmp_path / "build" / "01_plot.html").read_text()
    assert "data:image/png;base64," in html
    index = (tmp_path / "build" / "index.html").read_text()
    assert index.index('href="01_plot.html"') < index.index('href="02_bad.html"')
    assert "ZeroDivisionError" in index
    assert {p.name: p.read_bytes() for p in src.iterdir()} == snapshot  # sources untouched



def interrupted_output(proc, timeout):
    """stderr of a process sent Ctrl-C; if it does not exit in ``timeout`` s, kill it and fail with what it said."""
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"still running {timeout} s after Ctrl-C; its stderr: {err[-2000:]}")


def default_sigint():
    """Ctrl-C's default action in the child, as a terminal gives it. A shell starts background jobs
    (``make test &``, nohup) with SIGINT ignored, children inherit that, and Python keeps ignoring it:
    the Ctrl-C tests would then wait forever for an interrupt that never arrives."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_run_keeps_one_index_for_a_shared_out_and_stops_on_ctrl_c(tmp_path):
    """SWR-16: a second run into the same --out keeps the first run's notebook in index.html.
    CRASH-4: --timeout 2.5 works. CRASH-5: Ctrl-C stops the whole run (exit 130), the running
    notebook is recorded as interrupted and the next one never starts."""
    src = tmp_path / "nbs"
    src.mkdir()
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell("print(1 + 1)")]), src / "a_ok.ipynb")
    pid = tmp_path / "pid"
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell(
        f"import os, time\nopen({str(pid)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)")]), src / "b_sleep.ipynb")
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell("print('never')")]), src / "c_never.ipynb")
    out = tmp_path / "build"
    proc = lrcourse("run", src / "a_ok.ipynb", "--out", out, "--timeout", 2.5, "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    second = subprocess.Popen([sys.executable, "-m", "lrcourse", "run", str(src / "b_sleep.ipynb"),
                               str(src / "c_never.ipynb"), "--out", str(out), "--no-progress"], cwd=tmp_path,
                              start_new_session=True, preexec_fn=default_sigint,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while not pid.exists() and time.monotonic() - t0 < 300 and second.poll() is None:
        time.sleep(0.2)
    assert pid.exists(), f"the sleeping cell never started ({time.monotonic() - t0:.0f} s, exit {second.poll()})"
    time.sleep(1)
    os.killpg(second.pid, signal.SIGINT)
    err = interrupted_output(second, timeout=180)
    assert second.returncode == 130, err[-2000:]
    index = (out / "index.html").read_text()
    assert 'href="a_ok.html"' in index and "b_sleep.ipynb" in index and "c_never" not in index
    assert index.index("b_sleep.ipynb") < index.index('class="interrupted"') < index.index("</table>")
    import psutil

    kernel = int(pid.read_text())
    assert not psutil.pid_exists(kernel) or psutil.Process(kernel).status() == psutil.STATUS_ZOMBIE


# --------------------------------------------------------------------------------- student
def test_student_command_and_unbalanced_markers(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    nb = v4.new_notebook(cells=[v4.new_code_cell("x = None\n### BEGIN SOLUTION\nx = 42\n### END SOLUTION"),
                                v4.new_code_cell("print(x)")])
    nbformat.write(nb, src / "01_a.ipynb")
    proc = lrcourse("student", src, tmp_path / "dest")
    assert proc.returncode == 0, proc.stderr
    assert "01_a.ipynb  1" in proc.stdout
    assert "x = 42" not in (tmp_path / "dest" / "01_a.ipynb").read_text()
    nb.cells[1].source = "print(x)\n### END SOLUTION"
    nbformat.write(nb, src / "02_b.ipynb")
    before = (src / "02_b.ipynb").read_bytes()
    assert cli.main(["student", str(src), str(tmp_path / "dest2")]) == 2
    err = capsys.readouterr().err
    assert "02_b.ipynb: cell 1 ('print(x)'): line 2: 'END SOLUTION' without" in err
    assert err.count("\n") == 1 and not (tmp_path / "dest2").exists()
    assert (src / "02_b.ipynb").read_bytes() == before
    assert cli.main(["student", str(src), str(src / "inside")]) == 2
    assert "source folder" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- grade
def graded_source() -> nbformat.NotebookNode:
    from lrcourse import classroom

    nb = v4.new_notebook(cells=[
        v4.new_code_cell("from lrcourse.exercises import check_value, check_choice"),
        v4.new_code_cell("answer = None\n### BEGIN SOLUTION\nanswer = 0.9 ** 10\n### END SOLUTION"),
        v4.new_code_cell("assert check_value(answer, 0.9 ** 10)"),
        v4.new_code_cell("choice = None\n### BEGIN SOLUTION\nchoice = 'b'\n### END SOLUTION"),
        v4.new_code_cell("assert check_choice(choice, 'b')"),
    ])
    return classroom.prepare_for_nbgrader(nb)[0]


def test_grade_against_the_source_with_a_fractional_timeout(tmp_path):
    """SWR-1: --timeout 2.5 works (rounded up to 3 s); a looping cell times out, the run goes on."""
    src = graded_source()
    (tmp_path / "source").mkdir()
    nbformat.write(src, tmp_path / "source" / "ex.ipynb")
    loop = graded_source()
    loop.cells[1].source = "answer = 0.9 ** 10\nwhile True:\n    pass"
    loop.cells[3].source = "choice = 'a'"
    for learner, nb in (("alice", src), ("bob", loop)):
        (tmp_path / "submitted" / learner).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "submitted" / learner / "ex.ipynb")
    proc = lrcourse("grade", tmp_path / "submitted", "--source", tmp_path / "source", "--timeout", 2.5,
                    "--json", tmp_path / "s.json", "--csv", tmp_path / "s.csv", "--no-progress", cwd=tmp_path,
                    timeout=900)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "s.json").read_text())
    got = {(Path(r["notebook"]).parent.name, r["exercise"]): (r["points"], r["status"]) for r in rows}
    assert got == {("alice", "test_1"): (1.0, "passed"), ("alice", "test_2"): (1.0, "passed"),
                   ("bob", "test_1"): (1.0, "passed"), ("bob", "test_2"): (0.0, "failed")}
    csv_lines = (tmp_path / "s.csv").read_text().splitlines()
    assert csv_lines[0] == "notebook,exercise,cell,score,points,max_points,status" and len(csv_lines) == 5
    totals = [line.split() for line in proc.stdout.splitlines() if "TOTAL" in line]
    assert [(Path(t[0]).parent.name, t[2]) for t in totals] == [("alice", "2/2"), ("bob", "1/2")]


@pytest.mark.parametrize("extra, fragment", [
    (["--csv", "{tmp}"], "is a folder; give a file name"),                       # DATA-6
    (["--json", "{tmp}/blocker/s.json"], "cannot write to this folder"),
    (["--csv", "{tmp}/s.csv", "--json", "{tmp}/s.csv"], "--csv and --json name the same file"),
    (["--timeout", "nan"], "expected a finite number of seconds > 0, got 'nan'"),  # SWR-1
    (["--timeout", "inf"], "expected a finite number of seconds > 0"),
    (["--deadline", "0"], "expected a finite number of seconds > 0"),
    (["--memory", "-1"], "must be a finite number of GiB >= 0"),
    (["--source", "{tmp}/nowhere"], "--source {tmp}/nowhere: no such folder"),
])
def test_grade_refuses_bad_outputs_and_limits_before_grading(tmp_path, capsys, extra, fragment):
    (tmp_path / "blocker").write_text("a file, not a folder")
    (tmp_path / "source").mkdir()
    nbformat.write(graded_source(), tmp_path / "source" / "ex.ipynb")
    marker = tmp_path / "ran"
    sub = graded_source()
    sub.cells.insert(0, v4.new_code_cell(f"open({str(marker)!r}, 'w').close()"))
    nbformat.write(sub, tmp_path / "ex.ipynb")
    argv = ["grade", str(tmp_path / "ex.ipynb"), "--source", str(tmp_path / "source"), "--no-progress"]
    assert cli.main(argv + [a.format(tmp=tmp_path) for a in extra]) == 2
    err = capsys.readouterr().err
    assert fragment.format(tmp=tmp_path) in err and err.count("\n") == 1
    assert not marker.exists()  # refused before any submission ran


# ---------------------------------------------------------------------- nbgrader-metadata
def test_nbgrader_metadata_command_adds_converts_then_checks(tmp_path, capsys):
    nb = v4.new_notebook(cells=[
        v4.new_code_cell("from lrcourse.exercises import check_value, check_choice"),
        v4.new_code_cell("answer = None\n### BEGIN SOLUTION\nanswer = 0.9 ** 10\n### END SOLUTION"),
        v4.new_code_cell("result = check_value(answer, 0.9 ** 10)\nassert result.passed"),
        v4.new_code_cell("choice = 'b'"),
        v4.new_code_cell("assert check_choice(choice, 'b')"),
    ])
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    assert cli.main(["nbgrader-metadata", str(path), "--check"]) == 1
    assert "x.ipynb: cell 1" in capsys.readouterr().out
    assert cli.main(["nbgrader-metadata", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"updated {path}" in out and out.count("now ends in its score") == 2
    assert cli.main(["nbgrader-metadata", str(path), "--check"]) == 0
    assert "0 problems" in capsys.readouterr().out
    assert cli.main(["nbgrader-metadata", str(path)]) == 0
    assert f"unchanged {path}" in capsys.readouterr().out
    cells = nbformat.read(path, as_version=4).cells
    assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in cells] == \
        [None, "solution_1", "test_1", None, "test_2"]
    assert cells[2].source.splitlines()[-1] == "result.score  # your points out of 1"
    assert cells[4].source.splitlines()[-1] == "check_choice(choice, 'b').score  # your points out of 1"
    assert [p.name for p in tmp_path.iterdir()] == ["x.ipynb"]  # written atomically: no temporary left


def test_doctor_exits_zero_and_lists_checks():
    proc = lrcourse("doctor", timeout=120)
    assert proc.returncode == 0, proc.stderr
    for word in ("python", "torch", "numpy", "matplotlib", "ipywidgets", "device:", "kernel"):
        assert word in proc.stdout
    assert all(line[0] in "✓✗" for line in proc.stdout.splitlines())


# ---------------------------------------------------------------------- find-lr and compare
def test_find_lr_prints_suggestions_and_saves_plot(tmp_path, capsys):
    assert cli.main(["find-lr", "--data", "digits", "--hidden", "16", "--steps", "30",
                     "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "default" in out and "valley" in out
    assert (tmp_path / "find_lr_digits_sgd.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_table_csv_and_plot(tmp_path, capsys):
    assert cli.main(["compare", "--data", "digits", "--schedules", "constant,cosine", "--lrs", "0.05",
                     "--seeds", "1", "--epochs", "1", "--hidden", "8", "--out", str(tmp_path),
                     "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| constant" in out and "| cosine" in out
    csv_text = (tmp_path / "compare.csv").read_text().splitlines()
    assert len(csv_text) == 3 and csv_text[0].startswith("schedule")
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_bad_schedule_is_one_line(tmp_path, capsys):
    assert cli.main(["compare", "--schedules", "nosuch", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "nosuch" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, fragment", [
    (["find-lr", "--steps", "1"], "argument --steps: must be >= 2, got '1'"),
    (["find-lr", "--momentum", "-1"], "argument --momentum: must be >= 0, got '-1'"),
    (["find-lr", "--momentum", "nan"], "argument --momentum: must be a finite number, got 'nan'"),
    (["find-lr", "--momentum", "1"], "argument --momentum: must be < 1, got '1'"),
    (["find-lr", "--seed", "-1"], "argument --seed: must be >= 0, got '-1'"),
    (["find-lr", "--seed", "1.5"], "argument --seed: expected an integer, got '1.5'"),
    (["lab", "--port", "99999"], "argument --port: must be <= 65535, got '99999'"),
    (["lab", "--port", "0"], "argument --port: must be >= 1, got '0'"),
    (["compare", "--optimizer", "lion"], "argument --optimizer: invalid choice: 'lion'"),
])
def test_find_lr_compare_and_lab_refuse_bad_numbers_in_one_line(argv, fragment, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_optimizers_are_the_library_optimizers():
    from lrcourse.experiments import OPTIMIZERS

    assert cli.OPTIMIZERS == OPTIMIZERS  # AdamW included: one optimizer-by-name


def test_find_lr_into_a_closed_pipe_exits_quietly(tmp_path):
    """`lrcourse find-lr ... | head`: the reader is gone before the table is printed."""
    proc = subprocess.Popen([sys.executable, "-m", "lrcourse", "find-lr", "--data", "digits", "--hidden", "8",
                             "--steps", "12", "--optimizer", "adamw", "--out", str(tmp_path), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 141 and err == "", err
    assert (tmp_path / "find_lr_digits_adamw.png").exists()


def test_compare_into_an_unwritable_cache_fails_before_training(tmp_path, capsys, monkeypatch):
    from lrcourse import experiments

    monkeypatch.setattr(experiments, "run_one", lambda config: pytest.fail("trained before checking --cache"))
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    assert cli.main(["compare", "--data", "digits", "--schedules", "constant", "--lrs", "0.1", "--seeds", "1",
                     "--epochs", "1", "--hidden", "8", "--cache", str(blocker), "--out", str(tmp_path / "out"),
                     "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrcourse compare: error: cache_dir") and err.count("\n") == 1
