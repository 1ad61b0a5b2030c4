"""Reading notebooks strictly and writing outputs safely: the classroom kit's file rules.

A notebook is read as nbformat 4 and validated against its schema, so a cell whose ``source`` is
a number, a ``cells`` dictionary or an unknown ``cell_type`` is one :class:`ClassroomError` line
that names the file, never an ``AttributeError`` three functions later. Output folders are checked
up front with a uniquely named probe file, so two processes checking one folder never collide.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import nbformat


class ClassroomError(ValueError):
    """A notebook cannot be processed; the message names the file and, where known, the cell."""


def _first_message_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def read_notebook(path: str | os.PathLike, data: bytes | None = None) -> nbformat.NotebookNode:
    """Read a notebook as nbformat 4 and validate it; every failure is one ClassroomError line.

    Older formats (nbformat 3) are converted and a missing cell ``metadata`` or ``outputs`` is
    added, as Jupyter does; anything else the nbformat schema rejects (a number as a cell's
    source, an unknown cell type, ``cells`` that is not a list) is refused here rather than
    failing later. ``data``: the file's bytes, read earlier (the path
    then only names it in messages).
    """
    path = Path(path)
    if data is None and not path.is_file():
        raise ClassroomError(f"{path}: no such notebook")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat warns about missing cell ids: harmless
            data = json.loads(path.read_bytes() if data is None else data)
            if not isinstance(data, dict):
                raise ValueError(f"the file holds a JSON {type(data).__name__}, not a notebook")
            _fill_defaults(data)
            nb = nbformat.reads(json.dumps(data), as_version=4)
            nbformat.validate(nb)
    except ValueError as err:
        if isinstance(err, json.JSONDecodeError):
            raise ClassroomError(f"{path}: not a readable notebook (not JSON: {err})") from None
        raise ClassroomError(f"{path}: not a readable notebook ({_first_message_line(err)})") from None
    except Exception as err:  # noqa: BLE001 - wrong schema, unreadable file: all the same to a user
        raise ClassroomError(f"{path}: not a readable notebook ({_first_message_line(err)})") from None
    return nb


def _fill_defaults(data) -> None:
    """Add the empty fields an editor may drop (a cell's ``metadata``, a code cell's ``outputs``)."""
    cells = data.get("cells") if isinstance(data, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict):
            cell.setdefault("metadata", {})
            if cell.get("cell_type") == "code":
                cell.setdefault("outputs", [])
                cell.setdefault("execution_count", None)


def find_notebooks(paths, default_dir: Path | None = None, *, recursive: bool = False) -> list[Path]:
    """Expand files and folders to notebooks in course order (by path); reject unknown paths.

    ``recursive`` also searches sub-folders (one folder per learner); hidden folders and
    ``.ipynb_checkpoints`` are skipped.
    """
    if not paths:
        if default_dir is None or not default_dir.is_dir():
            raise ClassroomError("no notebooks given and no notebooks/ folder found "
                                 "(run from the course folder or name the notebooks)")
        paths = [default_dir]
    found = []
    for raw in paths:
        p = Path(raw)
        if isinstance(raw, str) and raw.endswith(("/", os.sep)) and p.is_file():  # Path drops the slash
            raise ClassroomError(f"{raw}: not a folder: {p} is a notebook file (drop the trailing slash)")
        if p.is_dir():
            pattern = "**/*.ipynb" if recursive else "*.ipynb"
            found += sorted(q for q in p.glob(pattern)
                            if q.is_file() and not any(part.startswith(".") for part in q.relative_to(p).parts))
        elif p.is_file() and p.suffix == ".ipynb":
            found.append(p)
        elif p.exists():
            raise ClassroomError(f"{p}: not a notebook (expected a .ipynb file or a folder)")
        else:
            raise ClassroomError(f"{p}: no such notebook or folder")
    if not found:
        raise ClassroomError(f"no .ipynb files in {', '.join(map(str, paths))}")
    return found


def first_line(source) -> str:
    """The cell's first line that says something (nbval markers such as ``# NBVAL_SKIP`` skipped)."""
    lines = [ln.strip() for ln in str(source).splitlines()
             if ln.strip() and not ln.strip().startswith("# NBVAL_")]
    return lines[0] if lines else "<empty cell>"


def writable_dir(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and prove it is writable; a ClassroomError says why not.

    The probe is a uniquely named temporary file, so two runs checking one folder at the same
    time never delete each other's probe.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".lrcourse-write-test-"):
            pass
    except OSError as err:
        raise ClassroomError(f"{folder}: cannot write to this folder ({err.strerror or err})") from None
    return folder


_make_dir = writable_dir  # the name cli.py's shared _out_dir imports


def writable_file(path: str | os.PathLike) -> Path:
    """Check, before any work, that ``path`` can be written as a file (not a folder, folder writable)."""
    path = Path(path)
    if path.is_dir():
        raise ClassroomError(f"{path}: is a folder; give a file name")
    writable_dir(path.parent if str(path.parent) else Path("."))
    if path.exists() and not os.access(path, os.W_OK):
        raise ClassroomError(f"{path}: cannot write to this file (permission denied)")
    return path


def table(rows) -> str:
    """Rows of cells as left-aligned plain-text columns."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
