"""An IPython kernel with resource limits: the kernel :mod:`lrcourse.classroom.sandbox` starts.

``python -m lrcourse.classroom._kernel [--memory BYTES] -f CONNECTION_FILE``: limits the address
space (``RLIMIT_AS``, inherited by every process the notebook starts, so a huge allocation is a
``MemoryError`` in the cell instead of the machine swapping), turns off core dumps, drops the
current folder from ``sys.path`` as ``ipykernel_launcher`` does, then starts ipykernel.
"""
import os
import resource
import sys


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--memory"]:
        limit = int(argv[1])
        argv = argv[2:]
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # a file the notebook writes into its folder must not shadow a real module
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(argv=argv)


if __name__ == "__main__":
    main()
