"""Export bookkeeping (owned by export)."""

from __future__ import annotations

from preflog_contracts.events.base import Event


class ExportCheckpointed(Event, frozen=True, kw_only=True):
    """An export stream of the project reached ``cursor`` (who exported is the metadata's
    actor): when the stream ended (``done``), and every minute while a live one runs.
    ``consumer`` is the client's user agent; ``records`` how many records the stream has
    sent so far; ``since`` the cursor it resumed from; ``status`` its status filter."""

    category = "export"
    project_id: str
    format: str
    consumer: str
    cursor: str
    records: int = 0
    since: str = ""
    status: str = ""
    done: bool = True


class ExportFeedEnabled(Event, frozen=True, kw_only=True):
    """A manager turned on the JetStream feed of a project's records in one format."""

    category = "export"
    project_id: str
    format: str
    status: str = "APPROVED"
    pair_strategy: str = "best_vs_rest"
