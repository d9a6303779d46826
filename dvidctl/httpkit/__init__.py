"""A small HTTP toolkit that names no datatype: routes as data, the call a handler gets,
URL convertors, parameter parsing, JSON and streamed bodies.

It sits below ``datatypes/`` (whose packages declare their handlers with it) and
``server/`` (which dispatches to them); it imports nothing of dvidctl but
:mod:`dvidctl.errors` and :mod:`dvidctl.geometry`.
"""
