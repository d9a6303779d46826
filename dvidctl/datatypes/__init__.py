"""Datatypes. Importing this package registers every built-in type (one line each)."""

from dvidctl.datatypes import (
    keyvalue,  # noqa: F401
    labelmap,  # noqa: F401
    roi,  # noqa: F401
    uint8blk,  # noqa: F401
)
