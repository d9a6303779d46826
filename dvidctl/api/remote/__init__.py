"""The Python API over HTTP: ``RemoteRepository(url).node(ref).instance(name)``.

One module per datatype, each with the methods of the local instance class
(``protocols`` of :mod:`dvidctl.datatypes` say which), so the data commands work
against a local repository or any DVID server (dvidctl's own or Go DVID).
"""

from dvidctl.api.remote.base import RemoteInstance
from dvidctl.api.remote.client import RemoteRepository
from dvidctl.api.remote.imageblk import RemoteLabelMap, RemoteVoxels
from dvidctl.api.remote.keyvalue import RemoteKeyValue
from dvidctl.api.remote.node import RemoteNode
from dvidctl.api.remote.roi import RemoteROI

__all__ = [
    "RemoteInstance",
    "RemoteKeyValue",
    "RemoteLabelMap",
    "RemoteNode",
    "RemoteROI",
    "RemoteRepository",
    "RemoteVoxels",
]
