"""``audit``: one event of the project's log per record, the envelope around its data.

The service writes these straight from the log (``data`` stays the stored JSON, never
decoded); :func:`audit_record` is that mapping for code that already holds a
:class:`RecordedEvent`.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from preflog_contracts.envelope import Metadata, RecordedEvent


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    global_position: int
    stream_name: str
    stream_position: int
    event_type: str
    schema_version: int
    org_id: str
    event_id: str
    data: msgspec.Raw
    metadata: Metadata
    recorded_at: datetime


def audit_record(event: RecordedEvent) -> AuditRecord:
    """The event as exported; ``tx_id`` is an internal ordering detail and is left out."""
    return AuditRecord(
        global_position=event.global_position,
        stream_name=event.stream_name,
        stream_position=event.stream_position,
        event_type=event.event_type,
        schema_version=event.schema_version,
        org_id=event.org_id,
        event_id=event.event_id,
        data=event.data,
        metadata=event.metadata,
        recorded_at=event.recorded_at,
    )
