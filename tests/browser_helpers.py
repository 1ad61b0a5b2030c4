"""Helpers for tests/test_browser.py: a private JupyterLab server and page actions.

The server runs the venv's ``jupyter lab`` with its own config, data and runtime
folders in a temporary directory (nothing is written into the home folder), and a
kernelspec ``python3`` written into that data folder so that every notebook runs on
``sys.executable`` (the interpreter running pytest, where lrcourse is importable).

Selectors follow /work/shared/NOTEBOOK_TESTING.md (JupyterLab 4.6, ipywidgets 8).
"""
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat

# Debian's chromium (apt-get install chromium); LRCOURSE_CHROMIUM points elsewhere.
CHROMIUM = Path(os.environ.get("LRCOURSE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # without these, Chromium floods the closed network with refused connections
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Scoped to the visible notebook: a stale hidden tab would double every match.
PANEL = ".jp-NotebookPanel:visible"
WIDGET_CELL = f"{PANEL} .jp-CodeCell:has(.widget-slider)"
PLOT_IMG = ".widget-output img"


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_notebook(path, cells):
    """Write a notebook of code cells (list of source strings) to ``path``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def notebook_has_widget(path):
    """True when a code cell of the notebook calls one of the ``*_explorer(`` widgets."""
    nb = nbformat.read(str(path), as_version=4)
    return any(c.cell_type == "code" and "_explorer(" in c.source for c in nb.cells)


class LabServer:
    """``jupyter lab`` in a temporary root folder; ``stop()`` always cleans up.

    Kernels are started by the server in their own session (jupyter_client's
    ``start_new_session=True``), so stopping the server's process group is not
    enough: ``stop()`` also kills every process whose command line names one of
    this server's connection files (``kernel-*.json`` in its runtime folder).
    """

    def __init__(self, base):
        self.base = Path(base)
        self.root = self.base / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log_path = self.base / "jupyter.log"
        self._log = None

    def env(self):
        env = dict(os.environ)
        for name in ("config", "data", "runtime"):
            (self.base / name).mkdir(exist_ok=True)
        env["JUPYTER_CONFIG_DIR"] = str(self.base / "config")
        env["JUPYTER_DATA_DIR"] = str(self.base / "data")
        env["JUPYTER_RUNTIME_DIR"] = str(self.base / "runtime")
        # JUPYTER_PATH comes before the venv's share/jupyter (which jupyter_core prefers
        # over JUPYTER_DATA_DIR inside a venv), so our kernelspec below wins.
        env["JUPYTER_PATH"] = str(self.base / "data")
        env["IPYTHONDIR"] = str(self.base / "ipython")
        # The kernel must make inline PNGs: an exported Agg backend would hide them.
        env.pop("MPLBACKEND", None)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")] if p
        )
        return env

    def write_settings(self):
        """Lab settings: no "get notified about Jupyter news?" toast over the notebook."""
        settings = self.base / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))

    def write_kernelspec(self):
        """Kernelspec ``python3`` -> sys.executable (found first through JUPYTER_PATH)."""
        spec = self.base / "data" / "kernels" / "python3"
        spec.mkdir(parents=True, exist_ok=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (lrcourse test)",
            "language": "python",
        }))

    def start(self, timeout=60):
        env = self.env()
        self.write_kernelspec()
        self.write_settings()
        jupyter = Path(sys.executable).with_name("jupyter")
        cmd = [
            str(jupyter), "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(self.port),
            f"--ServerApp.token={self.token}", f"--ServerApp.root_dir={self.root}",
            "--ServerApp.port_retries=0", "--allow-root",
        ]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=self.root, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.api("GET", "/api/status")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.25)
        raise RuntimeError(f"jupyter lab not ready after {timeout} s:\n{self.log()}")

    def api(self, method, path, timeout=5):
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def lab_url(self, notebook_name):
        return f"{self.url}/lab/tree/{notebook_name}?reset&token={self.token}"

    def _kernel_pids(self):
        """PIDs of processes started with one of this server's connection files."""
        runtime = str(self.base / "runtime")
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(arg.decode(errors="replace").startswith(runtime) for arg in cmdline):
                pids.append(int(entry.name))
        return pids

    def stop(self):
        """SIGTERM the server (it shuts its kernels down), then SIGKILL what is left."""
        if self.proc is None:
            return
        kernel_pids = self._kernel_pids()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for pid in set(kernel_pids + self._kernel_pids()):
            try:
                os.killpg(pid, signal.SIGKILL)  # a kernel leads its own session
            except (ProcessLookupError, PermissionError):
                pass
        if self._log:
            self._log.close()
        self.proc = None

    def shutdown_kernels(self):
        """Shut down every running kernel (a finished notebook's kernel only costs memory)."""
        for kernel in self.api("GET", "/api/kernels"):
            try:
                self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=30)
            except urllib.error.HTTPError:
                pass  # already gone


def img_hash(locator):
    """Short hash of an <img> src (inline PNGs are data: URLs)."""
    return hashlib.sha1((locator.get_attribute("src") or "").encode()).hexdigest()[:12]


# The notebook's execution indicator already reads "idle" while the status bar still
# says "No Kernel | Initializing"; a Run All issued then pops a "Select Kernel" dialog.
# So "idle" here means: both say idle, and a kernel is attached.
KERNEL_IDLE_JS = """() => {
    const item = document.querySelector(".jp-StatusBar-TextItem[title^='Change kernel for']");
    const text = item ? item.textContent : "";
    const exec = document.querySelector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator");
    return !text.startsWith("No Kernel") && /\\|\\s*Idle\\s*$/.test(text)
        && exec !== null && exec.getAttribute("data-status") === "idle";
}"""


def wait_idle(page, settle_ms=400, timeout=60_000):
    """Wait for an attached kernel to be idle, then let the front end settle."""
    page.wait_for_timeout(settle_ms)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout, polling=100)
    page.wait_for_timeout(settle_ms)


def wait_all_cells_ran(page, timeout=120_000):
    """Wait until every code cell shows an execution count (``[n]:``) and none ``[*]:``.

    Fails at once, with its text, when Lab opens a dialog instead (kernel died,
    kernel selection, ...).
    """
    result = page.wait_for_function(
        """() => {
            if (document.querySelector('.jp-Dialog')) return 'dialog';
            const nb = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null);
            if (!nb) return false;
            const prompts = [...nb.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            if (prompts.some(p => p.textContent.includes('*'))) return false;
            // Run All stops at an error: the cells after it never get a count.
            const stderr = nb.querySelectorAll(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']");
            if ([...stderr].some(e => e.textContent.includes('Traceback'))) return 'error';
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)) && 'done';
        }""",
        timeout=timeout, polling=250,
    ).json_value()
    if result == "dialog":
        raise AssertionError(f"JupyterLab dialog while running: {page.locator('.jp-Dialog').first.inner_text()!r}")
    if result == "error":
        raise AssertionError(f"a cell raised during Run All:\n{errors_shown(page.locator(PANEL))[0][-1500:]}")


def menu(page, top, item):
    """Click ``top`` in the menu bar, then the enabled entry labelled exactly ``item``."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")).first.click()
    entry = page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel",
                         has_text=re.compile(f"^{re.escape(item)}$"))
    entry.first.click()


def clear_all_outputs(page, timeout=10_000):
    """Edit → Clear Outputs of All Cells, and wait until no cell shows a stored count.

    Course notebooks are committed executed: without this, their stored ``[n]:`` prompts
    and outputs would pass for a finished Run All.
    """
    page.locator(f"{PANEL} .jp-Cell .jp-InputPrompt").first.click()
    menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(
        """() => ![...document.querySelectorAll('.jp-NotebookPanel .jp-InputArea-prompt')]
                     .some(p => /\\d/.test(p.textContent))""",
        timeout=timeout, polling=100,
    )


def run_all_cells(page, tries=3):
    """Run → Run All Cells, through the menu bar as a learner would.

    The menu item acts on the *current* notebook, which Lab only knows once the panel
    has had focus; a click that lands too early does nothing. So focus the notebook
    first, and retry until a cell shows that it is queued or ran.
    """
    started = """() => [...document.querySelectorAll('.jp-NotebookPanel .jp-InputArea-prompt')]
                     .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
    for attempt in range(tries):
        page.locator(f"{PANEL} .jp-Cell .jp-InputPrompt").first.click()
        menu(page, "Run", "Run All Cells")
        try:
            page.wait_for_function(started, timeout=10_000, polling=200)
            return
        except Exception:
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")


def open_notebook(page, server, name, timeout=60_000):
    """Open ``name`` in a fresh workspace and wait for a started, idle kernel."""
    page.goto(server.lab_url(name), timeout=timeout)
    page.locator(f"{PANEL} .jp-Notebook").wait_for(state="visible", timeout=timeout)
    wait_idle(page, settle_ms=100, timeout=timeout)


def errors_shown(scope):
    """Texts of error outputs in ``scope`` (a page or a cell): tracebacks on stderr
    (uncaught errors, also those of widget callbacks shown in an Output) and widgets
    that failed to render."""
    stderr = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    texts = [t for t in scope.locator(stderr).all_inner_texts() if "Traceback" in t]
    texts += scope.get_by_text("Error displaying widget").all_inner_texts()
    return texts


def pick_slider(cell):
    """The slider to move: the first one labelled like an LR (``lr``, ``peak lr``,
    ``max_lr``; not ``min_lr``, a floor that may never bind), else the first one. The LR is
    what every explorer is about, and other sliders (e.g. ``steps`` on a converged run) may
    leave the plot as it is."""
    sliders = cell.locator(".widget-slider")
    for i in range(sliders.count()):
        label = sliders.nth(i).locator(".widget-label").first
        text = label.inner_text().strip().lower() if label.count() else ""
        if re.search(r"(^|[\s_])lr$", text) and not text.startswith("min"):
            return sliders.nth(i)
    return sliders.first


def nudge_slider(page, slider, presses=5):
    """Click the slider's handle and press ArrowRight ``presses`` times."""
    slider.locator(".noUi-handle").first.click()
    for _ in range(presses):
        page.keyboard.press("ArrowRight")
