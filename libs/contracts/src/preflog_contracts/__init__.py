"""Preflog's shared contracts: events, envelopes, identities, errors and service calls.

Pure data (msgspec) with no I/O. Services import these; nobody redefines them.
"""

from __future__ import annotations
