"""``python -m dvidctl``."""

from dvidctl.commands.main import run

run()
