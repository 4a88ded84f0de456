"""Command line: thin argument parsing over the Python API."""
