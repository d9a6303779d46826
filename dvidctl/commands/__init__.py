"""The typer CLI: thin commands over the Python API."""
