"""The project stands alone: no code, test, bench or script reads files outside the checkout.

The design sketch and DVID's sample files live beside the checkout in the team's workspace
(``../shared``); a clone has only what it holds (``tests/data/dvid`` is the project's copy).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: A path into a ``shared`` folder beside the checkout, written as a path or joined with ``/``.
OUTSIDE = re.compile(r"""(\.\./shared|["']shared["']\s*/\s*["']testdata|/shared/testdata)""")


def test_no_file_reads_the_shared_folder_beside_the_checkout() -> None:
    offenders = []
    for folder in ("dvidctl", "tests", "bench", "scripts", ".ci"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in {".py", ".sh", ""} or not path.is_file():
                continue
            if path == Path(__file__).resolve():
                continue
            text = path.read_text(errors="replace")
            offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
    for name in ("Makefile", "README.md", "pyproject.toml"):
        text = (ROOT / name).read_text()
        offenders += [f"{name}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
    assert not offenders, "\n".join(offenders)
