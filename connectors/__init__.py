"""Connectors: each source as a declaration over a client and pure parsers (see registry.py)."""
