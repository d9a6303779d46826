"""The ``dvidctl`` console script: loads the CLI, with Ctrl-C handled from the first moment.

Loading the commands takes a few hundred milliseconds; an interrupt then would
otherwise end in a Python traceback. This module imports nothing heavy itself.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point (``dvidctl`` and ``python -m dvidctl``)."""
    try:
        from dvidctl.commands.main import run

        run()
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
