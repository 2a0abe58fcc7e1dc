"""Export bookkeeping (owned by export)."""

from __future__ import annotations

from preflog_contracts.events.base import Event


class ExportCheckpointed(Event, frozen=True, kw_only=True):
    category = "export"
    project_id: str
    format: str
    consumer: str
    cursor: str
