"""Rebuild the whole review read model from the log into shadow tables.

Replays every event the service learns from (foreign and own, in commit order) through the
same ``apply_event`` the live intake and projection use, without the workflow policy (its
events are already in the log). The result is a ``Tables`` naming the shadow set, which
queries accept, so a rebuild can be compared with the live tables before anyone swaps them.
"""

from __future__ import annotations

from preflog_contracts.envelope import START
from preflog_eventstore import EventStore
from preflog_review.adapters.read_model import (
    FOREIGN_CATEGORIES,
    OWN_CATEGORIES,
    apply_event,
    decode,
)
from preflog_review.adapters.scoring import keep_agreement_sums
from preflog_review.adapters.tables import LIVE, Tables


async def rebuild_read_model(
    store: EventStore, suffix: str = "__rebuild", batch: int = 1000
) -> Tables:
    """Fresh shadow tables ``review.<name><suffix>`` filled from position zero; returns them."""
    shadow = Tables(suffix)
    async with store.pool.acquire() as conn:
        for live, fresh in zip(LIVE.all(), shadow.all(), strict=True):
            await conn.execute(f"drop table if exists {fresh}")
            await conn.execute(f"create table {fresh} (like {live} including all)")
        await keep_agreement_sums(conn, shadow)
        cursor = START
        while True:
            async with conn.transaction():
                records = await store.read_all(
                    cursor, limit=batch, categories=FOREIGN_CATEGORIES + OWN_CATEGORIES, conn=conn
                )
                for rec in records:
                    event = decode(rec)
                    if event is not None:
                        await apply_event(conn, shadow, rec, event)
            if not records:
                return shadow
            cursor = records[-1].cursor
