"""The Python API over HTTP: ``RemoteRepository(url).node(ref).instance(name)``.

One module per datatype. Each remote class satisfies the same protocol as the
local class of its type (``KeyValueAPI``, ``VoxelsAPI``, ``LabelMapAPI``,
``ROIAPI``, ``LabelGraphAPI``: ``protocol.py`` in each datatype package), with the same errors, so
the data commands and scripts work against a local repository or any DVID server
(dvidctl's own or Go DVID). ``tests/contracts`` runs one set of checks on both.
"""

from dvidctl.api.remote.base import RemoteInstance
from dvidctl.api.remote.client import RemoteRepository
from dvidctl.api.remote.imageblk import RemoteLabelMap, RemoteVoxels
from dvidctl.api.remote.keyvalue import RemoteKeyValue
from dvidctl.api.remote.labelgraph import RemoteLabelGraph
from dvidctl.api.remote.node import RemoteNode
from dvidctl.api.remote.roi import RemoteROI

__all__ = [
    "RemoteInstance",
    "RemoteKeyValue",
    "RemoteLabelGraph",
    "RemoteLabelMap",
    "RemoteNode",
    "RemoteROI",
    "RemoteRepository",
    "RemoteVoxels",
]
