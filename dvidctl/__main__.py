"""``python -m dvidctl``."""

from dvidctl.commands.entry import main

main()
