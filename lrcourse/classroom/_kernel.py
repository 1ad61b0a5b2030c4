"""An IPython kernel with limits: the kernel :mod:`lrcourse.classroom.sandbox` starts.

``python -m lrcourse.classroom._kernel [--memory BYTES] [--output BYTES] -f CONNECTION_FILE``:

- ``--memory`` limits the address space (``RLIMIT_AS``, inherited by every process the notebook
  starts), so a huge allocation is a ``MemoryError`` in the cell instead of the machine swapping;
- ``--output`` caps what the kernel's stdout and stderr send, all cells together: a print flood
  is cut at the source instead of piling up as messages in the process that reads them (after
  the cap, each cell still sends one short note per stream, so a cell that wrote to stderr
  still shows it);
- core dumps are off, and the current folder is dropped from ``sys.path`` as
  ``ipykernel_launcher`` does; then ipykernel starts.
"""
import os
import resource
import sys

from ipykernel.iostream import OutStream

NOTE = "\n[lrcourse: output limit reached; further output dropped]\n"


class CappedOutStream(OutStream):
    """ipykernel's stdout/stderr, with a byte budget shared by both streams."""

    limit: int | None = None
    written = 0
    noted: set = set()

    def write(self, string):
        if CappedOutStream.limit is None or not isinstance(string, str):
            return super().write(string)
        room = CappedOutStream.limit - CappedOutStream.written
        if room <= 0:
            parent = (self.parent_header or {}).get("msg_id")  # the cell being run
            if (self.name, parent) not in CappedOutStream.noted:
                CappedOutStream.noted.add((self.name, parent))
                super().write(NOTE)
            return len(string)
        CappedOutStream.written += min(len(string), room)
        super().write(string[:room])
        return len(string)


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))  # not the supervisor's own (soft) limit
    while argv[:1] in (["--memory"], ["--output"]):
        option, value, argv = argv[0], int(argv[1]), argv[2:]
        if option == "--memory":
            resource.setrlimit(resource.RLIMIT_AS, (value, value))
        else:
            CappedOutStream.limit = value
            # this module as it runs ("__main__"): the class whose limit was just set
            argv.append(f"--IPKernelApp.outstream_class={__name__}.CappedOutStream")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # a file the notebook writes into its folder must not shadow a real module
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(argv=argv)


if __name__ == "__main__":
    main()
