"""Reading the export read model and the project's log in pages (keyset, short queries).

No transaction is held between pages: a stream may wait on a slow client for minutes, and
a page is one short query, so memory and database load stay flat in the project's size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg

from preflog_export.domain.filters import ExportFilter


async def project_high_water(pool: asyncpg.Pool, project_id: str) -> int:
    """The project's last assigned export_seq; every item at or below it is committed."""
    value = await pool.fetchval(
        "select last_seq from export.projects where project_id = $1", project_id
    )
    return int(value or 0)


async def item_pages(
    pool: asyncpg.Pool,
    project_id: str,
    flt: ExportFilter,
    *,
    after_seq: int,
    upto_seq: int,
    first_page: int = 200,
    page: int = 2000,
) -> AsyncIterator[list[asyncpg.Record]]:
    """Pages of ``(export_seq, item)`` with ``after_seq < export_seq <= upto_seq`` whose
    items have a label of the filter's statuses (and in its batch), in seq order. The first
    page is small so the first byte leaves quickly."""
    limit = first_page
    while after_seq < upto_seq:
        rows = await item_page(
            pool, project_id, flt, after_seq=after_seq, upto_seq=upto_seq, limit=limit
        )
        if not rows:
            return
        yield rows
        if len(rows) < limit:
            return
        after_seq = rows[-1][0]
        limit = page


async def item_page(
    pool: asyncpg.Pool,
    project_id: str,
    flt: ExportFilter,
    *,
    after_seq: int,
    upto_seq: int,
    limit: int,
) -> list[asyncpg.Record]:
    """One page of :func:`item_pages`."""
    rows: list[asyncpg.Record] = await pool.fetch(
        "select export_seq, item from export.items"
        " where project_id = $1 and export_seq > $2 and export_seq <= $3"
        " and label_statuses && $4::text[] and ($5::text is null or batch_id = $5)"
        " order by export_seq limit $6",
        project_id,
        after_seq,
        upto_seq,
        flt.label_statuses,
        flt.batch_id,
        limit,
    )
    return rows
