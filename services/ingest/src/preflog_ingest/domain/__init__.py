"""The ingest service's pure domain: every input format into the canonical data row.

No I/O here. The service layer streams an import through :func:`parse_line` (NDJSON) or
:func:`parse_value` (JSON array elements, GraphQL rows), guards duplicates with
:class:`SeenGlobalKeys`, fetches :class:`NeedsFetch` URLs (checking every hop with
:func:`check_url`) and finishes them with :func:`parse_fetched`. Pre-labels go through
:func:`parse_prelabel_line` and :func:`map_prelabel`.
"""

from __future__ import annotations

from preflog_ingest.domain.content_parts import parts_from_markup
from preflog_ingest.domain.format_detection import DetectedFormat, detect_format
from preflog_ingest.domain.global_keys import (
    SeenGlobalKeys,
    payload_hash_key,
    reject_duplicate_global_keys,
)
from preflog_ingest.domain.limits import DEFAULT_LIMITS, Limits
from preflog_ingest.domain.mal_lines import MalLine, parse_prelabel_line, parse_prelabel_value
from preflog_ingest.domain.native_row import NATIVE_TYPE, NativeRow, native_row_schema
from preflog_ingest.domain.prelabel_mapping import map_prelabel
from preflog_ingest.domain.results import (
    BlankLine,
    LineResult,
    NeedsFetch,
    ParsedRow,
    Rejected,
    RowResult,
    SourceFormat,
)
from preflog_ingest.domain.row_errors import IngestErrorCode, RowError, as_invalid
from preflog_ingest.domain.row_parsing import parse_document, parse_fetched, parse_line, parse_value
from preflog_ingest.domain.stable_ids import find_response
from preflog_ingest.domain.url_policy import check_url

__all__ = [
    "DEFAULT_LIMITS",
    "NATIVE_TYPE",
    "BlankLine",
    "DetectedFormat",
    "IngestErrorCode",
    "Limits",
    "LineResult",
    "MalLine",
    "NativeRow",
    "NeedsFetch",
    "ParsedRow",
    "Rejected",
    "RowError",
    "RowResult",
    "SeenGlobalKeys",
    "SourceFormat",
    "as_invalid",
    "check_url",
    "detect_format",
    "find_response",
    "map_prelabel",
    "native_row_schema",
    "parse_document",
    "parse_fetched",
    "parse_line",
    "parse_prelabel_line",
    "parse_prelabel_value",
    "parse_value",
    "parts_from_markup",
    "payload_hash_key",
    "reject_duplicate_global_keys",
]
