"""Resolvers that call the ingest service: datasets, data rows, row and pre-label imports."""

from __future__ import annotations

from typing import Any

import strawberry

from preflog_contracts.errors import NotFound
from preflog_contracts.rpc import ingest
from preflog_gateway.graphql.context import GatewayContext
from preflog_gateway.graphql.types.catalog import (
    DataRow,
    Dataset,
    ImportResult,
    data_row_of_catalog,
    data_row_of_view,
)

INGEST = "ingest"


def _ctx(info: strawberry.Info) -> GatewayContext:
    ctx: GatewayContext = info.context["ctx"]
    return ctx


async def get_dataset(info: strawberry.Info, dataset_id: str) -> Dataset | None:
    """None for a missing id and for an id of another org alike."""
    try:
        view = await _ctx(info).call(
            INGEST,
            "get_dataset",
            ingest.DatasetRef(dataset_id=dataset_id),
            response_type=ingest.DatasetView,
        )
    except NotFound:
        return None
    return Dataset.of(view)


async def list_datasets(info: strawberry.Info) -> list[Dataset]:
    views = await _ctx(info).call(
        INGEST,
        "list_datasets",
        ingest.ListDatasetsRequest(),
        response_type=list[ingest.DatasetView],
    )
    return [Dataset.of(v) for v in views]


async def get_data_row(
    info: strawberry.Info, data_row_id: str | None, global_key: str | None
) -> DataRow | None:
    """By id or global key (the service refuses both or neither with INVALID_INPUT).

    The catalog answers for those who may browse it, and for reviewers the rows of their
    projects. An annotator's row by id comes from labeling, which shows a row to those who
    work on one of its tasks (by global key it stays the catalog's: null for them)."""
    ctx = _ctx(info)
    view = await ctx.call(
        INGEST,
        "data_row",
        ingest.DataRowRef(id=data_row_id, global_key=global_key),
        response_type=ingest.DataRowView | None,  # type: ignore[arg-type]
    )
    if view is not None:
        return data_row_of_catalog(view)
    if data_row_id is None:
        return None
    row = await ctx.loaders.data_rows.load(data_row_id)
    return None if row is None else data_row_of_view(row)


async def create_dataset(
    info: strawberry.Info, name: str, description: str | None, key: str | None
) -> Dataset:
    view = await _ctx(info).call(
        INGEST,
        "create_dataset",
        ingest.CreateDatasetRequest(name=name, description=description or ""),
        response_type=ingest.DatasetView,
        idempotency_key=key,
    )
    return Dataset.of(view)


async def import_rows(
    info: strawberry.Info, dataset_id: str, rows: list[Any], key: str | None
) -> ImportResult:
    """Synchronous import of at most ``ingest.MAX_IMPORT_ROWS`` rows (bigger bodies go
    through ``POST /v1/datasets/{id}/imports``)."""
    result = await _ctx(info).call(
        INGEST,
        "import_rows",
        ingest.ImportRowsRequest(dataset_id=dataset_id, rows=rows, idempotency_key=key),
        response_type=ingest.ImportResult,
        idempotency_key=key,
    )
    return ImportResult.of(result)


async def import_prelabels(
    info: strawberry.Info, project_id: str, annotations: list[Any], key: str | None
) -> ImportResult:
    result = await _ctx(info).call(
        INGEST,
        "import_prelabels",
        ingest.ImportPreLabelsRequest(
            project_id=project_id, annotations=annotations, idempotency_key=key
        ),
        response_type=ingest.ImportResult,
        idempotency_key=key,
    )
    return ImportResult.of(result)
