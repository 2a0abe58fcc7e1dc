"""Command handlers: load state, decide with the pure domain, append (retrying on conflicts)."""
