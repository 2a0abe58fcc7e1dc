"""Ingest commands: load, decide with the domain, append (one transaction per command)."""
