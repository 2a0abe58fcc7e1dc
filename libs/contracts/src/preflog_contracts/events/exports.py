"""Export bookkeeping (owned by export)."""

from __future__ import annotations

from preflog_contracts.events.base import Event


class ExportCheckpointed(Event, frozen=True, kw_only=True):
    category = "export"
    project_id: str
    format: str
    consumer: str
    cursor: str


class ExportFeedEnabled(Event, frozen=True, kw_only=True):
    """A manager turned on the JetStream feed of a project's records in one format."""

    category = "export"
    project_id: str
    format: str
    status: str = "APPROVED"
    pair_strategy: str = "best_vs_rest"
