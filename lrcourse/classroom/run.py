"""Headless runs: execute notebooks top to bottom (stop at the first error) and write HTML pages.

Each notebook runs in :func:`lrcourse.classroom.sandbox.execute` with its own folder as the
kernel's working folder (the course's notebooks may read files next to them); the source file is
never written. For each notebook ``OUT/NAME.html`` and a small record ``OUT/.lrcourse-runs/NAME.json``
are written atomically as soon as it ends, and ``OUT/index.html`` is rebuilt from the records on
disk, so two runs into one folder each leave an index that lists both. Ctrl-C stops the whole run:
the notebook being run is recorded as "interrupted" and KeyboardInterrupt propagates.
"""
from __future__ import annotations

import html
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from lrcourse._io import write_text_atomic
from lrcourse.classroom import sandbox
from lrcourse.classroom.files import first_line, read_notebook, writable_dir

RECORDS = ".lrcourse-runs"


@dataclass
class RunResult:
    """One notebook run by :func:`execute_notebook`: ``status`` is "ok", "failed" or "interrupted"."""

    notebook: str
    seconds: float
    status: str
    error: str = ""            # one line: "cell 3 (`plt.plot(x)`): ZeroDivisionError: ..."
    html: str = ""             # file name of the HTML page, relative to the output folder
    cell: int | None = None    # index of the failing cell in the notebook
    finished: str = ""         # local time the run ended


def _failure(run: sandbox.Execution) -> tuple[int | None, str]:
    """The failing cell and a one-line reason from an execution that stopped early."""
    for index in sorted(run.ran, reverse=True):
        cell = run.nb.cells[index]
        for out in cell.outputs:
            if out.output_type == "error":
                reason = "timed out" if out.ename == "CellTimeoutError" else f"{out.ename}: {out.evalue}"
                reason = reason.strip().splitlines()[0] if reason.strip() else out.ename
                return index, f"cell {index} (`{first_line(cell.source)}`): {reason}"
    return None, run.stopped


def execute_notebook(path: str | os.PathLike, *, timeout=600, deadline=None, on_cell=None,
                     cancel: threading.Event | None = None) -> tuple[RunResult, nbformat.NotebookNode]:
    """Run a copy of a notebook top to bottom in a fresh kernel; stop at the first error.

    ``timeout`` is per cell and ``deadline`` for the whole notebook, in seconds (rounded up).
    ``on_cell(index, total)`` is called as each code cell starts. The source file is never written.
    """
    path = Path(path)
    nb = read_notebook(path)
    run = sandbox.execute(nb, path.name, cwd=path.parent.resolve(), timeout=timeout, deadline=deadline,
                          allow_errors=False, grading=False, cancel=cancel,
                          on_cell=None if on_cell is None else (lambda i: on_cell(i, len(nb.cells))))
    result = RunResult(path.name, run.seconds, "ok", html=path.with_suffix(".html").name,
                       finished=time.strftime("%Y-%m-%d %H:%M:%S"))
    if run.stopped == "interrupted":
        result.status, result.error = "interrupted", "stopped by Ctrl-C"
    elif run.stopped:
        result.status = "failed"
        result.cell, result.error = _failure(run)
    return result, run.nb


def notebook_html(nb: nbformat.NotebookNode) -> str:
    """The executed notebook as one self-contained HTML page (plots inline as data URIs)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    return body


def _record(result: RunResult, nb, out: Path) -> None:
    if nb is not None:
        write_text_atomic(out / result.html, notebook_html(nb))
    write_text_atomic(out / RECORDS / f"{result.notebook}.json", json.dumps(asdict(result)))
    write_index(out)


def run_notebooks(paths, out: str | os.PathLike, *, timeout=600, deadline=None, jobs: int = 1,
                  progress: bool = True) -> list[RunResult]:
    """Execute notebooks into ``out``: one HTML page each plus ``index.html``, in course order.

    ``jobs > 1`` runs that many notebooks at once, each in its own supervised process and kernel.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    paths = [Path(p) for p in paths]
    for p in paths:
        read_notebook(p)  # fail on a bad file before starting any kernel
    timeout = sandbox.seconds(timeout)
    out = writable_dir(out)
    results = {}
    bar = tqdm(total=len(paths), unit="nb", disable=not progress)

    def one(p: Path, cancel=None, on_cell=None):
        result, nb = execute_notebook(p, timeout=timeout, deadline=deadline, on_cell=on_cell, cancel=cancel)
        _record(result, nb, out)
        results[p] = result
        bar.update(1)

    try:
        if jobs <= 1:
            for p in paths:
                def on_cell(i, n, name=p.name):
                    bar.set_postfix_str(f"{name} cell {i + 1}/{n}", refresh=True)
                try:
                    one(p, on_cell=on_cell)
                except KeyboardInterrupt:
                    _record(RunResult(p.name, 0.0, "interrupted", "stopped by Ctrl-C",
                                      finished=time.strftime("%Y-%m-%d %H:%M:%S")), None, out)
                    raise
        else:
            cancel = threading.Event()
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = [pool.submit(one, p, cancel) for p in paths]
                try:
                    for f in futures:
                        while not f.done():  # short waits: Ctrl-C reaches this thread between them
                            time.sleep(0.2)
                        f.result()
                except KeyboardInterrupt:
                    cancel.set()  # every running notebook stops and is recorded as interrupted
                    for f in futures:
                        f.cancel()
                    raise
    finally:
        bar.close()
    return [results[p] for p in paths if p in results]


def write_index(out: str | os.PathLike) -> Path:
    """Rebuild ``index.html`` from the run records on disk: one row per notebook, in name order."""
    out = Path(out)
    records = []
    for path in sorted((out / RECORDS).glob("*.json")):
        try:
            records.append(RunResult(**json.loads(path.read_text(encoding="utf-8"))))
        except (ValueError, TypeError, OSError):
            continue  # a record being replaced or foreign: the next rebuild sees it
    records.sort(key=lambda r: r.notebook)
    rows = "\n".join(_row(r) for r in records)
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>lrcourse: executed notebooks</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:.3em .8em;text-align:left}}
.ok{{color:#080}} .failed,.interrupted{{color:#b00;font-weight:bold}}</style></head>
<body><h1>lrcourse: executed notebooks</h1>
<p>Index rebuilt {time.strftime('%Y-%m-%d %H:%M:%S')} from the {len(records)} run records in this folder.</p>
<table><tr><th>notebook</th><th>seconds</th><th>status</th><th>finished</th><th>error</th></tr>
{rows}
</table></body></html>
"""
    path = out / "index.html"
    write_text_atomic(path, page)
    return path


def _row(r: RunResult) -> str:
    name = html.escape(r.notebook)
    link = f'<a href="{html.escape(r.html)}">{name}</a>' if r.html else name
    return (f'<tr><td>{link}</td><td>{r.seconds:.1f}</td><td class="{html.escape(r.status)}">'
            f'{html.escape(r.status)}</td><td>{html.escape(r.finished)}</td><td>{html.escape(r.error)}</td></tr>')
