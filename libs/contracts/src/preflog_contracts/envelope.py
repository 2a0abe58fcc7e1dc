"""The event envelope: what the log stores around each event's data."""

from __future__ import annotations

from datetime import datetime

import msgspec


class Metadata(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who did it and why. ``project_id``/``task_id``/``label_id`` scope the audit trail."""

    actor_id: str
    actor_role: str
    correlation_id: str = ""
    causation_id: str | None = None
    idempotency_key: str | None = None
    user_agent: str | None = None
    project_id: str | None = None
    task_id: str | None = None
    label_id: str | None = None


class Cursor(msgspec.Struct, frozen=True, array_like=True):
    """A gap-safe position in the log: ``(tx_id, global_position)`` in commit order."""

    tx_id: int = 0
    global_position: int = 0


START = Cursor(0, 0)


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One stored event. ``data`` stays raw JSON until :func:`decode_event` needs it."""

    global_position: int
    tx_id: int
    stream_name: str
    stream_position: int
    event_type: str
    schema_version: int
    org_id: str
    event_id: str
    data: msgspec.Raw
    metadata: Metadata
    recorded_at: datetime

    @property
    def category(self) -> str:
        return self.stream_name.split("-", 1)[0]

    @property
    def stream_id(self) -> str:
        return self.stream_name.split("-", 1)[1]

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.tx_id, self.global_position)


def stream_name(category: str, aggregate_id: str) -> str:
    """``"<category>-<id>"``; categories never contain ``-``."""
    return f"{category}-{aggregate_id}"
