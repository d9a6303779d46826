"""The ``dvidctl`` console script: loads the CLI, with Ctrl-C handled from the first moment.

Loading the commands takes a few hundred milliseconds; an interrupt then would
otherwise end in a Python traceback. Once the command is over (its output written,
its repository closed), an interrupt during the interpreter's shutdown ends the
process at once with 130 instead of an "Exception ignored" message or a bare
signal exit. This module imports nothing heavy itself.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    """Console-script entry point (``dvidctl`` and ``python -m dvidctl``)."""
    # numpy's OpenBLAS starts a thread per core when numpy is imported, and each spins
    # ~0.1 s waiting for work that dvidctl never gives it (no BLAS calls): that was a
    # core of a 2-core machine during every command's start-up (~50 ms of CPU each).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        from dvidctl.commands.main import run

        run()
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        _exit_interrupted()
    except SystemExit as exc:
        if exc.code == 130:  # the command was interrupted and has cleaned up
            _exit_interrupted()
        raise
    finally:
        _flush()
        signal.signal(signal.SIGINT, lambda signum, frame: os._exit(130))


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _exit_interrupted() -> None:
    """Exit 130 now. A plain ``sys.exit`` is not enough: CPython remembers an interrupt
    that landed in code run by ``exec`` (dataclasses, typer) even once it was caught, and
    then ends the process by the signal (-2) instead of the exit code."""
    _flush()
    os._exit(130)
