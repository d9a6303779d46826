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
    # httpx imports its own command-line tool when click and pygments are installed
    # (uvicorn and rich bring them): ~25 ms of every sync command's start-up, for a
    # tool dvidctl never runs. A None entry makes that import fail, and httpx then
    # defines its stand-in (it catches the ImportError).
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    _keep_freed_memory()
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


#: glibc ``mallopt`` parameters (malloc.h) and the values :func:`_keep_freed_memory` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
MMAP_THRESHOLD = 32 << 20  # glibc's largest on 64-bit
TRIM_THRESHOLD = 64 << 20
#: Each arena (glibc makes up to 8 per core for threads) keeps its own free memory:
#: at most this many arenas, so what all of them keep stays bounded (4 x 64 MiB).
ARENA_MAX = 4


def _keep_freed_memory() -> None:
    """Let glibc's malloc reuse freed memory instead of handing it back to the kernel.

    By default an allocation of 128 KiB or more (a value read from the store, a
    response body, a joined chunk) is its own ``mmap``, unmapped again when freed, so
    the next one starts on fresh pages: a page fault and a zeroed page per 4 KiB. On
    a virtual machine that reports free memory to its host (free page reporting, as
    on this project's CI machines), each of those pages is also faulted in from the
    host again: writing 16 MiB to fresh pages took ~40 ms there, ~3 ms to reused ones.
    Up to :data:`MMAP_THRESHOLD` bytes now come from malloc's heaps, which keep up to
    :data:`TRIM_THRESHOLD` bytes free before giving any back, in at most
    :data:`ARENA_MAX` arenas. Elsewhere (no glibc) a no-op.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        libc.mallopt(_M_ARENA_MAX, ARENA_MAX)
    except (OSError, AttributeError):
        pass


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
