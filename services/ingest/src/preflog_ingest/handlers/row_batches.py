"""One batch of rows: fetch what needs fetching, then commit it in one transaction.

Committing claims each row's global key in the org (``ingest.global_keys``) and appends a
``DataRowImported`` per new row and a ``DataRowImportRejected`` per error, records the errors
and adds to the import's counts, all in the caller's transaction. A key held by an earlier
row of the same import is a rejection; a key held by an earlier import is a duplicate:
reported, counted apart, never imported twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.events.base import Event
from preflog_contracts.events.catalog import DataRowImported, DataRowImportRejected
from preflog_contracts.rpc.ingest import ImportCounts
from preflog_eventstore import ANY, AppendResult, Conn, EventStore, StreamWrite
from preflog_ingest.adapters import catalog_tables as tables
from preflog_ingest.adapters.url_fetcher import FetchRefused, UrlFetcher
from preflog_ingest.domain import (
    Limits,
    NeedsFetch,
    ParsedRow,
    Rejected,
    RowError,
    RowResult,
    SeenGlobalKeys,
    parse_fetched,
)
from preflog_ingest.domain.row_errors import IngestErrorCode

BATCH_ROWS = 500
"""Rows per transaction: big enough to share WAL flushes, small enough to keep locks short."""


class PreparedBatch(msgspec.Struct, frozen=True, kw_only=True):
    """Rows ready to commit (URLs fetched), in input order."""

    rows: list[ParsedRow | Rejected]
    fetched: int = 0


class BatchOutcome(msgspec.Struct, frozen=True, kw_only=True):
    counts: ImportCounts
    """What this batch added."""
    accepted: list[tuple[int, str]]
    """(line, data row id) of each imported row."""
    errors: list[tables.ErrorRow]
    """Every reported problem, duplicates included, in input order."""


async def prepare_batch(
    results: Sequence[RowResult], fetcher: UrlFetcher, limits: Limits
) -> PreparedBatch:
    """Catch repeated keys within the batch, then fetch every ``row_data`` URL concurrently
    (the fetcher bounds the concurrency) and parse what came back."""
    seen = SeenGlobalKeys()
    checked = [seen.check(r) for r in results]
    pending = [(i, r) for i, r in enumerate(checked) if isinstance(r, NeedsFetch)]
    if not pending:
        return PreparedBatch(rows=checked)  # type: ignore[arg-type]
    fetched = await asyncio.gather(*(_fetch(r, fetcher, limits) for _, r in pending))
    rows: list[Any] = list(checked)
    for (i, _), result in zip(pending, fetched, strict=True):
        rows[i] = result
    return PreparedBatch(rows=rows, fetched=len(pending))


async def _fetch(pending: NeedsFetch, fetcher: UrlFetcher, limits: Limits) -> ParsedRow | Rejected:
    try:
        body = await fetcher.fetch(pending.url)
    except FetchRefused as refused:
        return Rejected(line=pending.line, errors=[refused.error], global_key=pending.global_key)
    result = parse_fetched(body, pending, limits)
    assert not isinstance(result, NeedsFetch)
    return result


async def commit_batch(
    conn: Conn,
    store: EventStore,
    batch: PreparedBatch,
    *,
    org_id: str,
    dataset_id: str,
    import_id: str,
    metadata: Metadata,
    idempotency_key: str | None = None,
    result: Callable[[BatchOutcome], Any] | None = None,
    on_claimed: Callable[[], Awaitable[None]] | None = None,
) -> tuple[BatchOutcome, AppendResult]:
    """Commit ``batch`` inside the caller's transaction. With ``idempotency_key`` a repeat
    returns ``duplicate=True`` and the first ``result(outcome)``; the caller must then roll
    its transaction back (this call has already claimed keys in it). ``on_claimed`` runs
    once the batch's global keys are claimed (held until the transaction ends)."""
    parsed = [r for r in batch.rows if isinstance(r, ParsedRow)]
    ids = [str(uuid.uuid4()) for _ in parsed]
    held = await tables.claim_global_keys(
        conn,
        org_id=org_id,
        dataset_id=dataset_id,
        import_id=import_id,
        keys=[r.global_key for r in parsed],
        data_row_ids=ids,
        lines=[r.line for r in parsed],
    )
    if on_claimed is not None:
        await on_claimed()
    lost = [r.global_key for r in parsed if r.global_key not in held]
    owners = await tables.key_owners(conn, org_id, lost) if lost else {}
    id_of = dict(zip((r.global_key for r in parsed), ids, strict=True))

    writes: list[StreamWrite] = []
    rejections: list[Event] = []
    errors: list[tables.ErrorRow] = []
    accepted: list[tuple[int, str]] = []
    rejected = duplicates = 0
    for row in batch.rows:
        if isinstance(row, ParsedRow) and row.global_key in held:
            data_row_id = id_of[row.global_key]
            accepted.append((row.line, data_row_id))
            writes.append(
                StreamWrite(
                    stream_name(DataRowImported.category, data_row_id),
                    [_imported(row, data_row_id, dataset_id, import_id)],
                    ANY,
                )
            )
            continue
        if isinstance(row, ParsedRow):
            owner = owners[row.global_key]
            same_import = owner.import_id == import_id
            if same_import:
                rejected += 1
                message = f"global key '{row.global_key}' is already used by row {owner.line}"
                message += " of this import"
            else:
                duplicates += 1
                message = (
                    f"global key '{row.global_key}' was already imported"
                    f" as data row {owner.data_row_id}; not imported again"
                )
            row_errors = [
                RowError(
                    code=IngestErrorCode.DUPLICATE_GLOBAL_KEY, path="global_key", message=message
                )
            ]
            key: str | None = row.global_key
        else:
            rejected += 1
            row_errors, key = row.errors, row.global_key
        for error in row_errors:
            errors.append(
                tables.ErrorRow(row.line, key, str(error.code), error.message, error.path)
            )
            rejections.append(
                DataRowImportRejected(
                    import_id=import_id,
                    line=row.line,
                    code=str(error.code),
                    message=error.message,
                    path=error.path,
                    global_key=key,
                )
            )
    if rejections:
        writes.append(
            StreamWrite(stream_name(DataRowImportRejected.category, import_id), rejections, ANY)
        )
    counts = ImportCounts(
        received=len(batch.rows),
        accepted=len(accepted),
        rejected=rejected,
        duplicates=duplicates,
        fetched=batch.fetched,
    )
    outcome = BatchOutcome(counts=counts, accepted=accepted, errors=errors)
    appended = await store.append(
        writes,
        org_id=org_id,
        metadata=metadata,
        idempotency_key=idempotency_key,
        result=result(outcome) if result is not None else None,
        conn=conn,
    )
    if appended.duplicate:
        return outcome, appended
    await tables.insert_errors(conn, import_id, errors)
    await tables.add_counts(conn, import_id, counts)
    return outcome, appended


def _imported(row: ParsedRow, data_row_id: str, dataset_id: str, import_id: str) -> Event:
    return DataRowImported(
        data_row_id=data_row_id,
        dataset_id=dataset_id,
        global_key=row.global_key,
        row=row.row,
        source_format=row.source_format,
        external_id=row.external_id,
        import_id=import_id,
        metadata=row.metadata,
        attachments=row.attachments,
        original=row.original,
    )
