"""Handlers: load state, check roles, decide (domain), append in one transaction."""
