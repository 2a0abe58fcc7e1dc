"""Requests and responses of the ingest service (service name ``"ingest"``).

Operations and their structs (request -> response):

- create_dataset: CreateDatasetRequest -> DatasetView            (org ADMIN)
- get_dataset: DatasetRef -> DatasetView
- get_datasets: IdsRequest -> list[DatasetView] (found and visible ones, any order)
- list_datasets: ListDatasetsRequest -> list[DatasetView]
- data_row: DataRowRef -> DataRowView | None (id or global_key; None when not found)
- get_data_rows: IdsRequest -> list[DataRowView] (found and visible ones, any order)
- import_rows: ImportRowsRequest -> ImportResult (small, synchronous: GraphQL importDataRows)
- start_import: StartImportRequest -> ImportStartedView
- import_chunk: ImportChunk -> ChunkAck (see "Bulk transfer" below)
- abort_import: ImportRef -> ImportView (the client gave up: the import becomes FAILED)
- get_import: GetImportRequest -> ImportView
- import_prelabels: ImportPreLabelsRequest -> ImportResult

Who may do what: creating datasets needs org ADMIN. Importing rows (import_rows,
start_import) needs org ADMIN or the MANAGER/OWNER role in at least one project of the org.
import_prelabels needs org ADMIN or MANAGER/OWNER of that project. Reading datasets and data
rows needs only membership of the org. Ids of another org answer NOT_FOUND.

Bulk transfer (the gateway's ``POST /v1/datasets/{id}/imports`` and ``preflog import``):

1. ``start_import(dataset_id, content_type)`` -> ``import_id``. ``content_type`` is the HTTP
   type: ``application/x-ndjson`` (also ``application/jsonl``, ``application/ndjson``) or
   ``application/json`` (a JSON array of rows, or one JSON object = one row).
2. ``import_chunk(import_id, seq, data, final)`` for ``seq = 0, 1, 2, ...``, one call at a
   time, each awaited before the next (that wait is the back-pressure). ``data`` is raw bytes
   of the body in order (msgspec sends them base64 in JSON), at most ``MAX_CHUNK_BYTES``
   (chunks may cut rows anywhere; the service keeps the partial row). The last call has
   ``final=True`` (its ``data`` may be empty) and answers when every row is committed, with
   ``status`` COMPLETED. Repeating the last ``seq`` (a retry after a lost reply) returns the
   same acknowledgement without importing anything twice; any other out-of-order ``seq`` is
   INVALID_INPUT. Use ``CHUNK_TIMEOUT_SECONDS`` as the call timeout (rows with URLs are
   fetched during the call).
3. ``get_import(import_id)`` at any time: status, counts, per-row errors (paged), timings.

``line`` in errors is the 1-based line of an NDJSON body, the 1-based element of a JSON array;
``index`` in ImportResult (import_rows, import_prelabels) is the 0-based list index.

Field names are snake_case; the gateway renames them to camelCase.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import msgspec

from preflog_contracts.datarow import DataRow

MAX_CHUNK_BYTES: Final = 512 * 1024
"""Largest ``ImportChunk.data``: base64 and the envelope must stay under NATS' 1 MiB payload."""
CHUNK_TIMEOUT_SECONDS: Final = 300.0
"""Call timeout for import_chunk (URL rows are fetched while the call runs)."""
MAX_IMPORT_ROWS: Final = 1000
"""Most rows (or pre-labels) one synchronous import_rows / import_prelabels call takes."""
NDJSON_TYPES: Final = ("application/x-ndjson", "application/jsonl", "application/ndjson")
JSON_TYPE: Final = "application/json"

# --- datasets and data rows ---------------------------------------------------------------


class CreateDatasetRequest(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str = ""


class DatasetRef(msgspec.Struct, frozen=True, kw_only=True):
    dataset_id: str


class IdsRequest(msgspec.Struct, frozen=True, kw_only=True):
    ids: list[str]


class ListDataRowsRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A dataset's rows in import order, a page at a time (``list_data_rows``)."""

    dataset_id: str
    first: int = 50
    after: str | None = None  # a page's ``next_cursor``


class FindDataRowsRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Which of these rows the caller's org has, by id or by global key (``find_data_rows``)."""

    ids: list[str] = []
    global_keys: list[str] = []


class FoundDataRows(msgspec.Struct, frozen=True, kw_only=True):
    data_row_ids: list[str]


class ListDatasetsRequest(msgspec.Struct, frozen=True, kw_only=True):
    name: str | None = None  # exact name filter (names are unique within an org)


class DatasetView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    description: str
    data_row_count: int
    created_at: datetime


class DataRowRef(msgspec.Struct, frozen=True, kw_only=True):
    """Exactly one of ``id`` and ``global_key``."""

    id: str | None = None
    global_key: str | None = None
    with_original: bool = False


class DataRowView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    dataset_id: str
    global_key: str
    row: DataRow
    source_format: str
    created_at: datetime
    external_id: str | None = None
    metadata: dict[str, Any] = {}
    attachments: list[dict[str, Any]] = []
    import_id: str | None = None
    original: Any = None  # only with ``with_original``


class DataRowPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DataRowView]
    next_cursor: str | None = None
    has_next_page: bool = False


# --- imports ------------------------------------------------------------------------------


class ImportRowsRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Rows as JSON values: import-file rows, bare Labelbox v1/v2 rows, Dataloop items, or
    native rows. ``idempotency_key`` (or the call's) makes a repeat return the first result."""

    dataset_id: str
    rows: list[Any]
    idempotency_key: str | None = None


class ImportErrorView(msgspec.Struct, frozen=True, kw_only=True):
    """One refused row of a synchronous call; ``index`` is 0-based in the request's list."""

    index: int
    code: str
    message: str
    path: str = ""
    global_key: str | None = None


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    accepted: int
    rejected: int
    errors: list[ImportErrorView]
    data_row_ids: list[str]
    duplicates: int = 0  # rows whose global key an earlier import already holds (reported)
    import_id: str | None = None


class StartImportRequest(msgspec.Struct, frozen=True, kw_only=True):
    dataset_id: str
    content_type: str = JSON_TYPE


class ImportStartedView(msgspec.Struct, frozen=True, kw_only=True):
    import_id: str
    max_chunk_bytes: int = MAX_CHUNK_BYTES


class ImportChunk(msgspec.Struct, frozen=True, kw_only=True):
    import_id: str
    seq: int
    data: bytes
    final: bool = False


class ImportCounts(msgspec.Struct, frozen=True, kw_only=True):
    """``received`` rows were read; each is ``accepted``, ``rejected`` (invalid, or a key
    repeated within this import) or a ``duplicate`` (its key was imported before: reported,
    not imported again). ``fetched`` rows had their ``row_data`` URL fetched."""

    received: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    fetched: int = 0


class ChunkAck(msgspec.Struct, frozen=True, kw_only=True):
    """Counts are of committed rows (a chunk's rows may commit during the next call)."""

    import_id: str
    seq: int
    status: str  # RUNNING | COMPLETED | FAILED
    counts: ImportCounts


class ImportRef(msgspec.Struct, frozen=True, kw_only=True):
    import_id: str


class GetImportRequest(msgspec.Struct, frozen=True, kw_only=True):
    import_id: str
    errors_after: int = 0  # the ``next_errors_after`` of the previous page
    errors_limit: int = 100  # at most 500


class ImportRowError(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    code: str
    message: str
    path: str = ""
    global_key: str | None = None


class ImportView(msgspec.Struct, frozen=True, kw_only=True):
    import_id: str
    dataset_id: str
    status: str  # RUNNING | COMPLETED | FAILED
    content_type: str
    counts: ImportCounts
    errors: list[ImportRowError]
    next_errors_after: int | None  # pass as errors_after for the next page; None: page empty
    started_at: datetime
    finished_at: datetime | None = None
    seconds: float = 0.0  # running time so far, or in total
    rows_per_second: float = 0.0
    failure: str | None = None


# --- pre-labels ---------------------------------------------------------------------------


class ImportPreLabelsRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Labelbox MAL objects (``{dataRow: {globalKey | id}, name, answer, messageId?}`` or a
    ``messageEvaluationTask``). Lines that do not fit the project's ontology, name a row
    outside the project, or are malformed are refused one by one; the rest are recorded."""

    project_id: str
    annotations: list[Any]
    idempotency_key: str | None = None
