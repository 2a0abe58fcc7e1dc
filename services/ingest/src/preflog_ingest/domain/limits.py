"""Size limits and URL allow list applied while parsing rows (configurable per import)."""

from __future__ import annotations

import msgspec


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """What one row may contain. ``url_allow_hosts`` lets an operator permit hosts that the
    URL policy would otherwise refuse (e.g. an internal bucket); names are matched exactly,
    case-insensitively."""

    max_messages: int = 250
    max_message_chars: int = 10_000
    url_allow_hosts: frozenset[str] = frozenset()


DEFAULT_LIMITS = Limits()
