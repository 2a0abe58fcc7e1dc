"""Datasets and data rows: create a dataset, read the catalog."""

from __future__ import annotations

import uuid
from datetime import datetime

from preflog_contracts.envelope import stream_name
from preflog_contracts.errors import Conflict, Invalid, NotFound
from preflog_contracts.events import decode_event_data
from preflog_contracts.events.catalog import DataRowImported, DatasetCreated
from preflog_contracts.rpc.ingest import (
    CreateDatasetRequest,
    DataRowPage,
    DataRowRef,
    DataRowView,
    DatasetRef,
    DatasetView,
    FindDataRowsRequest,
    FoundDataRows,
    IdsRequest,
    ListDataRowsRequest,
    ListDatasetsRequest,
)
from preflog_eventstore import NO_STREAM, EventStore, StreamWrite
from preflog_ingest.adapters import catalog_tables as tables
from preflog_ingest.domain.access import require_admin
from preflog_ingest.handlers.deps import IngestDeps
from preflog_messaging.rpc import CallContext

MAX_IDS = 500
MAX_FIND = 50_000  # labeling's largest batch


class Datasets:
    def __init__(self, deps: IngestDeps) -> None:
        self.deps = deps

    async def create_dataset(self, ctx: CallContext, req: CreateDatasetRequest) -> DatasetView:
        """Org ADMIN only. Names are unique within the org (CONFLICT otherwise); a repeated
        idempotency key returns the first dataset."""
        identity = ctx.require_identity()
        role = require_admin(identity, "create datasets")
        name = req.name.strip()
        if not name:
            raise Invalid("a dataset needs a name", {"name": "must not be blank"})
        dataset_id = str(uuid.uuid4())
        async with self.deps.pool.acquire() as conn, conn.transaction():
            appended = await self.deps.store.append(
                StreamWrite(
                    stream_name(DatasetCreated.category, dataset_id),
                    [DatasetCreated(dataset_id=dataset_id, name=name, description=req.description)],
                    NO_STREAM,
                ),
                org_id=identity.org_id,
                metadata=ctx.metadata(role),
                idempotency_key=ctx.idempotency_key,
                result={"dataset_id": dataset_id},
                conn=conn,
            )
            if appended.duplicate:
                dataset_id = appended.result["dataset_id"]
            elif not await tables.insert_dataset(
                conn,
                dataset_id=dataset_id,
                org_id=identity.org_id,
                name=name,
                description=req.description,
                created_by=identity.user_id,
            ):
                raise Conflict(f"a dataset named '{name}' already exists", {"name": "taken"})
            [view] = await tables.datasets(conn, identity.org_id, ids=[dataset_id])
        return view

    async def get_dataset(self, ctx: CallContext, req: DatasetRef) -> DatasetView:
        identity = ctx.require_identity()
        async with self.deps.pool.acquire() as conn:
            found = await tables.datasets(conn, identity.org_id, ids=[req.dataset_id])
        if not found:
            raise NotFound("dataset not found")
        return found[0]

    async def get_datasets(self, ctx: CallContext, req: IdsRequest) -> list[DatasetView]:
        identity = ctx.require_identity()
        _check_ids(req.ids)
        async with self.deps.pool.acquire() as conn:
            return await tables.datasets(conn, identity.org_id, ids=req.ids)

    async def list_datasets(self, ctx: CallContext, req: ListDatasetsRequest) -> list[DatasetView]:
        identity = ctx.require_identity()
        async with self.deps.pool.acquire() as conn:
            await self.deps.require_catalog_reader(conn, identity)
            return await tables.datasets(conn, identity.org_id, name=req.name)

    async def data_row(self, ctx: CallContext, req: DataRowRef) -> DataRowView | None:
        """By id or by global key (exactly one); None when the org has no such row, or the
        caller may not read it (``domain.access``)."""
        identity = ctx.require_identity()
        if (req.id is None) == (req.global_key is None):
            raise Invalid("give either id or global_key", {"id": "or global_key, not both"})
        async with self.deps.pool.acquire() as conn:
            ids = await tables.find_data_rows(
                conn,
                identity.org_id,
                ids=[req.id] if req.id else [],
                global_keys=[req.global_key] if req.global_key else [],
            )
            ids = await self.deps.visible_rows(conn, identity, ids)
        views = await self._views(identity.org_id, ids, with_original=req.with_original)
        return views[0] if views else None

    async def get_data_rows(self, ctx: CallContext, req: IdsRequest) -> list[DataRowView]:
        identity = ctx.require_identity()
        _check_ids(req.ids)
        async with self.deps.pool.acquire() as conn:
            ids = await tables.find_data_rows(conn, identity.org_id, ids=req.ids)
            ids = await self.deps.visible_rows(conn, identity, ids)
        return await self._views(identity.org_id, ids, with_original=False)

    async def list_data_rows(self, ctx: CallContext, req: ListDataRowsRequest) -> DataRowPage:
        """A dataset's rows in import order; ``after`` is a previous page's ``next_cursor``."""
        identity = ctx.require_identity()
        if not 1 <= req.first <= MAX_IDS:
            raise Invalid(f"first must be 1 to {MAX_IDS}", {"first": f"1 to {MAX_IDS}"})
        after = _row_cursor(req.after)
        async with self.deps.pool.acquire() as conn:
            if not await tables.datasets(conn, identity.org_id, ids=[req.dataset_id]):
                raise NotFound("dataset not found")
            await self.deps.require_catalog_reader(conn, identity)
            rows = await conn.fetch(
                "select data_row_id::text, created_at, line from ingest.global_keys"
                " where dataset_id = $1::uuid and org_id = $2::uuid"
                " and ($3::timestamptz is null"
                " or (created_at, line, data_row_id) > ($3, $4, $5::uuid))"
                " order by created_at, line, data_row_id limit $6",
                req.dataset_id,
                identity.org_id,
                after[0] if after else None,
                after[1] if after else None,
                after[2] if after else None,
                req.first + 1,
            )
        page = rows[: req.first]
        views = {
            v.id: v
            for v in await self._views(identity.org_id, [r[0] for r in page], with_original=False)
        }
        has_next = len(rows) > req.first
        last = page[-1] if page else None
        return DataRowPage(
            items=[views[r[0]] for r in page if r[0] in views],
            next_cursor=f"{last[1].isoformat()}|{last[2]}|{last[0]}" if has_next and last else None,
            has_next_page=has_next,
        )

    async def find_data_rows(self, ctx: CallContext, req: FindDataRowsRequest) -> FoundDataRows:
        """The ids of the named rows the org has. Written with the import's events, so other
        services can tell which rows they have yet to learn of (read-your-writes)."""
        identity = ctx.require_identity()
        if len(req.ids) + len(req.global_keys) > MAX_FIND:
            raise Invalid(
                f"at most {MAX_FIND} ids and keys per call", {"ids": f"more than {MAX_FIND}"}
            )
        async with self.deps.pool.acquire() as conn:
            ids = await tables.find_data_rows(
                conn, identity.org_id, ids=req.ids, global_keys=req.global_keys
            )
        return FoundDataRows(data_row_ids=ids)

    async def _views(
        self, org_id: str, ids: list[str], *, with_original: bool
    ) -> list[DataRowView]:
        return await load_data_rows(self.deps.store, org_id, ids, with_original=with_original)


async def load_data_rows(
    store: EventStore, org_id: str, ids: list[str], *, with_original: bool = False
) -> list[DataRowView]:
    """The org's data rows among ``ids`` (others left out, in the order of ``ids``), read
    from their own streams in one statement: a data row is its DataRowImported event."""
    records = await store.read_streams(
        [stream_name(DataRowImported.category, i) for i in dict.fromkeys(ids)], org_id=org_id
    )
    views: dict[str, DataRowView] = {}
    for rec in records:
        if rec.event_type != DataRowImported.__name__:
            continue
        event = decode_event_data(rec.event_type, rec.schema_version, rec.data)
        assert isinstance(event, DataRowImported)
        views.setdefault(
            event.data_row_id,
            DataRowView(
                id=event.data_row_id,
                dataset_id=event.dataset_id,
                global_key=event.global_key,
                row=event.row,
                source_format=event.source_format,
                created_at=rec.recorded_at,
                external_id=event.external_id,
                metadata=event.metadata,
                attachments=event.attachments,
                import_id=event.import_id,
                original=event.original if with_original else None,
            ),
        )
    return [views[i] for i in ids if i in views]


def _row_cursor(value: str | None) -> tuple[datetime, int, str] | None:
    if value is None:
        return None
    try:
        at, line, row_id = value.split("|")
        return datetime.fromisoformat(at), int(line), str(uuid.UUID(row_id))
    except ValueError:
        raise Invalid("not a cursor of this list", {"after": "use a page's nextCursor"}) from None


def _check_ids(ids: list[str]) -> None:
    if len(ids) > MAX_IDS:
        raise Invalid(f"at most {MAX_IDS} ids per call", {"ids": f"more than {MAX_IDS}"})
