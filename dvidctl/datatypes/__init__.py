"""Datatypes: keyvalue, uint8blk, labelmap, roi, each a package that registers itself.

:mod:`dvidctl.datatypes.registry` imports a type's package the first time the
type is named; nothing is loaded by importing this package.
"""
