"""``dvidctl serve``: DVID's HTTP API over the repositories a server holds.

The server knows no concrete datatype: it dispatches ``/api/node/{uuid}/{data}/...``
to the routes a type declares in its registry entry.
"""
