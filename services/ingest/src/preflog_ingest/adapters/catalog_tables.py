"""SQL on the ingest schema's catalog tables: datasets, global keys, imports, import errors.

Every function takes the connection of the caller's transaction. Org scoping is in the SQL:
a row of another org is simply not found.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg
import msgspec

from preflog_contracts.rpc.ingest import DatasetView, ImportCounts, ImportRowError, ImportView
from preflog_eventstore import Conn

ABANDONED_AFTER = "15 minutes"
"""A RUNNING import with no progress for this long is reported FAILED (its instance died)."""


class KeyOwner(msgspec.Struct, frozen=True):
    global_key: str
    data_row_id: str
    import_id: str
    line: int


class ErrorRow(msgspec.Struct, frozen=True):
    line: int
    global_key: str | None
    code: str
    message: str
    path: str


_NIL = "00000000-0000-0000-0000-000000000000"


def valid_uuids(ids: Sequence[str]) -> list[str]:
    """The ids that are UUIDs (others cannot name anything here: they are simply not found)."""
    out = []
    for value in ids:
        try:
            out.append(str(uuid.UUID(value)))
        except (ValueError, TypeError, AttributeError):
            continue
    return out


# --- datasets -----------------------------------------------------------------------------

_DATASET_COLUMNS = "d.dataset_id::text as id, d.name, d.description, d.created_at, d.data_row_count"


def _dataset(row: asyncpg.Record) -> DatasetView:
    return DatasetView(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        data_row_count=row["data_row_count"],
        created_at=row["created_at"],
    )


async def insert_dataset(
    conn: Conn, *, dataset_id: str, org_id: str, name: str, description: str, created_by: str
) -> bool:
    """False when the org already has a dataset of that name."""
    inserted = await conn.fetchval(
        "insert into ingest.datasets (dataset_id, org_id, name, description, created_by)"
        " values ($1, $2, $3, $4, $5) on conflict (org_id, name) do nothing returning 1",
        dataset_id,
        org_id,
        name,
        description,
        created_by,
    )
    return inserted is not None


async def datasets(
    conn: Conn, org_id: str, *, ids: Sequence[str] | None = None, name: str | None = None
) -> list[DatasetView]:
    rows = await conn.fetch(
        f"select {_DATASET_COLUMNS} from ingest.datasets d where d.org_id = $1"
        " and ($2::uuid[] is null or d.dataset_id = any($2::uuid[]))"
        " and ($3::text is null or d.name = $3) order by d.created_at, d.name",
        org_id,
        valid_uuids(ids) if ids is not None else None,
        name,
    )
    return [_dataset(r) for r in rows]


async def dataset_exists(conn: Conn, org_id: str, dataset_id: str) -> bool:
    found = await conn.fetchval(
        "select 1 from ingest.datasets where org_id = $1 and dataset_id = $2::uuid",
        org_id,
        (valid_uuids([dataset_id]) or [_NIL])[0],
    )
    return found is not None


# --- global keys ----------------------------------------------------------------------------


async def claim_global_keys(
    conn: Conn,
    *,
    org_id: str,
    dataset_id: str,
    import_id: str,
    keys: Sequence[str],
    data_row_ids: Sequence[str],
    lines: Sequence[int],
) -> set[str]:
    """Insert the keys not yet held in the org; returns those this call now holds. A key
    that a concurrent, uncommitted import is claiming waits for it (the unique index)."""
    rows = await conn.fetch(
        "insert into ingest.global_keys"
        " (org_id, global_key, data_row_id, dataset_id, import_id, line)"
        " select $1::uuid, k, d, $2::uuid, $3::uuid, l"
        " from unnest($4::text[], $5::uuid[], $6::int[]) as u(k, d, l)"
        " on conflict (org_id, global_key) do nothing returning global_key",
        org_id,
        dataset_id,
        import_id,
        list(keys),
        list(data_row_ids),
        list(lines),
    )
    return {r[0] for r in rows}


async def key_owners(conn: Conn, org_id: str, keys: Sequence[str]) -> dict[str, KeyOwner]:
    rows = await conn.fetch(
        "select global_key, data_row_id::text, import_id::text, line from ingest.global_keys"
        " where org_id = $1 and global_key = any($2::text[])",
        org_id,
        list(keys),
    )
    return {r[0]: KeyOwner(r[0], r[1], r[2], r[3]) for r in rows}


async def find_data_rows(
    conn: Conn, org_id: str, *, ids: Sequence[str] = (), global_keys: Sequence[str] = ()
) -> list[str]:
    """The ids of the org's data rows named by id or by global key (unknown ones left out)."""
    rows = await conn.fetch(
        "select data_row_id::text from ingest.global_keys where org_id = $1"
        " and (data_row_id = any($2::uuid[]) or global_key = any($3::text[]))",
        org_id,
        valid_uuids(ids),
        list(global_keys),
    )
    return [r[0] for r in rows]


async def global_key_ids(conn: Conn, org_id: str, keys: Sequence[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "select global_key, data_row_id::text from ingest.global_keys"
        " where org_id = $1 and global_key = any($2::text[])",
        org_id,
        list(keys),
    )
    return {r[0]: r[1] for r in rows}


# --- imports --------------------------------------------------------------------------------


async def insert_import(
    conn: Conn,
    *,
    import_id: str,
    org_id: str,
    dataset_id: str,
    actor_id: str,
    owner: str,
    content_type: str,
) -> None:
    await conn.execute(
        "insert into ingest.imports"
        " (import_id, org_id, dataset_id, actor_id, owner, content_type, status)"
        " values ($1, $2, $3, $4, $5, $6, 'RUNNING')",
        import_id,
        org_id,
        dataset_id,
        actor_id,
        owner,
        content_type,
    )


async def add_counts(conn: Conn, import_id: str, counts: ImportCounts) -> ImportCounts:
    row = await conn.fetchrow(
        "update ingest.imports set received = received + $2, accepted = accepted + $3,"
        " rejected = rejected + $4, duplicates = duplicates + $5, fetched = fetched + $6,"
        " updated_at = now() where import_id = $1"
        " returning received, accepted, rejected, duplicates, fetched",
        import_id,
        counts.received,
        counts.accepted,
        counts.rejected,
        counts.duplicates,
        counts.fetched,
    )
    assert row is not None
    return ImportCounts(**dict(row))


async def insert_errors(conn: Conn, import_id: str, errors: Sequence[ErrorRow]) -> None:
    if not errors:
        return
    await conn.execute(
        "insert into ingest.import_errors (import_id, line, global_key, code, message, path)"
        " select $1::uuid, l, k, c, m, p"
        " from unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[])"
        " as u(l, k, c, m, p)",
        import_id,
        [e.line for e in errors],
        [e.global_key for e in errors],
        [e.code for e in errors],
        [e.message for e in errors],
        [e.path for e in errors],
    )


async def finish_import(
    conn: Conn, import_id: str, status: str, failure: str | None = None
) -> ImportCounts | None:
    """Mark a RUNNING import finished; None when it was not RUNNING any more."""
    row = await conn.fetchrow(
        "update ingest.imports set status = $2, failure = $3, finished_at = now(),"
        " updated_at = now() where import_id = $1 and status = 'RUNNING'"
        " returning received, accepted, rejected, duplicates, fetched",
        import_id,
        status,
        failure,
    )
    return None if row is None else ImportCounts(**dict(row))


class ImportRecord(msgspec.Struct, frozen=True, kw_only=True):
    import_id: str
    org_id: str
    dataset_id: str
    actor_id: str
    owner: str
    content_type: str
    status: str
    counts: ImportCounts
    failure: str | None
    started_at: datetime
    finished_at: datetime | None
    seconds: float


async def load_import(conn: Conn, org_id: str, import_id: str) -> ImportRecord | None:
    row = await conn.fetchrow(
        "select import_id::text, org_id::text, dataset_id::text, actor_id, owner, content_type,"
        " case when status = 'RUNNING' and updated_at < now() - $3::text::interval"
        "      then 'FAILED' else status end as status,"
        " case when status = 'RUNNING' and updated_at < now() - $3::text::interval"
        "      then 'abandoned: no progress for " + ABANDONED_AFTER + "' else failure end"
        "      as failure,"
        " received, accepted, rejected, duplicates, fetched, started_at, finished_at,"
        " extract(epoch from coalesce(finished_at, now()) - started_at)::float8 as seconds"
        " from ingest.imports where org_id = $1 and import_id = $2::uuid",
        org_id,
        (valid_uuids([import_id]) or [_NIL])[0],
        ABANDONED_AFTER,
    )
    if row is None:
        return None
    counts = ImportCounts(
        received=row["received"],
        accepted=row["accepted"],
        rejected=row["rejected"],
        duplicates=row["duplicates"],
        fetched=row["fetched"],
    )
    return ImportRecord(
        import_id=row["import_id"],
        org_id=row["org_id"],
        dataset_id=row["dataset_id"],
        actor_id=row["actor_id"],
        owner=row["owner"],
        content_type=row["content_type"],
        status=row["status"],
        counts=counts,
        failure=row["failure"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        seconds=row["seconds"],
    )


async def import_view(
    conn: Conn, record: ImportRecord, *, errors_after: int, errors_limit: int
) -> ImportView:
    rows = await conn.fetch(
        "select error_id, line, global_key, code, message, path from ingest.import_errors"
        " where import_id = $1::uuid and error_id > $2 order by error_id limit $3",
        record.import_id,
        errors_after,
        errors_limit,
    )
    errors = [
        ImportRowError(
            line=r["line"],
            code=r["code"],
            message=r["message"],
            path=r["path"],
            global_key=r["global_key"],
        )
        for r in rows
    ]
    seconds = max(record.seconds, 0.0)
    return ImportView(
        import_id=record.import_id,
        dataset_id=record.dataset_id,
        status=record.status,
        content_type=record.content_type,
        counts=record.counts,
        errors=errors,
        next_errors_after=rows[-1]["error_id"] if rows else None,
        started_at=record.started_at,
        finished_at=record.finished_at,
        seconds=seconds,
        rows_per_second=record.counts.received / seconds if seconds > 0 else 0.0,
        failure=record.failure,
    )
