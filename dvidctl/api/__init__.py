"""The Python API: repositories, nodes and data instances (numpy in, numpy out)."""
