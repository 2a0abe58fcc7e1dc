"""The projection of review's own events (categories ``workflow`` and ``issue``) from the log.

It writes the live tables only: its ``tables`` are empty on purpose, because a consistent
rebuild must replay foreign facts too (``rebuild.rebuild_read_model``), not just these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from preflog_contracts.envelope import RecordedEvent
from preflog_eventstore.conn import Conn
from preflog_review.adapters.read_model import OWN_CATEGORIES, apply_event, decode
from preflog_review.adapters.tables import LIVE


class OwnEventsProjection:
    name = "review_own_events"
    categories: Sequence[str] | None = OWN_CATEGORIES
    tables: Sequence[str] = ()

    async def apply(
        self,
        conn: Conn,
        events: Sequence[RecordedEvent],
        tables_map: Mapping[str, str],
    ) -> None:
        for rec in events:
            event = decode(rec)
            if event is not None:
                await apply_event(conn, LIVE, rec, event)
