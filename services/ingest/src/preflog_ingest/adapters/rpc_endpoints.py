"""The ingest service's NATS operations (see ``preflog_contracts.rpc.ingest``)."""

from __future__ import annotations

from preflog_contracts.rpc.ingest import (
    CreateDatasetRequest,
    DataRowRef,
    DatasetRef,
    FindDataRowsRequest,
    GetImportRequest,
    IdsRequest,
    ImportChunk,
    ImportPreLabelsRequest,
    ImportRef,
    ImportRowsRequest,
    ListDataRowsRequest,
    ListDatasetsRequest,
    StartImportRequest,
)
from preflog_ingest.handlers.datasets import Datasets
from preflog_ingest.handlers.imports import Imports
from preflog_ingest.handlers.prelabels import PreLabels
from preflog_messaging.rpc import RpcServer


def register(server: RpcServer, datasets: Datasets, imports: Imports, prelabels: PreLabels) -> None:
    server.register("create_dataset", CreateDatasetRequest, datasets.create_dataset)
    server.register("get_dataset", DatasetRef, datasets.get_dataset)
    server.register("get_datasets", IdsRequest, datasets.get_datasets)
    server.register("list_datasets", ListDatasetsRequest, datasets.list_datasets)
    server.register("data_row", DataRowRef, datasets.data_row)
    server.register("get_data_rows", IdsRequest, datasets.get_data_rows)
    server.register("find_data_rows", FindDataRowsRequest, datasets.find_data_rows)
    server.register("list_data_rows", ListDataRowsRequest, datasets.list_data_rows)
    server.register("import_rows", ImportRowsRequest, imports.import_rows, items_checked="rows")
    server.register("start_import", StartImportRequest, imports.start_import)
    server.register("import_chunk", ImportChunk, imports.import_chunk)
    server.register("abort_import", ImportRef, imports.abort_import)
    server.register("get_import", GetImportRequest, imports.get_import)
    server.register(
        "import_prelabels",
        ImportPreLabelsRequest,
        prelabels.import_prelabels,
        items_checked="annotations",
    )


def register_instance(server: RpcServer, imports: Imports) -> None:
    """This instance's own subject: chunks of the import sessions it holds."""
    server.register("import_chunk", ImportChunk, imports.import_chunk_here)
