"""dvidctl: a distributed, versioned, image-oriented datastore with DVID's HTTP API."""

from dvidctl.api.node import Node
from dvidctl.api.repository import Repository
from dvidctl.errors import DvidError

__version__ = "0.1.0"
__all__ = ["DvidError", "Node", "Repository", "__version__"]
