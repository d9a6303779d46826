"""Sync between repositories: remotes, clone, fetch, pull and push (one module per operation).

``remotes`` (``.dvid/config``), ``endpoint`` (the interface both ends share, and the
local end), ``http`` (a server's ``/api/sync`` endpoints), ``diff`` (which keys
move: a pure function), ``plan`` (which nodes move), ``transfer`` (moving them),
``fetch``, ``pull``, ``push``, ``clone``, ``results``; against a server without the sync
API (DVID itself): ``dvidstate`` (the DAG from DVID's repo JSON), ``replay`` (one node's
data over DVID's endpoints) and ``fallback``. This package imports the api (and below)
and httpx, never the server.
"""
