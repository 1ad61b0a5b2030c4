"""The process that runs one notebook for :mod:`lrcourse.classroom.sandbox`.

``python -m lrcourse.classroom._supervisor`` reads a job (JSON) on stdin, runs the notebook with
nbclient (nbgrader's ``Execute`` preprocessor when grading: errors allowed, an interrupt at each
cell's timeout, the ``CellTimeoutError`` output nbgrader records) and writes one JSON line per event
to the stdout it was started with: ``start`` and ``cell`` (outputs, execution count, how many
results the cell displayed) per code cell, then ``done`` with the reason it stopped early, if any.
Its own file descriptor 1 is then pointed at stderr, and the kernel's stdout/stderr at /dev/null,
so nothing else can write to that pipe by printing.
"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
from collections import Counter

import nbformat

PR_SET_CHILD_SUBREAPER = 36
_STUB = "[lrcourse: output limit reached; further output of this cell dropped]\n"


def become_subreaper() -> bool:
    """Linux: orphans of our descendants are re-parented to us, so we can kill them at the end."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_descendants() -> None:
    import psutil

    for _ in range(50):
        children = [p for p in psutil.Process().children(recursive=True)]
        if not children:
            return
        for p in children:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(children, timeout=1)


def kernel_spec_manager(memory: int | None, output: int | None = None):
    """Kernels of this interpreter (whatever the notebook's kernelspec says), with memory and output limits."""
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager

    class CurrentEnv(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            spec = ipykernel.kernelspec.get_kernel_dict()
            spec["argv"] = [sys.executable, "-m", "lrcourse.classroom._kernel",
                            *(["--memory", str(int(memory))] if memory else []),
                            *(["--output", str(int(output))] if output else []), "-f", "{connection_file}"]
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES, **spec)

    return CurrentEnv()


def _size(msg) -> int:
    content = msg.get("content", {})
    size = len(content.get("text", "")) + sum(len(line) for line in content.get("traceback", []))
    return size + sum(len(v) if isinstance(v, str) else 64 for v in content.get("data", {}).values())


def _error(ename: str, evalue: str):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class Streaming:
    """Mixed into the notebook client: report each cell as it ends; keep at most ``output_limit`` bytes."""

    emit = None
    output_limit = 0

    def _setup_streaming(self, emit, output_limit):
        self.emit, self.output_limit, self.spent = emit, output_limit, 0
        self.results, self.kept_over = Counter(), Counter()

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        code = cell.cell_type == "code"
        if code:
            self.emit(event="start", index=cell_index)
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except CellTimeoutError:
            cell.outputs.append(_error("CellTimeoutError", "the cell ran past its timeout and ignored the "
                                                           "interrupt: its kernel was killed"))
            raise
        except DeadKernelError:
            cell.outputs.append(_error("DeadKernelError", "the kernel died while running this cell"))
            raise
        finally:
            if code:
                self.emit(event="cell", index=cell_index, outputs=cell.get("outputs", []),
                          execution_count=cell.get("execution_count"), results=self.results[cell_index])

    def output(self, outs, msg, display_id, cell_index):
        kind = msg.get("msg_type")
        if kind == "execute_result":
            self.results[cell_index] += 1
        size = _size(msg)
        if self.spent + size <= self.output_limit:
            self.spent += size
            return super().output(outs, msg, display_id, cell_index)
        # Over the limit: keep only what grading needs, small: the first result and error of the
        # cell, and one note per stream (so a cell that wrote to stderr still shows it).
        content = msg.get("content", {})
        if kind == "stream":
            name = content.get("name", "stdout")
            if not any(o.get("output_type") == "stream" and o.get("name") == name and o.get("text") == _STUB
                       for o in outs):
                outs.append(nbformat.v4.new_output("stream", name=name, text=_STUB))
        elif kind in ("execute_result", "error") and self.kept_over[(cell_index, kind)] < 1:
            self.kept_over[(cell_index, kind)] += 1
            if kind == "error":
                outs.append(_error(str(content.get("ename", "Error"))[:200], str(content.get("evalue", ""))[:2000]))
            else:
                text = content.get("data", {}).get("text/plain", "")
                outs.append(nbformat.v4.new_output("execute_result", data={"text/plain": str(text)[:2000]},
                                                   execution_count=content.get("execution_count")))
        return None


def client_for(nb, km, job, emit):
    """nbgrader's ``Execute`` (grading) or a plain ``NotebookClient`` (run), with streaming and limits."""
    from nbclient import NotebookClient

    settings = dict(timeout=job["timeout"], allow_errors=job["allow_errors"], interrupt_on_timeout=True,
                    raise_on_iopub_timeout=True, startup_timeout=120, shutdown_kernel="immediate",
                    resources={"metadata": {"path": job["cwd"]}})
    if job["grading"]:
        from nbgrader.preprocessors import Execute

        class Client(Streaming, Execute):
            pass

        client = Client(**settings)
        NotebookClient.__init__(client, nb, km)  # as nbconvert's ExecutePreprocessor.preprocess does
    else:
        class Client(Streaming, NotebookClient):
            pass

        settings["error_on_timeout"] = {"ename": "CellTimeoutError", "evalue": "",
                                        "traceback": [f"CellTimeoutError: the cell ran past its {job['timeout']} s "
                                                      f"timeout and was interrupted"]}
        client = Client(nb, km, **settings)
    client._setup_streaming(emit, job["output_limit"])
    return client


async def run(job, emit) -> str:
    """Execute the job's notebook; return why it stopped early ("" if it reached the end)."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(job["path"], as_version=4)
    km = AsyncKernelManager(kernel_name="python3",
                            kernel_spec_manager=kernel_spec_manager(job["memory"], job["output_limit"]))
    client = client_for(nb, km, job, emit)
    env = {**os.environ}
    try:
        await client.async_execute(cwd=job["cwd"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return ""
    except CellTimeoutError:
        return "a cell ignored the interrupt at its timeout: its kernel was killed"
    except DeadKernelError:
        return "the kernel died (os._exit, a crash, or the memory limit)"
    except CellExecutionError as err:  # run mode stops at the first error; the cell carries it
        return f"error: {str(err).strip().splitlines()[-1][:300] if str(err).strip() else 'CellExecutionError'}"
    except Exception as err:  # noqa: BLE001 - a kernel that never started, a broken notebook: say which
        return f"{type(err).__name__}: {str(err).strip().splitlines()[0][:300] if str(err).strip() else ''}"
    finally:
        try:
            if client.kc is not None:
                client.kc.stop_channels()
            if km.has_kernel:
                await km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 - the kernel may already be gone; the sweep below and the parent's finish the job
            pass
        kill_descendants()


def main() -> int:
    job = json.loads(sys.stdin.read())
    # A kernel that floods messages past its capped streams (by hand, on purpose) ends this process,
    # not the machine: outputs kept are bounded by output_limit, so this leaves ample room.
    # (The soft limit only: the kernel resets its own.)
    limit = 2 * 2**30 + 4 * job["output_limit"]
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    events = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # a stray print in this process goes to stderr, never into the event pipe
    become_subreaper()

    def emit(**event):
        events.write(json.dumps(event) + "\n")
        events.flush()

    stopped = asyncio.run(run(job, emit))
    emit(event="done", stopped=stopped, maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return 0


if __name__ == "__main__":
    sys.exit(main())
