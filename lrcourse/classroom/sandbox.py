"""Run one notebook in a fresh kernel, fenced off: its own folder, process tree, limits and deadline.

What runs where::

    lrcourse grade / run  (this process: never runs notebook code, never holds its outputs)
      └─ supervisor   python -m lrcourse.classroom._supervisor   own session; on Linux a child
         │            subreaper, so processes the notebook detaches are re-parented to it
         └─ kernel    python -m lrcourse.classroom._kernel       own session, cwd = the folder,
              │       RLIMIT_AS = ``memory``; its stdout/stderr go to /dev/null
              └─ whatever the notebook starts

The supervisor runs nbclient (nbgrader's ``Execute`` when grading) and sends each executed cell
back as one JSON line on its own pipe: a notebook that prints cannot write there. The kernel's
stdout/stderr send at most ``output_limit`` bytes and the supervisor keeps at most that much (a
print flood costs neither process memory), and a cell that ignores the interrupt sent at its
timeout gets its kernel killed (nbclient then stops waiting instead of interrupting forever). This process enforces the notebook's total ``deadline`` and
Ctrl-C. Whatever happens, when :func:`execute` returns every process of the run is dead: the
supervisor kills the kernel's process group and everything it adopted, then this process kills
what is left of the supervisor's tree and every process still carrying this run's token in its
environment (``LRCOURSE_SANDBOX``), detached daemons included, and deletes the folder.

Not a security boundary: the notebook runs as you and can read, write or kill anything you can.
"""
from __future__ import annotations

import json
import math
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from lrcourse.classroom.files import ClassroomError

ENV_TOKEN = "LRCOURSE_SANDBOX"
GRADE_OUTPUT_LIMIT = 20 * 2**20  # bytes of output kept per notebook when grading
RUN_OUTPUT_LIMIT = 200 * 2**20   # the course's own notebooks: plots included, ~2 MB each


def seconds(value, name: str = "timeout") -> int:
    """A time limit as whole seconds, rounded up (nbclient's timeouts are integers): 2.5 -> 3.

    >>> seconds(2.5), seconds(60)
    (3, 60)
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ClassroomError(f"{name} must be a number of seconds, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise ClassroomError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return math.ceil(number)


@dataclass
class Execution:
    """What came back from one sandboxed run."""

    nb: nbformat.NotebookNode          # the notebook, with the outputs of every cell that ran
    ran: set = field(default_factory=set)  # indices of the code cells that finished
    stopped: str = ""                  # why it ended before the last cell ("" when it reached the end)
    seconds: float = 0.0
    supervisor_mb: float | None = None  # the supervisor's peak memory (MiB), as it measured it


def execute(nb: nbformat.NotebookNode, name: str = "notebook.ipynb", *, cwd=None, timeout=60, deadline=None,
            memory: int | None = None, allow_errors: bool = True, grading: bool = False,
            output_limit: int | None = None, on_cell=None, cancel: threading.Event | None = None) -> Execution:
    """Run a copy of ``nb`` in a fresh kernel of this interpreter; see the module docstring.

    ``timeout``: per cell (rounded up to whole seconds). ``deadline``: for the whole notebook,
    kernel start included. ``memory``: bytes of address space for the kernel and its children.
    ``cwd``: the kernel's folder (default: a new temporary folder holding only the copy).
    ``on_cell(index)`` is called as each code cell starts. Setting ``cancel`` stops the run
    (``stopped == "interrupted"``); Ctrl-C (KeyboardInterrupt) stops it too and propagates.
    """
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # a private copy
    job = {"timeout": seconds(timeout), "memory": memory, "allow_errors": allow_errors, "grading": grading,
           "output_limit": output_limit or (GRADE_OUTPUT_LIMIT if grading else RUN_OUTPUT_LIMIT)}
    limit = seconds(deadline, "deadline") if deadline is not None else None
    token = uuid.uuid4().hex
    folder = Path(tempfile.mkdtemp(prefix="lrcourse-"))
    job.update(path=str(folder / Path(name).name), cwd=str(cwd or folder), token=token)
    Path(job["path"]).write_text(nbformat.writes(nb), encoding="utf-8")
    package_root = str(Path(__file__).resolve().parents[2])  # so the children import this very lrcourse
    env = {**os.environ, ENV_TOKEN: token,
           "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen([sys.executable, "-m", "lrcourse.classroom._supervisor"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=log, cwd=folder, env=env, start_new_session=True)
            try:
                run = _follow(proc, job, nb, limit, on_cell, cancel)
            finally:
                kill_tree(proc, token)
            if run.stopped.startswith("the process running"):
                log.seek(0)
                tail = [ln for ln in log.read().decode(errors="replace").splitlines() if ln.strip()]
                if tail and "Error" in tail[-1]:
                    run.stopped += f" ({tail[-1].strip()[:200]})"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    run.seconds = time.perf_counter() - t0
    return run


def _follow(proc, job, nb, limit, on_cell, cancel) -> Execution:
    """Feed the job to the supervisor and apply its events until it is done, dies, or time is up."""
    lines: queue.Queue = queue.Queue()

    def read():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    proc.stdin.write(json.dumps(job).encode())
    proc.stdin.close()
    run, current = Execution(nb), None
    end = None if limit is None else time.monotonic() + limit
    while True:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if cancel is not None and cancel.is_set():
                run.stopped = "interrupted"
                return run
            if end is not None and time.monotonic() > end:
                where = f" (in cell {current})" if current is not None else " (starting the kernel)"
                run.stopped = f"deadline: the notebook did not finish within {limit} s{where}"
                return run
            continue
        if line is None:
            run.stopped = "the process running this notebook died (killed by the notebook?)"
            return run
        try:
            event = json.loads(line)
        except ValueError:
            run.stopped = "unreadable message from the process running this notebook"
            return run
        kind, index = event.get("event"), event.get("index")
        if kind == "done":
            run.stopped, run.supervisor_mb = str(event.get("stopped", "")), event.get("maxrss_mb")
            return run
        if not (isinstance(index, int) and 0 <= index < len(nb.cells) and nb.cells[index].cell_type == "code"):
            continue
        if kind == "start":
            current = index
            if on_cell is not None:
                on_cell(index)
        elif kind == "cell":
            cell = nb.cells[index]
            cell.outputs = [nbformat.from_dict(o) for o in event.get("outputs", [])]
            cell.execution_count = event.get("execution_count")
            cell.metadata["lrcourse"] = {"results": int(event.get("results", 0))}  # counted by the supervisor
            run.ran.add(index)


def kill_tree(proc: subprocess.Popen, token: str) -> None:
    """Kill the supervisor, all its descendants and every process carrying ``token``; reap the supervisor.

    Repeated until a sweep finds nothing alive, so a process started while we were killing is
    caught by the next sweep.
    """
    import psutil

    me = os.getpid()
    for _ in range(50):
        victims = {}
        try:
            root = psutil.Process(proc.pid)
            for p in [root, *root.children(recursive=True)]:
                victims[p.pid] = p
        except psutil.Error:
            pass
        for p in carrying(token):
            victims.setdefault(p.pid, p)
        victims.pop(me, None)
        alive = [p for p in victims.values() if _alive(p)]
        if not alive:
            break
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=1)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL was sent; nothing else to do
        pass


def _alive(p) -> bool:
    import psutil

    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def carrying(token: str) -> list:
    """This user's processes whose environment holds ``LRCOURSE_SANDBOX=token``."""
    import psutil

    found, uid = [], os.getuid()
    for p in psutil.process_iter(["uids"]):
        try:
            if p.info["uids"].real == uid and p.environ().get(ENV_TOKEN) == token:
                found.append(p)
        except (psutil.Error, TypeError, AttributeError):
            continue
    return found
