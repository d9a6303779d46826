"""Datatypes. Importing this package registers every built-in type (one line each)."""

from dvidctl.datatypes import keyvalue  # noqa: F401
from dvidctl.datatypes import roi  # noqa: F401
from dvidctl.datatypes import uint8blk  # noqa: F401
from dvidctl.datatypes import labelmap  # noqa: F401
