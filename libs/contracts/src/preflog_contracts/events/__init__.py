"""Every event type, grouped by aggregate. Importing this module fills the registry."""

from __future__ import annotations

from preflog_contracts.events import accounts, catalog, exports, labels, projects, review
from preflog_contracts.events.base import (
    Event,
    decode_event_data,
    encode_event,
    event_types,
    upcaster,
)

__all__ = [
    "Event",
    "accounts",
    "catalog",
    "decode_event_data",
    "encode_event",
    "event_types",
    "exports",
    "labels",
    "projects",
    "review",
    "upcaster",
]
