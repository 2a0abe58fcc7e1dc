"""Naming data rows for a batch: by ids, global keys or a whole dataset.

Labeling knows rows from ingest's events, a few hundred milliseconds after the import
committed. A manager who imports and then adds the rows at once must not get a batch with
only the rows learned so far, nor "unknown row" for rows that exist. So the owner is asked
which of the named rows exist (ingest writes its tables in the import's transaction), and
the command waits for those to arrive here; only rows ingest does not have either are
unknown. When ingest cannot be asked, what labeling knows is used.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from preflog_contracts.errors import Invalid, NotFound, Unavailable
from preflog_contracts.rpc.ingest import DatasetRef, DatasetView, FindDataRowsRequest, FoundDataRows
from preflog_contracts.rpc.labeling import AddDataRowsRequest
from preflog_labeling.handlers.state import Deps
from preflog_messaging import CallContext

log = structlog.get_logger(__name__)

ARRIVAL_WAIT_SECONDS = 20.0
_POLL_SECONDS = 0.05
_INGEST_TIMEOUT = 5.0


async def resolve_rows(deps: Deps, ctx: CallContext, org_id: str, req: AddDataRowsRequest) -> list[str]:
    """The data row ids the request names, in order, once labeling knows every one ingest has."""
    if req.dataset_id is not None:
        return await _dataset_rows(deps, ctx, org_id, req.dataset_id)
    by_id = req.data_row_ids is not None
    wanted = req.data_row_ids if req.data_row_ids is not None else req.global_keys
    assert wanted is not None
    found = await _known(deps, org_id, wanted, by_id)
    missing = [w for w in wanted if w not in found]
    if missing:
        owned = await _ask_ingest_rows(deps, ctx, missing, by_id)
        if owned:
            await _wait_for(deps, org_id, owned)
            found = await _known(deps, org_id, wanted, by_id)
    path = "data_row_ids" if by_id else "global_keys"
    unknown = {f"{path}[{i}]": f"unknown data row '{w}'" for i, w in enumerate(wanted) if w not in found}
    if unknown:
        raise Invalid("some data rows are unknown", unknown)
    return list(dict.fromkeys(found[w] for w in wanted))


async def _known(deps: Deps, org_id: str, wanted: list[str], by_id: bool) -> dict[str, str]:
    column = "data_row_id" if by_id else "global_key"
    rows = await deps.pool.fetch(
        f"select {column}, data_row_id from labeling.data_rows where {column} = any($1::text[]) and org_id = $2",
        wanted,
        org_id,
    )
    return {r[0]: r[1] for r in rows}


async def _dataset_rows(deps: Deps, ctx: CallContext, org_id: str, dataset_id: str) -> list[str]:
    expected = await _ask_ingest_dataset(deps, ctx, dataset_id)
    deadline = time.monotonic() + ARRIVAL_WAIT_SECONDS
    while True:
        rows = await deps.pool.fetch(
            "select data_row_id from labeling.data_rows where dataset_id = $1 and org_id = $2"
            " order by created_at, data_row_id",
            dataset_id,
            org_id,
        )
        if expected is None or len(rows) >= expected:
            break
        if time.monotonic() > deadline:
            raise Unavailable(
                f"{expected - len(rows)} of the dataset's {expected} rows are still on their way from ingest;"
                " retry shortly"
            )
        await asyncio.sleep(_POLL_SECONDS)
    if expected is None and not rows:
        known = await deps.pool.fetchval(
            "select 1 from labeling.datasets where dataset_id = $1 and org_id = $2", dataset_id, org_id
        )
        if known is None:
            raise NotFound("dataset not found")
    return [r[0] for r in rows]


async def _ask_ingest_dataset(deps: Deps, ctx: CallContext, dataset_id: str) -> int | None:
    """How many rows ingest holds in the dataset; None when ingest cannot be asked."""
    if deps.rpc is None:
        return None
    try:
        view = await deps.rpc.call(
            "ingest",
            "get_dataset",
            DatasetRef(dataset_id=dataset_id),
            ctx=ctx,
            response_type=DatasetView,
            timeout=_INGEST_TIMEOUT,
        )
    except Unavailable:
        log.warning("rows.ingest_unavailable", dataset_id=dataset_id)
        return None
    return view.data_row_count


async def _ask_ingest_rows(deps: Deps, ctx: CallContext, missing: list[str], by_id: bool) -> list[str]:
    """The ids of the ``missing`` rows that ingest has (and labeling has yet to learn)."""
    if deps.rpc is None:
        return []
    request = FindDataRowsRequest(ids=missing) if by_id else FindDataRowsRequest(global_keys=missing)
    try:
        found = await deps.rpc.call(
            "ingest", "find_data_rows", request, ctx=ctx, response_type=FoundDataRows, timeout=_INGEST_TIMEOUT
        )
    except Unavailable:
        log.warning("rows.ingest_unavailable", rows=len(missing))
        return []
    return found.data_row_ids


async def _wait_for(deps: Deps, org_id: str, ids: list[str]) -> None:
    deadline = time.monotonic() + ARRIVAL_WAIT_SECONDS
    while True:
        known = await deps.pool.fetchval(
            "select count(*) from labeling.data_rows where data_row_id = any($1::text[]) and org_id = $2", ids, org_id
        )
        if known >= len(ids):
            return
        if time.monotonic() > deadline:
            raise Unavailable(f"{len(ids) - known} of the named rows are still on their way from ingest; retry shortly")
        await asyncio.sleep(_POLL_SECONDS)
