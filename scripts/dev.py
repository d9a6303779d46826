#!/usr/bin/env python3
"""Set up and run dvidctl from a fresh checkout with nothing but Python 3.11 and pip.

python3 scripts/dev.py demo     # create .venv, install, run the end-to-end demo
python3 scripts/dev.py test     # create .venv, install, run the whole test suite
python3 scripts/dev.py test-clients  # install the 'clients' extra (dvidtools), run tests/clients
python3 scripts/dev.py bench    # install the benchmark extras and run bench/ (bench NAME: one)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def _stamp(extras: str) -> Path:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()[
        :16
    ]
    return VENV / f".installed-{digest}"


def ensure_venv(extras: str = "test") -> None:
    """Create .venv and install dvidctl (editable) with ``extras`` unless already done."""
    if sys.version_info < (3, 11):  # noqa: UP036 - a clear message on an old Python
        sys.exit(f"error: dvidctl needs Python 3.11 or newer, this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"creating {VENV}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = _stamp(extras)
    if not stamp.exists():
        print(f"installing dvidctl[{extras}] into {VENV}", file=sys.stderr)
        subprocess.run([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run(
            [str(PY), "-m", "pip", "install", "-q", "-e", f".[{extras}]"], cwd=ROOT, check=True
        )
        stamp.touch()
    compile_sources()


def compile_sources() -> None:
    """Byte-compile dvidctl's modules, as installing a wheel does (an editable install
    does not). Where ``PYTHONDONTWRITEBYTECODE`` is set, every process would otherwise
    compile each module it imports from source: ~0.1 s of a CLI sync's timed window for
    the modules it loads on first use, and the same again in each of the test suite's
    subprocesses. Only out-of-date files are written (a check of each file's mtime); a
    read-only checkout is left as it is."""
    import compileall

    compileall.compile_dir(ROOT / "dvidctl", quiet=2, workers=1)  # a failure only costs speed


def main(argv: list[str]) -> int:
    """Dispatch ``demo``, ``test``, ``test-clients`` or ``bench``."""
    if not argv or argv[0] not in ("demo", "test", "test-clients", "bench"):
        print(__doc__, file=sys.stderr)
        return 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "demo":
        ensure_venv("test")
        return subprocess.call([str(PY), str(ROOT / "scripts" / "demo.py"), *rest])
    if cmd in ("test", "test-clients"):
        ensure_venv("test" if cmd == "test" else "test,clients")
        where = ["tests/clients"] if cmd == "test-clients" else []
        rc = subprocess.call([str(PY), "-m", "pytest", *where, *rest], cwd=ROOT)
        return 1 if rc == 5 else rc  # "no tests ran" is a failure, not a pass
    ensure_venv("test,bench")
    only = rest.pop(0) if rest and not rest[0].startswith("-") else "*"  # bench sync: one script
    for script in sorted((ROOT / "bench").glob(f"bench_{only}.py")):
        print(f"== {script.name}", flush=True)
        rc = subprocess.call([str(PY), str(script), *rest], cwd=ROOT)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
